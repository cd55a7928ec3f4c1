"""The walk-through of docs/python.md runs as written (with the shared folder of this run)."""

import os
import re

SHARED = os.environ.get("LOUPE_SHARED_DIR") or os.environ.get("LOUPE_DEFAULT_SHARED_DIR") or "../shared"
DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")


def test_the_examples_run(tmp_path, monkeypatch):
    text = open(DOC, encoding="utf-8").read()
    walk = re.search(r"```python\n(.*?)```", text[text.index("## Walk-through"):], re.S).group(1)
    more = re.search(r"```python\n(.*?)```", text[text.index("## More examples"):], re.S).group(1)
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    more = more.replace('"ci/stories.txt"', repr(os.path.join(root, "ci", "stories.txt")))
    walk = walk.replace('"../shared/', '"' + SHARED.rstrip("/") + "/")
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(walk + more, "docs/python.md (examples)", "exec"), scope)
    assert (tmp_path / "cloud.svg").read_text().startswith("<svg")


def test_the_walk_through_runs(capsys):
    text = open(DOC, encoding="utf-8").read()
    section = text[text.index("## Walk-through"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('"../shared/', '"' + SHARED.rstrip("/") + "/")
    scope = {}
    exec(compile(code, "docs/python.md (walk-through)", "exec"), scope)
    out = capsys.readouterr().out
    assert "final_post" in out  # the lens printed every layer
    assert scope["effect"].shape == (scope["m"].cfg.n_layers, scope["m"].cfg.n_heads)
    assert len(scope["attrs"]) == 1 + 2 * scope["m"].cfg.n_layers

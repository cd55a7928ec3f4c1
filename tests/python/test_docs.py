"""The walk-through of docs/python.md runs as written (with the shared folder of this run)."""

import os
import re

SHARED = os.environ.get("LOUPE_SHARED_DIR") or os.environ.get("LOUPE_DEFAULT_SHARED_DIR") or "../shared"
DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")


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

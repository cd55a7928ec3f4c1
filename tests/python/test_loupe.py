"""`import loupe` against the command line and against itself (run by ctest as python.pytest)."""

import gc
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import loupe

SHARED = os.environ.get("LOUPE_SHARED_DIR") or os.environ.get("LOUPE_DEFAULT_SHARED_DIR") or "../shared"
BINARY = os.environ.get("LOUPE_BINARY", "build/release/loupe")
F32 = os.path.join(SHARED, "models/stories260K-gguf/stories260K-f32.gguf")
Q8 = os.path.join(SHARED, "models/stories260K-gguf/stories260K-q8_0.gguf")
LLAMA2C = os.path.join(SHARED, "models/stories260K/stories260K.bin")
LLAMA2C_TOK = os.path.join(SHARED, "models/stories260K/tok512.bin")
PROMPT = "Once upon a time, there was a little girl named Lily. She"


def cli(*args):
    r = subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def m():
    return loupe.load(F32, threads=2)


def test_config_and_hooks(m):
    c = m.cfg
    assert (c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.d_head, c.d_mlp, c.d_vocab) == (64, 5, 8, 4, 8, 172, 512)
    assert c.arch == "llama" and c.dtype == "f32" and c.n_ctx == 512
    names = m.hook_names()
    assert names[0] == "hook_embed" and "blocks.4.hook_resid_post" in names and len(names) == 104


def test_tokens_round_trip(m):
    t = m.to_tokens(PROMPT)
    assert t.dtype == np.int32 and t[0] == 1
    assert m.to_string(t) == PROMPT
    assert m.to_string(t[1:]) == " " + PROMPT  # without BOS: a continuation keeps its space
    assert "".join(m.to_str_tokens(PROMPT)[1:]) == " " + PROMPT
    assert list(t) == [int(x) for x in cli("tokenize", F32, PROMPT, "--bos").split()]
    assert m.to_string([list(t), list(t)]) == [PROMPT, PROMPT]


@pytest.mark.parametrize("path", [F32, Q8])
def test_logits_equal_the_cli_bit_for_bit(tmp_path, path):
    model = loupe.load(path, threads=2)
    tokens = model.to_tokens(PROMPT)
    out = tmp_path / "logits.npy"
    cli("logits", path, "--tokens", ",".join(map(str, tokens)), "-o", out, "--threads", 2)
    want = np.load(out)
    got = model(tokens)
    assert got.shape == want.shape == (len(tokens), 512)
    assert np.array_equal(got, want)
    assert np.array_equal(model(PROMPT), got)  # text in, the same tokens


def test_llama2c_checkpoint_loads_with_its_tokenizer():
    model = loupe.load(LLAMA2C, tokenizer=LLAMA2C_TOK, threads=1)
    assert model.cfg.format == "llama2c"
    assert model(PROMPT).shape[1] == 512


def test_cache_equals_trace_for_every_hook(m, tmp_path):
    tokens = m.to_tokens(PROMPT)
    cli("trace", F32, "--tokens", ",".join(map(str, tokens)), "--hook", "*", "-o", tmp_path / "t", "--threads", 2)
    index = json.loads((tmp_path / "t" / "index.json").read_text())
    logits, cache = m.run_with_cache(tokens)
    assert len(cache) == len(index["hooks"]) == len(m.hook_names())
    for h in index["hooks"]:
        want = np.load(tmp_path / "t" / h["file"])
        assert cache[h["name"]].shape == want.shape, h["name"]
        assert np.array_equal(cache[h["name"]], want), h["name"]
    assert np.array_equal(logits, m(tokens))
    # TransformerLens's short forms and loupe's.
    assert cache["resid_post", 3] is cache["blocks.3.hook_resid_post"]
    assert cache["resid_post3"] is cache["blocks.3.hook_resid_post"]
    assert ("pattern", 1) in cache and "nothing" not in cache


def test_cache_filter_and_estimate(m):
    n = len(m.to_tokens(PROMPT))
    est = m.cache_bytes(PROMPT, "blocks.*.attn.hook_pattern")
    assert est == 5 * 8 * n * n * 4
    _, cache = m.run_with_cache(PROMPT, names_filter=lambda name: name.endswith("hook_pattern"))
    assert len(cache) == 5 and sum(a.nbytes for a in cache.values()) == est
    with pytest.raises(MemoryError, match="max_bytes"):
        m.run_with_cache(PROMPT, max_bytes=1000)


def test_residual_decompositions_sum_to_the_stream(m):
    logits, cache = m.run_with_cache(PROMPT)
    final = cache["blocks.4.hook_resid_post"]
    acc, labels = cache.accumulated_resid(return_labels=True)
    assert acc.shape == (6, final.shape[0], 64) and labels[-1] == "final_post"
    assert np.array_equal(acc[-1], final) and np.array_equal(acc[2], cache["blocks.2.hook_resid_pre"])
    assert cache.accumulated_resid(layer=2).shape[0] == 3
    parts, labels = cache.decompose_resid(return_labels=True)
    assert labels[:3] == ["embed", "0_attn_out", "0_mlp_out"] and len(parts) == 11
    np.testing.assert_allclose(parts.astype(np.float64).sum(0), final, rtol=0, atol=2e-5)
    np.testing.assert_allclose(cache.decompose_resid(layer=3).astype(np.float64).sum(0),
                               cache["blocks.3.hook_resid_pre"], rtol=0, atol=2e-5)
    # Direct logit attribution adds up to the logits.
    target = m.to_tokens(PROMPT)[1:]
    attrs = cache.logit_attrs(parts[:, :-1], target, pos_slice=slice(0, -1))
    want = logits[np.arange(len(target)), target]
    np.testing.assert_allclose(attrs.sum(0)[: len(target)], want, rtol=0, atol=1e-4)


def test_weights_reproduce_the_hooks(m):
    _, cache = m.run_with_cache(PROMPT, names_filter=["blocks.1.ln1.hook_normalized", "blocks.1.attn.hook_q",
                                                      "blocks.1.attn.hook_v", "blocks.1.attn.hook_z",
                                                      "blocks.1.hook_attn_out"])
    x = cache["blocks.1.ln1.hook_normalized"].astype(np.float64)
    q = np.einsum("pd,hde->phe", x, m.W_Q[1])
    np.testing.assert_allclose(q, cache["blocks.1.attn.hook_q"], atol=1e-4)
    v = np.einsum("pd,hde->phe", x, m._W_V[1])
    np.testing.assert_allclose(v, cache["blocks.1.attn.hook_v"], atol=1e-4)
    assert m.W_K.shape == (5, 8, 64, 8) and m._W_K.shape == (5, 4, 64, 8)
    out = np.einsum("phe,hed->pd", cache["blocks.1.attn.hook_z"].astype(np.float64), m.W_O[1])
    np.testing.assert_allclose(out, cache["blocks.1.hook_attn_out"], atol=1e-4)
    assert m.W_in.shape == (5, 64, 172) and m.W_out.shape == (5, 172, 64)
    assert m.W_E.shape == (512, 64) and m.W_U.shape == (64, 512)
    assert not m.W_Q.flags.writeable
    with pytest.raises(loupe.LoupeError, match="no weight named"):
        m.weight("blk.0.nonsense")


def test_zeroing_a_head_equals_the_debuggers_ablate(m):
    def zero_head(z, hook):
        z[:, 3, :] = 0

    got = m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.2.attn.hook_z", zero_head)])
    d = loupe.Debugger(m, PROMPT)
    d.edit("ablate 2 3")
    d.run()
    assert np.array_equal(got, d.logits())
    assert not np.array_equal(got, m(PROMPT))


def test_returned_and_in_place_edits_agree_and_flow_on(m):
    def in_place(x, hook):
        x *= 0.5

    def returned(x, hook):
        return x * 0.5

    a = m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.1.hook_resid_pre", in_place)])
    b = m.run_with_hooks(PROMPT, fwd_hooks=[("resid_pre1", returned)])
    assert np.array_equal(a, b) and not np.array_equal(a, m(PROMPT))
    seen = []
    _, cache = m.run_with_cache(PROMPT, names_filter="blocks.1.hook_resid_pre",
                                fwd_hooks=[("blocks.1.hook_resid_pre", returned)])
    m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.1.hook_resid_pre", lambda x, h: seen.append((h.name, x.copy())))])
    assert seen[0][0] == "blocks.1.hook_resid_pre"
    np.testing.assert_array_equal(cache["blocks.1.hook_resid_pre"], seen[0][1] * np.float32(0.5))


def test_a_hook_that_raises_propagates_and_leaves_the_model_usable(m):
    before = m(PROMPT)

    def bad(x, hook):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom") as e:
        m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.2.mlp.hook_post", bad)])
    assert any("blocks.2.mlp.hook_post" in n for n in getattr(e.value, "__notes__", []))
    with pytest.raises(ValueError, match="returned shape"):
        m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, h: x[:1])])
    with pytest.raises(TypeError, match="not an array"):
        m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, h: "nope")])
    with pytest.raises(loupe.LoupeError, match="inside one of its own hooks"):
        m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.0.hook_resid_pre", lambda x, h: m(PROMPT))])
    assert np.array_equal(m(PROMPT), before)


def test_bad_input_names_the_problem(m):
    with pytest.raises(loupe.LoupeError, match="out of range"):
        m(np.array([1, 99999]))
    with pytest.raises(loupe.LoupeError, match="nothing"):
        m.run_with_cache(np.array([], dtype=np.int64))
    with pytest.raises(loupe.LoupeError, match="no_such_hook"):
        m.run_with_cache(PROMPT, names_filter="no_such_hook")
    with pytest.raises(loupe.LoupeError, match="nope.gguf"):
        loupe.load("nope.gguf")


def test_arrays_outlive_the_model():
    model = loupe.load(F32, threads=1)
    logits, cache = model.run_with_cache(PROMPT)
    wq = model.W_Q
    copy = logits.copy()
    del model
    gc.collect()
    assert np.array_equal(logits, copy)
    assert cache["blocks.0.hook_resid_pre"].sum() == cache["blocks.0.hook_resid_pre"].sum()
    assert wq.shape == (5, 8, 64, 8)


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_memory_stays_flat_over_a_thousand_runs(m):
    def hook(x, h):
        x += 0

    for _ in range(100):
        m.run_with_cache(PROMPT, names_filter="blocks.*.hook_resid_post", fwd_hooks=[("hook_embed", hook)])
    gc.collect()
    before = _rss_kb()
    for _ in range(1000):
        m.run_with_cache(PROMPT, names_filter="blocks.*.hook_resid_post", fwd_hooks=[("hook_embed", hook)])
    gc.collect()
    assert _rss_kb() - before < 4096  # KiB; one leaked cache per run would be ~1 MiB per 100


def test_generate_equals_the_cli_and_steering_changes_it(m):
    text = m.generate("Once upon a time", max_new_tokens=20)
    want = cli("generate", F32, "-p", "Once upon a time", "-n", 20, "--temp", 0, "--threads", 2)
    assert text.strip() == want.strip()
    r = m.generate("Once upon a time", max_new_tokens=20, return_type="dict")
    assert r["n_prompt"] == len(m.to_tokens("Once upon a time")) and len(r["tokens"]) <= r["n_prompt"] + 20
    steer = m.W_E[m.to_tokens("dog", prepend_bos=False)[0]] * 8

    def add(x, h):
        x += steer

    steered = m.generate("Once upon a time", max_new_tokens=20, fwd_hooks=[("blocks.2.hook_resid_pre", add)])
    assert steered != text
    sampled = [m.generate("Once upon a time", 20, temperature=1.0, seed=s) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]


def test_loss_matches_eval(m, tmp_path):
    per = m.loss(PROMPT, per_token=True)
    assert per.shape == (len(m.to_tokens(PROMPT)) - 1,)
    assert m.loss(PROMPT) == pytest.approx(per.mean())
    data = tmp_path / "d.txt"
    data.write_text(PROMPT + "\n")
    r = loupe.eval(m, data)
    assert r["mean_loss"] == pytest.approx(per.mean(), rel=1e-6)


def test_analyses_equal_their_commands(m, tmp_path):
    j = json.loads(cli("lens", F32, "-p", PROMPT, "--json", "--threads", 2))
    assert loupe.lens(m, PROMPT) == j
    j = json.loads(cli("attention", F32, "-p", PROMPT, "--json", "--threads", 2))
    assert loupe.attention(m, PROMPT) == j
    j = json.loads(cli("attribute", F32, "-p", PROMPT, "--target", " was", "--json", "--threads", 2))
    assert loupe.attribute(m, PROMPT, " was") == j
    data = tmp_path / "d.txt"
    data.write_text(PROMPT + "\nThe cat sat on the mat.\n")
    q8 = loupe.load(Q8, threads=2)
    assert loupe.diff(m, q8, data) == json.loads(cli("diff", F32, Q8, "--data", data, "--json", "--threads", 2))
    assert loupe.eval(m, data) == json.loads(cli("eval", F32, "--data", data, "--json", "--threads", 2))
    assert loupe.activations(m, data, hooks=["resid_post"]) == json.loads(
        cli("activations", F32, "--data", data, "--hook", "resid_post", "--json", "--threads", 2))
    assert loupe.explore(str(data)) == json.loads(cli("explore", data, "--json"))
    with pytest.raises(loupe.LoupeError, match="same model object"):
        loupe.diff(m, m, data)


def test_debugger_semantics(m):
    d = loupe.Debugger(m, PROMPT)
    r = d.break_("blocks.2.hook_resid_post")
    assert r
    stop = d.run()
    assert "blocks.2.hook_resid_post" in json.dumps(stop)
    x = d.print("blocks.2.hook_resid_post")
    _, cache = m.run_with_cache(PROMPT, names_filter="blocks.2.hook_resid_post")
    assert np.array_equal(x, cache["blocks.2.hook_resid_post"])
    d.continue_()
    assert np.array_equal(d.logits(), m(PROMPT))
    with pytest.raises(loupe.LoupeError):
        d.execute("frobnicate")


def test_ctrl_c_interrupts_a_pass_and_the_model_stays_usable(m):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    calls = []

    def slow(x, h):
        calls.append(h.name)
        time.sleep(0.3)

    timer = threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.run_with_hooks(PROMPT, fwd_hooks=[("blocks.*.hook_resid_pre", slow)])
    timer.join()
    assert len(calls) == 1  # stopped after the op in hand
    assert np.array_equal(m(PROMPT), loupe.load(F32, threads=2)(PROMPT))


def test_threads_take_turns(m):
    want = m(PROMPT)
    results = []

    def work():
        for _ in range(20):
            results.append(np.array_equal(m(PROMPT), want))

    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 60 and all(results)


def test_word_cloud_of_a_corpus(tmp_path):
    data = tmp_path / "d.txt"
    data.write_text("the cat sat on the mat\nthe dog sat on the log\n")
    words = dict(loupe.explore(str(data))["top_ngrams"]["words"]["1"])
    assert words["the"] == 4
    svg = loupe.word_cloud(words, title="cats")
    assert svg.startswith("<svg") and ">the<" in svg and "cats" in svg
    with pytest.raises(loupe.LoupeError, match="positive"):
        loupe.word_cloud({"x": 0})


def test_newer_families_through_the_same_api():
    # A mixture of experts: attention stacks exist, single MLP stacks do not; the residual
    # decomposition still sums to the stream.
    path = os.path.join(SHARED, "reference/archs/qwen3moe.gguf")
    moe = loupe.load(path, threads=1)
    assert moe.cfg.n_experts > 0 and moe.W_Q.shape[:2] == (moe.cfg.n_layers, moe.cfg.n_heads)
    with pytest.raises(loupe.LoupeError, match="mixture-of-experts"):
        moe.W_in
    t = np.arange(3, 19)
    logits, cache = moe.run_with_cache(t)
    final = cache[f"blocks.{moe.cfg.n_layers - 1}.hook_resid_post"]
    np.testing.assert_allclose(cache.decompose_resid().astype(np.float64).sum(0), final, rtol=0, atol=1e-5)
    x = cache["blocks.0.ln1.hook_normalized"].astype(np.float64)
    np.testing.assert_allclose(np.einsum("pd,hde->phe", x, moe.W_Q[0]), cache["blocks.0.attn.hook_q"], atol=1e-5)


def test_gradient_attribution_equals_the_cli(m):
    for method in ("ig", "saliency", "grad-x-input"):
        j = json.loads(cli("attribute", F32, "-p", PROMPT, "--target", " was", "--method", method, "--steps", 32,
                           "--json", "--threads", 2))
        assert loupe.attribute_gradients(m, PROMPT, " was", method=method, steps=32) == j
    ig = loupe.attribute_gradients(m, PROMPT, " was", steps=128, baseline="bos")
    assert len(ig["attributions"]) == len(ig["tokens"])
    assert abs(ig["delta"]) < 0.01 * abs(ig["target_value"] - ig["baseline_value"])
    clean = m.to_tokens(PROMPT)
    corrupted = clean.copy()
    corrupted[5] = 426
    ap = loupe.attribute_gradients(m, clean, " was", method="attribution-patching", corrupted=corrupted, verify=2)
    assert len(ap["checks"]) == 2
    with pytest.raises(ValueError):
        loupe.attribute_gradients(m, PROMPT, " was", method="attribution-patching")
    with pytest.raises(Exception):
        loupe.attribute_gradients(m, PROMPT, " was", method="shap")

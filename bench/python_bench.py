#!/usr/bin/env python3
"""Speed of `import loupe` side by side with the command line (a bench script, never a test).

    PYTHONPATH=build/release/python python3 bench/python_bench.py MODEL [--hooks GLOB] [--tokens N]

1. run_with_cache of the chosen hooks vs `loupe trace` of the same hooks on the same prompt
   (the trace's wall time, and minus a `loupe info` of the same file: the process and header;
   trace also maps the weights and writes .npy files), and vs the same pass in Python without a
   cache (what keeping the tensors costs; the goal is run_with_cache within 10% of trace).
2. The cost of a Python hook per call: run_with_hooks with a no-op hook on every hook point vs no
   hooks, alternating, divided by the calls (goal: under 20 microseconds).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

import loupe


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--hooks", default="blocks.*.hook_resid_post")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--binary", default="build/release/loupe")
    a = ap.parse_args()

    m = loupe.load(a.model, threads=a.threads)
    rng = np.random.default_rng(1)
    tokens = rng.integers(3, m.cfg.d_vocab, a.tokens)
    ids = ",".join(map(str, tokens))
    print(f"{m}: {a.tokens} tokens, hooks {a.hooks!r} ({m.cache_bytes(tokens, a.hooks) / 1e6:.1f} MB), "
          f"{a.threads} threads")

    m.run_with_cache(tokens, names_filter=a.hooks)  # warm
    py_best, py_med = best(lambda: m.run_with_cache(tokens, names_filter=a.hooks), a.repeat)
    plain_best, _ = best(lambda: m.run_with_hooks(tokens, fwd_hooks=()), a.repeat)

    with tempfile.TemporaryDirectory() as d:
        def trace():
            subprocess.run([a.binary, "trace", a.model, "--tokens", ids, "--hook", a.hooks, "-o", d, "--force",
                            "--threads", str(a.threads)], check=True, capture_output=True)

        def info():
            subprocess.run([a.binary, "info", a.model], check=True, capture_output=True)

        trace()
        tr_best, tr_med = best(trace, a.repeat)
        in_best, _ = best(info, a.repeat)
    trace_run = max(tr_best - in_best, 1e-9)
    print(f"run_with_cache   {py_best * 1e3:9.2f} ms (median {py_med * 1e3:.2f})")
    print(f"loupe trace      {tr_best * 1e3:9.2f} ms wall, {trace_run * 1e3:.2f} ms without loading "
          f"(loupe info: {in_best * 1e3:.2f} ms)")
    print(f"ratio run_with_cache / trace-without-loading: {py_best / trace_run:.2f} (trace also loads the "
          "weights and writes .npy files)")
    print(f"run_with_cache / the same pass without a cache: {py_best / plain_best:.3f}")

    names = m.hook_names()
    short = tokens[:16]
    calls = len(names)

    def noop(x, h):
        return None

    hooks = [(n, noop) for n in names]
    with_h, without = [], []
    for r in range(2 * a.repeat):
        for half in (0, 1):
            on = (half == 0) == (r % 2 == 0)
            t0 = time.perf_counter()
            m.run_with_hooks(short, fwd_hooks=hooks if on else ())
            (with_h if on else without).append(time.perf_counter() - t0)
    per_call = (min(with_h) - min(without)) / calls
    print(f"python hook: {calls} calls per run, {per_call * 1e6:.1f} us per call "
          f"(run {min(without) * 1e3:.2f} ms without hooks, {min(with_h) * 1e3:.2f} ms with)")


if __name__ == "__main__":
    main()

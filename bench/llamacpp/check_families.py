#!/usr/bin/env python3
"""Bench check (never a test): do the models `loupe model new` writes load in llama.cpp, and does
llama.cpp compute what loupe computes?

For each family, writes a small random model (odd shapes: grouped-query attention, d_head !=
d_model / n_heads, windows shorter than the sequence, experts), runs `loupe logits` on a token
sequence and llama.cpp (node-llama-cpp 3.22.1, CPU) on the same tokens, and compares the next-token
distributions after the last token: max |log p_loupe - log p_llama| over the vocabulary and the
argmax. llama.cpp keeps its KV cache in F16, so expect ~1e-3, not the 1e-5 of the references.

  npm install --prefix bench/llamacpp        # once
  python3 bench/llamacpp/check_families.py build/release/loupe ../shared [OUTDIR]
"""
import json, math, os, struct, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
loupe, shared = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="loupe-llamacpp-")
os.makedirs(out, exist_ok=True)
vocab = os.path.join(shared, "models/stories260K-gguf/stories260K-f32.gguf")
tokens = [1, 436, 94, 16, 328, 189, 240, 43, 191, 330, 183, 426, 405, 361, 43, 191, 330, 183, 335, 53]

common = ["--d-model", "64", "--n-layers", "4", "--n-heads", "4", "--d-mlp", "96", "--n-ctx", "64", "--seed", "7",
          "--vocab-from", vocab]
gqa = ["--n-kv-heads", "2", "--d-head", "24"]
# llama.cpp runs the llama architecture with full causal attention whatever
# llama.attention.sliding_window says; loupe honours the key (Mistral 7B v0.1's window), so this
# row must load but its distributions differ.
expected_to_differ = {"mistral-window"}
families = {
    "llama": [], "mistral-window": ["--arch", "llama", "--window", "6"], "qwen2": [], "gpt2": [],
    "qwen3": [], "qwen3moe": ["--n-experts", "4", "--n-experts-used", "2"], "gemma2": ["--window", "6"],
    "gemma3": ["--window", "6"], "phi3": [], "smollm3": [],
    "gpt-oss": ["--window", "6", "--n-experts", "4", "--n-experts-used", "2"],
    "gpt-oss-mxfp4": ["--arch", "gpt-oss", "--window", "6", "--n-experts", "4", "--n-experts-used", "2",
                      "--type", "mxfp4"],
}


def read_npy_f32(path):
    data = open(path, "rb").read()
    header_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + header_len].decode()
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    body = data[10 + header_len:]
    return shape, struct.unpack("<%df" % (len(body) // 4), body)


def log_softmax(row):
    m = max(row)
    s = math.log(sum(math.exp(x - m) for x in row))
    return [x - m - s for x in row]


worst = 0.0
failed = []
for name, extra in families.items():
    arch = extra[extra.index("--arch") + 1] if "--arch" in extra else name
    extra = [a for i, a in enumerate(extra) if a != "--arch" and (i == 0 or extra[i - 1] != "--arch")]
    gguf = os.path.join(out, name + ".gguf")
    npy = os.path.join(out, name + ".npy")
    try:
        shape = [] if arch in ("gpt2", "qwen2", "phi3") else gqa  # llama.cpp: d_head = d_model / n_heads
        subprocess.run([loupe, "model", "new", "--arch", arch, *common, *shape, *extra, "-o", gguf], check=True,
                       capture_output=True, text=True)
        subprocess.run([loupe, "logits", gguf, "--tokens", ",".join(map(str, tokens)), "-t", "1", "-o", npy],
                       check=True, capture_output=True, text=True)
        llama = subprocess.run(["node", os.path.join(here, "llama_eval.mjs"), "probs", gguf,
                                ",".join(map(str, tokens))], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        print(f"{name:16s} FAILED: {' '.join(e.cmd[:3])}: {e.stderr.strip()[-300:]}")
        failed.append(name)
        continue
    shape, flat = read_npy_f32(npy)
    V = shape[1]
    ours = log_softmax(flat[-V:])
    probs = json.loads(llama.stdout)["probs"]
    probs += [0.0] * (V - len(probs))
    theirs = [math.log(p) if p > 0 else -math.inf for p in probs]
    diff = max(abs(a - b) for a, b in zip(ours, theirs))
    spread = max(ours) - min(ours)
    same_top = max(range(V), key=lambda i: ours[i]) == max(range(V), key=lambda i: theirs[i])
    if name not in expected_to_differ:
        worst = max(worst, diff)
    ok = diff < 1e-2 and same_top
    verdict = "ok" if ok else "MISMATCH"
    if name in expected_to_differ:
        verdict = "loads; differs as expected (llama.cpp ignores the window)" if not ok else "ok?"
    elif not ok:
        failed.append(name)
    print(f"{name:16s} max |dlogp| {diff:.2e} (log-prob spread {spread:.2f}) argmax {'same' if same_top else 'DIFFERS'}"
          f"  {verdict}")
print(f"files in {out}; worst {worst:.2e}; {len(failed)} failed" + (": " + ", ".join(failed) if failed else ""))
sys.exit(1 if failed else 0)

#!/usr/bin/env python3
"""Bench check (never a test): does `--numerics llama.cpp` give llama.cpp's logits on models and
types beyond ../shared/reference (other shapes, every weight type, every family)?

For each case, writes a random-weight model (`loupe model new`; the grid i-quants, which loupe does
not write, are made from its F32 file with ggml's own quantiser through ctypes, every 2-D weight
in the type as llama-quantize --pure does, an all-ones importance matrix), runs llama.cpp on a token
sequence one token per decode (llama_logits.mjs: CPU, 1 thread, F32 K and V cache, no flash
attention, the AVX2 `libggml-cpu-haswell.so` alone in a copy of node-llama-cpp's bins) and
`loupe logits --numerics llama.cpp` (and exact) on the same tokens, and prints the largest
|logit difference| and whether the argmax agrees at every position.

  npm install --prefix bench/llamacpp                     # once
  python3 bench/llamacpp/check_numerics.py build/release/loupe ../shared [CASE-SUBSTRING ...]
"""
import ctypes, glob, json, os, shutil, struct, subprocess, sys, tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
loupe, shared = sys.argv[1], sys.argv[2]
only = sys.argv[3:]
vocab = os.path.join(shared, "reference/numerics/llama-F32.gguf")
rng = np.random.default_rng(11)
tokens = [1] + [int(t) for t in rng.integers(3, 512, 39)]
tokens[25:29] = tokens[5:9]  # a repeated run

# A copy of node-llama-cpp with only the AVX2 CPU library: llama.cpp then computes as on an AVX2
# machine whatever this CPU is.
pinned = os.path.join(tempfile.gettempdir(), "loupe-llamacpp-haswell")
if not os.path.isdir(pinned):
    src = os.path.join(here, "node_modules")
    if not os.path.isdir(src):
        sys.exit("check_numerics: run `npm install --prefix bench/llamacpp` first")
    shutil.copytree(src, os.path.join(pinned + ".tmp", "node_modules"), symlinks=True)
    for lib in glob.glob(os.path.join(pinned + ".tmp", "node_modules/@node-llama-cpp/linux-x64/bins/*/libggml-cpu-*.so")):
        if not lib.endswith("libggml-cpu-haswell.so"):
            os.remove(lib)
    shutil.copy(os.path.join(here, "llama_logits.mjs"), pinned + ".tmp")
    os.rename(pinned + ".tmp", pinned)
shutil.copy(os.path.join(here, "llama_logits.mjs"), pinned)

# ---- grid i-quants through ggml's quantiser -------------------------------------------------
bins = glob.glob(os.path.join(pinned, "node_modules/@node-llama-cpp/linux-x64/bins/*/"))[0]
ggml = ctypes.CDLL(bins + "libggml-base.so", mode=ctypes.RTLD_GLOBAL)
ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_int64, ctypes.c_void_p]
ggml.ggml_row_size.restype = ctypes.c_size_t
ggml.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
GRID = {"iq2_xxs": 16, "iq2_xs": 17, "iq3_xxs": 18, "iq1_s": 19, "iq3_s": 21, "iq2_s": 22, "iq1_m": 29}


def read_gguf(path):
    """(kv bytes, kv count, tensors [(name, dims, type, data bytes)], alignment) of a GGUF v3 file."""
    b = open(path, "rb").read()
    assert b[:4] == b"GGUF"
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)
    off = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    align = 32

    def skip_value(t, off):
        if t == 8:
            (n,) = struct.unpack_from("<Q", b, off)
            return off + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, off)
            off += 12
            for _ in range(n):
                off = skip_value(et, off)
            return off
        return off + sizes[t]

    kv_start = off
    for _ in range(n_kv):
        (kl,) = struct.unpack_from("<Q", b, off)
        key = b[off + 8:off + 8 + kl].decode()
        off += 8 + kl
        (t,) = struct.unpack_from("<I", b, off)
        if key == "general.alignment":
            (align,) = struct.unpack_from("<I", b, off + 4)
        off = skip_value(t, off + 4)
    kv = b[kv_start:off]
    infos = []
    for _ in range(n_t):
        (nl,) = struct.unpack_from("<Q", b, off)
        name = b[off + 8:off + 8 + nl].decode()
        off += 8 + nl
        (nd,) = struct.unpack_from("<I", b, off)
        dims = list(struct.unpack_from("<%dQ" % nd, b, off + 4))
        off += 4 + 8 * nd
        t, o = struct.unpack_from("<IQ", b, off)
        off += 12
        infos.append((name, dims, t, o))
    data0 = (off + align - 1) // align * align
    tensors = []
    for name, dims, t, o in infos:
        n = int(ggml.ggml_row_size(t, dims[0])) * int(np.prod(dims[1:]))
        tensors.append((name, dims, t, b[data0 + o:data0 + o + n]))
    return kv, n_kv, tensors, align


def write_gguf(path, kv, n_kv, tensors, align):
    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), n_kv) + kv)
    offs, o = [], 0
    for name, dims, t, data in tensors:
        offs.append(o)
        o = (o + len(data) + align - 1) // align * align
    for (name, dims, t, data), off in zip(tensors, offs):
        nb = name.encode()
        head += struct.pack("<Q", len(nb)) + nb + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims)
        head += struct.pack("<IQ", t, off)
    head += b"\0" * ((-len(head)) % align)
    with open(path, "wb") as f:
        f.write(head)
        for (name, dims, t, data), off in zip(tensors, offs):
            f.write(data)
            f.write(b"\0" * ((-len(data)) % align))


def grid_model(f32_path, type_name, out_path):
    kv, n_kv, tensors, align = read_gguf(f32_path)
    gid = GRID[type_name]
    ggml.ggml_quantize_init(gid)
    out = []
    for name, dims, t, data in tensors:
        if t == 0 and len(dims) == 2 and dims[0] % 256 == 0:
            x = np.frombuffer(data, np.float32).copy()
            rows, k = dims[1], dims[0]
            q = np.zeros(int(ggml.ggml_row_size(gid, k)) * rows, np.uint8)
            ones = np.ones(k, np.float32)
            ggml.ggml_quantize_chunk(gid, x.ctypes.data, q.ctypes.data, 0, rows, k, ones.ctypes.data)
            out.append((name, dims, gid, q.tobytes()))
        else:
            out.append((name, dims, t, data))
    write_gguf(out_path, kv, n_kv, out, align)


def with_rope_scaling(path, arch, kind, factor, orig_ctx):
    """The file with `<arch>.rope.scaling.*` keys added (YaRN or linear RoPE scaling)."""
    kv, n_kv, tensors, align = read_gguf(path)

    def key(name):
        b = name.encode()
        return struct.pack("<Q", len(b)) + b

    def text(v):
        b = v.encode()
        return struct.pack("<IQ", 8, len(b)) + b

    kv += key(f"{arch}.rope.scaling.type") + text(kind)
    kv += key(f"{arch}.rope.scaling.factor") + struct.pack("<If", 6, factor)
    kv += key(f"{arch}.rope.scaling.original_context_length") + struct.pack("<II", 4, orig_ctx)
    write_gguf(path, kv, n_kv + 3, tensors, align)


# ---- the cases ------------------------------------------------------------------------------
base = ["--d-model", "256", "--n-layers", "2", "--n-heads", "4", "--n-ctx", "128", "--seed", "5",
        "--vocab-from", vocab]
gqa = ["--n-kv-heads", "2", "--d-head", "64", "--d-mlp", "512"]
cases = []
for t in ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
          "iq4_nl", "iq4_xs", "tq1_0", "tq2_0", "mxfp4", "q4_k_m"]:
    cases.append((f"llama-{t}", ["--arch", "llama", *gqa, "--type", t]))
cases.append(("llama-q4_0-tied", ["--arch", "llama", *gqa, "--type", "q4_0", "--tied"]))
cases.append(("llama-dhead128-f16", ["--arch", "llama", "--n-kv-heads", "1", "--d-head", "128", "--d-mlp", "768",
                                     "--type", "f16"]))
for t in GRID:
    cases.append((f"llama-{t}", ["--arch", "llama", *gqa, "--type", "f32", "@grid", t]))
cases.append(("llama-yarn-q8_0", ["--arch", "llama", *gqa, "--type", "q8_0", "@rope", "yarn"]))
cases.append(("llama-linear-rope-f32", ["--arch", "llama", *gqa, "--type", "f32", "@rope", "linear"]))
cases.append(("qwen3-yarn-f32", ["--arch", "qwen3", *gqa, "--type", "f32", "@rope", "yarn"]))
fam = {"qwen2": [], "gpt2": [], "qwen3": gqa, "qwen3moe": [*gqa, "--n-experts", "4", "--n-experts-used", "2"],
       "gemma2": [*gqa, "--window", "16"], "gemma3": [*gqa, "--window", "16"], "phi3": [],
       "smollm3": gqa, "gpt-oss": [*gqa, "--window", "16", "--n-experts", "4", "--n-experts-used", "2"]}
for arch, extra in fam.items():
    for t in (["f32", "q8_0", "q4_k"] if arch != "gpt-oss" else ["f32", "mxfp4"]):
        if arch == "gpt2" and t == "q4_k":
            continue
        cases.append((f"{arch}-{t}", ["--arch", arch, *extra, "--type", t]))

work = tempfile.mkdtemp(prefix="loupe-numerics-")
tok = ",".join(map(str, tokens))
bad = 0
print(f"{'case':24s} {'llama.cpp mode':>15s} {'exact':>9s}  argmax")
for name, args in cases:
    if only and not any(s in name for s in only):
        continue
    grid = args[args.index("@grid") + 1] if "@grid" in args else None
    rope = args[args.index("@rope") + 1] if "@rope" in args else None
    args = [a for a in args if a not in ("@grid", grid, "@rope", rope)]
    path = os.path.join(work, name + ".gguf")
    try:
        subprocess.run([loupe, "model", "new", *base, *args, "-o", path], check=True, capture_output=True, text=True)
        if grid:
            grid_model(path, grid, path + ".grid")
            os.replace(path + ".grid", path)
        if rope:
            with_rope_scaling(path, args[args.index("--arch") + 1], rope, 4.0 if rope == "yarn" else 2.0, 16)
        ref = os.path.join(work, name + ".llama.f32")
        subprocess.run(["node", "llama_logits.mjs", path, tok, ref], cwd=pinned, check=True, capture_output=True,
                       text=True)
        got = {}
        for mode in ("llama.cpp", "exact"):
            npy = os.path.join(work, f"{name}.{mode}.npy")
            subprocess.run([loupe, "logits", path, "--tokens", tok, "--numerics", mode, "-o", npy], check=True,
                           capture_output=True, text=True)
            got[mode] = np.load(npy)
    except subprocess.CalledProcessError as e:
        print(f"{name:24s} FAILED: {' '.join(e.cmd[:3])}: {e.stderr.strip()[-300:]}")
        bad += 1
        continue
    want = np.fromfile(ref, np.float32).reshape(len(tokens), -1)
    d = float(np.abs(got["llama.cpp"] - want).max())
    e = float(np.abs(got["exact"] - want).max())
    same = bool((got["llama.cpp"].argmax(1) == want.argmax(1)).all())
    ok = d <= 1e-4 and same
    bad += 0 if ok else 1
    print(f"{name:24s} {d:15.1e} {e:9.1e}  {'same' if same else 'DIFFERS'}{'' if ok else '   <-- over 1e-4'}")
sys.exit(1 if bad else 0)

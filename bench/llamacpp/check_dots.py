#!/usr/bin/env python3
"""Bench check (never a test): are loupe's `--numerics llama.cpp` dot products ggml's, bit for bit?

Loads the prebuilt ggml of node-llama-cpp 3.22.1 (`libggml-cpu-haswell.so`: the AVX2 build whose
arithmetic `--numerics llama.cpp` reproduces) with ctypes, quantises random rows with ggml's own
quantiser (an all-ones importance matrix for the types that need one), converts random activations
with ggml's `from_float` of the vec_dot type, and calls ggml's `vec_dot`; compiles
`ggml_dots.cpp` against loupe's library and compares its scalar reference and vector route, as float
bits, row by row. Rows of 512, 544 (an odd number of 32-blocks) and 1024 (F16 / BF16 / F32: 1000, a
tail past the 32-element steps). Matrices ggml repacks (Q4_0, Q4_K, IQ4_NL, MXFP4 with rows a
multiple of 8) take its gemv, not vec_dot: loupe is asked for the vec_dot order here.

  npm install --prefix bench/llamacpp                     # once
  cmake --build build/release                             # libloupe_lib.a
  python3 bench/llamacpp/check_dots.py build/release [TYPE ...]
"""
import ctypes, glob, os, subprocess, sys, tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
only = sys.argv[2:]
bins = glob.glob(os.path.join(here, "node_modules/@node-llama-cpp/linux-x64/bins/*/"))
if not bins:
    sys.exit("check_dots: run `npm install --prefix bench/llamacpp` first")
base = ctypes.CDLL(bins[0] + "libggml-base.so", mode=ctypes.RTLD_GLOBAL)
cpu = ctypes.CDLL(bins[0] + "libggml-cpu-haswell.so", mode=ctypes.RTLD_GLOBAL)
cpu.ggml_cpu_init()


class TraitsCpu(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


cpu.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TraitsCpu)
base.ggml_quantize_chunk.restype = ctypes.c_size_t
base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_int64, ctypes.c_void_p]
base.ggml_row_size.restype = ctypes.c_size_t
base.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
FROM = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                       ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)

# name: (ggml type id, loupe DType index)
TYPES = {"f32": (0, 0), "f16": (1, 1), "bf16": (30, 2), "q4_0": (2, 3), "q4_1": (3, 4), "q5_0": (6, 5),
         "q5_1": (7, 6), "q8_0": (8, 7), "q2_k": (10, 8), "q3_k": (11, 9), "q4_k": (12, 10), "q5_k": (13, 11),
         "q6_k": (14, 12), "iq2_xxs": (16, 13), "iq2_xs": (17, 14), "iq3_xxs": (18, 15), "iq1_s": (19, 16),
         "iq4_nl": (20, 17), "iq3_s": (21, 18), "iq2_s": (22, 19), "iq4_xs": (23, 20), "iq1_m": (29, 21),
         "tq1_0": (34, 22), "tq2_0": (35, 23), "mxfp4": (39, 24)}

tmp = tempfile.mkdtemp(prefix="loupe-dots-")
driver = os.path.join(tmp, "ggml_dots")
root = os.path.dirname(os.path.dirname(here))
subprocess.run(["g++", "-std=c++20", "-O2", "-I", os.path.join(root, "src"), os.path.join(here, "ggml_dots.cpp"),
                os.path.join(build, "libloupe_lib.a"), "-o", driver, "-lpthread"], check=True)

rng = np.random.default_rng(5)
failed = 0
for name in only or list(TYPES):
    gid, lid = TYPES[name]
    sizes = [512, 1000] if name in ("f16", "bf16", "f32") else [512, 544, 1024]
    for k in sizes:
        if gid >= 10 and name not in ("iq4_nl", "mxfp4") and k % 256:
            continue
        rows = 16
        base.ggml_quantize_init(gid)
        wf = (rng.standard_normal((rows, k)) * 0.05).astype(np.float32)
        wf[0, 5] = 1.5
        rs = base.ggml_row_size(gid, k)
        wb = np.zeros(rs * rows, np.uint8)
        imat = np.ones(k, np.float32)
        base.ggml_quantize_chunk(gid, wf.ctypes.data, wb.ctypes.data, 0, rows, k, imat.ctypes.data)
        tr = cpu.ggml_get_type_traits_cpu(gid).contents
        vt = tr.vec_dot_type
        dot = DOT(tr.vec_dot)
        ok = bad = 0
        for trial in range(3):
            x = rng.standard_normal(k).astype(np.float32) * (1 + trial)
            if trial == 2:
                x[:32] = 0
                x[40] = 30
            if vt == 0:
                xb = x.copy().view(np.uint8)
            else:
                xb = np.zeros(base.ggml_row_size(vt, k) + 64, np.uint8)
                FROM(cpu.ggml_get_type_traits_cpu(vt).contents.from_float)(x.ctypes.data, xb.ctypes.data, k)
            want = []
            for r in range(rows):
                s = ctypes.c_float()
                dot(k, ctypes.byref(s), 0, wb.ctypes.data + rs * r, 0, xb.ctypes.data, 0, 1)
                want.append(int(np.float32(s.value).view(np.uint32)))
            wpath, xpath = os.path.join(tmp, "w.bin"), os.path.join(tmp, "x.bin")
            wb.tofile(wpath)
            x.tofile(xpath)
            lines = subprocess.run([driver, str(lid), str(k), str(rows), wpath, xpath, "0"], capture_output=True,
                                   text=True, check=True).stdout.split("\n")
            for r in range(rows):
                ref, vec, value = lines[r].split()
                if int(ref, 16) == want[r] and int(vec, 16) == want[r]:
                    ok += 1
                else:
                    bad += 1
                    if bad <= 3:
                        print(f"  {name} k {k} row {r}: ggml {np.uint32(want[r]).view(np.float32)!r} loupe {value} "
                              f"(reference {ref}, vector {vec})")
        failed += bad
        print(f"{name:8s} k {k:5d}: {ok} rows equal to the bit, {bad} differ")
sys.exit(1 if failed else 0)

// Which arithmetic a run computes the model's products in.
//
// Exact (the default, the reference): the float product of the float activations with the
// dequantised weights; what the model's mathematics says, to float rounding.
//
// LlamaCpp: ggml's CPU arithmetic, as llama.cpp computes on x86-64 (its AVX2 build, one token per
// decode). Before a product with a weight of type T the activations are converted to T's "vec_dot
// type" (ActFormat below): F16 or BF16 (rounded to nearest even), Q8_0 or Q8_1 blocks of 32 (fp16
// scale amax / 127, each value x * 127 / amax rounded to nearest even; Q8_1 adds the fp16 of scale
// times the block's sum, which its weights' minimum meets), or Q8_K blocks of 256 (float scale
// max / -127 with max the signed value of largest magnitude, values rounded to nearest even and
// capped at 127); the sums over whole blocks are then taken in integers (or exactly, for F16 and
// BF16 products) and scaled in float. GELU goes through ggml's table of fp16 GELU values. The same
// rules on every instruction-set tier, so results do not depend on the CPU. The products then
// follow ggml's own float operations (ggml_dot.h): its lanes, fused multiply-adds and horizontal
// sums, so that the logits equal llama.cpp's to ~1e-7 (a last-bit difference would flip a later
// rounding now and then and move them by ~1e-2).
//
// Q8 (--q8-act): the fast mode. The same conversions of the activations, then loupe's int8 kernels
// (VNNI panels, maddubs) with their own order of float operations: llama.cpp's kind of arithmetic
// at loupe's speed, ~1e-2 from llama.cpp's logits where roundings flip.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tensor/dtype.h"

namespace loupe {

enum class Numerics : uint8_t { Exact, LlamaCpp, Q8 };

// "exact", "llama.cpp", "q8".
const char* numerics_name(Numerics n);
// The name's mode ("llama.cpp", "llamacpp" and "ggml" name LlamaCpp); nullopt for other names.
std::optional<Numerics> numerics_from_name(std::string_view name);

// ggml's vec_dot type of a weight type: what activations become before they meet its rows.
enum class ActFormat : uint8_t { F32, F16, BF16, Q8_0, Q8_1, Q8_K };
ActFormat vec_dot_format(DType type);
const char* act_format_name(ActFormat f);

}  // namespace loupe

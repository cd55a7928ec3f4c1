// Vector kernels with run-time instruction-set dispatch (AVX2+FMA when the CPU has it, else a
// scalar path that is always built and tested). Results are deterministic for a given path.
#pragma once

#include <cstdint>

namespace loupe {

enum class Isa : uint8_t { Scalar, Avx2 };
// The instruction set the kernels use: the best the CPU supports, or Scalar when the
// environment variable LOUPE_ISA=scalar is set.
Isa active_isa();
const char* isa_name(Isa isa);

float dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void axpy_f32(float a, const float* x, float* y, int64_t n);

namespace kernels {
float dot_f32_scalar(const float* a, const float* b, int64_t n);
float dot_f32_avx2(const float* a, const float* b, int64_t n);
void axpy_f32_scalar(float a, const float* x, float* y, int64_t n);
void axpy_f32_avx2(float a, const float* x, float* y, int64_t n);
}  // namespace kernels

}  // namespace loupe

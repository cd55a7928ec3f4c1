// The q8-activation tile kernels with the AArch64 dot-product extension (sdot: four int8
// products summed into each int32 lane) and with the int8 matrix-multiply extension too (smmla:
// a 2 x 2 block of sums of 8 products), chosen at run time when getauxval reports them. The
// functions below carry the target; the library stays baseline ARMv8-A.
#include "tensor/kernels.h"  // LOUPE_ARM

#include "tensor/kernels_matmul.h"

#if LOUPE_ARM
#include <arm_neon.h>

#include <type_traits>

#include "tensor/half.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")

namespace loupe::kernels {
namespace neon_dot {

inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  return vdotq_s32(acc, a, b);
}

#define LOUPE_NEON_I8MM 0
#include "tensor/kernels_neon_q8.inc"
#undef LOUPE_NEON_I8MM

}  // namespace neon_dot
}  // namespace loupe::kernels

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")

namespace loupe::kernels {
namespace neon_i8mm {

inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
  return vdotq_s32(acc, a, b);
}

#define LOUPE_NEON_I8MM 1
#include "tensor/kernels_neon_q8.inc"
#undef LOUPE_NEON_I8MM

}  // namespace neon_i8mm

TileFn tile_kernel_neon_dot(DType type, bool i8mm) {
  return i8mm ? neon_i8mm::q8_table(type) : neon_dot::q8_table(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else   // not AArch64

namespace loupe::kernels {
TileFn tile_kernel_neon_dot(DType, bool) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_ARM

// The q8-activation tile kernels with the AArch64 dot-product extension (sdot: four int8
// products summed into each int32 lane), chosen at run time when getauxval reports it. The
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

#include "tensor/kernels_neon_q8.inc"

}  // namespace neon_dot

TileFn tile_kernel_neon_dot(DType type) {
  return neon_dot::q8_table(type);
}

}  // namespace loupe::kernels

#pragma GCC pop_options
#else   // not AArch64

namespace loupe::kernels {
TileFn tile_kernel_neon_dot(DType) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_ARM

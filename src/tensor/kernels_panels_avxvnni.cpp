// Panel kernels with vpdpbusd on 256-bit registers (kernels_panels_256.inc with kVnni): the
// Avx2Vnni tier, for CPUs with AVX2 and AVX-VNNI but no AVX-512 (Intel Alder Lake and later
// client parts, Zen 5's 256-bit path). Compiled twice: VEX-encoded for AVX-VNNI, and
// EVEX-encoded for AVX-512 VNNI + VL, so that the tier also runs (and is tested) on AVX-512
// machines without AVX-VNNI (Zen 4, Ice Lake). The same source, the same arithmetic.
#include "tensor/kernels.h"  // LOUPE_X86

#include "tensor/kernels_matmul.h"

#if LOUPE_X86
#include <cpuid.h>
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "tensor/quant_blocks.h"
#include "tensor/quant_iq_grids.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")

namespace loupe::kernels {
namespace vex {
namespace {

constexpr bool kVnni = true;
inline __m256i dpbusd256(__m256i acc, __m256i u, __m256i s) {
  return _mm256_dpbusd_avx_epi32(acc, u, s);
}

#include "tensor/kernels_panels_256.inc"

}  // namespace

PanelFn table(DType type) {
  return panel_table<PanelOf>(type);
}

}  // namespace vex
}  // namespace loupe::kernels

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")

namespace loupe::kernels {
namespace evex {
namespace {

constexpr bool kVnni = true;
inline __m256i dpbusd256(__m256i acc, __m256i u, __m256i s) {
  return _mm256_dpbusd_epi32(acc, u, s);
}

#include "tensor/kernels_panels_256.inc"

}  // namespace

PanelFn table(DType type) {
  return panel_table<PanelOf>(type);
}

}  // namespace evex
}  // namespace loupe::kernels

#pragma GCC pop_options

namespace loupe::kernels {

// AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (asked directly: compilers disagree on the
// feature's name for __builtin_cpu_supports).
bool cpu_has_avx_vnni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0 && (a & (1u << 4)) != 0;
}

PanelFn panel_kernel_avx2vnni(DType type) {
  static const bool vex_encoding = cpu_has_avx_vnni();
  return vex_encoding ? vex::table(type) : evex::table(type);
}

}  // namespace loupe::kernels

#else   // not x86

namespace loupe::kernels {
bool cpu_has_avx_vnni() {
  return false;
}
PanelFn panel_kernel_avx2vnni(DType) {
  return nullptr;
}
}  // namespace loupe::kernels
#endif  // LOUPE_X86

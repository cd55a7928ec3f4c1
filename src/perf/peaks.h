// The machine's compute peaks per instruction-set tier, measured with loops that do nothing but
// the tier's arithmetic (not loupe's kernels), for rooflines that say how far a kernel is from
// the hardware.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "tensor/kernels.h"

namespace loupe::perf {

// Float multiply-adds per second on every pool thread: independent FMA chains in registers
// (AVX-512: 512-bit vfmadd; AVX2: 256-bit vfmadd; scalar: the baseline compiler's float
// multiply and add). Counted as 2 operations each.
double fma_peak(ThreadPool& pool, Isa isa);

// int8 products per second on every pool thread, counted as 2 operations each (multiply and
// add): AVX-512 VNNI vpdpbusd (64 per instruction), AVX2 vpmaddubsw + vpmaddwd + vpaddd (32 per
// triple, the sequence loupe's AVX2 int8 kernels reduce with), scalar int32 multiply-adds.
double int8_peak(ThreadPool& pool, Isa isa);

}  // namespace loupe::perf

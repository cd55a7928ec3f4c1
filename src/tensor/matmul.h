// y = x W^T (+ bias) for a weight of any storage and element type, split over output rows
// across the pool (each output element is computed by one thread, in a fixed order).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "tensor/weight.h"

namespace loupe {

// x: [m, w.cols] floats, y: [m, w.rows] floats (row stride w.rows), bias: [w.rows] or null.
void matmul(ThreadPool& pool, const Weight& w, const float* x, int64_t m, float* y, const float* bias);

}  // namespace loupe

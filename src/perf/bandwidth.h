// Machine peaks for rooflines and bounds: streaming read bandwidth, measured here, now.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "engine/interpreter.h"

namespace loupe::perf {

// Reads a buffer of `bytes` (default 256 MiB, well past the caches) with every pool thread
// (fixed split), `repeat` times; returns the best rate in bytes per second.
double read_bandwidth(ThreadPool& pool, int64_t bytes = int64_t(256) << 20, int repeat = 3);

// Bytes one decode step reads at KV position pos: every matmul weight once (a single row of
// the embeddings), plus the keys and values of positions 0..pos.
int64_t decode_bytes(const Interpreter& interp, int64_t pos);

}  // namespace loupe::perf

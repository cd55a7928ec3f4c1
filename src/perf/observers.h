// Observers used to measure what watching a model costs: a tracer that copies every tensor it
// sees (as `loupe trace` records residual streams) and a NaN breakpoint that scans every value.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/interpreter.h"

namespace loupe::perf {

// Copies each observed tensor into its own buffer (reused across passes).
class CopyTracer : public Observer {
 public:
  void on_hook(const HookEvent& event) override;
  int64_t bytes_copied() const { return bytes_; }

 private:
  std::vector<std::vector<float>> copies_;  // per hook id: [numel]
  int64_t bytes_ = 0;
};

// Counts non-finite values (NaN or +-inf) in every observed tensor, remembering the first hook
// that had one, as a NaN breakpoint would stop there. In attention scores -inf is the mask and
// is not counted (NaN and +inf are).
class NanCheck : public Observer {
 public:
  // With a pool (the interpreter's, idle while observers run), large tensors are scanned on all
  // its threads: a prompt's hooks are about ten times its weights' activations in bytes.
  explicit NanCheck(ThreadPool* pool = nullptr) : pool_(pool) {}
  void on_hook(const HookEvent& event) override;
  int64_t non_finite() const { return non_finite_; }
  int first_hook() const { return first_hook_; }  // -1 when none

 private:
  ThreadPool* pool_ = nullptr;
  int64_t non_finite_ = 0;
  int first_hook_ = -1;
};

// Number of non-finite floats in x[0, n) (exponent bits all ones), leaving out -inf when
// skip_neg_inf (the attention mask's value); AVX2 with a scalar twin.
int64_t count_non_finite(const float* x, int64_t n, bool skip_neg_inf = false);
int64_t count_non_finite_scalar(const float* x, int64_t n, bool skip_neg_inf = false);
int64_t count_non_finite_avx2(const float* x, int64_t n, bool skip_neg_inf = false);
// Whether there is one at all (the fast first look count_non_finite takes; x86 only).
bool any_non_finite_avx2(const float* x, int64_t n, bool skip_neg_inf = false);
bool any_non_finite_avx512(const float* x, int64_t n, bool skip_neg_inf = false);

}  // namespace loupe::perf

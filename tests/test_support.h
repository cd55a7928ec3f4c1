// Shared helpers for the test suites: where the shared data lives, how to run the binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/kernels.h"

namespace loupe::test {

// The vector tiers this CPU runs (Avx2, Avx512 where supported), for tests that run each.
std::vector<Isa> vector_tiers();
// Whether a tier reads q8 panels (the x86 tiers; NEON reads q8 tiles).
inline bool panel_tier(Isa isa) {
  return isa == Isa::Avx2 || isa == Isa::Avx2Vnni || isa == Isa::Avx512;
}

// Runs the kernels at `isa` while in scope (set_active_isa), then restores the tier before.
// Weights must be packed (pack_panels, pack_tiles) inside the scope they are used in.
class IsaScope {
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_active_isa(isa); }
  ~IsaScope() { set_active_isa(saved_); }
  IsaScope(const IsaScope&) = delete;
  IsaScope& operator=(const IsaScope&) = delete;

 private:
  Isa saved_;
};

// Whether this build runs under AddressSanitizer (memory figures are not the release build's).
constexpr bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// The shared data folder: $LOUPE_SHARED_DIR, else the path configured at build time (../shared).
std::string shared_dir();
// shared_dir() + "/" + rel
std::string shared(const std::string& rel);
// The loupe binary built with the tests.
std::string loupe_binary();

struct CommandResult {
  int exit_code = 0;
  std::string out;  // standard output
  std::string err;  // standard error
};
// Runs the loupe binary with the given argument string (shell-quoted by the caller).
CommandResult run_loupe(const std::string& args);

// Reads a whole file as bytes / little-endian float32.
std::string read_file(const std::string& path);
std::vector<float> read_f32(const std::string& path);

// Two [rows, V] logit arrays: the largest |a - b| and the number of rows whose argmax differs.
struct LogitsGap {
  double max_abs = 0;
  int argmax_mismatches = 0;
};
LogitsGap logits_gap(const std::vector<float>& a, const std::vector<float>& b, int64_t V);

// A fresh empty temporary directory, removed by the caller when wanted.
std::string temp_dir(const std::string& tag);

}  // namespace loupe::test

// A progress bar on standard error for long reads. It appears only after the first second (fast
// runs print nothing) and is redrawn at most 4 times a second. On a terminal it redraws one line
// with '\r'; when stderr is not a terminal it is off by default (logs stay clean), and when forced
// on it writes one plain line per update, at most one a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace loupe::data {

class ProgressBar {
 public:
  enum class Mode { Auto, Always, Never };
  explicit ProgressBar(Mode mode);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // done and total in bytes (total 0: unknown, shows bytes and speed only).
  void update(uint64_t done, uint64_t total);
  // Ends the line if anything was drawn.
  void finish();

 private:
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace loupe::data

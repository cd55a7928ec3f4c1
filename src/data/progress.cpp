// ProgressBar: a throttled one-line progress display on stderr.
#include "data/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace loupe::data {

ProgressBar::ProgressBar(Mode mode)
    : tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_(start_) {
  enabled_ = mode == Mode::Always || (mode == Mode::Auto && tty_);
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (elapsed < 1.0 || since < (tty_ ? 0.25 : 1.0)) return;
  last_ = now;
  const double mb = static_cast<double>(done) / 1e6;
  const double speed = mb / elapsed;
  char line[160];
  if (total > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    const double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    std::snprintf(line, sizeof line, "[%s] %5.1f%%  %.0f/%.0f MB  %.1f MB/s  eta %.0fs", bar.c_str(), 100 * frac, mb,
                  static_cast<double>(total) / 1e6, speed, eta);
  } else {
    std::snprintf(line, sizeof line, "%.0f MB read  %.1f MB/s", mb, speed);
  }
  std::fprintf(stderr, tty_ ? "\r%s\x1b[K" : "%s\n", line);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_ && tty_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace loupe::data

#include "core/thread_pool.h"

#include <chrono>

namespace loupe {
namespace {

// How long a worker keeps polling for the next job before it sleeps.
constexpr auto kSpin = std::chrono::microseconds(30);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Poll first: the next job usually follows within microseconds.
    const auto until = std::chrono::steady_clock::now() + kSpin;
    bool ready = false;
    for (int n = 0;; ++n) {
      if (generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed)) {
        ready = true;
        break;
      }
      cpu_relax();
      if ((n & 255) == 255 && std::chrono::steady_clock::now() > until) break;
    }
    if (!ready) {
      // sleepers_ is raised under the lock before the predicate reads generation_, and run()
      // bumps generation_ before it reads sleepers_: one of the two sees the other (seq_cst).
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      start_cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    (*job_)(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes job_ and pending_
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    start_cv_.notify_all();
  }
  fn(0);
  for (int n = 0; pending_.load(std::memory_order_acquire) != 0; ++n) {
    if (n < 256)
      cpu_relax();
    else
      std::this_thread::yield();  // a worker was descheduled (busy machine): let it run
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t t = n_threads_;
  if (t == 1 || n == 1) {
    fn(0, n);
    return;
  }
  run([&](int i) {
    int64_t begin = n * i / t;
    int64_t end = n * (i + 1) / t;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace loupe

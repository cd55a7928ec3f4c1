// A persistent pool of worker threads with a fixed work split: task i of n always goes to the
// same thread for a given thread count, and callers reduce in a fixed order, so results never
// depend on timing.
//
// A decode step dispatches a hundred small jobs, so hand-off cost matters: workers spin for a
// short while after each job (30 microseconds) before sleeping on a condition
// variable, and the caller spins while it waits for them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace loupe {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Runs fn(thread_index) on every thread (the caller is thread 0) and waits for all.
  void run(const std::function<void(int)>& fn);

  // Splits [0, n) into n_threads contiguous ranges and runs fn(begin, end) on each.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace loupe

#pragma once
// A fixed set of worker threads that a call hands loops to without allocating: the loop body
// is passed by reference (type-erased to a function pointer and a context pointer), chunks
// are taken from an atomic counter, and the caller works alongside the workers.
//
// Hand-offs spin before they sleep. A layer call is a chain of short loops (projections,
// attention, output) with a little serial work between them; a condition-variable wake-up
// costs tens of microseconds on a virtual machine, as much as a whole small loop. So a worker
// that finds no loop keeps polling for `spin_time` before it blocks, and the caller polls for
// the workers' end the same way. The cost is up to `spin_time` of a busy core after the last
// loop of a call (OpenMP runtimes spin for up to 200 ms by default).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace typeformer {

namespace detail {
/// Tells the core that this is a polling loop (saves power and frees the sibling hyper-thread).
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Polls `ready` for up to `limit`; whether it became true.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::microseconds limit) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (unsigned i = 1;; ++i) {
    if (ready()) return true;
    spin_pause();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) return ready();
  }
}
}  // namespace detail

class thread_pool {
 public:
  /// How long a hand-off polls before it blocks on a condition variable.
  static constexpr std::chrono::microseconds spin_time{200};

  /// `threads` participants in all: the calling thread and threads − 1 workers.
  explicit thread_pool(std::size_t threads = 1) {
    const std::size_t workers = threads > 1 ? threads - 1 : 0;
    workers_.reserve(workers);
    try {
      for (std::size_t w = 0; w < workers; ++w) workers_.emplace_back([this, w] { work(w + 1); });
    } catch (...) {
      stop();  // the threads already started hold `this`: join them before unwinding
      throw;
    }
  }
  ~thread_pool() { stop(); }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  std::size_t size() const noexcept { return workers_.size() + 1; }

  /// Calls body(begin, end, participant) over [0, count) in chunks of `grain`, on every
  /// participant (0 is the caller), and returns when all chunks are done. The body must not
  /// throw. Not reentrant: one loop at a time per pool.
  template <class Body>
  void parallel_for(std::size_t count, std::size_t grain, Body&& body) noexcept {
    grain = std::max<std::size_t>(grain, 1);
    if (workers_.empty() || count <= grain) {
      if (count) body(std::size_t{0}, count, std::size_t{0});
      return;
    }
    using B = std::remove_reference_t<Body>;
    // The job is written before the generation is published (release), and every worker has
    // left the previous job (busy_ reached 0), so no worker reads it while it changes.
    job_.context = const_cast<void*>(static_cast<const void*>(&body));
    job_.call = [](void* context, std::size_t b, std::size_t e, std::size_t who) {
      (*static_cast<B*>(context))(b, e, who);
    };
    job_.count = count;
    job_.grain = grain;
    next_.store(0, std::memory_order_relaxed);
    busy_.store(workers_.size(), std::memory_order_relaxed);
    bool wake = false;
    {
      // Under the mutex, so that a worker between its last poll and its wait cannot miss it.
      std::lock_guard lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
      wake = sleeping_ > 0;
    }
    if (wake) start_.notify_all();
    run_chunks(0);
    const auto finished = [this] { return busy_.load(std::memory_order_acquire) == 0; };
    if (!detail::spin_until(finished, spin_time)) {
      std::unique_lock lock(mutex_);
      done_.wait(lock, finished);
    }
  }

 private:
  struct job {
    void* context = nullptr;
    void (*call)(void*, std::size_t, std::size_t, std::size_t) = nullptr;
    std::size_t count = 0, grain = 1;
  };

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_.store(true, std::memory_order_release);
    }
    start_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run_chunks(std::size_t who) noexcept {
    for (;;) {
      const std::size_t begin = next_.fetch_add(job_.grain, std::memory_order_relaxed);
      if (begin >= job_.count) return;
      job_.call(job_.context, begin, std::min(job_.count, begin + job_.grain), who);
    }
  }

  void work(std::size_t who) {
    std::size_t seen = 0;
    const auto called = [&] {
      return stopping_.load(std::memory_order_acquire) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      if (!detail::spin_until(called, spin_time)) {
        std::unique_lock lock(mutex_);
        ++sleeping_;
        start_.wait(lock, called);
        --sleeping_;
      }
      if (stopping_.load(std::memory_order_acquire)) return;
      seen = generation_.load(std::memory_order_acquire);
      run_chunks(who);
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // The caller may have stopped polling: it checks busy_ under the mutex before waiting.
        std::lock_guard lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  job job_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> busy_{0};
  std::atomic<std::size_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::size_t sleeping_ = 0;  // workers blocked on start_, guarded by mutex_
};

}  // namespace typeformer

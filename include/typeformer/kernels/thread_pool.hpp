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
//
// The caller never waits for a worker that has not joined a loop. Workers join by taking a
// ticket of the loop's generation; once the caller has run out of chunks it closes the loop,
// and a worker arriving later finds it closed and leaves the job alone. Waiting for every
// worker to join made each small loop after an idle spell cost a wake-up of a halted virtual
// CPU (about 250 µs here): caller and worker each gave up polling just before the other
// arrived, and a 1 × 512 × 512 GEMM on two threads took 450 µs for as long as it was called,
// against 8 µs (16 µs on one thread).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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

  /// Calls body(begin, end, participant) over [0, count) in chunks of `grain` on the caller
  /// (participant 0) and on whichever workers join before the chunks run out, and returns
  /// when all chunks are done. The body must not throw. Not reentrant: one loop at a time per
  /// pool.
  template <class Body>
  void parallel_for(std::size_t count, std::size_t grain, Body&& body) noexcept {
    grain = std::max<std::size_t>(grain, 1);
    if (workers_.empty() || count <= grain) {
      if (count) body(std::size_t{0}, count, std::size_t{0});
      return;
    }
    using B = std::remove_reference_t<Body>;
    // The job is written before the generation is published (release), and every worker that
    // joined the previous loop has finished it, so no worker reads the job while it changes.
    job_.context = const_cast<void*>(static_cast<const void*>(&body));
    job_.call = [](void* context, std::size_t b, std::size_t e, std::size_t who) {
      (*static_cast<B*>(context))(b, e, who);
    };
    job_.count = count;
    job_.grain = grain;
    next_.store(0, std::memory_order_relaxed);
    finished_.store(0, std::memory_order_relaxed);
    bool wake = false;
    {
      // Under the mutex, so that a worker between its last poll and its wait cannot miss it.
      // The release publishes the job to the workers whose ticket takes this generation.
      std::lock_guard lock(mutex_);
      const std::uint64_t generation = ticket_generation(ticket_.load(std::memory_order_relaxed));
      ticket_.store((generation + 1) << ticket_shift, std::memory_order_release);
      wake = sleeping_ > 0;
    }
    if (wake) start_.notify_all();
    run_chunks(0);
    // Every chunk is taken: close the loop to late workers, then wait for the joined ones.
    const std::uint64_t joined =
        ticket_.fetch_or(ticket_closed, std::memory_order_acq_rel) & ticket_joined_mask;
    const auto finished = [&] { return finished_.load(std::memory_order_acquire) == joined; };
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

  // ticket_: the current loop's generation, a closed bit and the number of workers that
  // joined it, in one word, so that joining and closing exclude each other.
  static constexpr unsigned ticket_shift = 32;
  static constexpr std::uint64_t ticket_closed = std::uint64_t{1} << 31;
  static constexpr std::uint64_t ticket_joined_mask = ticket_closed - 1;
  static constexpr std::uint64_t ticket_generation(std::uint64_t t) noexcept {
    return t >> ticket_shift;
  }

  /// Joins loop `generation` if it is still open; false if it is closed or already replaced.
  bool join(std::uint64_t generation) noexcept {
    std::uint64_t t = ticket_.load(std::memory_order_relaxed);
    while (ticket_generation(t) == generation && !(t & ticket_closed))
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acquire,
                                        std::memory_order_relaxed))
        return true;
    return false;
  }

  void work(std::size_t who) {
    std::uint64_t seen = 0;
    const auto called = [&] {
      return stopping_.load(std::memory_order_acquire) ||
             ticket_generation(ticket_.load(std::memory_order_acquire)) != seen;
    };
    for (;;) {
      if (!detail::spin_until(called, spin_time)) {
        std::unique_lock lock(mutex_);
        ++sleeping_;
        start_.wait(lock, called);
        --sleeping_;
      }
      if (stopping_.load(std::memory_order_acquire)) return;
      seen = ticket_generation(ticket_.load(std::memory_order_acquire));
      if (!join(seen)) continue;  // the caller finished this loop without us
      run_chunks(who);
      finished_.fetch_add(1, std::memory_order_release);
      // The caller may have stopped polling: it checks finished_ under the mutex before
      // waiting.
      std::lock_guard lock(mutex_);
      done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  job job_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::uint64_t> ticket_{0};
  std::atomic<std::uint64_t> finished_{0};  // joined workers done with the current loop
  std::atomic<bool> stopping_{false};
  std::size_t sleeping_ = 0;  // workers blocked on start_, guarded by mutex_
};

}  // namespace typeformer

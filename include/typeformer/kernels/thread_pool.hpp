#pragma once
// A fixed set of worker threads that a call hands loops to without allocating: the loop body
// is passed by reference (type-erased to a function pointer and a context pointer), chunks
// are taken from an atomic counter, and the caller works alongside the workers.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace typeformer {

class thread_pool {
 public:
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
    {
      std::lock_guard lock(mutex_);
      job_.context = const_cast<void*>(static_cast<const void*>(&body));
      job_.call = [](void* context, std::size_t b, std::size_t e, std::size_t who) {
        (*static_cast<B*>(context))(b, e, who);
      };
      job_.count = count;
      job_.grain = grain;
      next_.store(0, std::memory_order_relaxed);
      busy_ = workers_.size();
      ++generation_;
    }
    start_.notify_all();
    run_chunks(0);
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
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
      stopping_ = true;
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
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      run_chunks(who);
      {
        std::lock_guard lock(mutex_);
        --busy_;
      }
      done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  job job_;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;
  std::size_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace typeformer

#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mq {

/// A fixed set of threads, each owning one `Resource` (a database or cache session)
/// built by `factory` on that thread. Jobs run on whichever thread is free, with that
/// thread's resource; a resource is never touched by two threads.
///
/// submit() never blocks: it returns false when the queue already holds `max_queue`
/// jobs, so callers can shed load (answer 503) instead of piling up.
template <class Resource>
class blocking_pool {
 public:
  using job = std::function<void(Resource&)>;
  using factory = std::function<std::unique_ptr<Resource>()>;

  blocking_pool(std::size_t threads, std::size_t max_queue, factory make)
      : max_queue_(max_queue) {
    for (std::size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this, make] { run(make()); });
  }

  ~blocking_pool() { stop(); }
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues `j`; false if the queue is full or the pool is stopping.
  bool submit(job j) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ || jobs_.size() >= max_queue_) return false;
      jobs_.push_back(std::move(j));
    }
    cv_.notify_one();
    return true;
  }

  /// Runs the queued jobs, then joins the threads. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  std::size_t queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  void run(std::unique_ptr<Resource> resource) {
    for (;;) {
      job j;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        j = std::move(jobs_.front());
        jobs_.pop_front();
      }
      j(*resource);
    }
  }

  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mq

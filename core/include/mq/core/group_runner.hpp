#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "mq/core/blocking_pool.hpp"

namespace mq {

/// Runs items in groups on a blocking_pool. While `max_running` groups are running, new
/// items wait and leave together in the next group (at most `max_group` at a time), so
/// under load one pool job serves many items (one transaction, one pipeline) and when
/// idle an item leaves at once. submit() never blocks.
template <class Resource, class Item>
class group_runner {
 public:
  /// Handles one group on a pool thread.
  using run_fn = std::function<void(Resource&, std::vector<Item>&)>;
  /// Answers items the pool refused (its queue is full).
  using reject_fn = std::function<void(std::vector<Item>&)>;

  group_runner(blocking_pool<Resource>& pool, run_fn run, reject_fn reject, std::size_t max_group,
               std::size_t max_running)
      : pool_(pool),
        run_(std::move(run)),
        reject_(std::move(reject)),
        max_group_(max_group),
        max_running_(max_running) {}

  void submit(Item item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.push_back(std::move(item));
      if (running_ >= max_running_) return;  // a running drain takes it
      ++running_;
    }
    if (pool_.submit([this](Resource& r) { drain(r); })) return;
    std::vector<Item> refused;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      refused.swap(pending_);
    }
    reject_(refused);
  }

 private:
  /// Runs groups until nothing is pending.
  void drain(Resource& r) {
    for (;;) {
      std::vector<Item> group;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_.empty()) {
          --running_;
          return;
        }
        const auto n = static_cast<long>(std::min(pending_.size(), max_group_));
        group.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.begin() + n));
        pending_.erase(pending_.begin(), pending_.begin() + n);
      }
      run_(r, group);
    }
  }

  blocking_pool<Resource>& pool_;
  run_fn run_;
  reject_fn reject_;
  const std::size_t max_group_;
  const std::size_t max_running_;
  std::mutex mu_;
  std::vector<Item> pending_;
  std::size_t running_ = 0;
};

}  // namespace mq

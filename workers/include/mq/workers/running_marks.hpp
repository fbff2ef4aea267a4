#pragma once

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mq::workers {

struct job_context;

/// The lazily claimed tasks of a replica's jobs (store::claim_result::lazy), so that
/// those still running after worker.running_after_ms are recorded running. Jobs add and
/// remove themselves from the scheduler's threads, the marker takes what is due.
class running_marks {
 public:
  struct entry {
    std::string task_id;
    caf::actor job;
    int attempt = 0;
    std::int64_t started_ms = 0;  ///< Unix ms of the claim.
  };

  void add(entry e);
  void remove(const std::string& task_id);
  /// Takes out every entry claimed at or before `cutoff_ms` (Unix ms).
  std::vector<entry> take_due(std::int64_t cutoff_ms);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;
};

/// Every quarter of `after`, records running the lazily claimed tasks claimed `after` ago
/// or earlier (one statement for all of them), and tells each one's job, which shows it
/// running in the cache unless its outcome is on its way.
caf::behavior running_marker(caf::event_based_actor* self, std::shared_ptr<const job_context> ctx,
                             std::chrono::milliseconds after);

}  // namespace mq::workers

#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::config {
struct redis_config;
}

namespace mq::store {

/// Keys of the cache, all under the configured prefix and scoped by tenant so that one
/// tenant's id never reads another tenant's entry.
struct cache_keys {
  std::string prefix;
  std::string task(const std::string& tenant, const std::string& task_id) const {
    return prefix + "task:" + tenant + ":" + task_id;
  }
  std::string classification(const std::string& tenant, long long meeting_id) const {
    return prefix + "cls:" + tenant + ":" + std::to_string(meeting_id);
  }
};

/// The Redis result cache: a copy of task states and results that polling reads first.
/// Postgres stays the source of truth, so every failure here is survivable: callers fall
/// back to Postgres on errc::unavailable. Blocking; one owner thread per instance.
class result_cache {
 public:
  struct entry {
    std::string key;
    std::string value;
  };

  virtual ~result_cache() = default;
  /// Writes all entries (pipelined) with the configured TTL.
  virtual status put(const std::vector<entry>& entries) = 0;
  /// The cached value, or nullopt on a miss.
  virtual result<std::optional<std::string>> get(const std::string& key) = 0;
  /// Removes keys.
  virtual status del(const std::vector<std::string>& keys) = 0;
  /// PING.
  virtual status ping() = 0;
};

/// result_cache over hiredis with the configured timeouts. After a failure it does not
/// try Redis again for `retry_after`, so a dead cache costs no latency.
std::unique_ptr<result_cache> make_redis_cache(const config::redis_config& cfg,
                                               std::chrono::milliseconds retry_after =
                                                   std::chrono::milliseconds(1000));

}  // namespace mq::store

#pragma once

#include <chrono>
#include <cstdint>
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
  /// A worker replica's last heartbeat (expires), and the set of replicas that wrote one.
  std::string worker(const std::string& id) const { return prefix + "worker:" + id; }
  std::string workers() const { return prefix + "workers"; }
};

/// The Redis result cache: a copy of task states and results that polling reads first.
/// Postgres stays the source of truth, so every failure here is survivable: callers fall
/// back to Postgres on errc::unavailable. Blocking; one owner thread per instance.
class result_cache {
 public:
  /// How an entry is written.
  enum class write_mode : std::uint8_t {
    final,     ///< A state that never changes again: overwrite, live redis.ttl_seconds.
    progress,  ///< A state on the way (queued, running, retrying): overwrite, live
               ///< redis.progress_ttl_seconds, so a missed update cannot show for long.
    first,     ///< Like progress, but only where the key is absent: never hides a newer
               ///< state that a worker wrote meanwhile.
  };
  struct entry {
    std::string key;
    std::string value;
    write_mode mode = write_mode::final;
  };

  virtual ~result_cache() = default;
  /// Writes all entries (pipelined).
  virtual status put(const std::vector<entry>& entries) = 0;
  /// The cached value, or nullopt on a miss.
  virtual result<std::optional<std::string>> get(const std::string& key) = 0;
  /// The cached values of `keys` in order (nullopt for misses), in one round trip.
  virtual result<std::vector<std::optional<std::string>>> get_many(const std::vector<std::string>& keys) = 0;
  /// Removes keys.
  virtual status del(const std::vector<std::string>& keys) = 0;
  /// PING.
  virtual status ping() = 0;

  /// A heartbeat: `value` at `key` for `ttl_seconds`, and `member` added to `set_key`
  /// (pipelined).
  virtual status beat(const std::string& set_key, const std::string& member, const std::string& key,
                      const std::string& value, int ttl_seconds) = 0;
  /// The members of a set.
  virtual result<std::vector<std::string>> members(const std::string& set_key) = 0;
  /// Removes members from a set.
  virtual status forget(const std::string& set_key, const std::vector<std::string>& members) = 0;
};

/// The heartbeats (JSON texts) of the live worker replicas, ordered by replica id.
/// Replicas whose heartbeat expired are dropped from the set as they are found.
result<std::vector<std::string>> live_heartbeats(result_cache& cache, const cache_keys& keys);

/// result_cache over hiredis with the configured timeouts. After a failure it does not
/// try Redis again for `retry_after`, so a dead cache costs no latency.
std::unique_ptr<result_cache> make_redis_cache(const config::redis_config& cfg,
                                               std::chrono::milliseconds retry_after =
                                                   std::chrono::milliseconds(1000));

}  // namespace mq::store

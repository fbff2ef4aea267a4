#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mq::config {
struct redis_config;
}

namespace mq::store {

/// Reads cache entries without blocking, over one Redis connection driven by an event
/// loop (an io_context run by one thread), so that a read and its answer never leave the
/// loop's thread. get() and every callback run on that thread. GETs asked for in one turn
/// of the loop go out in one write and their replies come back together (pipelining): a
/// busy loop pays a few system calls for many reads.
///
/// Redis is only a cache here, as for result_cache: while it is down, refuses, answers
/// with an error or leaves a read unanswered for redis.timeout_ms, the waiting callbacks
/// get nullopt and the caller reads Postgres. After a failure the connection is tried
/// again no sooner than `retry_after`; until then get() answers nullopt at once.
class redis_reader {
 public:
  /// Called with the value, or nullopt for a miss or an unavailable Redis.
  using callback = std::function<void(std::optional<std::string>)>;

  /// Connects lazily, on the first get(). `loop` must outlive the reader.
  redis_reader(boost::asio::io_context& loop, const config::redis_config& cfg,
               std::chrono::milliseconds retry_after = std::chrono::milliseconds(1000));
  /// Closes the connection; callbacks still waiting are dropped without a call. Call it
  /// on the loop's thread, or once the loop no longer runs.
  ~redis_reader();
  redis_reader(const redis_reader&) = delete;
  redis_reader& operator=(const redis_reader&) = delete;

  /// Reads `key` and calls `done` on the loop's thread: later, or before returning when
  /// Redis is known to be unavailable. On the loop's thread only.
  void get(const std::string& key, callback done);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace mq::store

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::config {
struct redis_config;
struct llm_config;
}  // namespace mq::config

namespace mq::store {

/// One LLM call asking to go.
struct limit_request {
  std::string tenant;
  std::int64_t tokens = 0;  ///< Estimated before the call (prompt + max answer).
};

/// Limits shared by every replica: requests and tokens per minute for the provider and
/// model, and per tenant. Admission is all-or-nothing per call: either every limit has
/// room (and the call's cost is taken from each) or none is charged and the caller gets
/// the wait until all would have room. Blocking; one owner thread per instance.
class rate_limiter {
 public:
  virtual ~rate_limiter() = default;
  /// For each request in order: 0 to go now (cost taken), else milliseconds to wait.
  virtual result<std::vector<std::int64_t>> acquire(const std::vector<limit_request>& calls) = 0;
  /// Replaces the token charge of an admitted call (its `estimate`) by the `actual` tokens
  /// the provider reported (0 for a failed call), for the model and the tenant.
  virtual status settle(const std::string& tenant, std::int64_t estimate, std::int64_t actual) = 0;
  /// The provider answered 429: tighten the model's limits by the configured factor for
  /// the configured time, and hold every call back for `retry_after`.
  virtual status penalize(std::chrono::milliseconds retry_after) = 0;
  /// What is left of the hold a provider 429 put on every replica (0 when none).
  virtual result<std::chrono::milliseconds> blocked_for() = 0;
};

/// The limiter over Redis (GCRA in Lua scripts, using Redis's clock so replicas agree).
/// `scope` names the provider and model ("openai:gpt-4o-mini"). When Redis is down,
/// acquire() fails with errc::unavailable and callers let calls through.
std::unique_ptr<rate_limiter> make_redis_rate_limiter(const config::redis_config& redis,
                                                      const config::llm_config& llm, std::string scope);

/// One limit on sending campaign messages: a name shared by every replica ("campaign:12",
/// "channel:smtp") and messages per minute (0 = none).
struct send_limit {
  std::string name;
  std::int64_t per_minute = 0;
};

/// Limits on campaign sends shared by every replica: admission is all-or-nothing, as for
/// LLM calls. Blocking; one owner thread per instance.
class send_limiter {
 public:
  virtual ~send_limiter() = default;
  /// 0 to send now (one message taken from every limit), else milliseconds to wait.
  virtual result<std::int64_t> acquire(const std::vector<send_limit>& limits) = 0;
};

/// The send limiter over Redis; acquire() fails with errc::unavailable without Redis.
std::unique_ptr<send_limiter> make_redis_send_limiter(const config::redis_config& redis);

}  // namespace mq::store

#include <hiredis/hiredis.h>

#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/core/socket.hpp"
#include "mq/store/rate_limiter.hpp"

namespace mq::store {
namespace {

// GCRA: each limit keeps a "theoretical arrival time" (TAT). A call of cost c moves it
// by c * interval; the call may go while TAT - now stays within the burst window.
// KEYS: model rpm, model tpm, tenant rpm, tenant tpm, penalty factor, blocked-until.
// ARGV: rpm, tpm, tenant rpm, tenant tpm, burst ms, tokens.
const char* acquire_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = tonumber(redis.call('GET', KEYS[6]) or '0')
if blocked > now then return blocked - now end
local factor = tonumber(redis.call('GET', KEYS[5]) or '1')
local burst = tonumber(ARGV[5])
local tokens = tonumber(ARGV[6])
local wait = 0
local tats = {}
for i = 1, 4 do
  local limit = tonumber(ARGV[i])
  if limit > 0 then
    if i <= 2 then limit = limit * factor end
    local interval = 60000 / limit
    local cost = 1
    if i == 2 or i == 4 then cost = tokens end
    local room = burst / interval
    if cost > room then cost = room end
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local new_tat = tat + cost * interval
    local w = new_tat - now - burst
    if w > wait then wait = w end
    tats[i] = new_tat
  end
end
if wait > 0 then return math.ceil(wait) end
for i = 1, 4 do
  if tats[i] then redis.call('SET', KEYS[i], tostring(tats[i]), 'PX', math.ceil(tats[i] - now) + 1000) end
end
return 0
)lua";

// KEYS: model tpm, tenant tpm. ARGV: tpm, tenant tpm, burst ms, estimate, actual.
// The charge taken was the estimate capped at the bucket's room, as in acquire.
const char* settle_script = R"lua(
for i = 1, 2 do
  local limit = tonumber(ARGV[i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if limit > 0 and tat > 0 then
    local interval = 60000 / limit
    local room = tonumber(ARGV[3]) / interval
    local charged = math.min(tonumber(ARGV[4]), room)
    local actual = math.min(tonumber(ARGV[5]), room)
    redis.call('SET', KEYS[i], tostring(tat + (actual - charged) * interval), 'KEEPTTL')
  end
end
return 0
)lua";

// KEYS: penalty factor, blocked-until. ARGV: factor, penalty ms, retry-after ms.
const char* penalize_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
local ra = tonumber(ARGV[3])
if ra > 0 then
  local until_ms = now + ra
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ms > current then redis.call('SET', KEYS[2], tostring(until_ms), 'PX', ra + 1000) end
end
return 0
)lua";

struct reply_free {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_free>;

/// One Redis connection running Lua scripts (loaded once per connection), pipelined:
/// append() commands, then read() their replies in order. After a failure it stays down
/// for a second, so callers fail open quickly instead of waiting on Redis.
class script_connection {
 public:
  script_connection(const config::redis_config& redis, std::vector<const char*> scripts)
      : redis_(redis), scripts_(std::move(scripts)), shas_(scripts_.size()) {}
  ~script_connection() {
    if (ctx_) redisFree(ctx_);
  }

  /// The SHA of script `i` (valid after connect()).
  const std::string& sha(std::size_t i) const { return shas_[i]; }

  void append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.c_str());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
  }

  result<reply_ptr> read() {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) return fail(ctx_->errstr);
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) return fail(std::string(r->str, r->len));
    return r;
  }

  status connect() {
    if (ctx_) return ok_status();
    if (std::chrono::steady_clock::now() < down_until_) return make_error(errc::unavailable, "rate limiter unavailable");
    timeval tv{redis_.timeout_ms / 1000, (redis_.timeout_ms % 1000) * 1000};
    ctx_ = redisConnectWithTimeout(redis_.host.c_str(), redis_.port, tv);
    if (!ctx_ || ctx_->err) return fail(ctx_ ? ctx_->errstr : "cannot allocate");
    if (connected_to_itself(ctx_->fd)) return fail("nothing listens (connected to itself)");
    redisSetTimeout(ctx_, tv);
    if (!redis_.password.empty()) {
      append({"AUTH", redis_.password});
      if (auto r = read(); !r) return r.err();
    }
    for (std::size_t i = 0; i < scripts_.size(); ++i) {
      append({"SCRIPT", "LOAD", scripts_[i]});
      auto r = read();
      if (!r) return r.err();
      shas_[i] = std::string((*r)->str, (*r)->len);
    }
    return ok_status();
  }

 private:
  error fail(const std::string& why) {
    log::warn("rate_limiter", "limiter unavailable; calls go unthrottled", {}, {{"error", why}});
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    down_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    return make_error(errc::unavailable, "rate limiter unavailable", why);
  }

  config::redis_config redis_;
  std::vector<const char*> scripts_;
  std::vector<std::string> shas_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point down_until_{};
};

class redis_rate_limiter final : public rate_limiter {
 public:
  redis_rate_limiter(const config::redis_config& redis, const config::llm_config& llm, std::string scope)
      : conn_(redis, {acquire_script, settle_script, penalize_script}), llm_(llm),
        base_(redis.key_prefix + "rl:" + scope + ":"), tenants_(redis.key_prefix + "rl:t:") {}

  result<std::vector<std::int64_t>> acquire(const std::vector<limit_request>& calls) override {
    if (!llm_.rate_limited()) return blocked_only(calls.size());
    if (auto st = conn_.connect(); !st) return st.err();
    const std::string burst = std::to_string(llm_.rate_burst_seconds * 1000);
    for (const auto& c : calls) {
      const std::string tenant = tenants_ + c.tenant + ":";
      conn_.append({"EVALSHA", conn_.sha(0), "6", base_ + "rpm", base_ + "tpm", tenant + "rpm", tenant + "tpm",
                    base_ + "penalty", base_ + "blocked", std::to_string(llm_.requests_per_minute),
                    std::to_string(llm_.tokens_per_minute), std::to_string(llm_.tenant_requests_per_minute),
                    std::to_string(llm_.tenant_tokens_per_minute), burst, std::to_string(c.tokens)});
    }
    std::vector<std::int64_t> waits;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      auto r = conn_.read();
      if (!r) return r.err();
      waits.push_back((*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : 0);
    }
    return waits;
  }

  status settle(const std::string& tenant, std::int64_t estimate, std::int64_t actual) override {
    if (estimate == actual || (llm_.tokens_per_minute == 0 && llm_.tenant_tokens_per_minute == 0)) return ok_status();
    if (auto st = conn_.connect(); !st) return st;
    conn_.append({"EVALSHA", conn_.sha(1), "2", base_ + "tpm", tenants_ + tenant + ":tpm",
                  std::to_string(llm_.tokens_per_minute), std::to_string(llm_.tenant_tokens_per_minute),
                  std::to_string(llm_.rate_burst_seconds * 1000), std::to_string(estimate), std::to_string(actual)});
    auto r = conn_.read();
    return r ? ok_status() : status(r.err());
  }

  status penalize(std::chrono::milliseconds retry_after) override {
    if (auto st = conn_.connect(); !st) return st;
    conn_.append({"EVALSHA", conn_.sha(2), "2", base_ + "penalty", base_ + "blocked",
                  std::to_string(llm_.penalty_factor), std::to_string(llm_.penalty_seconds * 1000),
                  std::to_string(retry_after.count())});
    auto r = conn_.read();
    return r ? ok_status() : status(r.err());
  }

 private:
  result<std::chrono::milliseconds> blocked_for() override {
    if (auto st = conn_.connect(); !st) return st.err();
    conn_.append({"PTTL", base_ + "blocked"});
    auto r = conn_.read();
    if (!r) return r.err();
    // The key lives retry-after + 1 s: what is left of the hold is its TTL - 1 s.
    long long ttl = (*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : -1;
    return std::chrono::milliseconds(std::max(0LL, ttl - 1000));
  }

  /// With no limits configured only a provider's Retry-After holds calls back.
  result<std::vector<std::int64_t>> blocked_only(std::size_t n) {
    auto left = blocked_for();
    if (!left) return left.err();
    return std::vector<std::int64_t>(n, left->count());
  }

  script_connection conn_;
  config::llm_config llm_;
  std::string base_, tenants_;
};

// GCRA over any number of per-minute limits, each allowing one second of traffic (at
// least one message) at once; all-or-nothing like the LLM limits.
// KEYS: one per limit. ARGV: the limits per minute, in the same order.
const char* send_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local tats = {}
for i = 1, #KEYS do
  local interval = 60000 / tonumber(ARGV[i])
  local burst = math.max(1000, interval)
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local w = new_tat - now - burst
  if w > wait then wait = w end
  tats[i] = new_tat
end
if wait > 0 then return math.ceil(wait) end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], tostring(tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return 0
)lua";

class redis_send_limiter final : public send_limiter {
 public:
  explicit redis_send_limiter(const config::redis_config& redis)
      : conn_(redis, {send_script}), base_(redis.key_prefix + "rl:send:") {}

  result<std::int64_t> acquire(const std::vector<send_limit>& limits) override {
    std::vector<std::string> keys, rates;
    for (const auto& l : limits)
      if (l.per_minute > 0) {
        keys.push_back(base_ + l.name);
        rates.push_back(std::to_string(l.per_minute));
      }
    if (keys.empty()) return std::int64_t{0};
    if (auto st = conn_.connect(); !st) return st.err();
    std::vector<std::string> args{"EVALSHA", conn_.sha(0), std::to_string(keys.size())};
    args.insert(args.end(), keys.begin(), keys.end());
    args.insert(args.end(), rates.begin(), rates.end());
    conn_.append(args);
    auto r = conn_.read();
    if (!r) return r.err();
    return std::int64_t{(*r)->type == REDIS_REPLY_INTEGER ? (*r)->integer : 0};
  }

 private:
  script_connection conn_;
  std::string base_;
};

}  // namespace

std::unique_ptr<rate_limiter> make_redis_rate_limiter(const config::redis_config& redis,
                                                      const config::llm_config& llm, std::string scope) {
  return std::make_unique<redis_rate_limiter>(redis, llm, std::move(scope));
}

std::unique_ptr<send_limiter> make_redis_send_limiter(const config::redis_config& redis) {
  return std::make_unique<redis_send_limiter>(redis);
}

}  // namespace mq::store

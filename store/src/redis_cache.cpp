#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>
#include <hiredis/hiredis.h>

#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/core/socket.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::store {
namespace {

/// Appends one RESP bulk string ($<length>, the bytes).
void append_bulk(std::string& out, std::string_view s) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, s.size());
  (void)ec;
  out += '$';
  out.append(digits, static_cast<std::size_t>(end - digits));
  out += "\r\n";
  out.append(s);
  out += "\r\n";
}

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

class redis_cache final : public result_cache {
 public:
  redis_cache(const config::redis_config& cfg, std::chrono::milliseconds retry_after)
      : host_(cfg.host),
        port_(cfg.port),
        password_(cfg.password),
        ttl_(std::to_string(cfg.ttl_seconds)),
        progress_ttl_(std::to_string(cfg.progress_ttl_seconds)),
        timeout_ms_(cfg.timeout_ms),
        retry_after_(retry_after) {}

  ~redis_cache() override {
    if (ctx_) redisFree(ctx_);
  }

  status put(const std::vector<entry>& entries) override {
    if (entries.empty()) return ok_status();
    if (auto st = connect(); !st) return st;
    // The commands in the protocol's own form, built in one buffer: hiredis formats
    // each argument with a printf-like routine otherwise.
    std::string commands;
    std::size_t bytes = 0;
    for (const auto& e : entries) bytes += e.key.size() + e.value.size() + 64;
    commands.reserve(bytes);
    for (const auto& e : entries) {
      const bool first = e.mode == write_mode::first;
      commands += first ? "*6\r\n$3\r\nSET\r\n" : "*5\r\n$3\r\nSET\r\n";
      append_bulk(commands, e.key);
      append_bulk(commands, e.value);
      commands += "$2\r\nEX\r\n";
      append_bulk(commands, e.mode == write_mode::final ? ttl_ : progress_ttl_);
      if (first) commands += "$2\r\nNX\r\n";
    }
    redisAppendFormattedCommand(ctx_, commands.data(), commands.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto r = read_reply();
      if (!r) return r.err();
    }
    return ok_status();
  }

  result<std::optional<std::string>> get(const std::string& key) override {
    if (auto st = connect(); !st) return st.err();
    const char* argv[] = {"GET", key.c_str()};
    size_t lens[] = {3, key.size()};
    redisAppendCommandArgv(ctx_, 2, argv, lens);
    auto r = read_reply();
    if (!r) return r.err();
    if ((*r)->type == REDIS_REPLY_STRING)
      return std::optional<std::string>(std::string((*r)->str, (*r)->len));
    return std::optional<std::string>{};
  }

  /// Sends `command key...` and reads its reply.
  result<reply_ptr> over_keys(const char* command, const std::vector<std::string>& keys) {
    std::vector<const char*> argv{command};
    std::vector<size_t> lens{std::strlen(command)};
    for (const auto& k : keys) {
      argv.push_back(k.c_str());
      lens.push_back(k.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
    return read_reply();
  }

  result<std::vector<std::optional<std::string>>> get_many(const std::vector<std::string>& keys) override {
    std::vector<std::optional<std::string>> out(keys.size());
    if (keys.empty()) return out;
    if (auto st = connect(); !st) return st.err();
    auto r = over_keys("MGET", keys);
    if (!r) return r.err();
    if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != keys.size())
      return make_error(errc::unavailable, "cache error", "unexpected MGET reply");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto* e = (*r)->element[i];
      if (e->type == REDIS_REPLY_STRING) out[i] = std::string(e->str, e->len);
    }
    return out;
  }

  status del(const std::vector<std::string>& keys) override {
    if (keys.empty()) return ok_status();
    if (auto st = connect(); !st) return st;
    auto r = over_keys("DEL", keys);
    if (!r) return r.err();
    return ok_status();
  }

  status ping() override {
    if (auto st = connect(); !st) return st;
    redisAppendCommand(ctx_, "PING");
    auto r = read_reply();
    if (!r) return r.err();
    return ok_status();
  }

  status beat(const std::string& set_key, const std::string& member, const std::string& key,
              const std::string& value, int ttl_seconds) override {
    if (auto st = connect(); !st) return st;
    const auto ttl = std::to_string(ttl_seconds);
    const char* set_argv[] = {"SET", key.c_str(), value.c_str(), "EX", ttl.c_str()};
    size_t set_lens[] = {3, key.size(), value.size(), 2, ttl.size()};
    redisAppendCommandArgv(ctx_, 5, set_argv, set_lens);
    const char* add_argv[] = {"SADD", set_key.c_str(), member.c_str()};
    size_t add_lens[] = {4, set_key.size(), member.size()};
    redisAppendCommandArgv(ctx_, 3, add_argv, add_lens);
    for (int i = 0; i < 2; ++i)
      if (auto r = read_reply(); !r) return r.err();
    return ok_status();
  }

  result<std::vector<std::string>> members(const std::string& set_key) override {
    if (auto st = connect(); !st) return st.err();
    auto r = over_keys("SMEMBERS", {set_key});
    if (!r) return r.err();
    std::vector<std::string> out;
    for (std::size_t i = 0; i < (*r)->elements; ++i)
      out.emplace_back((*r)->element[i]->str, (*r)->element[i]->len);
    return out;
  }

  status forget(const std::string& set_key, const std::vector<std::string>& members) override {
    if (members.empty()) return ok_status();
    if (auto st = connect(); !st) return st;
    std::vector<std::string> args{set_key};
    args.insert(args.end(), members.begin(), members.end());
    if (auto r = over_keys("SREM", args); !r) return r.err();
    return ok_status();
  }

 private:
  status connect() {
    if (ctx_) return ok_status();
    auto now = std::chrono::steady_clock::now();
    if (now < down_until_) return make_error(errc::unavailable, "cache unavailable");
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
    if (!ctx_ || ctx_->err) return fail(ctx_ ? ctx_->errstr : "cannot allocate context");
    if (connected_to_itself(ctx_->fd)) return fail("nothing listens (connected to itself)");
    redisSetTimeout(ctx_, tv);
    redisEnableKeepAlive(ctx_);
    if (!password_.empty()) {
      const char* argv[] = {"AUTH", password_.c_str()};
      size_t lens[] = {4, password_.size()};
      redisAppendCommandArgv(ctx_, 2, argv, lens);
      auto r = read_reply();
      if (!r) return r.err();
    }
    return ok_status();
  }

  result<reply_ptr> read_reply() {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) return fail(ctx_->errstr).err();
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) {
      // A command error (say, OOM or NOAUTH) leaves the connection usable.
      return make_error(errc::unavailable, "cache error", std::string(r->str, r->len));
    }
    return r;
  }

  status fail(const char* why) {
    log::warn("redis", "cache unavailable", {}, {{"error", why}});
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    down_until_ = std::chrono::steady_clock::now() + retry_after_;
    return make_error(errc::unavailable, "cache unavailable", why);
  }

  std::string host_;
  int port_;
  std::string password_;
  std::string ttl_;
  std::string progress_ttl_;
  int timeout_ms_;
  std::chrono::milliseconds retry_after_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point down_until_{};
};

}  // namespace

result<std::vector<std::string>> live_heartbeats(result_cache& cache, const cache_keys& keys) {
  auto ids = cache.members(keys.workers());
  if (!ids) return ids.err();
  std::sort(ids->begin(), ids->end());
  std::vector<std::string> names;
  for (const auto& id : *ids) names.push_back(keys.worker(id));
  auto beats = cache.get_many(names);
  if (!beats) return beats.err();
  std::vector<std::string> live, gone;
  for (std::size_t i = 0; i < ids->size(); ++i) {
    if ((*beats)[i]) live.push_back(std::move(*(*beats)[i]));
    else gone.push_back((*ids)[i]);
  }
  (void)cache.forget(keys.workers(), gone);
  return live;
}

std::unique_ptr<result_cache> make_redis_cache(const config::redis_config& cfg,
                                               std::chrono::milliseconds retry_after) {
  return std::make_unique<redis_cache>(cfg, retry_after);
}

}  // namespace mq::store

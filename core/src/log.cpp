#include "mq/core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

#include "mq/core/json.hpp"
#include "mq/core/time.hpp"

namespace mq::log {
namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
std::string service_name = "mq";

const char* level_name(level lvl) {
  switch (lvl) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}

}  // namespace

bool parse_level(std::string_view text, level& out) {
  for (auto lvl : {level::debug, level::info, level::warn, level::error}) {
    if (text == level_name(lvl)) {
      out = lvl;
      return true;
    }
  }
  return false;
}

void set_level(level lvl) { min_level = static_cast<int>(lvl); }
void set_service(std::string service) { service_name = std::move(service); }
bool enabled(level lvl) { return static_cast<int>(lvl) >= min_level.load(); }

void write(level lvl, std::string_view component, std::string_view message, const context& ctx,
           const fields& extra) {
  json::writer w;
  w.begin_object();
  w.kv("timestamp", format_rfc3339(system_now()));
  w.kv("level", level_name(lvl));
  w.kv("service", service_name);
  w.kv("component", component);
  w.kv("message", message);
  if (!ctx.request_id.empty()) w.kv("request_id", ctx.request_id);
  if (!ctx.task_id.empty()) w.kv("task_id", ctx.task_id);
  if (!ctx.tenant.empty()) w.kv("tenant", ctx.tenant);
  for (const auto& [k, v] : extra) w.kv(k, v);
  w.end_object();
  std::string line = w.take();
  line.push_back('\n');
  // A single write(2) keeps lines from different threads whole.
  auto rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace mq::log

#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mq::log {

/// Severity, lowest first.
enum class level { debug, info, warn, error };

/// Parses "debug" | "info" | "warn" | "error"; returns false for anything else.
bool parse_level(std::string_view text, level& out);

/// Process-wide settings, set once in main before threads start.
void set_level(level lvl);
/// Name of the process ("api", "worker", "mqctl"), written as "service" on every line.
void set_service(std::string service);
bool enabled(level lvl);

/// Correlation fields carried on a log line; empty ones are omitted.
struct context {
  std::string request_id;
  std::string task_id;
  std::string tenant;
};

/// Extra key/value pairs (values are written as JSON strings).
using fields = std::vector<std::pair<std::string, std::string>>;

/// Writes one JSON object per line to stderr: timestamp, level, service, component,
/// message, correlation fields and extras. Thread-safe; one write(2) per line.
void write(level lvl, std::string_view component, std::string_view message,
           const context& ctx = {}, const fields& extra = {});

inline void debug(std::string_view c, std::string_view m, const context& x = {},
                  const fields& f = {}) {
  if (enabled(level::debug)) write(level::debug, c, m, x, f);
}
inline void info(std::string_view c, std::string_view m, const context& x = {},
                 const fields& f = {}) {
  if (enabled(level::info)) write(level::info, c, m, x, f);
}
inline void warn(std::string_view c, std::string_view m, const context& x = {},
                 const fields& f = {}) {
  if (enabled(level::warn)) write(level::warn, c, m, x, f);
}
inline void error(std::string_view c, std::string_view m, const context& x = {},
                  const fields& f = {}) {
  write(level::error, c, m, x, f);
}

}  // namespace mq::log

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mq {

using sys_time = std::chrono::system_clock::time_point;
using steady_time = std::chrono::steady_clock::time_point;

sys_time system_now();

/// Wall time as Unix milliseconds.
std::int64_t unix_ms();

/// "2024-01-01T00:00:00.123Z" (UTC, milliseconds).
std::string format_rfc3339(sys_time t);

/// A timestamp as SQL writes it in the ISO style, "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC,
/// as Postgres prints a timestamp without zone), in format_rfc3339's form: "T", three
/// digits of fraction (truncated, as to_char's MS), "Z". Text of any other shape comes
/// back unchanged.
std::string rfc3339_from_sql(std::string_view text);

/// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]" (a space may replace the
/// T; no zone means UTC). Returns nullopt on anything else, including impossible dates.
std::optional<sys_time> parse_rfc3339(std::string_view text);

/// Parses an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"), as used by Retry-After.
std::optional<sys_time> parse_http_date(std::string_view text);

/// Time source port, so code that waits or backs off can be tested with a manual clock.
class clock {
 public:
  virtual ~clock() = default;
  /// Monotonic time for deadlines and backoff.
  virtual steady_time now() const = 0;
  /// Wall time for timestamps shown to users.
  virtual sys_time wall() const = 0;
};

/// The real clock.
class system_clock final : public clock {
 public:
  steady_time now() const override { return std::chrono::steady_clock::now(); }
  sys_time wall() const override { return system_now(); }
};

/// A clock that moves only when told to; for unit tests.
class manual_clock final : public clock {
 public:
  steady_time now() const override { return steady_; }
  sys_time wall() const override { return wall_; }
  void advance(std::chrono::milliseconds d) {
    steady_ += d;
    wall_ += d;
  }

 private:
  steady_time steady_{};
  sys_time wall_{std::chrono::seconds(1700000000)};
};

}  // namespace mq

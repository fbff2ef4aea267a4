#include "mq/core/time.hpp"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace mq {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : d[m - 1];
}

std::optional<sys_time> from_fields(int y, int mo, int d, int h, int mi, int s, int ms,
                                    int offset_min) {
  if (y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
      h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  auto secs = timegm(&tm) - offset_min * 60;
  return sys_time{std::chrono::seconds(secs)} + std::chrono::milliseconds(ms);
}

}  // namespace

sys_time system_now() { return std::chrono::system_clock::now(); }

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_from_sql(std::string_view text) {
  const bool iso = text.size() >= 19 && text[4] == '-' && text[7] == '-' && text[10] == ' ' && text[13] == ':' &&
                   text[16] == ':' && (text.size() == 19 || (text.size() > 20 && text[19] == '.'));
  if (!iso) return std::string(text);
  std::string out;
  out.reserve(24);
  out.append(text.substr(0, 10)).append("T").append(text.substr(11, 8)).append(".");
  const auto fraction = text.size() > 20 ? text.substr(20) : std::string_view();
  for (std::size_t i = 0; i < 3; ++i) out.push_back(i < fraction.size() ? fraction[i] : '0');
  out.push_back('Z');
  return out;
}

std::string format_rfc3339(sys_time t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000 != 0) --secs;
  int frac = static_cast<int>(((ms % 1000) + 1000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::optional<sys_time> parse_rfc3339(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d))
    return std::nullopt;
  if (s.size() == 10) return from_fields(y, mo, d, 0, 0, 0, 0, 0);
  if ((s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2, h) || s.size() < 19 || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start || pos - start > 9) return std::nullopt;
    std::string frac(s.substr(start, pos - start));
    frac.resize(3, '0');
    ms = std::stoi(frac.substr(0, 3));
  }
  if (pos < s.size()) {
    if (s[pos] == 'Z' || s[pos] == 'z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
        return std::nullopt;
      off = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  return from_fields(y, mo, d, h, mi, sec, ms, off);
}

std::optional<sys_time> parse_http_date(std::string_view text) {
  // IMF-fixdate only (RFC 9110 says senders must use it).
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
  int d, y, h, mi, s;
  if (!digits(text, 5, 2, d) || !digits(text, 12, 4, y) || !digits(text, 17, 2, h) ||
      !digits(text, 20, 2, mi) || !digits(text, 23, 2, s))
    return std::nullopt;
  auto mon = text.substr(8, 3);
  for (int m = 0; m < 12; ++m)
    if (mon == months[m]) return from_fields(y, m + 1, d, h, mi, s, 0, 0);
  return std::nullopt;
}

}  // namespace mq

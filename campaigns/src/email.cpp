#include "mq/campaigns/email.hpp"

#include <ctime>

namespace mq::campaigns {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A header value on one line.
std::string one_line(std::string_view v) {
  std::string out;
  for (char ch : v) out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  return out;
}

bool ascii(std::string_view v) {
  for (char ch : v)
    if (static_cast<unsigned char>(ch) >= 0x80) return false;
  return true;
}

}  // namespace

bool valid_email(std::string_view a) {
  if (a.empty() || a.size() > 320) return false;
  const auto at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= a.size() || a.find('@', at + 1) != std::string_view::npos)
    return false;
  for (char ch : a) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || ch == '<' || ch == '>' || ch == ',' || ch == ';') return false;
  }
  return a.find('.', at) != std::string_view::npos;
}

std::string base64(std::string_view data, bool wrap) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4 + data.size() / 38);
  std::size_t line = 0;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(data[i]);
    const auto b1 = i + 1 < data.size() ? static_cast<unsigned char>(data[i + 1]) : 0u;
    const auto b2 = i + 2 < data.size() ? static_cast<unsigned char>(data[i + 2]) : 0u;
    if (wrap && line == 76) {
      out += "\r\n";
      line = 0;
    }
    out += alphabet[b0 >> 2];
    out += alphabet[((b0 & 3) << 4) | (b1 >> 4)];
    out += i + 1 < data.size() ? alphabet[((b1 & 15) << 2) | (b2 >> 6)] : '=';
    out += i + 2 < data.size() ? alphabet[b2 & 63] : '=';
    line += 4;
  }
  return out;
}

std::string rfc5322_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string build_email(const email& e) {
  const auto subject = one_line(e.subject);
  std::string m;
  m += "From: " + one_line(e.from) + "\r\n";
  m += "To: " + one_line(e.to) + "\r\n";
  m += "Subject: " + (ascii(subject) ? subject : "=?UTF-8?B?" + base64(subject) + "?=") + "\r\n";
  m += "Date: " + one_line(e.date) + "\r\n";
  m += "Message-ID: <" + one_line(e.message_id) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "\r\n";
  m += base64(e.body, true);
  m += "\r\n";
  return m;
}

}  // namespace mq::campaigns

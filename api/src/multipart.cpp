#include "multipart.hpp"

#include <algorithm>
#include <cctype>

namespace mq::api {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The value of parameter `name` in a header value (`form-data; name="file"`).
std::string param(std::string_view header, std::string_view name) {
  std::size_t at = 0;
  while ((at = header.find(';', at)) != std::string_view::npos) {
    auto rest = trim(header.substr(at + 1));
    auto eq = rest.find('=');
    if (eq != std::string_view::npos && lower(trim(rest.substr(0, eq))) == name) {
      auto v = trim(rest.substr(eq + 1));
      if (!v.empty() && v.front() == '"') {
        auto close = v.find('"', 1);
        return std::string(v.substr(1, close == std::string_view::npos ? v.npos : close - 1));
      }
      return std::string(trim(v.substr(0, v.find(';'))));
    }
    ++at;
  }
  return {};
}

error malformed(const std::string& why) { return make_error(errc::invalid_parameter, "malformed form: " + why); }

}  // namespace

std::string media_type(std::string_view content_type) {
  return lower(trim(content_type.substr(0, content_type.find(';'))));
}

result<std::vector<form_part>> parse_form(std::string_view body, std::string_view content_type) {
  const auto boundary = param(content_type, "boundary");
  if (boundary.empty()) return malformed("no boundary");
  const std::string delimiter = "--" + boundary;
  std::vector<form_part> parts;
  auto at = body.find(delimiter);
  if (at == std::string_view::npos) return malformed("no part");
  at += delimiter.size();
  while (true) {
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n") return malformed("bad delimiter line");
    at += 2;
    const auto head_end = body.find("\r\n\r\n", at);
    if (head_end == std::string_view::npos) return malformed("part without headers");
    form_part part;
    auto headers = body.substr(at, head_end - at);
    for (std::size_t line = 0; line <= headers.size();) {
      auto eol = headers.find("\r\n", line);
      auto h = headers.substr(line, eol == std::string_view::npos ? headers.npos : eol - line);
      auto colon = h.find(':');
      if (colon != std::string_view::npos) {
        const auto key = lower(trim(h.substr(0, colon)));
        const auto value = trim(h.substr(colon + 1));
        if (key == "content-disposition") {
          part.name = param(value, "name");
          part.filename = param(value, "filename");
        } else if (key == "content-type") {
          part.content_type = std::string(value);
        }
      }
      if (eol == std::string_view::npos) break;
      line = eol + 2;
    }
    const auto content = head_end + 4;
    const auto next = body.find("\r\n" + delimiter, content);
    if (next == std::string_view::npos) return malformed("unterminated part");
    part.body = std::string(body.substr(content, next - content));
    if (part.name.empty()) return malformed("a part without a name");
    parts.push_back(std::move(part));
    at = next + 2 + delimiter.size();
  }
}

}  // namespace mq::api

#include "mq/core/json.hpp"

#include <rapidjson/error/en.h>

#include <array>
#include <cstring>

namespace mq::json {

namespace {

/// Deeper documents are refused before parsing: every later walk over a document
/// (validation, checks, writing) recurses, and `[[[[...` from a hostile client or a
/// message must not exhaust a thread's stack.
constexpr int max_depth = 64;

/// What the depth scan looks at; every other byte is skipped in a tight loop.
enum : unsigned char { plain = 0, quote, backslash, opener, closer };

constexpr std::array<unsigned char, 256> scan_classes() {
  std::array<unsigned char, 256> c{};
  c['"'] = quote;
  c['\\'] = backslash;
  c['['] = c['{'] = opener;
  c[']'] = c['}'] = closer;
  return c;
}

/// The offset at which `text` nests deeper than max_depth, outside strings; or -1.
long too_deep_at(std::string_view text) {
  static constexpr auto classes = scan_classes();
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  int depth = 0;
  std::size_t i = 0;
  for (;;) {
    while (i < n && classes[s[i]] == plain) ++i;
    if (i >= n) return -1;
    switch (classes[s[i++]]) {
      case quote:  // a string: skip to its closing quote, stepping over escapes
        for (;;) {
          while (i < n && classes[s[i]] != quote && classes[s[i]] != backslash) ++i;
          if (i >= n) return -1;  // unterminated: the parser says so
          if (classes[s[i++]] == quote) break;
          ++i;  // the escaped character
        }
        break;
      case opener:
        if (++depth > max_depth) return static_cast<long>(i - 1);
        break;
      case closer:
        --depth;
        break;
      default:  // a backslash outside a string: the parser refuses it
        break;
    }
  }
}

}  // namespace

long invalid_utf8_at(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // Eight ASCII bytes at a time: most of what we parse is ASCII.
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s + i, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = s[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((lead & 0xE0) == 0xC0) {
      len = 2;
      cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3;
      cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4;
      cp = lead & 0x07u;
    } else {
      return static_cast<long>(i);
    }
    if (i + len > n) return static_cast<long>(i);
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return static_cast<long>(i);
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return static_cast<long>(i);
    i += len;
  }
  return -1;
}

namespace {

/// Why `text` cannot be parsed before RapidJSON reads it, or nullopt: nesting too deep,
/// malformed UTF-8, or a NUL byte (never valid in JSON text, and where RapidJSON would
/// stop reading as if the text ended there).
std::optional<error> refused(std::string_view text) {
  auto at_offset = [](std::size_t at, const std::string& why) {
    return make_error(errc::malformed_json, "invalid JSON at offset " + std::to_string(at) + ": " + why);
  };
  if (auto at = too_deep_at(text); at >= 0)
    return at_offset(static_cast<std::size_t>(at), "nested deeper than " + std::to_string(max_depth) + " levels");
  // Checked here in one pass rather than by RapidJSON's per-character validation, which
  // doubles the parse time; the text is then parsed as it is.
  if (auto at = invalid_utf8_at(text); at >= 0)
    return at_offset(static_cast<std::size_t>(at), rapidjson::GetParseError_En(rapidjson::kParseErrorStringInvalidEncoding));
  if (const void* nul = std::memchr(text.data(), '\0', text.size()))
    return at_offset(static_cast<std::size_t>(static_cast<const char*>(nul) - text.data()), "a NUL byte");
  return std::nullopt;
}

/// `doc` once parsed, or its syntax error with the offset.
result<rapidjson::Document> checked(rapidjson::Document doc) {
  if (!doc.HasParseError()) return doc;
  return make_error(errc::malformed_json, "invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                                              rapidjson::GetParseError_En(doc.GetParseError()));
}

}  // namespace

result<rapidjson::Document> parse(std::string_view text) {
  if (auto why = refused(text)) return *why;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  return checked(std::move(doc));
}

result<rapidjson::Document> parse_in_place(std::string& text) {
  if (auto why = refused(text)) return *why;
  rapidjson::Document doc;
  doc.ParseInsitu<rapidjson::kParseIterativeFlag>(text.data());
  return checked(std::move(doc));
}

namespace {

bool has_nul(const rapidjson::Value& s) {
  return std::memchr(s.GetString(), '\0', s.GetStringLength()) != nullptr;
}

std::optional<std::string> find_nul_at(const rapidjson::Value& v, const std::string& path) {
  if (v.IsString()) return has_nul(v) ? std::optional<std::string>(path) : std::nullopt;
  if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      if (auto p = find_nul_at(v[i], path + "/" + std::to_string(i))) return p;
  } else if (v.IsObject()) {
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string child = path + "/" + std::string(it->name.GetString(), it->name.GetStringLength());
      if (has_nul(it->name)) return child;
      if (auto p = find_nul_at(it->value, child)) return p;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> find_nul(const rapidjson::Value& v) { return find_nul_at(v, ""); }

std::string stringify(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<std::string> get_string(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::int64_t> get_int(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

std::optional<bool> get_bool(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsBool()) return std::nullopt;
  return it->value.GetBool();
}

std::optional<double> get_double(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsNumber()) return std::nullopt;
  return it->value.GetDouble();
}

std::string quote(std::string_view s) {
  writer w;
  w.value(s);
  return w.take();
}

}  // namespace mq::json

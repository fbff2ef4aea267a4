#include "mq/core/json.hpp"

#include <rapidjson/error/en.h>

#include <array>
#include <cstring>

#include "mq/core/scan.hpp"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/// The offset of the first byte at or after `i` that the depth scan must look at
/// outside strings: a quote, backslash, bracket or brace; `n` if none.
std::size_t next_special(const unsigned char* s, std::size_t i, std::size_t n) {
  static constexpr auto classes = scan_classes();
#if defined(__SSE2__)
  // Sixteen bytes at a time. OR-ing 0x20 folds '[' onto '{' and ']' onto '}' (and
  // nothing else onto them), so two comparisons find all four.
  const __m128i quote_v = _mm_set1_epi8('"'), backslash_v = _mm_set1_epi8('\\');
  const __m128i fold = _mm_set1_epi8(0x20), brace_open = _mm_set1_epi8('{'), brace_close = _mm_set1_epi8('}');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i folded = _mm_or_si128(v, fold);
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote_v), _mm_cmpeq_epi8(v, backslash_v)),
                                     _mm_or_si128(_mm_cmpeq_epi8(folded, brace_open), _mm_cmpeq_epi8(folded, brace_close)));
    if (const unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(hit)); bits != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(bits));
  }
#endif
  while (i < n && classes[s[i]] == plain) ++i;
  return i;
}

/// The offset at which `text` nests deeper than max_depth, outside strings; or -1.
long too_deep_at(std::string_view text) {
  static constexpr auto classes = scan_classes();
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  int depth = 0;
  std::size_t i = 0;
  for (;;) {
    i = next_special(s, i, n);
    if (i >= n) return -1;
    switch (classes[s[i++]]) {
      case quote:  // a string: skip to its closing quote, stepping over escapes
        for (;;) {
          i = static_cast<std::size_t>(
              reinterpret_cast<const unsigned char*>(find_quote_or_backslash(text.data() + i, text.data() + n)) - s);
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

namespace {

/// What a byte becomes inside a JSON string: 0 as it is, 'u' as \u00XX, else \ and it.
constexpr std::array<char, 256> escapes() {
  std::array<char, 256> e{};
  for (int c = 0; c < 0x20; ++c) e[c] = 'u';
  e['\b'] = 'b';
  e['\t'] = 't';
  e['\n'] = 'n';
  e['\f'] = 'f';
  e['\r'] = 'r';
  e['"'] = '"';
  e['\\'] = '\\';
  return e;
}

constexpr auto escape_of = escapes();

/// The first byte at or after `p` that must be escaped, or `end`.
const char* next_escape(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote_v = _mm_set1_epi8('"'), backslash_v = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1f);
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // v <= 0x1f unsigned: max(v, 0x1f) is 0x1f exactly then.
    const __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, control), control),
                                     _mm_or_si128(_mm_cmpeq_epi8(v, quote_v), _mm_cmpeq_epi8(v, backslash_v)));
    if (const unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(hit)); bits != 0)
      return p + __builtin_ctz(bits);
  }
#endif
  while (p < end && escape_of[static_cast<unsigned char>(*p)] == 0) ++p;
  return p;
}

/// Appends to a std::string or a RapidJSON buffer.
void put(std::string& out, const char* p, std::size_t n) { out.append(p, n); }
void put(rapidjson::StringBuffer& out, const char* p, std::size_t n) {
  if (n) std::memcpy(out.Push(n), p, n);
}

template <class Out>
void quoted_into(Out& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  const char* p = s.data();
  const char* const end = p + s.size();
  put(out, "\"", 1);
  for (;;) {
    const char* q = next_escape(p, end);
    put(out, p, static_cast<std::size_t>(q - p));
    if (q == end) break;
    const auto c = static_cast<unsigned char>(*q);
    if (escape_of[c] == 'u') {
      const char seq[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      put(out, seq, sizeof seq);
    } else {
      const char seq[] = {'\\', escape_of[c]};
      put(out, seq, sizeof seq);
    }
    p = q + 1;
  }
  put(out, "\"", 1);
}

}  // namespace

void append_quoted(std::string& out, std::string_view s) { quoted_into(out, s); }
void append_quoted(rapidjson::StringBuffer& out, std::string_view s) { quoted_into(out, s); }

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 18);
  append_quoted(out, s);
  return out;
}

}  // namespace mq::json

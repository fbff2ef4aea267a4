#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "mq/core/error.hpp"

namespace mq::json {

/// Appends `s` as a JSON string literal, quotes included, escaped as RapidJSON's writer
/// does ('"', '\\', control characters; other bytes as they are), sixteen bytes at a time.
void append_quoted(std::string& out, std::string_view s);
void append_quoted(rapidjson::StringBuffer& out, std::string_view s);

/// Streaming JSON writer over RapidJSON with terse key/value helpers.
/// Not thread-safe; build one per message.
class writer {
 public:
  // Room for a task or classification document up front: growing from RapidJSON's
  // 256 bytes reallocated most documents three times.
  writer() : buf_(nullptr, 2048), w_(buf_) {}

  void begin_object() { w_.StartObject(); }
  void end_object() { w_.EndObject(); }
  void begin_array() { w_.StartArray(); }
  void end_array() { w_.EndArray(); }
  void key(std::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

  void value(std::string_view v) {
    w_.RawValue("", 0, rapidjson::kStringType);  // the separator; the string follows
    append_quoted(buf_, v);
  }
  void value(const std::string& v) { value(std::string_view(v)); }
  void value(const char* v) { value(std::string_view(v)); }
  void value(bool v) { w_.Bool(v); }
  void value(int v) { w_.Int(v); }
  void value(unsigned v) { w_.Uint(v); }
  void value(long v) { w_.Int64(v); }
  void value(long long v) { w_.Int64(v); }
  void value(unsigned long v) { w_.Uint64(v); }
  void value(unsigned long long v) { w_.Uint64(v); }
  void value(double v) { w_.Double(v); }
  void value(std::nullptr_t) { w_.Null(); }
  void value(const rapidjson::Value& v) { v.Accept(w_); }
  template <class T>
  void value(const std::optional<T>& v) {
    if (v)
      value(*v);
    else
      w_.Null();
  }
  void null() { w_.Null(); }

  /// Writes already-serialized JSON as the next value (trusted input only). The writer
  /// places the separator; the bytes are copied at once (RapidJSON copies raw values
  /// byte by byte).
  void raw(std::string_view json) {
    w_.RawValue(json.data(), 0, rapidjson::kObjectType);
    std::memcpy(buf_.Push(json.size()), json.data(), json.size());
  }

  template <class T>
  void kv(std::string_view k, const T& v) {
    key(k);
    value(v);
  }

  /// The text written so far; the writer must be complete (all scopes closed).
  std::string take() { return std::string(buf_.GetString(), buf_.GetSize()); }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

/// The offset of the first byte of `text` that does not begin a well-formed UTF-8
/// sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF); or -1.
long invalid_utf8_at(std::string_view text);

/// Parses `text`, validating UTF-8. A syntax or encoding error is errc::malformed_json
/// with the offset in the message.
result<rapidjson::Document> parse(std::string_view text);

/// parse() for a text the caller owns and no longer needs as it was: strings are decoded
/// in its buffer, which must outlive the document (no copy of each string is made).
result<rapidjson::Document> parse_in_place(std::string& text);

/// JSON pointer ("/a/0/b") of the first string (key or value) that holds a NUL
/// character, which Postgres text cannot store; nullopt if there is none.
std::optional<std::string> find_nul(const rapidjson::Value& v);

/// Serializes a value.
std::string stringify(const rapidjson::Value& v);

/// Typed member access; nullopt when absent or of another type.
std::optional<std::string> get_string(const rapidjson::Value& obj, const char* key);
std::optional<std::int64_t> get_int(const rapidjson::Value& obj, const char* key);
std::optional<bool> get_bool(const rapidjson::Value& obj, const char* key);
std::optional<double> get_double(const rapidjson::Value& obj, const char* key);

/// Escapes `s` as a JSON string literal, quotes included.
std::string quote(std::string_view s);

}  // namespace mq::json

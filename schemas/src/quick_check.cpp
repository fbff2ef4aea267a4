#include "mq/schemas/quick_check.hpp"

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mq::schemas {

namespace {

enum type_bit : unsigned {
  t_null = 1u << 0,
  t_boolean = 1u << 1,
  t_object = 1u << 2,
  t_array = 1u << 3,
  t_string = 1u << 4,
  t_number = 1u << 5,
  t_integer = 1u << 6,
  t_any = (1u << 7) - 1,
  false_bit = 1u << 7,  // only in an enum's literals: t_boolean there stands for true
};

/// At most this many properties per object: required ones are marked in a bitset.
constexpr std::size_t max_properties = 64;

std::optional<unsigned> type_named(std::string_view name) {
  if (name == "null") return t_null;
  if (name == "boolean") return t_boolean;
  if (name == "object") return t_object;
  if (name == "array") return t_array;
  if (name == "string") return t_string;
  if (name == "number") return t_number | t_integer;
  if (name == "integer") return t_integer;
  return std::nullopt;
}

std::string_view view(const rapidjson::Value& s) { return {s.GetString(), s.GetStringLength()}; }

bool annotation(std::string_view key) {
  return key == "title" || key == "description" || key == "$schema" || key == "default" || key == "examples" ||
         key.rfind("x-", 0) == 0;
}

std::optional<std::size_t> count_of(const rapidjson::Value& v) {
  if (v.IsUint64()) return static_cast<std::size_t>(v.GetUint64());
  return std::nullopt;
}

/// UTF-8 code points, as JSON Schema counts a string's length: every byte that does not
/// continue a sequence starts one.
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

/// The value as a double when that is exact (every integer below 2^53 is).
std::optional<double> number_of(const rapidjson::Value& v) {
  constexpr double exact = 9007199254740992.0;  // 2^53
  if (v.IsInt64()) {
    const auto i = v.GetInt64();
    if (static_cast<double>(i) >= exact || static_cast<double>(i) <= -exact) return std::nullopt;
    return static_cast<double>(i);
  }
  if (v.IsUint64()) {
    const auto u = v.GetUint64();
    if (static_cast<double>(u) >= exact) return std::nullopt;
    return static_cast<double>(u);
  }
  return v.GetDouble();
}

}  // namespace

struct quick_check::rule {
  unsigned types = t_any;
  bool has_enum = false;  // enum: of strings, integers, true, false and null
  std::vector<std::string> enum_strings;
  std::vector<std::int64_t> enum_integers;
  unsigned enum_literals = 0;  // t_null, and t_boolean for true or false_bit for false
  std::optional<double> minimum, maximum;
  std::optional<std::size_t> min_length, max_length, min_items, max_items, min_props, max_props;
  std::unique_ptr<rule> items, additional_rule;
  std::vector<std::pair<std::string, rule>> properties;
  std::vector<std::size_t> required;        // indexes into properties
  std::vector<std::string> required_other;  // required names the schema gives no rule for
  bool additional = true;

  /// Compiles `s`; false when it uses a keyword (or a form of one) not handled here.
  bool compile(const rapidjson::Value& s) {
    if (!s.IsObject()) return false;
    for (auto m = s.MemberBegin(); m != s.MemberEnd(); ++m) {
      const std::string_view key = view(m->name);
      const auto& v = m->value;
      if (annotation(key) || key == "required") continue;  // required: once properties are known
      if (key == "type") {
        types = 0;
        if (v.IsString()) {
          auto t = type_named(view(v));
          if (!t) return false;
          types = *t;
        } else if (v.IsArray()) {
          for (const auto& e : v.GetArray()) {
            auto t = e.IsString() ? type_named(view(e)) : std::nullopt;
            if (!t) return false;
            types |= *t;
          }
        } else {
          return false;
        }
      } else if (key == "enum") {
        if (!v.IsArray() || v.Empty()) return false;
        has_enum = true;
        for (const auto& e : v.GetArray()) {
          if (e.IsString()) enum_strings.emplace_back(view(e));
          else if (e.IsInt64()) enum_integers.push_back(e.GetInt64());
          else if (e.IsNull()) enum_literals |= t_null;
          else if (e.IsTrue()) enum_literals |= t_boolean;
          else if (e.IsFalse()) enum_literals |= false_bit;
          else return false;  // doubles, objects, arrays: left to the full validator
        }
      } else if (key == "minimum" || key == "maximum") {
        if (!v.IsNumber()) return false;
        (key == "minimum" ? minimum : maximum) = v.GetDouble();
      } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems" ||
                 key == "minProperties" || key == "maxProperties") {
        auto n = count_of(v);
        if (!n) return false;
        (key == "minLength"       ? min_length
         : key == "maxLength"     ? max_length
         : key == "minItems"      ? min_items
         : key == "maxItems"      ? max_items
         : key == "minProperties" ? min_props
                                  : max_props) = *n;
      } else if (key == "items") {
        items = std::make_unique<rule>();
        if (!items->compile(v)) return false;
      } else if (key == "properties") {
        if (!v.IsObject() || v.MemberCount() > max_properties) return false;
        for (auto p = v.MemberBegin(); p != v.MemberEnd(); ++p) {
          properties.emplace_back(std::string(view(p->name)), rule{});
          if (!properties.back().second.compile(p->value)) return false;
        }
      } else if (key == "additionalProperties") {
        if (v.IsBool()) {
          additional = v.GetBool();
        } else {
          additional_rule = std::make_unique<rule>();
          if (!additional_rule->compile(v)) return false;
        }
      } else {
        return false;
      }
    }
    if (auto r = s.FindMember("required"); r != s.MemberEnd()) {
      if (!r->value.IsArray()) return false;
      for (const auto& name : r->value.GetArray()) {
        if (!name.IsString()) return false;
        const auto at = index_of(view(name));
        if (at < properties.size()) required.push_back(at);
        else required_other.emplace_back(view(name));
      }
    }
    return true;
  }

  std::size_t index_of(std::string_view name) const {
    for (std::size_t i = 0; i < properties.size(); ++i)
      if (properties[i].first == name) return i;
    return properties.size();
  }

  bool passes(const rapidjson::Value& v) const {
    unsigned t;
    switch (v.GetType()) {
      case rapidjson::kNullType: t = t_null; break;
      case rapidjson::kFalseType:
      case rapidjson::kTrueType: t = t_boolean; break;
      case rapidjson::kObjectType: t = t_object; break;
      case rapidjson::kArrayType: t = t_array; break;
      case rapidjson::kStringType: t = t_string; break;
      default: t = v.IsInt64() || v.IsUint64() ? t_integer : t_number; break;
    }
    if ((types & t) == 0) return false;
    if (has_enum && !in_enum(v)) return false;
    switch (t) {
      case t_string:
        if (min_length || max_length) {
          const auto n = code_points(view(v));
          if ((min_length && n < *min_length) || (max_length && n > *max_length)) return false;
        }
        return true;
      case t_integer:
      case t_number:
        if (minimum || maximum) {
          const auto d = number_of(v);
          if (!d || (minimum && *d < *minimum) || (maximum && *d > *maximum)) return false;
        }
        return true;
      case t_array:
        if ((min_items && v.Size() < *min_items) || (max_items && v.Size() > *max_items)) return false;
        if (items)
          for (const auto& e : v.GetArray())
            if (!items->passes(e)) return false;
        return true;
      case t_object: return object_passes(v);
      default: return true;
    }
  }

  bool in_enum(const rapidjson::Value& v) const {
    if (v.IsString()) {
      const std::string_view s = view(v);
      for (const auto& e : enum_strings)
        if (e == s) return true;
      return false;
    }
    if (v.IsInt64()) {
      for (auto e : enum_integers)
        if (e == v.GetInt64()) return true;
      return false;
    }
    if (v.IsNull()) return (enum_literals & t_null) != 0;
    if (v.IsTrue()) return (enum_literals & t_boolean) != 0;
    if (v.IsFalse()) return (enum_literals & false_bit) != 0;
    return false;
  }

  bool object_passes(const rapidjson::Value& v) const {
    if ((min_props && v.MemberCount() < *min_props) || (max_props && v.MemberCount() > *max_props)) return false;
    std::bitset<max_properties> seen;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      const auto at = index_of(view(m->name));
      if (at == properties.size()) {
        if (!additional || (additional_rule && !additional_rule->passes(m->value))) return false;
        continue;
      }
      if (!properties[at].second.passes(m->value)) return false;
      seen.set(at);
    }
    for (auto at : required)
      if (!seen.test(at)) return false;
    for (const auto& name : required_other)
      if (!v.HasMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())))) return false;
    return true;
  }
};

quick_check::quick_check(std::unique_ptr<rule> root) : root_(std::move(root)) {}
quick_check::quick_check(quick_check&&) noexcept = default;
quick_check& quick_check::operator=(quick_check&&) noexcept = default;
quick_check::~quick_check() = default;

std::optional<quick_check> quick_check::compile(const rapidjson::Value& schema) {
  auto root = std::make_unique<rule>();
  if (!root->compile(schema)) return std::nullopt;
  return quick_check(std::move(root));
}

bool quick_check::passes(const rapidjson::Value& doc) const { return root_->passes(doc); }

}  // namespace mq::schemas

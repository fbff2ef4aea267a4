#include "mq/campaigns/message_template.hpp"

#include <cctype>

#include "mq/core/json.hpp"

namespace mq::campaigns {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 100) return false;
  for (char ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.') return false;
  return true;
}

/// Walks `text`, calling on_text for literal runs and on_placeholder for each one.
template <class Text, class Placeholder>
status walk(std::string_view text, Text on_text, Placeholder on_placeholder) {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto open = text.find("{{", at);
    if (open == std::string_view::npos) {
      on_text(text.substr(at));
      break;
    }
    on_text(text.substr(at, open - at));
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      return make_error(errc::validation_failed,
                        "the template has a \"{{\" without its \"}}\" at character " + std::to_string(open));
    auto inside = text.substr(open + 2, close - open - 2);
    placeholder p;
    const auto bar = inside.find('|');
    p.name = std::string(trim(inside.substr(0, bar)));
    if (bar != std::string_view::npos) p.fallback = std::string(trim(inside.substr(bar + 1)));
    if (!valid_name(p.name))
      return make_error(errc::validation_failed, "the template's placeholder \"{{" + std::string(inside) +
                                                     "}}\" must name an attribute (letters, digits, _ - .)");
    on_placeholder(p);
    at = close + 2;
  }
  return ok_status();
}

/// The attribute's text, or nullopt when the recipient has none (absent or null).
std::optional<std::string> value_of(const rapidjson::Value& attributes, const std::string& name) {
  if (!attributes.IsObject()) return std::nullopt;
  auto it = attributes.FindMember(name.c_str());
  if (it == attributes.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (it->value.IsString()) return std::string(it->value.GetString(), it->value.GetStringLength());
  return json::stringify(it->value);
}

}  // namespace

result<std::vector<placeholder>> parse_template(std::string_view text) {
  std::vector<placeholder> out;
  auto st = walk(text, [](std::string_view) {}, [&](const placeholder& p) { out.push_back(p); });
  if (!st) return st.err();
  return out;
}

std::vector<std::string> missing_attributes(const std::vector<placeholder>& placeholders,
                                            const rapidjson::Value& attributes) {
  std::vector<std::string> out;
  for (const auto& p : placeholders) {
    if (p.fallback || value_of(attributes, p.name)) continue;
    bool seen = false;
    for (const auto& m : out) seen = seen || m == p.name;
    if (!seen) out.push_back(p.name);
  }
  return out;
}

result<std::string> render(std::string_view text, const rapidjson::Value& attributes) {
  std::string out;
  std::vector<placeholder> lacking;
  auto st = walk(
      text, [&](std::string_view s) { out.append(s); },
      [&](const placeholder& p) {
        if (auto v = value_of(attributes, p.name))
          out += *v;
        else if (p.fallback)
          out += *p.fallback;
        else
          lacking.push_back(p);
      });
  if (!st) return st.err();
  if (auto missing = missing_attributes(lacking, attributes); !missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return make_error(errc::validation_failed, "the recipient has no value for the template's " +
                                                   std::string(missing.size() == 1 ? "placeholder " : "placeholders ") +
                                                   names);
  }
  return out;
}

}  // namespace mq::campaigns

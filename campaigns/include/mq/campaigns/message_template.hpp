#pragma once

// Message templates: text with {{name}} placeholders filled from a recipient's
// attributes, or {{name|default}} with a fallback for recipients without it.

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::campaigns {

struct placeholder {
  std::string name;
  std::optional<std::string> fallback;
};

/// The placeholders of `text` in order; errc::validation_failed for a "{{" without its
/// "}}" or a name that is not letters, digits, '_', '-' and '.'.
result<std::vector<placeholder>> parse_template(std::string_view text);

/// Placeholder names without a fallback that `attributes` (an object) has no value for
/// (absent or null), each once, in order.
std::vector<std::string> missing_attributes(const std::vector<placeholder>& placeholders,
                                            const rapidjson::Value& attributes);

/// `text` with every placeholder replaced: strings as they are, numbers and booleans as
/// JSON writes them. errc::validation_failed naming the attributes a recipient lacks.
result<std::string> render(std::string_view text, const rapidjson::Value& attributes);

}  // namespace mq::campaigns

#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <optional>

namespace mq::schemas {

/// A JSON Schema compiled into one walk over the document, for the keywords our schemas
/// use on their hot paths: type, enum (of strings, integers, true, false and null),
/// minimum and maximum, minLength and maxLength, minItems and maxItems, items (one schema),
/// properties, required, additionalProperties, minProperties and maxProperties.
/// Annotations (title, description, $schema, default, examples, x-...) are skipped.
///
/// It answers only "valid": passes() is true only when the document satisfies the
/// schema, and false says nothing more. The full validator then decides and names the
/// violation. A schema with any other keyword does not compile.
class quick_check {
 public:
  struct rule;

  static std::optional<quick_check> compile(const rapidjson::Value& schema);

  bool passes(const rapidjson::Value& doc) const;

  quick_check(quick_check&&) noexcept;
  quick_check& operator=(quick_check&&) noexcept;
  ~quick_check();

 private:
  explicit quick_check(std::unique_ptr<rule> root);
  std::unique_ptr<rule> root_;
};

}  // namespace mq::schemas

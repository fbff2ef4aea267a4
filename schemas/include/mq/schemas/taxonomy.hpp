#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mq::schemas {

/// One field of the meeting-classification answer, read from
/// json/classification.schema.json (the single source of the taxonomy).
struct taxonomy_field {
  std::string name;                 ///< "business_sector"
  std::string type;                 ///< "string", "boolean", "number" or "array"
  std::vector<std::string> values;  ///< Allowed values for enumerations; empty otherwise.
  std::string description;
};

/// All fields in the schema's "required" order.
const std::vector<taxonomy_field>& classification_fields();

/// The field named `name`; throws std::out_of_range if there is none.
const taxonomy_field& classification_field(std::string_view name);

/// "x-taxonomy-version" of the classification schema; stored with every result.
const std::string& taxonomy_version();

}  // namespace mq::schemas

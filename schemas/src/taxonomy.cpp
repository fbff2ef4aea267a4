#include "mq/schemas/taxonomy.hpp"

#include <stdexcept>

#include "mq/schemas/validator.hpp"

namespace mq::schemas {

const std::vector<taxonomy_field>& classification_fields() {
  static const auto fields = [] {
    std::vector<taxonomy_field> out;
    const auto& schema = schema_json("classification");
    const auto& props = schema["properties"];
    for (const auto& name : schema["required"].GetArray()) {
      const auto& p = props[name.GetString()];
      taxonomy_field f;
      f.name = name.GetString();
      f.type = p["type"].GetString();
      if (p.HasMember("description")) f.description = p["description"].GetString();
      if (p.HasMember("enum"))
        for (const auto& v : p["enum"].GetArray()) f.values.emplace_back(v.GetString());
      out.push_back(std::move(f));
    }
    return out;
  }();
  return fields;
}

const taxonomy_field& classification_field(std::string_view name) {
  for (const auto& f : classification_fields())
    if (f.name == name) return f;
  throw std::out_of_range("no taxonomy field " + std::string(name));
}

const std::string& taxonomy_version() {
  static const std::string version = schema_json("classification")["x-taxonomy-version"].GetString();
  return version;
}

}  // namespace mq::schemas

#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::schemas {

/// Compiles every schema now. They are otherwise compiled on first use, and compiling
/// their patterns (std::regex) costs tens of milliseconds: a process calls this at start
/// so that the first request or job does not pay it.
void compile_schemas();

/// Names of the compiled JSON Schemas: the path under schemas/json without
/// ".schema.json" ("classification", "envelope", "requests/meeting").
std::vector<std::string> schema_names();

/// The parsed schema document itself (for prompts, taxonomy and docs).
/// Throws std::out_of_range for an unknown name.
const rapidjson::Document& schema_json(std::string_view name);

/// One broken rule: where in the document, which keyword, and a sentence for humans.
struct violation {
  std::string pointer;  ///< JSON pointer into the validated document ("" is the root).
  std::string keyword;  ///< The schema keyword that failed ("enum", "required", ...).
  std::string message;  ///< e.g. "/sentiment must be one of: positive, neutral, negative".
};

/// Validates `doc` against schema `name`. Thread-safe (schemas are compiled once and
/// shared; a validator is made per call). Returns the first violation, if any. A valid
/// document usually passes by the schema's quick check alone (quick_check.hpp).
std::optional<violation> validate(std::string_view name, const rapidjson::Value& doc);

/// validate() by RapidJSON's validator alone, without the quick check that validate()
/// tries first (quick_check.hpp): the reference that tests hold the quick check to.
std::optional<violation> validate_in_full(std::string_view name, const rapidjson::Value& doc);

/// validate() as an error value: errc::validation_failed with the violation message.
status check(std::string_view name, const rapidjson::Value& doc);

}  // namespace mq::schemas

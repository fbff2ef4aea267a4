#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mq::schemas {

/// Every file under schemas/json and schemas/sql, compiled into the binary so an
/// executable needs nothing on disk. Keys are paths relative to schemas/
/// ("json/classification.schema.json", "sql/001_init.sql").
const std::map<std::string, std::string>& embedded_files();

/// SQL migrations in version order, as (version, sql). The version is the file name
/// without extension ("001_init").
std::vector<std::pair<std::string, std::string>> migrations();

}  // namespace mq::schemas

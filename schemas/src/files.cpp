#include "mq/schemas/files.hpp"

namespace mq::schemas {

std::vector<std::pair<std::string, std::string>> migrations() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [path, text] : embedded_files()) {
    if (path.rfind("sql/", 0) != 0 || path.size() < 8 || path.substr(path.size() - 4) != ".sql")
      continue;
    out.emplace_back(path.substr(4, path.size() - 8), text);
  }
  return out;  // std::map iterates in path order, and file names start with the version.
}

}  // namespace mq::schemas

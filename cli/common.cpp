#include "common.hpp"

#include <algorithm>
#include <iostream>

namespace mq::cli {

int usage_error(const std::string& usage) {
  std::cerr << "usage: mqctl " << usage << "\n";
  return 64;
}

int report(const error& e) {
  std::cerr << "mqctl: " << e.message;
  if (!e.internal.empty()) std::cerr << " (" << e.internal << ")";
  std::cerr << "\n";
  return e.code == errc::unavailable ? 69 : e.code == errc::not_found ? 66 : 1;
}

std::string take_flag(std::vector<std::string>& args, const std::string& name, const std::string& fallback) {
  auto it = std::find(args.begin(), args.end(), name);
  if (it == args.end() || it + 1 == args.end()) return fallback;
  std::string value = *(it + 1);
  args.erase(it, it + 2);
  return value;
}

bool take_switch(std::vector<std::string>& args, const std::string& name) {
  auto it = std::find(args.begin(), args.end(), name);
  if (it == args.end()) return false;
  args.erase(it);
  return true;
}

}  // namespace mq::cli

#include "mq/core/failpoint.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>

#include "mq/core/log.hpp"

namespace mq::failpoint {
namespace {

struct armed_point {
  long due = 1;
  std::atomic<long> hits{0};
};

/// The armed failpoints, read once from MQ_FAILPOINT.
std::map<std::string, armed_point, std::less<>>& armed() {
  static auto* points = [] {
    auto* m = new std::map<std::string, armed_point, std::less<>>;
    const char* spec = std::getenv("MQ_FAILPOINT");
    std::string_view rest = spec ? spec : "";
    while (!rest.empty()) {
      auto item = rest.substr(0, rest.find(','));
      rest.remove_prefix(std::min(rest.size(), item.size() + 1));
      auto colon = item.find(':');
      auto& p = (*m)[std::string(item.substr(0, colon))];
      if (colon != std::string_view::npos) p.due = std::max(1L, std::atol(std::string(item.substr(colon + 1)).c_str()));
    }
    return m;
  }();
  return *points;
}

}  // namespace

void hit(std::string_view name) {
  auto& points = armed();
  if (points.empty()) return;
  auto it = points.find(name);
  if (it == points.end()) return;
  if (it->second.hits.fetch_add(1) + 1 != it->second.due) return;
  log::warn("failpoint", "crashing on purpose", {}, {{"failpoint", std::string(name)}});
  ::kill(::getpid(), SIGKILL);
}

}  // namespace mq::failpoint

#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mq::queues {

/// Names of the broker objects, all derived from one prefix so that environments (and
/// tests) never share a queue:
///   <prefix>.jobs   direct exchange, routing key = job kind
///   <prefix>.<kind> quorum queue per kind, delivery limit, dead-letters to <prefix>.dlx
///   <prefix>.dlx    fanout exchange receiving dead letters
///   <prefix>.dead   quorum queue holding dead letters for inspection and replay
struct topology {
  std::string prefix;

  std::string jobs_exchange() const { return prefix + ".jobs"; }
  std::string dead_exchange() const { return prefix + ".dlx"; }
  std::string dead_queue() const { return prefix + ".dead"; }
  std::string queue(std::string_view kind) const { return prefix + "." + std::string(kind); }

  /// Every job kind that has a queue.
  static const std::vector<std::string>& kinds();
};

}  // namespace mq::queues

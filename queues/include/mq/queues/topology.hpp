#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mq::queues {

/// Names of the broker objects, all derived from one prefix so that environments (and
/// tests) never share a queue:
///   <prefix>.jobs   direct exchange, routing key = job kind
///   <prefix>.<kind> quorum queue per kind, delivery limit, dead-letters to <prefix>.dlx
///   <prefix>.<kind>.bulk  the same for bulk messages (several tasks of one batch each,
///                   routing key "<kind>.bulk"): consumed with a prefetch of its own, so
///                   single jobs never wait behind a large batch in the broker
///   <prefix>.dlx    fanout exchange receiving dead letters
///   <prefix>.dead   quorum queue holding dead letters for inspection and replay
///   <prefix>.delay  headers exchange for delayed retries: header "mq-delay" names a tier
///   <prefix>.delay.<ms>  one queue per tier (1 s, 2 s, 4 s ... 4096 s) whose messages
///                   expire after <ms> and are dead-lettered back to <prefix>.jobs with
///                   their routing key (the job kind), so they return to their queue.
struct topology {
  std::string prefix;

  std::string jobs_exchange() const { return prefix + ".jobs"; }
  std::string dead_exchange() const { return prefix + ".dlx"; }
  std::string dead_queue() const { return prefix + ".dead"; }
  std::string delay_exchange() const { return prefix + ".delay"; }
  std::string delay_queue(long long tier_ms) const { return prefix + ".delay." + std::to_string(tier_ms); }
  std::string queue(std::string_view kind) const { return prefix + "." + std::string(kind); }
  /// What a bulk queue's name and routing key add to its kind's.
  static constexpr std::string_view bulk_suffix = ".bulk";
  std::string bulk_queue(std::string_view kind) const { return queue(bulk_key(kind)); }
  /// Routing key of `kind`'s bulk messages.
  static std::string bulk_key(std::string_view kind) { return std::string(kind) + std::string(bulk_suffix); }
  /// Whether `queue` is a bulk queue.
  static bool is_bulk(std::string_view queue);
  /// The job kind `queue` holds (empty for a queue of no kind).
  std::string kind_of(std::string_view queue) const;

  /// Every job kind that has a queue.
  static const std::vector<std::string>& kinds();
  /// Every job queue: each kind's queue, then each kind's bulk queue.
  std::vector<std::string> job_queues() const;
  /// What a worker replica consumes: the job queues, then the dead-letter queue.
  std::vector<std::string> consumed_queues() const;
  /// Delay tiers in milliseconds, ascending.
  static const std::vector<long long>& delay_tiers();
  /// The longest tier not longer than `delay_ms` (the shortest tier for shorter delays);
  /// a delay is made of several hops when it is not a tier itself.
  static long long tier_for(long long delay_ms);
};

}  // namespace mq::queues

#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mq/actors/actors.hpp"
#include "mq/config/config.hpp"

namespace mq::actors {

/// State of the consumer: its connection and how many tasks its unsettled deliveries carry.
struct consumer_state {
  std::unique_ptr<queues::connection> conn;
  std::uint64_t generation = 0;  ///< Bumped on every (re)connect.
  std::uint64_t in_flight = 0;   ///< Tasks of this generation's unsettled deliveries (a bulk message counts each).
  bool polling = false;          ///< A poll message is queued.
  bool draining = false;
  int reconnect_ms = 100;
  /// Delivered and not yet settled, in tag order (tags of this generation), with the
  /// tasks each carries.
  std::map<std::uint64_t, std::uint64_t> outstanding;
  /// Finished but not yet acknowledged to the broker: waiting for the tags before them so
  /// that one "multiple" ack settles them all (each ack is a Raft command in a quorum queue).
  std::set<std::uint64_t> to_ack;
  std::chrono::steady_clock::time_point oldest_to_ack{};
  static inline const char* name = "consumer";
};

/// The consumer's behavior (spawn detached). Consumes `queues`, holding tasks of about
/// `prefetch` unsettled deliveries at most: each queue's consumer is bounded by `prefetch`
/// deliveries, a bulk queue's by `prefetch` / amqp.group_size (at least 1), and no
/// delivery is taken while `prefetch` tasks are unsettled. Reconnects with backoff after
/// any broker failure.
consumer_actor::behavior_type consumer(consumer_actor::stateful_pointer<consumer_state> self,
                                       config::amqp_config cfg, std::vector<std::string> queue_names,
                                       int prefetch, dispatcher_actor dispatcher);

}  // namespace mq::actors

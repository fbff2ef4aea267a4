#pragma once

// What a worker replica tells operators about itself: a heartbeat in Redis that the API
// aggregates (GET /api/v1/workers/stats and /health), and its own HTTP port with
// Prometheus /metrics, liveness /health and readiness /ready.

#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mq/actors/actors.hpp"
#include "mq/config/config.hpp"

namespace mq::workers {

/// Who the replica is, fixed at start.
struct replica_identity {
  std::string id;  ///< host-pid-random: unique across restarts.
  std::string host;
  int pid = 0;
  std::vector<std::string> queues;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  int metrics_port = 0;  ///< The bound ops port, 0 when off.
};

/// A new identity for this process consuming `queues`.
replica_identity make_identity(std::vector<std::string> queues);

/// Declares the replica's own metrics (info, uptime, process memory and CPU).
void declare_replica_metrics();

/// Messages the heartbeat actor takes besides its timer.
using beat_drain_atom = caf::atom_constant<caf::atom("bdrain")>;  ///< Say "draining" from now on.
using beat_leave_atom = caf::atom_constant<caf::atom("bleave")>;  ///< Remove the heartbeat; replies true.

/// Spawns (detached: it owns a Redis connection) the actor that writes the heartbeat
/// every worker.heartbeat_seconds from the dispatcher's counters and the LLM gauges.
caf::actor spawn_heartbeat(caf::actor_system& sys, const config::app_config& cfg, replica_identity who,
                           actors::dispatcher_actor dispatcher);

/// The replica's HTTP port (worker.metrics_host/port): /metrics, /health (the
/// dispatcher answers), /ready (it answers and the replica is not draining).
class ops_port {
 public:
  ops_port(const config::app_config& cfg, caf::actor_system& sys, actors::dispatcher_actor dispatcher);
  ~ops_port();
  /// The bound port; 0 when turned off (metrics_port -1) or when it could not bind.
  std::uint16_t port() const;
  /// From now on /ready answers 503.
  void draining();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mq::workers

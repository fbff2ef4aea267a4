#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/queues/topology.hpp"
#include "mq/schemas/types.hpp"

namespace mq::config {
struct amqp_config;
}

namespace mq::queues {

/// A message to publish.
struct outgoing {
  std::string routing_key;  ///< Job kind (published to the jobs exchange).
  std::string body;
  std::string message_id;   ///< Task id: lets consumers and returns identify it.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string exchange;     ///< Empty means the jobs exchange.
};

/// The message that runs task `t`: its envelope to the jobs exchange, routed by kind,
/// with the task id as message id; due at the task's next_attempt_at when it has one (a
/// scheduled campaign), so workers keep it in the delay queues until then.
outgoing job_message(const schemas::task_record& t);
/// The message that runs the task `e` names, alone.
outgoing job_message(const schemas::envelope& e);

/// The messages that run `tasks`: tasks that share their kind, tenant, batch and due
/// time go out as bulk messages of up to `group_size` tasks each, in the order given
/// (header x-mq-tasks counts them; each task keeps its own request id); a task that
/// shares them with no other goes out as job_message(). A `group_size` of 1 sends every
/// task alone.
std::vector<outgoing> job_messages(const std::vector<schemas::task_record>& tasks, int group_size);

/// One received message, not yet acknowledged.
struct delivery {
  std::uint64_t tag = 0;
  std::string queue;        ///< Queue it came from.
  std::string routing_key;
  std::string message_id;
  std::string body;
  bool redelivered = false;
  std::int64_t delivery_count = 0;  ///< x-delivery-count of quorum queues (0 the first time).
  std::vector<std::pair<std::string, std::string>> headers;  ///< String-valued headers.
};

/// The value of the header `key` of `d`; empty without one.
std::string header_of(const delivery& d, std::string_view key);
/// How many tasks a delivery carries (its x-mq-tasks header; 1 without one).
int tasks_in(const delivery& d);

/// Depth and consumers of a queue.
struct queue_stats {
  std::string name;
  std::uint32_t messages = 0;
  std::uint32_t consumers = 0;
};

/// One AMQP connection with one channel. Owned by exactly one thread: rabbitmq-c
/// connections are not thread-safe. Heartbeats are serviced only inside library calls,
/// so owners must call into it (next(), stats()) more often than the heartbeat.
class connection {
 public:
  connection(const config::amqp_config& cfg, topology topo);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects, logs in, opens the channel and declares the whole topology (idempotent).
  status open();
  bool is_open() const;
  /// Closes politely if open; unacknowledged deliveries return to their queues.
  void close();
  /// The socket, for poll() (-1 when closed).
  int socket_fd() const;
  /// Whether frames already read from the socket wait to be taken (poll() would miss them).
  bool has_buffered() const;

  /// Depth and consumer count of `queue` (passive declare).
  result<queue_stats> stats(const std::string& queue);
  /// Deletes every queue and exchange of the topology (tests and `mqctl` teardown).
  status delete_topology();

  // ---- consuming ----
  /// Starts consuming each queue with manual acks, each consumer bounded by its own
  /// prefetch (unacknowledged deliveries).
  status consume(const std::vector<std::pair<std::string, int>>& queues);
  /// Waits up to `timeout` for a delivery; nullopt on timeout; unavailable once the
  /// connection is lost (then call open() again).
  result<std::optional<delivery>> next(std::chrono::milliseconds timeout);
  /// Acknowledges `tag`, or with `multiple` every unsettled delivery up to it.
  status ack(std::uint64_t tag, bool multiple = false);
  /// Negative acknowledgement; requeue=false dead-letters the message.
  status nack(std::uint64_t tag, bool requeue);
  /// Stops all consumers (for draining); deliveries in flight may still be acked.
  status cancel_consumers();

  // ---- publishing ----
  /// Enables publisher confirms on the channel.
  status enable_confirms();
  /// Publishes persistent, mandatory messages; returns the first delivery tag used
  /// (tags are consecutive).
  result<std::uint64_t> publish(const std::vector<outgoing>& msgs);
  /// Broker replies to publishes: ack/nack by tag (multiple covers all tags up to it),
  /// and returns (unroutable) by message id.
  struct confirm_event {
    enum kind_t { ack, nack, returned } kind = ack;
    std::uint64_t tag = 0;
    bool multiple = false;
    std::string message_id;
  };
  /// Waits up to `timeout` for the next confirm event; nullopt on timeout.
  result<std::optional<confirm_event>> next_confirm(std::chrono::milliseconds timeout);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Publishes with confirms from its own thread, owning its connection. Many callers may
/// publish concurrently; their messages go out as soon as they are handed over, while
/// earlier ones still wait for their confirms (pipelined), and each call's callback runs
/// once (on the publisher thread) when the broker has confirmed every message of the call
/// (ok) or when any of them failed, was returned unroutable, or went unconfirmed for
/// amqp.confirm_timeout_ms while the broker confirmed nothing else (unavailable).
/// Connects at start and reconnects by itself.
class publisher {
 public:
  using callback = std::function<void(status)>;

  publisher(const config::amqp_config& cfg, topology topo);
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// Never blocks. An empty batch completes at once with ok.
  void publish(std::vector<outgoing> msgs, callback done);
  /// Depth and consumers of `queues`, read on the publisher's connection; `done` runs on
  /// the publisher thread. Never blocks.
  using stats_callback = std::function<void(result<std::vector<queue_stats>>)>;
  void inspect(std::vector<std::string> queues, stats_callback done);
  /// Whether the last attempt to reach the broker succeeded.
  bool connected() const;
  /// Stops after confirming what was already handed over (or failing it).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mq::queues

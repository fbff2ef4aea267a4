#include "mq/actors/consumer.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"

namespace mq::actors {
namespace {

using namespace std::chrono_literals;

/// Each queue with the prefetch of its consumer.
std::vector<std::pair<std::string, int>> bounded(const std::vector<std::string>& queue_names, int prefetch,
                                                 int group_size) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& q : queue_names)
    out.emplace_back(q, queues::topology::is_bulk(q) ? std::max(1, prefetch / std::max(1, group_size)) : prefetch);
  return out;
}

}  // namespace

consumer_actor::behavior_type consumer(consumer_actor::stateful_pointer<consumer_state> self,
                                       config::amqp_config cfg, std::vector<std::string> queue_names,
                                       int prefetch, dispatcher_actor dispatcher) {
  self->state.conn = std::make_unique<queues::connection>(cfg, queues::topology{cfg.prefix});
  self->state.polling = true;
  self->send(self, poll_atom::value);
  self->send(self, tick_atom::value);
  auto resume = [self] {
    if (!self->state.polling && !self->state.draining) {
      self->state.polling = true;
      self->send(self, poll_atom::value);
    }
  };
  auto after_settle = [self, resume](std::uint64_t generation, std::uint64_t tasks, const status& st) {
    if (generation != self->state.generation) return;
    self->state.in_flight -= std::min(tasks, self->state.in_flight);
    if (!st) log::warn("consumer", "settle failed; the broker will redeliver", {}, {{"error", st.err().internal}});
    resume();
  };
  // Sends the acks that are due: the finished prefix as one multiple ack; the rest one by
  // one once many wait or the oldest waited 20 ms (a long-held job must not pin them).
  auto flush_acks = [self](bool force) {
    auto& st = self->state;
    if (st.to_ack.empty()) return;
    const auto lowest = st.outstanding.empty() ? UINT64_MAX : st.outstanding.begin()->first;
    std::uint64_t upto = 0;
    for (auto it = st.to_ack.begin(); it != st.to_ack.end() && *it < lowest; it = st.to_ack.erase(it)) upto = *it;
    if (upto && !st.conn->ack(upto, true))
      log::warn("consumer", "ack failed; the broker will redeliver", {});
    if (st.to_ack.empty()) return;
    if (force || st.to_ack.size() >= 64 ||
        std::chrono::steady_clock::now() - st.oldest_to_ack > std::chrono::milliseconds(20)) {
      for (auto tag : st.to_ack) st.conn->ack(tag, false);
      st.to_ack.clear();
    }
  };
  auto take = [self, dispatcher](queues::delivery d) {
    auto& st = self->state;
    const auto tasks = static_cast<std::uint64_t>(queues::tasks_in(d));
    st.in_flight += tasks;
    st.outstanding.emplace(d.tag, tasks);
    self->send(dispatcher, std::move(d), st.generation);
  };
  /// Forgets a settled delivery; returns how many tasks it carried.
  auto forget = [self](std::uint64_t tag) -> std::uint64_t {
    auto it = self->state.outstanding.find(tag);
    if (it == self->state.outstanding.end()) return 0;
    const auto tasks = it->second;
    self->state.outstanding.erase(it);
    return tasks;
  };
  return {
      [=](poll_atom) {
        auto& st = self->state;
        st.polling = false;
        if (st.draining) return;
        if (!st.conn->is_open()) {
          auto opened = st.conn->open();
          if (opened) opened = st.conn->consume(bounded(queue_names, prefetch, cfg.group_size));
          if (!opened) {
            log::warn("consumer", "broker unreachable; retrying", {},
                      {{"error", opened.err().internal}, {"retry_ms", std::to_string(st.reconnect_ms)}});
            st.polling = true;
            self->delayed_send(self, std::chrono::milliseconds(st.reconnect_ms), poll_atom::value);
            st.reconnect_ms = std::min(st.reconnect_ms * 2, 5000);
            return;
          }
          st.reconnect_ms = 100;
          ++st.generation;
          st.in_flight = 0;
          st.outstanding.clear();
          st.to_ack.clear();
          log::info("consumer", "consuming", {}, {{"prefetch", std::to_string(prefetch)}});
        }
        if (st.in_flight >= static_cast<std::uint64_t>(prefetch)) return;  // resumed by a settle
        // Wait briefly while jobs run, so their settlements are not held up.
        auto next = st.conn->next(st.in_flight > 0 ? 2ms : 50ms);
        if (!next) {
          st.polling = true;
          self->delayed_send(self, 100ms, poll_atom::value);
          return;
        }
        if (*next) take(std::move(**next));
        flush_acks(false);
        st.polling = true;
        self->send(self, poll_atom::value);
      },
      [=](tick_atom) {
        // While saturated or draining nobody polls: keep heartbeats flowing.
        auto& st = self->state;
        if (!st.polling && st.conn->is_open()) {
          auto next = st.conn->next(0ms);
          if (next && *next) take(std::move(**next));
        }
        flush_acks(true);
        self->delayed_send(self, 1s, tick_atom::value);
      },
      [=](ack_atom, std::uint64_t tag, std::uint64_t generation) {
        auto& st = self->state;
        if (generation != st.generation) return;
        const auto tasks = forget(tag);
        if (st.to_ack.empty()) st.oldest_to_ack = std::chrono::steady_clock::now();
        st.to_ack.insert(tag);
        flush_acks(st.draining || !st.polling);
        after_settle(generation, tasks, ok_status());
      },
      [=](nack_atom, std::uint64_t tag, std::uint64_t generation, bool requeue) {
        auto& st = self->state;
        if (generation != st.generation) return;
        const auto tasks = forget(tag);
        after_settle(generation, tasks, st.conn->nack(tag, requeue));
        flush_acks(st.draining || !st.polling);
      },
      [=](drain_atom) -> bool {
        self->state.draining = true;
        flush_acks(true);
        auto st = self->state.conn->cancel_consumers();
        log::info("consumer", "stopped taking deliveries", {},
                  {{"in_flight", std::to_string(self->state.in_flight)}});
        return st.ok();
      },
  };
}

}  // namespace mq::actors

#include "mq/actors/consumer.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"

namespace mq::actors {
namespace {

using namespace std::chrono_literals;

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
  auto after_settle = [self, resume](std::uint64_t generation, const status& st) {
    if (generation != self->state.generation) return;
    if (self->state.in_flight > 0) --self->state.in_flight;
    if (!st) log::warn("consumer", "settle failed; the broker will redeliver", {}, {{"error", st.err().internal}});
    resume();
  };
  return {
      [=](poll_atom) {
        auto& st = self->state;
        st.polling = false;
        if (st.draining) return;
        if (!st.conn->is_open()) {
          auto opened = st.conn->open();
          if (opened) opened = st.conn->consume(queue_names, prefetch);
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
        if (*next) {
          ++st.in_flight;
          self->send(dispatcher, std::move(**next), st.generation);
        }
        st.polling = true;
        self->send(self, poll_atom::value);
      },
      [=](tick_atom) {
        // While saturated or draining nobody polls: keep heartbeats flowing.
        auto& st = self->state;
        if (!st.polling && st.conn->is_open()) {
          auto next = st.conn->next(0ms);
          if (next && *next) {
            ++st.in_flight;
            self->send(dispatcher, std::move(**next), st.generation);
          }
        }
        self->delayed_send(self, 1s, tick_atom::value);
      },
      [=](ack_atom, std::uint64_t tag, std::uint64_t generation) {
        if (generation != self->state.generation) return;
        after_settle(generation, self->state.conn->ack(tag));
      },
      [=](nack_atom, std::uint64_t tag, std::uint64_t generation, bool requeue) {
        if (generation != self->state.generation) return;
        after_settle(generation, self->state.conn->nack(tag, requeue));
      },
      [=](drain_atom) -> bool {
        self->state.draining = true;
        auto st = self->state.conn->cancel_consumers();
        log::info("consumer", "stopped taking deliveries", {},
                  {{"in_flight", std::to_string(self->state.in_flight)}});
        return st.ok();
      },
  };
}

}  // namespace mq::actors

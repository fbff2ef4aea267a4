#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/queues/amqp.hpp"

namespace mq::queues {
namespace {

using steady = std::chrono::steady_clock;

struct call {
  std::vector<outgoing> msgs;
  publisher::callback done;
};

/// A call whose messages are out and not all confirmed yet.
struct in_flight {
  publisher::callback done;
  std::size_t unconfirmed = 0;
  bool failed = false;
  steady::time_point deadline;
  std::vector<std::string> message_ids;
};

}  // namespace

struct publisher::impl {
  impl(const config::amqp_config& c, topology t)
      : cfg(c), conn(c, std::move(t)), wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~impl() { ::close(wake_fd); }

  config::amqp_config cfg;
  connection conn;  // touched only by `thread`
  std::mutex mu;
  std::deque<call> queue;
  std::deque<std::pair<std::vector<std::string>, publisher::stats_callback>> inspections;
  bool stopping = false;
  int wake_fd;  ///< Written by callers, polled by `thread` beside the broker's socket.
  steady::time_point next_connect{};
  steady::time_point last_confirm{};  ///< When the broker last confirmed anything.
  int connect_backoff_ms = 200;
  std::atomic<bool> up{false};
  std::thread thread;

  // Owned by `thread`.
  std::uint64_t next_call = 0;
  std::map<std::uint64_t, in_flight> calls;        // call id -> state, oldest first
  std::map<std::uint64_t, std::uint64_t> by_tag;   // delivery tag -> call id
  std::map<std::string, std::uint64_t> by_message; // message id -> call id (for returns)

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  void run() {
    // Idle wake-ups keep the connection's heartbeats serviced and retry a lost broker.
    const auto idle = std::chrono::milliseconds(std::max(200, cfg.heartbeat_seconds * 1000 / 3));
    for (;;) {
      std::deque<call> batch;
      std::deque<std::pair<std::vector<std::string>, publisher::stats_callback>> asks;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping && queue.empty() && inspections.empty() && calls.empty()) return;
        batch.swap(queue);
        asks.swap(inspections);
      }
      for (auto& c : batch) send(std::move(c));
      for (auto& [names, done] : asks) inspect(names, done);
      read_confirms();
      expire();
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!queue.empty() || !inspections.empty()) continue;
        if (stopping && calls.empty()) return;
      }
      if (conn.is_open() && conn.has_buffered()) continue;
      auto wait = calls.empty() ? idle
                                : std::chrono::duration_cast<std::chrono::milliseconds>(
                                      expires_at() - steady::now()) +
                                      std::chrono::milliseconds(1);
      pollfd fds[2] = {{wake_fd, POLLIN, 0}, {conn.socket_fd(), POLLIN, 0}};
      int n = ::poll(fds, fds[1].fd >= 0 ? 2 : 1, static_cast<int>(std::max<long>(0, wait.count())));
      if (n > 0 && (fds[0].revents & POLLIN)) {
        std::uint64_t drained;
        [[maybe_unused]] auto r = ::read(wake_fd, &drained, sizeof drained);
      }
      if (n == 0 && calls.empty()) keep_alive();
    }
  }

  /// Opens the connection unless a recent attempt failed; true when open.
  bool ensure_open(bool force) {
    if (conn.is_open()) return true;
    auto now = steady::now();
    if (!force && now < next_connect) return false;
    status st = conn.open();
    if (st) st = conn.enable_confirms();
    up = st.ok();
    if (!st) {
      next_connect = now + std::chrono::milliseconds(connect_backoff_ms);
      connect_backoff_ms = std::min(connect_backoff_ms * 2, 5000);
      log::warn("publisher", "broker unreachable", {}, {{"error", st.err().internal}});
      return false;
    }
    connect_backoff_ms = 200;
    log::info("publisher", "connected to broker", {});
    return true;
  }

  void keep_alive() {
    if (!ensure_open(false)) return;
    auto ev = conn.next_confirm(std::chrono::milliseconds(0));
    up = ev.ok();
  }

  void inspect(const std::vector<std::string>& names, const publisher::stats_callback& done) {
    if (!ensure_open(false)) return done(make_error(errc::unavailable, "message broker unavailable"));
    std::vector<queue_stats> out;
    for (const auto& n : names) {
      auto st = conn.stats(n);
      if (st) {
        out.push_back(*st);
      } else if (st.err().code == errc::not_found) {
        out.push_back(queue_stats{n, 0, 0});
      } else {
        connection_lost(st.err());
        return done(st.err());
      }
    }
    done(std::move(out));
  }

  void send(call c) {
    if (c.msgs.empty()) {
      if (c.done) c.done(ok_status());
      return;
    }
    if (!ensure_open(false)) {
      if (c.done) c.done(make_error(errc::unavailable, "message broker unavailable"));
      return;
    }
    auto first = conn.publish(c.msgs);
    if (!first) {
      if (c.done) c.done(first.err());
      return connection_lost(first.err());
    }
    const auto id = next_call++;
    for (std::size_t k = 0; k < c.msgs.size(); ++k) {
      by_tag[*first + k] = id;
      by_message[c.msgs[k].message_id] = id;
    }
    in_flight f{std::move(c.done), c.msgs.size(), false,
                steady::now() + std::chrono::milliseconds(cfg.confirm_timeout_ms), {}};
    f.message_ids.reserve(c.msgs.size());
    for (auto& m : c.msgs) f.message_ids.push_back(std::move(m.message_id));
    calls.emplace(id, std::move(f));
  }

  /// Takes every frame the broker has sent so far, without waiting.
  void read_confirms() {
    while (conn.is_open()) {
      auto ev = conn.next_confirm(std::chrono::milliseconds(0));
      if (!ev) return connection_lost(ev.err());
      if (!*ev) return;
      const auto& e = **ev;
      last_confirm = steady::now();
      if (e.kind == connection::confirm_event::returned) {
        // Unroutable: the broker acks it anyway, so remember it as failed first.
        auto it = by_message.find(e.message_id);
        if (it != by_message.end()) {
          auto c = calls.find(it->second);
          if (c != calls.end()) c->second.failed = true;
        }
        continue;
      }
      const bool ok = e.kind == connection::confirm_event::ack;
      if (e.multiple) {
        while (!by_tag.empty() && by_tag.begin()->first <= e.tag) settle(by_tag.begin(), ok);
      } else if (auto it = by_tag.find(e.tag); it != by_tag.end()) {
        settle(it, ok);
      }
    }
  }

  void settle(std::map<std::uint64_t, std::uint64_t>::iterator tag, bool ok) {
    auto it = calls.find(tag->second);
    by_tag.erase(tag);
    if (it == calls.end()) return;
    auto& c = it->second;
    if (!ok) c.failed = true;
    if (--c.unconfirmed > 0) return;
    auto done = std::move(c.done);
    const bool failed = c.failed;
    for (const auto& m : c.message_ids) by_message.erase(m);
    calls.erase(it);
    if (!done) return;
    if (failed)
      done(make_error(errc::unavailable, "message broker rejected the message"));
    else
      done(ok_status());
  }

  /// When the oldest call expires: its deadline, pushed on while confirms keep coming (a
  /// large batch on a busy broker is slow, not lost; a silent broker is).
  steady::time_point expires_at() const {
    return std::max(calls.begin()->second.deadline,
                    last_confirm + std::chrono::milliseconds(cfg.confirm_timeout_ms));
  }

  /// A confirm overdue: the broker's state for every unconfirmed message is unknown, so
  /// drop the connection and say so to every waiting caller.
  void expire() {
    if (calls.empty() || expires_at() > steady::now()) return;
    std::size_t unconfirmed = 0;
    for (const auto& [id, c] : calls) unconfirmed += c.unconfirmed;
    log::warn("publisher", "publishes not confirmed in time", {},
              {{"unconfirmed", std::to_string(unconfirmed)}});
    conn.close();
    fail_in_flight(make_error(errc::unavailable, "message broker did not confirm in time"));
  }

  void connection_lost(const error& why) {
    up = false;
    fail_in_flight(why);
  }

  void fail_in_flight(const error& why) {
    up = false;
    auto failed = std::move(calls);
    calls.clear();
    by_tag.clear();
    by_message.clear();
    for (auto& [id, c] : failed)
      if (c.done) c.done(why);
  }
};

publisher::publisher(const config::amqp_config& cfg, topology topo)
    : impl_(std::make_unique<impl>(cfg, std::move(topo))) {
  impl_->thread = std::thread([this] { impl_->run(); });
}

publisher::~publisher() { stop(); }

void publisher::publish(std::vector<outgoing> msgs, callback done) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(call{std::move(msgs), std::move(done)});
      impl_->wake();
      return;
    }
  }
  if (done) done(make_error(errc::unavailable, "publisher stopped"));
}

bool publisher::connected() const { return impl_->up; }

void publisher::inspect(std::vector<std::string> queues, stats_callback done) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->inspections.emplace_back(std::move(queues), std::move(done));
      impl_->wake();
      return;
    }
  }
  done(make_error(errc::unavailable, "publisher stopped"));
}

void publisher::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace mq::queues

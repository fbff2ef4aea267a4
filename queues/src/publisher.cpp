#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "mq/config/config.hpp"
#include "mq/core/log.hpp"
#include "mq/queues/amqp.hpp"

namespace mq::queues {
namespace {

struct call {
  std::vector<outgoing> msgs;
  publisher::callback done;
  std::size_t unconfirmed = 0;
  bool failed = false;
};

}  // namespace

struct publisher::impl {
  impl(const config::amqp_config& c, topology t) : cfg(c), conn(c, std::move(t)) {}

  config::amqp_config cfg;
  connection conn;  // touched only by `thread`
  std::mutex mu;
  std::condition_variable cv;
  std::deque<call> queue;
  std::deque<std::pair<std::vector<std::string>, publisher::stats_callback>> inspections;
  bool stopping = false;
  std::chrono::steady_clock::time_point next_connect{};
  int connect_backoff_ms = 200;
  std::atomic<bool> up{false};
  std::thread thread;

  void run() {
    // Idle wake-ups keep the connection's heartbeats serviced and retry a lost broker.
    const auto idle = std::chrono::milliseconds(std::max(200, cfg.heartbeat_seconds * 1000 / 3));
    for (;;) {
      std::deque<call> batch;
      std::deque<std::pair<std::vector<std::string>, publisher::stats_callback>> asks;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, idle, [this] { return stopping || !queue.empty() || !inspections.empty(); });
        if (stopping && queue.empty() && inspections.empty()) return;
        batch.swap(queue);
        asks.swap(inspections);
      }
      if (!batch.empty()) send(batch);
      for (auto& [names, done] : asks) inspect(names, done);
      if (batch.empty() && asks.empty()) keep_alive();
    }
  }

  /// Opens the connection unless a recent attempt failed; true when open.
  bool ensure_open(bool force) {
    if (conn.is_open()) return true;
    auto now = std::chrono::steady_clock::now();
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
        up = false;
        return done(st.err());
      }
    }
    done(std::move(out));
  }

  void fail_all(std::deque<call>& batch, const error& why) {
    for (auto& c : batch)
      if (c.done) c.done(why);
  }

  void send(std::deque<call>& batch) {
    if (!ensure_open(false)) return fail_all(batch, make_error(errc::unavailable, "message broker unavailable"));
    std::map<std::uint64_t, std::size_t> by_tag;
    std::map<std::string, std::size_t> by_message;
    std::size_t outstanding = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& c = batch[i];
      if (c.msgs.empty()) continue;
      auto first = conn.publish(c.msgs);
      if (!first) {
        up = false;
        return fail_all(batch, first.err());
      }
      for (std::size_t k = 0; k < c.msgs.size(); ++k) {
        by_tag[*first + k] = i;
        by_message[c.msgs[k].message_id] = i;
      }
      c.unconfirmed = c.msgs.size();
      outstanding += c.msgs.size();
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.confirm_timeout_ms);
    auto settle = [&](std::uint64_t tag, bool ok) {
      auto it = by_tag.find(tag);
      if (it == by_tag.end()) return;
      auto& c = batch[it->second];
      if (!ok) c.failed = true;
      --c.unconfirmed;
      --outstanding;
      by_tag.erase(it);
    };
    while (outstanding > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto ev = conn.next_confirm(left);
      if (!ev) break;
      if (!*ev) continue;
      const auto& e = **ev;
      if (e.kind == connection::confirm_event::returned) {
        // Unroutable: the broker acks it anyway, so remember it as failed first.
        auto it = by_message.find(e.message_id);
        if (it != by_message.end()) batch[it->second].failed = true;
        continue;
      }
      const bool ok = e.kind == connection::confirm_event::ack;
      if (e.multiple) {
        while (!by_tag.empty() && by_tag.begin()->first <= e.tag) settle(by_tag.begin()->first, ok);
      } else {
        settle(e.tag, ok);
      }
    }
    if (outstanding > 0) {
      // The broker's state for these messages is unknown: drop the connection and say so.
      log::warn("publisher", "publishes not confirmed in time",
                {}, {{"unconfirmed", std::to_string(outstanding)}});
      conn.close();
      up = false;
    }
    for (auto& c : batch) {
      if (!c.done) continue;
      if (c.failed)
        c.done(make_error(errc::unavailable, "message broker rejected the message"));
      else if (c.unconfirmed > 0)
        c.done(make_error(errc::unavailable, "message broker did not confirm in time"));
      else
        c.done(ok_status());
    }
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
      impl_->cv.notify_one();
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
      impl_->cv.notify_one();
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
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace mq::queues

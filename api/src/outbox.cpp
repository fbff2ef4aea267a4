#include "outbox.hpp"

#include <atomic>

#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/store/repositories.hpp"
#include "services.hpp"

namespace mq::api {

outbox_relay::outbox_relay(services& s) : s_(s), thread_([this] { run(); }) {}

outbox_relay::~outbox_relay() { stop(); }

void outbox_relay::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void outbox_relay::run() {
  const auto period = std::chrono::milliseconds(s_.cfg.api.outbox_interval_ms);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return stopping_; })) {
    if (busy_) continue;
    busy_ = true;
    auto submitted = s_.db.submit([this](store::pg_session& db) {
      auto release = [this] {
        std::lock_guard<std::mutex> l(mu_);
        busy_ = false;
      };
      auto due = store::unpublished_groups(db, s_.cfg.api.outbox_grace_seconds, 20);
      if (!due || due->empty()) return release();
      auto left = std::make_shared<std::atomic<std::size_t>>(due->size());
      for (auto& group : *due) {
        std::vector<schemas::task_record> tasks;
        for (const auto& e : group.tasks) {
          schemas::task_record t;
          t.id = e.task_id;
          t.tenant_id = e.tenant_id;
          t.kind = e.kind;
          t.subject_id = e.subject_id;
          if (!e.batch_id.empty()) t.batch_id = e.batch_id;
          if (!e.request_id.empty()) t.request_id = e.request_id;
          if (e.not_before > 0)
            t.next_attempt_at = format_rfc3339(sys_time(std::chrono::milliseconds(e.not_before)));
          tasks.push_back(std::move(t));
        }
        const auto n = tasks.size();
        auto finished = [left, release] {
          if (--*left == 0) release();
        };
        if (tasks.empty()) {  // everything already ran: only the mark is missing
          store::mark_published(db, {group.id});
          finished();
          continue;
        }
        s_.publish_tasks(tasks, [n, finished](status st) {
          if (st)
            log::info("outbox", "republished unconfirmed tasks", {}, {{"count", std::to_string(n)}});
          else
            log::warn("outbox", "republish failed; will retry", {}, {{"error", st.err().internal}});
          finished();
        }, group.id);
      }
    });
    if (!submitted) busy_ = false;
  }
}

}  // namespace mq::api

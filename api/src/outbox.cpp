#include "outbox.hpp"

#include "mq/core/log.hpp"
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
      auto due = store::unpublished_tasks(db, s_.cfg.api.outbox_grace_seconds, 1000);
      auto release = [this] {
        std::lock_guard<std::mutex> l(mu_);
        busy_ = false;
      };
      if (!due || (due->tasks.empty() && due->batch_ids.empty())) return release();
      std::vector<schemas::task_record> tasks;
      for (const auto& e : due->tasks) {
        schemas::task_record t;
        t.id = e.task_id;
        t.tenant_id = e.tenant_id;
        t.kind = e.kind;
        t.subject_id = e.subject_id;
        if (!e.batch_id.empty()) t.batch_id = e.batch_id;
        if (!e.request_id.empty()) t.request_id = e.request_id;
        tasks.push_back(std::move(t));
      }
      const auto n = tasks.size();
      // Every task is marked on its own here, and the batches once all their tasks are out.
      auto batches = due->batch_ids;
      s_.publish_tasks(tasks, [this, n, release, batches](status st) {
        if (st) {
          log::info("outbox", "republished unconfirmed tasks", {}, {{"count", std::to_string(n)}});
          s_.db.submit([batches](store::pg_session& db) { store::mark_published(db, {}, batches); });
        } else {
          log::warn("outbox", "republish failed; will retry", {}, {{"error", st.err().internal}});
        }
        release();
      });
    });
    if (!submitted) busy_ = false;
  }
}

}  // namespace mq::api

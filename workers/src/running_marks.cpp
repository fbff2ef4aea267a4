#include "mq/workers/running_marks.hpp"

#include <caf/all.hpp>

#include "mq/core/log.hpp"
#include "mq/core/time.hpp"
#include "mq/workers/job.hpp"

namespace mq::workers {

void running_marks::add(entry e) {
  std::lock_guard<std::mutex> lock(mu_);
  auto id = e.task_id;
  entries_.insert_or_assign(std::move(id), std::move(e));
}

void running_marks::remove(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(task_id);
}

std::vector<running_marks::entry> running_marks::take_due(std::int64_t cutoff_ms) {
  std::vector<entry> due;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.started_ms > cutoff_ms) {
      ++it;
      continue;
    }
    due.push_back(std::move(it->second));
    it = entries_.erase(it);
  }
  return due;
}

caf::behavior running_marker(caf::event_based_actor* self, std::shared_ptr<const job_context> ctx,
                             std::chrono::milliseconds after) {
  const auto every = std::max(std::chrono::milliseconds(10), after / 4);
  self->send(self, actors::tick_atom::value);
  return {
      [=](actors::tick_atom) {
        self->delayed_send(self, every, actors::tick_atom::value);
        auto due = ctx->marks->take_due(unix_ms() - after.count());
        if (due.empty()) return;
        actors::running_marks marks;
        std::unordered_map<std::string, caf::actor> jobs;
        for (auto& e : due) {
          marks.push_back({e.task_id, e.attempt, e.started_ms});
          jobs.emplace(std::move(e.task_id), std::move(e.job));
        }
        self->request(ctx->pg.front(), caf::infinite, actors::mark_atom::value, std::move(marks))
            .then(
                [jobs](actors::mark_reply& r) {
                  // Unmarked, a task still reads queued until its outcome: nothing is lost.
                  if (!r) return log::warn("marker", "could not record tasks running", {}, {{"error", r.err().internal}});
                  for (auto& t : *r)
                    if (auto j = jobs.find(t.id); j != jobs.end())
                      caf::anon_send(j->second, actors::running_atom::value, std::move(t));
                },
                [](caf::error&) {});
      },
  };
}

}  // namespace mq::workers

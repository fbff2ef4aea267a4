#include "acceptor.hpp"

#include <memory>

#include "services.hpp"

namespace mq::api {

acceptor::acceptor(services& s, std::string kind, std::size_t max_group, std::size_t max_commits)
    : s_(s),
      kind_(std::move(kind)),
      runner_(
          s.db, [this](store::pg_session& db, std::vector<item>& group) { commit(db, group); },
          [](std::vector<item>& refused) {
            for (auto& [req, fn] : refused)
              fn(make_error(errc::unavailable, "server busy; retry later", "database queue full"));
          },
          max_group, max_commits) {}

void acceptor::submit(store::enqueue_request request, done_fn done) {
  runner_.submit({std::move(request), std::move(done)});
}

void acceptor::commit(store::pg_session& db, std::vector<item>& group) {
  std::vector<store::enqueue_request> requests;
  requests.reserve(group.size());
  for (const auto& g : group) requests.push_back(g.first);
  auto result = store::enqueue_tasks(db, kind_, requests);
  if (!result) {
    for (auto& g : group) g.second(result.err());
    return;
  }
  // Existing tasks and errors are answered now; created tasks after the confirm.
  std::vector<schemas::task_record> created;
  auto waiting = std::make_shared<std::vector<std::pair<store::enqueued_task, done_fn>>>();
  for (std::size_t i = 0; i < group.size(); ++i) {
    auto& outcome = result->outcomes[i];
    if (outcome && outcome->created) {
      created.push_back(outcome->task);
      waiting->emplace_back(std::move(*outcome), std::move(group[i].second));
    } else {
      group[i].second(std::move(outcome));
    }
  }
  if (created.empty()) return;
  s_.publish_tasks(created, [this, waiting](status st) {
    for (auto& [task, fn] : *waiting) {
      if (st) {
        fn(std::move(task));
      } else {
        auto e = stored_but_unconfirmed(s_, {task.task});
        e.internal = st.err().internal;
        fn(std::move(e));
      }
    }
  }, result->outbox_id);
}

}  // namespace mq::api

// Accepting classification jobs (durably: committed, then confirmed by the broker) and
// reading tasks and batches.

#include <memory>
#include <mutex>
#include <optional>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/store/repositories.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

const std::string tasks_path = "/api/v1/tasks/";
const std::string batches_path = "/api/v1/batches/";

/// The task's JSON with "deduplicated" added (the JSON always starts with '{').
std::string accepted_task_json(const schemas::task_record& t, bool deduplicated) {
  auto body = schemas::to_json(t);
  return "{\"deduplicated\":" + std::string(deduplicated ? "true" : "false") + "," + body.substr(1);
}

void write_ids(json::writer& w, const char* key, const std::vector<schemas::task_record>& tasks) {
  w.key(key);
  w.begin_array();
  for (const auto& t : tasks) w.value(t.id);
  w.end_array();
}

/// The 202 for a batch (200 when nothing was new).
void reply_batch(const call_ptr& c, const store::enqueued_batch& b) {
  json::writer w;
  w.begin_object();
  w.kv("batch_id", b.batch ? std::optional<std::string>(b.batch->id) : std::nullopt);
  w.kv("queued", static_cast<unsigned long>(b.created.size()));
  w.kv("already_queued", static_cast<unsigned long>(b.already_active.size()));
  write_ids(w, "task_ids", b.created);
  write_ids(w, "already_queued_task_ids", b.already_active);
  if (b.batch) w.kv("status_url", batches_path + b.batch->id);
  w.end_object();
  if (!b.batch) return c->reply(200, w.take());
  c->reply(202, w.take(), {{"Location", batches_path + b.batch->id}});
}

void accept_batch(services& s, const call_ptr& c, store::enqueued_batch b) {
  auto created = b.created;
  auto outbox_id = b.outbox_id;
  publish_then_accept(s, c, std::move(created), std::move(outbox_id), [c, b = std::move(b)] { reply_batch(c, b); });
}

void classify_one(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["meetingId"]);
  if (!id) return c->fail(make_error(errc::not_found, "meeting not found"));
  s.classify.submit({c->tenant, *id, c->request_id}, [c](result<store::enqueued_task> r) {
    if (!r) return c->fail(r.err());
    c->reply(202, accepted_task_json(r->task, !r->created), {{"Location", tasks_path + r->task.id}});
  });
}

void classify_batch(services& s, const call_ptr& c) {
  auto doc = read_body(c, "requests/classify_batch");
  if (!doc) return;
  const auto& arr = (*doc)["meeting_ids"];
  if (arr.Size() > static_cast<rapidjson::SizeType>(s.cfg.api.max_batch_items))
    return c->fail(make_error(errc::payload_too_large,
                              "at most " + std::to_string(s.cfg.api.max_batch_items) + " meetings per batch"));
  std::vector<std::int64_t> ids;
  for (const auto& v : arr.GetArray()) ids.push_back(v.GetInt64());
  s.with_db(c, [&s, c, ids = std::move(ids)](store::pg_session& db) {
    auto b = store::enqueue_batch(db, c->tenant, schemas::kinds::classify_meeting, ids, c->request_id);
    if (!b) return c->fail(b.err());
    accept_batch(s, c, std::move(*b));
  });
}

/// The publishes of queue-unclassified's chunks: `finish` runs once, with the first
/// failure if any, when the last chunk is committed and every publish has settled.
class chunk_publishes {
 public:
  explicit chunk_publishes(std::function<void(status)> finish) : finish_(std::move(finish)) {}
  void started() {
    std::lock_guard<std::mutex> lock(m_);
    ++open_;
  }
  void settled(status st) {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!st && first_) first_ = st;
      last = --open_ == 0;
    }
    if (last) finish_(first_);
  }

 private:
  std::mutex m_;
  int open_ = 1;  ///< Publishes under way, plus one until the last chunk is committed.
  status first_ = ok_status();
  std::function<void(status)> finish_;
};

void queue_unclassified(services& s, const call_ptr& c) {
  s.with_db(c, [&s, c](store::pg_session& db) {
    auto answer = std::make_shared<std::optional<store::enqueued_batch>>();
    auto publishes = std::make_shared<chunk_publishes>([&s, c, answer](status st) {
      if (!answer->has_value()) return;  // the store failed and has answered
      auto& b = **answer;
      if (!st) {
        auto e = stored_but_unconfirmed(s, b.created);
        e.internal = st.err().internal;
        return c->fail(e);
      }
      reply_batch(c, b);
    });
    auto b = store::queue_unclassified(db, c->tenant, c->request_id, static_cast<std::size_t>(s.cfg.api.enqueue_chunk),
                                       [&s, publishes](const std::vector<schemas::task_record>& tasks,
                                                       const std::string& outbox_id) {
                                         publishes->started();
                                         s.publish_tasks(tasks, [publishes](status st) { publishes->settled(st); },
                                                         outbox_id);
                                       });
    if (!b) {
      c->fail(b.err());
    } else {
      log::info("api", "unclassified meetings committed", {c->request_id, {}, c->tenant},
                {{"queued", std::to_string(b->created.size())},
                 {"elapsed_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - c->started).count())}});
      *answer = std::move(*b);
    }
    publishes->settled(ok_status());
  });
}

void get_task(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "task not found"));
  auto key = s.keys.task(c->tenant, id);
  auto from_db = [&s, c, id, key] {
    s.with_db(c, [&s, c, id, key](store::pg_session& db) {
      auto t = store::get_task(db, c->tenant, id);
      if (!t) return c->fail(t.err());
      if (!*t) return c->fail(make_error(errc::not_found, "task " + id + " not found"));
      auto body = schemas::to_json(**t);
      c->reply(200, body);
      // For the next poll: final states as they are; others only where no worker wrote
      // a newer one meanwhile.
      const auto mode = schemas::is_terminal((*t)->status) ? store::result_cache::write_mode::final
                                                           : store::result_cache::write_mode::first;
      s.cache_put({{key, std::move(body), mode}});
    });
  };
  s.cached(key, [c, from_db](std::optional<std::string> hit) {
    if (hit) return c->reply(200, std::move(*hit));
    from_db();
  });
}

void get_batch(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "batch not found"));
  std::string detail;
  const bool by_state = c->req.query_param("detail", detail) && (detail == "true" || detail == "1");
  s.with_db(c, [c, id, by_state](store::pg_session& db) {
    auto b = store::get_batch(db, c->tenant, id, by_state);
    if (!b) return c->fail(b.err());
    if (!*b) return c->fail(make_error(errc::not_found, "batch " + id + " not found"));
    c->reply(200, schemas::to_json(**b, by_state));
  });
}

/// The final cache entries of tasks that just changed state.
std::vector<store::result_cache::entry> final_entries(services& s, const std::vector<schemas::task_record>& tasks) {
  std::vector<store::result_cache::entry> out;
  out.reserve(tasks.size());
  for (const auto& t : tasks)
    out.push_back({s.keys.task(t.tenant_id, t.id), schemas::to_json(t), store::result_cache::write_mode::final});
  return out;
}

/// Writes the final cache entries of tasks a request just cancelled, then answers: a poll
/// sent after the answer finds them cancelled, not the queued state cached before.
void cache_then_reply(services& s, const call_ptr& c, std::vector<store::result_cache::entry> entries,
                      std::string body) {
  auto reply = [c, body] { c->reply(200, body); };
  s.with_cache(
      c,
      [entries = std::move(entries), reply](store::result_cache& cache) {
        cache.put(entries);
        reply();
      },
      reply);
}

void cancel_task(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "task not found"));
  s.with_db(c, [&s, c, id](store::pg_session& db) {
    auto r = store::cancel_task(db, c->tenant, id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(make_error(errc::not_found, "task " + id + " not found"));
    const auto& t = (*r)->task;
    if (t.status == schemas::task_status::running)  // cancel_sql leaves it: a message is being sent
      return c->fail(make_error(errc::conflict, "task " + id + " is sending its message; it finishes and records "
                                                "the outcome"));
    if (t.status != schemas::task_status::cancelled)
      return c->fail(make_error(errc::conflict, "task " + id + " already " + schemas::to_string(t.status)));
    if (!(*r)->changed) return c->reply(200, schemas::to_json(t));
    log::info("api", "task cancelled", {c->request_id, id, c->tenant});
    cache_then_reply(s, c, final_entries(s, {t}), schemas::to_json(t));
  });
}

void cancel_batch(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "batch not found"));
  s.with_db(c, [&s, c, id](store::pg_session& db) {
    auto r = store::cancel_batch(db, c->tenant, id);
    if (!r) return c->fail(r.err());
    if (!*r) return c->fail(make_error(errc::not_found, "batch " + id + " not found"));
    log::info("api", "batch cancelled", {c->request_id, {}, c->tenant},
              {{"batch_id", id}, {"cancelled", std::to_string((*r)->size())}});
    auto b = store::get_batch(db, c->tenant, id);
    if (!b) {
      s.cache_put(final_entries(s, **r));
      return c->fail(b.err());
    }
    // {"cancelled_now": n, ...the batch}
    auto body = schemas::to_json(**b, false);
    cache_then_reply(s, c, final_entries(s, **r),
                     "{\"cancelled_now\":" + std::to_string((*r)->size()) + "," + body.substr(1));
  });
}

}  // namespace

void add_task_routes(router& r) {
  r.add("POST", "/api/v1/workers/classify/batch", classify_batch);
  r.add("POST", "/api/v1/workers/classify/:meetingId", classify_one);
  r.add("POST", "/api/v1/classifications/queue-unclassified", queue_unclassified);
  r.add("GET", "/api/v1/tasks/:id", get_task);
  r.add("GET", "/api/v1/workers/task/:id", get_task);
  r.add("GET", "/api/v1/batches/:id", get_batch);
  r.add("POST", "/api/v1/tasks/:id/cancel", cancel_task);
  r.add("POST", "/api/v1/batches/:id/cancel", cancel_batch);
}

}  // namespace mq::api

// Dead letters of the caller's tenant: list, read, replay one or many.

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/core/log.hpp"
#include "mq/store/repositories.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

const std::string dead_letters_path = "/api/v1/dead-letters/";
const std::string tasks_path = "/api/v1/tasks/";

void list(services& s, const call_ptr& c) {
  auto page = read_page(s, c);
  if (!page) return;
  std::optional<bool> replayed;
  if (!read_flag(c, "replayed", replayed)) return;
  s.with_db(c, [c, page = *page, replayed](store::pg_session& db) {
    reply_page(c, store::list_dead_letters(db, c->tenant, replayed, {page.first, page.second}));
  });
}

void get_one(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "dead letter not found"));
  s.with_db(c, [c, id](store::pg_session& db) {
    auto d = store::get_dead_letter(db, c->tenant, id);
    if (!d) return c->fail(d.err());
    if (!*d) return c->fail(make_error(errc::not_found, "dead letter " + id + " not found"));
    c->reply(200, schemas::to_json(**d));
  });
}

/// {"requeued": n, "task_ids": [...], "skipped": [{"dead_letter_id", "reason"}]}
std::string replay_json(const store::replay_outcome& r) {
  json::writer w;
  w.begin_object();
  w.kv("requeued", static_cast<unsigned long>(r.requeued.size()));
  w.key("task_ids");
  w.begin_array();
  for (const auto& t : r.requeued) w.value(t.id);
  w.end_array();
  w.key("skipped");
  w.begin_array();
  for (const auto& [id, why] : r.skipped) {
    w.begin_object();
    w.kv("dead_letter_id", id);
    w.kv("reason", why);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

/// Shows the requeued tasks as queued in the cache (over their final dead entry), then
/// runs `next`; with Redis unavailable, runs `next` alone.
void show_requeued_then(services& s, const call_ptr& c, const std::vector<schemas::task_record>& tasks,
                        std::function<void()> next) {
  std::vector<store::result_cache::entry> entries;
  for (const auto& t : tasks)
    entries.push_back({s.keys.task(t.tenant_id, t.id), schemas::to_json(t), store::result_cache::write_mode::progress});
  auto shared = std::make_shared<std::function<void()>>(std::move(next));
  s.with_cache(
      c, [entries = std::move(entries), shared](store::result_cache& cache) {
        (void)cache.put(entries);
        (*shared)();
      },
      [shared] { (*shared)(); });
}

/// Replays, then answers 202 once the requeued tasks are confirmed by the broker
/// (`one`: the single dead letter asked for, 409 when it could not be replayed).
void replay(services& s, const call_ptr& c, std::vector<std::string> ids, int limit, bool one) {
  s.with_db(c, [&s, c, ids = std::move(ids), limit, one](store::pg_session& db) {
    auto r = store::replay_dead_letters(db, c->tenant, ids, limit);
    if (!r) return c->fail(r.err());
    if (one && r->requeued.empty()) {
      const auto& why = r->skipped.empty() ? std::string("not found") : r->skipped.front().second;
      if (why == "not found") return c->fail(make_error(errc::not_found, "dead letter " + ids.front() + " not found"));
      return c->fail(make_error(errc::conflict, "dead letter " + ids.front() + " cannot be replayed: " + why));
    }
    log::info("api", "dead letters replayed", {c->request_id, {}, c->tenant},
              {{"requeued", std::to_string(r->requeued.size())}, {"skipped", std::to_string(r->skipped.size())}});
    if (r->requeued.empty()) return c->reply(200, replay_json(*r));
    auto outcome = std::make_shared<store::replay_outcome>(std::move(*r));
    show_requeued_then(s, c, outcome->requeued, [&s, c, outcome, one] {
      publish_then_accept(s, c, outcome->requeued, outcome->outbox_id, [c, outcome, one] {
        std::vector<std::pair<std::string, std::string>> headers;
        if (one) headers.emplace_back("Location", tasks_path + outcome->requeued.front().id);
        c->reply(202, replay_json(*outcome), headers);
      });
    });
  });
}

void replay_one(services& s, const call_ptr& c) {
  const std::string id = c->params["id"];
  if (!is_uuid(id)) return c->fail(make_error(errc::not_found, "dead letter not found"));
  replay(s, c, {id}, 1, true);
}

void replay_many(services& s, const call_ptr& c) {
  auto doc = read_body(c, "requests/replay_dead_letters");
  if (!doc) return;
  const bool has_ids = doc->HasMember("dead_letter_ids");
  if (has_ids == doc->HasMember("all"))
    return c->fail(make_error(errc::validation_failed, "give either dead_letter_ids or \"all\": true"));
  const int max = s.cfg.api.max_batch_items;
  std::vector<std::string> ids;
  if (has_ids) {
    for (const auto& v : (*doc)["dead_letter_ids"].GetArray()) ids.emplace_back(v.GetString());
    if (ids.size() > static_cast<std::size_t>(max))
      return c->fail(make_error(errc::payload_too_large, "at most " + std::to_string(max) + " dead letters per replay"));
  }
  auto limit = json::get_int(*doc, "limit").value_or(max);
  replay(s, c, std::move(ids), static_cast<int>(std::min<std::int64_t>(limit, max)), false);
}

}  // namespace

void add_dead_letter_routes(router& r) {
  r.add("GET", "/api/v1/dead-letters", list);
  r.add("POST", "/api/v1/dead-letters/replay", replay_many);
  r.add("GET", "/api/v1/dead-letters/:id", get_one);
  r.add("POST", "/api/v1/dead-letters/:id/replay", replay_one);
}

}  // namespace mq::api

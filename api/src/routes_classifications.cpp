// Classification results: read (Redis first, then Postgres), list, delete.

#include "mq/store/repositories.hpp"
#include "router.hpp"
#include "services.hpp"

namespace mq::api {
namespace {

void get_classification(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["meetingId"]);
  if (!id) return c->fail(make_error(errc::not_found, "classification not found"));
  auto from_db = [&s, c, id = *id] {
    s.with_db(c, [c, id](store::pg_session& db) {
      auto k = store::get_classification(db, c->tenant, id);
      if (!k) return c->fail(k.err());
      if (!*k) return c->fail(make_error(errc::not_found, "meeting " + std::to_string(id) + " has no classification"));
      c->reply(200, schemas::to_json(**k));
    });
  };
  s.cached(s.keys.classification(c->tenant, *id), [c, from_db](std::optional<std::string> hit) {
    if (hit) return c->reply(200, std::move(*hit));
    from_db();
  });
}

void list_classifications(services& s, const call_ptr& c) {
  auto page = read_page(s, c);
  if (!page) return;
  s.with_db(c, [c, page = *page](store::pg_session& db) {
    reply_page(c, store::list_classifications(db, c->tenant, {page.first, page.second}));
  });
}

void delete_classification(services& s, const call_ptr& c) {
  auto id = parse_id(c->params["meetingId"]);
  if (!id) return c->fail(make_error(errc::not_found, "classification not found"));
  s.with_db(c, [&s, c, id = *id](store::pg_session& db) {
    auto deleted = store::delete_classification(db, c->tenant, id);
    if (!deleted) return c->fail(deleted.err());
    if (!*deleted)
      return c->fail(make_error(errc::not_found, "meeting " + std::to_string(id) + " has no classification"));
    auto key = s.keys.classification(c->tenant, id);
    // The cache must not keep serving it; if Redis is down its entry expires by TTL.
    s.with_cache(c, [c, key](store::result_cache& cache) {
      cache.del({key});
      c->no_content();
    }, [c] { c->no_content(); });
  });
}

}  // namespace

void add_classification_routes(router& r) {
  r.add("GET", "/api/v1/classifications", list_classifications);
  r.add("GET", "/api/v1/classifications/:meetingId", get_classification);
  r.add("GET", "/api/v1/workers/classifications", list_classifications);
  r.add("GET", "/api/v1/workers/classification/:meetingId", get_classification);
  r.add("DELETE", "/api/v1/workers/classification/:meetingId", delete_classification);
}

}  // namespace mq::api

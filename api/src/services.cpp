#include "services.hpp"

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/core/jwt.hpp"
#include "mq/core/time.hpp"
#include "mq/core/log.hpp"
#include "mq/queues/topology.hpp"
#include "mq/schemas/validator.hpp"
#include "mq/store/repositories.hpp"

namespace mq::api {

std::optional<std::string> auth_cache::find(const std::string& hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(hash);
  if (it == entries_.end() || it->second.second < std::chrono::steady_clock::now()) return std::nullopt;
  return it->second.first;
}

void auth_cache::remember(const std::string& hash, const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() > 100000) entries_.clear();
  entries_[hash] = {tenant, std::chrono::steady_clock::now() + ttl_};
}

services::services(const config::app_config& c)
    : cfg(c),
      db(static_cast<std::size_t>(c.api.pg_connections), static_cast<std::size_t>(c.api.max_pending_db_jobs),
         [conninfo = c.postgres.conninfo()] {
           // Prepared statements (the hot ones) get one generic plan; others are unaffected.
           return std::make_unique<store::pg_session>(conninfo, "SET plan_cache_mode = force_generic_plan");
         }),
      cache(2, static_cast<std::size_t>(c.api.max_pending_db_jobs),
            [redis = c.redis] { return store::make_redis_cache(redis); }),
      publisher(c.amqp, queues::topology{c.amqp.prefix}),
      keys{c.redis.key_prefix},
      auth(std::chrono::seconds(c.api.auth_cache_seconds)),
      limits(c.api.tenant_requests_per_second, c.api.tenant_burst),
      embedder(llm::make_client(c.llm)),
      classify(*this, std::string(schemas::kinds::classify_meeting)),
      cache_reads_(
          cache,
          [](store::result_cache& cache, std::vector<std::pair<std::string, cache_read_fn>>& reads) {
            std::vector<std::string> keys;
            keys.reserve(reads.size());
            for (const auto& r : reads) keys.push_back(r.first);
            auto values = cache.get_many(keys);
            for (std::size_t i = 0; i < reads.size(); ++i)
              reads[i].second(values ? std::move((*values)[i]) : std::nullopt);
          },
          [](std::vector<std::pair<std::string, cache_read_fn>>& refused) {
            for (auto& r : refused) r.second(std::nullopt);
          },
          512, 2) {}

namespace {
thread_local store::redis_reader* loop_reader = nullptr;
}

void services::use_reader(store::redis_reader* reader) { loop_reader = reader; }

void services::cached(std::string key, cache_read_fn done) {
  if (loop_reader) return loop_reader->get(key, std::move(done));
  cache_reads_.submit({std::move(key), std::move(done)});
}

void services::cache_put(std::vector<store::result_cache::entry> entries) {
  cache.submit([entries = std::move(entries)](store::result_cache& c) { c.put(entries); });
}

void services::with_db(const call_ptr& c, std::function<void(store::pg_session&)> fn) {
  if (!db.submit(std::move(fn)))
    c->fail(make_error(errc::unavailable, "server busy; retry later", "database queue full"));
}

void services::with_cache(const call_ptr&, std::function<void(store::result_cache&)> fn,
                          std::function<void()> fallback) {
  if (!cache.submit(std::move(fn))) fallback();
}

void services::publish_tasks(const std::vector<schemas::task_record>& tasks,
                             std::function<void(status)> done, std::string outbox_id) {
  std::vector<store::result_cache::entry> states;
  states.reserve(tasks.size());
  for (const auto& t : tasks)
    states.push_back({keys.task(t.tenant_id, t.id), schemas::to_json(t), store::result_cache::write_mode::first});
  auto msgs = queues::job_messages(tasks, cfg.amqp.group_size);
  publisher.publish(std::move(msgs), [this, outbox_id = std::move(outbox_id), states = std::move(states),
                                      done = std::move(done)](status st) mutable {
    if (st && !outbox_id.empty()) mark_published(std::move(outbox_id));
    // Polls of queued tasks are answered from the cache; a worker's newer state stays.
    if (st) cache_put(std::move(states));
    done(st);
  });
}

void services::mark_published(std::string outbox_id) {
  {
    std::lock_guard<std::mutex> lock(marks_mu_);
    marks_.push_back(std::move(outbox_id));
    if (marking_) return;
    marking_ = true;
  }
  // A mark lost to a full queue only means the relay republishes; workers dedupe.
  if (!db.submit([this](store::pg_session& s) { flush_marks(s); })) {
    std::lock_guard<std::mutex> lock(marks_mu_);
    marking_ = false;
  }
}

void services::flush_marks(store::pg_session& db) {
  for (;;) {
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lock(marks_mu_);
      if (marks_.empty()) {
        marking_ = false;
        return;
      }
      ids.swap(marks_);
    }
    auto marked = store::mark_published(db, ids);
    if (!marked) log::warn("outbox", "could not mark tasks published", {}, {{"error", marked.err().internal}});
  }
}

namespace {

/// Sets the call's tenant and runs `next`, unless the tenant is over its request rate.
void admit(services& s, const call_ptr& c, const std::string& tenant, const std::function<void()>& next) {
  c->tenant = tenant;
  if (auto wait = s.limits.admit(tenant); wait.count() > 0) {
    const auto seconds = (wait.count() + 999) / 1000;
    auto e = make_error(errc::rate_limited, "too many requests for this tenant; retry after " +
                                                std::to_string(seconds) + " s");
    return c->fail(e, static_cast<int>(seconds));
  }
  next();
}

/// Finds the tenant a credential stands for, remembered under `cache_key` once `lookup`
/// (run on a database thread; nullopt: no such tenant) found it, then admits the call.
void resolve_tenant(services& s, const call_ptr& c, std::string cache_key,
                    std::function<result<std::optional<std::string>>(store::pg_session&)> lookup, std::string unknown,
                    std::function<void()> next) {
  if (auto tenant = s.auth.find(cache_key)) return admit(s, c, *tenant, next);
  s.with_db(c, [&s, c, cache_key = std::move(cache_key), lookup = std::move(lookup), unknown = std::move(unknown),
                next = std::move(next)](store::pg_session& db) {
    auto tenant = lookup(db);
    if (!tenant) return c->fail(tenant.err());
    if (!*tenant) return c->fail(make_error(errc::unauthorized, unknown));
    s.auth.remember(cache_key, **tenant);
    admit(s, c, **tenant, next);
  });
}

/// A JWT bearer: checked offline, then its tenant_id must name a tenant.
void authenticate_token(services& s, const call_ptr& c, const std::string& token, std::function<void()> next) {
  const auto& api = s.cfg.api;
  auto claims = jwt::verify_hs256(token, api.jwt_secret,
                                  {system_now(), std::chrono::seconds(api.jwt_leeway_seconds), api.jwt_issuer});
  if (!claims) return c->fail(claims.err());
  auto tenant = json::get_string(*claims, "tenant_id");
  if (!tenant || !is_uuid(*tenant))
    return c->fail(make_error(errc::unauthorized, "invalid token: tenant_id must be a tenant's id"));
  resolve_tenant(
      s, c, "tenant:" + *tenant,
      [tenant = *tenant](store::pg_session& db) -> result<std::optional<std::string>> {
        auto exists = store::tenant_exists(db, tenant);
        if (!exists) return exists.err();
        return *exists ? std::optional<std::string>(tenant) : std::nullopt;
      },
      "invalid token: unknown tenant", std::move(next));
}

}  // namespace

void authenticate(services& s, const call_ptr& c, std::function<void()> next) {
  const std::string header = c->req.header("authorization");
  const std::string prefix = "Bearer ";
  if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0)
    return c->fail(make_error(errc::unauthorized, "missing bearer API key or token"));
  const std::string credential = header.substr(prefix.size());
  if (jwt::looks_like_jwt(credential)) return authenticate_token(s, c, credential, std::move(next));
  const std::string hash = sha256_hex(credential);
  resolve_tenant(
      s, c, hash, [hash](store::pg_session& db) { return store::tenant_for_key_hash(db, hash); }, "unknown API key",
      std::move(next));
}

std::optional<rapidjson::Document> parse_body(const call_ptr& c) {
  const std::string type = c->req.header("content-type");
  if (!type.empty() && type.find("json") == std::string::npos) {
    c->fail(make_error(errc::unsupported_media_type, "send the body as Content-Type: application/json"));
    return std::nullopt;
  }
  // The server takes bodies up to the document limit; JSON has its own.
  if (c->req.body.size() > c->json_limit) {
    c->fail(make_error(errc::payload_too_large, "request body exceeds the configured limit"));
    return std::nullopt;
  }
  auto doc = json::parse(c->req.body);
  if (!doc) {
    c->fail(doc.err());
    return std::nullopt;
  }
  if (auto where = json::find_nul(*doc)) {
    auto e = make_error(errc::validation_failed,
                        "text at " + *where + " holds a NUL character, which cannot be stored");
    e.details = "{\"field\":" + json::quote(*where) + ",\"rule\":\"no_nul\"}";
    c->fail(e);
    return std::nullopt;
  }
  return std::move(*doc);
}

bool check_schema(const call_ptr& c, const char* schema, const rapidjson::Value& v,
                  const std::string& pointer_prefix) {
  auto bad = schemas::validate(schema, v);
  if (!bad) return true;
  auto e = make_error(errc::validation_failed,
                      pointer_prefix.empty() ? bad->message : pointer_prefix + bad->message);
  e.details = "{\"field\":" + json::quote(pointer_prefix + bad->pointer) +
              ",\"rule\":" + json::quote(bad->keyword) + "}";
  c->fail(e);
  return false;
}

std::optional<rapidjson::Document> read_body(const call_ptr& c, const char* schema) {
  auto doc = parse_body(c);
  if (!doc || !check_schema(c, schema, *doc)) return std::nullopt;
  return doc;
}

std::optional<std::pair<int, int>> read_page(const services& s, const call_ptr& c) {
  int page = 1, size = s.cfg.api.default_page_size;
  std::string v;
  auto bad = [&](const char* name) {
    c->fail(make_error(errc::invalid_parameter,
                       std::string(name) + " must be a positive integer" +
                           (std::string(name) == "page_size"
                                ? " up to " + std::to_string(s.cfg.api.max_page_size)
                                : std::string())));
    return std::nullopt;
  };
  if (c->req.query_param("page", v)) {
    auto n = parse_id(v);
    if (!n || *n > 1000000) return bad("page");
    page = static_cast<int>(*n);
  }
  if (c->req.query_param("page_size", v) || c->req.query_param("limit", v)) {
    auto n = parse_id(v);
    if (!n || *n > s.cfg.api.max_page_size) return bad("page_size");
    size = static_cast<int>(*n);
  }
  return std::make_pair(page, size);
}

error bad_parameter(const std::string& name, const std::string& message) {
  auto e = make_error(errc::invalid_parameter, message);
  e.details = "{\"parameter\":" + json::quote(name) + "}";
  return e;
}

std::string page_json(const std::vector<std::string>& items, int page, int page_size, long long total) {
  json::writer w;
  w.begin_object();
  w.key("items");
  w.begin_array();
  for (const auto& i : items) w.raw(i);
  w.end_array();
  w.kv("page", page);
  w.kv("page_size", page_size);
  w.kv("total", total);
  w.end_object();
  return w.take();
}

void publish_then_accept(services& s, const call_ptr& c, std::vector<schemas::task_record> tasks,
                         std::string outbox_id, std::function<void()> accept) {
  auto unconfirmed = stored_but_unconfirmed(s, tasks);
  s.publish_tasks(tasks, [c, accept = std::move(accept), unconfirmed = std::move(unconfirmed)](status st) mutable {
    if (!st) {
      unconfirmed.internal = st.err().internal;
      return c->fail(unconfirmed);
    }
    accept();
  }, std::move(outbox_id));
}

error stored_but_unconfirmed(const services& s, const std::vector<schemas::task_record>& tasks) {
  auto e = make_error(errc::unavailable,
                      "the job is stored but the broker did not confirm it yet; it is published within " +
                          std::to_string(s.cfg.api.outbox_grace_seconds + 2) +
                          " s: poll it (retrying the request while it is unfinished returns the same task)");
  json::writer w;
  w.begin_object();
  if (tasks.size() == 1) {
    w.kv("task_id", tasks[0].id);
    w.kv("status_url", "/api/v1/tasks/" + tasks[0].id);
  } else if (!tasks.empty() && tasks[0].batch_id) {
    w.kv("batch_id", *tasks[0].batch_id);
    w.kv("status_url", "/api/v1/batches/" + *tasks[0].batch_id);
  }
  w.end_object();
  e.details = w.take();
  return e;
}

bool read_flag(const call_ptr& c, const char* name, std::optional<bool>& out) {
  std::string v;
  if (!c->req.query_param(name, v)) return true;
  if (v != "true" && v != "false") {
    c->fail(make_error(errc::invalid_parameter, std::string(name) + " must be true or false"));
    return false;
  }
  out = v == "true";
  return true;
}

}  // namespace mq::api

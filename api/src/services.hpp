#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "acceptor.hpp"
#include "call.hpp"
#include "tenant_limiter.hpp"
#include "vector_index.hpp"
#include "mq/llm/client.hpp"
#include "mq/config/config.hpp"
#include "mq/core/blocking_pool.hpp"
#include "mq/queues/amqp.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/redis_reader.hpp"
#include "mq/store/result_cache.hpp"

namespace mq::api {

/// API keys already checked, by SHA-256, for auth_cache_seconds.
class auth_cache {
 public:
  explicit auth_cache(std::chrono::seconds ttl) : ttl_(ttl) {}
  std::optional<std::string> find(const std::string& hash);
  void remember(const std::string& hash, const std::string& tenant);

 private:
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, std::pair<std::string, steady_time>> entries_;
};

/// Everything handlers use. Blocking clients live on their own threads: Postgres and
/// Redis in pools of threads that own one session each, RabbitMQ in the publisher thread.
struct services {
  using cache_read_fn = std::function<void(std::optional<std::string>)>;

  explicit services(const config::app_config& cfg);

  const config::app_config& cfg;
  blocking_pool<store::pg_session> db;
  blocking_pool<store::result_cache> cache;
  queues::publisher publisher;
  store::cache_keys keys;
  auth_cache auth;
  tenant_limiter limits;
  std::shared_ptr<llm::llm_client> embedder;  ///< Embeds search queries (the workers' provider).
  vector_index vectors;                       ///< Tenants' chunk vectors for search.
  acceptor classify;  ///< Group commit of single classification jobs.

  /// Runs `fn` on a database thread; answers 503 at once if too much is queued.
  void with_db(const call_ptr& c, std::function<void(store::pg_session&)> fn);
  /// Runs `fn` on a cache thread; runs `fallback` instead if that pool is saturated.
  void with_cache(const call_ptr& c, std::function<void(store::result_cache&)> fn,
                  std::function<void()> fallback);
  /// Reads `key` from the cache; `done` gets the value, or nullopt on a miss or with Redis
  /// unavailable or saturated (then Postgres answers). On an event loop thread with a
  /// reader of its own (use_reader) the read stays on that thread and `done` runs there;
  /// elsewhere it joins the reads that arrive meanwhile in one MGET on a cache thread.
  void cached(std::string key, cache_read_fn done);
  /// Gives the calling thread a Redis reader that cached() uses (nullptr: none). The
  /// thread runs the reader's event loop; the reader outlives this thread's calls.
  static void use_reader(store::redis_reader* reader);
  /// Writes `entries` to the cache in the background; a failed write only costs a miss.
  void cache_put(std::vector<store::result_cache::entry> entries);

  /// Publishes the tasks' envelopes with confirms, then calls `done` (on the publisher
  /// thread). Once confirmed, their outbox group is deleted and their queued state cached.
  void publish_tasks(const std::vector<schemas::task_record>& tasks, std::function<void(status)> done,
                     std::string outbox_id);

 private:
  /// Deletes confirmed outbox groups: all that accumulated while the last delete ran go
  /// in the next one.
  void mark_published(std::string outbox_id);
  void flush_marks(store::pg_session& db);

  group_runner<store::result_cache, std::pair<std::string, cache_read_fn>> cache_reads_;
  std::mutex marks_mu_;
  std::vector<std::string> marks_;
  bool marking_ = false;
};

/// Authenticates the call's bearer key (401 on failure), then runs `next` with
/// c->tenant set.
void authenticate(services& s, const call_ptr& c, std::function<void()> next);

/// Checks Content-Type (415), parses the body (400 when malformed) and rejects NUL
/// characters (422). Replies and returns nullopt on failure.
std::optional<rapidjson::Document> parse_body(const call_ptr& c);

/// Validates `v` against `schema`; replies 422 naming the field (prefixed with
/// `pointer_prefix`) and returns false on failure.
bool check_schema(const call_ptr& c, const char* schema, const rapidjson::Value& v,
                  const std::string& pointer_prefix = "");

/// parse_body() then check_schema() on the whole body.
std::optional<rapidjson::Document> read_body(const call_ptr& c, const char* schema);

/// Runs `accept` once `tasks` are confirmed by the broker; answers 503 when the broker
/// did not confirm (the committed tasks stay in the outbox and the relay publishes them).
void publish_then_accept(services& s, const call_ptr& c, std::vector<schemas::task_record> tasks,
                         std::string outbox_id, std::function<void()> accept);

/// The 503 for tasks that are committed (in the outbox) but whose publish the broker did
/// not confirm: says when the relay publishes them and names the task or batch to poll.
error stored_but_unconfirmed(const services& s, const std::vector<schemas::task_record>& tasks);

/// Reads the optional boolean query parameter `name` into `out`; replies 400 and returns
/// false when it is neither true nor false.
bool read_flag(const call_ptr& c, const char* name, std::optional<bool>& out);

/// Reads page and page_size query parameters (400 when malformed or out of range).
std::optional<std::pair<int, int>> read_page(const services& s, const call_ptr& c);

/// {"items":[...],"page":..,"page_size":..,"total":..} from already-serialized items.
/// A 400 naming the query parameter in its details ({"parameter": name}).
error bad_parameter(const std::string& name, const std::string& message);

std::string page_json(const std::vector<std::string>& items, int page, int page_size, long long total);

/// Replies with one page of records (each serialized by schemas::to_json), or the error.
template <class Page>
void reply_page(const call_ptr& c, const result<Page>& rows) {
  if (!rows) return c->fail(rows.err());
  std::vector<std::string> items;
  for (const auto& item : rows->items) items.push_back(schemas::to_json(item));
  c->reply(200, page_json(items, rows->page_number, rows->page_size, rows->total));
}

}  // namespace mq::api

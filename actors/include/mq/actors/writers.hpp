#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "mq/actors/actors.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/rate_limiter.hpp"

namespace mq::actors {

/// State of a Postgres writer: its store and the requests waiting for the next flush.
struct pg_state {
  std::unique_ptr<store::job_store> store;
  std::vector<std::pair<store::claim_request, caf::typed_response_promise<claim_reply>>> claims;
  std::vector<std::pair<store::completion, caf::typed_response_promise<complete_reply>>> completions;
  bool flush_queued = false;
  static inline const char* name = "pg_writer";
};

/// Postgres writer behavior (spawn detached). `make_store` runs on the actor's own
/// thread, so the connection belongs to that thread. Requests arriving together are
/// written in one statement: the flush message queues behind them in the mailbox.
pg_actor::behavior_type pg_writer(pg_actor::stateful_pointer<pg_state> self,
                                  std::function<std::unique_ptr<store::job_store>()> make_store);

/// State of the documents actor: its own connection.
struct documents_state {
  std::unique_ptr<store::pg_session> db;
  static inline const char* name = "documents";
};

/// Documents actor behavior (spawn detached); the session is made on its own thread.
documents_actor::behavior_type documents_writer(documents_actor::stateful_pointer<documents_state> self,
                                                std::string conninfo);

/// State of the campaigns actor: its own connection and the loads and sending marks
/// waiting for the next flush.
struct campaigns_state {
  std::unique_ptr<store::pg_session> db;
  std::vector<std::pair<std::int64_t, caf::typed_response_promise<delivery_reply>>> loads;
  std::vector<std::pair<store::sending_request, caf::typed_response_promise<sending_reply>>> sendings;
  bool flush_queued = false;
  static inline const char* name = "campaigns";
};

/// Campaigns actor behavior (spawn detached); the session is made on its own thread.
campaigns_actor::behavior_type campaigns_writer(campaigns_actor::stateful_pointer<campaigns_state> self,
                                                std::string conninfo);

/// State of the analytics actor: its own connection.
struct analytics_state {
  std::unique_ptr<store::pg_session> db;
  static inline const char* name = "analytics";
};

/// Analytics actor behavior (spawn detached); the session is made on its own thread.
analytics_actor::behavior_type analytics_writer(analytics_actor::stateful_pointer<analytics_state> self,
                                                std::string conninfo);

/// State of the send limiter.
struct send_limiter_state {
  std::unique_ptr<store::send_limiter> limiter;
  static inline const char* name = "send_limiter";
};

/// Send limiter behavior (spawn detached); `make` runs on the actor's own thread.
send_limiter_actor::behavior_type send_limiter(send_limiter_actor::stateful_pointer<send_limiter_state> self,
                                               std::function<std::unique_ptr<store::send_limiter>()> make);

/// State of the cache writer.
struct cache_state {
  std::unique_ptr<store::result_cache> cache;
  cache_entries pending;
  std::vector<caf::typed_response_promise<bool>> waiting;
  bool flush_queued = false;
  static inline const char* name = "cache_writer";
};

/// Unix milliseconds until which a provider 429 holds every call back; shared by the
/// limiter (writer) and the jobs (readers) when no limits are configured, so a call
/// then needs no round trip to the limiter.
using shared_hold = std::shared_ptr<std::atomic<std::int64_t>>;

/// State of the rate limiter.
struct limiter_state {
  shared_hold hold;
  std::unique_ptr<store::rate_limiter> limiter;
  std::vector<std::pair<store::limit_request, caf::typed_response_promise<std::int64_t>>> waiting;
  bool flush_queued = false;
  static inline const char* name = "limiter";
};

/// Rate limiter behavior (spawn detached); batches acquisitions like pg_writer. With
/// `hold` (no limits configured) it refreshes the shared hold from Redis every 200 ms.
limiter_actor::behavior_type limiter(limiter_actor::stateful_pointer<limiter_state> self,
                                     std::function<std::unique_ptr<store::rate_limiter>()> make_limiter,
                                     shared_hold hold);

/// Redis cache writer behavior (spawn detached); batches like pg_writer.
cache_actor::behavior_type cache_writer(cache_actor::stateful_pointer<cache_state> self,
                                        std::function<std::unique_ptr<store::result_cache>()> make_cache);

}  // namespace mq::actors

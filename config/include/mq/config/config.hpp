#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "mq/core/error.hpp"

namespace mq::config {

/// HTTP ingress (mq-api).
struct http_config {
  std::string host;                  ///< Address to listen on.
  int port = 0;                      ///< Port to listen on.
  int threads = 0;                   ///< I/O threads.
  std::int64_t body_limit_bytes = 0; ///< Largest body; 413 beyond.
  int idle_timeout_seconds = 0;      ///< Idle connection timeout.
};

/// Request limits and the API's own resources.
struct api_config {
  int max_batch_items = 0;        ///< Items per batch request; 413 beyond.
  int enqueue_chunk = 0;          ///< Meetings queue-unclassified commits (and publishes) at a time.
  int default_page_size = 0;      ///< Page size when none is asked.
  int max_page_size = 0;          ///< Largest page size.
  int pg_connections = 0;         ///< Postgres connections of mq-api.
  int max_pending_db_jobs = 0;    ///< Queue bound before 503.
  int auth_cache_seconds = 0;     ///< API key cache lifetime.
  int outbox_grace_seconds = 0;   ///< Age after which an unconfirmed task is republished.
  int outbox_interval_ms = 0;     ///< Outbox relay period.
  std::string jwt_secret;         ///< HS256 secret; empty: tokens refused (API keys only).
  std::string jwt_issuer;         ///< When set, tokens must carry this "iss".
  int jwt_leeway_seconds = 0;     ///< Clock skew tolerated on exp, nbf, iat.
  double tenant_requests_per_second = 0;  ///< Per tenant and mq-api process; 0: unlimited.
  int tenant_burst = 0;           ///< Requests a tenant may send at once above the rate.
};

/// Document processing.
struct documents_config {
  int max_bytes = 0;         ///< Largest upload; 413 beyond.
  int chunk_size = 0;        ///< Most characters per chunk.
  int chunk_overlap = 0;     ///< Characters a chunk repeats from the one before.
  int embed_batch_size = 0;  ///< Chunks per embeddings call.
};

/// Campaign sends: the channels and how deliveries are paced and retried.
struct campaigns_config {
  std::string webhook_url;       ///< Where webhook messages are POSTed; empty: no webhook channel.
  std::string webhook_token;     ///< Secret: MQ_CAMPAIGNS_WEBHOOK_TOKEN only (sent as a bearer token).
  std::string webhook_secret;    ///< Secret: MQ_CAMPAIGNS_WEBHOOK_SECRET only (HMAC signature).
  int webhook_timeout_ms = 0;
  std::string smtp_url;          ///< smtp://host:port or smtps://...; empty: no smtp channel.
  std::string smtp_from;         ///< Envelope sender and From header.
  std::string smtp_user;
  std::string smtp_password;     ///< Secret: MQ_CAMPAIGNS_SMTP_PASSWORD only.
  int smtp_timeout_ms = 0;
  int smtp_connections = 0;      ///< SMTP sessions one replica holds (one thread each).
  int webhook_per_minute = 0;    ///< Across replicas; 0 = no limit.
  int smtp_per_minute = 0;       ///< Across replicas; 0 = no limit.
  int max_attempts = 0;          ///< Send attempts per message before it fails.
  int backoff_base_ms = 0;
  int backoff_max_ms = 0;
  int max_recipients = 0;        ///< Largest audience of one campaign.

  /// Whether `channel` (webhook, smtp) has what it needs to send.
  bool configured(const std::string& channel) const {
    return channel == "webhook" ? !webhook_url.empty() : channel == "smtp" ? !smtp_url.empty() && !smtp_from.empty() : false;
  }
};

/// Analytics rollups.
struct analytics_config {
  int rollup_every_seconds = 0;  ///< How often workers roll every tenant up; 0 = never on their own.
};

/// Postgres, the source of truth.
struct postgres_config {
  std::string host;
  int port = 0;
  std::string dbname;
  std::string user;
  std::string password;  ///< Secret: MQ_POSTGRES_PASSWORD only.
  std::string schema;    ///< Schema holding the tables (tests use one each).
  int connect_timeout_seconds = 0;
  bool migrate_on_start = false;

  /// libpq connection string with search_path set to `schema`.
  std::string conninfo() const;
};

/// Redis, the result cache.
struct redis_config {
  std::string host;
  int port = 0;
  std::string password;  ///< Secret: MQ_REDIS_PASSWORD only.
  std::string key_prefix;
  int ttl_seconds = 0;
  int progress_ttl_seconds = 0;
  int timeout_ms = 0;
};

/// RabbitMQ.
struct amqp_config {
  std::string host;
  int port = 0;
  std::string user;
  std::string password;  ///< Secret: MQ_AMQP_PASSWORD only.
  std::string vhost;
  std::string prefix;    ///< Prefix of exchange and queue names (tests use one each).
  int heartbeat_seconds = 0;
  int delivery_limit = 0;
  int group_size = 0;    ///< Most tasks in one bulk message (1: one message per task).
  int confirm_timeout_ms = 0;
  int connect_timeout_ms = 0;
};

/// One worker replica.
struct worker_config {
  int prefetch = 0;
  int threads = 0;
  std::string scheduler;          ///< CAF scheduling policy: "sharing" or "stealing".
  int nice = 0;                   ///< CPU priority of every thread, as nice(1) counts.
  int pg_connections = 0;
  int drain_seconds = 0;
  int running_after_ms = 0;       ///< A lazily claimed classification is recorded running after this.
  int heartbeat_seconds = 0;      ///< Between heartbeats in Redis.
  int heartbeat_ttl_seconds = 0;  ///< A replica silent this long is gone.
  std::string metrics_host;       ///< Address of /metrics, /health and /ready.
  int metrics_port = 0;           ///< -1 turns the port off; 0 picks a free one.
};

/// The LLM provider.
struct llm_config {
  std::string provider;         ///< "offline" or "openai".
  std::string base_url;
  std::string model;
  std::string api_key;          ///< Secret: MQ_LLM_API_KEY only.
  std::string response_format;  ///< "json_schema", "json_object" or "prompt".
  std::string http_client;      ///< "auto" (plain HTTP/1.1 where it can) or "curl" (libcurl for all).
  double temperature = 0;
  int max_tokens = 0;
  int max_attempts = 0;
  int backoff_base_ms = 0;
  int backoff_max_ms = 0;
  int connect_timeout_ms = 0;
  int first_byte_timeout_ms = 0;
  int idle_timeout_ms = 0;
  int request_timeout_ms = 0;
  std::int64_t max_response_bytes = 0;
  int max_in_flight = 0;
  int hold_max_ms = 0;          ///< Longest retry wait that holds the delivery.
  std::string embedding_model;
  int embedding_dimensions = 0;
  int requests_per_minute = 0;  ///< Shared limits; 0 means none.
  int tokens_per_minute = 0;
  int tenant_requests_per_minute = 0;
  int tenant_tokens_per_minute = 0;
  int rate_burst_seconds = 0;
  int penalty_seconds = 0;
  double penalty_factor = 0;

  bool rate_limited() const {
    return requests_per_minute > 0 || tokens_per_minute > 0 || tenant_requests_per_minute > 0 ||
           tenant_tokens_per_minute > 0;
  }
};

/// US dollars per million tokens of one model.
struct price {
  double input = 0;
  double output = 0;
};

/// Price table by model name.
struct prices_config {
  std::map<std::string, price> by_model;
  /// Estimated cost in USD of `tokens_in` and `tokens_out` with `model` (0 if unlisted).
  double cost(const std::string& model, long long tokens_in, long long tokens_out) const;
};

/// Logging.
struct log_config {
  std::string level;
};

/// Everything, loaded once in main and passed down by const&.
struct app_config {
  http_config http;
  api_config api;
  postgres_config postgres;
  redis_config redis;
  amqp_config amqp;
  worker_config worker;
  documents_config documents;
  campaigns_config campaigns;
  analytics_config analytics;
  llm_config llm;
  prices_config prices;
  log_config log;
};

/// Builds the configuration: the embedded config/default.yaml, overlaid by the YAML
/// file at `overlay_path` (if not empty), overlaid by `env` entries named
/// MQ_<SECTION>_<KEY>. Every problem found (unknown key, bad type, value out of range,
/// secret in a file) is reported in one errc::validation_failed error, one per line.
result<app_config> load(const std::string& overlay_path,
                        const std::map<std::string, std::string>& env);

/// The process environment as a map (for load()).
std::map<std::string, std::string> process_env();

/// load() with the process environment and MQ_CONFIG (or `--config <file>` in argv)
/// as the overlay; prints the errors and exits with status 2 when loading fails.
/// Then names the process `service` in the logs and sets the configured log level.
app_config load_or_exit(int argc, char** argv, const char* service);

/// The text of the embedded default.yaml.
const std::string& default_yaml();

}  // namespace mq::config

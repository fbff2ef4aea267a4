#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mq/core/error.hpp"

namespace mq::schemas {

/// Lifecycle of a task: queued -> running -> succeeded | failed, with retrying between
/// attempts, dead once dead-lettered, and cancelled on request.
enum class task_status { queued, running, retrying, succeeded, failed, dead, cancelled };

const char* to_string(task_status s);
std::optional<task_status> parse_task_status(std::string_view s);
/// succeeded, failed, dead and cancelled never change again.
bool is_terminal(task_status s);

/// Job kinds; each has its own queue.
namespace kinds {
inline constexpr std::string_view classify_meeting = "classify_meeting";
inline constexpr std::string_view process_document = "process_document";
inline constexpr std::string_view start_campaign = "start_campaign";  ///< Fans a campaign out.
inline constexpr std::string_view send_message = "send_message";      ///< One campaign recipient.
inline constexpr std::string_view rollup_analytics = "rollup_analytics";  ///< A tenant's KPI rollups.
}

/// The body of a job message (json/envelope.schema.json).
struct envelope {
  std::string task_id;
  std::string tenant_id;
  std::string kind;
  std::int64_t subject_id = 0;  ///< The meeting, document, ... the task works on.
  std::string batch_id;         ///< Empty when the task is not part of a batch.
  std::string request_id;       ///< X-Request-ID of the HTTP request that created it.
  int attempt = 0;              ///< Failed LLM calls already spent (carried by delayed retries).
  std::int64_t not_before = 0;  ///< Unix ms before which it must not run; 0 = now.
  /// Deliveries the task already had inside a bulk message that came back and was split
  /// (see workers/bulk.hpp): when above 0 this message may take over the task from a
  /// worker that died running it, as a redelivered message may, and they count towards
  /// the delivery limit.
  int deliveries = 0;
};

std::string encode(const envelope& e);
/// Parses and validates a message body; errc::poison if it can never be processed.
result<envelope> decode_envelope(std::string_view body);

/// The body of a bulk message (json/envelope_group.schema.json): the tasks of `group`,
/// which share their tenant, kind, batch and not-before time (the first one's are
/// written; attempt and deliveries are not carried). A task whose request id is not the
/// first one's carries its own.
std::string encode_group(const std::vector<envelope>& group);
/// Parses and validates a bulk message body into one envelope per task; errc::poison if
/// it can never be processed.
result<std::vector<envelope>> decode_group(std::string_view body);

/// A task as stored (tasks table) and as shown to clients.
struct task_record {
  std::string id;
  std::string tenant_id;
  std::string kind;
  std::int64_t subject_id = 0;
  std::optional<std::string> batch_id;
  task_status status = task_status::queued;
  int attempts = 0;
  std::optional<std::string> error_code;
  std::optional<std::string> error;
  std::optional<std::string> result_json;  ///< Serialized JSON of the outcome.
  std::optional<std::string> request_id;
  std::optional<std::string> next_attempt_at;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  int llm_calls = 0;          ///< LLM calls over all attempts.
  long long tokens_in = 0;
  long long tokens_out = 0;
  double cost_usd = 0;        ///< Estimated from the configured price table.
};

/// The task's public JSON, the same whether it is read from Redis or Postgres.
std::string to_json(const task_record& t);

/// Counts of a batch's tasks by state (queued holds every unfinished task unless the
/// split was asked for).
struct batch_record {
  std::string id;
  std::string tenant_id;
  std::string kind;
  int total = 0;
  int queued = 0, running = 0, retrying = 0, succeeded = 0, failed = 0, dead = 0, cancelled = 0;
  std::optional<std::string> request_id;
  std::string created_at;
  int llm_calls = 0;
  long long tokens_in = 0, tokens_out = 0;
  double cost_usd = 0;
  int pending() const { return queued + running + retrying; }
};

/// The batch's JSON; `by_state` adds the split of unfinished tasks.
std::string to_json(const batch_record& b, bool by_state = false);

/// How an LLM answer was produced; stored with every result.
struct llm_usage {
  std::string provider;
  std::string model;
  std::string prompt_version;
  std::string taxonomy_version;
  int tokens_in = 0;
  int tokens_out = 0;
  int latency_ms = 0;
  int calls = 0;  ///< LLM calls made for the answer, retries included.
};

/// A stored classification with how it was produced.
struct classification_record {
  std::int64_t meeting_id = 0;
  std::string tenant_id;
  std::string task_id;
  std::string result_json;  ///< The validated LLM answer.
  llm_usage usage;
  std::string created_at;
  std::string updated_at;
};

std::string to_json(const classification_record& c);

/// A message that reached the dead-letter queue, as recorded. tenant_id and task_id are
/// set only when it named a task of that tenant.
struct dead_letter_record {
  std::string id;
  std::optional<std::string> tenant_id;
  std::optional<std::string> task_id;
  std::optional<std::string> kind;
  std::string queue;
  std::string reason;        ///< poison, delivery_limit, rejected, expired, ...
  std::string error_code;
  std::string error;
  int deliveries = 0;
  std::string history_json = "[]";  ///< Serialized JSON array: how it got here.
  std::string body_preview;
  int body_bytes = 0;
  std::optional<std::string> request_id;
  std::string created_at;
  std::optional<std::string> replayed_at;
  int replays = 0;
  std::optional<std::string> task_status;  ///< The task's state now (when it has one).
};

std::string to_json(const dead_letter_record& d);

/// A document and its processing result (the seed's Document Processing Result).
struct document_record {
  std::int64_t id = 0;
  std::string tenant_id;
  std::string title;
  std::optional<std::string> description;
  std::optional<std::string> filename;
  std::string mime_type;
  int size_bytes = 0;
  std::string content_hash;
  std::string metadata_json = "{}";  ///< The client's metadata (a JSON object).
  std::string status = "pending";    ///< pending, processing, completed, failed
  int total_chunks = 0;
  int chunks_done = 0;
  std::optional<std::string> error_message;
  std::optional<double> processing_time_seconds;
  std::optional<std::string> task_id;
  std::string created_at;
  std::string updated_at;
};

/// The document's JSON: metadata holds the client's keys plus file_size, mime_type and
/// chunk_count.
std::string to_json(const document_record& d);

/// What a meeting's classification is told about it: loaded by the claim, written into
/// the prompt (and read back from it by the offline provider).
struct meeting_facts {
  std::string transcript;
  std::string client_name;   ///< "" without a client.
  std::string seller_name;   ///< "" without a seller.
  std::string meeting_date;  ///< YYYY-MM-DD, or "".
  bool closed = false;
};

/// A meeting with its client and seller.
struct meeting_record {
  std::int64_t id = 0;
  std::optional<std::int64_t> client_id;
  std::optional<std::string> client_name;
  std::optional<std::string> client_email;
  std::optional<std::int64_t> seller_id;
  std::optional<std::string> seller_name;
  std::optional<std::string> meeting_date;
  bool closed = false;
  bool classified = false;
  std::string transcript;
  std::string created_at;
};

std::string to_json(const meeting_record& m);

}  // namespace mq::schemas

#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/schemas/types.hpp"

namespace mq::store {

/// What a claim found.
enum class claim_outcome {
  run,       ///< The task is now running under the returned attempt number.
  finished,  ///< The task already reached a final state: ack the delivery, do nothing.
  busy,      ///< Another delivery of it is running and this one is a duplicate, not a redelivery.
  missing,   ///< No such task for that tenant: the message is stale or forged.
};

/// One delivery asking to run its task.
struct claim_request {
  schemas::envelope envelope;
  /// The broker redelivered it (its holder died or gave it back), so it may take over a
  /// task still marked running; a fresh duplicate (an outbox republish) may not.
  bool redelivered = false;
};

struct claim_result {
  claim_outcome outcome = claim_outcome::missing;
  schemas::task_record task;  ///< The task after the claim (valid unless missing).
  /// A classification claimed without a write: the row stays queued (or retrying) until
  /// the outcome, or until mark_running records it running. `task` shows it running
  /// under its next attempt number all the same.
  bool lazy = false;
  bool subject_found = false; ///< Whether the task's subject (meeting, ...) still exists.
  std::optional<schemas::meeting_facts> meeting;  ///< classify_meeting: the meeting, when found.
};

/// The outcome of one attempt, to record.
struct completion {
  std::string task_id;
  int attempt = 0;  ///< The attempt number the claim returned; a stale attempt is ignored.
  /// succeeded or failed (final); retrying (a fault, tried again later) or queued
  /// (deferred by our own rate limit) with `retry_in_ms`.
  schemas::task_status status = schemas::task_status::failed;
  std::string result_json;  ///< For succeeded: the validated result.
  std::string error_code;   ///< For failed and retrying: errc name.
  std::string error;        ///< For failed and retrying: message for the client.
  std::int64_t retry_in_ms = -1;  ///< For retrying and queued: when the next attempt is due.
  schemas::llm_usage usage;       ///< LLM calls and tokens of this attempt (added to the task's).
  double cost_usd = 0;            ///< Their estimated cost.
  /// When the job claimed the task (Unix ms): the start of an attempt whose claim wrote nothing.
  std::int64_t started_ms = 0;
  /// send_message: the ledger row to settle with the task. `result_json` then carries
  /// delivery_state (sent, failed or unknown) and response_code, whatever the status.
  std::int64_t delivery_id = 0;
};

/// What recording a completion did.
struct completed {
  bool applied = false;  ///< False when a newer attempt owns the task or it was finished.
  schemas::task_record task;  ///< The task as now stored (when applied).
  std::optional<schemas::classification_record> classification;  ///< Written alongside.
};

/// A lazily claimed task whose job has run long enough to be recorded running.
struct running_mark {
  std::string task_id;
  int attempt = 0;              ///< The attempt its claim returned.
  std::int64_t started_ms = 0;  ///< When it was claimed (Unix ms).
};

/// A message taken from the dead-letter queue, to record.
struct dead_letter {
  std::string dedup_key;  ///< The same dead letter delivered again records nothing.
  std::optional<schemas::envelope> envelope;  ///< When the body is a valid envelope.
  std::string queue;       ///< The queue it died in.
  std::string reason;      ///< poison, delivery_limit, rejected, expired, ...
  std::string error_code;
  std::string error;
  int deliveries = 0;
  std::string history_json = "[]";
  std::string body;
};

/// The worker's view of Postgres: claim tasks, record their outcomes. Both calls take
/// many items so the caller can batch; results come back in input order. Blocking: call
/// only from the thread or detached actor that owns the store.
class job_store {
 public:
  virtual ~job_store() = default;

  /// Moves each task to running (attempt + 1) unless it is finished or running under a
  /// delivery this one does not replace; loads its input. A queued or retrying
  /// classification is claimed lazily: read, not written (claim_result::lazy). Most take
  /// less time than a row write is worth; those that run long get mark_running.
  virtual result<std::vector<claim_result>> claim(const std::vector<claim_request>& jobs) = 0;

  /// Records lazily claimed tasks as running under their attempt, where nothing else has
  /// written them since their claim; returns the tasks it moved.
  virtual result<std::vector<schemas::task_record>> mark_running(const std::vector<running_mark>& marks) = 0;

  /// Stores outcomes atomically with their kind-specific rows (the classification), only
  /// where `attempt` is still the task's current attempt and the task is running, or for
  /// a lazy claim, still as the claim read it (attempt - 1, queued or retrying).
  virtual result<std::vector<completed>> complete(const std::vector<completion>& done) = 0;

  /// Records a dead letter once; when it names an unfinished task of its tenant, moves
  /// that task to dead with the error and returns it.
  virtual result<std::optional<schemas::task_record>> bury(const dead_letter& d) = 0;

  /// The task's state now (nullopt when there is no such task): read before every LLM
  /// call after a job's first, so a task cancelled meanwhile makes no further calls.
  virtual result<std::optional<schemas::task_status>> status_of(const std::string& task_id) = 0;

  /// Cheap liveness probe.
  virtual status ping() = 0;
};

/// job_store over one Postgres connection (libpqxx), owned by the caller's thread.
std::unique_ptr<job_store> make_pg_job_store(const std::string& conninfo);

}  // namespace mq::store

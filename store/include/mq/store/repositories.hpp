#pragma once

// What mq-api and mqctl read and write in Postgres. Every function runs on the calling
// thread, which must own `s`; every query is scoped to `tenant` (a tenant id), so an id
// of another tenant behaves exactly like an unknown id.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/job_store.hpp"
#include "mq/store/pg_session.hpp"

namespace mq::store {

// ---- tenants and keys ----

/// A freshly created API key; the key itself exists only here (stored hashed).
struct new_key {
  std::string tenant_id;
  std::string tenant_name;
  std::string api_key;
};

/// Creates tenant `name` and its first key; conflict if the name exists.
result<new_key> create_tenant(pg_session& s, const std::string& name);
/// Adds a key to an existing tenant; not_found if there is none by that name.
result<new_key> create_api_key(pg_session& s, const std::string& tenant_name);
/// Whether a tenant with this id exists (a token's tenant_id claim).
result<bool> tenant_exists(pg_session& s, const std::string& tenant_id);
/// The id of the tenant named `name`, if any.
result<std::optional<std::string>> tenant_id_by_name(pg_session& s, const std::string& name);
/// The tenant id owning the unrevoked key with this SHA-256, if any.
result<std::optional<std::string>> tenant_for_key_hash(pg_session& s, const std::string& hash);

// ---- meetings ----

/// A meeting as a client submits it (already schema-validated).
struct meeting_input {
  std::string transcript;
  std::optional<std::string> client_name;
  std::optional<std::string> client_email;
  std::optional<std::string> seller_name;
  std::optional<std::string> meeting_date;  ///< YYYY-MM-DD
  bool closed = false;
};

/// Stores meetings in one transaction, creating or reusing their clients (by e-mail,
/// else by name) and sellers (by name). Returns the stored records in input order.
result<std::vector<schemas::meeting_record>> insert_meetings(
    pg_session& s, const std::string& tenant, const std::vector<meeting_input>& meetings);

/// One page of a list, 1-based.
struct page_request {
  int page = 1;
  int page_size = 50;
};

template <class T>
struct page {
  std::vector<T> items;
  std::int64_t total = 0;
  int page_number = 1;
  int page_size = 0;
};

/// Meetings by id; `classified` filters on whether a classification exists.
result<page<schemas::meeting_record>> list_meetings(pg_session& s, const std::string& tenant,
                                                    std::optional<bool> classified,
                                                    page_request p);
result<std::optional<schemas::meeting_record>> get_meeting(pg_session& s, const std::string& tenant,
                                                           std::int64_t id);

// ---- tasks and batches ----

/// One task made durable (or the unfinished one that already existed for the subject).
struct enqueued_task {
  schemas::task_record task;
  bool created = false;
};

/// A request to queue a task for one subject of one tenant.
struct enqueue_request {
  std::string tenant;
  std::int64_t subject_id = 0;
  std::string request_id;
};

/// The outcome of a group commit: per request (in order) the task created, the
/// unfinished one found (created = false), or not_found; and the outbox group of the
/// created ones ("" if none).
struct enqueued_group {
  std::vector<result<enqueued_task>> outcomes;
  std::string outbox_id;
};

/// Queues tasks for many requests (of any tenants), each round in one statement that
/// commits the tasks with their outbox group: the group commit behind single-job ingress.
/// A subject with an unfinished task of the kind gets that task back instead of a new one;
/// each request has its own outcome.
result<enqueued_group> enqueue_tasks(pg_session& s, std::string_view kind,
                                     const std::vector<enqueue_request>& requests);

/// A batch made durable: the new tasks (all in the batch) and the subjects that already
/// had an unfinished task (not in the batch). No batch row when nothing was new.
struct enqueued_batch {
  std::optional<schemas::batch_record> batch;
  std::vector<schemas::task_record> created;
  std::vector<schemas::task_record> already_active;
  std::string outbox_id;  ///< The outbox group of `created` ("" if none).
};

/// Queues `subject_ids` as one batch; not_found (nothing written) when any id is not the
/// tenant's meeting, with the missing ids in the error details.
result<enqueued_batch> enqueue_batch(pg_session& s, const std::string& tenant,
                                     std::string_view kind,
                                     const std::vector<std::int64_t>& subject_ids,
                                     const std::string& request_id);

/// Called with each chunk's new tasks and outbox group once the chunk is committed.
using chunk_committed = std::function<void(const std::vector<schemas::task_record>&, const std::string& outbox_id)>;

/// Queues every meeting of the tenant that has neither a classification nor an
/// unfinished classification task, as one batch committed `chunk` meetings at a time:
/// `committed` can publish a chunk while the next is written. The answer has no outbox
/// group (each chunk had its own). Idempotent while those tasks are pending. An error
/// after some chunks committed says so (their tasks run; calling again queues the rest).
result<enqueued_batch> queue_unclassified(pg_session& s, const std::string& tenant,
                                          const std::string& request_id, std::size_t chunk,
                                          const chunk_committed& committed);

result<std::optional<schemas::task_record>> get_task(pg_session& s, const std::string& tenant,
                                                     const std::string& id);
/// A batch with its counts. Finished counts come from counters (constant cost); the
/// split of unfinished tasks into queued, running and retrying is read only when
/// `by_state` (it scans the batch), otherwise all of them count as queued.
result<std::optional<schemas::batch_record>> get_batch(pg_session& s, const std::string& tenant,
                                                       const std::string& id, bool by_state = false);

/// Cancels a task that has not finished. Its message stays in the queue and is settled
/// unprocessed; a worker running it keeps nothing of its outcome. `changed` is false when
/// the task had already finished (cancelled or not); nullopt when no such task.
struct cancel_outcome {
  schemas::task_record task;
  bool changed = false;
};
result<std::optional<cancel_outcome>> cancel_task(pg_session& s, const std::string& tenant,
                                                  const std::string& id);
/// Cancels every unfinished task of a batch; returns those it cancelled, or nullopt
/// when the tenant has no such batch.
result<std::optional<std::vector<schemas::task_record>>> cancel_batch(pg_session& s, const std::string& tenant,
                                                                       const std::string& id);

/// Outbox: marks groups whose publish the broker confirmed (one row per group).
status mark_published(pg_session& s, const std::vector<std::string>& outbox_ids);

/// Outbox: a group still unconfirmed, with its tasks still queued (claimed or finished
/// ones need no message).
struct outbox_group {
  std::string id;
  std::vector<schemas::envelope> tasks;
};

/// Outbox: groups older than `grace_seconds` with no confirmed publish, oldest first.
result<std::vector<outbox_group>> unpublished_groups(pg_session& s, int grace_seconds, int limit);

// ---- dead letters ----

/// Records a dead letter (see job_store::bury).
result<std::optional<schemas::task_record>> record_dead_letter(pg_session& s, const dead_letter& d);

/// The tenant's dead letters, newest first; `replayed` filters on whether they were.
result<page<schemas::dead_letter_record>> list_dead_letters(pg_session& s, const std::string& tenant,
                                                            std::optional<bool> replayed, page_request p);
result<std::optional<schemas::dead_letter_record>> get_dead_letter(pg_session& s, const std::string& tenant,
                                                                   const std::string& id);

/// What a replay did: the tasks queued again (to publish with their outbox group) and,
/// for each dead letter left alone, why.
struct replay_outcome {
  std::vector<schemas::task_record> requeued;
  std::vector<std::pair<std::string, std::string>> skipped;  ///< dead letter id, reason
  std::string outbox_id;
};

/// Moves the dead tasks of the given dead letters (or, with `ids` empty, of up to `limit`
/// not yet replayed ones, oldest first) back to queued, marks the letters replayed and
/// records the outbox group. A letter is skipped when its task is no longer dead or
/// another task of the same subject is unfinished. Ids that are not the tenant's are
/// skipped as not found.
result<replay_outcome> replay_dead_letters(pg_session& s, const std::string& tenant,
                                           const std::vector<std::string>& ids, int limit);

// ---- LLM usage ----

/// Usage of one day, kind of job, provider and model.
struct usage_row {
  std::string day;  ///< YYYY-MM-DD (UTC)
  std::string kind;
  std::string provider;
  std::string model;
  long long calls = 0, tokens_in = 0, tokens_out = 0;
  double cost_usd = 0;
};

/// The tenant's LLM usage recorded in [from, to) (RFC 3339 instants).
result<std::vector<usage_row>> usage_between(pg_session& s, const std::string& tenant,
                                             const std::string& from, const std::string& to);

// ---- classifications ----

result<std::optional<schemas::classification_record>> get_classification(
    pg_session& s, const std::string& tenant, std::int64_t meeting_id);
result<page<schemas::classification_record>> list_classifications(pg_session& s,
                                                                   const std::string& tenant,
                                                                   page_request p);
/// True if a classification was deleted.
result<bool> delete_classification(pg_session& s, const std::string& tenant,
                                   std::int64_t meeting_id);

}  // namespace mq::store

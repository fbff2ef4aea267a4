#pragma once

// Campaigns in Postgres: what mq-api writes and reads (scoped to a tenant), and what the
// start_campaign and send_message jobs read and write. Every function runs on the
// thread that owns `s`.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mq/core/error.hpp"
#include "mq/schemas/campaigns.hpp"
#include "mq/schemas/types.hpp"
#include "mq/store/pg_session.hpp"
#include "mq/store/repositories.hpp"

namespace mq::store {

/// A campaign's fields as a client sets them (already validated). In an update, an
/// absent field stays as it is; for the optional ones, a present nullopt clears it.
struct campaign_fields {
  std::optional<std::string> name;
  std::optional<std::string> channel;
  std::optional<std::optional<std::string>> subject;
  std::optional<std::string> template_text;
  std::optional<std::optional<std::string>> personalization_prompt;
  std::optional<std::optional<std::string>> schedule_at;  ///< RFC 3339.
  std::optional<std::optional<int>> rate_per_minute;
};

result<schemas::campaign_record> create_campaign(pg_session& s, const std::string& tenant, const campaign_fields& f);
/// The campaign with its delivery counts (and `completed` derived from them); without
/// `counts`, only its own fields (what a change needs to check its input), no ledger read.
result<std::optional<schemas::campaign_record>> get_campaign(pg_session& s, const std::string& tenant,
                                                             std::int64_t id, bool counts = true);
result<page<schemas::campaign_record>> list_campaigns(pg_session& s, const std::string& tenant, page_request p);

/// A start task created by a change (send, or a new time for a scheduled campaign), to
/// publish with its outbox group.
struct campaign_change {
  schemas::campaign_record campaign;
  std::optional<schemas::task_record> start_task;
  std::string outbox_id;
};

/// Changes a draft or scheduled campaign (conflict once sending or cancelled). When
/// `required` (the attributes a new template needs) is not empty and some recipient has
/// no value for one, nothing changes (validation_failed naming them). A scheduled
/// campaign given a new time gets a new start task (the old one is cancelled).
result<std::optional<campaign_change>> update_campaign(pg_session& s, const std::string& tenant, std::int64_t id,
                                                       const campaign_fields& f,
                                                       const std::vector<std::string>& required);

/// Deletes a campaign with its ledger; conflict while it is sending with messages left
/// (cancel it first). A scheduled campaign's start task is cancelled.
result<bool> delete_campaign(pg_session& s, const std::string& tenant, std::int64_t id);

/// A recipient as a client adds it (address checked for the channel, attributes an object).
struct recipient_input {
  std::string address;
  std::string attributes_json = "{}";
};

/// What adding recipients did: how many were new, and the addresses already in the audience.
struct recipients_added {
  int added = 0;
  std::vector<std::string> duplicates;
  long long total = 0;  ///< The audience now.
};

/// Adds recipients (already checked against the template) to a draft or scheduled
/// campaign in one transaction (conflict otherwise); an address already in the audience
/// is skipped. validation_failed (nothing written) when the audience would exceed
/// `max_total`.
result<std::optional<recipients_added>> add_recipients(pg_session& s, const std::string& tenant, std::int64_t id,
                                                       const std::vector<recipient_input>& recipients,
                                                       long long max_total);

/// The campaign's ledger rows by id, optionally of one state.
result<std::optional<page<schemas::recipient_record>>> list_recipients(pg_session& s, const std::string& tenant,
                                                                       std::int64_t id,
                                                                       const std::optional<std::string>& state,
                                                                       page_request p);

/// Starts a draft campaign: its batch, and one start_campaign task due at schedule_at
/// (now when absent or past). Conflict unless draft; validation_failed without
/// recipients.
result<std::optional<campaign_change>> send_campaign(pg_session& s, const std::string& tenant, std::int64_t id,
                                                     const std::string& request_id);

/// What cancelling did: the campaign, how many messages will not be sent, and how many
/// were being sent at that moment (they finish).
struct campaign_cancelled {
  schemas::campaign_record campaign;
  long long cancelled = 0;
  long long in_flight = 0;
  bool changed = false;  ///< False when it was already cancelled.
};

/// Cancels a campaign: no message not yet being sent will be; its tasks are cancelled.
/// Conflict when it already completed.
result<std::optional<campaign_cancelled>> cancel_campaign(pg_session& s, const std::string& tenant, std::int64_t id);

// ---- the campaign jobs ----

/// What the start_campaign job found and did.
struct fan_out {
  enum class outcome { started, not_yet, cancelled, missing } what = outcome::missing;
  std::int64_t wait_ms = 0;  ///< not_yet: until schedule_at.
  std::vector<schemas::task_record> tasks;  ///< started: every delivery task still queued, to publish.
  std::string outbox_id;     ///< The group of the tasks created now ("" if none).
  long long deliveries = 0;  ///< started: the campaign's delivery tasks in all.
};

/// Creates one send_message task per pending recipient in the campaign's batch (once:
/// run again it creates nothing and returns the tasks still queued) and marks the
/// campaign sending; or says it is not due yet, or cancelled.
result<fan_out> fan_out_campaign(pg_session& s, std::int64_t campaign_id);

/// A ledger row with its campaign, as a send_message job needs it.
struct delivery_work {
  schemas::recipient_record recipient;
  schemas::campaign_record campaign;  ///< Without counts.
};

/// The ledger rows `ids` with their campaigns, in input order (nullopt for one that is
/// gone): the loads of many jobs in one statement.
result<std::vector<std::optional<delivery_work>>> load_deliveries(pg_session& s, const std::vector<std::int64_t>& ids);

/// A message about to go: its row, the attempt of its task that sends it, the row's
/// state as that attempt last read it ("pending" or "sending"), and the subject (nullopt
/// for none) and text.
struct sending_request {
  std::int64_t recipient_id = 0;
  std::string task_id;
  int attempt = 0;
  std::string seen = "pending";
  std::optional<std::string> subject;
  std::string message;
};

/// What mark_sending did with one request.
enum class sending_mark {
  marked,   ///< Committed `sending` with the message: it may go.
  moved,    ///< This attempt owns the task but the row changed since it read it (pending
            ///< to sending, or back): read it again.
  refused,  ///< Not to be sent by this attempt: a later delivery took the task over, or
            ///< it was cancelled, or the row is settled or its campaign cancelled.
};

/// Commits each recipient as sending with the message about to go, in one transaction,
/// when its task still runs the request's attempt and the row is still as that attempt
/// read it: a pending one unless its campaign was cancelled, or one already sending (it
/// may have gone, so it is finished whatever happened since). Two deliveries of one
/// task asking at once: only the one whose attempt owns the task is marked. In input order.
result<std::vector<sending_mark>> mark_sending(pg_session& s, const std::vector<sending_request>& messages);

/// Puts a recipient back to pending after a send the channel refused before anything
/// was handed over (so a crash before the retry does not make it unknown), when the
/// request's attempt still owns the task. When its campaign was cancelled meanwhile, the
/// message is cancelled instead, with its task: the cancel left them to this send, and
/// there will be no other.
status mark_pending(pg_session& s, const sending_request& m);

}  // namespace mq::store

#pragma once

// Row <-> record mapping of campaigns and their ledger, shared by the API's and the
// jobs' queries.

#include <vector>

#include "mq/schemas/campaigns.hpp"
#include "pg_internal.hpp"

namespace mq::store {

/// Columns of a campaign (alias c), in the order campaign_from_row() reads them.
#define MQ_CAMPAIGN_COLUMNS                                                                                   \
  "c.id, c.tenant_id, c.name, c.channel, c.subject, c.template, c.personalization_prompt, "                 \
  MQ_TS("c.schedule_at") ", c.rate_per_minute, c.status, c.batch_id, c.start_task_id, " MQ_TS("c.created_at") \
  ", " MQ_TS("c.updated_at") ", " MQ_TS("c.started_at") ", " MQ_TS("c.cancelled_at")

constexpr int campaign_columns = 16;

schemas::campaign_record campaign_from_row(const pqxx::row& r, int offset = 0);

/// Columns of a ledger row (alias r), in the order recipient_from_row() reads them.
#define MQ_RECIPIENT_COLUMNS                                                                                     \
  "r.id, r.campaign_id, r.address, r.attributes::text, r.state, r.idempotency_key, r.task_id, r.subject, "      \
  "r.message, r.attempts, r.response_code, r.error_code, r.error, r.tokens_in, r.tokens_out, "                  \
  MQ_TS("r.created_at") ", " MQ_TS("r.updated_at") ", " MQ_TS("r.sending_at") ", " MQ_TS("r.finished_at")

constexpr int recipient_columns = 19;

schemas::recipient_record recipient_from_row(const pqxx::row& r, int offset = 0);

/// Fills in the ledger counts of `campaigns` (one grouped read) and derives `completed`:
/// a sending campaign with nothing left to send, finished when its last message was.
void add_counts(pqxx::transaction_base& tx, std::vector<schemas::campaign_record>& campaigns);

}  // namespace mq::store

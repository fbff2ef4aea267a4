#pragma once

// What the dashboard shows of a tenant's work: its latest tasks and batches.

#include <string>

#include "mq/core/error.hpp"
#include "mq/store/pg_session.hpp"

namespace mq::store {

/// The tenant's `limit` latest tasks (id, kind, status, subject, batch, attempts, error,
/// times) and batches (id, kind, total, succeeded, failed, dead, cancelled, pending,
/// created_at), newest first, as a JSON object {tasks, batches}. Task and batch ids are
/// time-ordered, so the primary keys give the order.
result<std::string> recent_work(pg_session& s, const std::string& tenant, int limit);

}  // namespace mq::store

#pragma once

// The ranked client periods behind the engagement KPI (migration 016), kept by the
// rollup job from the daily client rows of rollup_meetings.

#include <string>
#include <vector>

#include "pg_internal.hpp"

namespace mq::store {

/// The clients with daily rollup rows on `days` (a date[] literal), with those in `also`
/// (a text[] literal), as a text[] literal.
std::string clients_on_days(pqxx::work& tx, const std::string& tenant, const std::string& days,
                            const std::string& also = "{}");

/// Brings the tenant's client periods up to date after `days` (a date[] literal, maybe
/// empty) were recomputed: the calendar months and years of those days, and the windows
/// of the last 30, 90 and 365 days ending today (UTC), which move when the day changes.
/// Incremental runs recompute only `clients` (a text[] literal: the clients on those
/// days before and after); `full` recomputes every client of the periods. Returns the
/// rows written.
long long refresh_client_periods(pqxx::work& tx, const std::string& tenant, const std::string& days,
                                 const std::string& clients, bool full);

}  // namespace mq::store

// The ranked client periods: per-client totals of fixed periods, replaced from the daily
// client rows whenever a run recomputes one of the period's days.

#include "client_periods.hpp"

namespace mq::store {
namespace {

/// The calendar months and years of days $1 (date[]), as (kind, start, end).
const char* calendar_periods_sql =
    "SELECT DISTINCT p.kind, p.s::text, p.e::text FROM unnest($1::date[]) d, LATERAL (VALUES "
    "('month', date_trunc('month', d)::date, (date_trunc('month', d) + interval '1 month - 1 day')::date), "
    "('year', date_trunc('year', d)::date, (date_trunc('year', d) + interval '1 year - 1 day')::date)) p(kind, s, e) "
    "ORDER BY 1, 2";

/// Moving windows, by their length in days.
constexpr int windows[] = {30, 90, 365};

struct period {
  std::string kind, start, end;
};

/// Replaces the totals of period `p` for the clients in `clients` (text[] literal), or
/// for all of them when `clients` is empty, and recounts the period's clients.
long long rebuild(pqxx::work& tx, const std::string& tenant, const period& p, const std::string& clients) {
  const std::string del = "DELETE FROM rollup_client_totals WHERE tenant_id = $1 AND kind = $2 AND period_start = $3::date";
  const std::string ins =
      "INSERT INTO rollup_client_totals (tenant_id, kind, period_start, client, meetings, closed, classified, positive, "
      "active_days, last_meeting) SELECT $1, $2, $3::date, value, sum(meetings), sum(closed), sum(classified), "
      "sum(positive), count(*), max(day) FROM rollup_meetings WHERE tenant_id = $1 AND dimension = 'client' AND "
      "day BETWEEN $3::date AND $4::date";
  long long rows = 0;
  if (clients.empty()) {
    tx.exec_params(del, tenant, p.kind, p.start);
    rows = tx.exec_params(ins + " GROUP BY value", tenant, p.kind, p.start, p.end).affected_rows();
  } else {
    tx.exec_params(del + " AND client IN (SELECT unnest($4::text[]))", tenant, p.kind, p.start, clients);
    rows = tx.exec_params(ins + " AND value IN (SELECT unnest($5::text[])) GROUP BY value", tenant, p.kind, p.start,
                          p.end, clients)
               .affected_rows();
  }
  tx.exec_params(
      "INSERT INTO rollup_client_periods (tenant_id, kind, period_start, period_end, clients) VALUES ($1, $2, $3::date, "
      "$4::date, (SELECT count(*) FROM rollup_client_totals WHERE tenant_id = $1 AND kind = $2 AND period_start = $3::date)) "
      "ON CONFLICT (tenant_id, kind, period_start) DO UPDATE SET period_end = EXCLUDED.period_end, clients = EXCLUDED.clients",
      tenant, p.kind, p.start, p.end);
  return rows;
}

}  // namespace

std::string clients_on_days(pqxx::work& tx, const std::string& tenant, const std::string& days,
                            const std::string& also) {
  return tx.exec_params("SELECT coalesce(array_agg(v ORDER BY v), '{}')::text FROM (SELECT value AS v FROM rollup_meetings "
                        "WHERE tenant_id = $1 AND dimension = 'client' AND day = ANY($2::date[]) "
                        "UNION SELECT unnest($3::text[])) x",
                        tenant, days, also)[0][0].c_str();
}

long long refresh_client_periods(pqxx::work& tx, const std::string& tenant, const std::string& days,
                                 const std::string& clients, bool full) {
  const bool changed = full || clients != "{}";
  const std::string only = full ? "" : clients;
  long long rows = 0;
  if (changed)
    for (const auto& r : tx.exec_params(calendar_periods_sql, days))
      rows += rebuild(tx, tenant, {r[0].c_str(), r[1].c_str(), r[2].c_str()}, only);
  for (int n : windows) {
    const std::string kind = "last_" + std::to_string(n);
    // The window ending today; the one stored; whether a recomputed day falls in it.
    auto w = tx.exec_params(
        "SELECT (today - $3::int)::text, today::text, (SELECT period_end = today FROM rollup_client_periods WHERE "
        "tenant_id = $1 AND kind = $2), EXISTS (SELECT 1 FROM unnest($4::date[]) d WHERE d BETWEEN today - $3::int AND today) "
        "FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS today) x",
        tenant, kind, n - 1, days)[0];
    const period p{kind, w[0].c_str(), w[1].c_str()};
    if (full || w[2].is_null() || !w[2].as<bool>()) {
      // A new day (or a rebuild): the whole window again, under its new start.
      tx.exec_params("DELETE FROM rollup_client_totals WHERE tenant_id = $1 AND kind = $2", tenant, kind);
      tx.exec_params("DELETE FROM rollup_client_periods WHERE tenant_id = $1 AND kind = $2", tenant, kind);
      rows += rebuild(tx, tenant, p, "");
    } else if (changed && w[3].as<bool>()) {
      rows += rebuild(tx, tenant, p, only);
    }
  }
  return rows;
}

}  // namespace mq::store

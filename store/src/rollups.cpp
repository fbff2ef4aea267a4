// The rollup job's work: which days changed, and those days' aggregates recomputed.

#include "mq/store/rollups.hpp"
#include "client_periods.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

/// A meeting's day (alias m).
#define MQ_MEETING_DAY "coalesce(m.meeting_date, (m.created_at AT TIME ZONE 'UTC')::date)"
/// The UTC day of a timestamp.
#define MQ_DAY(ts) "((" ts ") AT TIME ZONE 'UTC')::date"

/// The days of [from, to] whose source rows changed after the watermark ($2), plus the
/// days deletes marked; as one column `day`. $1 tenant, $3 from, $4 to.
const char* changed_days_sql =
    "SELECT " MQ_MEETING_DAY " AS day FROM meetings m WHERE m.tenant_id = $1 AND m.updated_at > $2 "
    "UNION SELECT " MQ_MEETING_DAY " FROM classifications k JOIN meetings m ON m.id = k.meeting_id "
    "WHERE k.tenant_id = $1 AND k.updated_at > $2 "
    "UNION SELECT " MQ_DAY("t.finished_at") " FROM tasks t WHERE t.tenant_id = $1 AND t.failed "
    "AND t.finished_at > $2 "
    "UNION SELECT " MQ_DAY("u.created_at") " FROM llm_usage u WHERE u.tenant_id = $1 AND u.created_at > $2 "
    "UNION SELECT " MQ_DAY("coalesce(r.finished_at, r.created_at)") " FROM campaign_recipients r "
    "WHERE r.tenant_id = $1 AND r.updated_at > $2 "
    "UNION SELECT " MQ_DAY("coalesce(d.finished_at, d.created_at)") " FROM documents d "
    "WHERE d.tenant_id = $1 AND d.updated_at > $2";

/// Every day of [from, to] with source rows or rollup rows (a full rebuild).
const char* all_days_sql =
    "SELECT DISTINCT day FROM (SELECT " MQ_MEETING_DAY " AS day FROM meetings m WHERE m.tenant_id = $1 "
    "UNION SELECT " MQ_DAY("t.finished_at") " FROM tasks t WHERE t.tenant_id = $1 AND t.failed "
    "UNION SELECT " MQ_DAY("u.created_at") " FROM llm_usage u WHERE u.tenant_id = $1 "
    "UNION SELECT " MQ_DAY("coalesce(r.finished_at, r.created_at)") " FROM campaign_recipients r WHERE r.tenant_id = $1 "
    "UNION SELECT " MQ_DAY("coalesce(d.finished_at, d.created_at)") " FROM documents d WHERE d.tenant_id = $1 "
    "UNION SELECT day FROM rollup_meetings WHERE tenant_id = $1 UNION SELECT day FROM rollup_failures WHERE tenant_id = $1 "
    "UNION SELECT day FROM rollup_llm WHERE tenant_id = $1 UNION SELECT day FROM rollup_deliveries WHERE tenant_id = $1 "
    "UNION SELECT day FROM rollup_documents WHERE tenant_id = $1) a WHERE day BETWEEN $2::date AND $3::date";

/// Recomputes the rollups of days $2 (date[]) of tenant $1. Each statement replaces
/// those days' rows.
const char* recompute_sql[] = {
    "DELETE FROM rollup_meetings WHERE tenant_id = $1 AND day = ANY($2::date[])",
    "INSERT INTO rollup_meetings (tenant_id, day, dimension, value, meetings, closed, classified, confidence_sum, "
    "positive, neutral, negative, urgent) "
    "SELECT $1, " MQ_MEETING_DAY ", dim.dimension, dim.value, count(*), count(*) FILTER (WHERE m.closed), "
    "count(k.meeting_id), coalesce(sum(k.confidence_score::numeric(8, 6)), 0), count(*) FILTER (WHERE k.sentiment = 'positive'), "
    "count(*) FILTER (WHERE k.sentiment = 'neutral'), count(*) FILTER (WHERE k.sentiment = 'negative'), "
    "count(*) FILTER (WHERE k.urgency) "
    "FROM meetings m LEFT JOIN classifications k ON k.meeting_id = m.id "
    "LEFT JOIN sellers s ON s.id = m.seller_id LEFT JOIN clients c ON c.id = m.client_id "
    "CROSS JOIN LATERAL (VALUES ('all', ''), ('seller', s.name), ('client', c.name), "
    "('business_sector', k.business_sector), ('company_size', k.company_size), ('region', k.region), "
    "('lead_source', k.lead_source), ('product', k.vambe_product), ('use_case', k.use_case), "
    "('pain_point', k.primary_pain_point), ('sentiment', k.sentiment), ('purchase_stage', k.purchase_stage), "
    "('urgency', k.urgency::text)) AS dim(dimension, value) "
    "WHERE m.tenant_id = $1 AND " MQ_MEETING_DAY " = ANY($2::date[]) AND dim.value IS NOT NULL "
    "GROUP BY 2, 3, 4",
    "DELETE FROM rollup_meetings_monthly WHERE tenant_id = $1 AND month = ANY(SELECT date_trunc('month', d)::date "
    "FROM unnest($2::date[]) d)",
    "INSERT INTO rollup_meetings_monthly (tenant_id, month, dimension, value, meetings, closed, classified, "
    "confidence_sum, positive, neutral, negative, urgent) "
    "SELECT $1, date_trunc('month', r.day)::date, r.dimension, r.value, sum(r.meetings), sum(r.closed), "
    "sum(r.classified), sum(r.confidence_sum), sum(r.positive), sum(r.neutral), sum(r.negative), sum(r.urgent) "
    "FROM rollup_meetings r WHERE r.tenant_id = $1 AND r.dimension <> 'client' AND "
    "r.day >= (SELECT date_trunc('month', min(d))::date FROM unnest($2::date[]) d) AND "
    "date_trunc('month', r.day)::date = ANY(SELECT date_trunc('month', d)::date FROM unnest($2::date[]) d) "
    "GROUP BY 2, 3, 4",
    "DELETE FROM rollup_failures WHERE tenant_id = $1 AND day = ANY($2::date[])",
    "INSERT INTO rollup_failures (tenant_id, day, kind, failures) "
    "SELECT $1, " MQ_DAY("t.finished_at") ", t.kind, count(*) FROM tasks t WHERE t.tenant_id = $1 AND "
    "t.failed AND t.finished_at >= (SELECT min(d) FROM unnest($2::date[]) d) - interval '1 day' AND "
    MQ_DAY("t.finished_at") " = ANY($2::date[]) GROUP BY 2, 3",
    "DELETE FROM rollup_llm WHERE tenant_id = $1 AND day = ANY($2::date[])",
    "INSERT INTO rollup_llm (tenant_id, day, kind, model, calls, tokens_in, tokens_out, cost_usd) "
    "SELECT $1, " MQ_DAY("u.created_at") ", u.kind, u.model, sum(u.calls), sum(u.tokens_in), sum(u.tokens_out), "
    "sum(u.cost_usd) FROM llm_usage u WHERE u.tenant_id = $1 AND "
    "u.created_at >= (SELECT min(d) FROM unnest($2::date[]) d) - interval '1 day' AND "
    MQ_DAY("u.created_at") " = ANY($2::date[]) GROUP BY 2, 3, 4",
    "DELETE FROM rollup_deliveries WHERE tenant_id = $1 AND day = ANY($2::date[])",
    "INSERT INTO rollup_deliveries (tenant_id, day, channel, state, deliveries) "
    "SELECT $1, " MQ_DAY("coalesce(r.finished_at, r.created_at)") ", c.channel, r.state, count(*) "
    "FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id WHERE r.tenant_id = $1 AND "
    MQ_DAY("coalesce(r.finished_at, r.created_at)") " = ANY($2::date[]) GROUP BY 2, 3, 4",
    "DELETE FROM rollup_documents WHERE tenant_id = $1 AND day = ANY($2::date[])",
    "INSERT INTO rollup_documents (tenant_id, day, status, documents, chunks) "
    "SELECT $1, " MQ_DAY("coalesce(d.finished_at, d.created_at)") ", d.status, count(*), sum(d.total_chunks) "
    "FROM documents d WHERE d.tenant_id = $1 AND " MQ_DAY("coalesce(d.finished_at, d.created_at)") " = ANY($2::date[]) "
    "GROUP BY 2, 3",
};

}  // namespace

result<rollup_outcome> run_rollup(pg_session& s, const std::string& tenant, const std::string& from,
                                  const std::string& to, bool full) {
  return guarded(s, [&](pqxx::connection& c) -> result<rollup_outcome> {
    pqxx::work tx(c);
    rollup_outcome out;
    // One run per tenant at a time: a second waits, then finds nothing new.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('mq-rollup:' || $1, 0))", tenant);
    // Rows written by transactions still open may carry an earlier updated_at than they
    // commit at: the next watermark is the start of the oldest open transaction.
    const std::string next = tx.exec(
        "SELECT coalesce(min(xact_start), now())::text FROM pg_stat_activity "
        "WHERE datname = current_database() AND xact_start IS NOT NULL")[0][0].c_str();
    auto mark = tx.exec_params("SELECT watermark::text FROM rollup_watermarks WHERE tenant_id = $1", tenant);
    // The first run knows no changes: it rebuilds.
    out.full = full || mark.empty();
    if (!mark.empty()) {
      // Everything changed since the last run is dirty until a run covers its day.
      tx.exec_params(std::string("INSERT INTO rollup_dirty (tenant_id, day) SELECT $1, day FROM (") +
                         changed_days_sql + ") x WHERE day IS NOT NULL ON CONFLICT DO NOTHING",
                     tenant, std::string(mark[0][0].c_str()));
    }
    std::vector<std::string> days;
    const std::string pick = out.full ? all_days_sql
                                      : "SELECT day FROM rollup_dirty WHERE tenant_id = $1 AND day BETWEEN $2::date AND $3::date";
    for (const auto& r : tx.exec_params(pick + " ORDER BY 1", tenant, from, to)) days.push_back(r[0].c_str());
    out.days = static_cast<long long>(days.size());
    const auto list = array_literal(days);
    // An incremental run's clients on those days before they are recomputed, and after:
    // the ones whose period totals may change (a full run recomputes every client).
    const bool by_client = !out.full && !days.empty();
    auto clients = by_client ? clients_on_days(tx, tenant, list) : std::string("{}");
    if (!days.empty()) {
      for (const char* sql : recompute_sql) {
        auto r = tx.exec_params(sql, tenant, list);
        if (std::string(sql).rfind("INSERT", 0) == 0) out.rows += r.affected_rows();
      }
      tx.exec_params("DELETE FROM rollup_dirty WHERE tenant_id = $1 AND day = ANY($2::date[])", tenant, list);
      if (by_client) clients = clients_on_days(tx, tenant, list, clients);
    }
    // After a large rewrite, fresh statistics keep the client periods' reads and the KPI
    // reads on their indexes (autovacuum would get there, later).
    const bool large = days.size() > 31;
    if (large) tx.exec("ANALYZE rollup_meetings, rollup_meetings_monthly");
    out.rows += refresh_client_periods(tx, tenant, list, clients, out.full);
    if (large) tx.exec("ANALYZE rollup_client_periods, rollup_client_totals");
    out.left_dirty = tx.exec_params("SELECT count(*) FROM rollup_dirty WHERE tenant_id = $1", tenant)[0][0].as<long long>();
    // The watermark may move once every change before it is recomputed or marked dirty:
    // always after the first run, and on the first one only when it covered all time.
    if (!mark.empty() || (from <= "0001-01-01" && to >= "9999-12-31")) {
      tx.exec_params(
          "INSERT INTO rollup_watermarks (tenant_id, watermark, last_run_at) VALUES ($1, $2::timestamptz, now()) "
          "ON CONFLICT (tenant_id) DO UPDATE SET watermark = EXCLUDED.watermark, last_run_at = now()",
          tenant, next);
    }
    tx.commit();
    return out;
  });
}

result<rollup_enqueued> enqueue_rollup(pg_session& s, const std::string& tenant, const std::string& from,
                                       const std::string& to, bool full, bool scheduled) {
  return guarded(s, [&](pqxx::connection& c) -> result<rollup_enqueued> {
    pqxx::work tx(c);
    rollup_enqueued out;
    out.request_id = tx.exec_params(
                           "INSERT INTO rollup_requests (tenant_id, from_day, to_day, full_rebuild, scheduled) "
                           "VALUES ($1, $2::date, $3::date, $4, $5) RETURNING id",
                           tenant, from, to, full, scheduled)[0][0]
                         .as<std::int64_t>();
    out.task = insert_tasks(tx, tenant, schemas::kinds::rollup_analytics, {out.request_id}, "", "").at(0);
    out.outbox_id = record_outbox(tx, {out.task});
    tx.commit();
    return out;
  });
}

result<std::optional<rollup_request>> load_rollup_request(pg_session& s, std::int64_t id) {
  using out = std::optional<rollup_request>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_params("SELECT tenant_id, from_day::text, to_day::text, full_rebuild FROM rollup_requests "
                               "WHERE id = $1",
                               static_cast<long long>(id));
    if (rows.empty()) return out{};
    return out{rollup_request{rows[0][0].c_str(), rows[0][1].c_str(), rows[0][2].c_str(), rows[0][3].as<bool>()}};
  });
}

result<std::vector<rollup_enqueued>> take_rollup_slot(pg_session& s, std::int64_t slot) {
  using out = std::vector<rollup_enqueued>;
  return guarded(s, [&](pqxx::connection& c) -> result<out> {
    pqxx::work tx(c);
    out queued;
    if (tx.exec_params("INSERT INTO rollup_slots (slot) VALUES ($1) ON CONFLICT DO NOTHING RETURNING slot",
                       static_cast<long long>(slot))
            .empty())
      return queued;  // another replica has this slot
    for (const auto& t : tx.exec("SELECT id FROM tenants ORDER BY id")) {
      rollup_enqueued e;
      e.request_id = tx.exec_params(
                            "INSERT INTO rollup_requests (tenant_id, from_day, to_day, scheduled) "
                            "VALUES ($1, '0001-01-01', '9999-12-31', true) RETURNING id",
                            std::string(t[0].c_str()))[0][0]
                          .as<std::int64_t>();
      e.task = insert_tasks(tx, t[0].c_str(), schemas::kinds::rollup_analytics, {e.request_id}, "", "").at(0);
      queued.push_back(std::move(e));
    }
    std::vector<schemas::task_record> tasks;
    for (const auto& e : queued) tasks.push_back(e.task);
    const auto outbox = record_outbox(tx, tasks);
    for (auto& e : queued) e.outbox_id = outbox;
    tx.commit();
    return queued;
  });
}

}  // namespace mq::store

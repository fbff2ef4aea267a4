// The KPI endpoints' answers, read from the rollup tables only and shaped as JSON by
// Postgres. $1 tenant, $2 from, $3 to (dates, inclusive); more parameters as noted.

#include "mq/store/rollups.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

/// Rows of rollup_meetings for one dimension within the range, day by day (alias r).
#define MQ_DIMENSION(dim) \
  "FROM rollup_meetings r WHERE r.tenant_id = $1 AND r.dimension = '" dim "' AND r.day BETWEEN $2::date AND $3::date"

/// The first day of the first whole month of the range, and the last day of its last
/// whole month.
#define MQ_WHOLE_FROM "(date_trunc('month', $2::date - 1) + interval '1 month')::date"
#define MQ_WHOLE_TO "(date_trunc('month', $3::date + 1) - interval '1 day')::date"

/// The rows of `dimension` within the range (alias r), read as whole months from
/// rollup_meetings_monthly and only the days of partial months at the range's edges from
/// rollup_meetings: a year is about twelve rows per value. `dimension` is a trusted word.
std::string by_month(const std::string& dimension) {
  const std::string columns = "value, meetings, closed, classified, confidence_sum, positive, neutral, negative, urgent";
  return "FROM (SELECT " + columns + " FROM rollup_meetings WHERE tenant_id = $1 AND dimension = '" + dimension +
         "' AND (day BETWEEN $2::date AND least($3::date, " MQ_WHOLE_FROM " - 1) OR day BETWEEN greatest($2::date, "
         MQ_WHOLE_TO " + 1) AND $3::date) UNION ALL SELECT " + columns +
         " FROM rollup_meetings_monthly WHERE tenant_id = $1 AND dimension = '" + dimension +
         "' AND month BETWEEN " MQ_WHOLE_FROM " AND " MQ_WHOLE_TO ") r";
}

/// Totals of the range as a JSON object.
const std::string totals_sql =
    "SELECT json_build_object("
    "'from', $2::text, 'to', $3::text, "
    "'meetings', coalesce(sum(r.meetings), 0), 'closed', coalesce(sum(r.closed), 0), "
    "'conversion_rate', round(coalesce(sum(r.closed)::numeric / nullif(sum(r.meetings), 0), 0), 4), "
    "'classified', coalesce(sum(r.classified), 0), "
    "'average_confidence', round(coalesce(sum(r.confidence_sum)::numeric / nullif(sum(r.classified), 0), 0), 4), "
    "'sentiment', json_build_object('positive', coalesce(sum(r.positive), 0), 'neutral', coalesce(sum(r.neutral), 0), "
    "'negative', coalesce(sum(r.negative), 0)), 'urgent', coalesce(sum(r.urgent), 0), "
    "'classification_failures', (SELECT coalesce(sum(f.failures), 0) FROM rollup_failures f WHERE f.tenant_id = $1 "
    "AND f.kind = 'classify_meeting' AND f.day BETWEEN $2::date AND $3::date), "
    "'llm', (SELECT json_build_object('calls', coalesce(sum(l.calls), 0), 'tokens_in', coalesce(sum(l.tokens_in), 0), "
    "'tokens_out', coalesce(sum(l.tokens_out), 0), 'cost_usd', coalesce(sum(l.cost_usd), 0)) FROM rollup_llm l "
    "WHERE l.tenant_id = $1 AND l.day BETWEEN $2::date AND $3::date), "
    "'deliveries', (SELECT coalesce(json_object_agg(x.state, x.n), '{}') FROM (SELECT d.state, sum(d.deliveries) n "
    "FROM rollup_deliveries d WHERE d.tenant_id = $1 AND d.day BETWEEN $2::date AND $3::date GROUP BY d.state) x), "
    "'documents', (SELECT coalesce(json_object_agg(x.status, x.n), '{}') FROM (SELECT d.status, sum(d.documents) n "
    "FROM rollup_documents d WHERE d.tenant_id = $1 AND d.day BETWEEN $2::date AND $3::date GROUP BY d.status) x)"
    ")::text " + by_month("all");

/// The top $4 values of a dimension by meetings, as a JSON array.
std::string top_values(const char* dimension) {
  return std::string("(SELECT coalesce(json_agg(x ORDER BY x.meetings DESC, x.value), '[]') FROM (SELECT r.value, "
                     "sum(r.meetings) AS meetings, sum(r.closed) AS closed ") +
         by_month(dimension) + " GROUP BY r.value ORDER BY 2 DESC, 1 LIMIT $4) x)";
}

/// A dimension's distribution (count and share of classified meetings), as a JSON array.
std::string distribution(const char* dimension) {
  return std::string("(SELECT coalesce(json_agg(x ORDER BY x.meetings DESC, x.value), '[]') FROM (SELECT r.value, "
                     "sum(r.meetings) AS meetings, round(sum(r.meetings)::numeric / nullif(sum(sum(r.meetings)) "
                     "OVER (), 0), 4) AS share ") +
         by_month(dimension) + " GROUP BY r.value) x)";
}

result<std::string> one_json(pg_session& s, const std::string& sql, const std::string& tenant, const kpi_query& q,
                             bool with_limit) {
  // Prepared on each connection, with a generic plan made on the first request: the
  // overview joins six rollup reads, and planning it anew for every request (or for
  // the first five, Postgres's default) cost more than running it. Its plan is the same
  // index range scans whatever the tenant and dates.
  const std::string name = "mq_kpi_" + std::to_string(std::hash<std::string>{}(sql));
  return guarded(s, [&](pqxx::connection& c) -> result<std::string> {
    prepare(c, name, sql);
    pqxx::read_transaction tx(c);
    tx.exec("SET LOCAL plan_cache_mode = force_generic_plan");
    auto rows = with_limit ? tx.exec_prepared(name, tenant, q.from, q.to, q.limit) : tx.exec_prepared(name, tenant, q.from, q.to);
    auto json = std::string(rows[0][0].c_str());
    tx.commit();
    return json;
  });
}

}  // namespace

result<std::string> kpis_summary(pg_session& s, const std::string& tenant, const kpi_query& q) {
  return one_json(s, totals_sql, tenant, q, false);
}

result<std::string> kpis_overview(pg_session& s, const std::string& tenant, const kpi_query& q) {
  const std::string sql = "SELECT json_build_object('totals', (" + totals_sql + ")::json, " +
                          "'top_business_sectors', " + top_values("business_sector") + ", 'top_products', " +
                          top_values("product") + ", 'top_lead_sources', " + top_values("lead_source") +
                          ", 'top_pain_points', " + top_values("pain_point") + ", 'purchase_stages', " +
                          top_values("purchase_stage") + ")::text";
  return one_json(s, sql, tenant, q, true);
}

result<std::string> kpis_sellers(pg_session& s, const std::string& tenant, const kpi_query& q) {
  // Sentiment as a score: positive 1, neutral 0, negative -1, averaged over classified meetings.
  return one_json(s,
                  "SELECT json_build_object('from', $2::text, 'to', $3::text, 'sellers', coalesce(json_agg(x ORDER BY "
                  "x.meetings DESC, x.seller), '[]'))::text FROM (SELECT r.value AS seller, sum(r.meetings) AS meetings, "
                  "sum(r.closed) AS closed, round(sum(r.closed)::numeric / nullif(sum(r.meetings), 0), 4) AS conversion_rate, "
                  "sum(r.classified) AS classified, round((sum(r.positive) - sum(r.negative))::numeric / "
                  "nullif(sum(r.classified), 0), 4) AS average_sentiment " + by_month("seller") +
                      " GROUP BY r.value ORDER BY 2 DESC, 1 LIMIT $4) x",
                  tenant, q, true);
}

result<std::string> kpis_trends(pg_session& s, const std::string& tenant, const kpi_query& q) {
  // The period is a trusted word (day, week or month), checked by the caller.
  const std::string period = q.group_by == "week" || q.group_by == "month" ? q.group_by : "day";
  return one_json(s,
                  "SELECT json_build_object('from', $2::text, 'to', $3::text, 'group_by', '" + period +
                      "', 'periods', coalesce(json_agg(x ORDER BY x.period), '[]'))::text FROM (SELECT "
                      "date_trunc('" + period + "', r.day)::date::text AS period, sum(r.meetings) AS meetings, "
                      "sum(r.closed) AS closed, sum(r.classified) AS classified, round(sum(r.confidence_sum)::numeric / "
                      "nullif(sum(r.classified), 0), 4) AS average_confidence, sum(r.positive) AS positive, "
                      "sum(r.negative) AS negative " MQ_DIMENSION("all") " GROUP BY 1) x",
                  tenant, q, false);
}

result<std::string> kpis_engagement(pg_session& s, const std::string& tenant, const kpi_query& q) {
  return guarded(s, [&](pqxx::connection& c) -> result<std::string> {
    pqxx::nontransaction tx(c);
    // A ranked period containing the range, with no meeting of the tenant in the period
    // outside the range, has exactly the range's totals: its top clients come from an index.
    auto p = tx.exec_params(
        "SELECT kind, period_start::text, clients FROM rollup_client_periods p WHERE tenant_id = $1 AND "
        "period_start <= $2::date AND period_end >= $3::date AND NOT EXISTS (SELECT 1 FROM rollup_meetings r WHERE "
        "r.tenant_id = $1 AND r.dimension = 'all' AND r.day BETWEEN p.period_start AND p.period_end AND "
        "r.day NOT BETWEEN $2::date AND $3::date) ORDER BY period_end - period_start LIMIT 1",
        tenant, q.from, q.to);
    const std::string head =
        "SELECT json_build_object('from', $2::text, 'to', $3::text, 'clients', coalesce(json_agg(x ORDER BY "
        "x.meetings DESC, x.client), '[]'), 'total_clients', ";
    const std::string row = "AS meetings, closed, active_days, last_meeting::text, round(positive::numeric / "
                            "nullif(classified, 0), 4) AS positive_share";
    if (!p.empty()) {
      return std::string(
          tx.exec_params(head + "$6::int, 'source', $5::text)::text FROM (SELECT client, meetings " + row +
                             " FROM rollup_client_totals WHERE tenant_id = $1 AND kind = $5 AND period_start = $7::date "
                             "ORDER BY meetings DESC, client LIMIT $4) x",
                         tenant, q.from, q.to, q.limit, p[0][0].c_str(), p[0][2].as<int>(), p[0][1].c_str())[0][0]
              .c_str());
    }
    // Any other range sums every client's days in it.
    return std::string(
        tx.exec_params(head + "coalesce(max(x.total), 0), 'source', 'daily')::text FROM (SELECT client, meetings " + row +
                           ", total FROM (SELECT r.value AS client, sum(r.meetings) AS meetings, sum(r.closed) AS closed, "
                           "count(*) AS active_days, max(r.day) AS last_meeting, sum(r.positive) AS positive, "
                           "sum(r.classified) AS classified, count(*) OVER () AS total " MQ_DIMENSION("client")
                           " GROUP BY r.value ORDER BY 2 DESC, 1 LIMIT $4) y) x",
                       tenant, q.from, q.to, q.limit)[0][0]
            .c_str());
  });
}

result<std::string> kpis_clients(pg_session& s, const std::string& tenant, const kpi_query& q) {
  return one_json(s,
                  "SELECT json_build_object('from', $2::text, 'to', $3::text, 'business_sector', " +
                      distribution("business_sector") + ", 'company_size', " + distribution("company_size") +
                      ", 'region', " + distribution("region") + ")::text",
                  tenant, q, false);
}

}  // namespace mq::store

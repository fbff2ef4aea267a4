// Analytics on the real services: synthetic meetings from `mqctl seed-data`, classified
// by the offline provider, rolled up; every KPI checked against independent SQL over the
// raw rows; incremental runs equal a full rebuild; scheduled rollups run once across
// replicas; tenants kept apart; bad parameters refused.

#include <gtest/gtest.h>

#include "mq/core/json.hpp"
#include "mq/core/time.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Analytics : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

/// Seeds `n` meetings for a new tenant `name` over `days` days; returns its key.
std::string seed(stack& s, const std::string& name, int n, int days, int seed_value = 1) {
  auto [status, out] = s.mqctl({"seed-data", "--tenant", name, "--meetings", std::to_string(n), "--days",
                                std::to_string(days), "--seed", std::to_string(seed_value)});
  EXPECT_EQ(status, 0) << out;
  auto last = out.substr(0, out.find_last_not_of('\n') + 1);
  return last.substr(last.rfind('\n') + 1);
}

void classify_all(stack& s, const std::string& key) {
  auto r = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(r.status, 202) << r.body;
  auto b = s.wait_batch(key, parse(r.body)["batch_id"].GetString(), std::chrono::seconds(120));
  ASSERT_EQ(b["failed"].GetInt(), 0);
}

/// Runs a rollup through the API and waits for it; returns the task's result.
rapidjson::Document rollup(stack& s, const std::string& key, const std::string& body = "{}") {
  auto r = s.post(key, "/api/v1/analytics/rollups", body);
  EXPECT_EQ(r.status, 202) << r.body;
  auto t = s.wait_task(key, parse(r.body)["task_id"].GetString());
  EXPECT_STREQ(t["status"].GetString(), "succeeded");
  return parse(json::stringify(t["result"]));
}

/// A tenant `name` with `n` classified meetings over `days` days, rolled up once; then
/// `more` meetings over `more_days` days added and classified (not yet rolled up).
/// Returns its key.
std::string rolled_up_then_grown(stack& s, const std::string& name, int n, int days, int more, int more_days) {
  auto key = seed(s, name, n, days);
  classify_all(s, key);
  rollup(s, key);
  seed(s, name, more, more_days, 7);
  classify_all(s, key);
  return key;
}

std::string tenant_of(stack& s, const std::string& name) {
  return s.sql("SELECT id FROM tenants WHERE name = '" + name + "'");
}

/// Every rollup row of the tenant, as one text (to compare states).
std::string snapshot(stack& s, const std::string& tenant) {
  std::string out;
  for (const char* table : {"rollup_meetings", "rollup_meetings_monthly", "rollup_failures", "rollup_llm", "rollup_deliveries",
                            "rollup_documents", "rollup_client_periods", "rollup_client_totals"})
    out += s.sql(std::string("SELECT coalesce(string_agg(x::text, ';' ORDER BY x::text), '') FROM ") + table +
                 " x WHERE tenant_id = '" + tenant + "'") + "|";
  return out;
}

const std::string range = "?from=2020-01-01&to=2029-12-31";

/// The UTC day `ago` days before today.
std::string day(int ago) { return format_rfc3339(system_now() - std::chrono::hours(24 * ago)).substr(0, 10); }

/// The engagement KPI of [from, to] against the raw meetings: the top five clients
/// (meetings, closures, active days, last meeting, positive share) and the client count,
/// and which rollup rows answered (`source`).
void expect_engagement(stack& s, const std::string& key, const std::string& tenant, const std::string& from,
                       const std::string& to, const std::string& source) {
  const auto path = "/api/v1/kpis/clients/engagement?from=" + from + "&to=" + to + "&limit=5";
  auto e = parse(s.get(key, path).body);
  EXPECT_EQ(std::string(e["source"].GetString()), source) << path;
  const std::string in = " FROM meetings m JOIN clients c ON c.id = m.client_id LEFT JOIN classifications k ON "
                         "k.meeting_id = m.id WHERE m.tenant_id = '" + tenant + "' AND m.meeting_date BETWEEN '" + from +
                         "' AND '" + to + "'";
  EXPECT_EQ(e["total_clients"].GetInt64(), s.sql_count("SELECT count(DISTINCT m.client_id)" + in)) << path;
  const auto expected = s.sql(
      "SELECT string_agg(format('%s %s %s %s %s %s', name, n, closed, days, last, share), ', ' ORDER BY n DESC, name) "
      "FROM (SELECT c.name, count(*) n, count(*) FILTER (WHERE m.closed) closed, count(DISTINCT m.meeting_date) days, "
      "max(m.meeting_date) last, round(count(*) FILTER (WHERE k.sentiment = 'positive')::numeric / "
      "nullif(count(k.meeting_id), 0), 4)::float8 share" + in + " GROUP BY c.name ORDER BY n DESC, c.name LIMIT 5) x");
  std::string got;
  for (const auto& c : e["clients"].GetArray())
    got += std::string(got.empty() ? "" : ", ") + c["client"].GetString() + " " + std::to_string(c["meetings"].GetInt64()) +
           " " + std::to_string(c["closed"].GetInt64()) + " " + std::to_string(c["active_days"].GetInt64()) + " " +
           c["last_meeting"].GetString() + " " + s.sql("SELECT " + json::stringify(c["positive_share"]) + "::float8");
  EXPECT_EQ(got, expected) << path;
}

TEST_F(Analytics, KpisMatchIndependentSqlOverTheRawRows) {
  stack s;
  auto key = seed(s, "acme", 800, 200);
  ASSERT_FALSE(key.empty());
  classify_all(s, key);
  // One processed document counts too.
  auto doc = http_call("POST", s.url("/api/v1/documents?title=faq"), "Preguntas frecuentes.\n\nEnvíos en 48 horas.",
                       {"Authorization: Bearer " + key, "Content-Type: text/plain"});
  ASSERT_EQ(doc.status, 202) << doc.body;
  s.wait_task(key, parse(doc.body)["task_id"].GetString());
  // One classification fails: its meeting is deleted before a worker claims the task.
  s.stop_workers();
  auto gone = s.add_meetings(key, {"Cliente: somos una aseguradora en Quito."}).at(0);
  auto queued = s.post(key, "/api/v1/workers/classify/" + std::to_string(gone));
  ASSERT_EQ(queued.status, 202) << queued.body;
  s.sql("DELETE FROM meetings WHERE id = " + std::to_string(gone));
  s.start_worker();
  EXPECT_STREQ(s.wait_task(key, parse(queued.body)["task_id"].GetString())["status"].GetString(), "failed");
  auto first = rollup(s, key);
  EXPECT_TRUE(first["full"].GetBool()) << "the first run rebuilds";
  EXPECT_GT(first["days_recomputed"].GetInt(), 100);
  const auto t = tenant_of(s, "acme");
  const std::string mine = "m.tenant_id = '" + t + "'";

  auto k = parse(s.get(key, "/api/v1/kpis" + range).body);
  EXPECT_EQ(k["meetings"].GetInt64(), 800);
  EXPECT_EQ(k["closed"].GetInt64(), s.sql_count("SELECT count(*) FROM meetings m WHERE closed AND " + mine));
  EXPECT_EQ(k["classified"].GetInt64(), 800);
  EXPECT_NEAR(k["average_confidence"].GetDouble(),
              std::stod(s.sql("SELECT avg(confidence_score) FROM classifications WHERE tenant_id = '" + t + "'")), 1e-4);
  for (const char* sentiment : {"positive", "neutral", "negative"})
    EXPECT_EQ(k["sentiment"][sentiment].GetInt64(),
              s.sql_count(std::string("SELECT count(*) FROM classifications WHERE sentiment = '") + sentiment +
                          "' AND tenant_id = '" + t + "'"))
        << sentiment;
  EXPECT_EQ(k["documents"]["completed"].GetInt64(), 1);
  EXPECT_EQ(k["classification_failures"].GetInt64(), 1);
  EXPECT_EQ(k["classification_failures"].GetInt64(),
            s.sql_count("SELECT count(*) FROM tasks WHERE status = 'failed' AND kind = 'classify_meeting' AND tenant_id = '" + t + "'"));
  EXPECT_EQ(k["llm"]["calls"].GetInt64(), s.sql_count("SELECT coalesce(sum(calls), 0) FROM llm_usage WHERE tenant_id = '" + t + "'"));

  // Sellers: meetings and closures each.
  auto sellers = parse(s.get(key, "/api/v1/kpis/sellers/performance" + range + "&limit=100").body);
  ASSERT_EQ(sellers["sellers"].Size(), 20u);
  for (const auto& row : sellers["sellers"].GetArray()) {
    const std::string name = row["seller"].GetString();
    const std::string where = " FROM meetings m JOIN sellers x ON x.id = m.seller_id WHERE x.name = '" + name + "' AND " + mine;
    EXPECT_EQ(row["meetings"].GetInt64(), s.sql_count("SELECT count(*)" + where)) << name;
    EXPECT_EQ(row["closed"].GetInt64(), s.sql_count("SELECT count(*)" + where + " AND m.closed")) << name;
  }

  // Trends by month: meetings per month.
  auto trends = parse(s.get(key, "/api/v1/kpis/meetings/trends" + range + "&group_by=month").body);
  long long total = 0;
  for (const auto& p : trends["periods"].GetArray()) {
    const std::string month = p["period"].GetString();
    EXPECT_EQ(p["meetings"].GetInt64(),
              s.sql_count("SELECT count(*) FROM meetings m WHERE date_trunc('month', meeting_date)::date = '" + month +
                          "' AND " + mine))
        << month;
    total += p["meetings"].GetInt64();
  }
  EXPECT_EQ(total, 800);

  // Clients: sector distribution, and the most engaged client.
  auto clients = parse(s.get(key, "/api/v1/kpis/clients/analysis" + range).body);
  for (const auto& row : clients["business_sector"].GetArray())
    EXPECT_EQ(row["meetings"].GetInt64(),
              s.sql_count(std::string("SELECT count(*) FROM classifications WHERE business_sector = '") +
                          row["value"].GetString() + "' AND tenant_id = '" + t + "'"));
  // The most engaged clients: over all time (summing days), the default range and the last
  // 30 days (moving windows ending today), this year and last month (calendar periods), and
  // a range inside those periods with meetings outside it (summing days).
  const auto year = day(0).substr(0, 4);
  const auto last_month = s.sql("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date - 1");
  expect_engagement(s, key, t, "2020-01-01", "2029-12-31", "daily");
  expect_engagement(s, key, t, day(364), day(0), "last_365");
  expect_engagement(s, key, t, day(29), day(0), "last_30");
  expect_engagement(s, key, t, year + "-01-01", year + "-12-31", "year");
  expect_engagement(s, key, t, last_month.substr(0, 8) + "01", last_month, "month");
  expect_engagement(s, key, t, day(75), day(9), "daily");
  auto engaged = parse(s.get(key, "/api/v1/kpis/clients/engagement").body);
  EXPECT_STREQ(engaged["source"].GetString(), "last_365") << "the default range is the last 365 days";

  // A range cutting months in two: whole months from the monthly rows, the edges by day.
  const auto part = "?from=" + day(75) + "&to=" + day(9);
  const auto between = " AND m.meeting_date BETWEEN '" + day(75) + "' AND '" + day(9) + "'";
  auto cut = parse(s.get(key, "/api/v1/kpis" + part).body);
  EXPECT_EQ(cut["meetings"].GetInt64(), s.sql_count("SELECT count(*) FROM meetings m WHERE " + mine + between));
  EXPECT_EQ(cut["closed"].GetInt64(), s.sql_count("SELECT count(*) FROM meetings m WHERE m.closed AND " + mine + between));
  auto cut_sellers = parse(s.get(key, "/api/v1/kpis/sellers/performance" + part + "&limit=100").body);
  for (const auto& row : cut_sellers["sellers"].GetArray())
    EXPECT_EQ(row["meetings"].GetInt64(),
              s.sql_count("SELECT count(*) FROM meetings m JOIN sellers x ON x.id = m.seller_id WHERE x.name = '" +
                          std::string(row["seller"].GetString()) + "' AND " + mine + between));

  auto overview = parse(s.get(key, "/api/v1/kpis/overview" + range + "&limit=3").body);
  EXPECT_EQ(overview["totals"]["meetings"].GetInt64(), 800);
  EXPECT_LE(overview["top_business_sectors"].Size(), 3u);
  EXPECT_GE(overview["top_business_sectors"].Size(), 1u);
}

TEST_F(Analytics, IncrementalRunsEqualAFullRebuildAndRunningTwiceChangesNothing) {
  stack s;
  // New meetings on old and new days after the first rollup; then one classification deleted.
  auto key = rolled_up_then_grown(s, "acme", 300, 60, 120, 90);
  const auto t = tenant_of(s, "acme");
  auto victim = s.sql("SELECT meeting_id FROM classifications WHERE tenant_id = '" + t + "' ORDER BY meeting_id LIMIT 1");
  EXPECT_EQ(s.del(key, "/api/v1/workers/classification/" + victim).status, 204);
  auto inc = rollup(s, key);
  EXPECT_FALSE(inc["full"].GetBool());
  EXPECT_GT(inc["days_recomputed"].GetInt(), 0);
  const auto incremental = snapshot(s, t);
  // A run looks again at rows changed after the oldest transaction open during the last
  // run (tests running alongside share the database), so it may take more than one run for
  // an unchanged tenant to show no work; every such run must leave the rows as they are.
  bool idle = false;
  for (int run = 0; run < 20 && !idle; ++run) {
    auto again = rollup(s, key);
    EXPECT_TRUE(snapshot(s, t) == incremental) << "run " << run << " after it changed the rollups";
    idle = again["days_recomputed"].GetInt() == 0;
  }
  EXPECT_TRUE(idle) << "with nothing changed, runs kept recomputing days";
  auto full = rollup(s, key, R"({"full":true})");
  EXPECT_TRUE(full["full"].GetBool());
  EXPECT_TRUE(snapshot(s, t) == incremental) << "incremental and full rollups differ";
  // A moving window left from an earlier day is replaced by today's whole.
  s.sql("UPDATE rollup_client_periods SET period_start = period_start - 1, period_end = period_end - 1 WHERE kind = "
        "'last_30' AND tenant_id = '" + t + "'");
  s.sql("UPDATE rollup_client_totals SET period_start = period_start - 1, meetings = meetings + 100 WHERE kind = "
        "'last_30' AND tenant_id = '" + t + "'");
  rollup(s, key);
  EXPECT_TRUE(snapshot(s, t) == incremental) << "a moving window from yesterday was not replaced";
  auto k = parse(s.get(key, "/api/v1/kpis" + range).body);
  EXPECT_EQ(k["meetings"].GetInt64(), 420);
  EXPECT_EQ(k["classified"].GetInt64(), 419);
}

TEST_F(Analytics, ARangedRunLeavesOtherChangedDaysForLater) {
  stack s;
  auto key = rolled_up_then_grown(s, "acme", 100, 30, 100, 30);
  const auto t = tenant_of(s, "acme");
  const auto today = format_rfc3339(system_now()).substr(0, 10);
  auto part = rollup(s, key, R"({"from":")" + today + R"(","to":")" + today + R"("})");
  EXPECT_LE(part["days_recomputed"].GetInt(), 1);
  EXPECT_GT(part["days_left_dirty"].GetInt(), 0);
  rollup(s, key);
  const auto incremental = snapshot(s, t);
  rollup(s, key, R"({"full":true})");
  EXPECT_TRUE(snapshot(s, t) == incremental) << "incremental and full rollups differ";
}

TEST_F(Analytics, ScheduledRollupsRunOnceAcrossReplicas) {
  stack s({.workers = 2, .env = {{"MQ_ANALYTICS_ROLLUP_EVERY_SECONDS", "2"}}});
  auto a = seed(s, "acme", 50, 10);
  seed(s, "globex", 50, 10, 2);
  ASSERT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM rollup_slots") >= 3; }, std::chrono::seconds(30)));
  ASSERT_TRUE(eventually([&] {
    return s.sql_count("SELECT count(*) FROM tasks WHERE kind = 'rollup_analytics' AND status <> 'succeeded'") == 0;
  }));
  // Every slot was taken once and queued one rollup per tenant, not one per replica.
  const auto slots = s.sql_count("SELECT count(*) FROM rollup_slots");
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM (SELECT DISTINCT slot FROM rollup_slots) x"), slots);
  // A slot's requests are written in the transaction that took it (same now()): each
  // request belongs to exactly one slot, and no tenant has two in one slot.
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM rollup_requests q WHERE scheduled AND "
                        "(SELECT count(*) FROM rollup_slots x WHERE x.taken_at = q.created_at) <> 1"),
            0);
  EXPECT_LE(s.sql_count("SELECT coalesce(max(n), 0) FROM (SELECT tenant_id, created_at, count(*) n "
                        "FROM rollup_requests WHERE scheduled GROUP BY 1, 2) x"),
            1);
  EXPECT_GE(s.sql_count("SELECT count(*) FROM rollup_requests WHERE scheduled"), 2);
  ASSERT_TRUE(eventually([&] {
    auto k = parse(s.get(a, "/api/v1/kpis" + range).body);
    return k["meetings"].GetInt64() == 50;
  }));
}

TEST_F(Analytics, TenantsAreApartAndBadParametersAreRefused) {
  stack s;
  auto a = seed(s, "acme", 60, 10);
  auto b = s.create_tenant("globex");
  classify_all(s, a);
  rollup(s, a);
  rollup(s, b);
  EXPECT_EQ(parse(s.get(a, "/api/v1/kpis" + range).body)["meetings"].GetInt64(), 60);
  EXPECT_EQ(parse(s.get(b, "/api/v1/kpis" + range).body)["meetings"].GetInt64(), 0);
  EXPECT_EQ(parse(s.get(b, "/api/v1/kpis/sellers/performance" + range).body)["sellers"].Size(), 0u);
  EXPECT_EQ(s.get(a, "/api/v1/kpis?from=2024-02-30").status, 400);
  EXPECT_EQ(s.get(a, "/api/v1/kpis?from=2024-05-01&to=2024-04-01").status, 400);
  EXPECT_EQ(s.get(a, "/api/v1/kpis/meetings/trends?group_by=year").status, 400);
  EXPECT_EQ(s.get(a, "/api/v1/kpis/sellers/performance?limit=0").status, 400);
  EXPECT_EQ(s.get(a, "/api/v1/kpis?from=1900-01-01&to=2100-01-01").status, 400) << "more than ten years";
  EXPECT_EQ(s.post(a, "/api/v1/analytics/rollups", R"({"from":"2024-13-01"})").status, 422);
  EXPECT_EQ(s.post(a, "/api/v1/analytics/rollups", R"({"from":"2024-05-02","to":"2024-05-01"})").status, 422);
  EXPECT_EQ(s.post(a, "/api/v1/analytics/rollups", R"({"weekly":true})").status, 422);
  // The generator refuses what it cannot make, and makes nothing then.
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"seed-data", "--tenant", "x", "--meetings", "0"},
                                              {"seed-data", "--tenant", "x", "--days", "many"}}) {
    auto [code, out] = s.mqctl(bad);
    EXPECT_EQ(code, 64) << out;
  }
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tenants WHERE name = 'x'"), 0);
  // Without a range the answer is the year up to today.
  auto k = parse(s.get(a, "/api/v1/kpis").body);
  EXPECT_EQ(k["to"].GetString(), format_rfc3339(system_now()).substr(0, 10));
  EXPECT_EQ(k["meetings"].GetInt64(), 60);
}

}  // namespace

// What operators see, on the real services: worker replicas' heartbeats aggregated by
// /api/v1/workers/stats and /health (replicas that stop beating disappear), Prometheus
// /metrics of the API and of each replica read by a strict parser, the replicas' own
// /health and /ready, the dashboard's files, its endpoint and /openapi.json served, and
// one JSON object per log line with its correlation fields; replicas run below the API's
// CPU priority.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <dirent.h>
#include <fstream>
#include <sstream>

#include "mq/core/json.hpp"
#include "prometheus.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Operations : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

/// Stores `n` meetings and classifies them as one batch; returns when all are done.
void classify(stack& s, const std::string& key, int n) {
  std::vector<std::string> transcripts;
  for (int i = 0; i < n; ++i) transcripts.push_back("Cliente: somos una clínica dental en Lima, reunión " + std::to_string(i));
  s.add_meetings(key, transcripts);
  auto r = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(r.status, 202) << r.body;
  auto b = s.wait_batch(key, parse(r.body)["batch_id"].GetString());
  ASSERT_EQ(b["succeeded"].GetInt(), n);
}

rapidjson::Document stats(stack& s, const std::string& key) {
  auto r = s.get(key, "/api/v1/workers/stats");
  EXPECT_EQ(r.status, 200) << r.body;
  return parse(r.body);
}

TEST_F(Operations, WorkerStatsAggregateHeartbeatsAndSilentReplicasDisappear) {
  stack_options o;
  o.workers = 2;
  stack s(o);
  auto key = s.create_tenant("acme");
  classify(s, key, 40);

  // Heartbeats carry the counters within a beat (one second here).
  rapidjson::Document st;
  ASSERT_TRUE(eventually([&] {
    st = stats(s, key);
    return st["replicas"].GetInt64() == 2 && st["totals"]["succeeded"].GetInt64() == 40;
  })) << json::stringify(st);
  const auto classify_queue = s.cfg().amqp.prefix + ".classify_meeting";
  std::set<long long> pids;
  for (const auto& w : st["workers"].GetArray()) {
    EXPECT_FALSE(std::string(w["id"].GetString()).empty());
    EXPECT_FALSE(std::string(w["host"].GetString()).empty());
    EXPECT_STREQ(w["version"].GetString(), "0.1.0");
    EXPECT_STREQ(w["state"].GetString(), "running");
    pids.insert(w["pid"].GetInt64());
    bool consumes = false;
    for (const auto& q : w["queues"].GetArray()) consumes = consumes || q.GetString() == classify_queue;
    EXPECT_TRUE(consumes);
    EXPECT_GE(w["uptime_seconds"].GetInt64(), 0);
    EXPECT_GT(w["metrics_port"].GetInt64(), 0);
    EXPECT_EQ(w["in_flight"].GetInt64(), 0);
  }
  EXPECT_EQ(pids, (std::set<long long>{s.workers()[0]->pid(), s.workers()[1]->pid()}));
  EXPECT_EQ(st["totals"]["processed"].GetInt64(), 40);
  EXPECT_EQ(st["totals"]["failed"].GetInt64(), 0);
  EXPECT_EQ(st["totals"]["processed_last_minute"].GetInt64(), 40) << "the test runs within a minute";
  EXPECT_NEAR(st["jobs_per_second_last_minute"].GetDouble(), 40.0 / 60, 1e-9);
  for (const auto& q : st["queues"].GetArray()) {
    if (q["name"].GetString() == classify_queue) {
      EXPECT_EQ(q["consumers"].GetInt64(), 2);
    }
  }

  auto health = s.get(key, "/api/v1/workers/health");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(parse(health.body)["alive"].GetInt64(), 2);

  // Killed without a word: gone once its heartbeat expires (three seconds here).
  s.workers()[0]->signal(SIGKILL);
  ASSERT_TRUE(eventually([&] { return stats(s, key)["replicas"].GetInt64() == 1; }, std::chrono::seconds(15)));
  // Stopped with SIGTERM: it removes its heartbeat before it exits.
  s.workers()[1]->signal(SIGTERM);
  ASSERT_EQ(s.workers()[1]->wait(std::chrono::seconds(30)), 0);
  st = stats(s, key);
  EXPECT_EQ(st["replicas"].GetInt64(), 0) << json::stringify(st);
  health = s.get(key, "/api/v1/workers/health");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_STREQ(parse(health.body)["error"]["code"].GetString(), "SERVICE_UNAVAILABLE");
}

TEST_F(Operations, PrometheusMetricsOfTheApiAndOfEachReplica) {
  stack s;
  auto key = s.create_tenant("acme");
  classify(s, key, 25);
  EXPECT_EQ(s.get(key, "/api/v1/tasks/00000000-0000-0000-0000-000000000000").status, 404);

  auto api = http_call("GET", s.url("/metrics"));
  ASSERT_EQ(api.status, 200);
  EXPECT_EQ(api.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  const auto a = parse_prometheus(api.body);
  EXPECT_EQ(a.types.at("mq_http_requests_total"), "counter");
  EXPECT_EQ(a.types.at("mq_http_request_duration_seconds"), "histogram");
  EXPECT_EQ(a.at(R"(mq_http_requests_total{method="POST",route="/api/v1/classifications/queue-unclassified",status="202"})"), 1);
  EXPECT_EQ(a.at(R"(mq_http_requests_total{method="GET",route="/api/v1/tasks/:id",status="404"})"), 1);
  EXPECT_EQ(a.at(R"(mq_http_request_duration_seconds_count{method="POST",route="/api/v1/meetings",status="201"})"), 1);
  EXPECT_EQ(a.at(R"(mq_http_request_duration_seconds_count{method="GET",route="/api/v1/tasks/:id",status="404"})"), 1);
  EXPECT_EQ(a.at("mq_queue_consumers{queue=\"" + s.cfg().amqp.prefix + ".classify_meeting\"}"), 1);
  EXPECT_EQ(a.at("mq_queue_messages{queue=\"" + s.cfg().amqp.prefix + ".classify_meeting\"}"), 0);

  // The replica's port, from its heartbeat.
  rapidjson::Document st;
  ASSERT_TRUE(eventually([&] {
    st = stats(s, key);
    return st["replicas"].GetInt64() == 1 && st["totals"]["succeeded"].GetInt64() == 25;
  }));
  const auto base = "http://127.0.0.1:" + std::to_string(st["workers"][0]["metrics_port"].GetInt64());
  auto worker = http_call("GET", base + "/metrics");
  ASSERT_EQ(worker.status, 200);
  const auto w = parse_prometheus(worker.body);
  EXPECT_EQ(w.at(R"(mq_jobs_total{kind="classify_meeting",outcome="succeeded"})"), 25);
  EXPECT_EQ(w.at(R"(mq_job_duration_seconds_count{kind="classify_meeting"})"), 25);
  EXPECT_EQ(w.at("mq_jobs_in_flight"), 0);
  EXPECT_EQ(w.at("mq_llm_calls_in_flight"), 0);
  EXPECT_EQ(w.sum("mq_llm_calls_total", R"(outcome="ok")"), 25) << "one offline call per meeting";
  EXPECT_GT(w.at(R"(mq_llm_tokens_total{direction="in"})"), 0);
  EXPECT_EQ(w.at("mq_dead_letters_total"), 0);
  EXPECT_GT(w.at("process_resident_memory_bytes"), 1e6);
  EXPECT_EQ(http_call("GET", base + "/health").status, 200);
  EXPECT_EQ(http_call("GET", base + "/ready").status, 200);
  EXPECT_EQ(http_call("GET", base + "/nothing").status, 404);
}

TEST_F(Operations, TheDashboardAndOpenApiAreServedAndBadRequestsRefused) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto page = http_call("GET", s.url("/dashboard"));
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u);
  EXPECT_NE(page.body.find("/dashboard/dashboard.js"), std::string::npos);
  EXPECT_EQ(http_call("GET", s.url("/dashboard/dashboard.js")).header("content-type").rfind("text/javascript", 0), 0u);
  auto missing = http_call("GET", s.url("/dashboard/secrets.txt"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_STREQ(parse(missing.body)["error"]["code"].GetString(), "NOT_FOUND");

  auto spec = http_call("GET", s.url("/openapi.json"));
  ASSERT_EQ(spec.status, 200);
  auto doc = parse(spec.body);
  EXPECT_STREQ(doc["openapi"].GetString(), "3.1.0");
  EXPECT_TRUE(doc["paths"]["/api/v1/tasks/{id}"]["get"].IsObject());

  // The dashboard's own endpoint: the caller's work only, limit checked.
  auto other = s.create_tenant("other");
  s.add_meetings(other, {"Cliente: una panadería en Cusco.", "Cliente: un hotel en Arequipa."});
  ASSERT_EQ(s.post(other, "/api/v1/classifications/queue-unclassified").status, 202);
  auto theirs = parse(s.get(other, "/api/v1/overview").body);
  ASSERT_EQ(theirs["batches"].Size(), 1u);
  EXPECT_EQ(theirs["batches"][0]["total"].GetInt(), 2);
  EXPECT_EQ(theirs["batches"][0]["pending"].GetInt(), 2);
  EXPECT_EQ(theirs["tasks"].Size(), 2u);
  auto empty = parse(s.get(key, "/api/v1/overview").body);
  EXPECT_EQ(empty["tasks"].Size(), 0u) << "another tenant's work is not shown";
  EXPECT_EQ(empty["batches"].Size(), 0u);
  for (const char* bad : {"0", "101", "ten", "-1"}) {
    auto r = s.get(key, std::string("/api/v1/overview?limit=") + bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_STREQ(parse(r.body)["error"]["details"]["parameter"].GetString(), "limit") << bad;
  }
  EXPECT_EQ(http_call("GET", s.url("/api/v1/overview")).status, 401);
}

/// The nice value of every thread of process `pid` (field 19 of /proc/<pid>/task/<tid>/stat).
std::vector<int> thread_nice_values(pid_t pid) {
  std::vector<int> out;
  const auto dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (auto* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;  // the thread ended meanwhile
    std::istringstream rest(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
    std::string skipped;
    for (int field = 3; field < 19; ++field) rest >> skipped;  // fields 3 (state) to 18 (priority)
    int nice = 0;
    if (rest >> nice) out.push_back(nice);
  }
  closedir(d);
  return out;
}

TEST_F(Operations, ReplicasRunEveryThreadBelowTheApisCpuPriority) {
  stack s;
  s.start_worker({{"MQ_WORKER_NICE", "3"}});
  s.wait_consumers(2);
  auto key = s.create_tenant("acme");
  classify(s, key, 10);  // every actor and I/O thread of both replicas has started

  const int ours = getpriority(PRIO_PROCESS, 0);
  ASSERT_LT(ours, 3) << "the tests themselves run niced; the replicas' priority cannot be told apart";
  const auto api = thread_nice_values(s.api().pid());
  ASSERT_FALSE(api.empty());
  for (int n : api) EXPECT_EQ(n, ours) << "the api keeps its priority";
  const auto by_default = thread_nice_values(s.workers()[0]->pid());
  const auto configured = thread_nice_values(s.workers()[1]->pid());
  EXPECT_GT(by_default.size(), 4u) << "scheduler, Postgres, AMQP and HTTP engine threads";
  for (int n : by_default) EXPECT_EQ(n, 10) << "worker.nice by default";
  ASSERT_EQ(configured.size(), by_default.size());
  for (int n : configured) EXPECT_EQ(n, 3) << "MQ_WORKER_NICE";
}

TEST_F(Operations, LogsAreOneJsonObjectPerLineWithTheirCorrelationFields) {
  stack_options o;
  o.env["MQ_LOG_LEVEL"] = "info";
  stack s(o);
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: vendemos muebles en Quito."});
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[0]), "", {"X-Request-ID: ops-trace-1"});
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string task = parse(r.body)["task_id"].GetString();
  s.wait_task(key, task);
  const auto tenant = s.sql("SELECT id FROM tenants");  // the only one
  bool traced = false;
  for (const auto* p : {&s.api(), s.workers()[0].get()}) {
    std::istringstream lines(p->log());
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
      auto doc = json::parse(line);
      ASSERT_TRUE(doc && doc->IsObject()) << "not one JSON object: " << line;
      for (const char* field : {"timestamp", "level", "service", "component", "message"})
        ASSERT_TRUE(doc->HasMember(field) && (*doc)[field].IsString()) << field << " missing: " << line;
      EXPECT_NE(std::string((*doc)["level"].GetString()), "debug") << "the level is info: " << line;
      if (doc->HasMember("request_id") && std::string((*doc)["request_id"].GetString()) == "ops-trace-1" &&
          doc->HasMember("task_id") && doc->HasMember("tenant")) {
        EXPECT_EQ(std::string((*doc)["task_id"].GetString()), task);
        EXPECT_EQ(std::string((*doc)["tenant"].GetString()), tenant);
        traced = true;
      }
    }
    EXPECT_GT(n, 0);
  }
  EXPECT_TRUE(traced) << "no line carries the request's id with its task and tenant";
}

}  // namespace

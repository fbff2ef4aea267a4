// The LLM layer against the real worker and services, with the stub misbehaving on cue:
// concurrency without threads, timeouts in layers, retries that respect the provider,
// repair of invalid answers, shared rate limits, and usage accounting.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "llm_stub.hpp"
#include "mq/core/json.hpp"
#include "mq/core/time.hpp"
#include "stack.hpp"
#include "stalled_listener.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct LlmLayer : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

stack_options openai(const llm_stub& llm, std::map<std::string, std::string> env = {}) {
  stack_options o;
  o.llm_provider = "openai";
  o.llm_base_url = llm.base_url();
  o.env = std::move(env);
  o.env.emplace("MQ_LLM_MODEL", "stub-model");
  return o;
}

std::string classify(stack& s, const std::string& key, long long meeting_id) {
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(meeting_id));
  EXPECT_EQ(r.status, 202) << r.body;
  return parse(r.body)["task_id"].GetString();
}

rapidjson::Document classify_one(stack& s, const std::string& key, const std::string& transcript = "Cliente: hola.") {
  auto ids = s.add_meetings(key, {transcript});
  return s.wait_task(key, classify(s, key, ids[0]));
}

std::string status_of(const rapidjson::Document& task) { return task["status"].GetString(); }
std::string error_code_of(const rapidjson::Document& task) {
  return task["error"].IsObject() ? task["error"]["code"].GetString() : "";
}
std::string error_of(const rapidjson::Document& task) {
  return task["error"].IsObject() ? task["error"]["message"].GetString() : "";
}

long long ms_between(const stub_request& a, const stub_request& b) {
  return std::chrono::duration_cast<milliseconds>(b.at - a.at).count();
}

int threads_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

long peak_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::vector<std::string> meetings(int n) {
  std::vector<std::string> t;
  for (int i = 0; i < n; ++i) t.push_back("Cliente: reunión " + std::to_string(i));
  return t;
}

// ---------------------------------------------------------------- concurrency

TEST_F(LlmLayer, OneReplicaHoldsAThousandCallsInFlightWithoutAThreadEach) {
  llm_stub llm(0, 2);
  llm.keep_requests(false);
  llm.on_chat([](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.delay = milliseconds(2500);
    return r;
  });
  stack s(openai(llm, {{"MQ_WORKER_PREFETCH", "1500"}, {"MQ_LLM_MAX_IN_FLIGHT", "1500"},
                       {"MQ_LOG_LEVEL", "warn"}}));
  auto key = s.create_tenant("acme");
  s.add_meetings(key, meetings(1200));
  auto first = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  ASSERT_EQ(first["queued"].GetInt(), 1200);
  int threads_at_peak = 0;
  for (int i = 0; i < 400 && llm.max_in_flight() < 1000; ++i) {
    threads_at_peak = std::max(threads_at_peak, threads_of(s.workers()[0]->pid()));
    std::this_thread::sleep_for(milliseconds(25));
  }
  EXPECT_GE(llm.max_in_flight(), 1000) << "calls held at once by one replica";
  EXPECT_LT(threads_at_peak, 30) << "no thread per call";
  auto batch = s.wait_batch(key, first["batch_id"].GetString(), std::chrono::seconds(90));
  EXPECT_EQ(batch["succeeded"].GetInt(), 1200);
  const int first_connections = llm.connections();
  // A second wave reuses the kept-alive connections.
  s.add_meetings(key, meetings(300));
  auto second = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  s.wait_batch(key, second["batch_id"].GetString(), std::chrono::seconds(60));
  EXPECT_EQ(llm.calls(), 1500);
  EXPECT_LT(llm.connections() - first_connections, 100) << "connections were not reused";
}

// ---------------------------------------------------------------- timeouts

TEST_F(LlmLayer, ACallWithNoAnswerIsAbortedAtTheFirstByteTimeoutAndRetried) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    return n == 1 ? stub_reply::hang() : llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm, {{"MQ_LLM_FIRST_BYTE_TIMEOUT_MS", "300"}}));
  auto key = s.create_tenant("acme");
  const auto start = steady_clock::now();
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "succeeded");
  EXPECT_EQ(llm.calls(), 2);
  auto gap = ms_between(llm.requests()[0], llm.requests()[1]);
  EXPECT_GE(gap, 300);
  EXPECT_LT(gap, 2000) << "aborted within its bound";
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(s.workers()[0]->log().find("no answer within 300 ms"), std::string::npos);
}

TEST_F(LlmLayer, AStalledAnswerIsAbortedAtTheIdleTimeout) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    if (n == 1) {
      r.act = stub_reply::action::drip;
      r.drip_bytes = 10;
      r.drip_every = milliseconds(600);
    }
    return r;
  });
  stack s(openai(llm, {{"MQ_LLM_IDLE_TIMEOUT_MS", "250"}}));
  auto key = s.create_tenant("acme");
  EXPECT_EQ(status_of(classify_one(s, key)), "succeeded");
  EXPECT_EQ(llm.calls(), 2);
  EXPECT_NE(s.workers()[0]->log().find("answer stalled for 250 ms"), std::string::npos);
}

TEST_F(LlmLayer, ASlowDripIsAbortedAtTheTotalTimeout) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.act = stub_reply::action::drip;  // never idle long, never done in time
    r.drip_bytes = 1;
    r.drip_every = milliseconds(20);
    return r;
  });
  stack s(openai(llm, {{"MQ_LLM_REQUEST_TIMEOUT_MS", "400"}, {"MQ_LLM_MAX_ATTEMPTS", "2"}}));
  auto key = s.create_tenant("acme");
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "failed");
  EXPECT_EQ(error_code_of(task), "TIMEOUT");
  EXPECT_NE(error_of(task).find("after 2 failed calls"), std::string::npos) << error_of(task);
  EXPECT_EQ(llm.calls(), 2);
}

TEST_F(LlmLayer, AConnectThatNeverCompletesIsAbortedAtTheConnectTimeout) {
  stalled_listener listener;
  stack_options o;
  o.llm_provider = "openai";
  o.llm_base_url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/v1";
  o.env = {{"MQ_LLM_CONNECT_TIMEOUT_MS", "200"}, {"MQ_LLM_MAX_ATTEMPTS", "2"}};
  stack s(o);
  auto key = s.create_tenant("acme");
  const auto start = steady_clock::now();
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "failed");
  EXPECT_EQ(error_code_of(task), "TIMEOUT") << error_of(task);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

// ---------------------------------------------------------------- retries

TEST_F(LlmLayer, RetryAfterIsHonouredInSecondsAndAsADate) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return stub_reply::error(429, R"({"error":{"message":"slow down","code":"rate_limit_exceeded"}})", {{"Retry-After", "1"}});
    if (n == 2) {
      std::string date = format_rfc3339(system_now() + std::chrono::seconds(2));
      // HTTP-date of the same instant, to the second.
      std::time_t t = std::chrono::system_clock::to_time_t(system_now() + std::chrono::seconds(2));
      char buf[64];
      std::tm tm{};
      gmtime_r(&t, &tm);
      std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
      return stub_reply::error(503, R"({"error":{"message":"busy"}})", {{"Retry-After", buf}});
    }
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm));
  auto key = s.create_tenant("acme");
  EXPECT_EQ(status_of(classify_one(s, key)), "succeeded");
  auto reqs = llm.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_GE(ms_between(reqs[0], reqs[1]), 1000);
  EXPECT_GE(ms_between(reqs[1], reqs[2]), 1000);  // the date is whole seconds away
}

TEST_F(LlmLayer, QuotaExhaustionAndBadRequestsAreNotRetried) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int) {
    return stub_reply::error(429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})");
  });
  stack s(openai(llm));
  auto key = s.create_tenant("acme");
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "failed");
  EXPECT_EQ(error_code_of(task), "LLM_QUOTA_EXHAUSTED");
  EXPECT_EQ(llm.calls(), 1);
  llm.on_chat([](const stub_request&, int) {
    return stub_reply::error(400, R"({"error":{"message":"Invalid 'messages'"}})");
  });
  auto bad = classify_one(s, key);
  EXPECT_EQ(error_code_of(bad), "LLM_BAD_REQUEST");
  EXPECT_EQ(llm.calls(), 2);
}

TEST_F(LlmLayer, ServerErrorsAndResetsAreRetriedUpToTheLimit) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return stub_reply::reset();
    if (n == 2) return stub_reply::error(500, "internal");
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm, {{"MQ_LLM_MAX_ATTEMPTS", "3"}}));
  auto key = s.create_tenant("acme");
  auto ok = classify_one(s, key);
  EXPECT_EQ(status_of(ok), "succeeded");
  EXPECT_EQ(llm.calls(), 3);
  EXPECT_EQ(ok["usage"]["llm_calls"].GetInt(), 3);
  llm.on_chat([](const stub_request&, int) { return stub_reply::error(503, R"({"error":{"message":"down"}})"); });
  auto failed = classify_one(s, key);
  EXPECT_EQ(status_of(failed), "failed");
  EXPECT_EQ(error_code_of(failed), "LLM_SERVER_ERROR");
  EXPECT_NE(error_of(failed).find("after 3 failed calls"), std::string::npos) << error_of(failed);
  EXPECT_EQ(llm.calls(), 6);
}

TEST_F(LlmLayer, ALongWaitReleasesTheDeliveryAndTheTaskShowsRetrying) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return stub_reply::error(429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "2"}});
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm, {{"MQ_LLM_HOLD_MAX_MS", "300"}}));
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: hola."});
  auto task_id = classify(s, key, ids[0]);
  bool saw_retrying = false;
  for (int i = 0; i < 200 && !saw_retrying; ++i) {
    auto t = parse(s.get(key, "/api/v1/tasks/" + task_id).body);
    if (status_of(t) == "retrying") {
      saw_retrying = true;
      EXPECT_TRUE(t["next_attempt_at"].IsString());
      EXPECT_EQ(error_code_of(t), "LLM_RATE_LIMITED");
      // Released: nothing of this job is unacknowledged in the work queue; it waits in a delay queue.
      EXPECT_EQ(s.waiting("classify_meeting"), 0u);
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(saw_retrying);
  auto done = s.wait_task(key, task_id);
  EXPECT_EQ(status_of(done), "succeeded");
  EXPECT_EQ(done["attempts"].GetInt(), 2) << "claimed again when it came back";
  ASSERT_EQ(llm.calls(), 2);
  EXPECT_GE(ms_between(llm.requests()[0], llm.requests()[1]), 1900);
}

// ---------------------------------------------------------------- structured output

TEST_F(LlmLayer, AnOutOfSchemaAnswerGetsOneRepairRequestQuotingTheViolation) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    return llm_stub::completion(n == 1 ? llm_stub::valid_classification("aerospace") : llm_stub::valid_classification());
  });
  stack s(openai(llm));
  auto key = s.create_tenant("acme");
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "succeeded");
  ASSERT_EQ(llm.calls(), 2);
  auto repair = parse(llm.requests()[1].body);
  const auto& msgs = repair["messages"];
  ASSERT_EQ(msgs.Size(), 4u);
  EXPECT_STREQ(msgs[2]["role"].GetString(), "assistant");
  std::string ask = msgs[3]["content"].GetString();
  EXPECT_NE(ask.find("/business_sector must be one of"), std::string::npos) << ask;
  // The stored result says how it was produced.
  auto c = parse(s.get(key, "/api/v1/classifications/" + std::to_string(task["meeting_id"].GetInt64())).body);
  EXPECT_STREQ(c["model"].GetString(), "stub-model");
  EXPECT_STREQ(c["prompt_version"].GetString(), "classify-v1");
  EXPECT_FALSE(std::string(c["taxonomy_version"].GetString()).empty());
  EXPECT_EQ(c["attempts"].GetInt(), 2);
  EXPECT_EQ(c["tokens_in"].GetInt(), 240);
  EXPECT_EQ(c["tokens_out"].GetInt(), 160);
  EXPECT_GE(c["latency_ms"].GetInt(), 0);
}

TEST_F(LlmLayer, ATruncatedAnswerIsRepairedWithMoreRoom) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return llm_stub::completion(R"({"business_sector": "retail", "company_si)", "length");
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm, {{"MQ_LLM_MAX_TOKENS", "300"}}));
  auto key = s.create_tenant("acme");
  EXPECT_EQ(status_of(classify_one(s, key)), "succeeded");
  ASSERT_EQ(llm.calls(), 2);
  auto repair = parse(llm.requests()[1].body);
  EXPECT_EQ(repair["max_tokens"].GetInt(), 600);
  EXPECT_NE(std::string(repair["messages"][3]["content"].GetString()).find("cut off"), std::string::npos);
}

TEST_F(LlmLayer, GarbageTwiceFailsTheTaskWithTheReason) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int) { return llm_stub::completion("Sure! The sector is retail :)"); });
  stack s(openai(llm));
  auto key = s.create_tenant("acme");
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "failed");
  EXPECT_EQ(error_code_of(task), "LLM_INVALID_OUTPUT");
  EXPECT_NE(error_of(task).find("not JSON"), std::string::npos);
  EXPECT_NE(error_of(task).find("after a repair request"), std::string::npos);
  EXPECT_EQ(llm.calls(), 2);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 0);
}

TEST_F(LlmLayer, AHugeBodyIsCutOffAndTheWorkerStaysSmall) {
  llm_stub llm;
  const std::string huge = std::string(R"({"padding":")") + std::string(10 << 20, 'x') + R"("})";
  llm.on_chat([huge](const stub_request&, int) {
    stub_reply r;
    r.body = huge;
    return r;
  });
  stack s(openai(llm, {{"MQ_LLM_MAX_ATTEMPTS", "2"}}));
  auto key = s.create_tenant("acme");
  auto task = classify_one(s, key);
  EXPECT_EQ(status_of(task), "failed");
  EXPECT_NE(error_of(task).find("max_response_bytes"), std::string::npos) << error_of(task);
  EXPECT_EQ(llm.calls(), 2);
  EXPECT_TRUE(s.workers()[0]->running());
  EXPECT_LT(peak_rss_kb(s.workers()[0]->pid()), 200 * 1024);
}

TEST_F(LlmLayer, TheAnswersShapeIsAskedForAsConfigured) {
  for (std::string format : {"json_schema", "json_object", "prompt"}) {
    llm_stub llm;
    stack s(openai(llm, {{"MQ_LLM_RESPONSE_FORMAT", format}}));
    auto key = s.create_tenant("acme");
    EXPECT_EQ(status_of(classify_one(s, key)), "succeeded");
    auto sent = parse(llm.requests().at(0).body);
    if (format == "prompt") {
      EXPECT_FALSE(sent.HasMember("response_format"));
    } else {
      EXPECT_EQ(std::string(sent["response_format"]["type"].GetString()), format);
    }
    EXPECT_NE(std::string(sent["messages"][0]["content"].GetString()).find("Answer with one JSON object"),
              std::string::npos);
  }
}

TEST_F(LlmLayer, EitherHttpClientCarriesTheCallsAsConfigured) {
  for (std::string client : {"auto", "curl"}) {
    llm_stub llm;
    stack s(openai(llm, {{"MQ_LLM_HTTP_CLIENT", client}}));
    auto key = s.create_tenant("acme");
    EXPECT_EQ(status_of(classify_one(s, key)), "succeeded") << client;
    // libcurl adds "Accept: */*"; the worker's own HTTP/1.1 pool (auto, for a provider at
    // 127.0.0.1) sends only the headers the client sets.
    EXPECT_EQ(llm.requests().at(0).header("accept").empty(), client == "auto") << client;
  }
}

// ---------------------------------------------------------------- rate limits

TEST_F(LlmLayer, RequestLimitsAreSharedByAllReplicas) {
  llm_stub llm;
  stack s(openai(llm, {{"MQ_LLM_REQUESTS_PER_MINUTE", "120"}, {"MQ_LLM_RATE_BURST_SECONDS", "1"}}));
  s.start_worker();
  s.wait_consumers(2);
  auto key = s.create_tenant("acme");
  s.add_meetings(key, meetings(10));
  auto batch = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  auto done = s.wait_batch(key, batch["batch_id"].GetString());
  EXPECT_EQ(done["succeeded"].GetInt(), 10);
  auto reqs = llm.requests();
  ASSERT_EQ(reqs.size(), 10u);
  // 2 per second with a one-second bucket: the i-th call waits about (i - 2) / 2 s,
  // whichever replica makes it.
  for (std::size_t i = 3; i < reqs.size(); ++i)
    EXPECT_GE(ms_between(reqs[0], reqs[i]), static_cast<long long>(i - 2) * 500 - 150) << "call " << i;
  EXPECT_GE(ms_between(reqs[0], reqs[9]), 3400);
}

TEST_F(LlmLayer, AJobHeldBackByOurLimitIsDeferredAndSpendsNoAttempt) {
  llm_stub llm;
  stack s(openai(llm, {{"MQ_LLM_REQUESTS_PER_MINUTE", "60"}, {"MQ_LLM_RATE_BURST_SECONDS", "1"},
                       {"MQ_LLM_HOLD_MAX_MS", "300"}, {"MQ_LLM_MAX_ATTEMPTS", "1"}}));
  auto key = s.create_tenant("acme");
  s.add_meetings(key, meetings(4));
  auto batch = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  auto done = s.wait_batch(key, batch["batch_id"].GetString());
  EXPECT_EQ(done["succeeded"].GetInt(), 4);
  EXPECT_EQ(done["failed"].GetInt(), 0);
  EXPECT_EQ(llm.calls(), 4) << "deferral is not a call";
  EXPECT_GE(s.sql_count("SELECT count(*) FROM tasks WHERE attempts > 1"), 1) << "some jobs went through the delay queues";
  EXPECT_NE(s.workers()[0]->log().find("deferred by the rate limit"), std::string::npos);
}

TEST_F(LlmLayer, ATenantsLimitHoldsOnlyThatTenant) {
  llm_stub llm;
  stack s(openai(llm, {{"MQ_LLM_TENANT_REQUESTS_PER_MINUTE", "60"}, {"MQ_LLM_RATE_BURST_SECONDS", "1"}}));
  auto busy = s.create_tenant("busy");
  auto quiet = s.create_tenant("quiet");
  s.add_meetings(busy, meetings(5));
  auto one = s.add_meetings(quiet, meetings(1));
  const auto start = steady_clock::now();
  auto a = parse(s.post(busy, "/api/v1/classifications/queue-unclassified").body);
  // Queued behind the busy tenant's five, which its limit lets through at one per second.
  s.wait_task(quiet, classify(s, quiet, one[0]));
  const auto quiet_done = steady_clock::now() - start;
  s.wait_batch(busy, a["batch_id"].GetString());
  const auto busy_done = steady_clock::now() - start;
  EXPECT_LT(quiet_done, milliseconds(1500)) << "the other tenant waited";
  EXPECT_GE(busy_done, milliseconds(3800)) << "5 calls at 1 per second";
}

TEST_F(LlmLayer, AProvider429HoldsEveryReplicaBack) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return stub_reply::error(429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "2"}});
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s(openai(llm));
  s.start_worker();
  s.wait_consumers(2);
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, meetings(6));
  classify(s, key, ids[0]);
  // Both replicas know of the 429 before the other jobs arrive.
  ASSERT_TRUE(eventually([&] {
    return s.workers()[0]->log().find("provider hold in force") != std::string::npos &&
           s.workers()[1]->log().find("provider hold in force") != std::string::npos;
  }));
  for (std::size_t i = 1; i < ids.size(); ++i) classify(s, key, ids[i]);
  EXPECT_TRUE(eventually([&] { return llm.calls() >= 7; }));
  auto reqs = llm.requests();
  ASSERT_EQ(reqs.size(), 7u);
  for (std::size_t i = 1; i < reqs.size(); ++i)
    EXPECT_GE(ms_between(reqs[0], reqs[i]), 1900) << "call " << i << " came before Retry-After passed";
}

// ---------------------------------------------------------------- accounting

TEST_F(LlmLayer, TokensAndCostAreAccountedPerTaskBatchAndTenant) {
  llm_stub llm;  // answers with 120 prompt and 80 completion tokens
  const std::string overlay = ::testing::TempDir() + "/mq-prices-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(overlay) << "prices:\n  stub-model: {input: 1.5, output: 6.0}\n";
  stack s(openai(llm, {{"MQ_CONFIG", overlay}}));
  auto key = s.create_tenant("acme");
  auto other = s.create_tenant("other");
  s.add_meetings(key, meetings(3));
  auto batch = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  auto done = s.wait_batch(key, batch["batch_id"].GetString());
  const double per_call = (120 * 1.5 + 80 * 6.0) / 1e6;
  EXPECT_EQ(done["usage"]["llm_calls"].GetInt(), 3);
  EXPECT_EQ(done["usage"]["tokens_in"].GetInt(), 360);
  EXPECT_EQ(done["usage"]["tokens_out"].GetInt(), 240);
  EXPECT_NEAR(done["usage"]["cost_usd"].GetDouble(), 3 * per_call, 1e-9);
  auto task = parse(s.get(key, "/api/v1/tasks/" + std::string(batch["task_ids"][0].GetString())).body);
  EXPECT_EQ(task["usage"]["tokens_in"].GetInt(), 120);
  EXPECT_NEAR(task["usage"]["cost_usd"].GetDouble(), per_call, 1e-9);
  auto usage = parse(s.get(key, "/api/v1/usage").body);
  EXPECT_EQ(usage["totals"]["llm_calls"].GetInt(), 3);
  EXPECT_EQ(usage["totals"]["tokens_out"].GetInt(), 240);
  EXPECT_NEAR(usage["totals"]["cost_usd"].GetDouble(), 3 * per_call, 1e-9);
  ASSERT_EQ(usage["by_day"].Size(), 1u);
  EXPECT_EQ(std::string(usage["by_day"][0]["day"].GetString()), format_rfc3339(system_now()).substr(0, 10));
  EXPECT_STREQ(usage["by_model"][0]["model"].GetString(), "stub-model");
  EXPECT_STREQ(usage["by_kind"][0]["kind"].GetString(), "classify_meeting");
  EXPECT_EQ(parse(s.get(other, "/api/v1/usage").body)["totals"]["llm_calls"].GetInt(), 0);
  auto past = parse(s.get(key, "/api/v1/usage?from=2020-01-01&to=2020-01-31").body);
  EXPECT_EQ(past["totals"]["llm_calls"].GetInt(), 0);
  EXPECT_EQ(s.get(key, "/api/v1/usage?from=yesterday").status, 400);
  EXPECT_EQ(s.get(key, "/api/v1/usage?from=2024-02-01&to=2024-01-01").status, 400);
}

}  // namespace

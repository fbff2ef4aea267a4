// The fault suite, LLM side: every fault the stub server can play, mixed into one batch.
// Each job meets its fault on its first call; all but the always-invalid ones then
// succeed. The closing count: results, failures with their reason, duplicates, dead
// letters.

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <regex>

#include "faults.hpp"
#include "llm_stub.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct LlmFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

enum fault { none, rate_limited, server_error, hang, garbage, out_of_schema, kinds };

TEST_F(LlmFaults, EveryProviderFaultIsRetriedOrFailsWithItsReasonAndNothingIsLostOrDoubled) {
  const int jobs = 300;
  std::mutex mu;
  std::map<int, int> calls_of;  // meeting number -> chat calls
  llm_stub llm(0, 4);
  llm.on_chat([&](const stub_request& req, int) {
    static const std::regex number(R"(tienda (\d+) en)");
    std::smatch m;
    const int i = std::regex_search(req.body, m, number) ? std::stoi(m[1]) : -1;
    int n;
    {
      std::lock_guard<std::mutex> lock(mu);
      n = ++calls_of[i];
    }
    const auto f = static_cast<fault>(i % kinds);
    auto ok = llm_stub::completion(llm_stub::valid_classification());
    if (f == out_of_schema) return llm_stub::completion(llm_stub::valid_classification("spaceships"));
    if (n > 1 || f == none) return ok;
    switch (f) {
      case rate_limited: return stub_reply::error(429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "1"}});
      case server_error: return stub_reply::error(503, R"({"error":{"message":"overloaded"}})");
      case hang: return stub_reply::hang();
      case garbage: return llm_stub::completion("sure! here is {not json");
      default: return ok;
    }
  });
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_LLM_FIRST_BYTE_TIMEOUT_MS", "500"},
                   {"MQ_LLM_BACKOFF_BASE_MS", "50"},
                   {"MQ_LLM_BACKOFF_MAX_MS", "200"},
                   {"MQ_WORKER_PREFETCH", "100"}}});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  auto b = s.wait_batch(key, batch, std::chrono::seconds(120));

  const int invalid = jobs / kinds;
  EXPECT_EQ(b["succeeded"].GetInt(), jobs - invalid);
  EXPECT_EQ(b["failed"].GetInt(), invalid);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), jobs - invalid);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'failed' AND error_code = 'LLM_INVALID_OUTPUT'"),
            invalid);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM (SELECT subject_id FROM tasks GROUP BY 1 HAVING count(*) > 1) d"), 0);
  EXPECT_EQ(s.dead_letters(), 0);
  // Each fault cost exactly one extra call; an invalid answer got one repair, then failed.
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [i, n] : calls_of) {
    const auto f = static_cast<fault>(i % kinds);
    EXPECT_EQ(n, f == none ? 1 : 2) << "meeting " << i << " (fault " << f << ")";
  }
  EXPECT_EQ(static_cast<int>(calls_of.size()), jobs);
  EXPECT_EQ(llm.calls(), jobs * 2 - jobs / kinds);
  record_counts(s, jobs);
}

}  // namespace

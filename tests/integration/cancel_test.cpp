// Cancelling tasks and batches: the state is persisted at once, a cancelled task is
// never processed afterwards, and no result of one is ever kept.

#include <gtest/gtest.h>

#include "llm_stub.hpp"
#include "mq/core/ids.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Cancel : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

std::string status_of(stack& s, const std::string& key, const std::string& task_id) {
  auto r = s.get(key, "/api/v1/tasks/" + task_id);
  EXPECT_EQ(r.status, 200) << r.body;
  return parse(r.body)["status"].GetString();
}

TEST_F(Cancel, AQueuedTaskIsCancelledAndNeverReachesTheLlm) {
  llm_stub llm;
  stack s({.workers = 0, .llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto other = s.create_tenant("globex");
  auto ids = s.add_meetings(key, {"Cliente: cancelen esto.", "Cliente: esto sí."});
  auto first = parse(s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[0])).body);
  const std::string task_id = first["task_id"].GetString();
  EXPECT_EQ(status_of(s, key, task_id), "queued");  // and cached so

  EXPECT_EQ(s.post(other, "/api/v1/tasks/" + task_id + "/cancel").status, 404);
  EXPECT_EQ(s.post(key, "/api/v1/tasks/" + new_uuid() + "/cancel").status, 404);
  auto r = s.post(key, "/api/v1/tasks/" + task_id + "/cancel");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_STREQ(parse(r.body)["status"].GetString(), "cancelled");
  EXPECT_EQ(status_of(s, key, task_id), "cancelled");  // the cache says so too
  EXPECT_EQ(s.post(key, "/api/v1/tasks/" + task_id + "/cancel").status, 200);  // idempotent

  // The message is still queued; a worker settles it without work.
  auto second = parse(s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[1])).body);
  s.start_worker();
  auto done = s.wait_task(key, second["task_id"].GetString());
  EXPECT_STREQ(done["status"].GetString(), "succeeded");
  EXPECT_TRUE(eventually([&] { return s.waiting("classify_meeting") == 0; }));
  EXPECT_EQ(llm.calls(), 1);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications WHERE meeting_id = " + std::to_string(ids[0])), 0);
  EXPECT_EQ(status_of(s, key, task_id), "cancelled");

  // A finished task cannot be cancelled, and a cancelled meeting can be queued again.
  auto late = s.post(key, "/api/v1/tasks/" + std::string(second["task_id"].GetString()) + "/cancel");
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_STREQ(parse(late.body)["error"]["code"].GetString(), "CONFLICT");
  EXPECT_EQ(s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[0])).status, 202);
}

// A poll sent once a cancel is answered reads the task cancelled, though the queued state
// was cached before: the answer waits for the cache to be written. Before, the cache was
// written in the background and such a poll could still read "queued".
TEST_F(Cancel, APollAfterTheCancelsAnswerReadsCancelled) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, 40);
  std::vector<std::string> singles;
  for (int i = 0; i < 20; ++i) singles.push_back(queue_classification(s, key, ids[i]));
  auto queued = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(queued.status, 202) << queued.body;
  auto batch = parse(queued.body);
  ASSERT_EQ(batch["task_ids"].Size(), 20u) << queued.body;
  // Every task's queued state in the cache first.
  ASSERT_TRUE(eventually([&] {
    std::size_t cached = 0;
    for (const auto& k : s.redis_keys()) cached += k.find(":task:") != std::string::npos;
    return cached == 40;
  })) << "the queued states were never cached";
  for (const auto& t : singles) {
    ASSERT_EQ(s.post(key, "/api/v1/tasks/" + t + "/cancel").status, 200);
    EXPECT_EQ(status_of(s, key, t), "cancelled") << t;
  }
  ASSERT_EQ(s.post(key, "/api/v1/batches/" + std::string(batch["batch_id"].GetString()) + "/cancel").status, 200);
  for (const auto& t : batch["task_ids"].GetArray()) EXPECT_EQ(status_of(s, key, t.GetString()), "cancelled");
}

TEST_F(Cancel, ABatchCancelledMidRunStopsAndKeepsNoResultOfACancelledTask) {
  llm_stub llm;
  llm.classify_after(std::chrono::milliseconds(150));
  const int in_flight = 4;
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_WORKER_PREFETCH", std::to_string(in_flight)},
                   {"MQ_LLM_MAX_IN_FLIGHT", std::to_string(in_flight)}}});
  auto key = s.create_tenant("acme");
  s.add_meetings(key, 80);
  auto accepted = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string batch_id = parse(accepted.body)["batch_id"].GetString();
  ASSERT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM tasks WHERE status = 'succeeded'") >= 8; },
                         std::chrono::seconds(30)));

  auto r = s.post(key, "/api/v1/batches/" + batch_id + "/cancel");
  ASSERT_EQ(r.status, 200) << r.body;
  const int calls_at_cancel = llm.calls();
  auto body = parse(r.body);
  const int cancelled = body["cancelled_now"].GetInt();
  EXPECT_GT(cancelled, 40);
  EXPECT_EQ(body["cancelled"].GetInt(), cancelled);

  auto b = s.wait_batch(key, batch_id);
  EXPECT_EQ(b["succeeded"].GetInt() + b["cancelled"].GetInt(), 80) << s.workers()[0]->log();
  EXPECT_EQ(b["cancelled"].GetInt(), cancelled);
  // Only calls already under way when the cancel committed may still arrive.
  EXPECT_TRUE(eventually([&] { return s.waiting("classify_meeting") == 0; }));
  EXPECT_LE(llm.calls() - calls_at_cancel, in_flight);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications c JOIN tasks t ON t.subject_id = c.meeting_id "
                        "WHERE t.status = 'cancelled'"),
            0);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), b["succeeded"].GetInt());
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'cancelled' AND finished_at IS NULL"), 0);
  // Cancelling it again cancels nothing more.
  auto again = parse(s.post(key, "/api/v1/batches/" + batch_id + "/cancel").body);
  EXPECT_EQ(again["cancelled_now"].GetInt(), 0);
  EXPECT_EQ(s.post(key, "/api/v1/batches/" + new_uuid() + "/cancel").status, 404);
}

TEST_F(Cancel, ARunningTaskCancelledBetweenRetriesMakesNoFurtherLlmCall) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int) { return stub_reply::error(503, R"({"error":{"message":"down"}})"); });
  const int max_attempts = 20;
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_LLM_MAX_ATTEMPTS", std::to_string(max_attempts)},
                   {"MQ_LLM_BACKOFF_BASE_MS", "200"},
                   {"MQ_LLM_BACKOFF_MAX_MS", "200"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: se cancela a mitad de los reintentos."});
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[0]));
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string task_id = parse(r.body)["task_id"].GetString();
  ASSERT_TRUE(eventually([&] { return llm.calls() >= 2; }));
  ASSERT_EQ(s.post(key, "/api/v1/tasks/" + task_id + "/cancel").status, 200);
  const auto& worker = *s.workers()[0];
  ASSERT_TRUE(eventually([&] { return worker.log().find("task cancelled; no further LLM calls") != std::string::npos; }))
      << worker.log();
  // The job has ended: whatever it called before the check is all it will ever call.
  const int calls = llm.calls();
  EXPECT_LT(calls, max_attempts);
  EXPECT_EQ(status_of(s, key, task_id), "cancelled");
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 0);
  auto again = s.add_meetings(key, {"Cliente: otra, para ver que el trabajador sigue."});
  llm.on_chat([](const stub_request&, int) { return llm_stub::completion(llm_stub::valid_classification()); });
  auto next = s.post(key, "/api/v1/workers/classify/" + std::to_string(again[0]));
  EXPECT_STREQ(s.wait_task(key, parse(next.body)["task_id"].GetString())["status"].GetString(), "succeeded");
  EXPECT_EQ(llm.calls(), calls + 1);
}

}  // namespace

// The fault suite, dead letters: jobs whose worker dies on every delivery reach the
// delivery limit, land in the dead-letter queue, are recorded with their history, listed
// to their tenant only, and replayed one by one and in bulk to completion.

#include <gtest/gtest.h>

#include "faults.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct DeadLetterFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

const std::string dead_letters = "/api/v1/dead-letters";

TEST_F(DeadLetterFaults, JobsThatKillEveryWorkerAreDeadLetteredListedToTheirTenantAndReplayed) {
  const int jobs = 3, limit = 2;
  stack s({.workers = 0, .env = {{"MQ_AMQP_DELIVERY_LIMIT", std::to_string(limit)}}});
  auto key = s.create_tenant("acme");
  auto other = s.create_tenant("other");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();

  // Workers that die right after claiming, as a job that crashes its process would make
  // them; each crash returns every delivery it held.
  auto dead = [&] { return s.sql_count("SELECT count(*) FROM tasks WHERE status = 'dead'"); };
  int crashes = 0;
  while (dead() < jobs && crashes <= limit + 2) {
    s.start_worker({{"MQ_FAILPOINT", "worker.after_claim"}});
    auto& w = *s.workers().back();
    ASSERT_TRUE(eventually([&] { return !w.running() || dead() == jobs; }, std::chrono::seconds(30))) << w.log();
    if (!w.running()) ++crashes;
  }
  ASSERT_EQ(dead(), jobs) << "after " << crashes << " crashes";
  EXPECT_EQ(crashes, limit + 1) << "the broker gives a message up after the delivery limit, not before";
  s.stop_workers();
  EXPECT_EQ(s.queue("classify_meeting").messages, 0u);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM dead_letters"), jobs);

  // The tenant sees them, with why and how; the task and the batch show dead.
  auto page = parse(s.get(key, dead_letters).body);
  ASSERT_EQ(page["total"].GetInt(), jobs);
  const auto& first = page["items"][0];
  EXPECT_STREQ(first["reason"].GetString(), "delivery_limit");
  EXPECT_STREQ(first["task_status"].GetString(), "dead");
  EXPECT_STREQ(first["error"]["code"].GetString(), "POISON_MESSAGE");
  ASSERT_TRUE(first["history"].IsArray());
  EXPECT_TRUE(first["history"][0]["x_death"].IsArray()) << s.get(key, dead_letters).body;
  const std::string letter = first["dead_letter_id"].GetString();
  const std::string task = first["task_id"].GetString();
  auto t = parse(s.get(key, "/api/v1/tasks/" + task).body);
  EXPECT_STREQ(t["status"].GetString(), "dead");
  EXPECT_STREQ(t["error"]["code"].GetString(), "POISON_MESSAGE");
  EXPECT_EQ(parse(s.get(key, "/api/v1/batches/" + batch + "?detail=true").body)["by_status"]["dead"].GetInt(), jobs);

  // Nobody else does.
  EXPECT_EQ(parse(s.get(other, dead_letters).body)["total"].GetInt(), 0);
  EXPECT_EQ(s.get(other, dead_letters + "/" + letter).status, 404);
  EXPECT_EQ(s.post(other, dead_letters + "/" + letter + "/replay").status, 404);
  auto foreign = parse(s.post(other, dead_letters + "/replay", R"({"dead_letter_ids":[")" + letter + R"("]})").body);
  EXPECT_EQ(foreign["requeued"].GetInt(), 0);
  EXPECT_STREQ(foreign["skipped"][0]["reason"].GetString(), "not found");
  EXPECT_EQ(dead(), jobs);

  // Bad replay requests change nothing.
  EXPECT_EQ(s.post(key, dead_letters + "/replay", "{}").status, 422);
  EXPECT_EQ(s.post(key, dead_letters + "/replay", R"({"all":true,"dead_letter_ids":[")" + letter + R"("]})").status,
            422);
  EXPECT_EQ(s.post(key, dead_letters + "/replay", R"({"dead_letter_ids":["not-a-uuid"]})").status, 422);
  EXPECT_EQ(s.post(key, dead_letters + "/replay", R"({"all":false})").status, 422);
  EXPECT_EQ(dead(), jobs);

  // Replayed on a healthy worker: one alone, then the rest in bulk.
  s.start_worker();
  auto one = s.post(key, dead_letters + "/" + letter + "/replay");
  ASSERT_EQ(one.status, 202) << one.body;
  EXPECT_STREQ(s.wait_task(key, task)["status"].GetString(), "succeeded");
  EXPECT_EQ(s.post(key, dead_letters + "/" + letter + "/replay").status, 409);
  auto bulk = s.post(key, dead_letters + "/replay", R"({"all":true})");
  ASSERT_EQ(bulk.status, 202) << bulk.body;
  EXPECT_EQ(parse(bulk.body)["requeued"].GetInt(), jobs - 1);
  auto b = s.wait_batch(key, batch);
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  EXPECT_EQ(b["failed"].GetInt(), 0);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), jobs);
  EXPECT_EQ(parse(s.get(key, dead_letters + "?replayed=false").body)["total"].GetInt(), 0);
  auto again = parse(s.get(key, dead_letters + "/" + letter).body);
  EXPECT_EQ(again["replays"].GetInt(), 1);
  EXPECT_STREQ(again["task_status"].GetString(), "succeeded");
  EXPECT_EQ(s.queue("dead").messages, 0u);
  record_counts(s, jobs);
}

}  // namespace

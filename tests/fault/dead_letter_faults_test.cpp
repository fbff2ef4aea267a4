// The fault suite, dead letters: jobs whose worker dies on every delivery reach the
// delivery limit, land in the dead-letter queue, are recorded with their history, listed
// to their tenant only, and replayed one by one and in bulk to completion.

#include <gtest/gtest.h>

#include <set>

#include "faults.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct DeadLetterFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

const std::string dead_letters = "/api/v1/dead-letters";

/// `group_size` 1: each task its own message, which the broker dead-letters at the limit.
/// Above: the tasks share a bulk message, split when it comes back; the worker counts the
/// deliveries before the split and dead-letters a task at the same limit.
void kill_bury_and_replay(int group_size) {
  const int jobs = 3, limit = 2;
  stack s({.workers = 0,
           .env = {{"MQ_AMQP_DELIVERY_LIMIT", std::to_string(limit)},
                   {"MQ_AMQP_GROUP_SIZE", std::to_string(group_size)}}});
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
  EXPECT_EQ(s.waiting("classify_meeting"), 0u);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM dead_letters"), jobs);

  // The tenant sees them, with why and how; the task and the batch show dead.
  auto page = parse(s.get(key, dead_letters).body);
  ASSERT_EQ(page["total"].GetInt(), jobs);
  const auto& first = page["items"][0];
  EXPECT_STREQ(first["reason"].GetString(), "delivery_limit");
  EXPECT_STREQ(first["task_status"].GetString(), "dead");
  EXPECT_STREQ(first["error"]["code"].GetString(), "POISON_MESSAGE");
  ASSERT_TRUE(first["history"].IsArray());
  const auto& how = first["history"][0];
  if (group_size == 1)
    EXPECT_TRUE(how["x_death"].IsArray()) << "the broker's own record";
  else
    EXPECT_EQ(how["deliveries"].GetInt(), limit + 2) << "once in the bulk message, then three times alone";
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

TEST_F(DeadLetterFaults, JobsThatKillEveryWorkerAreDeadLetteredListedToTheirTenantAndReplayed) {
  kill_bury_and_replay(1);
}

TEST_F(DeadLetterFaults, TasksOfABulkMessageThatKillEveryWorkerAreDeadLetteredAtTheSameLimit) {
  kill_bury_and_replay(50);
}

TEST_F(DeadLetterFaults, ABulkMessageTheBrokerDeadLettersIsRecordedAndReplayedTaskByTask) {
  const int jobs = 5;
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  ASSERT_EQ(s.queue("classify_meeting.bulk").messages, 1u);
  {
    // A consumer that rejects it: the broker dead-letters the whole bulk message.
    queues::connection c(s.cfg().amqp, queues::topology{s.cfg().amqp.prefix});
    ASSERT_TRUE(c.open().ok());
    ASSERT_TRUE(c.consume({{queues::topology{s.cfg().amqp.prefix}.bulk_queue("classify_meeting"), 1}}).ok());
    auto d = c.next(std::chrono::seconds(10));
    ASSERT_TRUE(d.ok() && *d) << "the bulk message never came";
    EXPECT_EQ(queues::tasks_in(**d), jobs);
    ASSERT_TRUE(c.nack((*d)->tag, false).ok());
    c.close();
  }
  ASSERT_TRUE(eventually([&] { return s.queue("dead").messages == 1; }));

  s.start_worker();
  ASSERT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM tasks WHERE status = 'dead'") == jobs; }))
      << s.workers()[0]->log();
  EXPECT_TRUE(eventually([&] { return s.queue("dead").messages == 0; }));
  auto page = parse(s.get(key, dead_letters).body);
  ASSERT_EQ(page["total"].GetInt(), jobs) << "one dead letter per task, each naming its own";
  std::set<std::string> named;
  for (const auto& item : page["items"].GetArray()) {
    named.insert(item["task_id"].GetString());
    EXPECT_STREQ(item["reason"].GetString(), "rejected");
    EXPECT_TRUE(item["history"][0]["x_death"].IsArray());
    EXPECT_NE(std::string(item["body_preview"].GetString()).find(item["task_id"].GetString()), std::string::npos);
  }
  EXPECT_EQ(named.size(), static_cast<std::size_t>(jobs));
  EXPECT_EQ(parse(s.get(key, "/api/v1/batches/" + batch + "?detail=true").body)["by_status"]["dead"].GetInt(), jobs);

  auto replay = s.post(key, dead_letters + "/replay", R"({"all":true})");
  ASSERT_EQ(replay.status, 202) << replay.body;
  EXPECT_EQ(s.wait_batch(key, batch)["succeeded"].GetInt(), jobs);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), jobs);
  record_counts(s, jobs);
}

}  // namespace

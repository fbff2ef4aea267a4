// mqctl's operator commands on the real services: queue stats with the live replicas,
// a batch waited for with a progress bar and another cancelled, a task shown, a dead
// letter listed and replayed to success; unknown names and bad usage refused.

#include <gtest/gtest.h>

#include "faults.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct AdminCli : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(AdminCli, QueuesBatchesTasksAndRefusals) {
  stack s;
  auto key = s.create_tenant("acme");
  const auto tenant = s.sql("SELECT name FROM tenants");
  std::string out;
  ASSERT_TRUE(eventually([&] {
    out = s.mqctl({"queues"}).second;
    return has(out, "1 replica alive");
  })) << out;
  EXPECT_TRUE(has(out, s.cfg().amqp.prefix + ".classify_meeting")) << out;

  // A batch waited for: the bar ends full.
  auto b = queue_batch(s, key, 20);
  const std::string batch = b["batch_id"].GetString();
  auto [status, waited] = s.mqctl({"batch", "wait", "--tenant", tenant, batch});
  EXPECT_EQ(status, 0) << waited;
  EXPECT_TRUE(has(waited, "[##############################] 20/20 20 succeeded")) << waited;
  auto shown = s.mqctl({"batch", "show", "--tenant", tenant, batch});
  EXPECT_EQ(shown.first, 0);
  EXPECT_EQ(parse(shown.second)["succeeded"].GetInt(), 20) << shown.second;

  // A task shown as JSON.
  const auto task = s.sql("SELECT id FROM tasks LIMIT 1");
  auto t = s.mqctl({"task", "show", "--tenant", tenant, task});
  EXPECT_EQ(t.first, 0);
  EXPECT_STREQ(parse(t.second)["status"].GetString(), "succeeded");

  // A batch nobody works on, cancelled.
  s.stop_workers();
  auto idle = queue_batch(s, key, 5);
  auto cancelled = s.mqctl({"batch", "cancel", "--tenant", tenant, idle["batch_id"].GetString()});
  EXPECT_EQ(cancelled.first, 0);
  EXPECT_TRUE(has(cancelled.second, "cancelled 5 unfinished tasks")) << cancelled.second;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'cancelled'"), 5);

  // Refusals.
  EXPECT_EQ(s.mqctl({"batch", "show", "--tenant", "nobody", batch}).first, 66);
  EXPECT_EQ(s.mqctl({"batch", "show", "--tenant", tenant, "00000000-0000-0000-0000-000000000000"}).first, 66);
  EXPECT_EQ(s.mqctl({"batch", "show", batch}).first, 64);
  EXPECT_EQ(s.mqctl({"dead-letters", "replay", "--tenant", tenant}).first, 64) << "neither ids nor --all";
  EXPECT_EQ(s.mqctl({"task", "frob"}).first, 64);
}

TEST_F(AdminCli, DeadLettersListedAndReplayedToSuccess) {
  stack s({.workers = 0, .env = {{"MQ_AMQP_DELIVERY_LIMIT", "1"}}});
  auto key = s.create_tenant("acme");
  const auto tenant = s.sql("SELECT name FROM tenants");
  const auto task = make_dead_task(s, key);
  const auto letter = s.sql("SELECT id FROM dead_letters");

  auto listed = s.mqctl({"dead-letters", "list", "--tenant", tenant});
  EXPECT_EQ(listed.first, 0);
  EXPECT_TRUE(has(listed.second, letter) && has(listed.second, task)) << listed.second;
  EXPECT_TRUE(has(listed.second, "1 waiting for a replay")) << listed.second;

  auto replayed = s.mqctl({"dead-letters", "replay", "--tenant", tenant, "--all", "--wait"});
  EXPECT_EQ(replayed.first, 0) << replayed.second;
  EXPECT_TRUE(has(replayed.second, "requeued 1")) << replayed.second;
  EXPECT_TRUE(has(replayed.second, "1/1 1 succeeded")) << replayed.second;
  EXPECT_EQ(s.sql("SELECT status FROM tasks WHERE id = '" + task + "'"), "succeeded");
  EXPECT_TRUE(has(s.mqctl({"dead-letters", "list", "--tenant", tenant}).second, "0 waiting for a replay"));
  // Again: nothing left to replay, and it says why.
  auto again = s.mqctl({"dead-letters", "replay", "--tenant", tenant, letter});
  EXPECT_EQ(again.first, 1) << again.second;
  EXPECT_TRUE(has(again.second, "skipped " + letter)) << again.second;
}

}  // namespace

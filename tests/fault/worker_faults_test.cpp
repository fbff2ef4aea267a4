// The fault suite, worker side: replicas killed, stopped and scaled while a batch runs,
// against the real services. Each test ends by counting: tasks accepted against results
// stored, duplicates, dead letters, and the time the batch took to recover.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "faults.hpp"
#include "llm_stub.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using clock_type = std::chrono::steady_clock;

struct WorkerFaults : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

/// The stub answering every call after `delay`.
void answer_after(llm_stub& llm, std::chrono::milliseconds delay) {
  llm.on_chat([delay](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.delay = delay;
    return r;
  });
}

TEST_F(WorkerFaults, KillNineMidBatchLosesNothingAndRunsNothingTwiceToCompletion) {
  llm_stub llm;
  answer_after(llm, std::chrono::milliseconds(20));
  const int jobs = 2000, prefetch = 100;
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_WORKER_PREFETCH", std::to_string(prefetch)},
                   {"MQ_LLM_MAX_IN_FLIGHT", std::to_string(prefetch)}}});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  ASSERT_TRUE(eventually([&] { return succeeded(s) >= jobs / 4; }, std::chrono::seconds(60)));
  s.workers()[0]->signal(SIGKILL);
  ASSERT_NE(s.workers()[0]->wait(std::chrono::seconds(10)), -1);
  const auto killed_at = clock_type::now();
  const auto done_at_kill = succeeded(s);
  ASSERT_LT(done_at_kill, jobs) << "the batch finished before the kill; nothing was tested";
  s.start_worker();
  auto b = s.wait_batch(key, batch, std::chrono::seconds(120));
  const auto recovery = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - killed_at);
  RecordProperty("recovery_ms", static_cast<int>(recovery.count()));
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  expect_exactly_once(s, jobs, "after kill -9 at " + std::to_string(done_at_kill) + " done");
  // Calls under way at the kill are made again; no other job calls the LLM twice.
  EXPECT_LE(llm.calls(), jobs + prefetch);
  // The batch travels in bulk messages: those the killed replica held came back whole and
  // were split (the counts above show the tasks it left running were taken over).
  EXPECT_NE(s.workers()[1]->log().find("bulk message split into one message per task"), std::string::npos);
}

TEST_F(WorkerFaults, SigtermFinishesJobsInFlightAndExitsZeroWithinTheGracePeriod) {
  llm_stub llm;
  answer_after(llm, std::chrono::milliseconds(400));
  const int jobs = 300, prefetch = 50, drain_seconds = 10;
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_WORKER_PREFETCH", std::to_string(prefetch)},
                   {"MQ_LLM_MAX_IN_FLIGHT", std::to_string(prefetch)},
                   {"MQ_WORKER_DRAIN_SECONDS", std::to_string(drain_seconds)}}});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  ASSERT_TRUE(eventually([&] { return llm.in_flight() >= prefetch / 2; }, std::chrono::seconds(30)));
  const auto calls_at_term = llm.calls();
  const auto sent = clock_type::now();
  s.workers()[0]->signal(SIGTERM);
  const int st = s.workers()[0]->wait(std::chrono::seconds(drain_seconds + 5));
  const auto took = clock_type::now() - sent;
  ASSERT_TRUE(exited_zero(st)) << "status " << st << "\n" << s.workers()[0]->log();
  EXPECT_LT(took, std::chrono::seconds(drain_seconds));  // in-flight calls take 0.4 s
  // Every call under way at SIGTERM ended in a stored result: none is made again.
  const auto done_at_exit = succeeded(s);
  EXPECT_GE(done_at_exit, calls_at_term);
  EXPECT_EQ(llm.calls(), done_at_exit) << "a delivery was taken after SIGTERM";
  EXPECT_NE(s.workers()[0]->log().find("\"stopped\""), std::string::npos);

  s.start_worker();
  auto b = s.wait_batch(key, batch, std::chrono::seconds(60));
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  expect_exactly_once(s, jobs, "after SIGTERM");
  EXPECT_EQ(llm.calls(), jobs);
}

TEST_F(WorkerFaults, ScalingOneToThreeToOneDuringABatchKeepsEveryJobOnce) {
  llm_stub llm;
  answer_after(llm, std::chrono::milliseconds(30));
  const int jobs = 3000;
  stack s({.llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_WORKER_PREFETCH", "50"}, {"MQ_LLM_MAX_IN_FLIGHT", "50"}}});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  ASSERT_TRUE(eventually([&] { return succeeded(s) >= jobs / 6; }, std::chrono::seconds(60)));
  // What operators see follows the replicas: three alive in the stats while scaled up.
  const auto replicas = [&] { return parse(s.get(key, "/api/v1/workers/stats").body)["replicas"].GetInt(); };
  EXPECT_EQ(replicas(), 1);
  s.start_worker();
  s.start_worker();
  s.wait_consumers(3);
  EXPECT_TRUE(eventually([&] { return replicas() == 3; })) << replicas();
  const auto at_three = succeeded(s);
  ASSERT_TRUE(eventually([&] { return succeeded(s) >= at_three + jobs / 6; }, std::chrono::seconds(60)));
  ASSERT_LT(succeeded(s), jobs) << "the batch finished before scaling down; nothing was tested";
  for (int i = 1; i <= 2; ++i) s.workers()[i]->signal(SIGTERM);
  for (int i = 1; i <= 2; ++i) EXPECT_TRUE(exited_zero(s.workers()[i]->wait(std::chrono::seconds(40))));
  EXPECT_EQ(replicas(), 1) << "replicas stopped with SIGTERM leave the list as they exit";
  auto b = s.wait_batch(key, batch, std::chrono::seconds(120));
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  expect_exactly_once(s, jobs, "after 1 -> 3 -> 1");
  // All three replicas took part.
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(s.workers()[i]->log().find("task succeeded"), std::string::npos) << "replica " << i;
  EXPECT_EQ(llm.calls(), jobs);
}

TEST_F(WorkerFaults, CrashBetweenCommitAndAckRunsNothingTwice) {
  llm_stub llm;
  answer_after(llm, std::chrono::milliseconds(5));
  const int jobs = 400, prefetch = 20, crash_at = 150;
  stack s({.workers = 0,
           .llm_provider = "openai",
           .llm_base_url = llm.base_url(),
           .env = {{"MQ_WORKER_PREFETCH", std::to_string(prefetch)},
                   {"MQ_LLM_MAX_IN_FLIGHT", std::to_string(prefetch)}}});
  auto key = s.create_tenant("acme");
  const std::string batch = queue_batch(s, key, jobs)["batch_id"].GetString();
  // The worker commits its 150th outcome, then dies before acking it (or anything after).
  s.start_worker({{"MQ_FAILPOINT", "worker.after_commit:" + std::to_string(crash_at)}});
  ASSERT_NE(s.workers()[0]->wait(std::chrono::seconds(60)), -1) << "the failpoint never fired";
  EXPECT_NE(s.workers()[0]->log().find("crashing on purpose"), std::string::npos);
  // A prefetch of 20 holds no full bulk message of 50: each is split on delivery, and said so.
  EXPECT_NE(s.workers()[0]->log().find("worker.prefetch is below amqp.group_size"), std::string::npos);
  const auto crashed_at = clock_type::now();
  const auto done_at_crash = succeeded(s);
  ASSERT_GE(done_at_crash, crash_at);
  ASSERT_LT(done_at_crash, jobs);
  s.start_worker();
  auto b = s.wait_batch(key, batch, std::chrono::seconds(60));
  RecordProperty("recovery_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     clock_type::now() - crashed_at).count()));
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  expect_exactly_once(s, jobs, "after a crash between commit and ack");
  // Committed outcomes were redelivered unacked and settled without work: only the jobs
  // in flight at the crash (at most the prefetch) ran a second attempt.
  EXPECT_LE(s.sql_count("SELECT count(*) FROM tasks WHERE attempts > 1"), prefetch);
  EXPECT_LE(llm.calls(), jobs + prefetch);
  EXPECT_NE(s.workers()[1]->log().find("task already finished"), std::string::npos)
      << "no committed-but-unacked delivery came back";
}

}  // namespace

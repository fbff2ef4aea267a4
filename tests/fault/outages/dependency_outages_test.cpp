// The fault suite, dependencies: Redis, Postgres and RabbitMQ taken down under real
// traffic and brought back. Each test ends by counting accepted jobs against results,
// duplicates and dead letters, and records how long recovery took.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "faults.hpp"
#include "llm_stub.hpp"
#include "outage.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Outages : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

void answer_after(llm_stub& llm, milliseconds delay) {
  llm.on_chat([delay](const stub_request&, int) {
    auto r = llm_stub::completion(llm_stub::valid_classification());
    r.delay = delay;
    return r;
  });
}

int ms_since(clock_type::time_point t) {
  return static_cast<int>(std::chrono::duration_cast<milliseconds>(clock_type::now() - t).count());
}

stack_options with_stub(llm_stub& llm, int prefetch) {
  return {.llm_provider = "openai",
          .llm_base_url = llm.base_url(),
          .env = {{"MQ_WORKER_PREFETCH", std::to_string(prefetch)},
                  {"MQ_LLM_MAX_IN_FLIGHT", std::to_string(prefetch)}}};
}

TEST_F(Outages, RedisStoppedDuringABatchAndItsPollingLosesNothing) {
  llm_stub llm;
  answer_after(llm, milliseconds(10));
  const int jobs = 1500;
  stack s(with_stub(llm, 50));
  auto key = s.create_tenant("acme");
  auto accepted = queue_batch(s, key, jobs);
  const std::string batch = accepted["batch_id"].GetString();
  const std::string task = accepted["task_ids"][jobs - 1].GetString();
  ASSERT_TRUE(eventually([&] { return succeeded(s) >= jobs / 5; }, seconds(60)));
  int polls = 0, answered = 0;
  {
    outage redis("redis");
    const auto down_at = clock_type::now();
    ASSERT_LT(succeeded(s), jobs) << "the batch finished before Redis went down; nothing was tested";
    // Polling goes on, answered from Postgres, while the workers finish the batch.
    while (succeeded(s) < jobs && ms_since(down_at) < 120'000) {
      for (const auto& path : {"/api/v1/tasks/" + task, "/api/v1/batches/" + batch}) {
        ++polls;
        answered += s.get(key, path).status == 200;
      }
    }
    EXPECT_EQ(succeeded(s), jobs) << "the batch did not finish without Redis";
    EXPECT_EQ(http_call("GET", s.url("/ready")).status, 503);
    RecordProperty("finished_without_redis_ms", ms_since(down_at));
    redis.end();
  }
  EXPECT_GT(polls, 0);
  EXPECT_EQ(answered, polls) << "a poll failed while Redis was down";
  EXPECT_TRUE(eventually([&] { return http_call("GET", s.url("/ready")).status == 200; }));
  EXPECT_STREQ(s.wait_task(key, task)["status"].GetString(), "succeeded");
  expect_exactly_once(s, jobs, "after Redis stopped mid-batch");
  EXPECT_EQ(llm.calls(), jobs);
}

TEST_F(Outages, PostgresStoppedForThirtySecondsPausesWorkersAndLosesNothing) {
  llm_stub llm;
  answer_after(llm, milliseconds(10));
  const int jobs = 1500, prefetch = 50;
  stack s(with_stub(llm, prefetch));
  auto key = s.create_tenant("acme");
  auto accepted = queue_batch(s, key, jobs);
  auto more = s.add_meetings(key, {"Cliente: llega durante el corte."});
  const std::string batch = accepted["batch_id"].GetString();
  ASSERT_TRUE(eventually([&] { return succeeded(s) >= jobs / 5; }, seconds(60)));
  int calls_during = 0;
  clock_type::time_point back_at;
  {
    outage postgres("postgres");
    const auto calls_at_stop = llm.calls();
    // New work is refused, never accepted without being durable.
    auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(more[0]));
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_FALSE(r.header("retry-after").empty());
    // Thirty seconds down: workers hold their deliveries; nothing is dead-lettered.
    const auto down_at = clock_type::now();
    while (ms_since(down_at) < 30'000) {
      EXPECT_EQ(s.queue("dead").messages, 0u);
      EXPECT_TRUE(s.workers()[0]->running());
      std::this_thread::sleep_for(milliseconds(500));  // the outage lasts 30 s; this only samples it
    }
    calls_during = llm.calls() - calls_at_stop;
    postgres.end();
    back_at = clock_type::now();
  }
  EXPECT_LE(calls_during, prefetch) << "workers kept calling the LLM for work they could not record";
  auto b = s.wait_batch(key, batch, seconds(120));
  RecordProperty("recovery_ms", ms_since(back_at));
  EXPECT_EQ(b["succeeded"].GetInt(), jobs);
  expect_exactly_once(s, jobs, "after Postgres stopped for 30 s");
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'succeeded' AND attempts > 2"), 0);
  EXPECT_LE(llm.calls(), jobs + prefetch);
}

/// POSTs one classify job per meeting from a thread of its own, keeping every answer.
struct burst {
  std::vector<long long> ids;
  std::vector<long> status;
  std::vector<std::string> task;  ///< From a 202, or from a 503's details when it was stored.
  std::atomic<int> sent{0};
  std::thread thread;

  burst(stack& s, const std::string& key, std::vector<long long> meeting_ids)
      : ids(std::move(meeting_ids)), status(ids.size()), task(ids.size()) {
    thread = std::thread([this, &s, key] {
      for (std::size_t i = 0; i < ids.size(); ++i) {
        auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[i]));
        status[i] = r.status;
        auto body = parse(r.body);
        if (r.status == 202) task[i] = body["task_id"].GetString();
        if (r.status == 503 && body["error"]["details"].HasMember("task_id"))
          task[i] = body["error"]["details"]["task_id"].GetString();
        ++sent;
      }
    });
  }
  void join() { thread.join(); }
};

/// Runs a burst of POSTs through a broker outage, then retries what was refused; every
/// 202 must end in exactly one result.
void burst_through_broker_outage(stack& s, const std::string& key, int n, bool kill, const std::string& what) {
  std::vector<std::string> transcripts;
  for (int i = 0; i < n; ++i) transcripts.push_back("Cliente: " + what + " " + std::to_string(i));
  burst b(s, key, s.add_meetings(key, transcripts));
  ASSERT_TRUE(eventually([&] { return b.sent >= n / 5; }, seconds(60)));
  {
    outage broker("rabbitmq", kill);
    const auto down_at = clock_type::now();
    broker.end();
    ::testing::Test::RecordProperty(what + "_broker_down_ms", ms_since(down_at));
  }
  b.join();
  int accepted = 0, stored = 0, refused = 0, other = 0;
  for (std::size_t i = 0; i < b.ids.size(); ++i) {
    if (b.status[i] == 202) ++accepted;
    else if (b.status[i] == 503 && !b.task[i].empty()) ++stored;
    else if (b.status[i] == 503) ++refused;
    else ++other;
  }
  EXPECT_EQ(other, 0) << what;
  ::testing::Test::RecordProperty(what + "_accepted", accepted);
  ::testing::Test::RecordProperty(what + "_stored_unconfirmed", stored);
  ::testing::Test::RecordProperty(what + "_refused", refused);
  // Every 202, and every 503 that named its stored task, is a job that runs with nothing
  // more done by the client.
  for (std::size_t i = 0; i < b.ids.size(); ++i) {
    if (!b.task[i].empty()) {
      EXPECT_STREQ(s.wait_task(key, b.task[i], seconds(120))["status"].GetString(), "succeeded") << what;
    }
  }
  // One refused before anything was stored is retried, as a client does after a 503.
  for (std::size_t i = 0; i < b.ids.size(); ++i) {
    if (!b.task[i].empty()) continue;
    auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(b.ids[i]));
    ASSERT_EQ(r.status, 202) << what << ": " << r.body;
    EXPECT_STREQ(s.wait_task(key, parse(r.body)["task_id"].GetString(), seconds(120))["status"].GetString(),
                 "succeeded");
  }
}

TEST_F(Outages, BrokerRestartedAndKilledDuringBurstsOfPostsLosesNothing) {
  stack s;
  auto key = s.create_tenant("acme");
  const auto started = clock_type::now();
  burst_through_broker_outage(s, key, 600, false, "restart");
  expect_exactly_once(s, 600, "after a broker restart");
  burst_through_broker_outage(s, key, 600, true, "kill");
  expect_exactly_once(s, 1200, "after the broker was killed");
  RecordProperty("total_ms", ms_since(started));
  EXPECT_TRUE(s.workers()[0]->running());
}

}  // namespace

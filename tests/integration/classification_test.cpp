// Meeting classification end to end: mq-api -> RabbitMQ -> mq-worker -> LLM -> Postgres
// and Redis, against the real services, with the LLM played by a local stub server or by
// the built-in offline provider.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>

#include "llm_stub.hpp"
#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/queues/topology.hpp"
#include "mq/schemas/types.hpp"
#include "mq/schemas/validator.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Classification : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

std::string classify(stack& s, const std::string& key, long long meeting_id) {
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(meeting_id));
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_FALSE(r.header("location").empty());
  auto doc = parse(r.body);
  EXPECT_STREQ(doc["status"].GetString(), "queued");
  EXPECT_EQ(r.header("location"), std::string("/api/v1/tasks/") + doc["task_id"].GetString());
  return doc["task_id"].GetString();
}

TEST_F(Classification, ValidAnswerFromAnOpenAiCompatibleServerIsStored) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int) {
    return llm_stub::completion(llm_stub::valid_classification("insurance", "positive"), "stop", 321, 45);
  });
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url(),
           .env = {{"MQ_LLM_MODEL", "stub-model"}, {"MQ_LLM_API_KEY", "sk-test-key"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: somos una aseguradora y necesitamos responder siniestros por WhatsApp."});
  auto task_id = classify(s, key, ids[0]);
  auto task = s.wait_task(key, task_id);
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_STREQ(task["result"]["business_sector"].GetString(), "insurance");

  // What the worker sent is an OpenAI chat completion asking for the schema.
  ASSERT_EQ(llm.calls(), 1);
  auto sent = parse(llm.requests()[0].body);
  EXPECT_STREQ(sent["model"].GetString(), "stub-model");
  EXPECT_STREQ(sent["response_format"]["type"].GetString(), "json_schema");
  EXPECT_TRUE(sent["response_format"]["json_schema"]["schema"]["properties"].HasMember("sentiment"));
  EXPECT_EQ(llm.requests()[0].authorization, "Bearer sk-test-key");
  EXPECT_NE(std::string(sent["messages"][1]["content"].GetString()).find("siniestros"), std::string::npos);

  // Postgres holds one classification with its provenance.
  auto where = " WHERE meeting_id = " + std::to_string(ids[0]);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications" + where), 1);
  EXPECT_EQ(s.sql("SELECT business_sector FROM classifications" + where), "insurance");
  EXPECT_EQ(s.sql("SELECT model FROM classifications" + where), "stub-model");
  EXPECT_EQ(s.sql("SELECT tokens_in FROM classifications" + where), "321");
  EXPECT_EQ(s.sql("SELECT provider FROM classifications" + where), "openai");

  // The cache has the task and the classification; the API serves both.
  auto keys = s.redis_keys();
  const auto cached = std::count_if(keys.begin(), keys.end(), [](const std::string& k) {
    return k.find(":task:") != std::string::npos || k.find(":cls:") != std::string::npos;
  });
  EXPECT_EQ(cached, 2) << "besides the replica's heartbeat";
  auto got = s.get(key, "/api/v1/classifications/" + std::to_string(ids[0]));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_STREQ(parse(got.body)["classification"]["sentiment"].GetString(), "positive");
  auto seed_path = s.get(key, "/api/v1/workers/classification/" + std::to_string(ids[0]));
  EXPECT_EQ(seed_path.body, got.body);
  auto seed_task = s.get(key, "/api/v1/workers/task/" + task_id);
  EXPECT_EQ(seed_task.status, 200);
  auto meeting = parse(s.get(key, "/api/v1/meetings/" + std::to_string(ids[0])).body);
  EXPECT_TRUE(meeting["classified"].GetBool());

  // The answer is stored once, in the classification; the task read from Postgres (its
  // cache entry gone) shows it all the same.
  EXPECT_EQ(s.sql("SELECT count(*) FROM tasks WHERE id = '" + task_id + "' AND result IS NULL"), "1");
  for (const auto& k : s.redis_keys())
    if (k.find(":task:") != std::string::npos) s.redis_del(k);
  auto from_pg = s.get(key, "/api/v1/tasks/" + task_id);
  ASSERT_EQ(from_pg.status, 200) << from_pg.body;
  auto uncached = parse(from_pg.body);
  EXPECT_STREQ(uncached["status"].GetString(), "succeeded");
  ASSERT_TRUE(uncached["result"].IsObject()) << from_pg.body;
  EXPECT_STREQ(uncached["result"]["business_sector"].GetString(), "insurance");
}

TEST_F(Classification, OutOfTaxonomyAnswerFailsTheTaskAndStoresNothing) {
  llm_stub llm;
  auto bad = llm_stub::valid_classification("aerospace", "positive");  // not a sector of the taxonomy
  llm.on_chat([bad](const stub_request&, int) { return llm_stub::completion(bad); });
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url(), .env = {{"MQ_LLM_MAX_ATTEMPTS", "2"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Client: we build rockets."});
  auto task_id = classify(s, key, ids[0]);
  auto task = s.wait_task(key, task_id);
  EXPECT_STREQ(task["status"].GetString(), "failed");
  EXPECT_STREQ(task["error"]["code"].GetString(), "LLM_INVALID_OUTPUT");
  std::string message = task["error"]["message"].GetString();
  EXPECT_NE(message.find("/business_sector must be one of"), std::string::npos) << message;
  EXPECT_EQ(llm.calls(), 2) << "invalid output is retried up to llm.max_attempts";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 0);
  EXPECT_EQ(s.get(key, "/api/v1/classifications/" + std::to_string(ids[0])).status, 404);
  for (const auto& k : s.redis_keys()) EXPECT_EQ(k.find(":cls:"), std::string::npos) << k;
  EXPECT_EQ(s.waiting("classify_meeting"), 0u);
  EXPECT_EQ(s.dead_letters(), 0) << "a failed task is an outcome, not a dead letter";
}

TEST_F(Classification, AMeetingDeletedWhileItsAnswerIsComingFailsItsTaskAndStoresNothing) {
  llm_stub llm;
  std::atomic<stack*> running{nullptr};
  std::atomic<long long> doomed{0};
  llm.on_chat([&](const stub_request& req, int) {
    // Between the claim and the completion: the meeting goes while its answer is made.
    if (req.body.find("se borra") != std::string::npos)
      running.load()->sql("DELETE FROM meetings WHERE id = " + std::to_string(doomed.load()));
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url()});
  running = &s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: esta reunión se borra.", "Cliente: esta reunión se queda."});
  doomed = ids[0];
  auto gone = s.wait_task(key, classify(s, key, ids[0]));
  auto kept = s.wait_task(key, classify(s, key, ids[1]));
  EXPECT_STREQ(gone["status"].GetString(), "failed");
  EXPECT_STREQ(gone["error"]["code"].GetString(), "NOT_FOUND");
  EXPECT_STREQ(gone["error"]["message"].GetString(), "the meeting no longer exists");
  EXPECT_STREQ(kept["status"].GetString(), "succeeded");
  EXPECT_EQ(s.sql("SELECT string_agg(meeting_id::text, ',') FROM classifications"), std::to_string(ids[1]));
  EXPECT_EQ(s.get(key, "/api/v1/classifications/" + std::to_string(ids[0])).status, 404);
}

TEST_F(Classification, DeletingMeetingsDeletesTheirClassifications) {
  stack s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: uno.", "Cliente: dos.", "Cliente: tres."});
  for (auto id : ids) EXPECT_STREQ(s.wait_task(key, classify(s, key, id))["status"].GetString(), "succeeded");
  ASSERT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 3);
  s.sql("DELETE FROM meetings WHERE id IN (" + std::to_string(ids[0]) + ", " + std::to_string(ids[1]) + ")");
  EXPECT_EQ(s.sql("SELECT string_agg(meeting_id::text, ',') FROM classifications"), std::to_string(ids[2]));
  s.sql("DELETE FROM tenants");  // a tenant's meetings go by cascade, and their classifications with them
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 0);
}

/// A meeting classified again keeps one classification row, replaced by the newer answer,
/// while meetings classified for the first time alongside it get theirs.
TEST_F(Classification, ClassifyingAMeetingAgainReplacesItsClassification) {
  std::atomic<bool> second_round{false};
  llm_stub llm;
  llm.on_chat([&](const stub_request&, int) {
    return second_round ? llm_stub::completion(llm_stub::valid_classification("insurance", "negative"), "stop", 70, 7)
                        : llm_stub::completion(llm_stub::valid_classification("retail", "positive"), "stop", 50, 5);
  });
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: una tienda.", "Cliente: una aseguradora.", "Cliente: otra."});
  EXPECT_STREQ(s.wait_task(key, classify(s, key, ids[0]))["status"].GetString(), "succeeded");
  const auto where = " FROM classifications WHERE meeting_id = " + std::to_string(ids[0]);
  const auto created = s.sql("SELECT created_at" + where);
  ASSERT_EQ(s.sql("SELECT business_sector" + where), "retail");

  second_round = true;
  s.sql("UPDATE classifications SET updated_at = updated_at - interval '1 hour'");
  auto queued = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(queued.status, 202) << queued.body;
  const auto again = classify(s, key, ids[0]);
  EXPECT_STREQ(s.wait_task(key, again)["status"].GetString(), "succeeded");
  EXPECT_EQ(s.wait_batch(key, parse(queued.body)["batch_id"].GetString())["succeeded"].GetInt(), 2);

  EXPECT_EQ(s.sql_count("SELECT count(*)" + where), 1);
  EXPECT_EQ(s.sql("SELECT business_sector || ' ' || sentiment || ' ' || tokens_in || ' ' || (result->>'sentiment')" + where),
            "insurance negative 70 negative");
  EXPECT_EQ(s.sql("SELECT task_id" + where), again);
  EXPECT_EQ(s.sql("SELECT created_at" + where), created);
  EXPECT_EQ(s.sql("SELECT count(*)" + where + " AND updated_at > now() - interval '1 minute'"), "1");
  EXPECT_EQ(s.sql("SELECT string_agg(business_sector, ',') FROM classifications WHERE meeting_id <> " +
                  std::to_string(ids[0])),
            "insurance,insurance");
  auto got = parse(s.get(key, "/api/v1/classifications/" + std::to_string(ids[0])).body);
  EXPECT_STREQ(got["classification"]["business_sector"].GetString(), "insurance");
}

TEST_F(Classification, ProviderErrorsAreRetriedThenSucceed) {
  llm_stub llm;
  llm.on_chat([](const stub_request&, int n) {
    if (n == 1) return stub_reply::error(503, R"({"error":{"message":"overloaded"}})");
    if (n == 2) return stub_reply::error(429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "0"}});
    return llm_stub::completion(llm_stub::valid_classification());
  });
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: vendemos por internet."});
  auto task = s.wait_task(key, classify(s, key, ids[0]));
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(llm.calls(), 3);
  EXPECT_EQ(s.sql("SELECT attempts FROM classifications"), "3");
}

TEST_F(Classification, OfflineProviderClassifiesAValidResultForEveryMeeting) {
  stack s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {
      "Cliente: Somos un hotel boutique en Cusco, Perú. Las reservas llegan por Instagram y no damos abasto.",
      "Client: We run a logistics company in Toronto with 400 employees; our fleet data is in spreadsheets.",
      "Cliente: Tenemos una clínica dental, queremos automatizar recordatorios de citas. ¿Cuál es el precio?",
  });
  ASSERT_EQ(ids.size(), 3u);
  json::writer w;
  w.begin_object();
  w.key("meeting_ids");
  w.begin_array();
  for (auto id : ids) w.value(id);
  w.end_array();
  w.end_object();
  auto r = s.post(key, "/api/v1/workers/classify/batch", w.take());
  ASSERT_EQ(r.status, 202) << r.body;
  auto batch_id = std::string(parse(r.body)["batch_id"].GetString());
  EXPECT_EQ(r.header("location"), "/api/v1/batches/" + batch_id);
  auto batch = s.wait_batch(key, batch_id);
  EXPECT_EQ(batch["total"].GetInt(), 3);
  EXPECT_EQ(batch["succeeded"].GetInt(), 3);
  EXPECT_EQ(batch["failed"].GetInt(), 0);
  auto list = parse(s.get(key, "/api/v1/classifications").body);
  ASSERT_EQ(list["total"].GetInt(), 3);
  for (const auto& item : list["items"].GetArray()) {
    EXPECT_STREQ(item["provider"].GetString(), "offline");
    EXPECT_FALSE(schemas::validate("classification", item["classification"]).has_value());
  }
  EXPECT_EQ(s.sql("SELECT business_sector FROM classifications WHERE meeting_id = " + std::to_string(ids[0])),
            "tourism_hospitality");
  EXPECT_EQ(s.sql("SELECT language FROM classifications WHERE meeting_id = " + std::to_string(ids[1])), "en");
}

/// Row writes of the tasks table so far, and how many of them were HOT (a new row
/// version on the same page, with no index entry). A backend reports its statistics
/// within seconds of a transaction, so callers wait for the count they expect.
std::pair<long long, long long> task_updates(stack& s) {
  const auto n = s.sql("SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'tasks'::regclass");
  const auto space = n.find(' ');
  return {std::stoll(n.substr(0, space)), std::stoll(n.substr(space + 1))};
}

TEST_F(Classification, AQuickClassificationWritesItsTaskOnlyWithTheOutcome) {
  stack s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: somos una constructora con 40 obras activas."});
  const auto task_id = classify(s, key, ids[0]);
  auto task = s.wait_task(key, task_id);
  ASSERT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(task["attempts"].GetInt(), 1) << "the outcome records the attempt the claim did not write";
  EXPECT_EQ(s.sql("SELECT started_at IS NOT NULL AND started_at <= finished_at FROM tasks"), "t");
  // Claimed without a write (well within worker.running_after_ms), then one row write:
  // the outcome, which leaves the index of unfinished tasks and so cannot be HOT.
  EXPECT_TRUE(eventually([&] { return task_updates(s).first >= 1; }, std::chrono::seconds(20)));
  EXPECT_EQ(task_updates(s), std::make_pair(1LL, 0LL));
}

TEST_F(Classification, ALongClassificationIsRecordedRunningWithoutAnIndexEntry) {
  llm_stub llm;
  llm.classify_after(std::chrono::milliseconds(1500));
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url(), .env = {{"MQ_WORKER_RUNNING_AFTER_MS", "200"}}});
  // An index that names a column the running mark writes, in its keys or its predicate,
  // makes every mark a new row version with an entry in each index of tasks.
  EXPECT_EQ(s.sql("SELECT string_agg(indexrelid::regclass::text, ', ') FROM pg_index "
                  "WHERE indrelid = 'tasks'::regclass AND pg_get_indexdef(indexrelid) "
                  "~ '\\m(status|attempts|started_at|updated_at|next_attempt_at)\\M'"),
            "");
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: hola."});
  const auto task_id = classify(s, key, ids[0]);
  ASSERT_TRUE(eventually([&] { return llm.calls() == 1; }));
  // Marked while its call is still out: in Postgres, then in what polls read.
  ASSERT_TRUE(eventually([&] { return s.sql("SELECT status FROM tasks") == "running"; }, std::chrono::seconds(1)));
  EXPECT_EQ(s.sql("SELECT attempts FROM tasks"), "1");
  EXPECT_EQ(s.sql("SELECT started_at IS NOT NULL FROM tasks"), "t");
  ASSERT_TRUE(eventually([&] {
    auto r = s.get(key, "/api/v1/tasks/" + task_id);
    return r.status == 200 && std::string(parse(r.body)["status"].GetString()) == "running";
  }, std::chrono::seconds(1)));
  EXPECT_EQ(llm.calls(), 1);
  auto task = s.wait_task(key, task_id);
  ASSERT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(task["attempts"].GetInt(), 1);
  EXPECT_EQ(s.sql("SELECT count(*) FROM classifications"), "1");
  // Two row writes: the mark stays on its page without index entries; the outcome cannot.
  EXPECT_TRUE(eventually([&] { return task_updates(s).first >= 2; }, std::chrono::seconds(20)));
  EXPECT_EQ(task_updates(s), std::make_pair(2LL, 1LL));
}

TEST_F(Classification, ARedeliveredJobWritesOneResultAndCallsTheLlmOnce) {
  llm_stub llm;
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: somos una constructora."});
  auto task_id = classify(s, key, ids[0]);
  s.wait_task(key, task_id);
  const auto before = s.sql("SELECT updated_at::text FROM classifications");
  const auto tenant = s.sql("SELECT tenant_id FROM tasks");
  // The same message again, as a broker redelivery or a relay republish would send it.
  schemas::envelope e{task_id, tenant, "classify_meeting", ids[0], "", "dup"};
  s.publish_raw("classify_meeting", schemas::encode(e), task_id);
  s.publish_raw("classify_meeting", schemas::encode(e), task_id);
  // The worker logs each copy it settles without work.
  auto settled = [&] {
    const auto log = s.workers()[0]->log();
    int n = 0;
    for (auto at = log.find("already finished"); at != std::string::npos; at = log.find("already finished", at + 1)) ++n;
    return n;
  };
  for (int i = 0; i < 400 && settled() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ASSERT_EQ(settled(), 2) << s.workers()[0]->log();
  EXPECT_EQ(llm.calls(), 1);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 1);
  EXPECT_EQ(s.sql("SELECT updated_at::text FROM classifications"), before);
  EXPECT_EQ(s.sql("SELECT attempts FROM tasks"), "1");
  EXPECT_EQ(s.dead_letters(), 0);
}

TEST_F(Classification, ARedeliveryTakesOverAClassificationMarkedRunningUnderTheNextAttempt) {
  // The replica dies while the call is out and the task is marked running: the message
  // comes back redelivered, and its claim writes the task (attempt 2), so an outcome of
  // attempt 1 could no longer be stored.
  llm_stub llm;
  llm.classify_after(std::chrono::milliseconds(1500));
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url(), .env = {{"MQ_WORKER_RUNNING_AFTER_MS", "200"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: hola."});
  const auto task_id = classify(s, key, ids[0]);
  ASSERT_TRUE(eventually([&] { return s.sql("SELECT status || ' ' || attempts FROM tasks") == "running 1"; }));
  s.workers()[0]->signal(SIGKILL);
  s.workers()[0]->wait(std::chrono::seconds(5));
  s.start_worker({{"MQ_WORKER_RUNNING_AFTER_MS", "200"}});
  auto task = s.wait_task(key, task_id);
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(task["attempts"].GetInt(), 2);
  EXPECT_EQ(llm.calls(), 2);
  EXPECT_EQ(s.sql("SELECT count(*) || ' ' || min(task_id::text) FROM classifications"), "1 " + task_id);
  EXPECT_EQ(s.dead_letters(), 0);
}

/// A second message of a task published while the worker runs the task (its LLM call
/// takes 1.5 s): the task is classified once, by one LLM call, in one attempt; the copy
/// waited for the running job and then found the task finished. `deliveries` above 0
/// gives the copy the right to take a task over (as the split copies of a bulk message
/// that came back have): it waits all the same, as its task runs in this replica.
void copy_of_a_running_job_runs_nothing(int deliveries) {
  llm_stub llm;
  llm.classify_after(std::chrono::milliseconds(1500));
  stack s({.llm_provider = "openai", .llm_base_url = llm.base_url()});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: hola."});
  auto task_id = classify(s, key, ids[0]);
  ASSERT_TRUE(eventually([&] { return llm.calls() == 1; }));
  schemas::envelope e{task_id, s.sql("SELECT tenant_id FROM tasks"), "classify_meeting", ids[0], "", ""};
  e.deliveries = deliveries;
  s.publish_raw("classify_meeting", schemas::encode(e), task_id);
  auto task = s.wait_task(key, task_id);
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(task["attempts"].GetInt(), 1);
  EXPECT_TRUE(eventually([&] {
    return s.workers()[0]->log().find("task already finished; delivery acknowledged") != std::string::npos;
  })) << "the copy never ran after the job it waited for";
  EXPECT_NE(s.workers()[0]->log().find("waits for it"), std::string::npos) << "the copy did not wait for the job";
  EXPECT_EQ(llm.calls(), 1);
  EXPECT_EQ(s.sql("SELECT attempts FROM tasks"), "1");
  EXPECT_EQ(s.waiting("classify_meeting"), 0u);
  EXPECT_EQ(s.dead_letters(), 0);
}

TEST_F(Classification, ADuplicateOfARunningJobDoesNotCallTheLlmAgain) {
  // What an outbox republish looks like: the same task, not a broker redelivery.
  copy_of_a_running_job_runs_nothing(0);
}

TEST_F(Classification, ACopyThatMayTakeOverARunningJobWaitsForItInsteadOfCallingTheLlmAgain) {
  // Before, it took the task over while the first job ran: two LLM calls, two attempts.
  copy_of_a_running_job_runs_nothing(1);
}

TEST_F(Classification, CopiesRunInTwoReplicasAtOnceStoreOneOutcome) {
  // A classification's claim writes nothing, so two replicas given copies of one task
  // at the same time both run it; the outcome that comes second finds the task finished.
  llm_stub llm;
  llm.classify_after(std::chrono::milliseconds(800));
  stack s({.workers = 2, .llm_provider = "openai", .llm_base_url = llm.base_url()});
  s.wait_consumers(2);
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: hola."});
  const auto task_id = classify(s, key, ids[0]);
  schemas::envelope e{task_id, s.sql("SELECT tenant_id FROM tasks"), "classify_meeting", ids[0], "", "copy"};
  s.publish_raw("classify_meeting", schemas::encode(e), task_id);
  // The broker hands the two messages to the two consumers in turn.
  ASSERT_TRUE(eventually([&] { return llm.calls() == 2; })) << llm.calls() << " LLM calls";
  auto task = s.wait_task(key, task_id);
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  EXPECT_EQ(task["attempts"].GetInt(), 1);
  EXPECT_TRUE(eventually([&] { return s.waiting("classify_meeting") == 0; }));
  EXPECT_TRUE(eventually([&] {
    int dropped = 0;
    for (auto& w : s.workers()) dropped += w->log().find("result dropped") != std::string::npos;
    return dropped == 1;
  })) << "the second outcome was not the one left out";
  EXPECT_EQ(s.sql("SELECT count(*) || ' ' || min(task_id::text) FROM classifications"), "1 " + task_id);
  EXPECT_EQ(s.sql("SELECT attempts FROM tasks"), "1");
  EXPECT_EQ(s.dead_letters(), 0);
}

TEST_F(Classification, CommittedButUnpublishedWorkIsPublishedByTheOutboxRelay) {
  stack s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: uno.", "Cliente: dos.", "Cliente: tres."});
  // What a crash between the commit and the broker's confirm leaves: the tasks and their
  // unconfirmed outbox groups, no messages.
  const auto tenant = s.sql("SELECT id FROM tenants");
  const auto single = new_uuid(), batch = new_uuid();
  s.sql("INSERT INTO tasks (id, tenant_id, kind, subject_id) VALUES ('" + single + "', '" + tenant +
        "', 'classify_meeting', " + std::to_string(ids[0]) + ") RETURNING 1");
  s.sql("INSERT INTO outbox (id, task_ids) VALUES ('" + new_uuid() + "', ARRAY['" + single + "']::uuid[]) RETURNING 1");
  s.sql("INSERT INTO batches (id, tenant_id, kind, total) VALUES ('" + batch + "', '" + tenant +
        "', 'classify_meeting', 2) RETURNING 1");
  std::vector<std::string> in_batch{new_uuid(), new_uuid()};
  for (int i = 1; i < 3; ++i)
    s.sql("INSERT INTO tasks (id, tenant_id, kind, subject_id, batch_id) VALUES ('" + in_batch[i - 1] + "', '" +
          tenant + "', 'classify_meeting', " + std::to_string(ids[i]) + ", '" + batch + "') RETURNING 1");
  s.sql("INSERT INTO outbox (id, task_ids) VALUES ('" + new_uuid() + "', ARRAY['" + in_batch[0] + "', '" +
        in_batch[1] + "']::uuid[]) RETURNING 1");
  EXPECT_EQ(s.waiting("classify_meeting"), 0u);
  EXPECT_STREQ(s.wait_task(key, single)["status"].GetString(), "succeeded");
  auto b = s.wait_batch(key, batch);
  EXPECT_EQ(b["succeeded"].GetInt(), 2);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM outbox"), 0);
  EXPECT_NE(s.api().log().find("republished unconfirmed tasks"), std::string::npos);
}

TEST_F(Classification, PoisonMessagesAreDeadLetteredAndWorkKeepsFlowing) {
  stack s;
  auto key = s.create_tenant("acme");
  s.publish_raw("classify_meeting", "this is not json", "poison-1");
  s.publish_raw("classify_meeting", R"({"v":1,"kind":"classify_meeting"})", "poison-2");
  schemas::envelope forged{new_uuid(), new_uuid(), "classify_meeting", 1, "", ""};
  s.publish_raw("classify_meeting", schemas::encode(forged), forged.task_id);
  EXPECT_TRUE(eventually([&] { return s.dead_letters() == 3; })) << s.workers()[0]->log();
  // Recorded with why, visible to operators only: none of them names a task of a tenant.
  EXPECT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM dead_letters") == 3; }));
  EXPECT_EQ(s.sql("SELECT error_code FROM dead_letters WHERE body_preview = 'this is not json'"), "POISON_MESSAGE");
  EXPECT_EQ(s.sql("SELECT error FROM dead_letters WHERE body_preview LIKE '%" + forged.task_id + "%'"),
            "the message names no task of its tenant");
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM dead_letters WHERE tenant_id IS NULL AND reason = 'poison' "
                        "AND error_code IN ('POISON_MESSAGE', 'NOT_FOUND') AND queue LIKE '%classify_meeting'"),
            3);
  EXPECT_EQ(parse(s.get(key, "/api/v1/dead-letters").body)["total"].GetInt(), 0);
  // Forged tasks inside a bulk message: each is dead-lettered on its own, with its own
  // envelope as the body (the worker writes it only then).
  const auto tenant = new_uuid();
  std::vector<schemas::envelope> group = {{new_uuid(), tenant, "classify_meeting", 2, "", ""},
                                          {new_uuid(), tenant, "classify_meeting", 3, "", ""}};
  s.publish_raw(queues::topology::bulk_key("classify_meeting"), schemas::encode_group(group), "poison-bulk");
  EXPECT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM dead_letters") == 5; })) << s.workers()[0]->log();
  for (const auto& e : group) {
    auto body = s.sql("SELECT body_preview FROM dead_letters WHERE body_preview LIKE '%" + e.task_id + "%'");
    auto dead = schemas::decode_envelope(body);
    ASSERT_TRUE(dead.ok()) << body;
    EXPECT_EQ(dead->task_id, e.task_id);
    EXPECT_EQ(dead->subject_id, e.subject_id);
    EXPECT_EQ(s.sql("SELECT error FROM dead_letters WHERE body_preview LIKE '%" + e.task_id + "%'"),
              "the message names no task of its tenant");
  }
  EXPECT_TRUE(s.workers()[0]->running());
  auto ids = s.add_meetings(key, {"Cliente: después del veneno, trabajo normal."});
  auto task = s.wait_task(key, classify(s, key, ids[0]));
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
}

TEST_F(Classification, WithRedisDownPollingAnswersFromPostgresAndWorkersFinish) {
  // A port nobody listens on: the cache is unreachable for both processes.
  stack s({.env = {{"MQ_REDIS_PORT", "1"}}, .wait_ready = false});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: somos una universidad en Bogotá."});
  auto task = s.wait_task(key, classify(s, key, ids[0]));
  EXPECT_STREQ(task["status"].GetString(), "succeeded");
  auto got = s.get(key, "/api/v1/classifications/" + std::to_string(ids[0]));
  EXPECT_EQ(got.status, 200) << got.body;
  auto ready = http_call("GET", s.url("/ready"));
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("redis"), std::string::npos) << ready.body;
}

TEST_F(Classification, PollsAreAnsweredFromTheCacheInEveryState) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: somos una clínica en Lima y queremos agendar por WhatsApp."});
  auto task_id = classify(s, key, ids[0]);
  std::string cache_key;
  ASSERT_TRUE(eventually([&] {
    for (const auto& k : s.redis_keys())
      if (k.find(task_id) != std::string::npos) cache_key = k;
    return !cache_key.empty();
  })) << "the accepted task's queued state is cached";
  auto queued = s.redis_entry(cache_key);
  ASSERT_TRUE(queued);
  EXPECT_STREQ(parse(queued->first)["status"].GetString(), "queued");
  EXPECT_GT(queued->second, 0);
  EXPECT_LE(queued->second, 60) << "a state on the way lives redis.progress_ttl_seconds";
  // Polling reads the cache: a doctored entry is what comes back.
  auto doctored = parse(queued->first);
  doctored["request_id"].SetString("served-from-cache");
  s.redis_set(cache_key, json::stringify(doctored));
  EXPECT_STREQ(parse(s.get(key, "/api/v1/tasks/" + task_id).body)["request_id"].GetString(), "served-from-cache");
  // A miss is answered from Postgres and cached again.
  s.redis_del(cache_key);
  auto polled = parse(s.get(key, "/api/v1/tasks/" + task_id).body);
  EXPECT_STREQ(polled["status"].GetString(), "queued");
  EXPECT_FALSE(polled["request_id"].IsString() && std::string(polled["request_id"].GetString()) == "served-from-cache");
  ASSERT_TRUE(eventually([&] { return s.redis_entry(cache_key).has_value(); }));
  // The worker's states replace the queued one; the final one lives redis.ttl_seconds.
  s.start_worker();
  EXPECT_STREQ(s.wait_task(key, task_id)["status"].GetString(), "succeeded");
  auto final_entry = s.redis_entry(cache_key);
  ASSERT_TRUE(final_entry);
  EXPECT_STREQ(parse(final_entry->first)["status"].GetString(), "succeeded");
  EXPECT_GT(final_entry->second, 3600);
}

}  // namespace

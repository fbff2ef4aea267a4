// The HTTP edge against the real services: the error format, what bad input leaves
// behind (nothing), tenancy, request ids, and durable, idempotent acceptance.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "stack.hpp"

namespace {

using namespace mq;
using namespace mq::test;

struct Api : ::testing::Test {
  void SetUp() override { MQ_REQUIRE_SERVICES(); }
};

/// Asserts the documented error body and returns its code.
std::string error_code(const http_result& r) {
  auto doc = parse(r.body);
  EXPECT_TRUE(doc.IsObject() && doc.HasMember("error")) << r.body;
  if (!doc.IsObject() || !doc.HasMember("error")) return "";
  const auto& e = doc["error"];
  EXPECT_TRUE(e["message"].IsString());
  EXPECT_TRUE(e["details"].IsObject());
  EXPECT_TRUE(std::regex_match(std::string(e["timestamp"].GetString()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  EXPECT_EQ(std::string(e["request_id"].GetString()), r.header("x-request-id"));
  return e["code"].GetString();
}

/// Everything bad input must not touch.
struct footprint {
  long long meetings, tasks, batches, clients, classifications;
  std::size_t redis_keys;
  std::uint64_t queued;
  bool operator==(const footprint& o) const {
    return meetings == o.meetings && tasks == o.tasks && batches == o.batches && clients == o.clients &&
           classifications == o.classifications && redis_keys == o.redis_keys && queued == o.queued;
  }
};

footprint measure(stack& s) {
  return {s.sql_count("SELECT count(*) FROM meetings"), s.sql_count("SELECT count(*) FROM tasks"),
          s.sql_count("SELECT count(*) FROM batches"), s.sql_count("SELECT count(*) FROM clients"),
          s.sql_count("SELECT count(*) FROM classifications"), s.redis_keys().size(),
          s.waiting("classify_meeting")};
}

TEST_F(Api, BadInputGetsTheDocumentedErrorAndChangesNothing) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: una reunión válida."});
  const auto before = measure(s);
  struct bad_case {
    const char* what;
    std::string method, path, body;
    long status;
    const char* code;
  };
  const std::string big(2 * 1024 * 1024, 'a');
  const std::vector<bad_case> cases = {
      {"malformed JSON", "POST", "/api/v1/meetings", R"({"transcript": "x",)", 400, "MALFORMED_JSON"},
      {"not an object", "POST", "/api/v1/meetings", R"(["x"])", 422, "VALIDATION_FAILED"},
      {"wrong type", "POST", "/api/v1/meetings", R"({"transcript": 12})", 422, "VALIDATION_FAILED"},
      {"missing field", "POST", "/api/v1/meetings", R"({"client_name": "A"})", 422, "VALIDATION_FAILED"},
      {"unknown field", "POST", "/api/v1/meetings", R"({"transcript": "x", "sql": "DROP TABLE"})", 422, "VALIDATION_FAILED"},
      {"bad item in many", "POST", "/api/v1/meetings", R"({"meetings": [{"transcript": "ok"}, {"transcript": 1}]})", 422, "VALIDATION_FAILED"},
      {"impossible date", "POST", "/api/v1/meetings", R"({"transcript": "x", "meeting_date": "2023-02-29"})", 422, "VALIDATION_FAILED"},
      {"NUL character", "POST", "/api/v1/meetings", R"({"transcript": "a\u0000b"})", 422, "VALIDATION_FAILED"},
      {"raw NUL byte after the JSON", "POST", "/api/v1/meetings", std::string(R"({"transcript": "x"})") + '\0' + "junk",
       400, "MALFORMED_JSON"},
      {"oversized body", "POST", "/api/v1/meetings", R"({"transcript": ")" + big + R"("})", 413, "PAYLOAD_TOO_LARGE"},
      {"unknown meeting", "POST", "/api/v1/workers/classify/999999", "", 404, "NOT_FOUND"},
      {"non-numeric meeting", "POST", "/api/v1/workers/classify/abc", "", 404, "NOT_FOUND"},
      {"batch with unknown ids", "POST", "/api/v1/workers/classify/batch",
       R"({"meeting_ids": [)" + std::to_string(ids[0]) + R"(, 999999]})", 404, "NOT_FOUND"},
      {"batch of strings", "POST", "/api/v1/workers/classify/batch", R"({"meeting_ids": ["1"]})", 422, "VALIDATION_FAILED"},
      {"empty batch", "POST", "/api/v1/workers/classify/batch", R"({"meeting_ids": []})", 422, "VALIDATION_FAILED"},
      {"bad page", "GET", "/api/v1/meetings?page=0", "", 400, "INVALID_PARAMETER"},
      {"bad filter", "GET", "/api/v1/meetings?classified=maybe", "", 400, "INVALID_PARAMETER"},
  };
  for (const auto& c : cases) {
    auto r = c.method == "GET" ? s.get(key, c.path) : s.post(key, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    EXPECT_EQ(error_code(r), c.code) << c.what;
  }
  auto form = http_call("POST", s.url("/api/v1/meetings"), "transcript=x",
                        {"Authorization: Bearer " + key, "Content-Type: application/x-www-form-urlencoded"});
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(error_code(form), "UNSUPPORTED_MEDIA_TYPE");
  auto batch = parse(s.post(key, "/api/v1/workers/classify/batch",
                            R"({"meeting_ids": [)" + std::to_string(ids[0]) + R"(, 999998, 999999]})").body);
  EXPECT_EQ(batch["error"]["details"]["missing_ids"].Size(), 2u);
  EXPECT_TRUE(measure(s) == before) << "bad input left something behind";
}

TEST_F(Api, UnknownIdsAre404NeverPending) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  for (const std::string& path : std::vector<std::string>{"/api/v1/tasks/" + new_uuid(), "/api/v1/workers/task/" + new_uuid(),
                           "/api/v1/batches/" + new_uuid(), "/api/v1/tasks/not-a-uuid",
                           std::string("/api/v1/meetings/424242"), std::string("/api/v1/classifications/424242"),
                           std::string("/api/v1/workers/classification/424242"), std::string("/api/v1/nothing-here")}) {
    auto r = s.get(key, path);
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
    EXPECT_EQ(error_code(r), "NOT_FOUND") << path;
  }
  auto del = s.del(key, "/api/v1/workers/classification/424242");
  EXPECT_EQ(del.status, 404);
  auto wrong_method = http_call("PUT", s.url("/api/v1/meetings"), "", {"Authorization: Bearer " + key});
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST, GET");
}

TEST_F(Api, KeysAreRequiredAndCheckedAndStoredHashed) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto none = http_call("GET", s.url("/api/v1/meetings"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_EQ(error_code(none), "UNAUTHORIZED");
  EXPECT_EQ(s.get("mq_" + std::string(48, '0'), "/api/v1/meetings").status, 401);
  EXPECT_EQ(s.get(key, "/api/v1/meetings").status, 200);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM api_keys WHERE key_hash = '" + sha256_hex(key) + "'"), 1);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM api_keys WHERE key_hash = '" + key + "'"), 0);
  EXPECT_EQ(http_call("GET", s.url("/health")).status, 200);
  EXPECT_EQ(http_call("GET", s.url("/ready")).status, 200);
}

TEST_F(Api, ATenantNeverSeesAnotherTenantsData) {
  stack s;
  auto a = s.create_tenant("a");
  auto b = s.create_tenant("b");
  auto ids = s.add_meetings(a, {"Cliente: datos privados de A."});
  auto id = std::to_string(ids[0]);
  auto accepted = parse(s.post(a, "/api/v1/workers/classify/" + id).body);
  std::string task_id = accepted["task_id"].GetString();
  s.wait_task(a, task_id);
  auto queued = parse(s.post(a, "/api/v1/workers/classify/batch", R"({"meeting_ids": [)" + id + "]}").body);
  std::string batch_id = queued["batch_id"].GetString();

  for (const std::string& path : std::vector<std::string>{"/api/v1/meetings/" + id, "/api/v1/tasks/" + task_id, "/api/v1/workers/task/" + task_id,
                           "/api/v1/classifications/" + id, "/api/v1/workers/classification/" + id,
                           "/api/v1/batches/" + batch_id})
    EXPECT_EQ(s.get(b, path).status, 404) << path;
  EXPECT_EQ(s.post(b, "/api/v1/workers/classify/" + id).status, 404);
  EXPECT_EQ(s.post(b, "/api/v1/workers/classify/batch", R"({"meeting_ids": [)" + id + "]}").status, 404);
  EXPECT_EQ(s.del(b, "/api/v1/workers/classification/" + id).status, 404);
  EXPECT_EQ(parse(s.get(b, "/api/v1/meetings").body)["total"].GetInt(), 0);
  EXPECT_EQ(parse(s.get(b, "/api/v1/classifications").body)["total"].GetInt(), 0);
  auto nothing = parse(s.post(b, "/api/v1/classifications/queue-unclassified").body);
  EXPECT_EQ(nothing["queued"].GetInt(), 0);
  // And A still has everything.
  EXPECT_EQ(s.get(a, "/api/v1/classifications/" + id).status, 200);
  EXPECT_EQ(s.del(a, "/api/v1/workers/classification/" + id).status, 204);
  EXPECT_EQ(s.get(a, "/api/v1/classifications/" + id).status, 404) << "deleted from Postgres and the cache";
}

TEST_F(Api, RequestIdIsAcceptedReturnedAndCarriedIntoTheJob) {
  stack s;
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, {"Cliente: trazabilidad."});
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[0]), "", {"X-Request-ID: trace-abc-123"});
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(r.header("x-request-id"), "trace-abc-123");
  auto task = s.wait_task(key, parse(r.body)["task_id"].GetString());
  EXPECT_STREQ(task["request_id"].GetString(), "trace-abc-123");
  EXPECT_NE(s.workers()[0]->log().find(R"("request_id":"trace-abc-123")"), std::string::npos);
  auto made = s.get(key, "/api/v1/meetings");
  EXPECT_TRUE(is_uuid(made.header("x-request-id")));
  auto hostile = http_call("GET", s.url("/health"), "", {"X-Request-ID: bad id with spaces"});
  EXPECT_TRUE(is_uuid(hostile.header("x-request-id"))) << "an unusable id is replaced";
}

TEST_F(Api, QueueUnclassifiedIsDurableAndIdempotent) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, 25);

  auto first = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(first.status, 202) << first.body;
  auto f = parse(first.body);
  EXPECT_EQ(f["queued"].GetInt(), 25);
  EXPECT_EQ(f["already_queued"].GetInt(), 0);
  // Accepted means committed and confirmed by the broker: all 25 wait in the queue, as
  // one bulk message (amqp.group_size 50).
  EXPECT_EQ(s.queue("classify_meeting.bulk").messages, 1u);
  EXPECT_EQ(s.queue("classify_meeting").messages, 0u);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'queued'"), 25);

  auto second = s.post(key, "/api/v1/classifications/queue-unclassified");
  EXPECT_EQ(second.status, 200) << second.body;
  auto g = parse(second.body);
  EXPECT_EQ(g["queued"].GetInt(), 0);
  EXPECT_EQ(g["already_queued"].GetInt(), 25);
  EXPECT_TRUE(g["batch_id"].IsNull());
  EXPECT_EQ(s.queue("classify_meeting.bulk").messages, 1u) << "nothing queued twice";
  auto one = parse(s.post(key, "/api/v1/workers/classify/" + std::to_string(ids[3])).body);
  EXPECT_TRUE(one["deduplicated"].GetBool());
  EXPECT_EQ(s.queue("classify_meeting").messages, 0u);

  s.start_worker();
  auto batch = s.wait_batch(key, f["batch_id"].GetString());
  EXPECT_EQ(batch["succeeded"].GetInt(), 25);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 25);
  auto third = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  EXPECT_EQ(third["queued"].GetInt(), 0);
  EXPECT_EQ(third["already_queued"].GetInt(), 0);
  EXPECT_EQ(parse(s.get(key, "/api/v1/meetings?classified=false").body)["total"].GetInt(), 0);
  EXPECT_EQ(parse(s.get(key, "/api/v1/meetings?classified=true&page_size=10").body)["items"].Size(), 10u);
}

TEST_F(Api, QueueUnclassifiedCommitsChunkByChunkIntoOneBatch) {
  stack s({.workers = 0, .env = {{"MQ_API_ENQUEUE_CHUNK", "7"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, 25);
  // The whole first chunk and one meeting of the second already have a task.
  std::set<std::string> singles;
  for (int i : {0, 1, 2, 3, 4, 5, 6, 10}) singles.insert(queue_classification(s, key, ids[i]));

  auto r = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(r.status, 202) << r.body;
  auto b = parse(r.body);
  EXPECT_EQ(b["queued"].GetInt(), 17);
  EXPECT_EQ(b["already_queued"].GetInt(), 8);
  std::set<std::string> created, already;
  for (const auto& id : b["task_ids"].GetArray()) created.insert(id.GetString());
  for (const auto& id : b["already_queued_task_ids"].GetArray()) already.insert(id.GetString());
  EXPECT_EQ(created.size(), 17u);
  EXPECT_EQ(already, singles);
  const std::string batch_id = b["batch_id"].GetString();
  auto batch = parse(s.get(key, "/api/v1/batches/" + batch_id).body);
  EXPECT_EQ(batch["total"].GetInt(), 17) << "every chunk counted into the one batch";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE batch_id = '" + batch_id + "'"), 17);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM batches"), 1);
  // Answered after every chunk's publish was confirmed: each task waits exactly once.
  auto queued = s.queued_tasks("classify_meeting");
  std::multiset<std::string> waiting(queued.begin(), queued.end());
  for (const auto& id : created) EXPECT_EQ(waiting.count(id), 1u) << id;
  EXPECT_EQ(queued.size(), 25u);
  EXPECT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM outbox") == 0; }))
      << "each chunk's outbox group is dropped once published";

  auto again = s.post(key, "/api/v1/classifications/queue-unclassified");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(parse(again.body)["already_queued"].GetInt(), 25);
  s.start_worker();
  EXPECT_EQ(s.wait_batch(key, batch_id)["succeeded"].GetInt(), 17);
}

TEST_F(Api, AFailedChunkOfQueueUnclassifiedLeavesTheEarlierOnesQueuedAndSaysSo) {
  stack s({.workers = 0, .env = {{"MQ_API_ENQUEUE_CHUNK", "5"}}});
  auto key = s.create_tenant("acme");
  auto ids = s.add_meetings(key, 12);
  // The database goes away while the second chunk is written.
  s.sql("CREATE FUNCTION refuse_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.subject_id = " + std::to_string(ids[7]) + " THEN "
        "RAISE EXCEPTION 'going away' USING ERRCODE = '57P03'; END IF; RETURN NEW; END $$");
  s.sql("CREATE TRIGGER refuse BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_task()");

  auto r = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(r.status, 503) << r.body;
  auto e = parse(r.body);
  const std::string message = e["error"]["message"].GetString();
  EXPECT_NE(message.find("5 meeting(s) were queued before this"), std::string::npos) << message;
  const std::string batch_id = e["error"]["details"]["batch_id"].GetString();
  EXPECT_EQ(e["error"]["details"]["queued"].GetInt(), 5);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), 5) << "the failed chunk left nothing";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE batch_id = '" + batch_id + "'"), 5);
  EXPECT_TRUE(eventually([&] { return s.queued_tasks("classify_meeting").size() == 5; }))
      << "the committed chunk is published";

  s.sql("DROP TRIGGER refuse ON tasks");
  auto again = s.post(key, "/api/v1/classifications/queue-unclassified");
  ASSERT_EQ(again.status, 202) << again.body;
  auto a = parse(again.body);
  EXPECT_EQ(a["queued"].GetInt(), 7);
  EXPECT_EQ(a["already_queued"].GetInt(), 5);
  s.start_worker();
  EXPECT_EQ(s.wait_batch(key, batch_id)["succeeded"].GetInt(), 5);
  EXPECT_EQ(s.wait_batch(key, a["batch_id"].GetString())["succeeded"].GetInt(), 7);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 12);
}

TEST_F(Api, QueueUnclassifiedWhileWorkersFinishNeverQueuesAMeetingTwice) {
  stack s({.workers = 2});
  auto key = s.create_tenant("acme");
  s.add_meetings(key, 300);
  auto first = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
  ASSERT_EQ(first["queued"].GetInt(), 300);
  // Ask again and again while the workers are finishing tasks.
  int extra = 0;
  for (int i = 0; i < 200; ++i) {
    auto again = parse(s.post(key, "/api/v1/classifications/queue-unclassified").body);
    extra += again["queued"].GetInt();
    if (again["already_queued"].GetInt() == 0) break;
  }
  s.wait_batch(key, first["batch_id"].GetString());
  EXPECT_EQ(extra, 0) << "a meeting was queued again while its task was finishing";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), 300);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), 300);
}

TEST_F(Api, ManyMeetingsInOneRequestComeBackInOrderWithSharedEntities) {
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  auto r = s.post(key, "/api/v1/meetings", R"({"meetings": [
      {"transcript": "uno", "client_name": "Ana", "client_email": "ANA@x.cl", "seller_name": "Luis", "closed": true},
      {"transcript": "dos", "client_name": "Ana Pérez", "client_email": "ana@x.cl", "seller_name": "Luis"},
      {"transcript": "tres", "client_name": "Bruno", "meeting_date": "2024-05-06T23:30:00-04:00"}]})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto doc = parse(r.body);
  const auto& m = doc["meetings"];
  ASSERT_EQ(m.Size(), 3u);
  EXPECT_STREQ(m[0]["transcript"].GetString(), "uno");
  EXPECT_STREQ(m[2]["transcript"].GetString(), "tres");
  EXPECT_LT(m[0]["id"].GetInt64(), m[1]["id"].GetInt64());
  EXPECT_EQ(m[0]["client"]["id"].GetInt64(), m[1]["client"]["id"].GetInt64()) << "same e-mail, same client";
  EXPECT_EQ(m[0]["seller"]["id"].GetInt64(), m[1]["seller"]["id"].GetInt64());
  EXPECT_TRUE(m[0]["closed"].GetBool());
  EXPECT_STREQ(m[2]["meeting_date"].GetString(), "2024-05-07") << "dates are stored in UTC";
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM clients"), 2);
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM sellers"), 1);
  auto one = s.post(key, "/api/v1/meetings", R"({"transcript": "solo", "client_name": "Bruno"})");
  EXPECT_EQ(one.status, 201);
  EXPECT_EQ(parse(one.body)["client"]["id"].GetInt64(), m[2]["client"]["id"].GetInt64());
  EXPECT_EQ(one.header("location"), "/api/v1/meetings/" + std::to_string(parse(one.body)["id"].GetInt64()));
}

TEST_F(Api, TextThatLooksLikeArraySyntaxIsStoredExactlyAsSent) {
  // Many meetings travel to Postgres as array literals: quotes, backslashes, braces,
  // commas and a bare NULL inside the strings must come back as they were sent.
  stack s({.workers = 0});
  auto key = s.create_tenant("acme");
  const std::vector<std::string> texts = {R"(she said "yes", then {no})", R"(C:\path\to\"file"\)", "NULL", "{}",
                                          R"(\" , } { ")", "ñandú \\\\ \"end"};
  json::writer w;
  w.begin_object();
  w.key("meetings");
  w.begin_array();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    w.begin_object();
    w.kv("transcript", texts[i]);
    w.kv("client_name", texts[i]);
    w.kv("seller_name", "seller " + texts[i]);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  auto r = s.post(key, "/api/v1/meetings", w.take());
  ASSERT_EQ(r.status, 201) << r.body;
  auto doc = parse(r.body);
  ASSERT_EQ(doc["meetings"].Size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto id = std::to_string(doc["meetings"][i]["id"].GetInt64());
    auto got = parse(s.get(key, "/api/v1/meetings/" + id).body);
    EXPECT_EQ(std::string(got["transcript"].GetString()), texts[i]) << i;
    EXPECT_EQ(s.sql("SELECT transcript FROM meetings WHERE id = " + id), texts[i]) << i;
    EXPECT_EQ(s.sql("SELECT s.name FROM meetings m JOIN sellers s ON s.id = m.seller_id WHERE m.id = " + id),
              "seller " + texts[i]) << i;
  }
}

TEST_F(Api, ConcurrentSingleJobsAreAcceptedOnceEachAcrossTenants) {
  // Single submissions are committed in groups; whatever shares a group, each answer
  // must be its own: one task per meeting, created once, 404 for another tenant's id.
  stack s({.workers = 0});
  const std::string keys[2] = {s.create_tenant("acme"), s.create_tenant("globex")};
  std::vector<std::pair<int, long long>> jobs;
  for (int t = 0; t < 2; ++t) {
    for (auto id : s.add_meetings(keys[t], 60)) jobs.emplace_back(t, id);
  }
  std::mutex mu;
  std::map<long long, std::vector<std::pair<std::string, bool>>> answers;  // meeting -> (task, dedup)
  std::vector<std::string> wrong;
  std::vector<std::thread> threads;
  for (int n = 0; n < 6; ++n)
    threads.emplace_back([&, n] {
      auto mine = jobs;
      std::shuffle(mine.begin(), mine.end(), std::mt19937(static_cast<unsigned>(n)));
      for (const auto& [t, id] : mine) {
        auto r = http_call("POST", s.url("/api/v1/workers/classify/" + std::to_string(id)), "",
                           {"Authorization: Bearer " + keys[t]});
        auto other = http_call("POST", s.url("/api/v1/workers/classify/" + std::to_string(id)), "",
                               {"Authorization: Bearer " + keys[1 - t]});
        std::lock_guard<std::mutex> lock(mu);
        if (r.status != 202) wrong.push_back(std::to_string(r.status) + " " + r.body);
        if (other.status != 404) wrong.push_back("other tenant: " + std::to_string(other.status) + " " + other.body);
        if (r.status == 202) {
          auto doc = parse(r.body);
          answers[id].emplace_back(doc["task_id"].GetString(), doc["deduplicated"].GetBool());
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(wrong.empty()) << wrong.front();
  ASSERT_EQ(answers.size(), jobs.size());
  for (const auto& [id, list] : answers) {
    ASSERT_EQ(list.size(), 6u);
    EXPECT_EQ(std::count_if(list.begin(), list.end(), [](const auto& a) { return !a.second; }), 1)
        << "meeting " << id << " must be created exactly once";
    for (const auto& a : list) EXPECT_EQ(a.first, list.front().first) << "meeting " << id;
  }
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks"), 120);
  auto queued = s.queued_tasks("classify_meeting");
  std::sort(queued.begin(), queued.end());
  std::vector<std::string> accepted;
  for (const auto& [id, list] : answers) accepted.push_back(list.front().first);
  std::sort(accepted.begin(), accepted.end());
  EXPECT_EQ(queued, accepted) << "each accepted task published once";
  // Every group's outbox row went with its tasks' commit and is gone once confirmed.
  EXPECT_TRUE(eventually([&] { return s.sql_count("SELECT count(*) FROM outbox") == 0; }));
}

}  // namespace

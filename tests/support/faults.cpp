#include "faults.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

namespace mq::test {

rapidjson::Document queue_batch(stack& s, const std::string& key, int n) {
  std::vector<std::string> transcripts;
  for (int i = 0; i < n; ++i) transcripts.push_back("Cliente: tienda " + std::to_string(i) + " en Lima.");
  for (std::size_t at = 0; at < transcripts.size(); at += 1000)
    s.add_meetings(key, {transcripts.begin() + at,
                         transcripts.begin() + std::min(transcripts.size(), at + 1000)});
  auto r = s.post(key, "/api/v1/classifications/queue-unclassified");
  EXPECT_EQ(r.status, 202) << r.body;
  return parse(r.body);
}

long long succeeded(stack& s) { return s.sql_count("SELECT count(*) FROM tasks WHERE status = 'succeeded'"); }

void record_counts(stack& s, int accepted) {
  ::testing::Test::RecordProperty("accepted", accepted);
  ::testing::Test::RecordProperty("results", static_cast<int>(s.sql_count("SELECT count(*) FROM classifications")));
  ::testing::Test::RecordProperty(
      "duplicates", static_cast<int>(s.sql_count("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM tasks "
                                                 "WHERE status = 'succeeded' GROUP BY subject_id) d")));
  ::testing::Test::RecordProperty("failed", static_cast<int>(s.sql_count("SELECT count(*) FROM tasks WHERE status = 'failed'")));
  ::testing::Test::RecordProperty("dead_letters", static_cast<int>(s.dead_letters()));
}

void expect_exactly_once(stack& s, int accepted, const std::string& what) {
  record_counts(s, accepted);
  EXPECT_EQ(succeeded(s), accepted) << what;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications"), accepted) << what;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM tasks WHERE status <> 'succeeded'"), 0) << what;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM (SELECT subject_id FROM tasks GROUP BY 1 HAVING count(*) > 1) d"), 0)
      << what;
  EXPECT_EQ(s.sql_count("SELECT count(*) FROM classifications c JOIN tasks t ON t.id = c.task_id "
                        "WHERE t.subject_id <> c.meeting_id"),
            0)
      << what;
  EXPECT_EQ(s.dead_letters(), 0) << what;
  EXPECT_TRUE(eventually([&] { return s.waiting("classify_meeting") == 0; })) << what;
}

bool exited_zero(int status) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }

std::string make_dead_task(stack& s, const std::string& key) {
  auto lost = s.add_meetings(key, {"Cliente: somos una aseguradora en Bogotá."});
  auto r = s.post(key, "/api/v1/workers/classify/" + std::to_string(lost.at(0)));
  EXPECT_EQ(r.status, 202) << r.body;
  const std::string task = parse(r.body)["task_id"].GetString();
  const auto dead = [&] { return s.sql("SELECT status FROM tasks WHERE id = '" + task + "'") == "dead"; };
  for (int crash = 0; crash < 4 && !dead(); ++crash) {
    s.start_worker({{"MQ_FAILPOINT", "worker.after_claim"}});
    auto& w = *s.workers().back();
    EXPECT_TRUE(eventually([&] { return !w.running() || dead(); }, std::chrono::seconds(30))) << w.log();
  }
  EXPECT_TRUE(dead()) << "the task never went dead";
  s.stop_workers();  // the last one may still be armed to crash
  s.start_worker();  // records the dead letter
  EXPECT_TRUE(eventually([&] { return parse(s.get(key, "/api/v1/dead-letters").body)["total"].GetInt() == 1; }));
  return task;
}

}  // namespace mq::test

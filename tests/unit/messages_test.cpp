// Job messages: how tasks become broker messages, alone or in bulk.

#include <gtest/gtest.h>

#include "mq/queues/amqp.hpp"
#include "mq/queues/topology.hpp"

namespace {

using namespace mq;

schemas::task_record task(int n, const std::string& batch, const std::string& kind = "classify_meeting") {
  schemas::task_record t;
  char id[40];
  std::snprintf(id, sizeof id, "01a200a4-5fe1-7a80-831f-%012d", n);
  t.id = id;
  t.tenant_id = "01a200a4-5fe1-7a80-831f-4a63e53b6565";
  t.kind = kind;
  t.subject_id = n;
  if (!batch.empty()) t.batch_id = batch;
  t.request_id = "req-" + batch;
  return t;
}

std::string header(const queues::outgoing& m, const std::string& key) {
  for (const auto& [k, v] : m.headers)
    if (k == key) return v;
  return {};
}

TEST(JobMessages, ABatchGoesOutInBulkMessagesOfAtMostTheGroupSize) {
  std::vector<schemas::task_record> tasks;
  for (int i = 1; i <= 120; ++i) tasks.push_back(task(i, "b1"));
  auto out = queues::job_messages(tasks, 50);
  ASSERT_EQ(out.size(), 3u);
  int next = 1;
  for (std::size_t m = 0; m < out.size(); ++m) {
    const std::size_t size = m < 2 ? 50 : 20;
    EXPECT_EQ(out[m].routing_key, "classify_meeting.bulk");
    EXPECT_EQ(header(out[m], "x-mq-tasks"), std::to_string(size));
    EXPECT_EQ(header(out[m], "x-request-id"), "req-b1");
    EXPECT_EQ(out[m].message_id, tasks[next - 1].id + "+" + std::to_string(size - 1));
    auto group = schemas::decode_group(out[m].body);
    ASSERT_TRUE(group.ok()) << group.err().message;
    ASSERT_EQ(group->size(), size);
    for (const auto& e : *group) {
      EXPECT_EQ(e.subject_id, next);
      EXPECT_EQ(e.task_id, tasks[next - 1].id);
      EXPECT_EQ(e.batch_id, "b1");
      ++next;
    }
  }
  EXPECT_EQ(next, 121) << "every task once, in order";
}

TEST(JobMessages, TasksShareAMessageWhenTheyShareKindTenantBatchAndDueTime) {
  std::vector<schemas::task_record> tasks{task(1, "b1"), task(2, "b1"), task(3, "b2"), task(4, "b1"),
                                          task(5, "b1"), task(6, "b1", "send_message"), task(7, "b1")};
  tasks[4].next_attempt_at = "2030-01-01T00:00:00Z";  // due later than the others
  tasks[6].tenant_id = "01a200a4-5fe1-7a80-831f-4a63e53b6566";
  auto out = queues::job_messages(tasks, 50);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].routing_key, "classify_meeting.bulk");
  auto group = schemas::decode_group(out[0].body);
  ASSERT_TRUE(group.ok());
  ASSERT_EQ(group->size(), 3u);
  EXPECT_EQ((*group)[2].subject_id, 4) << "not only neighbours";
  const std::vector<int> alone{3, 5, 6, 7};
  for (std::size_t i = 1; i < out.size(); ++i) {
    EXPECT_EQ(header(out[i], "x-mq-tasks"), "") << i;
    auto e = schemas::decode_envelope(out[i].body);
    ASSERT_TRUE(e.ok()) << i << ": " << out[i].body;
    EXPECT_EQ(e->subject_id, alone[i - 1]);
    EXPECT_EQ(out[i].routing_key, e->kind);
    EXPECT_EQ(out[i].message_id, e->task_id);
  }
  EXPECT_GT(schemas::decode_envelope(out[2].body)->not_before, 0);
}

TEST(JobMessages, SingleJobsAcceptedTogetherShareAMessageAndKeepTheirRequestIds) {
  std::vector<schemas::task_record> tasks;
  for (int i = 1; i <= 4; ++i) {
    tasks.push_back(task(i, ""));
    tasks.back().request_id = "req-" + std::to_string(i);
  }
  tasks[2].request_id.reset();
  auto out = queues::job_messages(tasks, 50);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(header(out[0], "x-request-id"), "req-1");
  auto group = schemas::decode_group(out[0].body);
  ASSERT_TRUE(group.ok()) << group.err().message;
  ASSERT_EQ(group->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*group)[i].request_id, i == 2 ? "" : "req-" + std::to_string(i + 1)) << i;
    EXPECT_EQ((*group)[i].batch_id, "");
  }
}

TEST(JobMessages, AGroupSizeOfOneSendsEveryTaskAlone) {
  std::vector<schemas::task_record> tasks;
  for (int i = 1; i <= 5; ++i) tasks.push_back(task(i, "b1"));
  auto out = queues::job_messages(tasks, 1);
  ASSERT_EQ(out.size(), 5u);
  for (const auto& m : out) {
    EXPECT_EQ(m.routing_key, "classify_meeting");
    EXPECT_TRUE(schemas::decode_envelope(m.body).ok());
  }
}

TEST(JobMessages, ADeliveryCountsItsTasks) {
  queues::delivery d;
  EXPECT_EQ(queues::tasks_in(d), 1);
  d.headers = {{"x-request-id", "r"}, {"x-mq-tasks", "37"}};
  EXPECT_EQ(queues::tasks_in(d), 37);
  d.headers = {{"x-mq-tasks", "many"}};
  EXPECT_EQ(queues::tasks_in(d), 1);
  d.headers = {{"x-mq-tasks", "-4"}};
  EXPECT_EQ(queues::tasks_in(d), 1);
}

TEST(Topology, BulkQueuesBelongToTheirKind) {
  queues::topology topo{"p"};
  EXPECT_EQ(topo.bulk_queue("send_message"), "p.send_message.bulk");
  EXPECT_TRUE(queues::topology::is_bulk(topo.bulk_queue("send_message")));
  EXPECT_FALSE(queues::topology::is_bulk(topo.queue("send_message")));
  EXPECT_EQ(topo.kind_of(topo.bulk_queue("send_message")), "send_message");
  EXPECT_EQ(topo.kind_of(topo.queue("classify_meeting")), "classify_meeting");
  auto consumed = topo.consumed_queues();
  EXPECT_EQ(consumed.size(), 2 * queues::topology::kinds().size() + 1);
  EXPECT_EQ(consumed.back(), topo.dead_queue());
}

}  // namespace

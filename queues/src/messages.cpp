#include "mq/core/time.hpp"
#include "mq/queues/amqp.hpp"

namespace mq::queues {
namespace {

schemas::envelope envelope_of(const schemas::task_record& t) {
  schemas::envelope e{t.id, t.tenant_id, t.kind, t.subject_id, t.batch_id.value_or(""), t.request_id.value_or("")};
  if (t.next_attempt_at)
    if (auto due = parse_rfc3339(*t.next_attempt_at))
      e.not_before = std::chrono::duration_cast<std::chrono::milliseconds>(due->time_since_epoch()).count();
  return e;
}

bool same_group(const schemas::envelope& a, const schemas::envelope& b) {
  return a.kind == b.kind && a.tenant_id == b.tenant_id && a.batch_id == b.batch_id &&
         a.request_id == b.request_id && a.not_before == b.not_before;
}

}  // namespace

outgoing job_message(const schemas::envelope& e) {
  outgoing m;
  m.routing_key = e.kind;
  m.body = schemas::encode(e);
  m.message_id = e.task_id;
  if (!e.request_id.empty()) m.headers.emplace_back("x-request-id", e.request_id);
  return m;
}

namespace {

outgoing bulk(const std::vector<schemas::envelope>& group) {
  const auto& first = group.front();
  outgoing m;
  m.routing_key = topology::bulk_key(first.kind);
  m.body = schemas::encode_group(group);
  m.message_id = first.task_id + "+" + std::to_string(group.size() - 1);
  m.headers.emplace_back("x-mq-tasks", std::to_string(group.size()));
  if (!first.request_id.empty()) m.headers.emplace_back("x-request-id", first.request_id);
  return m;
}

}  // namespace

outgoing job_message(const schemas::task_record& t) { return job_message(envelope_of(t)); }

std::vector<outgoing> job_messages(const std::vector<schemas::task_record>& tasks, int group_size) {
  std::vector<outgoing> out;
  std::vector<schemas::envelope> group;
  auto flush = [&] {
    if (group.size() == 1) out.push_back(job_message(group.front()));
    else if (!group.empty()) out.push_back(bulk(group));
    group.clear();
  };
  for (const auto& t : tasks) {
    auto e = envelope_of(t);
    if (!group.empty() && (!same_group(group.front(), e) || static_cast<int>(group.size()) >= group_size)) flush();
    group.push_back(std::move(e));
  }
  flush();
  return out;
}

int tasks_in(const delivery& d) {
  for (const auto& [k, v] : d.headers)
    if (k == "x-mq-tasks") {
      try {
        return std::max(1, std::stoi(v));
      } catch (const std::exception&) {
        return 1;
      }
    }
  return 1;
}

}  // namespace mq::queues

#include "mq/queues/amqp.hpp"

#include <unordered_map>

#include "mq/core/time.hpp"

namespace mq::queues {
namespace {

schemas::envelope envelope_of(const schemas::task_record& t) {
  schemas::envelope e{t.id, t.tenant_id, t.kind, t.subject_id, t.batch_id.value_or(""), t.request_id.value_or("")};
  if (t.next_attempt_at)
    if (auto due = parse_rfc3339(*t.next_attempt_at))
      e.not_before = std::chrono::duration_cast<std::chrono::milliseconds>(due->time_since_epoch()).count();
  return e;
}

/// What the tasks of one bulk message share.
std::string group_key(const schemas::envelope& e) {
  return e.kind + '\n' + e.tenant_id + '\n' + e.batch_id + '\n' + std::to_string(e.not_before);
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
  std::vector<std::vector<schemas::envelope>> groups;
  std::unordered_map<std::string, std::size_t> open;  // key -> the group still filling
  for (const auto& t : tasks) {
    auto e = envelope_of(t);
    auto [it, fresh] = open.try_emplace(group_key(e), groups.size());
    if (fresh || static_cast<int>(groups[it->second].size()) >= group_size) {
      it->second = groups.size();
      groups.emplace_back();
    }
    groups[it->second].push_back(std::move(e));
  }
  std::vector<outgoing> out;
  out.reserve(groups.size());
  for (const auto& g : groups) out.push_back(g.size() == 1 ? job_message(g.front()) : bulk(g));
  return out;
}

std::string header_of(const delivery& d, std::string_view key) {
  for (const auto& [k, v] : d.headers)
    if (k == key) return v;
  return {};
}

int tasks_in(const delivery& d) {
  try {
    const auto n = header_of(d, "x-mq-tasks");
    return n.empty() ? 1 : std::max(1, std::stoi(n));
  } catch (const std::exception&) {
    return 1;
  }
}

}  // namespace mq::queues

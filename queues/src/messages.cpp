#include "mq/core/time.hpp"
#include "mq/queues/amqp.hpp"

namespace mq::queues {

outgoing job_message(const schemas::task_record& t) {
  schemas::envelope e{t.id, t.tenant_id, t.kind, t.subject_id, t.batch_id.value_or(""), t.request_id.value_or("")};
  if (t.next_attempt_at)
    if (auto due = parse_rfc3339(*t.next_attempt_at))
      e.not_before = std::chrono::duration_cast<std::chrono::milliseconds>(due->time_since_epoch()).count();
  outgoing m;
  m.routing_key = t.kind;
  m.body = schemas::encode(e);
  m.message_id = t.id;
  if (t.request_id) m.headers.emplace_back("x-request-id", *t.request_id);
  return m;
}

}  // namespace mq::queues

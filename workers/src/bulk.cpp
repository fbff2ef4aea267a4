#include "mq/workers/bulk.hpp"

#include <algorithm>
#include <caf/all.hpp>

#include "mq/core/log.hpp"

namespace mq::workers {

queues::delivery part_of(const queues::delivery& d, const schemas::envelope& task, bool with_body) {
  queues::delivery one;
  one.tag = d.tag;
  one.queue = d.queue;
  one.routing_key = task.kind;
  one.message_id = task.task_id;
  if (with_body) one.body = schemas::encode(task);
  one.redelivered = d.redelivered;
  one.delivery_count = d.delivery_count;
  for (const auto& h : d.headers)
    if (h.first != "x-mq-tasks" && h.first != "x-request-id") one.headers.push_back(h);
  if (!task.request_id.empty()) one.headers.emplace_back("x-request-id", task.request_id);
  return one;
}

caf::behavior bulk_splitter(caf::stateful_actor<splitter_state>* self, std::shared_ptr<const job_context> ctx,
                            actors::dispatcher_actor dispatcher, queues::delivery d, std::uint64_t generation,
                            std::vector<schemas::envelope> group) {
  self->state.ctx = std::move(ctx);
  self->state.dispatcher = std::move(dispatcher);
  self->state.delivery = std::move(d);
  self->state.generation = generation;
  const auto& back = self->state.delivery;
  const int before = back.redelivered ? static_cast<int>(std::max<std::int64_t>(1, back.delivery_count)) : 0;
  std::vector<queues::outgoing> msgs;
  for (auto& e : group) {
    e.deliveries = before;
    msgs.push_back(queues::job_message(e));
  }
  log::info("dispatcher", "bulk message split into one message per task", {},
            {{"tasks", std::to_string(msgs.size())}, {"deliveries_before", std::to_string(before)}});
  auto me = caf::actor_cast<caf::actor>(self);
  self->state.ctx->publisher->publish(std::move(msgs), [me](status st) {
    caf::anon_send(me, actors::resume_atom::value, st.ok());
  });
  return {
      [self](actors::resume_atom, bool confirmed) {
        if (!confirmed) log::warn("dispatcher", "split tasks not confirmed; the bulk message goes back", {});
        settle_and_quit(self, confirmed ? actors::settle::ack : actors::settle::requeue,
                        confirmed ? actors::job_end::split : actors::job_end::returned);
      },
  };
}

}  // namespace mq::workers

#include "mq/schemas/campaigns.hpp"

#include "mq/core/json.hpp"

namespace mq::schemas {
namespace {

void write_counts(json::writer& w, const delivery_counts& n) {
  w.kv("total", n.total);
  w.kv("pending", n.pending);
  w.kv("sending", n.sending);
  w.kv("sent", n.sent);
  w.kv("failed", n.failed);
  w.kv("unknown", n.unknown);
  w.kv("cancelled", n.cancelled);
}

}  // namespace

std::string to_json(const campaign_record& c) {
  json::writer w;
  w.begin_object();
  w.kv("campaign_id", static_cast<long long>(c.id));
  w.kv("name", c.name);
  w.kv("channel", c.channel);
  w.kv("subject", c.subject);
  w.kv("template", c.template_text);
  w.kv("personalization_prompt", c.personalization_prompt);
  w.kv("schedule_at", c.schedule_at);
  w.kv("rate_per_minute", c.rate_per_minute);
  w.kv("status", c.status);
  w.kv("batch_id", c.batch_id);
  w.kv("start_task_id", c.start_task_id);
  w.kv("recipients", c.counts.total);
  w.key("deliveries");
  w.begin_object();
  write_counts(w, c.counts);
  w.end_object();
  w.kv("created_at", c.created_at);
  w.kv("updated_at", c.updated_at);
  w.kv("started_at", c.started_at);
  w.kv("cancelled_at", c.cancelled_at);
  w.kv("finished_at", c.finished_at);
  w.end_object();
  return w.take();
}

std::string analytics_json(const campaign_record& c) {
  const auto& n = c.counts;
  json::writer w;
  w.begin_object();
  w.kv("campaign_id", static_cast<long long>(c.id));
  w.kv("status", c.status);
  write_counts(w, n);
  // Of the messages whose outcome is known, the share that was sent.
  const long long decided = n.sent + n.failed;
  w.kv("delivery_rate", decided > 0 ? static_cast<double>(n.sent) / static_cast<double>(decided) : 0.0);
  w.key("by_channel");
  w.begin_object();
  w.key(c.channel);
  w.begin_object();
  write_counts(w, n);
  w.end_object();
  w.end_object();
  w.key("tokens");
  w.begin_object();
  w.kv("input", n.tokens_in);
  w.kv("output", n.tokens_out);
  w.kv("total", n.tokens_in + n.tokens_out);
  w.end_object();
  w.kv("started_at", c.started_at);
  w.kv("finished_at", c.finished_at);
  w.end_object();
  return w.take();
}

std::string to_json(const recipient_record& r) {
  json::writer w;
  w.begin_object();
  w.kv("recipient_id", static_cast<long long>(r.id));
  w.kv("campaign_id", static_cast<long long>(r.campaign_id));
  w.kv("address", r.address);
  w.key("attributes");
  if (auto a = json::parse(r.attributes_json); a && a->IsObject())
    w.value(*a);
  else
    w.raw("{}");
  w.kv("state", r.state);
  w.kv("idempotency_key", r.idempotency_key);
  w.kv("task_id", r.task_id);
  w.kv("subject", r.subject);
  w.kv("message", r.message);
  w.kv("attempts", r.attempts);
  w.kv("response_code", r.response_code);
  w.kv("error_code", r.error_code);
  w.kv("error", r.error);
  w.kv("tokens_in", r.tokens_in);
  w.kv("tokens_out", r.tokens_out);
  w.kv("created_at", r.created_at);
  w.kv("updated_at", r.updated_at);
  w.kv("sending_at", r.sending_at);
  w.kv("finished_at", r.finished_at);
  w.end_object();
  return w.take();
}

}  // namespace mq::schemas

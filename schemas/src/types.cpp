#include "mq/schemas/types.hpp"

#include "mq/core/ids.hpp"
#include "mq/core/json.hpp"
#include "mq/schemas/validator.hpp"

namespace mq::schemas {

namespace {
constexpr task_status all_statuses[] = {task_status::queued,    task_status::running,
                                        task_status::retrying,  task_status::succeeded,
                                        task_status::failed,    task_status::dead,
                                        task_status::cancelled};
}

const char* to_string(task_status s) {
  switch (s) {
    case task_status::queued: return "queued";
    case task_status::running: return "running";
    case task_status::retrying: return "retrying";
    case task_status::succeeded: return "succeeded";
    case task_status::failed: return "failed";
    case task_status::dead: return "dead";
    case task_status::cancelled: return "cancelled";
  }
  return "queued";
}

std::optional<task_status> parse_task_status(std::string_view s) {
  for (auto st : all_statuses)
    if (s == to_string(st)) return st;
  return std::nullopt;
}

bool is_terminal(task_status s) {
  switch (s) {
    case task_status::queued:
    case task_status::running:
    case task_status::retrying:
      return false;
    case task_status::succeeded:
    case task_status::failed:
    case task_status::dead:
    case task_status::cancelled:
      return true;
  }
  return false;
}

std::string encode(const envelope& e) {
  json::writer w;
  w.begin_object();
  w.kv("v", 1);
  w.kv("task_id", e.task_id);
  w.kv("tenant_id", e.tenant_id);
  w.kv("kind", e.kind);
  w.kv("subject_id", static_cast<long long>(e.subject_id));
  if (!e.batch_id.empty()) w.kv("batch_id", e.batch_id);
  if (!e.request_id.empty()) w.kv("request_id", e.request_id);
  if (e.attempt > 0) w.kv("attempt", e.attempt);
  if (e.not_before > 0) w.kv("not_before", static_cast<long long>(e.not_before));
  if (e.deliveries > 0) w.kv("deliveries", e.deliveries);
  w.end_object();
  return w.take();
}

std::string encode_group(const std::vector<envelope>& group) {
  const auto& first = group.front();
  json::writer w;
  w.begin_object();
  w.kv("v", 1);
  w.kv("tenant_id", first.tenant_id);
  w.kv("kind", first.kind);
  if (!first.batch_id.empty()) w.kv("batch_id", first.batch_id);
  if (!first.request_id.empty()) w.kv("request_id", first.request_id);
  if (first.not_before > 0) w.kv("not_before", static_cast<long long>(first.not_before));
  w.key("tasks");
  w.begin_array();
  for (const auto& e : group) {
    w.begin_object();
    w.kv("task_id", e.task_id);
    w.kv("subject_id", static_cast<long long>(e.subject_id));
    if (e.request_id != first.request_id) w.kv("request_id", e.request_id);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

namespace {

/// `body` parsed and valid against the message schema `name`; errc::poison otherwise.
result<rapidjson::Document> read_message(std::string_view body, const char* name, const char* label) {
  auto doc = json::parse(body);
  if (!doc) return make_error(errc::poison, doc.err().message);
  if (auto bad = validate(name, *doc)) return make_error(errc::poison, std::string(label) + ": " + bad->message);
  return doc;
}

}  // namespace

result<envelope> decode_envelope(std::string_view body) {
  auto doc = read_message(body, "envelope", "envelope");
  if (!doc) return doc.err();
  envelope e;
  e.task_id = *json::get_string(*doc, "task_id");
  e.tenant_id = *json::get_string(*doc, "tenant_id");
  // UUID shape checked here rather than by a schema pattern (std::regex, per message).
  if (!is_uuid(e.task_id) || !is_uuid(e.tenant_id))
    return make_error(errc::poison, "envelope: task_id and tenant_id must be UUIDs");
  e.kind = *json::get_string(*doc, "kind");
  e.subject_id = *json::get_int(*doc, "subject_id");
  e.batch_id = json::get_string(*doc, "batch_id").value_or("");
  e.request_id = json::get_string(*doc, "request_id").value_or("");
  e.attempt = static_cast<int>(json::get_int(*doc, "attempt").value_or(0));
  e.not_before = json::get_int(*doc, "not_before").value_or(0);
  e.deliveries = static_cast<int>(json::get_int(*doc, "deliveries").value_or(0));
  return e;
}

result<std::vector<envelope>> decode_group(std::string_view body) {
  auto doc = read_message(body, "envelope_group", "envelope group");
  if (!doc) return doc.err();
  envelope shared;
  shared.tenant_id = *json::get_string(*doc, "tenant_id");
  if (!is_uuid(shared.tenant_id)) return make_error(errc::poison, "envelope group: tenant_id must be a UUID");
  shared.kind = *json::get_string(*doc, "kind");
  shared.batch_id = json::get_string(*doc, "batch_id").value_or("");
  shared.request_id = json::get_string(*doc, "request_id").value_or("");
  shared.not_before = json::get_int(*doc, "not_before").value_or(0);
  std::vector<envelope> out;
  for (const auto& t : (*doc)["tasks"].GetArray()) {
    auto e = shared;
    e.task_id = *json::get_string(t, "task_id");
    if (!is_uuid(e.task_id)) return make_error(errc::poison, "envelope group: every task_id must be a UUID");
    e.subject_id = *json::get_int(t, "subject_id");
    if (auto own = json::get_string(t, "request_id")) e.request_id = *own;
    out.push_back(std::move(e));
  }
  return out;
}

std::string to_json(const task_record& t) {
  json::writer w;
  w.begin_object();
  w.kv("task_id", t.id);
  w.kv("kind", t.kind);
  w.kv("status", to_string(t.status));
  if (t.kind == kinds::classify_meeting) w.kv("meeting_id", static_cast<long long>(t.subject_id));
  w.kv("subject_id", static_cast<long long>(t.subject_id));
  w.kv("batch_id", t.batch_id);
  w.kv("attempts", t.attempts);
  w.key("error");
  if (t.error) {
    w.begin_object();
    w.kv("code", t.error_code.value_or("INTERNAL_ERROR"));
    w.kv("message", *t.error);
    w.end_object();
  } else {
    w.null();
  }
  w.key("result");
  if (t.result_json)
    w.raw(*t.result_json);
  else
    w.null();
  w.kv("request_id", t.request_id);
  w.kv("next_attempt_at", t.next_attempt_at);
  w.kv("created_at", t.created_at);
  w.kv("updated_at", t.updated_at);
  w.kv("started_at", t.started_at);
  w.kv("finished_at", t.finished_at);
  w.key("usage");
  w.begin_object();
  w.kv("llm_calls", t.llm_calls);
  w.kv("tokens_in", t.tokens_in);
  w.kv("tokens_out", t.tokens_out);
  w.kv("cost_usd", t.cost_usd);
  w.end_object();
  w.end_object();
  return w.take();
}

std::string to_json(const batch_record& b, bool by_state) {
  json::writer w;
  w.begin_object();
  w.kv("batch_id", b.id);
  w.kv("kind", b.kind);
  w.kv("total", b.total);
  w.kv("succeeded", b.succeeded);
  w.kv("failed", b.failed + b.dead);
  w.kv("cancelled", b.cancelled);
  w.kv("pending", b.pending());
  if (by_state) {
    w.key("by_status");
    w.begin_object();
    w.kv("queued", b.queued);
    w.kv("running", b.running);
    w.kv("retrying", b.retrying);
    w.kv("succeeded", b.succeeded);
    w.kv("failed", b.failed);
    w.kv("dead", b.dead);
    w.kv("cancelled", b.cancelled);
    w.end_object();
  }
  w.kv("done", b.pending() == 0);
  w.key("usage");
  w.begin_object();
  w.kv("llm_calls", b.llm_calls);
  w.kv("tokens_in", b.tokens_in);
  w.kv("tokens_out", b.tokens_out);
  w.kv("cost_usd", b.cost_usd);
  w.end_object();
  w.kv("request_id", b.request_id);
  w.kv("created_at", b.created_at);
  w.end_object();
  return w.take();
}

std::string to_json(const classification_record& c) {
  json::writer w;
  w.begin_object();
  w.kv("meeting_id", static_cast<long long>(c.meeting_id));
  w.kv("task_id", c.task_id);
  w.key("classification");
  w.raw(c.result_json);
  w.kv("provider", c.usage.provider);
  w.kv("model", c.usage.model);
  w.kv("prompt_version", c.usage.prompt_version);
  w.kv("taxonomy_version", c.usage.taxonomy_version);
  w.kv("tokens_in", c.usage.tokens_in);
  w.kv("tokens_out", c.usage.tokens_out);
  w.kv("latency_ms", c.usage.latency_ms);
  w.kv("attempts", c.usage.calls);
  w.kv("created_at", c.created_at);
  w.kv("updated_at", c.updated_at);
  w.end_object();
  return w.take();
}

std::string to_json(const meeting_record& m) {
  json::writer w;
  w.begin_object();
  w.kv("id", static_cast<long long>(m.id));
  w.key("client");
  if (m.client_id) {
    w.begin_object();
    w.kv("id", static_cast<long long>(*m.client_id));
    w.kv("name", m.client_name);
    w.kv("email", m.client_email);
    w.end_object();
  } else {
    w.null();
  }
  w.key("seller");
  if (m.seller_id) {
    w.begin_object();
    w.kv("id", static_cast<long long>(*m.seller_id));
    w.kv("name", m.seller_name);
    w.end_object();
  } else {
    w.null();
  }
  w.kv("meeting_date", m.meeting_date);
  w.kv("closed", m.closed);
  w.kv("classified", m.classified);
  w.kv("transcript", m.transcript);
  w.kv("created_at", m.created_at);
  w.end_object();
  return w.take();
}

std::string to_json(const dead_letter_record& d) {
  json::writer w;
  w.begin_object();
  w.kv("dead_letter_id", d.id);
  w.kv("task_id", d.task_id);
  w.kv("kind", d.kind);
  w.kv("task_status", d.task_status);
  w.kv("queue", d.queue);
  w.kv("reason", d.reason);
  w.key("error");
  w.begin_object();
  w.kv("code", d.error_code);
  w.kv("message", d.error);
  w.end_object();
  w.kv("deliveries", d.deliveries);
  w.key("history");
  w.raw(d.history_json);
  w.kv("body_preview", d.body_preview);
  w.kv("body_bytes", d.body_bytes);
  w.kv("request_id", d.request_id);
  w.kv("created_at", d.created_at);
  w.kv("replayed_at", d.replayed_at);
  w.kv("replays", d.replays);
  w.end_object();
  return w.take();
}

std::string to_json(const document_record& d) {
  json::writer w;
  w.begin_object();
  w.kv("document_id", static_cast<long long>(d.id));
  w.kv("task_id", d.task_id);
  w.kv("title", d.title);
  w.kv("description", d.description);
  w.kv("filename", d.filename);
  w.kv("status", d.status);
  w.kv("total_chunks", d.total_chunks);
  w.kv("chunks_done", d.chunks_done);
  w.kv("processing_time_seconds", d.processing_time_seconds);
  w.kv("error_message", d.error_message);
  w.key("metadata");
  w.begin_object();
  w.kv("file_size", d.size_bytes);
  w.kv("mime_type", d.mime_type);
  w.kv("chunk_count", d.total_chunks);
  if (auto custom = json::parse(d.metadata_json); custom && custom->IsObject()) {
    for (auto it = custom->MemberBegin(); it != custom->MemberEnd(); ++it) {
      const std::string_view k(it->name.GetString(), it->name.GetStringLength());
      if (k == "file_size" || k == "mime_type" || k == "chunk_count") continue;
      w.key(k);
      w.value(it->value);
    }
  }
  w.end_object();
  w.kv("content_hash", d.content_hash);
  w.kv("created_at", d.created_at);
  w.kv("updated_at", d.updated_at);
  w.end_object();
  return w.take();
}

}  // namespace mq::schemas

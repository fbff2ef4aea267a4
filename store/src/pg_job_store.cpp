#include <map>

#include "mq/store/job_store.hpp"
#include "rows.hpp"

namespace mq::store {
namespace {

/// Scalar taxonomy fields copied from the answer into typed columns (the rest stays in
/// the jsonb `result`).
const char* classification_upsert =
    "cls AS (INSERT INTO classifications (meeting_id, tenant_id, task_id, business_sector, "
    "company_size, region, lead_source, vambe_product, use_case, primary_pain_point, urgency, "
    "decision_maker_role, purchase_stage, language, lost_client_bad_meeting, sentiment, "
    "confidence_score, result, provider, model, prompt_version, taxonomy_version, tokens_in, "
    "tokens_out, latency_ms, attempts) "
    "SELECT d.subject_id, d.tenant_id, d.id, i.result->>'business_sector', "
    "i.result->>'company_size', i.result->>'region', i.result->>'lead_source', "
    "i.result->>'vambe_product', i.result->>'use_case', i.result->>'primary_pain_point', "
    "(i.result->>'urgency')::boolean, i.result->>'decision_maker_role', "
    "i.result->>'purchase_stage', i.result->>'language', "
    "(i.result->>'lost_client_bad_meeting')::boolean, i.result->>'sentiment', "
    "(i.result->>'confidence_score')::double precision, i.result, i.provider, i.model, "
    "i.prompt_version, i.taxonomy_version, i.tokens_in, i.tokens_out, i.latency_ms, i.calls "
    "FROM done d JOIN input i ON i.id = d.id JOIN meetings m ON m.id = d.subject_id "
    "WHERE d.kind = 'classify_meeting' AND d.status = 'succeeded' "
    "ON CONFLICT (meeting_id) DO UPDATE SET task_id = EXCLUDED.task_id, "
    "business_sector = EXCLUDED.business_sector, company_size = EXCLUDED.company_size, "
    "region = EXCLUDED.region, lead_source = EXCLUDED.lead_source, "
    "vambe_product = EXCLUDED.vambe_product, use_case = EXCLUDED.use_case, "
    "primary_pain_point = EXCLUDED.primary_pain_point, urgency = EXCLUDED.urgency, "
    "decision_maker_role = EXCLUDED.decision_maker_role, "
    "purchase_stage = EXCLUDED.purchase_stage, language = EXCLUDED.language, "
    "lost_client_bad_meeting = EXCLUDED.lost_client_bad_meeting, "
    "sentiment = EXCLUDED.sentiment, confidence_score = EXCLUDED.confidence_score, "
    "result = EXCLUDED.result, provider = EXCLUDED.provider, model = EXCLUDED.model, "
    "prompt_version = EXCLUDED.prompt_version, taxonomy_version = EXCLUDED.taxonomy_version, "
    "tokens_in = EXCLUDED.tokens_in, tokens_out = EXCLUDED.tokens_out, "
    "latency_ms = EXCLUDED.latency_ms, attempts = EXCLUDED.attempts, updated_at = now() "
    "RETURNING meeting_id, " MQ_TS("created_at") " AS created, " MQ_TS("updated_at") " AS updated)";

class pg_job_store final : public job_store {
 public:
  explicit pg_job_store(const std::string& conninfo) : session_(conninfo) {}

  status ping() override { return session_.ping(); }

  result<std::vector<claim_result>> claim(const std::vector<claim_request>& jobs) override {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::vector<claim_result>> {
      std::vector<std::string> ids, tenants, redelivered;
      for (const auto& j : jobs) {
        ids.push_back(j.envelope.task_id);
        tenants.push_back(j.envelope.tenant_id);
        redelivered.push_back(j.redelivered ? "t" : "f");
      }
      pqxx::work tx(c);
      std::map<std::string, claim_result> found;
      // Rows are locked in id order, as every other multi-row update of tasks does.
      for (const auto& r : tx.exec_params(
               "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::boolean[]) "
               "AS u(id, tenant_id, redelivered)), "
               "l AS (SELECT t.id FROM tasks t JOIN input i ON t.id = i.id AND t.tenant_id = i.tenant_id "
               "WHERE t.status IN ('queued', 'retrying') OR (t.status = 'running' AND i.redelivered) "
               "ORDER BY t.id FOR UPDATE OF t), "
               "c AS (UPDATE tasks t SET status = 'running', attempts = t.attempts + 1, "
               "started_at = now(), updated_at = now(), next_attempt_at = NULL, "
               "published_at = coalesce(t.published_at, now()) FROM l WHERE t.id = l.id RETURNING t.*) "
               "SELECT " MQ_TASK_COLUMNS ", m.id IS NOT NULL, "
               "json_build_object('transcript', m.transcript, 'client_name', cl.name, "
               "'seller_name', se.name, 'closed', m.closed, 'meeting_date', m.meeting_date::text)::text "
               "FROM c t LEFT JOIN meetings m ON t.kind = 'classify_meeting' "
               "AND m.id = t.subject_id AND m.tenant_id = t.tenant_id "
               "LEFT JOIN clients cl ON cl.id = m.client_id LEFT JOIN sellers se ON se.id = m.seller_id",
               array_literal(ids), array_literal(tenants), array_literal(redelivered))) {
        claim_result cr;
        cr.outcome = claim_outcome::run;
        cr.task = task_from_row(r);
        cr.subject_found = r[task_columns].as<bool>();
        cr.input = opt(r[task_columns + 1]).value_or("");
        found.emplace(cr.task.id, std::move(cr));
      }
      std::vector<std::string> rest, rest_tenants;
      for (const auto& j : jobs)
        if (!found.count(j.envelope.task_id)) {
          rest.push_back(j.envelope.task_id);
          rest_tenants.push_back(j.envelope.tenant_id);
        }
      if (!rest.empty()) {
        for (const auto& r : tx.exec_params(
                 "SELECT " MQ_TASK_COLUMNS " FROM tasks t JOIN unnest($1::uuid[], $2::uuid[]) "
                 "AS u(id, tenant_id) ON t.id = u.id AND t.tenant_id = u.tenant_id",
                 array_literal(rest), array_literal(rest_tenants))) {
          claim_result cr;
          cr.task = task_from_row(r);
          cr.outcome = schemas::is_terminal(cr.task.status) ? claim_outcome::finished : claim_outcome::busy;
          found.emplace(cr.task.id, std::move(cr));
        }
      }
      tx.commit();
      std::vector<claim_result> out;
      for (const auto& j : jobs) {
        auto it = found.find(j.envelope.task_id);
        out.push_back(it == found.end() ? claim_result{} : it->second);
      }
      return out;
    });
  }

  result<std::vector<completed>> complete(const std::vector<completion>& done) override {
    auto batch = complete_batch(done);
    if (batch || done.size() == 1 || batch.err().code == errc::unavailable) return batch;
    // One bad row (say its meeting was deleted meanwhile) must not fail the others.
    std::vector<completed> out;
    for (const auto& d : done) {
      auto one = complete_batch({d});
      if (!one) {
        if (one.err().code == errc::unavailable) return one.err();
        log::error("job_store", "completion rejected", {{}, d.task_id, {}},
                   {{"error", one.err().message}, {"detail", one.err().internal}});
        out.push_back(completed{});
        continue;
      }
      out.push_back(std::move(one->front()));
    }
    return out;
  }

 private:
  result<std::vector<completed>> complete_batch(const std::vector<completion>& done) {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::vector<completed>> {
      std::vector<std::string> ids, statuses, providers, models, prompts, taxonomies;
      std::vector<std::optional<std::string>> results, codes, errors, retry_in, costs;
      std::vector<std::int64_t> attempts, tin, tout, latency, calls;
      auto some = [](const std::string& v) {
        return v.empty() ? std::nullopt : std::optional<std::string>(v);
      };
      for (const auto& d : done) {
        ids.push_back(d.task_id);
        attempts.push_back(d.attempt);
        statuses.push_back(schemas::to_string(d.status));
        results.push_back(some(d.result_json));
        codes.push_back(some(d.error_code));
        errors.push_back(some(d.error));
        retry_in.push_back(d.retry_in_ms >= 0 ? std::optional<std::string>(std::to_string(d.retry_in_ms))
                                              : std::nullopt);
        costs.push_back(std::to_string(d.cost_usd));
        providers.push_back(d.usage.provider);
        models.push_back(d.usage.model);
        prompts.push_back(d.usage.prompt_version);
        taxonomies.push_back(d.usage.taxonomy_version);
        tin.push_back(d.usage.tokens_in);
        tout.push_back(d.usage.tokens_out);
        latency.push_back(d.usage.latency_ms);
        calls.push_back(d.usage.calls);
      }
      pqxx::work tx(c);
      auto rows = tx.exec_params(
          std::string(
              "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], "
              "$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], "
              "$12::int[], $13::int[], $14::int[], $15::bigint[], $16::float8[]) AS u(id, attempt, "
              "status, result, error_code, error, provider, model, prompt_version, taxonomy_version, "
              "tokens_in, tokens_out, latency_ms, calls, retry_in_ms, cost)), "
              "l AS (SELECT t.id FROM tasks t JOIN input i ON t.id = i.id "
              "WHERE t.attempts = i.attempt AND t.status = 'running' ORDER BY t.id FOR UPDATE OF t), "
              "done AS (UPDATE tasks t SET status = i.status, "
              "result = CASE WHEN i.status = 'succeeded' THEN i.result END, "
              "error_code = i.error_code, error = i.error, "
              "finished_at = CASE WHEN i.status IN ('succeeded', 'failed') THEN now() END, "
              "next_attempt_at = now() + i.retry_in_ms * interval '1 millisecond', "
              "llm_calls = t.llm_calls + i.calls, tokens_in = t.tokens_in + i.tokens_in, "
              "tokens_out = t.tokens_out + i.tokens_out, cost_usd = t.cost_usd + i.cost, "
              "updated_at = now() "
              "FROM input i JOIN l ON l.id = i.id WHERE t.id = i.id RETURNING t.*), "
              "usage AS (INSERT INTO llm_usage (tenant_id, task_id, batch_id, kind, provider, model, "
              "calls, tokens_in, tokens_out, cost_usd) SELECT d.tenant_id, d.id, d.batch_id, d.kind, "
              "i.provider, i.model, i.calls, i.tokens_in, i.tokens_out, i.cost "
              "FROM done d JOIN input i ON i.id = d.id WHERE i.calls > 0), ") +
              classification_upsert +
              " SELECT " MQ_TASK_COLUMNS ", cls.created, cls.updated FROM done t "
              "LEFT JOIN cls ON cls.meeting_id = t.subject_id AND t.kind = 'classify_meeting'",
          array_literal(ids), array_literal(attempts), array_literal(statuses),
          array_literal(results), array_literal(codes), array_literal(errors),
          array_literal(providers), array_literal(models), array_literal(prompts),
          array_literal(taxonomies), array_literal(tin), array_literal(tout),
          array_literal(latency), array_literal(calls), array_literal(retry_in),
          array_literal(costs));
      tx.commit();
      std::map<std::string, completed> applied;
      for (const auto& r : rows) {
        completed c;
        c.applied = true;
        c.task = task_from_row(r);
        if (!r[task_columns].is_null()) {
          schemas::classification_record k;
          k.meeting_id = c.task.subject_id;
          k.tenant_id = c.task.tenant_id;
          k.task_id = c.task.id;
          k.created_at = r[task_columns].c_str();
          k.updated_at = r[task_columns + 1].c_str();
          c.classification = std::move(k);
        }
        applied.emplace(c.task.id, std::move(c));
      }
      std::vector<completed> out;
      for (const auto& d : done) {
        auto it = applied.find(d.task_id);
        if (it == applied.end()) {
          out.push_back(completed{});
          continue;
        }
        auto c = std::move(it->second);
        if (c.classification) {
          c.classification->result_json = d.result_json;
          c.classification->usage = d.usage;
        }
        out.push_back(std::move(c));
      }
      return out;
    });
  }

  pg_session session_;
};

}  // namespace

std::unique_ptr<job_store> make_pg_job_store(const std::string& conninfo) {
  return std::make_unique<pg_job_store>(conninfo);
}

}  // namespace mq::store

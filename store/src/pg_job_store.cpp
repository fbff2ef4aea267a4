#include <map>
#include <set>

#include "mq/store/job_store.hpp"
#include "mq/store/repositories.hpp"
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
    "SELECT d.subject_id, d.tenant_id, d.id, d.answer->>'business_sector', "
    "d.answer->>'company_size', d.answer->>'region', d.answer->>'lead_source', "
    "d.answer->>'vambe_product', d.answer->>'use_case', d.answer->>'primary_pain_point', "
    "(d.answer->>'urgency')::boolean, d.answer->>'decision_maker_role', "
    "d.answer->>'purchase_stage', d.answer->>'language', "
    "(d.answer->>'lost_client_bad_meeting')::boolean, d.answer->>'sentiment', "
    "(d.answer->>'confidence_score')::double precision, d.answer, d.provider, d.model, "
    "d.prompt_version, d.taxonomy_version, d.call_tokens_in, d.call_tokens_out, d.latency_ms, d.calls "
    "FROM done d WHERE d.kind = 'classify_meeting' AND d.status = 'succeeded' "
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
    "RETURNING meeting_id, " MQ_TS_TEXT("created_at") " AS created, " MQ_TS_TEXT("updated_at") " AS updated)";

/// Claims tasks: locks them in id order, moves them to running, loads their input. Of
/// classifications, only those the read (claim_read_sql) did not claim come here: one
/// still marked running that a redelivery takes over is written (attempt + 1), so the
/// attempt it replaces can no longer record an outcome.
const std::string claim_sql =
    "WITH l AS (SELECT t.id FROM tasks t JOIN unnest($1::uuid[], $2::uuid[], $3::boolean[]) "
    "AS i(id, tenant_id, redelivered) ON t.id = i.id AND t.tenant_id = i.tenant_id "
    "WHERE t.id = ANY($1::uuid[]) AND (t.status IN ('queued', 'retrying') "
    "OR (t.status = 'running' AND i.redelivered)) ORDER BY t.id FOR UPDATE OF t), "
    "c AS (UPDATE tasks t SET status = 'running', attempts = t.attempts + 1, "
    "started_at = now(), updated_at = now(), next_attempt_at = NULL "
    "WHERE t.id = ANY($1::uuid[]) AND t.id IN (SELECT id FROM l) RETURNING t.*) "
    "SELECT " MQ_TASK_COLUMNS ", (m.id IS NOT NULL OR (t.kind = 'process_document' AND EXISTS "
    "(SELECT 1 FROM documents d WHERE d.id = t.subject_id AND d.tenant_id = t.tenant_id)) "
    "OR (t.kind = 'send_message' AND EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.id = t.subject_id "
    "AND r.tenant_id = t.tenant_id)) OR (t.kind = 'start_campaign' AND EXISTS (SELECT 1 FROM campaigns c "
    "WHERE c.id = t.subject_id AND c.tenant_id = t.tenant_id)) OR (t.kind = 'rollup_analytics' AND EXISTS "
    "(SELECT 1 FROM rollup_requests q WHERE q.id = t.subject_id AND q.tenant_id = t.tenant_id))), "
    // The meeting as columns (NULL transcript: no meeting), not as JSON to parse again.
    "m.transcript, (SELECT name FROM clients WHERE id = m.client_id), "
    "(SELECT name FROM sellers WHERE id = m.seller_id), m.closed, m.meeting_date::text, false "
    "FROM c t LEFT JOIN meetings m ON t.kind = 'classify_meeting' AND m.id = t.subject_id "
    "AND m.tenant_id = t.tenant_id AND m.id = ANY($4::bigint[])";

/// The claim of a queued or retrying classification (most of every batch): a read, with
/// no lock, no write and no transaction. Its row is written once, by the outcome, unless
/// the job runs long enough to be marked running (mark_running_sql). Its columns are
/// claim_sql's.
const std::string claim_read_sql =
    "SELECT " MQ_TASK_COLUMNS ", m.id IS NOT NULL, m.transcript, (SELECT name FROM clients WHERE id = m.client_id), "
    "(SELECT name FROM sellers WHERE id = m.seller_id), m.closed, m.meeting_date::text, true "
    "FROM tasks t JOIN unnest($1::uuid[], $2::uuid[]) AS i(id, tenant_id) ON t.id = i.id AND t.tenant_id = i.tenant_id "
    "LEFT JOIN meetings m ON m.id = t.subject_id AND m.tenant_id = t.tenant_id AND m.id = ANY($3::bigint[]) "
    "WHERE t.id = ANY($1::uuid[]) AND t.kind = 'classify_meeting' AND t.status IN ('queued', 'retrying')";

/// Records lazily claimed classifications as running under their attempt, unless an
/// outcome (or a cancel, or a takeover) wrote them first.
const std::string mark_running_sql =
    "WITH l AS (SELECT t.id FROM tasks t JOIN unnest($1::uuid[], $2::int[]) AS i(id, attempt) ON t.id = i.id "
    "WHERE t.id = ANY($1::uuid[]) AND t.kind = 'classify_meeting' AND t.status IN ('queued', 'retrying') "
    "AND t.attempts = i.attempt - 1 ORDER BY t.id FOR UPDATE OF t) "
    "UPDATE tasks t SET status = 'running', attempts = i.attempt, started_at = to_timestamp(i.started / 1000.0), "
    "updated_at = now(), next_attempt_at = NULL "
    "FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS i(id, attempt, started) "
    "WHERE t.id = ANY($1::uuid[]) AND t.id = i.id AND t.id IN (SELECT id FROM l) "
    "RETURNING " MQ_TASK_COLUMNS_WITH("NULL::text");

/// Records outcomes of current attempts with their usage and kind-specific rows. The
/// result comes back as NULL: the caller has it already (pg_job_store::complete_batch).
const std::string complete_sql =
    // Each table is reached by one "id = ANY(array)" scan and joined by hash (the
    // connection runs without nested loops; see pg_job_store). `done` returns each row's
    // inputs so the later steps need no join. `l` also marks the classifications whose
    // meeting was deleted since the claim (a scalar subquery: one index probe per row):
    // they fail instead of storing a classification of nothing (migration 018), and the
    // lazily claimed rows (still queued or retrying under the attempt before), whose
    // outcome also records the attempt and its start.
    // Answers come as text[] and are cast one by one: Postgres reads a jsonb[] literal
    // about 3.5 times slower (28 against 8 us for a 550-byte answer).
    std::string(
        "WITH l AS (SELECT t.id, (t.kind = 'classify_meeting' AND (SELECT true FROM meetings m "
        "WHERE m.id = t.subject_id AND m.tenant_id = t.tenant_id) IS NULL) AS gone, t.status <> 'running' AS lazy "
        "FROM tasks t JOIN unnest($1::uuid[], $2::int[]) AS i(id, attempt) "
        "ON t.id = i.id WHERE t.id = ANY($1::uuid[]) AND ((t.attempts = i.attempt AND t.status = 'running') "
        "OR (t.kind = 'classify_meeting' AND t.attempts = i.attempt - 1 AND t.status IN ('queued', 'retrying'))) "
        "ORDER BY t.id FOR UPDATE OF t), "
        "done AS (UPDATE tasks t SET status = CASE WHEN l.gone AND i.status = 'succeeded' THEN 'failed' ELSE i.status END, "
        // A classification's answer is stored once, in its classification row.
        "result = CASE WHEN i.status = 'succeeded' AND t.kind <> 'classify_meeting' THEN i.result::jsonb END, "
        "error_code = CASE WHEN l.gone AND i.status = 'succeeded' THEN 'NOT_FOUND' ELSE i.error_code END, "
        "error = CASE WHEN l.gone AND i.status = 'succeeded' THEN 'the meeting no longer exists' ELSE i.error END, "
        "finished_at = CASE WHEN i.status IN ('succeeded', 'failed') THEN now() END, "
        "next_attempt_at = now() + i.retry_in_ms * interval '1 millisecond', "
        "llm_calls = t.llm_calls + i.calls, tokens_in = t.tokens_in + i.tokens_in, "
        "tokens_out = t.tokens_out + i.tokens_out, cost_usd = t.cost_usd + i.cost, updated_at = now(), "
        "attempts = t.attempts + l.lazy::int, "
        "started_at = CASE WHEN l.lazy THEN to_timestamp(i.started / 1000.0) ELSE t.started_at END "
        "FROM unnest($1::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
        "$9::text[], $10::text[], $11::int[], $12::int[], $13::int[], $14::int[], $15::bigint[], $16::float8[], "
        "$18::bigint[]) "
        "AS i(id, status, result, error_code, error, provider, model, prompt_version, taxonomy_version, "
        "tokens_in, tokens_out, latency_ms, calls, retry_in_ms, cost, started), l "
        "WHERE t.id = ANY($1::uuid[]) AND t.id = i.id AND l.id = t.id "
        "RETURNING t.*, i.result::jsonb AS answer, i.provider, i.model, i.prompt_version, i.taxonomy_version, "
        "i.tokens_in AS call_tokens_in, i.tokens_out AS call_tokens_out, i.latency_ms, i.calls, i.cost), "
        "usage AS (INSERT INTO llm_usage (tenant_id, batch_id, kind, provider, model, "
        "calls, tokens_in, tokens_out, cost_usd, tasks) SELECT d.tenant_id, d.batch_id, d.kind, "
        "d.provider, d.model, sum(d.calls), sum(d.call_tokens_in), sum(d.call_tokens_out), sum(d.cost), "
        "count(*) FROM done d WHERE d.calls > 0 GROUP BY 1, 2, 3, 4, 5), "
        // A delivery's ledger row settles with its task (pending or sending -> its outcome).
        "dlv AS (UPDATE campaign_recipients r SET state = d.answer->>'delivery_state', "
        "response_code = (d.answer->>'response_code')::int, error_code = d.error_code, error = d.error, "
        "tokens_in = r.tokens_in + d.call_tokens_in, tokens_out = r.tokens_out + d.call_tokens_out, "
        "finished_at = now(), updated_at = now() FROM done d "
        "WHERE r.id = ANY($17::bigint[]) AND r.id = d.subject_id AND d.kind = 'send_message' "
        "AND d.answer->>'delivery_state' IN ('sent', 'failed', 'unknown') AND r.state IN ('pending', 'sending')), ") +
    classification_upsert +
    " SELECT " MQ_TASK_COLUMNS_WITH("NULL::text") ", cls.created, cls.updated FROM done t "
    "LEFT JOIN cls ON cls.meeting_id = t.subject_id AND t.kind = 'classify_meeting'";

class pg_job_store final : public job_store {
 public:
  // This connection runs only batch statements keyed by id arrays. The planner has no
  // statistics for arrays, CTEs or transition tables and picks nested loops that turn
  // quadratic (re-running unnest, or re-sorting the array on every index probe); one
  // "= ANY" bitmap scan per table and hash joins are right at every batch size. Plans
  // are generic: the same plan fits every size, and planning is skipped.
  explicit pg_job_store(const std::string& conninfo)
      : session_(conninfo, "SET plan_cache_mode = force_generic_plan; SET enable_nestloop = off") {}

  status ping() override { return session_.ping(); }

  result<std::optional<schemas::task_status>> status_of(const std::string& task_id) override {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::optional<schemas::task_status>> {
      pqxx::nontransaction tx(c);
      auto rows = tx.exec_params("SELECT status FROM tasks WHERE id = $1", task_id);
      if (rows.empty()) return std::optional<schemas::task_status>{};
      return schemas::parse_task_status(rows[0][0].c_str());
    });
  }

  result<std::optional<schemas::task_record>> bury(const dead_letter& d) override {
    return record_dead_letter(session_, d);
  }

  result<std::vector<claim_result>> claim(const std::vector<claim_request>& jobs) override {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::vector<claim_result>> {
      std::map<std::string, claim_result> found;
      // Deliveries of classifications are read; whatever the read does not find
      // (finished, running, not a classification after all) and every other delivery
      // goes through the claim that writes.
      std::vector<const claim_request*> reads, others;
      for (const auto& j : jobs)
        (j.envelope.kind == schemas::kinds::classify_meeting ? reads : others).push_back(&j);
      if (!reads.empty()) {
        std::vector<std::string> ids, tenants;
        std::vector<std::int64_t> subjects;
        for (const auto* j : reads) {
          ids.push_back(j->envelope.task_id);
          tenants.push_back(j->envelope.tenant_id);
          subjects.push_back(j->envelope.subject_id);
        }
        pqxx::nontransaction tx(c);
        prepare(c, "mq_claim_read", claim_read_sql);
        take_claims(tx.exec_prepared("mq_claim_read", array_literal(ids), array_literal(tenants),
                                     array_literal(subjects)),
                    found);
        for (const auto* j : reads)
          if (!found.count(j->envelope.task_id)) others.push_back(j);
      }
      if (!others.empty()) claim_in_transaction(c, others, found);
      // Two copies of one message in the same group: the first runs, the others are
      // duplicates of a running task (one LLM call, not two).
      std::vector<claim_result> out;
      std::set<std::string> running;
      for (const auto& j : jobs) {
        auto it = found.find(j.envelope.task_id);
        out.push_back(it == found.end() ? claim_result{} : it->second);
        if (out.back().outcome == claim_outcome::run && !running.insert(j.envelope.task_id).second)
          out.back().outcome = claim_outcome::busy;
      }
      return out;
    });
  }

  result<std::vector<schemas::task_record>> mark_running(const std::vector<running_mark>& marks) override {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::vector<schemas::task_record>> {
      std::vector<std::string> ids;
      std::vector<std::int64_t> attempts, started;
      for (const auto& m : marks) {
        ids.push_back(m.task_id);
        attempts.push_back(m.attempt);
        started.push_back(m.started_ms);
      }
      pqxx::work tx(c);
      prepare(c, "mq_mark_running", mark_running_sql);
      auto rows = tx.exec_prepared("mq_mark_running", array_literal(ids), array_literal(attempts), array_literal(started));
      tx.commit();
      std::vector<schemas::task_record> out;
      for (const auto& r : rows) out.push_back(task_from_row(r));
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
  /// The tasks claimed (to run) in `rows`, of claim_sql's or claim_read_sql's columns.
  static void take_claims(const pqxx::result& rows, std::map<std::string, claim_result>& found) {
    for (const auto& r : rows) {
      claim_result cr;
      cr.outcome = claim_outcome::run;
      cr.task = task_from_row(r);
      cr.subject_found = r[task_columns].as<bool>();
      cr.lazy = r[task_columns + 6].as<bool>();
      if (cr.lazy) {  // as the outcome (or a mark) will record it
        cr.task.status = schemas::task_status::running;
        cr.task.attempts += 1;
      }
      if (!r[task_columns + 1].is_null()) {
        schemas::meeting_facts m;
        m.transcript = r[task_columns + 1].c_str();
        m.client_name = opt(r[task_columns + 2]).value_or("");
        m.seller_name = opt(r[task_columns + 3]).value_or("");
        m.closed = r[task_columns + 4].as<bool>();
        m.meeting_date = opt(r[task_columns + 5]).value_or("");
        cr.meeting = std::move(m);
      }
      found.emplace(cr.task.id, std::move(cr));
    }
  }

  /// The claim that writes (claim_sql), then for what it did not claim, why not.
  static void claim_in_transaction(pqxx::connection& c, const std::vector<const claim_request*>& jobs,
                                   std::map<std::string, claim_result>& found) {
    std::vector<std::string> ids, tenants, redelivered;
    std::vector<std::int64_t> subjects;
    for (const auto* j : jobs) {
      ids.push_back(j->envelope.task_id);
      tenants.push_back(j->envelope.tenant_id);
      redelivered.push_back(j->redelivered ? "t" : "f");
      subjects.push_back(j->envelope.subject_id);
    }
    pqxx::work tx(c);
    // Rows are locked in id order, as every other multi-row update of tasks does.
    prepare(c, "mq_claim", claim_sql);
    take_claims(tx.exec_prepared("mq_claim", array_literal(ids), array_literal(tenants), array_literal(redelivered),
                                 array_literal(subjects)),
                found);
    std::vector<std::string> rest, rest_tenants;
    for (const auto* j : jobs)
      if (!found.count(j->envelope.task_id)) {
        rest.push_back(j->envelope.task_id);
        rest_tenants.push_back(j->envelope.tenant_id);
      }
    if (!rest.empty()) {
      for (const auto& r : tx.exec_params(
               "SELECT " MQ_TASK_COLUMNS " FROM tasks t JOIN unnest($1::uuid[], $2::uuid[]) "
               "AS u(id, tenant_id) ON t.id = u.id AND t.tenant_id = u.tenant_id WHERE t.id = ANY($1::uuid[])",
               array_literal(rest), array_literal(rest_tenants))) {
        claim_result cr;
        cr.task = task_from_row(r);
        cr.outcome = schemas::is_terminal(cr.task.status) ? claim_outcome::finished : claim_outcome::busy;
        found.emplace(cr.task.id, std::move(cr));
      }
    }
    tx.commit();
  }

  result<std::vector<completed>> complete_batch(const std::vector<completion>& done) {
    return guarded(session_, [&](pqxx::connection& c) -> result<std::vector<completed>> {
      std::vector<std::string> ids, statuses, providers, models, prompts, taxonomies;
      std::vector<std::optional<std::string>> results, codes, errors, retry_in, costs;
      std::vector<std::int64_t> attempts, tin, tout, latency, calls, deliveries, started;
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
        if (d.delivery_id) deliveries.push_back(d.delivery_id);
        started.push_back(d.started_ms);
      }
      pqxx::work tx(c);
      prepare(c, "mq_complete", complete_sql);
      auto rows = tx.exec_prepared("mq_complete",
          array_literal(ids), array_literal(attempts), array_literal(statuses),
          array_literal(results), array_literal(codes), array_literal(errors),
          array_literal(providers), array_literal(models), array_literal(prompts),
          array_literal(taxonomies), array_literal(tin), array_literal(tout),
          array_literal(latency), array_literal(calls), array_literal(retry_in),
          array_literal(costs), array_literal(deliveries), array_literal(started));
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
          k.created_at = timestamp_of(r[task_columns]).value_or("");
          k.updated_at = timestamp_of(r[task_columns + 1]).value_or("");
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
        if (c.task.status == schemas::task_status::succeeded && !d.result_json.empty()) c.task.result_json = d.result_json;
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

-- 003: batch progress kept as counters, so reading it costs the same for 10 or 100,000
-- tasks. A statement-level trigger counts every status change of batched tasks (from
-- any path: completion, cancellation, dead-lettering, replay) and their usage deltas.
-- Counters are sharded by backend so concurrent writers do not queue on one row.

CREATE TABLE batch_progress (
  batch_id    uuid NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
  shard       integer NOT NULL,
  succeeded   integer NOT NULL DEFAULT 0,
  failed      integer NOT NULL DEFAULT 0,
  dead        integer NOT NULL DEFAULT 0,
  cancelled   integer NOT NULL DEFAULT 0,
  llm_calls   bigint NOT NULL DEFAULT 0,
  tokens_in   bigint NOT NULL DEFAULT 0,
  tokens_out  bigint NOT NULL DEFAULT 0,
  cost_usd    numeric(14, 6) NOT NULL DEFAULT 0,
  PRIMARY KEY (batch_id, shard)
);

CREATE FUNCTION count_batch_progress() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- New rows count +1 and old rows -1 per state; one linear pass, no join of the
  -- transition tables (they carry no statistics, and a nested loop over them is
  -- quadratic). Groups that change nothing (queued -> running) write nothing.
  INSERT INTO batch_progress AS p (batch_id, shard, succeeded, failed, dead, cancelled,
                                   llm_calls, tokens_in, tokens_out, cost_usd)
  SELECT batch_id, pg_backend_pid() % 16, sum(s), sum(f), sum(d), sum(c),
         sum(calls), sum(tin), sum(tout), sum(cost)
  FROM (SELECT batch_id, (status = 'succeeded')::int AS s, (status = 'failed')::int AS f,
               (status = 'dead')::int AS d, (status = 'cancelled')::int AS c,
               llm_calls AS calls, tokens_in AS tin, tokens_out AS tout, cost_usd AS cost
        FROM new_rows WHERE batch_id IS NOT NULL
        UNION ALL
        SELECT batch_id, -(status = 'succeeded')::int, -(status = 'failed')::int,
               -(status = 'dead')::int, -(status = 'cancelled')::int,
               -llm_calls, -tokens_in, -tokens_out, -cost_usd
        FROM old_rows WHERE batch_id IS NOT NULL) delta
  GROUP BY batch_id
  HAVING sum(s) <> 0 OR sum(f) <> 0 OR sum(d) <> 0 OR sum(c) <> 0 OR sum(calls) <> 0
  ON CONFLICT (batch_id, shard) DO UPDATE SET
    succeeded = p.succeeded + EXCLUDED.succeeded, failed = p.failed + EXCLUDED.failed,
    dead = p.dead + EXCLUDED.dead, cancelled = p.cancelled + EXCLUDED.cancelled,
    llm_calls = p.llm_calls + EXCLUDED.llm_calls, tokens_in = p.tokens_in + EXCLUDED.tokens_in,
    tokens_out = p.tokens_out + EXCLUDED.tokens_out, cost_usd = p.cost_usd + EXCLUDED.cost_usd;
  RETURN NULL;
END
$$;

-- Postgres allows transition tables only on triggers without a column list, so every
-- update of tasks fires it; those that move no counter (claims, publish marks) write nothing.
CREATE TRIGGER tasks_batch_progress AFTER UPDATE ON tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION count_batch_progress();

-- Batch reads no longer scan tasks by status.
DROP INDEX tasks_by_batch;
CREATE INDEX tasks_by_batch ON tasks (batch_id) WHERE batch_id IS NOT NULL;

-- 002: LLM usage and estimated cost, per task (running totals) and as a ledger that
-- time-ranged usage queries aggregate.

ALTER TABLE tasks
  ADD COLUMN llm_calls  integer NOT NULL DEFAULT 0,
  ADD COLUMN tokens_in  bigint NOT NULL DEFAULT 0,
  ADD COLUMN tokens_out bigint NOT NULL DEFAULT 0,
  ADD COLUMN cost_usd   numeric(14, 6) NOT NULL DEFAULT 0;

-- One row per recorded attempt that called the LLM.
CREATE TABLE llm_usage (
  id          bigserial PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  task_id     uuid NOT NULL,
  batch_id    uuid,
  kind        text NOT NULL,
  provider    text NOT NULL,
  model       text NOT NULL,
  calls       integer NOT NULL,
  tokens_in   bigint NOT NULL,
  tokens_out  bigint NOT NULL,
  cost_usd    numeric(14, 6) NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_by_tenant_time ON llm_usage (tenant_id, created_at);
CREATE INDEX llm_usage_by_batch ON llm_usage (batch_id) WHERE batch_id IS NOT NULL;

-- 008: the usage ledger gets one row per recorded group of tasks (same tenant, batch,
-- kind, provider and model), not one per task; each task keeps its own totals.
ALTER TABLE llm_usage ALTER COLUMN task_id DROP NOT NULL;
ALTER TABLE llm_usage ADD COLUMN tasks integer NOT NULL DEFAULT 1;

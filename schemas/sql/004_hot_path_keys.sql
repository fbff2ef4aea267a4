-- 004: no foreign-key checks on the hottest appends. A classification's tenant is its
-- meeting's (the meeting keeps its foreign key and its cascade); the usage ledger is
-- append-only accounting whose tenant the writer takes from the task.
ALTER TABLE llm_usage DROP CONSTRAINT llm_usage_tenant_id_fkey;
ALTER TABLE classifications DROP CONSTRAINT classifications_tenant_id_fkey;

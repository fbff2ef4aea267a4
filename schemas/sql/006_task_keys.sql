-- 006: tasks are the hottest insert (tens of thousands per queue-unclassified). Their
-- tenant is always the caller's and their batch is created in the same transaction, so
-- the two foreign-key checks per row are dropped; deleting a tenant deletes its tasks
-- and batches explicitly.
ALTER TABLE tasks DROP CONSTRAINT tasks_tenant_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT tasks_batch_id_fkey;

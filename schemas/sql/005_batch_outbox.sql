-- 005: a batch published as a whole is marked once, on its batch row, instead of on each
-- of its tasks. The relay looks for unconfirmed single tasks and unconfirmed batches.
ALTER TABLE batches ADD COLUMN published_at timestamptz;
-- Batches created before this migration were marked task by task.
UPDATE batches SET published_at = created_at;
CREATE INDEX batches_unpublished ON batches (created_at) WHERE published_at IS NULL;
DROP INDEX tasks_unpublished;
CREATE INDEX tasks_unpublished ON tasks (created_at) WHERE published_at IS NULL AND batch_id IS NULL;

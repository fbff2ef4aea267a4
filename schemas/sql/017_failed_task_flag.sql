-- 017: the claim (queued -> running) is a HOT update again. 015's index of failed tasks
-- named the status in its predicate, and an index predicate's columns block HOT updates
-- as much as its keys: every claim wrote three index entries. The index is keyed on a
-- generated flag instead, which stays false from queued to running, as 007 did for the
-- index of unfinished tasks. (Adding the stored column rewrites the table once.)
ALTER TABLE tasks ADD COLUMN failed boolean NOT NULL
  GENERATED ALWAYS AS (status = 'failed') STORED;
DROP INDEX tasks_failed_by_tenant;
CREATE INDEX tasks_failed_by_tenant ON tasks (tenant_id, finished_at) WHERE failed;

-- 007: let the claim (queued -> running) be a HOT update that touches no index. The
-- one-unfinished-task-per-subject index is keyed on a generated flag that stays true
-- from queued to running, instead of on the status itself; pages keep room for the new
-- row versions.
ALTER TABLE tasks ADD COLUMN active boolean
  GENERATED ALWAYS AS (status IN ('queued', 'running', 'retrying')) STORED;
DROP INDEX tasks_one_active;
CREATE UNIQUE INDEX tasks_one_active ON tasks (tenant_id, kind, subject_id) WHERE active;
ALTER TABLE tasks SET (fillfactor = 70);

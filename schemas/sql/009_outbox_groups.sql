-- 009: the outbox as groups. Every transaction that creates tasks records one outbox row
-- listing them; the broker's confirm marks the row published in one update, however many
-- tasks it holds (a single request, a group commit of many requests, or a batch of
-- 20,000). The relay republishes the queued tasks of groups left unconfirmed.
CREATE TABLE outbox (
  id            uuid PRIMARY KEY,
  task_ids      uuid[] NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;

-- Work still waiting for a confirmed publish joins the outbox as one group.
INSERT INTO outbox (id, task_ids, created_at)
SELECT gen_random_uuid(), array_agg(t.id), min(t.created_at) FROM tasks t
WHERE t.status = 'queued' AND t.published_at IS NULL
  AND (t.batch_id IS NULL OR EXISTS (SELECT 1 FROM batches b WHERE b.id = t.batch_id AND b.published_at IS NULL))
HAVING count(*) > 0;

DROP INDEX tasks_unpublished;
DROP INDEX batches_unpublished;
ALTER TABLE tasks DROP COLUMN published_at;
ALTER TABLE batches DROP COLUMN published_at;

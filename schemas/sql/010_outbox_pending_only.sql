-- 010: the outbox holds only what waits for a confirm. The confirm deletes the group's
-- row instead of stamping it, so the table stays as small as the work in flight and the
-- relay's scan never grows with history.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
CREATE INDEX outbox_created ON outbox (created_at);

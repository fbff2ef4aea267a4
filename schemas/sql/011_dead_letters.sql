-- 011: dead letters. Every message that reached the dead-letter queue is recorded once
-- (dedup_key: the same dead letter delivered twice is one row) with why it died and its
-- delivery history. tenant_id and task_id are set only when the message names a task
-- that exists for that tenant: a forged or unparseable message belongs to nobody and is
-- visible to operators only.

CREATE TABLE dead_letters (
  id           uuid PRIMARY KEY,
  dedup_key    text NOT NULL UNIQUE,
  tenant_id    uuid REFERENCES tenants(id) ON DELETE CASCADE,
  task_id      uuid REFERENCES tasks(id) ON DELETE SET NULL,
  kind         text,
  queue        text NOT NULL,
  reason       text NOT NULL,   -- poison | delivery_limit | rejected | expired | ...
  error_code   text NOT NULL,
  error        text NOT NULL,
  deliveries   integer NOT NULL DEFAULT 0,
  history      jsonb NOT NULL DEFAULT '[]',
  body_preview text NOT NULL,   -- the first 4 KiB, made printable
  body_bytes   integer NOT NULL,
  request_id   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  replayed_at  timestamptz,
  replays      integer NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_by_tenant ON dead_letters (tenant_id, created_at DESC, id);
CREATE INDEX dead_letters_by_task ON dead_letters (task_id) WHERE task_id IS NOT NULL;

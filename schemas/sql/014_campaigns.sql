-- 014: campaigns and their delivery ledger. A campaign sends one message per recipient
-- through one channel, now or at schedule_at. campaign_recipients is both the audience
-- and the ledger: one row per (campaign, address), whose state moves
-- pending -> sending -> sent | failed | unknown (or pending -> cancelled). `sending` is
-- committed before the channel is called, so a crash after the send is seen by the next
-- attempt: webhooks are resent with the same idempotency key, SMTP becomes unknown.

CREATE TABLE campaigns (
  id                      bigserial PRIMARY KEY,
  tenant_id               uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name                    text NOT NULL,
  channel                 text NOT NULL CHECK (channel IN ('webhook', 'smtp')),
  subject                 text,
  template                text NOT NULL,
  personalization_prompt  text,
  schedule_at             timestamptz,
  rate_per_minute         integer CHECK (rate_per_minute > 0),
  status                  text NOT NULL DEFAULT 'draft'
                          CHECK (status IN ('draft', 'scheduled', 'sending', 'cancelled')),
  batch_id                uuid REFERENCES batches(id) ON DELETE SET NULL,
  start_task_id           uuid,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  started_at              timestamptz,
  cancelled_at            timestamptz
);
CREATE INDEX campaigns_by_tenant ON campaigns (tenant_id, id);

CREATE TABLE campaign_recipients (
  id               bigserial PRIMARY KEY,
  campaign_id      bigint NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
  tenant_id        uuid NOT NULL,
  address          text NOT NULL,
  attributes       jsonb NOT NULL DEFAULT '{}',
  state            text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'cancelled')),
  -- Stable per (campaign, recipient): sent with every attempt of the same message.
  idempotency_key  text NOT NULL,
  task_id          uuid,
  subject          text,
  message          text,
  attempts         integer NOT NULL DEFAULT 0,
  response_code    integer,
  error_code       text,
  error            text,
  tokens_in        integer NOT NULL DEFAULT 0,
  tokens_out       integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  sending_at       timestamptz,
  finished_at      timestamptz,
  UNIQUE (campaign_id, address),
  UNIQUE (idempotency_key)
);
CREATE INDEX campaign_recipients_by_campaign ON campaign_recipients (campaign_id, id);
CREATE INDEX campaign_recipients_by_state ON campaign_recipients (campaign_id, state);
CREATE INDEX campaign_recipients_by_task ON campaign_recipients (task_id) WHERE task_id IS NOT NULL;

-- 015: daily rollups behind the KPI endpoints. A rollup run recomputes, per tenant, the
-- days whose source rows changed since its last run (rows updated after the run's
-- watermark, plus days a delete touched), replacing those days' rows; so running it
-- twice changes nothing. A meeting's day is its meeting_date, else the day it was stored.

-- Meetings and their classifications by day and by one dimension at a time
-- ('all' with value '', seller, client, business_sector, company_size, region,
-- lead_source, product, use_case, pain_point, sentiment, purchase_stage, urgency).
CREATE TABLE rollup_meetings (
  tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day             date NOT NULL,
  dimension       text NOT NULL,
  value           text NOT NULL,
  meetings        integer NOT NULL,
  closed          integer NOT NULL,
  classified      integer NOT NULL,
  confidence_sum  numeric(16, 6) NOT NULL,  -- exact: the same days sum the same in any order
  positive        integer NOT NULL,
  neutral         integer NOT NULL,
  negative        integer NOT NULL,
  urgent          integer NOT NULL,
  PRIMARY KEY (tenant_id, dimension, day, value)
);

-- The same by month (every dimension but client), so a year reads about twelve rows per
-- value instead of 365; kept from the daily rows for every month a run touches.
CREATE TABLE rollup_meetings_monthly (
  tenant_id       uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  month           date NOT NULL,
  dimension       text NOT NULL,
  value           text NOT NULL,
  meetings        integer NOT NULL,
  closed          integer NOT NULL,
  classified      integer NOT NULL,
  confidence_sum  numeric(16, 6) NOT NULL,
  positive        integer NOT NULL,
  neutral         integer NOT NULL,
  negative        integer NOT NULL,
  urgent          integer NOT NULL,
  PRIMARY KEY (tenant_id, dimension, month, value)
);

-- Tasks that failed each day, by kind (classification failures among them).
CREATE TABLE rollup_failures (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day         date NOT NULL,
  kind        text NOT NULL,
  failures    integer NOT NULL,
  PRIMARY KEY (tenant_id, day, kind)
);

-- LLM calls, tokens and estimated cost each day, by kind of job and model.
CREATE TABLE rollup_llm (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day         date NOT NULL,
  kind        text NOT NULL,
  model       text NOT NULL,
  calls       bigint NOT NULL,
  tokens_in   bigint NOT NULL,
  tokens_out  bigint NOT NULL,
  cost_usd    numeric(14, 6) NOT NULL,
  PRIMARY KEY (tenant_id, day, kind, model)
);

-- Campaign messages by the day they settled (or were added, while pending), channel and state.
CREATE TABLE rollup_deliveries (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day         date NOT NULL,
  channel     text NOT NULL,
  state       text NOT NULL,
  deliveries  integer NOT NULL,
  PRIMARY KEY (tenant_id, day, channel, state)
);

-- Documents by the day they finished (or were uploaded, while unfinished) and status.
CREATE TABLE rollup_documents (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day         date NOT NULL,
  status      text NOT NULL,
  documents   integer NOT NULL,
  chunks      bigint NOT NULL,
  PRIMARY KEY (tenant_id, day, status)
);

-- Where each tenant's last run got to: rows updated after `watermark` are new to it.
CREATE TABLE rollup_watermarks (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
  watermark   timestamptz NOT NULL,
  last_run_at timestamptz NOT NULL
);

-- Days a delete touched (deletes leave no updated row behind).
CREATE TABLE rollup_dirty (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  day         date NOT NULL,
  PRIMARY KEY (tenant_id, day)
);

CREATE FUNCTION mark_deleted_meeting_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_dirty (tenant_id, day)
  SELECT DISTINCT o.tenant_id, coalesce(o.meeting_date, (o.created_at AT TIME ZONE 'UTC')::date) FROM old_rows o
  WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = o.tenant_id)
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER meetings_rollup_dirty AFTER DELETE ON meetings
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_deleted_meeting_days();

CREATE FUNCTION mark_deleted_classification_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_dirty (tenant_id, day)
  SELECT DISTINCT m.tenant_id, coalesce(m.meeting_date, (m.created_at AT TIME ZONE 'UTC')::date)
  FROM old_rows o JOIN meetings m ON m.id = o.meeting_id
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER classifications_rollup_dirty AFTER DELETE ON classifications
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mark_deleted_classification_days();

-- Reading what changed since a watermark without scanning a tenant's history.
CREATE INDEX meetings_by_tenant_updated ON meetings (tenant_id, updated_at);
CREATE INDEX classifications_by_tenant_updated ON classifications (tenant_id, updated_at);
CREATE INDEX documents_by_tenant_updated ON documents (tenant_id, updated_at);
CREATE INDEX campaign_recipients_by_tenant_updated ON campaign_recipients (tenant_id, updated_at);
-- Only failed tasks: the hot path (claims, successful completions) never writes it.
CREATE INDEX tasks_failed_by_tenant ON tasks (tenant_id, finished_at) WHERE status = 'failed';

-- A rollup job per request: what to recompute.
CREATE TABLE rollup_requests (
  id          bigserial PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  from_day    date NOT NULL,
  to_day      date NOT NULL,
  full_rebuild boolean NOT NULL DEFAULT false,
  scheduled   boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per schedule slot: the replica that inserts it runs that slot's rollups.
CREATE TABLE rollup_slots (
  slot        bigint PRIMARY KEY,
  taken_at    timestamptz NOT NULL DEFAULT now()
);

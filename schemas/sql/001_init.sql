-- 001: tenants and their API keys; meetings with their clients and sellers; tasks,
-- batches and classifications. Every row carries its tenant.

CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as the SHA-256 of the key; the key itself is shown once.
CREATE TABLE api_keys (
  key_hash    text PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  label       text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

CREATE TABLE clients (
  id          bigserial PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name        text NOT NULL,
  email       text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- A client is the same entity when its e-mail matches, or its name when it has none.
CREATE UNIQUE INDEX clients_by_email ON clients (tenant_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX clients_by_name ON clients (tenant_id, name) WHERE email IS NULL;

CREATE TABLE sellers (
  id          bigserial PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE meetings (
  id            bigserial PRIMARY KEY,
  tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  client_id     bigint REFERENCES clients(id),
  seller_id     bigint REFERENCES sellers(id),
  meeting_date  date,
  closed        boolean NOT NULL DEFAULT false,
  transcript    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meetings_by_tenant ON meetings (tenant_id, id);

CREATE TABLE batches (
  id          uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind        text NOT NULL,
  total       integer NOT NULL,
  request_id  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per unit of work. published_at is the outbox mark: NULL until the broker
-- confirmed the message, so a relay can republish what a crash left behind.
CREATE TABLE tasks (
  id               uuid PRIMARY KEY,
  tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind             text NOT NULL,
  subject_id       bigint NOT NULL,
  batch_id         uuid REFERENCES batches(id) ON DELETE SET NULL,
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'retrying', 'succeeded', 'failed',
                                     'dead', 'cancelled')),
  attempts         integer NOT NULL DEFAULT 0,
  error_code       text,
  error            text,
  result           jsonb,
  request_id       text,
  next_attempt_at  timestamptz,
  published_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);
-- At most one unfinished task per subject and kind: queueing twice is a no-op.
CREATE UNIQUE INDEX tasks_one_active ON tasks (tenant_id, kind, subject_id)
  WHERE status IN ('queued', 'running', 'retrying');
CREATE INDEX tasks_by_batch ON tasks (batch_id, status) WHERE batch_id IS NOT NULL;
CREATE INDEX tasks_unpublished ON tasks (created_at) WHERE published_at IS NULL;

CREATE TABLE classifications (
  meeting_id               bigint PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
  tenant_id                uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  task_id                  uuid NOT NULL,
  business_sector          text NOT NULL,
  company_size             text NOT NULL,
  region                   text NOT NULL,
  lead_source              text NOT NULL,
  vambe_product            text NOT NULL,
  use_case                 text NOT NULL,
  primary_pain_point       text NOT NULL,
  urgency                  boolean NOT NULL,
  decision_maker_role      text NOT NULL,
  purchase_stage           text NOT NULL,
  language                 text NOT NULL,
  lost_client_bad_meeting  boolean NOT NULL,
  sentiment                text NOT NULL,
  confidence_score         double precision NOT NULL,
  result                   jsonb NOT NULL,
  provider                 text NOT NULL,
  model                    text NOT NULL,
  prompt_version           text NOT NULL,
  taxonomy_version         text NOT NULL,
  tokens_in                integer NOT NULL DEFAULT 0,
  tokens_out               integer NOT NULL DEFAULT 0,
  latency_ms               integer NOT NULL DEFAULT 0,
  attempts                 integer NOT NULL DEFAULT 1,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX classifications_by_tenant ON classifications (tenant_id, meeting_id);

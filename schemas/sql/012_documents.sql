-- 012: documents and their chunks. A document keeps its uploaded bytes until processed
-- (workers read them from here), its processing result, and a content hash that makes
-- the same upload twice one document. Chunks carry their embedding as float32
-- little-endian bytes; search reads them per tenant.

CREATE TABLE documents (
  id                      bigserial PRIMARY KEY,
  tenant_id               uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  title                   text NOT NULL,
  description             text,
  filename                text,
  mime_type               text NOT NULL,
  size_bytes              integer NOT NULL,
  content_hash            text NOT NULL,
  content                 bytea NOT NULL,
  metadata                jsonb NOT NULL DEFAULT '{}',
  status                  text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  total_chunks            integer NOT NULL DEFAULT 0,
  chunks_done             integer NOT NULL DEFAULT 0,
  error_message           text,
  processing_time_seconds double precision,
  task_id                 uuid,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  started_at              timestamptz,
  finished_at             timestamptz,
  UNIQUE (tenant_id, content_hash)
);
CREATE INDEX documents_by_tenant ON documents (tenant_id, id);

CREATE TABLE document_chunks (
  id           bigserial PRIMARY KEY,
  document_id  bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  tenant_id    uuid NOT NULL,
  chunk_index  integer NOT NULL,
  content      text NOT NULL,
  page         integer,
  start_offset integer NOT NULL,
  end_offset   integer NOT NULL,
  embedding    bytea NOT NULL,
  UNIQUE (document_id, chunk_index)
);
CREATE INDEX document_chunks_by_tenant ON document_chunks (tenant_id, id);

-- 013: a version per tenant that changes whenever the tenant's chunks do, so a search
-- can tell in one row read whether the vectors it holds in memory are still current.

CREATE TABLE chunk_versions (
  tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
  version   bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION bump_chunk_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chunk_versions AS v (tenant_id, version)
  SELECT DISTINCT tenant_id, 1 FROM changed
  ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER chunks_inserted AFTER INSERT ON document_chunks
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_chunk_version();
CREATE TRIGGER chunks_deleted AFTER DELETE ON document_chunks
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_chunk_version();

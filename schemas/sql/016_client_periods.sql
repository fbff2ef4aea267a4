-- 016: clients ranked over fixed periods, so the engagement KPI reads its top clients
-- through an index instead of summing every client's days. Kept by the rollup job from
-- the daily client rows of rollup_meetings: calendar months and years, and the last 30,
-- 90 and 365 days ending on the day of the run. A KPI range is answered from a period
-- that contains it when the tenant had no meetings in the period outside the range.
CREATE TABLE rollup_client_periods (
  tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind          text NOT NULL,  -- month, year, last_30, last_90, last_365
  period_start  date NOT NULL,
  period_end    date NOT NULL,
  clients       integer NOT NULL,
  PRIMARY KEY (tenant_id, kind, period_start)
);

CREATE TABLE rollup_client_totals (
  tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind          text NOT NULL,
  period_start  date NOT NULL,
  client        text NOT NULL,
  meetings      integer NOT NULL,
  closed        integer NOT NULL,
  classified    integer NOT NULL,
  positive      integer NOT NULL,
  active_days   integer NOT NULL,
  last_meeting  date NOT NULL,
  PRIMARY KEY (tenant_id, kind, period_start, client)
);

CREATE INDEX rollup_client_totals_ranked ON rollup_client_totals (tenant_id, kind, period_start, meetings DESC, client);

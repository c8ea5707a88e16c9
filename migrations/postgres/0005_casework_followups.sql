-- Case-work follow-ups: caseload figures from an index, household changes for the timeline,
-- large imports committed by a background job with their progress.

-- The caseload figures (cases::store::kpis) count and average per worker over an area; every
-- column they read is here, so the district's figures never read the case rows.
CREATE INDEX cases_caseload ON cases(path, worker_id, station_id, status, next_follow_up_on, opened_on, plan_approved_on, closed_on);

-- Who joined, left or moved within a household, and relationship changes: the person timeline
-- shows a household's history to whoever may see its members.
CREATE TABLE household_events (
    id           UUID PRIMARY KEY,
    household_id UUID NOT NULL REFERENCES households(id),
    person_id    UUID NOT NULL REFERENCES persons(id),
    kind         TEXT NOT NULL,
    relation     TEXT,
    detail       TEXT,
    path         TEXT COLLATE "C" NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    by_user      UUID
);
CREATE INDEX household_events_household ON household_events(household_id, at);

-- An import batch is ready (previewed), queued, running, done or failed; a big one runs as a
-- job and reports its progress here so any instance can show it.
ALTER TABLE import_batches ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE import_batches ADD COLUMN total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE import_batches ADD COLUMN done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE import_batches ADD COLUMN existing BIGINT NOT NULL DEFAULT 0;
ALTER TABLE import_batches ADD COLUMN error TEXT;
ALTER TABLE import_batches ADD COLUMN started_at TIMESTAMPTZ;
ALTER TABLE import_batches ADD COLUMN finished_at TIMESTAMPTZ;

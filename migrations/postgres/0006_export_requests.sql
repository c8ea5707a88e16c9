-- A roster bigger than LINLI_EXPORT_MAX_PEOPLE: the worker asks with a reason, a station
-- manager (or the bureau) whose scope covers the worker decides, and the worker downloads it
-- once, within a day of the approval.
CREATE TABLE export_requests (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users(id),
    path       TEXT COLLATE "C" NOT NULL,
    query      TEXT NOT NULL,
    total      BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    status     TEXT NOT NULL,
    decided_by UUID REFERENCES users(id),
    decided_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX export_requests_path ON export_requests(path, status);
CREATE INDEX export_requests_user ON export_requests(user_id, created_at);

-- A roster bigger than LINLI_EXPORT_MAX_PEOPLE: the worker asks with a reason, a station
-- manager (or the bureau) whose scope covers the worker decides, and the worker downloads it
-- once, within a day of the approval.
CREATE TABLE export_requests (
    id         BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users(id),
    path       TEXT NOT NULL,
    query      TEXT NOT NULL,
    total      INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    status     TEXT NOT NULL,
    decided_by BLOB REFERENCES users(id),
    decided_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX export_requests_path ON export_requests(path, status);
CREATE INDEX export_requests_user ON export_requests(user_id, created_at);

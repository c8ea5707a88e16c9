-- An upload checked in the preview waits here until the user commits it (or it expires), so a
-- commit never depends on which instance served the preview.
CREATE TABLE import_batches (
    id         BLOB PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    file_name  TEXT NOT NULL,
    rows       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX import_batches_user ON import_batches(user_id);

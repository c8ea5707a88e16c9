-- An upload checked in the preview waits here until the user commits it (or it expires), so a
-- commit never depends on which instance served the preview.
CREATE TABLE import_batches (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL,
    file_name  TEXT NOT NULL,
    rows       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_batches_user ON import_batches(user_id);

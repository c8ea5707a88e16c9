-- Resident requests (接诉即办): categories with their handling unit and time limits, the
-- working-day calendar, requests with their parts (one per handling unit, for co-handling),
-- the event timeline, extensions, and the Open311 client apps.

CREATE TABLE request_categories (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    group_name       TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    keywords         TEXT NOT NULL DEFAULT '',
    -- Where a new request goes by default: its community, its street's station, or a department.
    default_unit     TEXT NOT NULL CHECK (default_unit IN ('community','station','department')),
    default_org_id   BLOB REFERENCES organisations(id),
    response_hours   INTEGER NOT NULL CHECK (response_hours > 0),
    resolve_days     INTEGER NOT NULL CHECK (resolve_days > 0),
    -- Open311 service definition attributes, a JSON array.
    attributes       TEXT NOT NULL DEFAULT '[]',
    active           INTEGER NOT NULL DEFAULT 1,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    created_by       BLOB,
    updated_at       TEXT NOT NULL,
    updated_by       BLOB
);

-- The State Council's yearly schedule: public holidays and make-up working days (调休).
CREATE TABLE holiday_ranges (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('holiday','workday')),
    start_on   TEXT NOT NULL,
    end_on     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by BLOB
);
CREATE INDEX holiday_ranges_start ON holiday_ranges(start_on);

CREATE TABLE request_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE requests (
    id              BLOB PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    category        TEXT NOT NULL REFERENCES request_categories(code),
    channel         TEXT NOT NULL CHECK (channel IN ('phone','web','open311','staff')),
    description     TEXT NOT NULL,
    place_id        BLOB NOT NULL REFERENCES places(id),
    path            TEXT NOT NULL,
    estate_id       BLOB REFERENCES estates(id),
    building        TEXT,
    address         TEXT NOT NULL,
    lat             REAL,
    lon             REAL,
    reporter_name   TEXT,
    phone_sealed    TEXT,
    phone_hash      TEXT,
    phone_masked    TEXT,
    person_id       BLOB REFERENCES persons(id),
    attributes      TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL CHECK (status IN ('accepted','dispatched','in_progress','resolved','closed','merged')),
    -- 首接负责: the unit that holds the request until it is dispatched (a place path).
    owner_path      TEXT NOT NULL,
    response_due    TEXT NOT NULL,
    resolve_due     TEXT NOT NULL,
    responded_at    TEXT,
    resolved_at     TEXT,
    closed_at       TEXT,
    escalation      INTEGER NOT NULL DEFAULT 0,
    escalated_at    TEXT,
    satisfaction    TEXT CHECK (satisfaction IN ('very_satisfied','satisfied','basically_satisfied','dissatisfied','very_dissatisfied')),
    merged_into     BLOB REFERENCES requests(id),
    tracking_hash   TEXT NOT NULL,
    client_id       BLOB,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    created_by      BLOB,
    updated_at      TEXT NOT NULL,
    updated_by      BLOB
);
CREATE INDEX requests_path_status ON requests(path, status, created_at);
CREATE INDEX requests_owner ON requests(owner_path, status, created_at);
CREATE INDEX requests_due ON requests(status, resolve_due);
CREATE INDEX requests_created ON requests(created_at);
CREATE INDEX requests_duplicates ON requests(estate_id, category, created_at);
CREATE INDEX requests_person ON requests(person_id);
CREATE INDEX requests_phone ON requests(phone_hash);
CREATE INDEX requests_tracking ON requests(tracking_hash);

-- One handling unit's share of a request: a community or station (a place) or a department.
CREATE TABLE request_parts (
    id           BLOB PRIMARY KEY,
    request_id   BLOB NOT NULL REFERENCES requests(id),
    unit_kind    TEXT NOT NULL CHECK (unit_kind IN ('place','org')),
    unit_id      BLOB NOT NULL,
    unit_name    TEXT NOT NULL,
    unit_path    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('dispatched','signed','resolved','returned','withdrawn')),
    due          TEXT NOT NULL,
    signed_at    TEXT,
    resolved_at  TEXT,
    resolution   TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    created_by   BLOB,
    updated_at   TEXT NOT NULL,
    updated_by   BLOB
);
CREATE INDEX request_parts_request ON request_parts(request_id);
CREATE INDEX request_parts_unit ON request_parts(unit_id, status, due);
CREATE INDEX request_parts_path ON request_parts(unit_path, status, due);

-- Everything that happened to a request, in order: who, when, why.
CREATE TABLE request_events (
    id          BLOB PRIMARY KEY,
    request_id  BLOB NOT NULL REFERENCES requests(id),
    part_id     BLOB REFERENCES request_parts(id),
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT,
    detail      TEXT NOT NULL DEFAULT '{}',
    -- Shown to the resident on the tracking page and in Open311 updates.
    public      INTEGER NOT NULL DEFAULT 0,
    at          TEXT NOT NULL,
    actor_id    BLOB,
    actor_name  TEXT NOT NULL
);
CREATE INDEX request_events_request ON request_events(request_id, at);

CREATE TABLE request_extensions (
    id           BLOB PRIMARY KEY,
    request_id   BLOB NOT NULL REFERENCES requests(id),
    part_id      BLOB NOT NULL REFERENCES request_parts(id),
    days         INTEGER NOT NULL CHECK (days > 0),
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending','approved','refused')),
    requested_by BLOB NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by   BLOB,
    decided_at   TEXT,
    decision_note TEXT
);
CREATE INDEX request_extensions_request ON request_extensions(request_id, status);

-- Registered Open311 client apps; the api_key is kept only as its SHA-256.
CREATE TABLE open311_clients (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    contact    TEXT NOT NULL DEFAULT '',
    active     INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    created_by BLOB
);

-- Shipped reference data loaded once per database (holiday table, request categories); a marker
-- row makes the load happen once even with several instances starting together, and never again
-- after the bureau has edited or emptied the table.
CREATE TABLE reference_seeds (
    name      TEXT PRIMARY KEY,
    seeded_at TEXT NOT NULL
);

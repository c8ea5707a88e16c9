-- Foundation: places, organisations, stations, staff, sessions, audit. Numbered alike for both backends.

CREATE TABLE places (
    id          BLOB PRIMARY KEY,
    parent_id   BLOB REFERENCES places(id),
    kind        TEXT NOT NULL CHECK (kind IN ('city','district','street','community','grid')),
    name        TEXT NOT NULL,
    code        TEXT,
    seg         TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    depth       INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    created_by  BLOB,
    updated_at  TEXT NOT NULL,
    updated_by  BLOB
);
CREATE UNIQUE INDEX places_parent_name ON places(parent_id, name);
CREATE INDEX places_kind_path ON places(kind, path);

CREATE TABLE organisations (
    id            BLOB PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('department','partner_org','property_company','governance_center')),
    name          TEXT NOT NULL,
    place_id      BLOB NOT NULL REFERENCES places(id),
    contact_name  TEXT,
    contact_phone TEXT,
    description   TEXT,
    active        INTEGER NOT NULL DEFAULT 1,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    created_by    BLOB,
    updated_at    TEXT NOT NULL,
    updated_by    BLOB
);
CREATE UNIQUE INDEX organisations_kind_name ON organisations(kind, name);
CREATE INDEX organisations_place ON organisations(place_id);

CREATE TABLE estates (
    id                  BLOB PRIMARY KEY,
    community_id        BLOB NOT NULL REFERENCES places(id),
    name                TEXT NOT NULL,
    address             TEXT,
    property_company_id BLOB REFERENCES organisations(id),
    active              INTEGER NOT NULL DEFAULT 1,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    created_by          BLOB,
    updated_at          TEXT NOT NULL,
    updated_by          BLOB
);
CREATE UNIQUE INDEX estates_community_name ON estates(community_id, name);

CREATE TABLE stations (
    id                BLOB PRIMARY KEY,
    place_id          BLOB NOT NULL REFERENCES places(id),
    name              TEXT NOT NULL UNIQUE,
    is_hub            INTEGER NOT NULL DEFAULT 0,
    host_community_id BLOB REFERENCES places(id),
    operator_id       BLOB REFERENCES organisations(id),
    service_domains   TEXT NOT NULL DEFAULT '',
    opened_on         TEXT,
    active            INTEGER NOT NULL DEFAULT 1,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    created_by        BLOB,
    updated_at        TEXT NOT NULL,
    updated_by        BLOB
);
CREATE INDEX stations_place ON stations(place_id);

CREATE TABLE users (
    id                   BLOB PRIMARY KEY,
    account              TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    disabled             INTEGER NOT NULL DEFAULT 0,
    locale               TEXT NOT NULL DEFAULT 'zh-CN',
    totp_secret          TEXT,
    totp_enabled         INTEGER NOT NULL DEFAULT 0,
    totp_last_step       INTEGER NOT NULL DEFAULT 0,
    organisation_id      BLOB REFERENCES organisations(id),
    demo                 INTEGER NOT NULL DEFAULT 0,
    last_login_at        TEXT,
    version              INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    created_by           BLOB,
    updated_at           TEXT NOT NULL,
    updated_by           BLOB
);

CREATE TABLE user_places (
    user_id  BLOB NOT NULL REFERENCES users(id),
    place_id BLOB NOT NULL REFERENCES places(id),
    PRIMARY KEY (user_id, place_id)
);
CREATE INDEX user_places_place ON user_places(place_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users(id),
    csrf         TEXT NOT NULL,
    stage        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ip           TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE login_failures (
    account      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TEXT
);

CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    win    INTEGER NOT NULL,
    hits   INTEGER NOT NULL,
    PRIMARY KEY (bucket, win)
);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0,
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT,
    location     TEXT,
    body         BLOB,
    created_at   TEXT NOT NULL
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor_id  BLOB,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT,
    ip        TEXT,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

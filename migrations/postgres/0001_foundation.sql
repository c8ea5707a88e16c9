-- Foundation: places, organisations, stations, staff, sessions, audit. Numbered alike for both backends.

CREATE TABLE places (
    id          UUID PRIMARY KEY,
    parent_id   UUID REFERENCES places(id),
    kind        TEXT NOT NULL CHECK (kind IN ('city','district','street','community','grid')),
    name        TEXT NOT NULL,
    code        TEXT,
    seg         TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL UNIQUE,
    depth       INTEGER NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  UUID,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  UUID
);
CREATE UNIQUE INDEX places_parent_name ON places(parent_id, name);
CREATE INDEX places_kind_path ON places(kind, path);

CREATE TABLE organisations (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('department','partner_org','property_company','governance_center')),
    name          TEXT NOT NULL,
    place_id      UUID NOT NULL REFERENCES places(id),
    contact_name  TEXT,
    contact_phone TEXT,
    description   TEXT,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID,
    updated_at    TIMESTAMPTZ NOT NULL,
    updated_by    UUID
);
CREATE UNIQUE INDEX organisations_kind_name ON organisations(kind, name);
CREATE INDEX organisations_place ON organisations(place_id);

CREATE TABLE estates (
    id                  UUID PRIMARY KEY,
    community_id        UUID NOT NULL REFERENCES places(id),
    name                TEXT NOT NULL,
    address             TEXT,
    property_company_id UUID REFERENCES organisations(id),
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          UUID,
    updated_at          TIMESTAMPTZ NOT NULL,
    updated_by          UUID
);
CREATE UNIQUE INDEX estates_community_name ON estates(community_id, name);

CREATE TABLE stations (
    id                UUID PRIMARY KEY,
    place_id          UUID NOT NULL REFERENCES places(id),
    name              TEXT NOT NULL UNIQUE,
    is_hub            BOOLEAN NOT NULL DEFAULT FALSE,
    host_community_id UUID REFERENCES places(id),
    operator_id       UUID REFERENCES organisations(id),
    service_domains   TEXT NOT NULL DEFAULT '',
    opened_on         DATE,
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    version           BIGINT NOT NULL DEFAULT 1,
    created_at        TIMESTAMPTZ NOT NULL,
    created_by        UUID,
    updated_at        TIMESTAMPTZ NOT NULL,
    updated_by        UUID
);
CREATE INDEX stations_place ON stations(place_id);

CREATE TABLE users (
    id                   UUID PRIMARY KEY,
    account              TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    role                 TEXT NOT NULL,
    password_hash        TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    locale               TEXT NOT NULL DEFAULT 'zh-CN',
    totp_secret          TEXT,
    totp_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step       BIGINT NOT NULL DEFAULT 0,
    organisation_id      UUID REFERENCES organisations(id),
    demo                 BOOLEAN NOT NULL DEFAULT FALSE,
    last_login_at        TIMESTAMPTZ,
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           TIMESTAMPTZ NOT NULL,
    created_by           UUID,
    updated_at           TIMESTAMPTZ NOT NULL,
    updated_by           UUID
);

CREATE TABLE user_places (
    user_id  UUID NOT NULL REFERENCES users(id),
    place_id UUID NOT NULL REFERENCES places(id),
    PRIMARY KEY (user_id, place_id)
);
CREATE INDEX user_places_place ON user_places(place_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users(id),
    csrf         TEXT NOT NULL,
    stage        TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ip           TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE login_failures (
    account      TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    win    BIGINT NOT NULL,
    hits   BIGINT NOT NULL,
    PRIMARY KEY (bucket, win)
);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    done         BOOLEAN NOT NULL DEFAULT FALSE,
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT,
    location     TEXT,
    body         BYTEA,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor_id  UUID,
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

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

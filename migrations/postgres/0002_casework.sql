-- Case work: households, persons (residents and clients), vulnerable-group tags, the search
-- index, assessment instruments, cases, assessments, support plans, service records.

CREATE TABLE households (
    id          UUID PRIMARY KEY,
    place_id    UUID NOT NULL REFERENCES places(id),
    path        TEXT COLLATE "C" NOT NULL,
    estate_id   UUID REFERENCES estates(id),
    building    TEXT,
    unit        TEXT,
    room        TEXT,
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  UUID,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  UUID
);
CREATE INDEX households_path ON households(path);

CREATE TABLE persons (
    id            UUID PRIMARY KEY,
    household_id  UUID REFERENCES households(id),
    relation      TEXT,
    place_id      UUID NOT NULL REFERENCES places(id),
    path          TEXT COLLATE "C" NOT NULL,
    estate_id     UUID REFERENCES estates(id),
    building      TEXT,
    unit          TEXT,
    room          TEXT,
    name          TEXT NOT NULL,
    sex           TEXT CHECK (sex IN ('male','female')),
    birth_date    DATE,
    id_sealed     TEXT,
    id_hash       TEXT,
    id_masked     TEXT,
    phone_sealed  TEXT,
    phone_hash    TEXT,
    phone_masked  TEXT,
    merged_into   UUID REFERENCES persons(id),
    anonymised_at TIMESTAMPTZ,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID,
    updated_at    TIMESTAMPTZ NOT NULL,
    updated_by    UUID
);
CREATE INDEX persons_path ON persons(path);
CREATE UNIQUE INDEX persons_id_hash ON persons(id_hash) WHERE id_hash IS NOT NULL AND merged_into IS NULL;
CREATE INDEX persons_phone_hash ON persons(phone_hash);
CREATE INDEX persons_name_birth ON persons(name, birth_date);
CREATE INDEX persons_household ON persons(household_id);

CREATE TABLE person_tags (
    id         UUID PRIMARY KEY,
    person_id  UUID NOT NULL REFERENCES persons(id),
    tag        TEXT NOT NULL,
    starts_on  DATE NOT NULL,
    ends_on    DATE,
    source     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by UUID
);
CREATE INDEX person_tags_person ON person_tags(person_id);
CREATE INDEX person_tags_tag ON person_tags(tag, person_id);

-- One row per (term, record): CJK unigrams and bigrams, pinyin and initials of names. Both
-- backends answer the same exact-term and prefix queries from the same rows.
CREATE TABLE search_terms (
    term      TEXT COLLATE "C" NOT NULL,
    entity    TEXT NOT NULL,
    entity_id UUID NOT NULL,
    person_id UUID NOT NULL,
    path      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX search_terms_term ON search_terms(term, path);
CREATE INDEX search_terms_entity ON search_terms(entity_id);

CREATE TABLE follow_up_tiers (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    interval_days BIGINT NOT NULL CHECK (interval_days > 0),
    sort          BIGINT NOT NULL DEFAULT 0,
    version       BIGINT NOT NULL DEFAULT 1,
    updated_at    TIMESTAMPTZ NOT NULL,
    updated_by    UUID
);

CREATE TABLE instruments (
    id            UUID PRIMARY KEY,
    code          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    name          TEXT NOT NULL,
    domain        TEXT NOT NULL,
    items         TEXT NOT NULL,
    bands         TEXT NOT NULL,
    reassess_days BIGINT NOT NULL CHECK (reassess_days > 0),
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID,
    UNIQUE (code, version)
);

CREATE TABLE case_counters (
    station_id UUID NOT NULL REFERENCES stations(id),
    year       BIGINT NOT NULL,
    last       BIGINT NOT NULL,
    PRIMARY KEY (station_id, year)
);

CREATE TABLE cases (
    id                  UUID PRIMARY KEY,
    number              TEXT NOT NULL UNIQUE,
    person_id           UUID NOT NULL REFERENCES persons(id),
    station_id          UUID NOT NULL REFERENCES stations(id),
    path                TEXT COLLATE "C" NOT NULL,
    domain              TEXT NOT NULL CHECK (domain IN ('social_assistance','elderly_care','child_welfare','community_governance','social_affairs','other')),
    source              TEXT NOT NULL CHECK (source IN ('walk_in','visit','referral','request','hotline')),
    status              TEXT NOT NULL CHECK (status IN ('intake','assessed','planned','closing','closed')),
    summary             TEXT NOT NULL,
    worker_id           UUID NOT NULL REFERENCES users(id),
    tier                TEXT REFERENCES follow_up_tiers(code),
    next_follow_up_on   DATE,
    opened_on           DATE NOT NULL,
    plan_approved_on    DATE,
    closure_reason      TEXT,
    closure_requested_by UUID,
    closed_on           DATE,
    closed_by           UUID,
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          UUID,
    updated_at          TIMESTAMPTZ NOT NULL,
    updated_by          UUID
);
CREATE INDEX cases_person ON cases(person_id);
CREATE INDEX cases_path_status ON cases(path, status);
CREATE INDEX cases_due ON cases(path, next_follow_up_on);
CREATE INDEX cases_worker_due ON cases(worker_id, next_follow_up_on);

CREATE TABLE assessments (
    id            UUID PRIMARY KEY,
    case_id       UUID NOT NULL REFERENCES cases(id),
    instrument_id UUID NOT NULL REFERENCES instruments(id),
    answers       TEXT NOT NULL,
    score         BIGINT NOT NULL,
    band          TEXT NOT NULL,
    assessed_on   DATE NOT NULL,
    reassess_on   DATE NOT NULL,
    notes         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID
);
CREATE INDEX assessments_case ON assessments(case_id);

CREATE TABLE support_plans (
    id           UUID PRIMARY KEY,
    case_id      UUID NOT NULL REFERENCES cases(id),
    goals        TEXT NOT NULL,
    actions      TEXT NOT NULL,
    review_on    DATE NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft','approved','superseded')),
    approved_at  TIMESTAMPTZ,
    approved_by  UUID,
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   UUID,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   UUID
);
CREATE INDEX support_plans_case ON support_plans(case_id);

CREATE TABLE service_records (
    id          UUID PRIMARY KEY,
    case_id     UUID NOT NULL REFERENCES cases(id),
    station_id  UUID NOT NULL REFERENCES stations(id),
    path        TEXT COLLATE "C" NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('home_visit','phone_follow_up','counselling','resource_linking','referral','group_activity')),
    occurred_on DATE NOT NULL,
    minutes     BIGINT NOT NULL CHECK (minutes >= 0),
    notes       TEXT NOT NULL,
    referred_to TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  UUID
);
CREATE INDEX service_records_case ON service_records(case_id, occurred_on);
CREATE INDEX service_records_path ON service_records(path, occurred_on);

-- Time-limited access to a child's records for a worker outside the case team.
CREATE TABLE child_access_grants (
    id         UUID PRIMARY KEY,
    person_id  UUID NOT NULL REFERENCES persons(id),
    user_id    UUID NOT NULL REFERENCES users(id),
    reason     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    granted_by UUID NOT NULL REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX child_access_grants_person ON child_access_grants(person_id, user_id);

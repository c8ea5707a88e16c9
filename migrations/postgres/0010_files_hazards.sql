-- Photos and documents of records (the bytes are in the object store), patrol tasks with their
-- checklist items, and the hazard register (隐患台账) with its event timeline.

CREATE TABLE files (
    id            UUID PRIMARY KEY,
    owner_kind    TEXT NOT NULL CHECK (owner_kind IN ('request','hazard')),
    owner_id      UUID NOT NULL,
    purpose       TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    width         BIGINT,
    height        BIGINT,
    sha256        TEXT NOT NULL,
    object_key    TEXT NOT NULL UNIQUE,
    thumb_key     TEXT,
    original_name TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    UUID
);
CREATE INDEX files_owner ON files(owner_kind, owner_id, created_at);

CREATE TABLE patrols (
    id           UUID PRIMARY KEY,
    place_id     UUID NOT NULL REFERENCES places(id),
    path         TEXT COLLATE "C" NOT NULL,
    checklist    TEXT NOT NULL,
    area         TEXT NOT NULL,
    due_on       DATE NOT NULL,
    assignee_id  UUID REFERENCES users(id),
    status       TEXT NOT NULL CHECK (status IN ('planned','done','cancelled')),
    summary      TEXT,
    done_at      TIMESTAMPTZ,
    done_by      UUID,
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   UUID,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   UUID
);
CREATE INDEX patrols_path ON patrols(path, status, due_on);
CREATE INDEX patrols_assignee ON patrols(assignee_id, status, due_on);

CREATE TABLE hazard_counters (
    year BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);

CREATE TABLE hazards (
    id           UUID PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    category     TEXT NOT NULL,
    risk_level   TEXT NOT NULL CHECK (risk_level IN ('major','high','general','low')),
    status       TEXT NOT NULL CHECK (status IN ('open','rectifying','rectified','closed')),
    description  TEXT NOT NULL,
    place_id     UUID NOT NULL REFERENCES places(id),
    path         TEXT COLLATE "C" NOT NULL,
    estate_id    UUID REFERENCES estates(id),
    building     TEXT,
    address      TEXT NOT NULL,
    lat          DOUBLE PRECISION,
    lon          DOUBLE PRECISION,
    responsible  TEXT NOT NULL DEFAULT '',
    deadline     DATE,
    person_id    UUID REFERENCES persons(id),
    case_id      UUID REFERENCES cases(id),
    request_id   UUID REFERENCES requests(id),
    patrol_id    UUID REFERENCES patrols(id),
    found_on     DATE NOT NULL,
    rectified_at TIMESTAMPTZ,
    closed_at    TIMESTAMPTZ,
    closure      TEXT,
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   UUID,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   UUID
);
CREATE INDEX hazards_path ON hazards(path, status, found_on);
CREATE INDEX hazards_found ON hazards(found_on);
CREATE INDEX hazards_deadline ON hazards(status, deadline);
CREATE INDEX hazards_person ON hazards(person_id);
CREATE INDEX hazards_case ON hazards(case_id);
CREATE INDEX hazards_request ON hazards(request_id);
CREATE INDEX hazards_patrol ON hazards(patrol_id);

-- One line of a patrol's checklist: the item code, what the grid worker found.
CREATE TABLE patrol_items (
    patrol_id  UUID NOT NULL REFERENCES patrols(id),
    seq        BIGINT NOT NULL,
    item       TEXT NOT NULL,
    result     TEXT CHECK (result IN ('ok','hazard','na')),
    note       TEXT,
    hazard_id  UUID REFERENCES hazards(id),
    PRIMARY KEY (patrol_id, seq)
);

CREATE TABLE hazard_events (
    id          UUID PRIMARY KEY,
    hazard_id   UUID NOT NULL REFERENCES hazards(id),
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT,
    at          TIMESTAMPTZ NOT NULL,
    actor_id    UUID,
    actor_name  TEXT NOT NULL
);
CREATE INDEX hazard_events_hazard ON hazard_events(hazard_id, at);

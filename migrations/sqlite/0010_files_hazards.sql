-- Photos and documents of records (the bytes are in the object store), patrol tasks with their
-- checklist items, and the hazard register (隐患台账) with its event timeline.

CREATE TABLE files (
    id            BLOB PRIMARY KEY,
    owner_kind    TEXT NOT NULL CHECK (owner_kind IN ('request','hazard')),
    owner_id      BLOB NOT NULL,
    purpose       TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    sha256        TEXT NOT NULL,
    object_key    TEXT NOT NULL UNIQUE,
    thumb_key     TEXT,
    original_name TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    BLOB
);
CREATE INDEX files_owner ON files(owner_kind, owner_id, created_at);

CREATE TABLE patrols (
    id           BLOB PRIMARY KEY,
    place_id     BLOB NOT NULL REFERENCES places(id),
    path         TEXT NOT NULL,
    checklist    TEXT NOT NULL,
    area         TEXT NOT NULL,
    due_on       TEXT NOT NULL,
    assignee_id  BLOB REFERENCES users(id),
    status       TEXT NOT NULL CHECK (status IN ('planned','done','cancelled')),
    summary      TEXT,
    done_at      TEXT,
    done_by      BLOB,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    created_by   BLOB,
    updated_at   TEXT NOT NULL,
    updated_by   BLOB
);
CREATE INDEX patrols_path ON patrols(path, status, due_on);
CREATE INDEX patrols_assignee ON patrols(assignee_id, status, due_on);

CREATE TABLE hazard_counters (
    year INTEGER PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE hazards (
    id           BLOB PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    category     TEXT NOT NULL,
    risk_level   TEXT NOT NULL CHECK (risk_level IN ('major','high','general','low')),
    status       TEXT NOT NULL CHECK (status IN ('open','rectifying','rectified','closed')),
    description  TEXT NOT NULL,
    place_id     BLOB NOT NULL REFERENCES places(id),
    path         TEXT NOT NULL,
    estate_id    BLOB REFERENCES estates(id),
    building     TEXT,
    address      TEXT NOT NULL,
    lat          REAL,
    lon          REAL,
    responsible  TEXT NOT NULL DEFAULT '',
    deadline     TEXT,
    person_id    BLOB REFERENCES persons(id),
    case_id      BLOB REFERENCES cases(id),
    request_id   BLOB REFERENCES requests(id),
    patrol_id    BLOB REFERENCES patrols(id),
    found_on     TEXT NOT NULL,
    rectified_at TEXT,
    closed_at    TEXT,
    closure      TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    created_by   BLOB,
    updated_at   TEXT NOT NULL,
    updated_by   BLOB
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
    patrol_id  BLOB NOT NULL REFERENCES patrols(id),
    seq        INTEGER NOT NULL,
    item       TEXT NOT NULL,
    result     TEXT CHECK (result IN ('ok','hazard','na')),
    note       TEXT,
    hazard_id  BLOB REFERENCES hazards(id),
    PRIMARY KEY (patrol_id, seq)
);

CREATE TABLE hazard_events (
    id          BLOB PRIMARY KEY,
    hazard_id   BLOB NOT NULL REFERENCES hazards(id),
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT,
    at          TEXT NOT NULL,
    actor_id    BLOB,
    actor_name  TEXT NOT NULL
);
CREATE INDEX hazard_events_hazard ON hazard_events(hazard_id, at);

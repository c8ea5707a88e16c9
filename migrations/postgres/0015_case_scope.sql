-- A station sees a person through the cases it holds (people::store::visible): the client's
-- address path is kept beside each case's own (its station's), so the residents of a street
-- whose cases another station holds are found from the cases alone, without visiting every
-- resident. It follows the person when their address changes.
ALTER TABLE cases ADD COLUMN person_path TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE cases SET person_path = p.path FROM persons p WHERE p.id = cases.person_id;
ALTER TABLE cases ALTER COLUMN person_path DROP DEFAULT;
CREATE INDEX cases_person_path ON cases(person_path, path, person_id);
CREATE INDEX cases_path_client ON cases(path, person_path, person_id);

-- Each move of a case to another station, with its reason: shown on the case page.
CREATE TABLE case_transfers (
    id              UUID PRIMARY KEY,
    case_id         UUID NOT NULL REFERENCES cases(id),
    from_station_id UUID NOT NULL REFERENCES stations(id),
    to_station_id   UUID NOT NULL REFERENCES stations(id),
    reason          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    created_by      UUID REFERENCES users(id)
);
CREATE INDEX case_transfers_case ON case_transfers(case_id, created_at);

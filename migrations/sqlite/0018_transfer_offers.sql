-- A transfer is an offer until the receiving station's manager accepts it (the case moves, as a
-- row of case_transfers names) or refuses it with a reason (it stays); the sender may withdraw
-- it while it is pending. One pending offer per case; the state changes only from 'pending',
-- in a conditional UPDATE, so of two decisions at once exactly one is taken.
CREATE TABLE case_transfer_offers (
    id              BLOB PRIMARY KEY,
    case_id         BLOB NOT NULL REFERENCES cases(id),
    from_station_id BLOB NOT NULL REFERENCES stations(id),
    to_station_id   BLOB NOT NULL REFERENCES stations(id),
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'refused', 'withdrawn')),
    offered_at      TEXT NOT NULL,
    offered_by      BLOB REFERENCES users(id),
    decided_at      TEXT,
    decided_by      BLOB REFERENCES users(id),
    decision_reason TEXT,
    transfer_id     BLOB REFERENCES case_transfers(id)
);
CREATE UNIQUE INDEX case_transfer_offers_one_pending ON case_transfer_offers(case_id) WHERE state = 'pending';
CREATE INDEX case_transfer_offers_to ON case_transfer_offers(to_station_id, state);
CREATE INDEX case_transfer_offers_from ON case_transfer_offers(from_station_id, state);

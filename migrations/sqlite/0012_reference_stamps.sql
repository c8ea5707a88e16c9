-- Reference tables an app instance keeps a parsed copy of (the working calendar): each change
-- writes a new stamp in its own transaction, and every use reads the stamp with its other
-- rows, so a copy is used only while it is current, on every instance. The stamp is set by
-- the reference data's seeding (requests::defaults), a random one per database.
CREATE TABLE reference_stamps (
    name TEXT PRIMARY KEY,
    stamp TEXT NOT NULL
);

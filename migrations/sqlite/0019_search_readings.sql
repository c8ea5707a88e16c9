-- What each index row stands for (0 text, 1 full pinyin, 2 initials): search ranks a person
-- whose full pinyin matches above one whose initials do.
ALTER TABLE search_terms ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;

-- How far each kind of record has been indexed again after its terms changed (names: surname
-- readings, every reading of polyphonic characters; requests and hazards: not indexed
-- before). A migration cannot run the Rust tokenizer: each instance's start does it in
-- batches (`search::reindex_all`), moving `cursor_id` with a compare-and-set on `batch`, and
-- sets `version` when done.
CREATE TABLE search_reindex (
    entity    TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    cursor_id BLOB,
    batch     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO search_reindex (entity, version, batch) VALUES ('person', 1, 0), ('request', 0, 0), ('hazard', 0, 0);

-- Requests and hazards are searched by their text too: a query reads one kind's rows of a term,
-- in id order, without visiting the people's and notes' rows of the same term.
CREATE INDEX search_terms_entity_term ON search_terms(entity, term, entity_id);

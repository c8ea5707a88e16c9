-- A text search of requests pages by walking the term index instead of collecting every
-- match: a two-character word is in a fifth of a district's million requests, and reading all
-- of them to sort out the newest 50 cost a second a query.
-- * Newest first: the rows of one kind and term in record-id order (ids are UUIDv7, minted at
--   intake, so id order is intake order), with the record's path in the index so that a
--   scope test needs no visit to the table.
-- * A scope's count: the rows of one term and kind inside a place's path range, read from the
--   index alone (people search uses the same index for its term and scope).
DROP INDEX search_terms_entity_term;
CREATE INDEX search_terms_walk ON search_terms(entity, term, entity_id, path);
DROP INDEX search_terms_term;
CREATE INDEX search_terms_term ON search_terms(term, entity, path, entity_id);

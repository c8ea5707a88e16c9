-- Most requests link no person and many no estate: their rows no longer go into these
-- indexes (one page fewer for intake to write each), and the lookups by person and by estate
-- (duplicates) compare with = and still use them.
DROP INDEX requests_person;
CREATE INDEX requests_person ON requests(person_id) WHERE person_id IS NOT NULL;
DROP INDEX requests_duplicates;
CREATE INDEX requests_duplicates ON requests(estate_id, category, created_at) WHERE estate_id IS NOT NULL;

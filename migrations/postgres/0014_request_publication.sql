-- What the public may read of a request (Open311, the tracking page). Nothing a resident or
-- staff member typed is public until it is published: residents' own reports (web, Open311)
-- are published on intake unless they name a resident's record; staff intakes and requests
-- linked to a person only when staff publish them. The public wording and address are NULL
-- while they are derived (redacted) from the original; staff may word them by hand, and the
-- original stays internal.
ALTER TABLE requests ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN public_text TEXT;
ALTER TABLE requests ADD COLUMN public_address TEXT;
UPDATE requests SET published = TRUE WHERE channel IN ('web', 'open311') AND person_id IS NULL;
-- The public feed, newest first, reads only published requests.
CREATE INDEX requests_published ON requests(created_at) WHERE published;

-- An event may be public (the resident sees that it happened) while its note stays internal:
-- dispatch, work and callback notes are internal unless staff choose otherwise. Residents'
-- own notes were written for the public.
ALTER TABLE request_events ADD COLUMN note_public BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE request_events SET note_public = TRUE WHERE kind = 'resident_note';

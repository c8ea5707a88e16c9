-- Request queues at a district's scale (a million requests; found by benches/requests.rs).
--
-- The overdue queue and the escalation sweep: open requests by due time, holding every column
-- the queue filters and sorts on, so a page and its capped count are read from the index alone
-- instead of visiting rows among the million closed requests. The WHERE is written exactly as
-- the queries' own.
CREATE INDEX requests_open_due ON requests(resolve_due, id, status, path, owner_path)
    WHERE status IN ('accepted', 'dispatched', 'in_progress');
-- A queue by status, newest first (待派单 is status 'accepted' within the owner's area): read
-- in order and stopped at the page, where (status, resolve_due) made every accepted request
-- be fetched and sorted. The open-due index above takes the old index's other use.
DROP INDEX requests_due;
CREATE INDEX requests_status_created ON requests(status, created_at, owner_path);
-- The area queue reads requests newest first and tests the scope on each: with the scope
-- columns in the index, a request outside the area is passed over without reading its row.
DROP INDEX requests_created;
CREATE INDEX requests_created ON requests(created_at, path, owner_path);
-- A request's parts by unit: the area queue's test "has a part in my area" from the index.
DROP INDEX request_parts_request;
CREATE INDEX request_parts_request ON request_parts(request_id, unit_kind, unit_path);
-- Parts a unit has still to handle (the overdue queue's parts leg and the 'mine' queue): a
-- handful per community, where the full parts index ranges over every part the place ever had.
CREATE INDEX request_parts_active ON request_parts(unit_kind, unit_path, request_id)
    WHERE status IN ('dispatched', 'signed');

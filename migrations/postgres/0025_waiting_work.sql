-- What the homes list as waiting is, by its nature, few rows among many: escalated open
-- requests, requests resolved and waiting for their callback, a department's open parts,
-- draft plans, extensions asked for. Each gets an index of only those rows, in the list's
-- order, so that a home reads them instead of every request or case of its scope and then
-- looks for the few (a station manager's extensions read the street's 25,000 requests to find
-- none: 176 ms at 100,000 requests; the bureau's escalations, PostgreSQL, over a second at a
-- million).
CREATE INDEX requests_escalated_open ON requests(escalation DESC, resolve_due, id, path, owner_path)
    WHERE status IN ('accepted', 'dispatched', 'in_progress') AND escalation > 0;
CREATE INDEX support_plans_draft ON support_plans(updated_at, id, case_id) WHERE status = 'draft';
CREATE INDEX request_extensions_pending ON request_extensions(requested_at, id, request_id) WHERE status = 'pending';
CREATE INDEX requests_resolved ON requests(resolved_at, id, path, owner_path) WHERE status = 'resolved';
CREATE INDEX request_parts_active_unit ON request_parts(unit_id, due, id) WHERE status IN ('dispatched', 'signed');

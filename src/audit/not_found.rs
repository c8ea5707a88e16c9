//! Audit rows for ids a signed-in caller asked for and did not get.
//!
//! A record outside the caller's scope answers exactly like a missing one (404). Every 404 a
//! signed-in caller gets on a route with an `{id}` is audited, missing ids included: the row
//! names the route template (never the concrete path), the id, and whether a record with that
//! id exists at all. Auditing only the ids that exist would make the audit write itself an
//! oracle: an out-of-scope id would cost a commit that a missing one does not, and the answer's
//! timing would tell the two apart. With every 404 audited both cost the same, and `exists`
//! lets an auditor tell a reach into another scope from a stale link or a probe.
//!
//! The log is hash-chained and appended one row at a time, so an account's 404s are audited up
//! to [`PER_MINUTE`] a minute; beyond that only the rate-limit counter moves.

use uuid::Uuid;

use super::{Actor, Entry};
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::ratelimit::Limit;

/// Audit rows of 404s per account and minute.
pub const PER_MINUTE: u32 = 60;

/// What an id route names, from the path segment before `{id}`: (the entity as audit rows call
/// it, its table). Like search/, this reads the tables of many domains, and only to ask whether
/// an id exists. `tests/it/audit.rs` checks that every id route is listed.
pub fn target_of(route: &str) -> Option<(&'static str, &'static str)> {
    let before = route.split('/').take_while(|s| *s != "{id}").last()?;
    Some(match before {
        "tokens" => ("api_token", "api_tokens"),
        "places" => ("place", "places"),
        "estates" => ("estate", "estates"),
        "organisations" => ("organisation", "organisations"),
        "stations" => ("station", "stations"),
        "staff" => ("user", "users"),
        "import" | "imports" => ("import_batch", "import_batches"),
        "export-requests" => ("export_request", "export_requests"),
        "people" => ("person", "persons"),
        "person-tags" => ("person_tag", "person_tags"),
        "child-grants" => ("child_grant", "child_access_grants"),
        "case-records" => ("service_record", "service_records"),
        "cases" => ("case", "cases"),
        "transfers" | "transfer-offers" => ("transfer_offer", "case_transfer_offers"),
        "requests" => ("request", "requests"),
        "request-parts" => ("request_part", "request_parts"),
        "request-extensions" => ("request_extension", "request_extensions"),
        "request-events" => ("request_event", "request_events"),
        "hazards" => ("hazard", "hazards"),
        "patrols" => ("patrol", "patrols"),
        "files" => ("file", "files"),
        _ => return None,
    })
}

/// The id in `path` where `route` has `{id}`.
fn id_in<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let at = route.split('/').position(|s| s == "{id}")?;
    path.split('/').nth(at).filter(|s| !s.is_empty())
}

/// Records a signed-in caller's 404 on `route` (a template with `{id}`), in a transaction of its
/// own. Errors are the caller's to ignore: the answer has been decided already.
pub async fn record(
    db: &Db,
    actor: &Actor,
    user_id: Uuid,
    method: &str,
    route: &str,
    path: &str,
) -> Result<(), sqlx::Error> {
    let Some(id) = id_in(route, path) else { return Ok(()) };
    let target = target_of(route);
    let exists = match (target, Uuid::parse_str(id)) {
        (Some((_, table)), Ok(uuid)) => {
            let mut args = Args::new();
            let sql = format!("SELECT id FROM {table} WHERE id = {}", args.push(uuid));
            Some(query::optional::<(Uuid,)>(db, &sql, &args).await?.is_some())
        }
        _ => None,
    };
    let mut tx = db.begin().await?;
    if Limit::new(format!("audit404:{user_id}"), PER_MINUTE, 60).hit_in(&mut tx).await? {
        super::record(
            &mut tx,
            actor,
            Entry {
                action: "access.not_found",
                entity: target.map_or("route", |t| t.0),
                entity_id: Some(id.to_string()),
                detail: serde_json::json!({ "route": format!("{method} {route}"), "exists": exists }),
            },
        )
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_and_its_table_come_from_the_route_template() {
        assert_eq!(id_in("/api/v1/people/{id}/timeline", "/api/v1/people/abc/timeline"), Some("abc"));
        assert_eq!(id_in("/people/{id}", "/people/"), None);
        assert_eq!(target_of("/api/v1/people/{id}/timeline"), Some(("person", "persons")));
        assert_eq!(target_of("/people/import/{id}"), Some(("import_batch", "import_batches")));
        assert_eq!(target_of("/request-categories/{name}/edit"), None);
    }
}

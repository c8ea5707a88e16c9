//! All SQL of the org domain. Every read takes the caller's `Scope` and filters inside the query.

use chrono::Utc;
use uuid::Uuid;

use super::model::*;
use crate::audit::{self, Actor, Entry};
use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Db, Tx};
use crate::error::{AppError, FieldErrors, on_unique};
use crate::{read, write};

const PLACE_COLS: &str = "p.id, p.parent_id, p.kind, p.name, p.code, p.path, p.depth, p.active, p.version, p.updated_at, p.lat, p.lon, p.radius_m, pp.name AS parent_name";
const PLACE_FROM: &str = "FROM places p LEFT JOIN places pp ON pp.id = p.parent_id";

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlaceFilter {
    /// city, district, street, community or grid.
    pub kind: Option<String>,
    /// Name contains this text.
    pub q: Option<String>,
    /// Only direct children of this place.
    pub parent_id: Option<Uuid>,
    /// Include deactivated places.
    pub inactive: Option<bool>,
}

/// `WHERE` text of a place list; its values go into `args`.
fn place_where(scope: &Scope, f: &PlaceFilter, args: &mut Args) -> String {
    let mut sql = args.scope("p.path", scope);
    if let Some(k) = f.kind.as_deref().and_then(PlaceKind::parse) {
        sql.push_str(&format!(" AND p.kind = {}", args.push(k.as_str())));
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        sql.push_str(&format!(" AND p.name LIKE {} ESCAPE '\\'", args.push(like_pattern(q))));
    }
    if !f.inactive.unwrap_or(false) {
        sql.push_str(" AND p.active");
    }
    if let Some(parent) = f.parent_id {
        sql.push_str(&format!(" AND p.parent_id = {}", args.push(parent)));
    }
    sql
}

/// `%text%` for LIKE, with the wildcards in `text` escaped (ESCAPE '\\').
pub fn like_pattern(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

pub async fn list_places(
    db: &Db,
    scope: &Scope,
    f: &PlaceFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Place>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = place_where(scope, f, &mut args);
    let select = format!("SELECT {PLACE_COLS} {PLACE_FROM} WHERE {wh} ORDER BY p.path");
    query::page(db, &select, &format!("FROM places p WHERE {wh}"), &args, limit, offset).await
}

/// A place inside the scope, or None (missing and out of scope look the same).
pub async fn get_place(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Place>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {PLACE_COLS} {PLACE_FROM} WHERE p.id = {} AND {}", args.push(id), args.scope("p.path", scope));
    query::optional(db, &sql, &args).await
}

/// Ancestors of a path, root first, for breadcrumbs: (id, name, inside the scope). Ancestors
/// above the scope are named but not linked, so a community worker still sees where they are.
pub async fn ancestors(db: &Db, scope: &Scope, path: &str) -> Result<Vec<(Uuid, String, bool)>, sqlx::Error> {
    let prefixes: Vec<String> = path
        .match_indices('/')
        .map(|(i, _)| path[..=i].to_string())
        .filter(|p| p.len() > 1 && p.len() < path.len())
        .collect();
    if prefixes.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::new();
    let sql = format!("SELECT id, name, path FROM places WHERE path IN ({}) ORDER BY depth", args.list(&prefixes));
    let rows: Vec<(Uuid, String, String)> = query::all(db, &sql, &args).await?;
    Ok(rows.into_iter().map(|(id, name, path)| (id, name, scope.covers(&path))).collect())
}

/// Places of given kinds inside the scope, as (id, "parent / name") for select boxes.
pub async fn place_options(db: &Db, scope: &Scope, kinds: &[PlaceKind]) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let mut args = Args::new();
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let sql = format!(
        "SELECT p.id, p.name, pp.name {PLACE_FROM} WHERE {} AND p.active AND p.kind IN ({}) ORDER BY p.path",
        args.scope("p.path", scope),
        args.list(&kinds)
    );
    let rows: Vec<(Uuid, String, Option<String>)> = query::all(db, &sql, &args).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, parent)| (id, parent.map_or_else(|| name.clone(), |p| format!("{p} / {name}"))))
        .collect())
}

pub fn validate_new(input: &NewPlace, errors: &mut FieldErrors) -> (String, Option<String>) {
    let name = crate::web::form::clean_name(&input.name, "name", 60, errors);
    let code = input.code.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    if let Some(c) = &code
        && !valid_code(c)
    {
        errors.add("code", "error.code_format");
    }
    (name, code)
}

pub async fn create_place(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    input: &NewPlace,
    can_create_root: bool,
) -> Result<Place, AppError> {
    let mut errors = FieldErrors::default();
    let (name, code) = validate_new(input, &mut errors);
    let parent = match (input.kind.parent(), input.parent_id) {
        (None, None) if can_create_root => None,
        (None, _) => {
            errors.add("kind", "place.city_is_root");
            None
        }
        (Some(_), None) => {
            errors.add("parent_id", "error.required");
            None
        }
        (Some(want), Some(pid)) => match get_place(db, scope, pid).await? {
            Some(p) if p.kind() == want && p.active => Some(p),
            Some(p) if p.kind() != want => {
                errors.add("parent_id", "place.wrong_parent_kind");
                None
            }
            _ => {
                errors.add("parent_id", "place.parent_not_found");
                None
            }
        },
    };
    errors.into_result()?;
    let mut tx = db.begin().await?;
    let anchor = parent.as_ref().map(|p| ParentRef { id: p.id, path: p.path.clone(), depth: p.depth });
    let (id, path, depth, now) = insert_place(&mut tx, actor, anchor.as_ref(), input.kind, &name, code.as_deref())
        .await
        .map_err(on_unique("name", "place.duplicate_name"))?;
    if anchor.is_none() {
        // Whoever creates a new top-level place (a system administrator) is bound to it, or
        // they could not see what they just made.
        if let Some(uid) = actor.id {
            write!(&mut tx, |c| sqlx::query("INSERT INTO user_places (user_id, place_id) VALUES ($1, $2)")
                .bind(uid)
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))?;
        }
    }
    tx.commit().await?;
    Ok(Place {
        id,
        parent_id: parent.as_ref().map(|p| p.id),
        kind: input.kind.as_str().into(),
        name,
        code,
        path,
        depth,
        active: true,
        version: 1,
        updated_at: now,
        lat: None,
        lon: None,
        radius_m: None,
        parent_name: parent.map(|p| p.name),
    })
}

pub struct ParentRef {
    pub id: Uuid,
    pub path: String,
    pub depth: i32,
}

/// Inserts one place (validated by the caller) with its audit row, inside `tx`.
pub async fn insert_place(
    tx: &mut Tx,
    actor: &Actor,
    parent: Option<&ParentRef>,
    kind: PlaceKind,
    name: &str,
    code: Option<&str>,
) -> Result<(Uuid, String, i32, chrono::DateTime<Utc>), sqlx::Error> {
    let id = Uuid::now_v7();
    let seg = next_segment(tx, parent.map(|p| p.id)).await?;
    let (path, depth) = match parent {
        Some(p) => (format!("{}{seg}/", p.path), p.depth + 1),
        None => (format!("/{seg}/"), 0),
    };
    let now = Utc::now();
    write!(tx, |c| {
        sqlx::query(
            "INSERT INTO places (id, parent_id, kind, name, code, seg, path, depth, active, version, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, 1, $9, $10, $9, $10)",
        )
        .bind(id)
        .bind(parent.map(|p| p.id))
        .bind(kind.as_str())
        .bind(name)
        .bind(code)
        .bind(&seg)
        .bind(&path)
        .bind(depth)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    audit::record(
        tx,
        actor,
        Entry {
            action: "place.create",
            entity: "place",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({"kind": kind.as_str(), "name": name, "parent_id": parent.map(|p| p.id)}),
        },
    )
    .await?;
    Ok((id, path, depth, now))
}

/// The next free path segment under a parent: siblings sort in the order they were created.
/// On PostgreSQL the parent row is locked first, so concurrent inserts under one parent queue
/// instead of racing for the same segment; SQLite's single writer already serialises them.
async fn next_segment(tx: &mut Tx, parent: Option<Uuid>) -> Result<String, sqlx::Error> {
    if let (Tx::Postgres(t), Some(p)) = (&mut *tx, parent) {
        sqlx::query("SELECT id FROM places WHERE id = $1 FOR UPDATE").bind(p).execute(&mut **t).await?;
    }
    let max: (Option<String>,) = write!(tx, |c| match parent {
        Some(p) => sqlx::query_as("SELECT MAX(seg) FROM places WHERE parent_id = $1").bind(p).fetch_one(c).await,
        None => sqlx::query_as("SELECT MAX(seg) FROM places WHERE parent_id IS NULL").fetch_one(c).await,
    })?;
    let next = max.0.and_then(|m| u64::from_str_radix(&m, 36).ok()).map_or(1, |n| n + 1);
    Ok(segment_of(next))
}

/// Bumps the version only if it still matches: the optimistic lock for every edit.
async fn bump_version(
    tx: &mut Tx,
    table: &'static str,
    id: Uuid,
    version: Option<i64>,
    actor: &Actor,
) -> Result<(), AppError> {
    let now = Utc::now();
    let sql = format!(
        "UPDATE {table} SET version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3 AND ($4 IS NULL OR version = $4)"
    );
    let n = write!(tx, |c| sqlx::query(&sql)
        .bind(now)
        .bind(actor.id)
        .bind(id)
        .bind(version)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 0 { Err(AppError::Stale) } else { Ok(()) }
}

pub async fn update_place(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    change: &PlaceChange,
) -> Result<Place, AppError> {
    let place = get_place(db, scope, id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let name = crate::web::form::clean_name(&change.name, "name", 60, &mut errors);
    let code = change.code.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
    if code.as_deref().is_some_and(|c| !valid_code(c)) {
        errors.add("code", "error.code_format");
    }
    let (lat, lon) = (change.lat.unwrap_or(place.lat), change.lon.unwrap_or(place.lon));
    let radius_m = change.radius_m.unwrap_or(place.radius_m);
    match (lat, lon) {
        (Some(a), Some(b)) if !(a.is_finite() && b.is_finite() && a.abs() <= 90.0 && b.abs() <= 180.0) => {
            errors.add("lat", "request.bad_coordinate")
        }
        (Some(_), None) => errors.add("lon", "error.required"),
        (None, Some(_)) => errors.add("lat", "error.required"),
        _ => {}
    }
    if radius_m.is_some_and(|r| !(1..=200_000).contains(&r)) {
        errors.add("radius_m", "place.bad_radius");
    }
    errors.into_result()?;
    let mut tx = db.begin().await?;
    bump_version(&mut tx, "places", id, change.version, actor).await?;
    let res = write!(&mut tx, |c| {
        sqlx::query("UPDATE places SET name = $1, code = $2, lat = $4, lon = $5, radius_m = $6 WHERE id = $3")
            .bind(&name)
            .bind(&code)
            .bind(id)
            .bind(lat)
            .bind(lon)
            .bind(radius_m)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    });
    res.map_err(on_unique("name", "place.duplicate_name"))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "place.update",
            entity: "place",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({
                "name": [place.name, name],
                "code": [place.code, code],
                "lat": [place.lat, lat],
                "lon": [place.lon, lon],
                "radius_m": [place.radius_m, radius_m],
            }),
        },
    )
    .await?;
    tx.commit().await?;
    get_place(db, scope, id).await?.ok_or(AppError::NotFound)
}

/// Moves a place and its whole subtree under a new parent of the right kind, in one statement.
pub async fn move_place(db: &Db, scope: &Scope, actor: &Actor, id: Uuid, m: &PlaceMove) -> Result<Place, AppError> {
    let place = get_place(db, scope, id).await?.ok_or(AppError::NotFound)?;
    let Some(want) = place.kind().parent() else {
        return Err(AppError::field("new_parent_id", "place.city_is_root"));
    };
    let Some(parent) = get_place(db, scope, m.new_parent_id).await?.filter(|p| p.active) else {
        return Err(AppError::field("new_parent_id", "place.parent_not_found"));
    };
    if parent.path.starts_with(&place.path) {
        return Err(AppError::field("new_parent_id", "place.move_into_self"));
    }
    if parent.kind() != want {
        return Err(AppError::field("new_parent_id", "place.wrong_parent_kind"));
    }
    if place.parent_id == Some(parent.id) {
        return Err(AppError::field("new_parent_id", "place.same_parent"));
    }
    let old_len = place.path.chars().count() as i32;
    let end = crate::scope::subtree_end(&place.path);
    let mut tx = db.begin().await?;
    bump_version(&mut tx, "places", id, m.version, actor).await?;
    // A new segment under the new parent: the old one may be taken by a sibling there.
    let seg = next_segment(&mut tx, Some(parent.id)).await?;
    let new_path = format!("{}{seg}/", parent.path);
    let res = write!(&mut tx, |c| {
        sqlx::query("UPDATE places SET parent_id = $1, seg = $2 WHERE id = $3")
            .bind(parent.id)
            .bind(&seg)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        sqlx::query("UPDATE places SET path = $1 || substr(path, $2) WHERE path >= $3 AND path < $4")
            .bind(&new_path)
            .bind(old_len + 1)
            .bind(&place.path)
            .bind(&end)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    });
    res.map_err(on_unique("new_parent_id", "place.duplicate_name"))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "place.move",
            entity: "place",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({"from": place.parent_id, "to": parent.id}),
        },
    )
    .await?;
    tx.commit().await?;
    get_place(db, scope, id).await?.ok_or(AppError::NotFound)
}

pub async fn set_place_active(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    active: bool,
    version: Option<i64>,
) -> Result<(), AppError> {
    let place = get_place(db, scope, id).await?.ok_or(AppError::NotFound)?;
    if !active {
        let children: (i64,) = read!(db, |c| {
            sqlx::query_as("SELECT COUNT(*) FROM places WHERE parent_id = $1 AND active").bind(id).fetch_one(c).await
        })?;
        if children.0 > 0 {
            return Err(AppError::field("active", "place.has_active_children"));
        }
    } else if let Some(pid) = place.parent_id {
        let parent_active: Option<(bool,)> =
            read!(db, |c| sqlx::query_as("SELECT active FROM places WHERE id = $1").bind(pid).fetch_optional(c).await)?;
        if !parent_active.is_some_and(|p| p.0) {
            return Err(AppError::field("active", "place.parent_inactive"));
        }
    }
    let mut tx = db.begin().await?;
    bump_version(&mut tx, "places", id, version, actor).await?;
    write!(&mut tx, |c| sqlx::query("UPDATE places SET active = $1 WHERE id = $2")
        .bind(active)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if active { "place.activate" } else { "place.deactivate" },
            entity: "place",
            entity_id: Some(id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Counts of active places by kind inside the scope (home page).
pub async fn count_by_kind(db: &Db, scope: &Scope) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT p.kind, COUNT(*) FROM places p WHERE {} AND p.active GROUP BY p.kind",
        args.scope("p.path", scope)
    );
    query::all(db, &sql, &args).await
}

// ---- organisations, estates, stations -------------------------------------------------------

pub async fn list_organisations(
    db: &Db,
    scope: &Scope,
    kind: Option<OrgKind>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Organisation>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh = args.scope_visible("p.path", scope);
    if let Some(k) = kind {
        wh.push_str(&format!(" AND o.kind = {}", args.push(k.as_str())));
    }
    let select = format!("SELECT {ORG_COLS} {ORG_FROM} WHERE {wh} ORDER BY o.kind, o.name");
    query::page(db, &select, &format!("{ORG_FROM} WHERE {wh}"), &args, limit, offset).await
}

pub async fn get_organisation(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Organisation>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {ORG_COLS} {ORG_FROM} WHERE o.id = {} AND {}",
        args.push(id),
        args.scope_visible("p.path", scope)
    );
    query::optional(db, &sql, &args).await
}

/// An organisation the caller may change: one serving a place inside their scope. One above it
/// (a city association seen from a district) is shown to them but refused with a reason (403);
/// one they cannot see at all is missing (404).
pub async fn editable_organisation(db: &Db, scope: &Scope, id: Uuid) -> Result<Organisation, AppError> {
    let o = get_organisation(db, scope, id).await?.ok_or(AppError::NotFound)?;
    if !scope.covers(&o.place_path) {
        return Err(AppError::ForbiddenBecause("org.above_scope"));
    }
    Ok(o)
}

/// An active organisation inside the scope: one a staff account may be bound
/// to. A department handler reads the requests sent to their department, so the binding grants
/// what the organisation sees; an organisation of another district, or one above the caller (a
/// city department seen from a district), is not the caller's to grant. None when unknown,
/// inactive or outside: the three answer alike.
pub async fn organisation_inside(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Organisation>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {ORG_COLS} {ORG_FROM} WHERE o.id = {} AND o.active AND {}",
        args.push(id),
        args.scope("p.path", scope)
    );
    query::optional(db, &sql, &args).await
}

/// Whether an organisation of one of `kinds` is visible to the caller (inside the scope or
/// serving an area above it): one a record in the scope may name, as an estate names its
/// property company or a station its operator. Unknown and out of scope answer alike.
pub async fn organisation_visible(db: &Db, scope: &Scope, id: Uuid, kinds: &[OrgKind]) -> Result<bool, sqlx::Error> {
    let mut args = Args::new();
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let sql = format!(
        "SELECT o.id {ORG_FROM} WHERE o.id = {} AND o.kind IN ({}) AND {}",
        args.push(id),
        args.list(&kinds),
        args.scope_visible("p.path", scope)
    );
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.is_some())
}

pub struct OrgInput {
    pub kind: OrgKind,
    pub name: String,
    pub place_id: Uuid,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub description: Option<String>,
    pub active: bool,
    pub version: Option<i64>,
}

pub async fn save_organisation(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Option<Uuid>,
    o: &OrgInput,
) -> Result<Uuid, AppError> {
    if let Some(id) = id {
        editable_organisation(db, scope, id).await?;
    }
    if get_place(db, scope, o.place_id).await?.is_none() {
        return Err(AppError::field("place_id", "place.parent_not_found"));
    }
    let now = Utc::now();
    let new_id = id.unwrap_or_else(Uuid::now_v7);
    let mut tx = db.begin().await?;
    if id.is_some() {
        bump_version(&mut tx, "organisations", new_id, o.version, actor).await?;
    }
    let res = write!(&mut tx, |c| {
        if id.is_some() {
            sqlx::query(
                "UPDATE organisations SET kind = $1, name = $2, place_id = $3, contact_name = $4, contact_phone = $5, description = $6, active = $7 WHERE id = $8",
            )
        } else {
            sqlx::query(
                "INSERT INTO organisations (kind, name, place_id, contact_name, contact_phone, description, active, id, version, created_at, created_by, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $9, $10)",
            )
        }
        .bind(o.kind.as_str())
        .bind(&o.name)
        .bind(o.place_id)
        .bind(&o.contact_name)
        .bind(&o.contact_phone)
        .bind(&o.description)
        .bind(o.active)
        .bind(new_id)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    });
    res.map_err(on_unique("name", "org.duplicate_name"))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if id.is_some() { "organisation.update" } else { "organisation.create" },
            entity: "organisation",
            entity_id: Some(new_id.to_string()),
            detail: serde_json::json!({"kind": o.kind.as_str(), "name": o.name, "active": o.active}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new_id)
}

const ORG_COLS: &str = "o.id, o.kind, o.name, o.place_id, p.name AS place_name, o.contact_name, o.contact_phone, o.description, o.active, o.version, p.path AS place_path";
const ORG_FROM: &str = "FROM organisations o JOIN places p ON p.id = o.place_id";

const ESTATE_FROM: &str =
    "FROM estates e JOIN places p ON p.id = e.community_id LEFT JOIN organisations o ON o.id = e.property_company_id";
const ESTATE_COLS: &str = "e.id, e.community_id, p.name AS community_name, e.name, e.address, e.property_company_id, o.name AS property_company_name, e.active, e.version";

pub async fn list_estates(db: &Db, scope: &Scope, limit: i64, offset: i64) -> Result<(Vec<Estate>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = args.scope("p.path", scope);
    let select = format!("SELECT {ESTATE_COLS} {ESTATE_FROM} WHERE {wh} ORDER BY p.path, e.name");
    query::page(db, &select, &format!("{ESTATE_FROM} WHERE {wh}"), &args, limit, offset).await
}

/// The estates of one community (its page).
pub async fn estates_of(db: &Db, scope: &Scope, community_id: Uuid) -> Result<Vec<Estate>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {ESTATE_COLS} {ESTATE_FROM} WHERE e.community_id = {} AND {} ORDER BY e.name",
        args.push(community_id),
        args.scope("p.path", scope)
    );
    query::all(db, &sql, &args).await
}

pub async fn get_estate(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Estate>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {ESTATE_COLS} {ESTATE_FROM} WHERE e.id = {} AND {}",
        args.push(id),
        args.scope("p.path", scope)
    );
    query::optional(db, &sql, &args).await
}

pub struct EstateInput {
    pub community_id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub property_company_id: Option<Uuid>,
    pub active: bool,
    pub version: Option<i64>,
}

pub async fn save_estate(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Option<Uuid>,
    e: &EstateInput,
) -> Result<Uuid, AppError> {
    match get_place(db, scope, e.community_id).await? {
        Some(p) if p.kind() == PlaceKind::Community => {}
        _ => return Err(AppError::field("community_id", "place.parent_not_found")),
    }
    if let Some(pc) = e.property_company_id
        && !organisation_visible(db, scope, pc, &[OrgKind::PropertyCompany]).await?
    {
        return Err(AppError::field("property_company_id", "estate.not_a_property_company"));
    }
    if let Some(id) = id {
        get_estate(db, scope, id).await?.ok_or(AppError::NotFound)?;
    }
    let now = Utc::now();
    let new_id = id.unwrap_or_else(Uuid::now_v7);
    let mut tx = db.begin().await?;
    if id.is_some() {
        bump_version(&mut tx, "estates", new_id, e.version, actor).await?;
    }
    let res = write!(&mut tx, |c| {
        if id.is_some() {
            sqlx::query("UPDATE estates SET community_id = $1, name = $2, address = $3, property_company_id = $4, active = $5 WHERE id = $6")
        } else {
            sqlx::query(
                "INSERT INTO estates (community_id, name, address, property_company_id, active, id, version, created_at, created_by, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $7, $8)",
            )
        }
        .bind(e.community_id)
        .bind(&e.name)
        .bind(&e.address)
        .bind(e.property_company_id)
        .bind(e.active)
        .bind(new_id)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    });
    res.map_err(on_unique("name", "estate.duplicate_name"))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if id.is_some() { "estate.update" } else { "estate.create" },
            entity: "estate",
            entity_id: Some(new_id.to_string()),
            detail: serde_json::json!({"name": e.name, "community_id": e.community_id, "active": e.active}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new_id)
}

const STATION_FROM: &str =
    "FROM stations s JOIN places p ON p.id = s.place_id LEFT JOIN places h ON h.id = s.host_community_id
     LEFT JOIN organisations o ON o.id = s.operator_id";
const STATION_COLS: &str = "s.id, s.place_id, p.name AS place_name, s.name, s.is_hub, s.host_community_id, h.name AS host_community_name, s.operator_id, o.name AS operator_name, s.service_domains, s.active, s.version";

pub async fn list_stations(
    db: &Db,
    scope: &Scope,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Station>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = args.scope("p.path", scope);
    let select = format!("SELECT {STATION_COLS} {STATION_FROM} WHERE {wh} ORDER BY s.is_hub DESC, p.path");
    query::page(db, &select, &format!("{STATION_FROM} WHERE {wh}"), &args, limit, offset).await
}

pub async fn get_station(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Station>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {STATION_COLS} {STATION_FROM} WHERE s.id = {} AND {}",
        args.push(id),
        args.scope("p.path", scope)
    );
    query::optional(db, &sql, &args).await
}

pub struct StationInput {
    pub place_id: Uuid,
    pub name: String,
    pub host_community_id: Option<Uuid>,
    pub operator_id: Option<Uuid>,
    pub service_domains: Vec<String>,
    pub active: bool,
    pub version: Option<i64>,
}

pub async fn save_station(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Option<Uuid>,
    s: &StationInput,
) -> Result<Uuid, AppError> {
    let place = match get_place(db, scope, s.place_id).await? {
        Some(p) if matches!(p.kind(), PlaceKind::Street | PlaceKind::District) => p,
        _ => return Err(AppError::field("place_id", "station.place_kind")),
    };
    if let Some(h) = s.host_community_id {
        match get_place(db, scope, h).await? {
            Some(c) if c.kind() == PlaceKind::Community && c.path.starts_with(&place.path) => {}
            _ => return Err(AppError::field("host_community_id", "station.host_outside")),
        }
    }
    if let Some(op) = s.operator_id
        && !organisation_visible(db, scope, op, &[OrgKind::PartnerOrg, OrgKind::GovernanceCenter]).await?
    {
        return Err(AppError::field("operator_id", "station.operator_kind"));
    }
    if s.service_domains.iter().any(|d| !SERVICE_DOMAINS.contains(&d.as_str())) {
        return Err(AppError::field("service_domains", "error.bad_choice"));
    }
    if let Some(id) = id {
        get_station(db, scope, id).await?.ok_or(AppError::NotFound)?;
    }
    let now = Utc::now();
    let new_id = id.unwrap_or_else(Uuid::now_v7);
    let domains = s.service_domains.join(",");
    let is_hub = place.kind() == PlaceKind::District;
    let mut tx = db.begin().await?;
    if id.is_some() {
        bump_version(&mut tx, "stations", new_id, s.version, actor).await?;
    }
    let res = write!(&mut tx, |c| {
        if id.is_some() {
            sqlx::query(
                "UPDATE stations SET place_id = $1, name = $2, is_hub = $3, host_community_id = $4, operator_id = $5, service_domains = $6, active = $7 WHERE id = $8",
            )
        } else {
            sqlx::query(
                "INSERT INTO stations (place_id, name, is_hub, host_community_id, operator_id, service_domains, active, id, version, created_at, created_by, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $9, $10)",
            )
        }
        .bind(s.place_id)
        .bind(&s.name)
        .bind(is_hub)
        .bind(s.host_community_id)
        .bind(s.operator_id)
        .bind(&domains)
        .bind(s.active)
        .bind(new_id)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    });
    res.map_err(on_unique("name", "station.duplicate_name"))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if id.is_some() { "station.update" } else { "station.create" },
            entity: "station",
            entity_id: Some(new_id.to_string()),
            detail: serde_json::json!({"name": s.name, "place_id": s.place_id, "domains": domains, "active": s.active}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new_id)
}

/// (id, name) of active organisations inside the scope (not above it), for binding staff.
pub async fn organisation_options_inside(db: &Db, scope: &Scope) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT o.id, o.name {ORG_FROM} WHERE {} AND o.active ORDER BY o.name", args.scope("p.path", scope));
    query::all(db, &sql, &args).await
}

/// (id, name) of organisations of some kinds inside the scope or above it, for select boxes.
pub async fn organisation_options(
    db: &Db,
    scope: &Scope,
    kinds: &[OrgKind],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let mut args = Args::new();
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let sql = format!(
        "SELECT o.id, o.name {ORG_FROM} WHERE {} AND o.active AND o.kind IN ({}) ORDER BY o.name",
        args.scope_visible("p.path", scope),
        args.list(&kinds)
    );
    query::all(db, &sql, &args).await
}

/// What [`resolve_location`] reads: the estate's community and the place chosen, each side NULL
/// when not given, not found, inactive or out of scope.
#[derive(sqlx::FromRow)]
struct Located {
    community_id: Option<Uuid>,
    community_path: Option<String>,
    community_name: Option<String>,
    estate_name: Option<String>,
    place_id: Option<Uuid>,
    place_path: Option<String>,
    place_name: Option<String>,
}

/// Where a record (a request, a hazard) lies, from what a form gave: an estate (its community)
/// and/or a community or grid. Both must be active and, with a scope, inside it; a grid must lie in
/// the estate's community. Returns the place (id, path, name) and the estate's name.
pub async fn resolve_location(
    db: &Db,
    scope: Option<&Scope>,
    estate_id: Option<Uuid>,
    place_id: Option<Uuid>,
    errors: &mut FieldErrors,
) -> Result<(Option<(Uuid, String, String)>, Option<String>), sqlx::Error> {
    if estate_id.is_none() && place_id.is_none() {
        return Ok((None, None));
    }
    // One statement for both: intake reads this on every request, and each statement is a
    // round trip to a connection's thread.
    let mut args = Args::new();
    let (eid, pid) = (args.push(estate_id), args.push(place_id));
    let mut in_scope = |col: &str| scope.map(|s| format!(" AND {}", args.scope(col, s))).unwrap_or_default();
    let (estate_scope, place_scope) = (in_scope("ep.path"), in_scope("p.path"));
    let sql = format!(
        "SELECT ep.id AS community_id, ep.path AS community_path, ep.name AS community_name, e.name AS estate_name,
                p.id AS place_id, p.path AS place_path, p.name AS place_name
         FROM (SELECT 1 AS one) one
         LEFT JOIN estates e ON e.id = {eid} AND e.active
         LEFT JOIN places ep ON ep.id = e.community_id AND ep.active{estate_scope}
         LEFT JOIN places p ON p.id = {pid} AND p.active AND p.kind IN ('community', 'grid'){place_scope}"
    );
    let found: Located = query::one(db, &sql, &args).await?;
    let mut place: Option<(Uuid, String, String)> = None;
    let mut estate_name = None;
    if estate_id.is_some() {
        match (found.community_id, found.community_path, found.community_name, found.estate_name) {
            (Some(id), Some(path), Some(name), Some(ename)) => {
                place = Some((id, path, name));
                estate_name = Some(ename);
            }
            _ => errors.add("estate_id", "error.bad_choice"),
        }
    }
    if place_id.is_some() {
        match (found.place_id, found.place_path, found.place_name) {
            // A grid inside the estate's community is finer; a place elsewhere contradicts it.
            (Some(id), Some(path), Some(name)) => match &place {
                Some((_, epath, _)) if !path.starts_with(epath.as_str()) => {
                    errors.add("place_id", "request.place_mismatch")
                }
                _ => place = Some((id, path, name)),
            },
            _ => errors.add("place_id", "error.bad_choice"),
        }
    }
    Ok((place, estate_name))
}

// ---- where places are (`super::geo`) ----------------------------------------------------------

/// Which active place `point` falls in (`geo::locate`): one statement reads the places whose
/// centroid lies in a box around the point, and whether any place has coordinates at all.
pub async fn locate_point(db: &Db, point: (f64, f64)) -> Result<super::geo::Located, sqlx::Error> {
    use super::geo::{PlacePoint, SEARCH_DEGREES};
    // A degree of longitude shrinks with the latitude; widen the box so it still holds the reach.
    let lon_span = SEARCH_DEGREES / point.0.to_radians().cos().abs().max(0.1);
    let near: Vec<PlacePoint> = read!(db, |c| sqlx::query_as(
        "SELECT id, path, name, kind, lat, lon, radius_m FROM places
         WHERE active AND lat IS NOT NULL AND lon IS NOT NULL
           AND lat BETWEEN $1 AND $2 AND lon BETWEEN $3 AND $4"
    )
    .bind(point.0 - SEARCH_DEGREES)
    .bind(point.0 + SEARCH_DEGREES)
    .bind(point.1 - lon_span)
    .bind(point.1 + lon_span)
    .fetch_all(c)
    .await)?;
    let any_placed = !near.is_empty() || {
        let (any,): (bool,) =
            read!(db, |c| sqlx::query_as("SELECT EXISTS (SELECT 1 FROM places WHERE active AND lat IS NOT NULL)")
                .fetch_one(c)
                .await)?;
        any
    };
    Ok(super::geo::locate(point, &near, any_placed))
}

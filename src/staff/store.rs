//! Staff accounts: SQL and rules. An account is bound to one or more places; a manager sees and
//! edits only accounts bound inside their own scope, and grants only roles they may grant.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Entry};
use crate::auth::{Role, Scope, password, session, tokens};
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::error::{AppError, FieldErrors, on_unique};
use crate::org::store::like_pattern;
use crate::{read, write};

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Staff {
    pub id: Uuid,
    pub account: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    pub totp_enabled: bool,
    pub organisation_id: Option<Uuid>,
    pub organisation_name: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub version: i64,
    #[sqlx(skip)]
    pub places: Vec<PlaceRef>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PlaceRef {
    #[serde(skip)]
    pub user_id: Uuid,
    pub id: Uuid,
    pub name: String,
    #[serde(skip)]
    pub path: String,
}

const FROM: &str = "FROM users u LEFT JOIN organisations o ON o.id = u.organisation_id";
const COLS: &str = "u.id, u.account, u.display_name, u.role, u.disabled, u.totp_enabled, u.organisation_id, o.name AS organisation_name, u.last_login_at, u.version";

/// Accounts with at least one binding inside the scope: what the caller may read.
fn visible(scope: &Scope, args: &mut Args) -> String {
    format!(
        "EXISTS (SELECT 1 FROM user_places up JOIN places p ON p.id = up.place_id WHERE up.user_id = u.id AND {})",
        args.scope("p.path", scope)
    )
}

/// Accounts with no binding outside the scope: what the caller may write. One binding inside
/// is enough to read an account, but not to take it over: a 平城区 bureau resetting the password
/// of a 云冈区 administrator who also holds one 平城区 place would sign in as them in 云冈区.
/// Written into each write's own statement (`id_col` is the target's id column), so a place
/// bound between the check and the write still counts.
fn writable(scope: &Scope, args: &mut Args, id_col: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM user_places wp JOIN places wpl ON wpl.id = wp.place_id WHERE wp.user_id = {id_col} AND NOT {})",
        args.scope("wpl.path", scope)
    )
}

/// The account to change, if the caller may change it: 404 when they cannot read it, 403
/// (`staff.outside_scope`) when they read it through one place but it is bound outside too.
pub async fn get_writable(db: &Db, scope: &Scope, id: Uuid) -> Result<Staff, AppError> {
    let s = get(db, scope, id).await?.ok_or(AppError::NotFound)?;
    if !covers_all(scope, &s) {
        return Err(AppError::ForbiddenBecause("staff.outside_scope"));
    }
    Ok(s)
}

/// Whether every place of the account lies inside the scope (the screens offer writes only then).
pub fn covers_all(scope: &Scope, s: &Staff) -> bool {
    s.places.iter().all(|p| scope.covers(&p.path))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    /// Role code.
    pub role: Option<String>,
    /// Name or account contains.
    pub q: Option<String>,
}

pub async fn list(
    db: &Db,
    scope: &Scope,
    f: &StaffFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Staff>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh = visible(scope, &mut args);
    if let Some(r) = f.role.as_deref().and_then(Role::parse) {
        wh.push_str(&format!(" AND u.role = {}", args.push(r.as_str())));
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let n = args.push(like_pattern(q));
        wh.push_str(&format!(" AND (u.display_name LIKE {n} ESCAPE '\\' OR u.account LIKE {n} ESCAPE '\\')"));
    }
    let select = format!("SELECT {COLS} {FROM} WHERE {wh} ORDER BY u.account");
    let (mut rows, total) = query::page(db, &select, &format!("FROM users u WHERE {wh}"), &args, limit, offset).await?;
    attach_places(db, &mut rows).await?;
    Ok((rows, total))
}

/// One query for the places of all listed accounts (no N+1).
async fn attach_places(db: &Db, rows: &mut [Staff]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut args = Args::new();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let sql = format!(
        "SELECT up.user_id, p.id, p.name, p.path FROM user_places up JOIN places p ON p.id = up.place_id
         WHERE up.user_id IN ({}) ORDER BY p.path",
        args.list(&ids)
    );
    let refs: Vec<PlaceRef> = query::all(db, &sql, &args).await?;
    for r in rows.iter_mut() {
        r.places = refs.iter().filter(|p| p.user_id == r.id).cloned().collect();
    }
    Ok(())
}

pub async fn get(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Staff>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {COLS} {FROM} WHERE u.id = {} AND {}", args.push(id), visible(scope, &mut args));
    let Some(row) = query::optional::<Staff>(db, &sql, &args).await? else { return Ok(None) };
    let mut rows = [row];
    attach_places(db, &mut rows).await?;
    let [row] = rows;
    Ok(Some(row))
}

#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    pub account: String,
    pub display_name: String,
    pub role: Role,
    /// Places the account is bound to; its data scope is these and everything below.
    pub place_ids: Vec<Uuid>,
    pub organisation_id: Option<Uuid>,
    pub version: Option<i64>,
}

pub fn valid_account(a: &str) -> bool {
    (3..=32).contains(&a.len())
        && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// A one-time password: 16 characters without look-alikes, shown once, changed at first login.
pub fn one_time_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

async fn check_places(db: &Db, scope: &Scope, ids: &[Uuid], errors: &mut FieldErrors) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        errors.add("place_ids", "staff.places_required");
        return Ok(());
    }
    for id in ids {
        if crate::org::store::get_place(db, scope, *id).await?.filter(|p| p.active).is_none() {
            errors.add("place_ids", "place.parent_not_found");
            break;
        }
    }
    Ok(())
}

/// The organisation an account is bound to must be one the editor may grant: active and inside
/// their scope ([`crate::org::store::organisation_inside`]). An unknown id and one outside
/// answer with the same field error; `unchanged` (the binding an edit keeps) grants nothing new.
async fn check_organisation(
    db: &Db,
    scope: &Scope,
    id: Option<Uuid>,
    unchanged: Option<Uuid>,
    errors: &mut FieldErrors,
) -> Result<(), sqlx::Error> {
    if let Some(id) = id
        && unchanged != Some(id)
        && crate::org::store::organisation_inside(db, scope, id).await?.is_none()
    {
        errors.add("organisation_id", "error.bad_choice");
    }
    Ok(())
}

/// Creates an account; returns its id and the password (the given one, or a one-time one).
pub async fn create(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    granter: Option<Role>,
    input: &StaffInput,
    pass: Option<&str>,
) -> Result<(Uuid, String), AppError> {
    let mut errors = FieldErrors::default();
    let account = input.account.trim().to_lowercase();
    if !valid_account(&account) {
        errors.add("account", "staff.account_format");
    }
    let name = crate::web::form::clean_name(&input.display_name, "display_name", 40, &mut errors);
    if granter.is_some_and(|g| !g.can_grant(input.role)) {
        errors.add("role", "staff.role_not_grantable");
    }
    check_places(db, scope, &input.place_ids, &mut errors).await?;
    check_organisation(db, scope, input.organisation_id, None, &mut errors).await?;
    let pass = match pass {
        Some(p) => {
            if let Err(code) = password::check_policy(p, &account, &name) {
                errors.add("password", code);
            }
            p.to_string()
        }
        None => one_time_password(),
    };
    errors.into_result()?;
    let hash = password::hash_off_thread(&pass).await?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let res = write!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO users (id, account, display_name, role, password_hash, must_change_password, organisation_id, version, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $8, $9)",
        )
        .bind(id)
        .bind(&account)
        .bind(&name)
        .bind(input.role.as_str())
        .bind(&hash)
        .bind(true)
        .bind(input.organisation_id)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await.map(|r| r.rows_affected())
    });
    res.map_err(on_unique("account", "staff.account_taken"))?;
    bind_places(&mut tx, id, &input.place_ids).await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "staff.create",
            entity: "user",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({"account": account, "role": input.role.as_str(), "places": input.place_ids}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((id, pass))
}

/// Binds an account to places (duplicates ignored) inside `tx`.
pub async fn bind_places(tx: &mut crate::db::Tx, user_id: Uuid, place_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    for pid in dedup(place_ids) {
        write!(&mut *tx, |c| sqlx::query("INSERT INTO user_places (user_id, place_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(pid)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut v = ids.to_vec();
    v.sort();
    v.dedup();
    v
}

pub async fn update(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    granter: Role,
    id: Uuid,
    input: &StaffInput,
) -> Result<(), AppError> {
    let current = get_writable(db, scope, id).await?;
    let current_role = Role::parse(&current.role).ok_or_else(|| anyhow::anyhow!("unknown role"))?;
    if !granter.can_grant(current_role) {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let name = crate::web::form::clean_name(&input.display_name, "display_name", 40, &mut errors);
    if !granter.can_grant(input.role) {
        errors.add("role", "staff.role_not_grantable");
    }
    check_places(db, scope, &input.place_ids, &mut errors).await?;
    // Keeping the binding grants nothing new, unless the role changes with it (a partner's
    // account made a department handler would start reading its organisation's requests).
    let kept = current.organisation_id.filter(|_| current_role == input.role);
    check_organisation(db, scope, input.organisation_id, kept, &mut errors).await?;
    errors.into_result()?;
    // Every current binding is inside the editor's scope (`get_writable`), and so is every
    // new one (`check_places`): the account is theirs to rebind as a whole.
    let places = dedup(&input.place_ids);
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut args = Args::new();
    let sql = format!(
        "UPDATE users SET display_name = {}, role = {}, organisation_id = {}, version = version + 1, updated_at = {}, updated_by = {}
         WHERE id = {} AND {}",
        args.push(name.as_str()),
        args.push(input.role.as_str()),
        args.push(input.organisation_id),
        args.push(now),
        args.push(actor.id),
        args.push(id),
        writable(scope, &mut args, "users.id"),
    );
    let sql = match input.version {
        Some(v) => format!("{sql} AND version = {}", args.push(v)),
        None => sql,
    };
    if query::execute(&mut tx, &sql, &args).await? == 0 {
        // A stale version, or a binding outside the scope added since the check.
        return Err(match get_writable(db, scope, id).await {
            Ok(_) => AppError::Stale,
            Err(e) => e,
        });
    }
    write!(&mut tx, |c| sqlx::query("DELETE FROM user_places WHERE user_id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    bind_places(&mut tx, id, &places).await?;
    if current_role != input.role {
        // A changed role must not keep powers in sessions opened under the old one.
        session::destroy_all_for(&mut tx, id).await?;
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "staff.update",
            entity: "user",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({"role": [current.role, input.role.as_str()], "places": places}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_disabled(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    granter: Option<Role>,
    id: Uuid,
    disabled: bool,
) -> Result<(), AppError> {
    let current = get_writable(db, scope, id).await?;
    let role = Role::parse(&current.role).ok_or_else(|| anyhow::anyhow!("unknown role"))?;
    if granter.is_some_and(|g| !g.can_grant(role)) {
        return Err(AppError::Forbidden);
    }
    if actor.id == Some(id) && disabled {
        return Err(AppError::field("disabled", "staff.cannot_disable_self"));
    }
    let mut tx = db.begin().await?;
    let mut args = Args::new();
    let sql = format!(
        "UPDATE users SET disabled = {}, version = version + 1, updated_at = {}, updated_by = {} WHERE id = {} AND {}",
        args.push(disabled),
        args.push(Utc::now()),
        args.push(actor.id),
        args.push(id),
        writable(scope, &mut args, "users.id"),
    );
    if query::execute(&mut tx, &sql, &args).await? == 0 {
        return Err(AppError::ForbiddenBecause("staff.outside_scope"));
    }
    let mut detail = serde_json::Value::Null;
    if disabled {
        session::destroy_all_for(&mut tx, id).await?;
        let revoked = tokens::revoke_all_for(&mut tx, id).await?;
        detail = serde_json::json!({ "api_tokens_revoked": revoked });
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if disabled { "staff.disable" } else { "staff.enable" },
            entity: "user",
            entity_id: Some(id.to_string()),
            detail,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new one-time password (or the given one), ends the account's sessions and API tokens,
/// clears its lockout.
pub async fn reset_password(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    granter: Option<Role>,
    id: Uuid,
    given: Option<&str>,
) -> Result<String, AppError> {
    let current = get_writable(db, scope, id).await?;
    let role = Role::parse(&current.role).ok_or_else(|| anyhow::anyhow!("unknown role"))?;
    if granter.is_some_and(|g| !g.can_grant(role)) {
        return Err(AppError::Forbidden);
    }
    let pass = match given {
        Some(p) => {
            password::check_policy(p, &current.account, &current.display_name)
                .map_err(|c| AppError::field("password", c))?;
            p.to_string()
        }
        None => one_time_password(),
    };
    let hash = password::hash_off_thread(&pass).await?;
    let mut tx = db.begin().await?;
    let mut args = Args::new();
    let sql = format!(
        "UPDATE users SET password_hash = {}, must_change_password = {}, version = version + 1, updated_at = {}, updated_by = {} WHERE id = {} AND {}",
        args.push(hash.as_str()),
        args.push(given.is_none()),
        args.push(Utc::now()),
        args.push(actor.id),
        args.push(id),
        writable(scope, &mut args, "users.id"),
    );
    if query::execute(&mut tx, &sql, &args).await? == 0 {
        return Err(AppError::ForbiddenBecause("staff.outside_scope"));
    }
    write!(&mut tx, |c| {
        sqlx::query("DELETE FROM login_failures WHERE account = $1")
            .bind(&current.account)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    session::destroy_all_for(&mut tx, id).await?;
    let revoked = tokens::revoke_all_for(&mut tx, id).await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "staff.reset_password",
            entity: "user",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "api_tokens_revoked": revoked }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(pass)
}

/// Counts of enabled accounts per role inside the scope (home page).
pub async fn count_by_role(db: &Db, scope: &Scope) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT u.role, COUNT(*) FROM users u WHERE {} AND NOT u.disabled GROUP BY u.role",
        visible(scope, &mut args)
    );
    query::all(db, &sql, &args).await
}

/// Every account with its role and state, for the operator's `linli user list`.
pub async fn list_all(db: &Db) -> Result<Vec<(String, String, bool)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as("SELECT account, role, disabled FROM users ORDER BY account").fetch_all(c).await)
}

pub fn everything() -> Scope {
    Scope { roots: vec!["/".into()], casework: false }
}

/// Active field workers (grid workers, community staff, social workers, station managers) whose
/// places lie inside `scope`: the people a patrol can be given to. (id, "name · place").
pub async fn field_workers(db: &Db, scope: &Scope) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT u.id, u.display_name, MIN(p.name) FROM users u JOIN user_places up ON up.user_id = u.id JOIN places p ON p.id = up.place_id
         WHERE NOT u.disabled AND u.role IN ('grid_worker', 'community_staff', 'social_worker', 'station_manager') AND {}
         GROUP BY u.id, u.display_name ORDER BY u.display_name LIMIT 500",
        args.scope("p.path", scope)
    );
    let rows: Vec<(Uuid, String, String)> = query::all(db, &sql, &args).await?;
    Ok(rows.into_iter().map(|(id, name, place)| (id, format!("{name} · {place}"))).collect())
}

/// The people behind accounts named in a record's history, by account id: (display name,
/// account). Timelines show the name, since a login name means nothing to a reader; the
/// account stays beside it for whoever checks it against the audit log.
pub async fn names_of(
    db: &Db,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<std::collections::HashMap<Uuid, (String, String)>, sqlx::Error> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut out = std::collections::HashMap::new();
    // A long timeline names few people; chunks keep the IN list within every backend's limits.
    for chunk in ids.chunks(500) {
        let mut args = Args::new();
        let sql = format!("SELECT id, display_name, account FROM users WHERE id IN ({})", args.list(chunk));
        let rows: Vec<(Uuid, String, String)> = query::all(db, &sql, &args).await?;
        out.extend(rows.into_iter().map(|(id, name, account)| (id, (name, account))));
    }
    Ok(out)
}

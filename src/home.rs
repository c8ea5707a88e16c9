//! The home page: for each role, real counts from its own scope.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;

use crate::app::{Access, AppState, RouteDef, r};
use crate::auth::roles::{AUDIT_READERS, ORG_READERS, STAFF_READERS};
use crate::auth::{Caller, Role};
use crate::db::query::{self, Args};
use crate::read;
use crate::web::error::AppResult;
use crate::web::render::{Ctx, page};

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/", Access::Signed, home)]
}

pub struct Tile {
    pub label: String,
    pub value: i64,
    pub href: String,
}

#[derive(Template)]
#[template(path = "home/home.html")]
struct HomePage {
    ctx: Ctx,
    greeting: String,
    role_label: String,
    scope_names: Vec<String>,
    tiles: Vec<Tile>,
    quick: Vec<(String, String)>,
}

async fn home(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/", "nav.home");
    let tr = ctx.tr;
    let mut tiles = Vec::new();
    let mut quick = Vec::new();
    if caller.is(ORG_READERS) {
        let counts = crate::org::store::count_by_kind(&st.db, &caller.scope).await?;
        for kind in ["street", "community", "grid"] {
            let value = counts.iter().find(|(k, _)| k == kind).map(|(_, n)| *n).unwrap_or(0);
            tiles.push(Tile {
                label: tr.t(&format!("home.count_{kind}")),
                value,
                href: format!("/places?kind={kind}"),
            });
        }
        let (_, stations) = crate::org::store::list_stations(&st.db, &caller.scope, 1, 0).await?;
        tiles.push(Tile { label: tr.t("nav.stations"), value: stations, href: "/stations".into() });
        let (_, estates) = crate::org::store::list_estates(&st.db, &caller.scope, 1, 0).await?;
        tiles.push(Tile { label: tr.t("nav.estates"), value: estates, href: "/estates".into() });
    }
    if caller.is(STAFF_READERS) {
        let by_role = crate::staff::store::count_by_role(&st.db, &caller.scope).await?;
        let total: i64 = by_role.iter().map(|(_, n)| n).sum();
        tiles.push(Tile { label: tr.t("home.staff_active"), value: total, href: "/staff".into() });
    }
    if caller.is(AUDIT_READERS) {
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let (all, failures): (i64, i64) = read!(&st.db, |c| {
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN action IN ('login.failure','login.lockout','access.denied') THEN 1 ELSE 0 END), 0)
                 FROM audit_log WHERE at >= $1",
            )
            .bind(since)
            .fetch_one(c)
            .await
        })?;
        tiles.push(Tile { label: tr.t("home.audit_24h"), value: all, href: "/audit".into() });
        tiles.push(Tile { label: tr.t("home.security_24h"), value: failures, href: "/audit?action=login".into() });
    }
    if caller.is(crate::auth::roles::ORG_ADMINS) {
        quick.push((tr.t("place.new").to_string(), "/places/new".to_string()));
        quick.push((tr.t("staff.new").to_string(), "/staff/new".to_string()));
        quick.push((tr.t("import.title").to_string(), "/places/import".to_string()));
    }
    if caller.role == Role::BureauAdmin {
        quick.push((tr.t("settings.title"), "/cases/settings".to_string()));
    }
    let names = scope_names(&st, &caller).await?;
    let view = HomePage {
        greeting: tr.f("home.greeting", &[&caller.display_name]),
        role_label: tr.t(&caller.role.label_key()).to_string(),
        scope_names: names,
        tiles,
        quick,
        ctx,
    };
    Ok(page(&view))
}

async fn scope_names(st: &AppState, caller: &Caller) -> Result<Vec<String>, sqlx::Error> {
    if caller.role == Role::Auditor || caller.scope.roots.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::new();
    let sql = format!("SELECT name FROM places WHERE path IN ({}) ORDER BY path", args.list(&caller.scope.roots));
    let rows: Vec<(String,)> = query::all(&st.db, &sql, &args).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

//! Router assembly and start-up migration. Every route is declared once, with its access rule,
//! in its domain's `routes()`; the router and the authorisation test are both built from that list.
//! This is the one place that knows every domain: it sits on top of the crate (with `cli` and
//! `demo`), and nothing below it uses it.

pub mod body_read;
pub mod idempotency;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::audit::{self, Entry};
use crate::auth::{Caller, RequestInfo};
use crate::db::Db;
use crate::error::AppError;

pub use crate::state::AppState;
pub use crate::web::routes::{Access, RouteDef, r};

/// Brings a database up to this version: the schema; the keyed link that rows chained before
/// links were keyed are owed, in the run that adds the MAC column and only then; and the
/// reference data the bureau edits later (shipped instruments, follow-up tiers, request
/// categories and the holiday table).
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    if db.migrate_schema().await? {
        audit::key_the_chain(db).await?;
    }
    crate::cases::instruments::ensure_defaults(db).await?;
    crate::requests::defaults::ensure(db).await?;
    Ok(())
}

pub fn all_routes() -> Vec<RouteDef> {
    let mut v = Vec::new();
    v.extend(crate::ops::routes());
    v.extend(crate::auth::pages::routes());
    v.extend(crate::auth::api::routes());
    v.extend(crate::home::routes());
    v.extend(crate::org::routes());
    v.extend(crate::staff::routes());
    v.extend(crate::people::routes());
    v.extend(crate::cases::routes());
    v.extend(crate::map::routes());
    v.extend(crate::requests::routes());
    v.extend(crate::hazards::routes());
    v.extend(crate::search::routes());
    v.extend(crate::files::routes());
    v.extend(crate::open311::routes());
    v.extend(crate::audit::pages::routes());
    v.extend(crate::openapi::routes());
    v
}

pub fn router(st: AppState) -> Router {
    let mut router = Router::new();
    let mut limits = crate::web::body_limit::RouteLimits::new(
        st.cfg.max_body_bytes,
        st.cfg.max_import_bytes,
        st.cfg.max_open311_bytes,
    );
    let defs = all_routes();
    for def in &defs {
        limits.add(def);
    }
    let limits = Arc::new(limits);
    for def in defs {
        let (access, route) = (def.access, def.path);
        // The body limit is per route: spreadsheet imports take large files, Open311 photos
        // smaller ones, nothing else does.
        let limit = limits.of_def(&def);
        let limited = if def.upload {
            def.handler
                .layer::<_, Infallible>(RequestBodyLimitLayer::new(limit))
                .layer(axum::extract::DefaultBodyLimit::max(limit))
        } else {
            def.handler.layer::<_, Infallible>(RequestBodyLimitLayer::new(st.cfg.max_body_bytes))
        };
        let guarded = limited.layer(from_fn_with_state(
            st.clone(),
            move |state: State<AppState>, req: Request, next: Next| async move {
                let start = std::time::Instant::now();
                let method = req.method().clone();
                // The access log names the route, not the path (`ops::access`).
                if let Some(slot) = req.extensions().get::<crate::ops::access::RouteSlot>() {
                    slot.set(route);
                }
                let res = guard(state, access, route, req, next).await;
                let elapsed = start.elapsed();
                crate::ops::observe(&method, route, res.status(), elapsed);
                // The route template, never the concrete path or query: ids and search text stay out of logs.
                let (status, ms) = (res.status().as_u16(), elapsed.as_millis() as u64);
                if res.status().is_server_error() {
                    tracing::warn!(%method, route, status, ms, "request failed");
                }
                res
            },
        ));
        router = router.route(def.path, guarded);
    }
    let outer_limit = st.cfg.max_body_bytes.max(st.cfg.max_import_bytes);
    let app = router
        .fallback(|| async { AppError::NotFound })
        .layer(from_fn_with_state(st.clone(), crate::web::csrf::protect))
        .layer(from_fn_with_state(st.clone(), crate::web::render::render_errors))
        .layer(from_fn_with_state((st.clone(), limits.clone()), crate::app::idempotency::layer))
        .layer(from_fn_with_state(st.clone(), crate::web::caller::resolve))
        .layer(RequestBodyLimitLayer::new(outer_limit))
        .layer(from_fn_with_state(outer_limit, crate::web::body_limit::outer))
        .with_state(st.clone());
    let body_read =
        crate::app::body_read::BodyRead::new(limits, outer_limit, st.cfg.upload_budget_bytes, st.cfg.body_timeout);
    let app = crate::web::overload::shed(app, st.cfg.max_in_flight, st.cfg.max_queued, st.cfg.max_queue_wait)
        // Outside the queue: a body still on its way holds no slot.
        .layer(from_fn_with_state((st.clone(), Arc::new(body_read)), crate::app::body_read::read))
        .layer(from_fn_with_state(st.cfg.secure_cookies, crate::web::security::headers))
        .layer(CatchPanicLayer::new());
    // Outside every layer that reads the path; the access log outside all, so that it sees
    // requests refused anywhere (outside the base path, shed, panicked) as the client sent them.
    crate::web::base_path::wrap(app, &st.cfg.base_path).layer(from_fn_with_state(st.clone(), crate::ops::access::log))
}

/// `access.denied` rows an account writes a minute; past them the denials are only counted.
pub const DENIALS_AUDITED_PER_MINUTE: u32 = 10;

/// Audits a wrong-role request, up to [`DENIALS_AUDITED_PER_MINUTE`] rows per account and
/// minute: a script hammering a forbidden route must not write one hash-chained row per
/// request. Past the cap the denials are only counted (the rate-limit row of the window).
async fn record_denial(st: &AppState, caller: &Caller, route: String) -> Result<(), sqlx::Error> {
    let limit = crate::ratelimit::Limit::new(format!("audit403:{}", caller.user_id), DENIALS_AUDITED_PER_MINUTE, 60);
    let mut tx = st.db.begin().await?;
    if limit.hit_in(&mut tx).await? {
        audit::record(
            &mut tx,
            &caller.actor(),
            Entry { action: "access.denied", entity: "route", entity_id: Some(route), detail: serde_json::Value::Null },
        )
        .await?;
    }
    tx.commit().await
}

async fn guard(State(st): State<AppState>, access: Access, route: &'static str, req: Request, next: Next) -> Response {
    if matches!(access, Access::Public) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    let is_api = path.starts_with("/api/");
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        let pending = req.extensions().get::<RequestInfo>().and_then(|i| i.pending.clone());
        if !is_api && pending.is_some() {
            return Redirect::to("/login/totp").into_response();
        }
        return AppError::Unauthenticated.into_response();
    };
    if !access.allows(caller.role) {
        let _ = record_denial(&st, &caller, format!("{} {}", req.method(), path)).await;
        return AppError::Forbidden.into_response();
    }
    if caller.must_change_password && !is_api && path != "/account/password" && path != "/logout" {
        return Redirect::to("/account/password").into_response();
    }
    let method = req.method().clone();
    let res = next.run(req).await;
    // Out of scope answers like missing; both are audited alike (audit::not_found says why),
    // after the answer is made, which stays as it is.
    if res.status() == axum::http::StatusCode::NOT_FOUND && route.contains("{id}") {
        let _ = audit::not_found::record(&st.db, &caller.actor(), caller.user_id, method.as_str(), route, &path).await;
    }
    res
}

//! What the bureau configures for case work: follow-up tiers (intervals) and assessment
//! instruments (each edit publishes a new version; assessments keep the version they used).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::instruments::{self, Band, Instrument, Item};
use super::model::{Domain, Tier};
use crate::app::AppState;
use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::web::error::{AppError, AppResult, FieldErrors};
use crate::web::extract::ApiJson;
use crate::{read, write};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierInput {
    /// Letters, digits and _; an existing code changes that tier.
    pub code: String,
    pub name: String,
    /// Days between follow-ups; at least 1.
    pub interval_days: i64,
}

/// The follow-up tiers in force.
#[utoipa::path(get, path = "/api/v1/follow-up-tiers", tag = "cases", responses((status = 200, body = Vec<Tier>)))]
pub async fn list_tiers(State(st): State<AppState>) -> AppResult<Json<Vec<Tier>>> {
    Ok(Json(super::store::tiers(&st.db).await?))
}

/// Create or change a follow-up tier (bureau). Open cases keep their due dates until their next
/// contact or plan change.
#[utoipa::path(post, path = "/api/v1/follow-up-tiers", tag = "cases", request_body = TierInput,
    responses((status = 200, body = Tier), (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn save_tier(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TierInput>,
) -> AppResult<Json<Tier>> {
    let mut errors = FieldErrors::default();
    let code = t.code.trim().to_string();
    if code.is_empty()
        || code.len() > 32
        || !code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        errors.add("code", "tier.code_format");
    }
    let name = crate::web::form::clean_name(&t.name, "name", 60, &mut errors);
    if !(1..=366).contains(&t.interval_days) {
        errors.add("interval_days", "tier.interval_range");
    }
    errors.into_result()?;
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO follow_up_tiers (code, name, interval_days, sort, updated_at, updated_by) VALUES ($1, $2, $3, 100, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = $2, interval_days = $3, version = follow_up_tiers.version + 1, updated_at = $4, updated_by = $5"
    )
    .bind(&code)
    .bind(&name)
    .bind(t.interval_days)
    .bind(Utc::now())
    .bind(caller.user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "tier.save",
            entity: "follow_up_tier",
            entity_id: Some(code.clone()),
            detail: serde_json::json!({ "interval_days": t.interval_days }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Tier { code, name, interval_days: t.interval_days }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstrumentInput {
    /// An existing code publishes its next version; a new code starts at version 1.
    pub code: String,
    pub name: String,
    /// A service domain code.
    pub domain: String,
    pub items: Vec<Item>,
    pub bands: Vec<Band>,
    pub reassess_days: i64,
}

/// The newest version of each instrument.
#[utoipa::path(get, path = "/api/v1/instruments", tag = "cases", responses((status = 200, body = Vec<Instrument>)))]
pub async fn list_instruments(State(st): State<AppState>) -> AppResult<Json<Vec<Instrument>>> {
    Ok(Json(instruments::current(&st.db).await?))
}

/// Publish a new version of an assessment instrument (bureau).
#[utoipa::path(post, path = "/api/v1/instruments", tag = "cases", request_body = InstrumentInput,
    responses((status = 201, body = Instrument), (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn publish_instrument(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(i): ApiJson<InstrumentInput>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let code = i.code.trim().to_string();
    if code.is_empty()
        || code.len() > 40
        || !code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        errors.add("code", "tier.code_format");
    }
    let name = crate::web::form::clean_name(&i.name, "name", 100, &mut errors);
    if Domain::parse(&i.domain).is_none() {
        errors.add("domain", "error.bad_choice");
    }
    let mut keys = std::collections::HashSet::new();
    if i.items.is_empty() {
        errors.add("items", "instrument.needs_items");
    }
    for (n, item) in i.items.iter().enumerate() {
        if item.key.is_empty()
            || !item.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || !keys.insert(item.key.clone())
        {
            errors.add(&format!("items[{n}].key"), "instrument.item_key");
        }
        if item.label.trim().is_empty() || item.options.len() < 2 {
            errors.add(&format!("items[{n}].options"), "instrument.item_options");
        }
    }
    if !i.bands.iter().any(|b| b.min <= 0) {
        errors.add("bands", "instrument.bands_cover_zero");
    }
    if !(1..=3650).contains(&i.reassess_days) {
        errors.add("reassess_days", "tier.interval_range");
    }
    errors.into_result()?;
    let (next,): (i64,) =
        read!(&st.db, |c| sqlx::query_as("SELECT COALESCE(MAX(version), 0) + 1 FROM instruments WHERE code = $1")
            .bind(&code)
            .fetch_one(c)
            .await)?;
    let id = Uuid::now_v7();
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "INSERT INTO instruments (id, code, version, name, domain, items, bands, reassess_days, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(id)
    .bind(&code)
    .bind(next)
    .bind(&name)
    .bind(&i.domain)
    .bind(serde_json::to_string(&i.items).unwrap_or_default())
    .bind(serde_json::to_string(&i.bands).unwrap_or_default())
    .bind(i.reassess_days)
    .bind(Utc::now())
    .bind(caller.user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| if crate::db::is_unique_violation(&e) { AppError::Conflict("error.stale") } else { e.into() })?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "instrument.publish",
            entity: "instrument",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "code": code, "version": next }),
        },
    )
    .await?;
    tx.commit().await?;
    let inst = instruments::get(&st.db, id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(inst)).into_response())
}

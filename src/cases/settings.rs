//! What the bureau configures for case work: follow-up tiers (intervals) and assessment
//! instruments (each edit publishes a new version; assessments keep the version they used).
//! The JSON API and the settings page (`/cases/settings`) share the checks and the writes.

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::instruments::{self, Band, Instrument, Item};
use super::model::{Domain, Tier};
use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Tr;
use crate::web::AppState;
use crate::web::extract::{ApiJson, PageForm, Q};
use crate::web::render::{Ctx, page_with_status};
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
    responses((status = 200, body = Tier), (status = 422, body = crate::error::ErrorBody)))]
pub async fn save_tier(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(t): ApiJson<TierInput>,
) -> AppResult<Json<Tier>> {
    Ok(Json(store_tier(&st.db, &caller, &t, None).await?))
}

/// Codes of tiers and instruments: lower-case letters, digits and _.
fn code_ok(code: &str, max: usize) -> bool {
    !code.is_empty()
        && code.len() <= max
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks a tier (API and settings page alike); returns its trimmed code and name.
fn check_tier(t: &TierInput) -> AppResult<(String, String)> {
    let mut errors = FieldErrors::default();
    let code = t.code.trim().to_string();
    if !code_ok(&code, 32) {
        errors.add("code", "tier.code_format");
    }
    let name = crate::web::form::clean_name(&t.name, "name", 60, &mut errors);
    if !(1..=366).contains(&t.interval_days) {
        errors.add("interval_days", "tier.interval_range");
    }
    errors.into_result()?;
    Ok((code, name))
}

/// Creates or changes a tier, with its audit row. `expected` is the version a page showed: a
/// tier changed since then is refused (`Stale`); the API passes `None`.
pub async fn store_tier(db: &Db, caller: &Caller, t: &TierInput, expected: Option<i64>) -> AppResult<Tier> {
    let (code, name) = check_tier(t)?;
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO follow_up_tiers (code, name, interval_days, sort, updated_at, updated_by) VALUES ($1, $2, $3, 100, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = $2, interval_days = $3, version = follow_up_tiers.version + 1, updated_at = $4, updated_by = $5
         WHERE $6 IS NULL OR follow_up_tiers.version = $6"
    )
    .bind(&code)
    .bind(&name)
    .bind(t.interval_days)
    .bind(Utc::now())
    .bind(caller.user_id)
    .bind(expected)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
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
    Ok(Tier { code, name, interval_days: t.interval_days })
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
    responses((status = 201, body = Instrument), (status = 422, body = crate::error::ErrorBody)))]
pub async fn publish_instrument(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(i): ApiJson<InstrumentInput>,
) -> AppResult<Response> {
    let inst = store_instrument(&st.db, &caller, &i, None).await?;
    Ok((StatusCode::CREATED, Json(inst)).into_response())
}

/// Checks an instrument definition (API and settings page alike) into `errors`; returns its
/// trimmed code and name.
fn check_instrument(i: &InstrumentInput, errors: &mut FieldErrors) -> (String, String) {
    let code = i.code.trim().to_string();
    if !code_ok(&code, 40) {
        errors.add("code", "tier.code_format");
    }
    let name = crate::web::form::clean_name(&i.name, "name", 100, errors);
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
        errors.add("reassess_days", "instrument.reassess_range");
    }
    (code, name)
}

/// Publishes the next version of an instrument (version 1 for a new code), with its audit row.
/// `expected` is the version a page showed: a version published since then is refused
/// (`Stale`); the API passes `None`.
pub async fn store_instrument(
    db: &Db,
    caller: &Caller,
    i: &InstrumentInput,
    expected: Option<i64>,
) -> AppResult<Instrument> {
    let mut errors = FieldErrors::default();
    let (code, name) = check_instrument(i, &mut errors);
    errors.into_result()?;
    let (next,): (i64,) =
        read!(db, |c| sqlx::query_as("SELECT COALESCE(MAX(version), 0) + 1 FROM instruments WHERE code = $1")
            .bind(&code)
            .fetch_one(c)
            .await)?;
    if let Some(v) = expected
        && next != v + 1
    {
        return Err(AppError::Stale);
    }
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
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
    instruments::get(db, id).await?.ok_or(AppError::NotFound)
}

// ---- The settings page (bureau): the same checks and writes as the API above. ----

/// One follow-up tier on the settings page, with what was typed into its form.
pub struct TierView {
    pub code: String,
    pub name: String,
    /// The version the form is based on (hidden field).
    pub version: String,
    /// The interval in the input: the one stored, or what was typed into a refused form.
    pub input: String,
    pub errors: Vec<String>,
}

/// One instrument on the settings page: its current version and the form for the next one.
pub struct InstrumentView {
    pub code: String,
    pub name: String,
    pub version: i64,
    pub domain_key: String,
    pub item_count: usize,
    pub reassess_days: i64,
    pub form: InstrumentForm,
    /// The version the form is based on (hidden field).
    pub base_version: String,
    /// (field, message); item fields look like `items[2].key`.
    pub errors: Vec<(String, String)>,
}

impl InstrumentView {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m)
    }
    /// Messages about the items list and single items (`items`, `items[n]…`).
    fn item_errors(&self) -> Vec<&String> {
        self.errors.iter().filter(|(f, _)| f == "items" || f.starts_with("items[")).map(|(_, m)| m).collect()
    }
}

#[derive(Template)]
#[template(path = "cases/settings.html")]
struct SettingsPage {
    ctx: Ctx,
    saved: bool,
    alerts: Vec<String>,
    tiers: Vec<TierView>,
    instruments: Vec<InstrumentView>,
    domains: Vec<(String, String)>,
}

impl SettingsPage {
    fn publish_label(&self, version: &i64) -> String {
        self.ctx.tr.f("settings.publish", &[&(version + 1)])
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct TierForm {
    #[serde(default)]
    pub interval_days: String,
    #[serde(default)]
    pub version: String,
}

/// The publish form: the definition as JSON lists (as the API takes them) plus the plain fields.
#[derive(Deserialize, Default, Clone)]
pub struct InstrumentForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub reassess_days: String,
    #[serde(default)]
    pub items: String,
    #[serde(default)]
    pub bands: String,
    #[serde(default)]
    pub version: String,
}

/// A JSON list with one entry per line, easy to edit on a small screen.
fn json_lines<T: Serialize>(list: &[T]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let rows: Vec<String> =
        list.iter().map(|v| format!("  {}", serde_json::to_string(v).unwrap_or_default())).collect();
    format!("[\n{}\n]", rows.join(",\n"))
}

impl InstrumentForm {
    fn from_instrument(i: &Instrument) -> InstrumentForm {
        InstrumentForm {
            name: i.name.clone(),
            domain: i.domain.clone(),
            reassess_days: i.reassess_days.to_string(),
            items: json_lines(&i.items),
            bands: json_lines(&i.bands),
            version: i.version.to_string(),
        }
    }
}

/// What a refused form leaves for the page: the typed input of the one form posted, and messages.
#[derive(Default)]
struct Feedback {
    alerts: Vec<String>,
    tier: Option<(String, TierForm)>,
    instrument: Option<(String, InstrumentForm)>,
    /// (field, message), for the form posted.
    errors: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    pub saved: Option<String>,
}

/// `GET /cases/settings`: follow-up tiers and instruments, each with its form.
pub async fn settings_page(State(st): State<AppState>, caller: Caller, Q(q): Q<SettingsQuery>) -> AppResult<Response> {
    render(&st, &caller, Feedback::default(), StatusCode::OK, q.saved.is_some()).await
}

async fn tier_rows(db: &Db) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as("SELECT code, name, interval_days, version FROM follow_up_tiers ORDER BY sort, code")
        .fetch_all(c)
        .await)
}

async fn render(st: &AppState, caller: &Caller, fb: Feedback, status: StatusCode, saved: bool) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/cases", "settings.title");
    let tr = ctx.tr;
    let mut alerts = fb.alerts;
    let mut placed = false;
    let tiers = tier_rows(&st.db)
        .await?
        .into_iter()
        .map(|(code, name, interval_days, version)| {
            let mine = fb.tier.as_ref().filter(|(c, _)| *c == code).map(|(_, f)| f);
            placed |= mine.is_some();
            TierView {
                input: mine.map_or_else(|| interval_days.to_string(), |f| f.interval_days.clone()),
                version: mine
                    .map(|f| f.version.clone())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| version.to_string()),
                errors: if mine.is_some() { fb.errors.iter().map(|(_, m)| m.clone()).collect() } else { Vec::new() },
                code,
                name,
            }
        })
        .collect();
    let instruments = instruments::current(&st.db)
        .await?
        .into_iter()
        .map(|i| {
            let mine = fb.instrument.as_ref().filter(|(c, _)| *c == i.code).map(|(_, f)| f.clone());
            placed |= mine.is_some();
            let errors = if mine.is_some() { fb.errors.clone() } else { Vec::new() };
            // There is no input for the code: a message about it goes to the top of the page.
            alerts.extend(errors.iter().filter(|(f, _)| f == "code").map(|(_, m)| m.clone()));
            let form = mine.unwrap_or_else(|| InstrumentForm::from_instrument(&i));
            InstrumentView {
                base_version: Some(form.version.clone())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| i.version.to_string()),
                form,
                errors,
                domain_key: format!("domain.{}", i.domain),
                item_count: i.items.len(),
                code: i.code,
                name: i.name,
                version: i.version,
                reassess_days: i.reassess_days,
            }
        })
        .collect();
    if !placed {
        alerts.extend(fb.errors.iter().map(|(_, m)| m.clone()));
    }
    let view = SettingsPage {
        saved,
        alerts,
        tiers,
        instruments,
        domains: Domain::ALL.iter().map(|d| (d.as_str().to_string(), tr.t(&d.label_key()))).collect(),
        ctx,
    };
    Ok(page_with_status(&view, status))
}

/// Re-renders the page for a refused form, keeping what was typed. After a stale refusal the
/// form is based on the version now in force, so saving again (after a look) goes through.
async fn refused(st: &AppState, caller: &Caller, e: AppError, mut fb: Feedback) -> AppResult<Response> {
    let tr = Tr(caller.lang);
    let status = match e {
        AppError::Invalid(errors) => {
            fb.alerts.insert(0, tr.t("error.invalid"));
            fb.errors.extend(errors.0.iter().map(|(f, c)| (f.clone(), field_message(tr, f, c))));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::Stale | AppError::Conflict(_) => {
            let code = if let AppError::Conflict(c) = e { c } else { "error.stale" };
            fb.alerts.push(tr.t(code));
            if let Some((_, f)) = fb.tier.as_mut() {
                f.version.clear();
            }
            if let Some((_, f)) = fb.instrument.as_mut() {
                f.version.clear();
            }
            StatusCode::CONFLICT
        }
        e => return Err(e),
    };
    render(st, caller, fb, status, false).await
}

/// A field message; one about a single item says which (`items[2].key` → "第 3 项：…").
fn field_message(tr: Tr, field: &str, code: &str) -> String {
    let item = field.strip_prefix("items[").and_then(|r| r.split_once(']')).and_then(|(n, _)| n.parse::<usize>().ok());
    match item {
        Some(n) => format!("{}{}", tr.f("settings.item_n", &[&(n + 1)]), tr.t(code)),
        None => tr.t(code),
    }
}

/// `POST /cases/settings/tiers/{code}`: a new interval for one tier.
pub async fn save_tier_form(
    State(st): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    PageForm(f): PageForm<TierForm>,
) -> AppResult<Response> {
    let current = tier_rows(&st.db).await?.into_iter().find(|t| t.0 == code);
    let fb = Feedback { tier: Some((code.clone(), f.clone())), ..Default::default() };
    let Some((_, name, _, _)) = current else {
        // A malformed code is bad input; a well-formed one that names no tier is missing.
        if code_ok(&code, 32) {
            return Err(AppError::NotFound);
        }
        return refused(&st, &caller, AppError::field("code", "tier.code_format"), fb).await;
    };
    let input = TierInput { code: code.clone(), name, interval_days: f.interval_days.trim().parse().unwrap_or(0) };
    match store_tier(&st.db, &caller, &input, Some(f.version.trim().parse().unwrap_or(0))).await {
        Ok(_) => Ok(Redirect::to(&format!("/cases/settings?saved=1#tier-{code}")).into_response()),
        Err(e) => refused(&st, &caller, e, fb).await,
    }
}

/// Parses one JSON list of the publish form; a syntax error says where.
fn parse_list<T: serde::de::DeserializeOwned>(
    text: &str,
    field: &str,
    code: &str,
    tr: Tr,
    errors: &mut Vec<(String, String)>,
) -> Vec<T> {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let at = tr.f("settings.json_at", &[&e.line(), &e.column()]);
            errors.push((field.to_string(), format!("{}{at}", tr.t(code))));
            Vec::new()
        }
    }
}

/// `POST /cases/settings/instruments/{code}`: publishes the next version of an instrument.
pub async fn publish_instrument_form(
    State(st): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    PageForm(f): PageForm<InstrumentForm>,
) -> AppResult<Response> {
    let tr = Tr(caller.lang);
    let exists = instruments::current(&st.db).await?.iter().any(|i| i.code == code);
    let mut fb = Feedback { instrument: Some((code.clone(), f.clone())), ..Default::default() };
    if !exists {
        if code_ok(&code, 40) {
            return Err(AppError::NotFound);
        }
        return refused(&st, &caller, AppError::field("code", "tier.code_format"), fb).await;
    }
    let mut json_errors = Vec::new();
    let input = InstrumentInput {
        code: code.clone(),
        name: f.name.clone(),
        domain: f.domain.clone(),
        items: parse_list(&f.items, "items", "instrument.items_json", tr, &mut json_errors),
        bands: parse_list(&f.bands, "bands", "instrument.bands_json", tr, &mut json_errors),
        reassess_days: f.reassess_days.trim().parse().unwrap_or(0),
    };
    let result = if json_errors.is_empty() {
        store_instrument(&st.db, &caller, &input, Some(f.version.trim().parse().unwrap_or(0))).await
    } else {
        // The other fields are checked too; a list that did not parse gets only its JSON message.
        let mut errors = FieldErrors::default();
        check_instrument(&input, &mut errors);
        errors
            .0
            .retain(|(field, _)| !json_errors.iter().any(|(j, _)| field == j || field.starts_with(&format!("{j}["))));
        Err(AppError::Invalid(errors))
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/cases/settings?saved=1#instrument-{code}")).into_response()),
        Err(e) => {
            fb.errors = json_errors;
            refused(&st, &caller, e, fb).await
        }
    }
}

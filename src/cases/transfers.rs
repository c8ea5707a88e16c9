//! Transfers between stations, as offers. The sending station's manager offers a case, with a
//! reason, to another station of the district; the case stays where it is (the sender keeps
//! reading and working it) until the receiving station's manager accepts (the case moves with
//! its whole history) or refuses with a reason (it stays, and the sender reads why). The sender
//! may withdraw a pending offer. One pending offer per case (a partial unique index).
//!
//! Every decision is a conditional UPDATE from `pending`, so of two decisions at once (two
//! managers, a double click, 50 parallel accepts) exactly one is taken and the others answer
//! 409. An offer is decided only by a manager bound to its station: anyone else is answered as
//! for an unknown offer.
//!
//! Before accepting, the receiving manager reads what they need to decide — the case number,
//! the client's name, current tags, the reason and the plan's goals — on `/cases/transfers`,
//! never the service records or notes: those are the sending station's until the case is theirs.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, bump};
use crate::audit::{self, Actor, Entry};
use crate::auth::{Caller, Scope};
use crate::db::{Db, Tx};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, PageForm};
use crate::web::render::{Ctx, page_with_status};
use crate::{read, write};

/// One offer of a case to another station.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Offer {
    pub id: Uuid,
    pub case_id: Uuid,
    pub case_number: String,
    #[serde(skip)]
    pub person_id: Uuid,
    /// The client's name.
    pub client_name: String,
    pub from_station_id: Uuid,
    pub from_station: String,
    pub to_station_id: Uuid,
    pub to_station: String,
    /// Why the sending station offers the case.
    pub reason: String,
    /// `pending`, `accepted`, `refused` or `withdrawn`.
    pub state: String,
    pub offered_at: DateTime<Utc>,
    pub offered_by_name: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by_name: Option<String>,
    /// Why the receiving station refused.
    pub decision_reason: Option<String>,
}

impl Offer {
    pub fn is_pending(&self) -> bool {
        self.state == "pending"
    }
}

/// A pending offer as a manager's home lists it: one the caller's station received
/// (`incoming`, to accept or refuse) or sent (to wait for, or withdraw).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingOffer {
    pub id: Uuid,
    pub incoming: bool,
    pub case_id: Uuid,
    pub case_number: String,
    pub client_name: String,
    pub from_station: String,
    pub to_station: String,
    pub reason: String,
    pub offered_at: DateTime<Utc>,
    /// Where to act on it: the offers page for an incoming one (the case is not the
    /// receiver's to read yet), the case page for an outgoing one.
    pub url: String,
}

const OFFER_COLS: &str = "SELECT o.id, o.case_id, c.number AS case_number, c.person_id, p.name AS client_name,
        o.from_station_id, f.name AS from_station, o.to_station_id, d.name AS to_station, o.reason, o.state,
        o.offered_at, ou.display_name AS offered_by_name, o.decided_at, du.display_name AS decided_by_name, o.decision_reason
     FROM case_transfer_offers o JOIN cases c ON c.id = o.case_id JOIN persons p ON p.id = c.person_id
     JOIN stations f ON f.id = o.from_station_id JOIN stations d ON d.id = o.to_station_id
     LEFT JOIN users ou ON ou.id = o.offered_by LEFT JOIN users du ON du.id = o.decided_by";

/// The stations a user manages: those whose place the (enabled) station manager is bound to.
const MANAGED: &str = "(SELECT s.id FROM stations s JOIN user_places up ON up.place_id = s.place_id
     JOIN users u ON u.id = up.user_id WHERE up.user_id = $1 AND u.role = 'station_manager' AND u.disabled = $2)";

/// Offers of one case, newest first (the case page; its reader is already in scope).
pub async fn of_case(db: &Db, case_id: Uuid) -> Result<Vec<Offer>, sqlx::Error> {
    of_cases(db, &[case_id]).await
}

/// [`of_case`] for several cases in one read.
pub async fn of_cases(db: &Db, cases: &[Uuid]) -> Result<Vec<Offer>, sqlx::Error> {
    let select = format!("{OFFER_COLS} WHERE o.case_id IN");
    super::store::of_cases(db, &select, cases, "ORDER BY o.offered_at DESC, o.id DESC").await
}

/// Offers to the stations `user` manages that wait for a decision.
async fn incoming(db: &Db, user: Uuid) -> Result<Vec<Offer>, sqlx::Error> {
    let sql = format!(
        "{OFFER_COLS} WHERE o.state = 'pending' AND o.to_station_id IN {MANAGED} ORDER BY o.offered_at, o.id LIMIT 200"
    );
    read!(db, |c| sqlx::query_as(&sql).bind(user).bind(false).fetch_all(c).await)
}

/// Offers from the stations `user` manages: pending ones and those decided in the last 30 days
/// (the sender reads a refusal's reason here, and where an accepted case went).
async fn outgoing(db: &Db, user: Uuid) -> Result<Vec<Offer>, sqlx::Error> {
    let sql = format!(
        "{OFFER_COLS} WHERE o.from_station_id IN {MANAGED} AND (o.state = 'pending' OR o.decided_at >= $3)
         ORDER BY o.offered_at DESC, o.id DESC LIMIT 200"
    );
    let since = Utc::now() - chrono::Duration::days(30);
    read!(db, |c| sqlx::query_as(&sql).bind(user).bind(false).bind(since).fetch_all(c).await)
}

/// The pending offers a manager's home shows: incoming first (they wait on the caller), oldest
/// first in each. Empty for anyone who manages no station.
pub async fn pending_offers(st: &AppState, caller: &Caller) -> AppResult<Vec<PendingOffer>> {
    let mut out: Vec<PendingOffer> =
        incoming(&st.db, caller.user_id).await?.into_iter().map(|o| pending(o, true)).collect();
    let mut sent: Vec<PendingOffer> = outgoing(&st.db, caller.user_id)
        .await?
        .into_iter()
        .filter(Offer::is_pending)
        .map(|o| pending(o, false))
        .collect();
    sent.reverse();
    out.extend(sent);
    Ok(out)
}

fn pending(o: Offer, incoming: bool) -> PendingOffer {
    let url = if incoming { format!("/cases/transfers#offer-{}", o.id) } else { format!("/cases/{}", o.case_id) };
    PendingOffer {
        id: o.id,
        incoming,
        case_id: o.case_id,
        case_number: o.case_number,
        client_name: o.client_name,
        from_station: o.from_station,
        to_station: o.to_station,
        reason: o.reason,
        offered_at: o.offered_at,
        url,
    }
}

async fn offer_by_id(db: &Db, id: Uuid) -> Result<Option<Offer>, sqlx::Error> {
    let sql = format!("{OFFER_COLS} WHERE o.id = $1");
    read!(db, |c| sqlx::query_as(&sql).bind(id).fetch_optional(c).await)
}

/// Offers an open case of the caller's scope to another active station of its district that has
/// a manager to decide. The case does not move.
pub async fn offer(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    station_id: Option<Uuid>,
    reason: &str,
) -> Result<Uuid, AppError> {
    let case = store::get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() {
        return Err(AppError::Conflict("case.closed"));
    }
    let mut errors = FieldErrors::default();
    let reason = crate::web::form::clean_name(reason, "reason", 500, &mut errors);
    // Only to a station of the case's own district: another district's station would take a
    // resident's file out of sight of the bureau responsible for them.
    let district = crate::scope::district_of(&case.path);
    let target: Option<(Uuid, String, String)> = match station_id {
        Some(station_id) => read!(db, |c| {
            sqlx::query_as(
                "SELECT s.id, s.name, pl.path FROM stations s JOIN places pl ON pl.id = s.place_id
                 WHERE s.id = $1 AND s.active = $2 AND pl.path >= $3 AND pl.path < $4",
            )
            .bind(station_id)
            .bind(true)
            .bind(district)
            .bind(crate::scope::subtree_end(district))
            .fetch_optional(c)
            .await
        })?,
        None => None,
    };
    let target = match target {
        Some(t) if t.0 != case.station_id => Some(t),
        Some(_) => {
            errors.add("station_id", "transfer.same_station");
            None
        }
        // No default station: an offer sent without a choice is a slip, not a wish to send the
        // case to whichever station comes first.
        None if station_id.is_none() => {
            errors.add("station_id", "transfer.choose_station");
            None
        }
        None => {
            errors.add("station_id", "error.bad_choice");
            None
        }
    };
    if let Some((_, _, path)) = &target {
        let managers: Vec<(Uuid,)> = read!(db, |c| {
            sqlx::query_as(
                "SELECT u.id FROM users u JOIN user_places up ON up.user_id = u.id JOIN places pl ON pl.id = up.place_id
                 WHERE u.role = 'station_manager' AND u.disabled = $1 AND pl.path = $2 LIMIT 1",
            )
            .bind(false)
            .bind(path)
            .fetch_all(c)
            .await
        })?;
        if managers.is_empty() {
            errors.add("station_id", "transfer.no_manager");
        }
    }
    errors.into_result()?;
    let (target_id, target_name, _) = target.expect("validated");
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "INSERT INTO case_transfer_offers (id, case_id, from_station_id, to_station_id, reason, state, offered_at, offered_by)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)"
    )
    .bind(id)
    .bind(case_id)
    .bind(case.station_id)
    .bind(target_id)
    .bind(&reason)
    .bind(Utc::now())
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .map_err(|e| if crate::db::is_unique_violation(&e) { AppError::Conflict("transfer.pending") } else { e.into() })?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "case.transfer_offer",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "offer": id, "from": case.station_name, "to": target_name, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What a manager decides on a pending offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Refuse,
    Withdraw,
}

impl Decision {
    fn state(self) -> &'static str {
        match self {
            Decision::Accept => "accepted",
            Decision::Refuse => "refused",
            Decision::Withdraw => "withdrawn",
        }
    }
    fn action(self) -> &'static str {
        match self {
            Decision::Accept => "case.transfer_accept",
            Decision::Refuse => "case.transfer_refuse",
            Decision::Withdraw => "case.transfer_withdraw",
        }
    }
}

/// Takes a decision on a pending offer: the receiving station's manager accepts or refuses (a
/// reason required), the sending station's manager withdraws. Anyone else, and an unknown
/// offer, is NotFound; an offer decided already (perhaps a moment ago, by someone else) is 409.
pub async fn decide(
    db: &Db,
    actor: &Actor,
    user: Uuid,
    offer_id: Uuid,
    decision: Decision,
    reason: &str,
) -> Result<Offer, AppError> {
    let mut errors = FieldErrors::default();
    let reason = match decision {
        Decision::Refuse => Some(crate::web::form::clean_name(reason, "reason", 500, &mut errors)),
        _ => None,
    };
    // The side of the offer the caller must manage for this decision.
    let side = if decision == Decision::Withdraw { "from_station_id" } else { "to_station_id" };
    let Some(offer) = offer_by_id(db, offer_id).await? else { return Err(AppError::NotFound) };
    let managed: Option<(Uuid,)> = read!(db, |c| {
        sqlx::query_as(&format!("SELECT id FROM case_transfer_offers WHERE id = $3 AND {side} IN {MANAGED}"))
            .bind(user)
            .bind(false)
            .bind(offer_id)
            .fetch_optional(c)
            .await
    })?;
    if managed.is_none() {
        return Err(AppError::NotFound);
    }
    errors.into_result()?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    // The claim: only from `pending`, and only by a manager of that side, in one statement. Of
    // decisions at once, the first to commit wins; the others find the state changed.
    let n = write!(&mut tx, |c| sqlx::query(&format!(
        "UPDATE case_transfer_offers SET state = $3, decided_at = $4, decided_by = $1, decision_reason = $5
         WHERE id = $6 AND state = 'pending' AND {side} IN {MANAGED}"
    ))
    .bind(user)
    .bind(false)
    .bind(decision.state())
    .bind(now)
    .bind(&reason)
    .bind(offer_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(AppError::Conflict("transfer.decided"));
    }
    let mut detail = serde_json::json!({
        "offer": offer_id, "from": offer.from_station, "to": offer.to_station, "reason": reason,
    });
    if decision == Decision::Accept {
        let transfer_id = move_case(&mut tx, actor, user, &offer, now).await?;
        detail["transfer"] = serde_json::json!(transfer_id);
    }
    audit::record(
        &mut tx,
        actor,
        Entry { action: decision.action(), entity: "case", entity_id: Some(offer.case_id.to_string()), detail },
    )
    .await?;
    tx.commit().await?;
    offer_by_id(db, offer_id).await?.ok_or(AppError::NotFound)
}

/// Moves the case of an accepted offer to the receiving station, with its whole history: the
/// receiving station reads every record (each still names the station and worker who wrote it)
/// and the accepting manager becomes the responsible worker until they reassign it. The client
/// goes with the case (`people::store::visible`): the sending station no longer reads the case
/// or the notes, nor, until the case is closed, the person.
async fn move_case(
    tx: &mut Tx,
    actor: &Actor,
    manager: Uuid,
    offer: &Offer,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    // The case as it is now, inside the transaction: closed since the offer, or moved by some
    // other way, it is not the case that was offered.
    let row: Option<(String, String)> = write!(&mut *tx, |c| sqlx::query_as(
        "SELECT c.status, pl.path FROM cases c JOIN stations s ON s.id = $2 JOIN places pl ON pl.id = s.place_id
         WHERE c.id = $1 AND c.station_id = $3"
    )
    .bind(offer.case_id)
    .bind(offer.to_station_id)
    .bind(offer.from_station_id)
    .fetch_optional(c)
    .await)?;
    let Some((status, target_path)) = row else { return Err(AppError::Conflict("transfer.case_moved")) };
    if super::model::Status::parse(&status) == Some(super::model::Status::Closed) {
        return Err(AppError::Conflict("case.closed"));
    }
    bump(
        &mut *tx,
        actor,
        offer.case_id,
        None,
        "station_id = $1, path = $2, worker_id = $3",
        vec![offer.to_station_id.into(), target_path.clone().into(), manager.into()],
    )
    .await?;
    crate::search::repath(&mut *tx, "case", offer.case_id, &target_path).await?;
    // The notes are found where the case is now.
    write!(&mut *tx, |c| {
        sqlx::query(
            "UPDATE search_terms SET path = $1 WHERE entity = 'record' AND entity_id IN (SELECT id FROM service_records WHERE case_id = $2)",
        )
        .bind(&target_path)
        .bind(offer.case_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    let transfer_id = Uuid::now_v7();
    write!(&mut *tx, |c| sqlx::query(
        "INSERT INTO case_transfers (id, case_id, from_station_id, to_station_id, reason, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(transfer_id)
    .bind(offer.case_id)
    .bind(offer.from_station_id)
    .bind(offer.to_station_id)
    .bind(&offer.reason)
    .bind(now)
    .bind(manager)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    write!(&mut *tx, |c| sqlx::query("UPDATE case_transfer_offers SET transfer_id = $1 WHERE id = $2")
        .bind(transfer_id)
        .bind(offer.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(transfer_id)
}

// ---- Pages ----

#[derive(Deserialize, Default, Clone)]
pub struct TransferForm {
    #[serde(default)]
    pub station_id: String,
    #[serde(default)]
    pub reason: String,
}

fn station_choice(f: &TransferForm) -> Result<Option<Uuid>, AppError> {
    match f.station_id.trim() {
        "" => Ok(None),
        s => Uuid::parse_str(s).map(Some).map_err(|_| AppError::field("station_id", "error.bad_choice")),
    }
}

/// The sending manager offers the case (the transfer form of the case page).
pub async fn offer_form(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<TransferForm>,
) -> AppResult<Response> {
    let result = match station_choice(&f) {
        Ok(station) => offer(&st.db, &caller.scope, &caller.actor(), id, station, &f.reason).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}#transfer")).into_response()),
        Err(e) => {
            // The closure form on the same page has its own reason field.
            let e = match e {
                AppError::Invalid(mut errors) => {
                    for (field, _) in errors.0.iter_mut() {
                        if field == "reason" {
                            *field = "transfer_reason".into();
                        }
                    }
                    AppError::Invalid(errors)
                }
                e => e,
            };
            super::pages::refused_transfer(&st, &caller, id, e, f).await
        }
    }
}

#[derive(Template)]
#[template(path = "cases/transfers.html")]
struct OffersPage {
    ctx: Ctx,
    incoming: Vec<Incoming>,
    outgoing: Vec<Offer>,
    /// A refusal sent without a reason: the offer, the message and what was typed.
    refusal_error: Option<(Uuid, String, String)>,
    /// A decision that came too late (decided meanwhile), or on a case closed meanwhile.
    notice: Option<String>,
}

struct Incoming {
    offer: Offer,
    tags: Vec<String>,
    /// The goals of the plan in force (or of the draft), cut short.
    plan: Option<String>,
}

impl OffersPage {
    fn when(&self, t: &DateTime<Utc>) -> String {
        crate::web::local_time(t)
    }
    fn refusal_error_for(&self, id: &Uuid) -> Option<&String> {
        self.refusal_error.as_ref().filter(|(o, _, _)| o == id).map(|(_, m, _)| m)
    }
    fn refusal_typed(&self, id: &Uuid) -> &str {
        self.refusal_error.as_ref().filter(|(o, _, _)| o == id).map_or("", |(_, _, t)| t.as_str())
    }
    fn when_opt(&self, t: &Option<DateTime<Utc>>) -> String {
        t.as_ref().map(crate::web::local_time).unwrap_or_default()
    }
    fn state_text(&self, o: &Offer) -> String {
        self.ctx.t(&format!("offer.state_{}", o.state))
    }
}

async fn render_offers(
    st: &AppState,
    caller: &Caller,
    refusal_error: Option<(Uuid, String, String)>,
    notice: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/cases", "offer.title");
    let tr = ctx.tr;
    let mut list = Vec::new();
    for offer in incoming(&st.db, caller.user_id).await? {
        let tags =
            store::current_tags(&st.db, offer.person_id).await?.into_iter().map(|t| tr.t(&t.label_key())).collect();
        let plans = store::plans(&st.db, offer.case_id).await?;
        let plan = plans
            .iter()
            .find(|p| p.status == "approved")
            .or(plans.first())
            .map(|p| p.goals.chars().take(300).collect::<String>());
        list.push(Incoming { offer, tags, plan });
    }
    let view =
        OffersPage { incoming: list, outgoing: outgoing(&st.db, caller.user_id).await?, refusal_error, notice, ctx };
    Ok(page_with_status(&view, status))
}

/// The offers a manager's stations received and sent.
pub async fn offers_page(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    render_offers(&st, &caller, None, None, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    pub reason: String,
}

async fn decide_page(
    st: AppState,
    caller: Caller,
    id: Uuid,
    decision: Decision,
    reason: String,
) -> AppResult<Response> {
    match decide(&st.db, &caller.actor(), caller.user_id, id, decision, &reason).await {
        Ok(o) if decision == Decision::Accept => Ok(Redirect::to(&format!("/cases/{}", o.case_id)).into_response()),
        Ok(o) if decision == Decision::Withdraw => {
            Ok(Redirect::to(&format!("/cases/{}#transfer", o.case_id)).into_response())
        }
        Ok(_) => Ok(Redirect::to("/cases/transfers").into_response()),
        Err(AppError::Invalid(errors)) => {
            let code = errors.0.first().map_or("error.invalid", |(_, c)| *c);
            let msg = caller_tr(&caller).t(code);
            render_offers(&st, &caller, Some((id, msg, reason)), None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::Conflict(code)) => {
            let msg = caller_tr(&caller).t(code);
            render_offers(&st, &caller, None, Some(msg), StatusCode::CONFLICT).await
        }
        Err(e) => Err(e),
    }
}

fn caller_tr(caller: &Caller) -> crate::i18n::Tr {
    crate::i18n::Tr(caller.lang)
}

pub async fn accept_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    decide_page(st, caller, id, Decision::Accept, String::new()).await
}

pub async fn refuse_form(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<DecisionForm>,
) -> AppResult<Response> {
    decide_page(st, caller, id, Decision::Refuse, f.reason).await
}

pub async fn withdraw_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    decide_page(st, caller, id, Decision::Withdraw, String::new()).await
}

// ---- API ----

/// An offer of a case to another station of the district.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    /// The receiving station (active, of the case's district, with a manager).
    pub station_id: Option<Uuid>,
    /// Why the case should move (required, up to 500 characters).
    pub reason: String,
}

/// A refusal, with its reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefusalInput {
    /// Why the receiving station does not take the case (required, up to 500 characters).
    pub reason: String,
}

/// Offer a case to another station. The case stays at the caller's station until the receiving
/// station's manager accepts; one pending offer per case (409 `transfer.pending`).
#[utoipa::path(post, path = "/api/v1/cases/{id}/transfer-offers", tag = "cases", request_body = OfferInput,
    params(("id" = Uuid, Path, description = "Case id")),
    responses((status = 201, body = Offer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_offer(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<OfferInput>,
) -> AppResult<Response> {
    let offer_id = offer(&st.db, &caller.scope, &caller.actor(), id, input.station_id, &input.reason).await?;
    let o = offer_by_id(&st.db, offer_id).await?.ok_or(AppError::NotFound)?;
    let mut res = (StatusCode::CREATED, Json(&o)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/transfer-offers/{offer_id}")) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// Pending offers of the caller's stations: received (`incoming`, to accept or refuse) and sent.
#[utoipa::path(get, path = "/api/v1/transfer-offers", tag = "cases",
    responses((status = 200, body = Vec<PendingOffer>), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn api_pending(State(st): State<AppState>, caller: Caller) -> AppResult<Json<Vec<PendingOffer>>> {
    Ok(Json(pending_offers(&st, &caller).await?))
}

/// Accept an offer made to the caller's station: the case moves, with its history, and the
/// caller becomes its responsible worker. 404 for an offer to another station; 409 once decided.
#[utoipa::path(post, path = "/api/v1/transfer-offers/{id}/accept", tag = "cases",
    params(("id" = Uuid, Path, description = "Offer id")),
    responses((status = 200, body = Offer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn api_accept(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<Offer>> {
    Ok(Json(decide(&st.db, &caller.actor(), caller.user_id, id, Decision::Accept, "").await?))
}

/// Refuse an offer made to the caller's station, with a reason the sender reads; the case stays.
#[utoipa::path(post, path = "/api/v1/transfer-offers/{id}/refuse", tag = "cases", request_body = RefusalInput,
    params(("id" = Uuid, Path, description = "Offer id")),
    responses((status = 200, body = Offer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_refuse(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<RefusalInput>,
) -> AppResult<Json<Offer>> {
    Ok(Json(decide(&st.db, &caller.actor(), caller.user_id, id, Decision::Refuse, &input.reason).await?))
}

/// Withdraw a pending offer the caller's station made.
#[utoipa::path(post, path = "/api/v1/transfer-offers/{id}/withdraw", tag = "cases",
    params(("id" = Uuid, Path, description = "Offer id")),
    responses((status = 200, body = Offer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn api_withdraw(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<Offer>> {
    Ok(Json(decide(&st.db, &caller.actor(), caller.user_id, id, Decision::Withdraw, "").await?))
}

// ---- History ----

/// The moves of a case between stations, oldest first.
pub async fn transfers(db: &Db, case_id: Uuid) -> Result<Vec<super::model::Transfer>, sqlx::Error> {
    transfers_of(db, &[case_id]).await
}

/// [`transfers`] of several cases in one read.
pub async fn transfers_of(db: &Db, cases: &[Uuid]) -> Result<Vec<super::model::Transfer>, sqlx::Error> {
    super::store::of_cases(
        db,
        "SELECT t.id, t.case_id, f.name AS from_station, d.name AS to_station, t.reason, t.created_at,
                u.display_name AS created_by_name
         FROM case_transfers t JOIN stations f ON f.id = t.from_station_id JOIN stations d ON d.id = t.to_station_id
         LEFT JOIN users u ON u.id = t.created_by WHERE t.case_id IN",
        cases,
        "ORDER BY t.created_at, t.id",
    )
    .await
}

/// Active stations of the district a case lies in (`case_path`): where it may be offered.
pub async fn station_options(db: &Db, case_path: &str) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let district = crate::scope::district_of(case_path);
    read!(db, |c| sqlx::query_as(
        "SELECT s.id, s.name FROM stations s JOIN places pl ON pl.id = s.place_id
         WHERE s.active = $1 AND pl.path >= $2 AND pl.path < $3 ORDER BY s.name"
    )
    .bind(true)
    .bind(district)
    .bind(crate::scope::subtree_end(district))
    .fetch_all(c)
    .await)
}

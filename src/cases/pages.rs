//! HTML screens for case work: the case list, the due-follow-up list with caseload figures, and
//! the case page where a worker assesses, plans, records services and asks to close, and the
//! station manager approves plans and closures.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::instruments::{self, Instrument};
use super::model::*;
use super::store::{self, Assessment, CaseFilter, Kpi};
use super::transfers::{self, Offer, TransferForm};
use crate::audit::{self, Entry};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Tr;
use crate::people::model::Person;
use crate::people::store::today;
use crate::people::timeline::Event;
use crate::web::AppState;
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{ListPage, query_of};

pub use crate::roles::CASE_READERS;
/// Who opens cases and writes in them.
pub const CASE_WRITERS: &[Role] = &[Role::StationManager, Role::SocialWorker];
/// Who approves plans and closures, and grants access to children's records.
pub const CASE_APPROVERS: &[Role] = &[Role::StationManager];

#[derive(Deserialize, Default, Clone)]
pub struct IntakeForm {
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub tier: String,
}

#[derive(Default)]
pub struct IntakeOptions {
    pub domains: Vec<(String, String)>,
    pub sources: Vec<(String, String)>,
    pub tiers: Vec<(String, String)>,
}

fn choices(tr: Tr, keys: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), tr.t("filter.choose"))];
    v.extend(keys.into_iter().map(|(code, key)| (code.to_string(), tr.t(&key))));
    v
}

pub async fn intake_options(st: &AppState, tr: Tr) -> AppResult<IntakeOptions> {
    let mut tiers = vec![(String::new(), tr.t("case.tier_suggested"))];
    tiers.extend(
        store::tiers(&st.db)
            .await?
            .into_iter()
            .map(|t| (t.code, format!("{} ({})", t.name, tr.f("case.every_days", &[&t.interval_days])))),
    );
    Ok(IntakeOptions {
        domains: choices(tr, Domain::ALL.iter().map(|d| (d.as_str(), d.label_key())).collect()),
        sources: choices(tr, Source::ALL.iter().map(|d| (d.as_str(), d.label_key())).collect()),
        tiers,
    })
}

pub async fn intake(st: &AppState, caller: &Caller, person_id: Uuid, f: &IntakeForm) -> AppResult<Uuid> {
    if !caller.is(CASE_WRITERS) {
        return Err(AppError::Forbidden);
    }
    let input = IntakeInput {
        person_id,
        domain: f.domain.clone(),
        source: f.source.clone(),
        summary: f.summary.clone(),
        tier: Some(f.tier.clone()).filter(|t| !t.is_empty()),
        worker_id: None,
    };
    Ok(store::intake(&st.db, &caller.scope, &caller.actor(), &input).await?.id)
}

/// Cases of a person that the caller may see (none for roles outside case work).
pub async fn cases_of(st: &AppState, caller: &Caller, person_id: Uuid) -> AppResult<Vec<Case>> {
    if !caller.is(CASE_READERS) {
        return Ok(Vec::new());
    }
    let f = CaseFilter { person_id: Some(person_id), ..Default::default() };
    Ok(store::list(&st.db, &caller.scope, &f, 100, 0).await?.0)
}

/// Children's records (under 14): the case team and the station manager open them; any other
/// worker needs a grant that has not expired. Every opening is recorded.
pub async fn check_child_access(st: &AppState, caller: &Caller, person: &Person) -> AppResult<()> {
    if !person.is_child(today()) {
        return Ok(());
    }
    let allowed = match caller.role {
        Role::StationManager | Role::BureauAdmin => true,
        Role::SocialWorker => {
            let (n,): (i64,) = crate::read!(&st.db, |c| {
                sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM cases WHERE person_id = $1 AND worker_id = $2)
                      + (SELECT COUNT(*) FROM child_access_grants WHERE person_id = $1 AND user_id = $2 AND expires_at > $3)"
            )
            .bind(person.id)
            .bind(caller.user_id)
            .bind(Utc::now())
            .fetch_one(c)
            .await
            })?;
            n > 0
        }
        _ => false,
    };
    audit::record_alone(
        &st.db,
        &caller.actor(),
        Entry {
            action: if allowed { "child.open" } else { "child.denied" },
            entity: "person",
            entity_id: Some(person.id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    if allowed { Ok(()) } else { Err(AppError::Forbidden) }
}

/// The child-record check for handlers that act on a person by id (reveal, tag, edit), and for a
/// case's client: a station sees the people it holds cases of, so a client out of sight means
/// the case answers as missing, never that the check is skipped.
pub async fn guard_person(st: &AppState, caller: &Caller, person_id: Uuid) -> AppResult<()> {
    let person = crate::people::store::get(&st.db, &caller.scope, person_id).await?.ok_or(AppError::NotFound)?;
    check_child_access(st, caller, &person).await
}

/// Of these cases, the ones whose client is a child the caller may not open: for a social
/// worker, a child with no case of theirs and no grant (managers and the bureau open every
/// child's record). Lists use it to leave such a case's summary and notes out; no audit row is
/// written, since nothing of the record is shown.
pub async fn closed_children(st: &AppState, caller: &Caller, case_ids: &[Uuid]) -> AppResult<Vec<Uuid>> {
    if case_ids.is_empty() || matches!(caller.role, Role::StationManager | Role::BureauAdmin) {
        return Ok(Vec::new());
    }
    let cutoff = today() - chrono::Months::new(12 * crate::people::model::CHILD_AGE as u32);
    let mut args = crate::db::query::Args::new();
    let ids = args.list(case_ids);
    let (cutoff, user, now) = (args.push(cutoff), args.push(caller.user_id), args.push(Utc::now()));
    let sql = format!(
        "SELECT c.id FROM cases c JOIN persons p ON p.id = c.person_id
         WHERE c.id IN ({ids}) AND p.birth_date > {cutoff}
           AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.person_id = p.id AND o.worker_id = {user})
           AND NOT EXISTS (SELECT 1 FROM child_access_grants g WHERE g.person_id = p.id AND g.user_id = {user} AND g.expires_at > {now})"
    );
    let rows: Vec<(Uuid,)> = crate::db::query::all(&st.db, &sql, &args).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Blanks the summary of the listed cases whose child's record is closed to the caller.
pub async fn hide_closed_children(st: &AppState, caller: &Caller, cases: &mut [Case]) -> AppResult<()> {
    let closed = closed_children(st, caller, &cases.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
    for c in cases.iter_mut().filter(|c| closed.contains(&c.id)) {
        c.summary = String::new();
    }
    Ok(())
}

/// A case the caller may work on: in scope (else 404) and, for a child's case, opened to them
/// (else 403, audited). Every write to a case passes here first, as every read does: a child's
/// record refused to a worker is refused whichever route they take to it.
pub async fn guard_case(st: &AppState, caller: &Caller, case_id: Uuid) -> AppResult<Case> {
    let case = store::get(&st.db, &caller.scope, case_id).await?.ok_or(AppError::NotFound)?;
    guard_person(st, caller, case.person_id).await?;
    Ok(case)
}

#[derive(Deserialize, Default)]
pub struct GrantForm {
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub days: String,
    #[serde(default)]
    pub reason: String,
}

/// A station manager lets one worker open a child's records for a few days.
pub async fn grant_child_access(
    State(st): State<AppState>,
    caller: Caller,
    Id(person_id): Id,
    PageForm(f): PageForm<GrantForm>,
) -> AppResult<Response> {
    let person = crate::people::store::get(&st.db, &caller.scope, person_id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let days: i64 = f.days.trim().parse().unwrap_or(0);
    if !(1..=30).contains(&days) {
        errors.add("days", "grant.days_range");
    }
    let reason = crate::web::form::clean_name(&f.reason, "reason", 200, &mut errors);
    // A worker of the manager's own station (or below it): an account elsewhere, or one that
    // does no case work, answers like an unknown one.
    let mut args = crate::db::query::Args::new();
    let sql = format!(
        "SELECT u.id FROM users u WHERE u.account = {} AND NOT u.disabled AND u.role IN ('social_worker', 'station_manager')
           AND EXISTS (SELECT 1 FROM user_places up JOIN places pl ON pl.id = up.place_id WHERE up.user_id = u.id AND {})",
        args.push(f.account.trim()),
        args.scope("pl.path", &caller.scope)
    );
    let user: Option<(Uuid,)> = crate::db::query::optional(&st.db, &sql, &args).await?;
    if user.is_none() {
        errors.add("account", "grant.unknown_account");
    }
    errors.into_result()?;
    let user_id = user.expect("validated").0;
    let mut tx = st.db.begin().await?;
    crate::write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO child_access_grants (id, person_id, user_id, reason, expires_at, granted_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(Uuid::now_v7())
    .bind(person.id)
    .bind(user_id)
    .bind(&reason)
    .bind(Utc::now() + Duration::days(days))
    .bind(caller.user_id)
    .bind(Utc::now())
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "child.grant",
            entity: "person",
            entity_id: Some(person.id.to_string()),
            detail: serde_json::json!({ "user_id": user_id, "days": days, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/people/{person_id}")).into_response())
}

fn record_event(
    tr: Tr,
    case: &Case,
    r: crate::cases::model::ServiceRecord,
    restricted_hidden: bool,
    href: &Option<String>,
) -> Event {
    let hidden = restricted_hidden && RecordKind::parse(&r.kind).is_some_and(|k| k.is_restricted());
    Event {
        on: r.occurred_on,
        order: r.id,
        kind: format!("record.{}", r.kind),
        title: format!("{} · {}", case.number, tr.f("record.minutes_n", &[&r.minutes])),
        detail: if hidden { tr.t("record.restricted") } else { r.notes },
        href: href.clone(),
    }
}

/// A grant to open a child's records that has not expired, for the manager's list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveGrant {
    pub id: Uuid,
    pub user_name: String,
    pub account: String,
    pub reason: String,
    pub expires_at: chrono::DateTime<Utc>,
}

impl ActiveGrant {
    pub fn expires(&self) -> String {
        self.expires_at.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    }
}

pub async fn active_grants(st: &AppState, person_id: Uuid) -> AppResult<Vec<ActiveGrant>> {
    Ok(crate::read!(&st.db, |c| sqlx::query_as(
        "SELECT g.id, u.display_name AS user_name, u.account, g.reason, g.expires_at
         FROM child_access_grants g JOIN users u ON u.id = g.user_id
         WHERE g.person_id = $1 AND g.expires_at > $2 ORDER BY g.expires_at"
    )
    .bind(person_id)
    .bind(Utc::now())
    .fetch_all(c)
    .await)?)
}

/// The manager ends a grant before it runs out: it expires now, and the audit says who and when.
pub async fn revoke_child_access(State(st): State<AppState>, caller: Caller, Id(grant_id): Id) -> AppResult<Response> {
    let grant: Option<(Uuid, Uuid)> = crate::read!(&st.db, |c| sqlx::query_as(
        "SELECT person_id, user_id FROM child_access_grants WHERE id = $1 AND expires_at > $2"
    )
    .bind(grant_id)
    .bind(Utc::now())
    .fetch_optional(c)
    .await)?;
    let (person_id, user_id) = grant.ok_or(AppError::NotFound)?;
    // The grant belongs to a person in the manager's scope, or it does not exist for them.
    crate::people::store::get(&st.db, &caller.scope, person_id).await?.ok_or(AppError::NotFound)?;
    let mut tx = st.db.begin().await?;
    crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE child_access_grants SET expires_at = $1 WHERE id = $2 AND expires_at > $1"
    )
    .bind(Utc::now())
    .bind(grant_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "child.grant_revoke",
            entity: "person",
            entity_id: Some(person_id.to_string()),
            detail: serde_json::json!({ "grant_id": grant_id, "user_id": user_id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/people/{person_id}#rights")).into_response())
}

/// Case events for the person timeline, from `cases`: the person's cases the caller may see
/// ([`cases_of`]). Each kind of event is one read over all the cases, the five asked at once;
/// with `records`, only that many of the newest service records.
pub async fn timeline_events(
    st: &AppState,
    caller: &Caller,
    cases: &[Case],
    records: Option<usize>,
) -> AppResult<Vec<Event>> {
    let tr = Tr(caller.lang);
    let mut out = Vec::new();
    if cases.is_empty() {
        return Ok(out);
    }
    let restricted_hidden = !can_read_restricted(caller);
    let ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    let (offers, moves, assessments, plans, records) = tokio::try_join!(
        transfers::of_cases(&st.db, &ids),
        transfers::transfers_of(&st.db, &ids),
        store::assessments_of(&st.db, &ids),
        store::plans_of(&st.db, &ids),
        store::newest_records_of(&st.db, &ids, records),
    )?;
    let by_id: HashMap<Uuid, &Case> = cases.iter().map(|c| (c.id, c)).collect();
    let href = |case: Uuid| Some(format!("/cases/{case}"));
    for case in cases {
        out.push(Event {
            on: case.opened_on,
            order: case.id,
            kind: "case.opened".into(),
            title: format!("{} · {}", case.number, tr.t(&format!("domain.{}", case.domain))),
            detail: case.summary.clone(),
            href: href(case.id),
        });
        if let Some(closed) = case.closed_on {
            out.push(Event {
                on: closed,
                order: case.id,
                kind: "case.closed".into(),
                title: case.number.clone(),
                detail: case.closure_reason.clone().unwrap_or_default(),
                href: href(case.id),
            });
        }
    }
    for o in offers {
        // An accepted offer is the transfer below; the others are told as what they were.
        let (kind, detail) = match o.state.as_str() {
            "pending" => ("case.transfer_offered", o.reason.clone()),
            "refused" => ("case.transfer_refused", o.decision_reason.clone().unwrap_or_default()),
            "withdrawn" => ("case.transfer_withdrawn", o.reason.clone()),
            _ => continue,
        };
        let at = o.decided_at.unwrap_or(o.offered_at);
        out.push(Event {
            on: at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
            order: o.id,
            kind: kind.into(),
            title: format!("{} · {} → {}", o.case_number, o.from_station, o.to_station),
            detail,
            href: href(o.case_id),
        });
    }
    for t in moves {
        let Some(case) = by_id.get(&t.case_id) else { continue };
        out.push(Event {
            on: t.created_at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
            order: t.id,
            kind: "case.transferred".into(),
            title: format!("{} · {} → {}", case.number, t.from_station, t.to_station),
            detail: t.reason,
            href: href(case.id),
        });
    }
    for a in assessments {
        out.push(Event {
            on: a.assessed_on,
            order: a.id,
            kind: "case.assessed".into(),
            title: format!("{} v{}", a.instrument_name, a.instrument_version),
            detail: format!("{} · {}", a.score, a.band_label()),
            href: href(a.case_id),
        });
    }
    for p in plans {
        let (Some(at), Some(case)) = (p.approved_at, by_id.get(&p.case_id)) else { continue };
        out.push(Event {
            on: at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
            order: p.id,
            kind: "plan.approved".into(),
            title: case.number.clone(),
            detail: p.goals.clone(),
            href: href(case.id),
        });
    }
    for r in records {
        let Some(case) = by_id.get(&r.case_id) else { continue };
        out.push(record_event(tr, case, r, restricted_hidden, &href(case.id)));
    }
    Ok(out)
}

/// Counselling notes stay inside the owning station: the bureau sees that they exist, not what they say.
fn can_read_restricted(caller: &Caller) -> bool {
    caller.is(CASE_WRITERS)
}

/// Case summaries and notes matching the text: (case id, case number, excerpt).
pub async fn search_notes(st: &AppState, caller: &Caller, q: &str) -> AppResult<Vec<(Uuid, String, String)>> {
    let hits = crate::search::find(&st.db, &caller.scope, &["case", "record"], q, 50).await?;
    let ids = |entity: &str| hits.iter().filter(|h| h.entity == entity).map(|h| h.entity_id).collect::<Vec<_>>();
    let (cases, records) = (ids("case"), ids("record"));
    let mut out: Vec<(Uuid, String, String)> = Vec::new();
    for (ids, sql) in [
        (cases, "SELECT c.id, c.number, c.summary FROM cases c WHERE c.id IN"),
        (
            records,
            "SELECT c.id, c.number, r.notes FROM service_records r JOIN cases c ON c.id = r.case_id WHERE r.id IN",
        ),
    ] {
        if ids.is_empty() {
            continue;
        }
        let mut args = crate::db::query::Args::new();
        let sql = format!("{sql} ({})", args.list(&ids));
        out.extend(crate::db::query::all::<(Uuid, String, String)>(&st.db, &sql, &args).await?);
    }
    let closed = closed_children(st, caller, &out.iter().map(|h| h.0).collect::<Vec<_>>()).await?;
    out.retain(|h| !closed.contains(&h.0));
    Ok(out.into_iter().map(|(id, n, text)| (id, n, text.chars().take(80).collect())).collect())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub mine: Option<String>,
    pub page: Option<i64>,
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let f = CaseFilter {
        status: q.status.clone().filter(|s| !s.is_empty()),
        worker_id: (q.mine.as_deref() == Some("on")).then_some(caller.user_id),
        person_id: None,
        page: None,
    };
    let (rows, total) = store::list(&st.db, &caller.scope, &f, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/cases", "nav.cases");
    let tr = ctx.tr;
    let headers = ["case.number", "case.client", "case.domain", "field.status", "case.worker", "case.next_follow_up"]
        .iter()
        .map(|k| tr.t(k))
        .collect();
    let today = today();
    let rows = rows
        .into_iter()
        .map(|c| {
            let due = c.next_follow_up_on.map(|d| d.to_string()).unwrap_or_default();
            vec![
                Cell::link(c.number.clone(), format!("/cases/{}", c.id)),
                Cell::link(c.person_name.clone(), format!("/people/{}", c.person_id)),
                Cell::text(tr.t(&format!("domain.{}", c.domain))),
                Cell::text(tr.t(&format!("status.{}", c.status))),
                Cell::text(c.worker_name.clone()),
                Cell::text(if c.overdue(&today) { format!("{due} {}", tr.t("case.overdue")) } else { due }),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    let mut statuses = vec![(String::new(), tr.t("filter.all")), ("open".into(), tr.t("case.open_only"))];
    statuses.extend(Status::ALL.iter().map(|s| (s.as_str().to_string(), tr.t(&s.label_key()))));
    view.filters = vec![
        Field::select(tr, "status", "field.status", q.status.as_deref().unwrap_or(""), statuses, false),
        Field::checkbox(tr, "mine", "case.mine", q.mine.as_deref() == Some("on")),
    ];
    view.query = query_of(&[("status", q.status), ("mine", q.mine)]);
    view.actions.push((tr.t("nav.due"), "/cases/due".into()));
    view.actions.push((tr.t("export.ledger"), "/cases/ledger.xlsx".into()));
    Ok(page(&view))
}

#[derive(Template)]
#[template(path = "cases/due.html")]
struct DuePage {
    ctx: Ctx,
    cases: Vec<Case>,
    kpis: Vec<Kpi>,
    today: chrono::NaiveDate,
    mine: bool,
}

#[derive(Deserialize, Default)]
pub struct DueQuery {
    pub mine: Option<String>,
}

/// Follow-ups due within a week and overdue ones, for the worker or the whole station.
pub async fn due(State(st): State<AppState>, caller: Caller, Q(q): Q<DueQuery>) -> AppResult<Response> {
    let mine = q.mine.as_deref() == Some("on") || (q.mine.is_none() && caller.role == Role::SocialWorker);
    let cases = store::due(&st.db, &caller.scope, mine.then_some(caller.user_id), 7, 500).await?;
    let kpis = store::kpis(&st.db, &caller.scope).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/cases", "nav.due");
    Ok(page(&DuePage { ctx, cases, kpis, today: today(), mine }))
}

#[derive(Template)]
#[template(path = "cases/case.html")]
struct CasePage {
    ctx: Ctx,
    current: Case,
    assessments: Vec<Assessment>,
    plans: Vec<Plan>,
    /// One page of the records, newest first ([`store::RECORDS_PER_PAGE`]).
    records: Vec<ServiceRecord>,
    records_total: i64,
    records_page: i64,
    instruments: Vec<Instrument>,
    tiers: Vec<Tier>,
    can_write: bool,
    can_approve: bool,
    can_read_restricted: bool,
    /// The bureau may read a restricted note after giving a reason (audited).
    can_reveal_notes: bool,
    /// Story 9: a hazard at the client's home, linked to this case.
    can_register_hazard: bool,
    revealed_record: Option<Uuid>,
    /// Other workers of the station, for the manager's reassign form.
    workers: Vec<(Uuid, String)>,
    transfers: Vec<Transfer>,
    /// Offers of this case to other stations, newest first (a pending one blocks another).
    offers: Vec<Offer>,
    stations: Vec<(Uuid, String)>,
    errors: Vec<(String, String)>,
    plan_form: PlanForm,
    record_form: RecordForm,
    transfer_form: TransferForm,
    reassign_form: ReassignForm,
    today: chrono::NaiveDate,
}

impl CasePage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m)
    }
    fn draft(&self) -> Option<&Plan> {
        self.plans.iter().find(|p| p.status == "draft")
    }
    fn in_force(&self) -> Option<&Plan> {
        self.plans.iter().find(|p| p.status == "approved")
    }
    fn every(&self, days: &i64) -> String {
        self.ctx.tr.f("case.every_days", &[days])
    }
    fn minutes(&self, m: &i64) -> String {
        self.ctx.tr.f("record.minutes_n", &[m])
    }
    fn restricted(&self, kind: &str) -> bool {
        !self.can_read_restricted && RecordKind::parse(kind).is_some_and(|k| k.is_restricted())
    }
    fn when(&self, t: &Transfer) -> String {
        crate::web::local_time(&t.created_at)
    }
    fn at(&self, t: &chrono::DateTime<Utc>) -> String {
        crate::web::local_time(t)
    }
    fn pending_offer(&self) -> Option<&Offer> {
        self.offers.iter().find(|o| o.is_pending())
    }
    fn pending_text(&self, o: &Offer) -> String {
        self.ctx.tr.f("offer.pending_to", &[&o.to_station, &crate::web::local_time(&o.offered_at)])
    }
    fn state_text(&self, o: &Offer) -> String {
        self.ctx.t(&format!("offer.state_{}", o.state))
    }
    fn records_pages(&self) -> i64 {
        (self.records_total + store::RECORDS_PER_PAGE - 1) / store::RECORDS_PER_PAGE
    }
    fn records_link(&self, page: i64) -> String {
        format!("/cases/{}?page={page}#records", self.current.id)
    }
    /// The page before this one; from past the end, the last page.
    fn records_prev(&self) -> String {
        self.records_link((self.records_page - 1).min(self.records_pages()))
    }
    fn records_count(&self) -> String {
        self.ctx.tr.f("record.count", &[&self.records_total])
    }
    /// Restricted, and not the one note the bureau just asked to read with a reason.
    fn hidden(&self, r: &crate::cases::model::ServiceRecord) -> bool {
        self.restricted(&r.kind) && self.revealed_record != Some(r.id)
    }
}

#[derive(Default)]
struct Feedback {
    errors: FieldErrors,
    /// The page of the case's records to show (1 when unset).
    records_page: i64,
    /// Show the page of records that holds this one instead (a refused reveal of its note).
    records_at: Option<Uuid>,
    revealed_record: Option<Uuid>,
    plan_form: Option<PlanForm>,
    record_form: Option<RecordForm>,
    transfer_form: Option<TransferForm>,
    reassign_form: Option<ReassignForm>,
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id, Q(p): Q<PageParams>) -> AppResult<Response> {
    render_case(&st, &caller, id, Feedback { records_page: p.page(), ..Default::default() }, StatusCode::OK).await
}

async fn render_case(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    fb: Feedback,
    status: StatusCode,
) -> AppResult<Response> {
    let case = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    guard_person(st, caller, case.person_id).await?;
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/cases", "nav.cases");
    ctx.title = format!("{} · {}", case.number, case.person_name);
    let tr = ctx.tr;
    // The case's parts are independent reads, asked at once (each is a trip to a connection).
    let managing = caller.is(CASE_APPROVERS) && case.is_open();
    let stations = async {
        if !managing {
            return Ok(Vec::new());
        }
        Ok::<_, sqlx::Error>(
            transfers::station_options(&st.db, &case.path)
                .await?
                .into_iter()
                .filter(|(sid, _)| *sid != case.station_id)
                .collect(),
        )
    };
    let workers = async {
        if !managing {
            return Ok(Vec::new());
        }
        Ok::<_, sqlx::Error>(
            store::station_workers(&st.db, case.station_id)
                .await?
                .into_iter()
                .filter(|(w, _)| *w != case.worker_id)
                .collect(),
        )
    };
    let (
        plans,
        assessments,
        ((records, records_total), records_page),
        transfers,
        offers,
        instruments,
        tiers,
        stations,
        workers,
    ) = tokio::try_join!(
        store::plans(&st.db, id),
        store::assessments(&st.db, id),
        async {
            // A note the bureau has just revealed is shown on the page that holds it.
            let page = match fb.revealed_record.or(fb.records_at) {
                Some(r) => store::page_of_record(&st.db, id, r).await?,
                None => fb.records_page,
            };
            Ok::<_, sqlx::Error>((store::records_page(&st.db, id, page).await?, page.max(1)))
        },
        transfers::transfers(&st.db, id),
        transfers::of_case(&st.db, id),
        instruments::current(&st.db),
        store::tiers(&st.db),
        stations,
        workers,
    )?;
    let plan_form = fb.plan_form.unwrap_or_else(|| match plans.first() {
        Some(p) => PlanForm::from_plan(p, case.tier.clone()),
        None => PlanForm { tier: case.tier.clone().unwrap_or_default(), ..Default::default() },
    });
    let view = CasePage {
        assessments,
        plans,
        records,
        records_total,
        records_page,
        transfers,
        offers,
        instruments,
        tiers,
        can_write: caller.is(CASE_WRITERS) && case.is_open(),
        can_approve: caller.is(CASE_APPROVERS),
        stations,
        can_read_restricted: can_read_restricted(caller),
        can_reveal_notes: caller.role == Role::BureauAdmin,
        can_register_hazard: caller.is(crate::hazards::pages::HAZARD_STAFF),
        workers,
        revealed_record: fb.revealed_record,
        errors: fb.errors.0.iter().map(|(f, c)| (f.clone(), tr.t(c))).collect(),
        plan_form,
        record_form: fb.record_form.unwrap_or_default(),
        transfer_form: fb.transfer_form.unwrap_or_default(),
        reassign_form: fb.reassign_form.unwrap_or_default(),
        today: today(),
        ctx,
        current: case,
    };
    Ok(page_with_status(&view, status))
}

#[derive(Deserialize)]
pub struct RevealNoteForm {
    #[serde(default)]
    pub reason: String,
}

/// The bureau reads one counselling note of a station with a typed reason; the audit row is
/// written before the note is shown.
pub async fn reveal_note(
    State(st): State<AppState>,
    caller: Caller,
    Id(record_id): Id,
    PageForm(f): PageForm<RevealNoteForm>,
) -> AppResult<Response> {
    let row: Option<(Uuid, String)> =
        crate::read!(&st.db, |c| sqlx::query_as("SELECT case_id, kind FROM service_records WHERE id = $1")
            .bind(record_id)
            .fetch_optional(c)
            .await)?;
    let (case_id, kind) = row.ok_or(AppError::NotFound)?;
    guard_case(&st, &caller, case_id).await?;
    if !RecordKind::parse(&kind).is_some_and(|k| k.is_restricted()) {
        return Err(AppError::NotFound);
    }
    let mut errors = FieldErrors::default();
    let reason = crate::people::store::reveal_reason(&f.reason, "note_reason", &mut errors);
    if !errors.0.is_empty() {
        return render_case(
            &st,
            &caller,
            case_id,
            Feedback { errors, records_at: Some(record_id), ..Default::default() },
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let mut tx = st.db.begin().await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "record.reveal",
            entity: "service_record",
            entity_id: Some(record_id.to_string()),
            detail: serde_json::json!({ "case_id": case_id, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    let fb = Feedback { revealed_record: Some(record_id), ..Default::default() };
    render_case(&st, &caller, case_id, fb, StatusCode::OK).await
}

/// Re-renders the case page with messages for a refused form, keeping what was typed.
async fn refused(st: &AppState, caller: &Caller, id: Uuid, e: AppError, fb: Feedback) -> AppResult<Response> {
    match e {
        AppError::Invalid(errors) => {
            render_case(st, caller, id, Feedback { errors, ..fb }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        AppError::Stale => {
            let mut errors = FieldErrors::default();
            errors.add("_form", "error.stale");
            render_case(st, caller, id, Feedback { errors, ..fb }, StatusCode::CONFLICT).await
        }
        AppError::Conflict(code) => {
            let mut errors = FieldErrors::default();
            errors.add("_form", code);
            render_case(st, caller, id, Feedback { errors, ..fb }, StatusCode::CONFLICT).await
        }
        e => Err(e),
    }
}

fn back(id: Uuid, anchor: &str) -> Response {
    Redirect::to(&format!("/cases/{id}#{anchor}")).into_response()
}

/// Form of an assessment: `instrument_id`, `item_<key>` = option index, `notes`.
pub async fn assess(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<BTreeMap<String, String>>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    let instrument = f.get("instrument_id").and_then(|v| Uuid::parse_str(v.trim()).ok());
    let Some(instrument) = instrument else {
        return refused(&st, &caller, id, AppError::field("instrument_id", "error.bad_choice"), Feedback::default())
            .await;
    };
    let mut answers = BTreeMap::new();
    for (k, v) in &f {
        if let Some(key) = k.strip_prefix("item_")
            && let Ok(i) = v.trim().parse::<usize>()
        {
            answers.insert(key.to_string(), i);
        }
    }
    match store::assess(
        &st.db,
        &caller.scope,
        &caller.actor(),
        id,
        instrument,
        &answers,
        f.get("notes").map(String::as_str),
    )
    .await
    {
        Ok(_) => Ok(back(id, "assessments")),
        Err(e) => refused(&st, &caller, id, e, Feedback::default()).await,
    }
}

/// Plan form: goals, review date, tier, and rows of action/owner/due (blank rows ignored).
#[derive(Deserialize, Default, Clone)]
pub struct PlanForm {
    #[serde(default)]
    pub goals: String,
    #[serde(default)]
    pub review_on: String,
    #[serde(default)]
    pub tier: String,
    #[serde(default)]
    pub action: Vec<String>,
    #[serde(default)]
    pub owner: Vec<String>,
    #[serde(default)]
    pub due_on: Vec<String>,
    #[serde(default)]
    pub version: String,
}

impl PlanForm {
    fn from_plan(p: &Plan, tier: Option<String>) -> PlanForm {
        let actions = p.action_list();
        PlanForm {
            goals: p.goals.clone(),
            review_on: p.review_on.to_string(),
            tier: tier.unwrap_or_default(),
            action: actions.iter().map(|a| a.action.clone()).collect(),
            owner: actions.iter().map(|a| a.owner.clone()).collect(),
            due_on: actions.iter().map(|a| a.due_on.map(|d| d.to_string()).unwrap_or_default()).collect(),
            version: if p.status == "draft" { p.version.to_string() } else { String::new() },
        }
    }
    /// The typed rows plus two blank ones to add more.
    pub fn rows(&self) -> Vec<(usize, String, String, String)> {
        let n = self.action.len().max(self.owner.len()).max(self.due_on.len()) + 2;
        let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        (0..n).map(|i| (i, at(&self.action, i), at(&self.owner, i), at(&self.due_on, i))).collect()
    }
    fn input(&self) -> PlanInput {
        let n = self.action.len().max(self.owner.len()).max(self.due_on.len());
        let at = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
        PlanInput {
            goals: self.goals.clone(),
            review_on: self.review_on.clone(),
            tier: Some(self.tier.clone()).filter(|t| !t.is_empty()),
            actions: (0..n)
                .map(|i| PlanActionInput {
                    action: at(&self.action, i),
                    owner: at(&self.owner, i),
                    due_on: Some(at(&self.due_on, i)),
                })
                .collect(),
            version: self.version.trim().parse().ok(),
        }
    }
}

pub async fn save_plan(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<PlanForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    match store::save_plan(&st.db, &caller.scope, &caller.actor(), id, &f.input()).await {
        Ok(_) => Ok(back(id, "plan")),
        Err(e) => refused(&st, &caller, id, e, Feedback { plan_form: Some(f), ..Default::default() }).await,
    }
}

#[derive(Deserialize, Default)]
pub struct VersionForm {
    #[serde(default)]
    pub version: String,
}

pub async fn approve_plan(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<VersionForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    match store::approve_plan(&st.db, &caller.scope, &caller.actor(), id, f.version.trim().parse().ok()).await {
        Ok(()) => Ok(back(id, "plan")),
        Err(e) => refused(&st, &caller, id, e, Feedback::default()).await,
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct RecordForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub occurred_on: String,
    #[serde(default)]
    pub minutes: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub referred_to: String,
}

pub async fn add_record(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<RecordForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    let minutes = f.minutes.trim().parse::<i64>();
    let result = match minutes {
        Ok(m) => {
            let input = RecordInput {
                kind: f.kind.clone(),
                occurred_on: Some(f.occurred_on.clone()),
                minutes: m,
                notes: f.notes.clone(),
                referred_to: Some(f.referred_to.clone()),
            };
            store::add_record(&st.db, &caller.scope, &caller.actor(), id, &input).await
        }
        Err(_) => Err(AppError::field("minutes", "record.minutes_range")),
    };
    match result {
        Ok(_) => Ok(back(id, "records")),
        Err(e) => refused(&st, &caller, id, e, Feedback { record_form: Some(f), ..Default::default() }).await,
    }
}

#[derive(Deserialize, Default)]
pub struct CloseForm {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub version: String,
}

pub async fn request_closure(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<CloseForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    match store::request_closure(&st.db, &caller.scope, &caller.actor(), id, &f.reason, f.version.trim().parse().ok())
        .await
    {
        Ok(()) => Ok(back(id, "closure")),
        Err(e) => refused(&st, &caller, id, e, Feedback::default()).await,
    }
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    pub decision: String,
}

pub async fn decide_closure(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<DecisionForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    let approve = match f.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return refused(&st, &caller, id, AppError::field("decision", "error.bad_choice"), Feedback::default())
                .await;
        }
    };
    match store::decide_closure(&st.db, &caller.scope, &caller.actor(), id, approve).await {
        Ok(()) => Ok(back(id, "closure")),
        Err(e) => refused(&st, &caller, id, e, Feedback::default()).await,
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ReassignForm {
    #[serde(default)]
    pub worker_id: String,
    #[serde(default)]
    pub reason: String,
}

/// The station manager gives a case to another worker of the station.
pub async fn reassign(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<ReassignForm>,
) -> AppResult<Response> {
    guard_case(&st, &caller, id).await?;
    let worker = Uuid::parse_str(f.worker_id.trim()).ok();
    match store::reassign(&st.db, &caller.scope, &caller.actor(), id, worker, &f.reason).await {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        Err(AppError::Invalid(mut errors)) => {
            // The transfer form on the same page has its own reason field.
            for (field, _) in errors.0.iter_mut() {
                if field == "reason" {
                    *field = "reassign_reason".into();
                }
            }
            let fb = Feedback { reassign_form: Some(f), ..Default::default() };
            refused(&st, &caller, id, AppError::Invalid(errors), fb).await
        }
        Err(e) => refused(&st, &caller, id, e, Feedback { reassign_form: Some(f), ..Default::default() }).await,
    }
}

/// The case page again after a refused transfer offer, keeping what was typed.
pub(super) async fn refused_transfer(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    e: AppError,
    f: TransferForm,
) -> AppResult<Response> {
    refused(st, caller, id, e, Feedback { transfer_form: Some(f), ..Default::default() }).await
}

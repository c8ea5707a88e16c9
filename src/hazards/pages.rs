//! HTML screens of hazard work: the register (list, registering with photos, the hazard page with
//! rectification, re-inspection and closure), patrols (planning, doing one on a phone), and the
//! monthly ledger export.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{CHECKLISTS, Category, RiskLevel, Status, checklist, parse_choice};
use super::store::{self, Finding, Hazard, NewHazard, Step};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::files::upload::{FormWithFiles, Upload};
use crate::files::{self, FileInfo, Owner, Staged};
use crate::ledger_xlsx::Cell as Xl;
use crate::org::model::PlaceKind;
use crate::people::model::parse_date;
use crate::requests::model::parse_uuid;
use crate::requests::pages::local;
use crate::web::AppState;
use crate::web::extract::{Id, Q};
use crate::web::form::{Cell, Field, apply_errors, clean_optional, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage, query_of};

pub use crate::roles::HAZARD_STAFF;
/// Who plans patrols and closes a hazard without rectification.
pub const HAZARD_MANAGERS: &[Role] = &[Role::BureauAdmin, Role::StationManager, Role::CommunityStaff];

/// Stages uploaded photos; a refused file becomes a message on its field and the right status.
async fn stage(st: &AppState, uploads: Vec<Upload>) -> Result<Vec<Staged>, (FieldErrors, StatusCode)> {
    files::stage(&st.files, uploads).await.map_err(|(field, rejected)| refused_file(field, rejected))
}

fn refused_file(field: String, rejected: files::Rejected) -> (FieldErrors, StatusCode) {
    let mut e = FieldErrors::default();
    e.add(if field.is_empty() { "photos" } else { &field }, rejected.code());
    (e, rejected.status())
}

/// Who may record a patrol done: its assigned worker, a manager, or anyone of the place when
/// nobody is assigned.
pub(super) fn may_complete(p: &store::Patrol, caller: &Caller) -> bool {
    p.assignee_id == Some(caller.user_id) || caller.is(HAZARD_MANAGERS) || p.assignee_id.is_none()
}

/// Stores the photos of a patrol's findings, each `(item seq, upload)`, and hands each to the
/// finding of its item. All are checked before any is written, so a refused photo leaves
/// nothing in the store.
pub(super) async fn stage_findings(
    st: &AppState,
    findings: &mut [Finding],
    photos: Vec<(i64, Upload)>,
) -> Result<(), (String, files::Rejected)> {
    let (seqs, uploads): (Vec<i64>, Vec<Upload>) = photos.into_iter().unzip();
    let staged = files::stage(&st.files, uploads).await?;
    for (seq, s) in seqs.into_iter().zip(staged) {
        if let Some(f) = findings.iter_mut().find(|f| f.seq == seq) {
            f.photos.push(s);
        }
    }
    Ok(())
}

/// A refused step as messages for the page that comes back: field errors (422), a stale form
/// (412) or a wrong state (409); anything else is not the user's to fix.
fn refused(e: AppError) -> AppResult<(FieldErrors, StatusCode)> {
    let (code, status) = match e {
        AppError::Invalid(errors) => return Ok((errors, StatusCode::UNPROCESSABLE_ENTITY)),
        AppError::Stale => ("error.stale", StatusCode::PRECONDITION_FAILED),
        AppError::Conflict(code) => (code, StatusCode::CONFLICT),
        e => return Err(e),
    };
    let mut errors = FieldErrors::default();
    errors.add("_form", code);
    Ok((errors, status))
}

// ---- the register -----------------------------------------------------------------------------

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// open (default), overdue, all, or one status.
    pub status: Option<String>,
    pub category: Option<String>,
    pub risk: Option<String>,
    /// A street, community or grid inside the caller's scope.
    pub place_id: Option<String>,
    /// Words in the description or address: Chinese words, or latin letters matching the start
    /// of a word.
    pub q: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub page: PageParams,
}

/// The list filter a query asks for; unknown values are 400.
pub(super) async fn filter_of(st: &AppState, caller: &Caller, q: &ListQuery) -> AppResult<store::ListFilter> {
    let (open, overdue, status) = match q.status.as_deref().unwrap_or("open") {
        "open" => (true, false, None),
        "overdue" => (false, true, None),
        "" | "all" => (false, false, None),
        s => (false, false, Some(Status::parse(s).ok_or(AppError::bad("error.bad_query"))?)),
    };
    Ok(store::ListFilter {
        open,
        overdue,
        status,
        category: choice(&q.category, Category::parse)?,
        risk: choice(&q.risk, RiskLevel::parse)?,
        place_path: place_path(st, caller, &q.place_id).await?,
        text: q.q.clone(),
        ..Default::default()
    })
}

fn choice<T>(v: &Option<String>, parse: fn(&str) -> Option<T>) -> AppResult<Option<T>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse(s).map(Some).ok_or(AppError::bad("error.bad_query")),
    }
}

/// The path of a place the caller may see (a list or ledger filter).
async fn place_path(st: &AppState, caller: &Caller, id: &Option<String>) -> AppResult<Option<String>> {
    let Some(raw) = id.as_deref().map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let id: Uuid = raw.parse().map_err(|_| AppError::bad("error.bad_query"))?;
    let mut args = crate::db::query::Args::new();
    let sql = format!("SELECT path FROM places WHERE id = {} AND {}", args.push(id), args.scope("path", &caller.scope));
    let row = crate::db::query::optional::<(String,)>(&st.db, &sql, &args).await?;
    row.map(|r| Some(r.0)).ok_or(AppError::NotFound)
}

async fn area_options(st: &AppState, caller: &Caller, tr: crate::i18n::Tr) -> AppResult<Vec<(String, String)>> {
    let mut v = vec![(String::new(), tr.t("filter.all"))];
    let kinds = [PlaceKind::Street, PlaceKind::Community, PlaceKind::Grid];
    v.extend(
        crate::org::store::place_options(&st.db, &caller.scope, &kinds)
            .await?
            .into_iter()
            .map(|(id, n)| (id.to_string(), n)),
    );
    Ok(v)
}

fn options<T: Copy>(
    tr: crate::i18n::Tr,
    all: &[T],
    code: fn(T) -> &'static str,
    key: fn(T) -> String,
    first: &str,
) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), tr.t(first))];
    v.extend(all.iter().map(|x| (code(*x).to_string(), tr.t(&key(*x)))));
    v
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let filter = filter_of(&st, &caller, &q).await?;
    let (rows, total) = store::list(&st.db, &caller.scope, &filter, q.page.size(), q.page.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/hazards", "nav.hazards");
    let tr = ctx.tr;
    let today = store::today();
    let headers = [
        "hazard.number",
        "hazard.category",
        "hazard.risk",
        "hazard.address",
        "field.status",
        "hazard.deadline",
        "hazard.found_on",
    ]
    .iter()
    .map(|k| tr.t(k))
    .collect();
    let cells = rows
        .iter()
        .map(|h| {
            let deadline = h.deadline.map(|d| d.to_string()).unwrap_or_default();
            let deadline =
                if h.is_overdue(today) { format!("{deadline} {}", tr.t("hazard.overdue")) } else { deadline };
            vec![
                Cell::link(h.number.clone(), format!("/hazards/{}", h.id)),
                Cell::text(tr.t(&format!("hazard_category.{}", h.category))),
                Cell::text(tr.t(&h.risk().label_key())),
                Cell::text(h.address.clone()),
                Cell::text(tr.t(&h.status().label_key())),
                Cell::text(deadline),
                Cell::text(h.found_on.to_string()),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, cells, total, q.page.page(), q.page.size());
    view.actions.push((tr.t("hazard.new"), "/hazards/new".into()));
    view.actions.push((tr.t("nav.patrols"), "/patrols".into()));
    if caller.is(HAZARD_MANAGERS) {
        let month = today.format("%Y-%m").to_string();
        let ledger = format!(
            "/hazards/ledger.xlsx?{}",
            query_of(&[("month", Some(month)), ("place_id", q.place_id.clone()), ("category", q.category.clone())])
                .trim_end_matches('&')
        );
        view.actions.push((tr.t("hazard.ledger"), ledger));
    }
    let statuses = vec![
        ("open".to_string(), tr.t("hazard.filter_open")),
        ("overdue".to_string(), tr.t("hazard.filter_overdue")),
        ("all".to_string(), tr.t("filter.all")),
    ]
    .into_iter()
    .chain(Status::ALL.iter().map(|s| (s.as_str().to_string(), tr.t(&s.label_key()))))
    .collect();
    view.filters = vec![
        Field::text(tr, "q", "search_text.label", q.q.as_deref().unwrap_or(""), 40, false),
        Field::select(tr, "status", "field.status", q.status.as_deref().unwrap_or("open"), statuses, false),
        Field::select(
            tr,
            "category",
            "hazard.category",
            q.category.as_deref().unwrap_or(""),
            options(tr, Category::ALL, Category::as_str, Category::label_key, "filter.all"),
            false,
        ),
        Field::select(
            tr,
            "risk",
            "hazard.risk",
            q.risk.as_deref().unwrap_or(""),
            options(tr, RiskLevel::ALL, RiskLevel::as_str, RiskLevel::label_key, "filter.all"),
            false,
        ),
        Field::select(
            tr,
            "place_id",
            "hazard.area",
            q.place_id.as_deref().unwrap_or(""),
            area_options(&st, &caller, tr).await?,
            false,
        ),
    ];
    view.query = query_of(&[
        ("q", q.q.clone()),
        ("status", q.status.clone()),
        ("category", q.category.clone()),
        ("risk", q.risk.clone()),
        ("place_id", q.place_id.clone()),
        ("page_size", q.page.page_size.map(|_| q.page.size().to_string())),
    ]);
    Ok(page(&view))
}

/// A hazard as registered on the form or through the API (all text, checked by `validate`).
#[derive(Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HazardForm {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub risk_level: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub place_id: String,
    #[serde(default)]
    pub estate_id: String,
    #[serde(default)]
    pub building: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub lat: String,
    #[serde(default)]
    pub lon: String,
    #[serde(default)]
    pub responsible: String,
    #[serde(default)]
    pub deadline: String,
    #[serde(default)]
    pub person_id: String,
    #[serde(default)]
    pub case_id: String,
    #[serde(default)]
    pub request_id: String,
}

fn optional_date(v: &str, field: &str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let d = parse_date(v);
    if d.is_none() {
        errors.add(field, "error.date_format");
    }
    d
}

impl HazardForm {
    pub(super) fn validate(&self, errors: &mut FieldErrors) -> NewHazard {
        let description = self.description.trim().to_string();
        if description.is_empty() {
            errors.add("description", "error.required");
        } else if description.chars().count() > 2000 {
            errors.add("description", "error.too_long");
        }
        let deadline = optional_date(&self.deadline, "deadline", errors);
        if deadline.is_some_and(|d| d < store::today()) {
            errors.add("deadline", "hazard.deadline_past");
        }
        let coords = crate::requests::model::coordinates(Some(&self.lat), Some(&self.lon), errors);
        NewHazard {
            category: parse_choice(&self.category, "category", Category::parse, errors),
            risk: parse_choice(&self.risk_level, "risk_level", RiskLevel::parse, errors),
            description,
            place_id: parse_uuid(Some(&self.place_id), "place_id", errors),
            estate_id: parse_uuid(Some(&self.estate_id), "estate_id", errors),
            building: clean_optional(Some(&self.building), "building", 40, errors),
            address: clean_optional(Some(&self.address), "address", 200, errors),
            coords,
            responsible: clean_optional(Some(&self.responsible), "responsible", 100, errors).unwrap_or_default(),
            deadline,
            person_id: parse_uuid(Some(&self.person_id), "person_id", errors),
            case_id: parse_uuid(Some(&self.case_id), "case_id", errors),
            request_id: parse_uuid(Some(&self.request_id), "request_id", errors),
        }
    }
}

async fn hazard_form(st: &AppState, caller: &Caller, f: &HazardForm, errors: &FieldErrors) -> AppResult<FormPage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/hazards", "hazard.new");
    let tr = ctx.tr;
    let mut places = vec![(String::new(), tr.t("filter.choose"))];
    places.extend(
        crate::org::store::place_options(&st.db, &caller.scope, &[PlaceKind::Community, PlaceKind::Grid])
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name)),
    );
    let (estates, _) = crate::org::store::list_estates(&st.db, &caller.scope, 2000, 0).await?;
    let mut estate_opts = vec![(String::new(), tr.t("person.no_estate"))];
    estate_opts.extend(estates.into_iter().map(|e| (e.id.to_string(), format!("{} / {}", e.community_name, e.name))));
    let mut fields = vec![
        Field::select(
            tr,
            "category",
            "hazard.category",
            &f.category,
            options(tr, Category::ALL, Category::as_str, Category::label_key, "filter.choose"),
            true,
        ),
        Field::select(
            tr,
            "risk_level",
            "hazard.risk",
            &f.risk_level,
            options(tr, RiskLevel::ALL, RiskLevel::as_str, RiskLevel::label_key, "filter.choose"),
            true,
        ),
        Field::textarea(tr, "description", "hazard.description", &f.description),
        Field::select(tr, "place_id", "hazard.place", &f.place_id, places, false),
        Field::select(tr, "estate_id", "person.estate", &f.estate_id, estate_opts, false),
        Field::text(tr, "building", "person.building", &f.building, 40, false),
        Field::text(tr, "address", "request.address", &f.address, 200, false),
        Field::text(tr, "lat", "request.lat", &f.lat, 20, false),
        Field::text(tr, "lon", "request.lon", &f.lon, 20, false),
        Field::text(tr, "responsible", "hazard.responsible", &f.responsible, 100, false)
            .hint(tr.t("hazard.responsible_hint")),
        Field::date(tr, "deadline", "hazard.deadline", &f.deadline, false).hint(tr.t("hazard.deadline_hint")),
        Field::photos(tr, "photos", "hazard.photos").hint(tr.t("file.hint")),
    ];
    fields[2].required = true;
    apply_errors(&mut fields, errors, tr);
    let mut view = FormPage::new(ctx, "/hazards".into(), fields, "/hazards".into());
    view.errors = general_errors(&view.fields, errors, tr);
    for (name, v) in [("person_id", &f.person_id), ("case_id", &f.case_id), ("request_id", &f.request_id)] {
        if !v.is_empty() {
            view.hidden.push((name.into(), v.clone()));
        }
    }
    if !f.person_id.is_empty() || !f.case_id.is_empty() || !f.request_id.is_empty() {
        view.intro = Some(tr.t("hazard.linked_intro"));
    }
    view.multipart = true;
    view.submit = tr.t("hazard.register");
    Ok(view)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    pub person_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
}

pub async fn new_form(State(st): State<AppState>, caller: Caller, Q(q): Q<NewQuery>) -> AppResult<Response> {
    let s = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
    let f = HazardForm {
        person_id: s(q.person_id),
        case_id: s(q.case_id),
        request_id: s(q.request_id),
        ..Default::default()
    };
    Ok(page(&hazard_form(&st, &caller, &f, &FieldErrors::default()).await?))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    form: FormWithFiles<HazardForm>,
) -> AppResult<Response> {
    let FormWithFiles { form: f, files: uploads } = form;
    let mut errors = FieldErrors::default();
    let h = f.validate(&mut errors);
    if !errors.is_empty() {
        return Ok(page_with_status(&hazard_form(&st, &caller, &f, &errors).await?, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let staged = match stage(&st, uploads).await {
        Ok(s) => s,
        Err((errors, status)) => return Ok(page_with_status(&hazard_form(&st, &caller, &f, &errors).await?, status)),
    };
    match store::register(&st.db, &caller.scope, &caller.actor(), &h, &staged).await {
        Ok(c) => Ok(Redirect::to(&format!("/hazards/{}", c.id)).into_response()),
        Err(e) => {
            files::discard(&st.files, staged).await;
            match e {
                AppError::Invalid(errors) => Ok(page_with_status(
                    &hazard_form(&st, &caller, &f, &errors).await?,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )),
                e => Err(e),
            }
        }
    }
}

// ---- the hazard page --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "hazards/hazard.html")]
struct HazardPage {
    ctx: Ctx,
    h: Hazard,
    category: String,
    risk: String,
    status_label: String,
    overdue: bool,
    photos: Vec<FileInfo>,
    documents: Vec<FileInfo>,
    /// When, who (their name), their account, what, the note.
    events: Vec<(String, String, String, String, Option<String>)>,
    can_close: bool,
    today: String,
    errors: Vec<(String, String)>,
    /// What the user typed into the form that failed, so it comes back.
    typed: StepForm,
}

impl HazardPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
    fn is(&self, s: &str) -> bool {
        self.h.status == s
    }
}

async fn render(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    errors: FieldErrors,
    typed: StepForm,
    status: StatusCode,
) -> AppResult<Response> {
    let h = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/hazards", "nav.hazards");
    let tr = ctx.tr;
    ctx.title = format!("{} · {}", h.number, tr.t(&format!("hazard_category.{}", h.category)));
    let (photos, documents) = files::of(&st.db, Owner::Hazard(id)).await?.into_iter().partition(|f| f.is_photo());
    let events = store::events(&st.db, id).await?;
    let names = crate::staff::store::names_of(&st.db, events.iter().filter_map(|e| e.actor_id)).await?;
    let events = events
        .into_iter()
        .rev()
        .map(|e| {
            let (actor, account) = match e.actor_id.and_then(|a| names.get(&a)) {
                Some((name, account)) => (name.clone(), account.clone()),
                None => (e.actor_name, String::new()),
            };
            (local(e.at), actor, account, tr.t(&format!("hazard_event.{}", e.kind)), e.note)
        })
        .collect();
    let view = HazardPage {
        category: tr.t(&format!("hazard_category.{}", h.category)),
        risk: tr.t(&h.risk().label_key()),
        status_label: tr.t(&h.status().label_key()),
        overdue: h.is_overdue(store::today()),
        photos,
        documents,
        events,
        can_close: caller.is(HAZARD_MANAGERS),
        today: store::today().to_string(),
        errors: errors.0.iter().map(|(f, c)| (f.clone(), tr.t(c))).collect(),
        typed,
        ctx,
        h,
    };
    Ok(page_with_status(&view, status))
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    render(&st, &caller, id, FieldErrors::default(), StepForm::default(), StatusCode::OK).await
}

/// One step of the rectification life, as the form or the API sends it.
#[derive(Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepForm {
    /// assign, note, rectified, reinspect or close.
    #[serde(default)]
    pub step: String,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub responsible: String,
    #[serde(default)]
    pub deadline: String,
    #[serde(default)]
    pub note: String,
    /// Re-inspection: `pass` or `fail`.
    #[serde(default)]
    pub outcome: String,
}

impl StepForm {
    pub(super) fn step(&self, errors: &mut FieldErrors) -> Option<Step> {
        let note = self.note.trim().to_string();
        if note.chars().count() > 2000 {
            errors.add("note", "error.too_long");
        }
        let step = match self.step.as_str() {
            "assign" => {
                let deadline = optional_date(&self.deadline, "deadline", errors);
                if deadline.is_none() && !errors.0.iter().any(|(f, _)| f == "deadline") {
                    errors.add("deadline", "error.required");
                }
                Step::Assign { responsible: self.responsible.trim().to_string(), deadline: deadline? }
            }
            "note" => Step::Note { note },
            "rectified" => Step::Rectified { note },
            "reinspect" => match self.outcome.as_str() {
                "pass" => Step::Reinspect { passed: true, note, deadline: None },
                "fail" => {
                    Step::Reinspect { passed: false, note, deadline: optional_date(&self.deadline, "deadline", errors) }
                }
                _ => {
                    errors.add("outcome", "error.required");
                    return None;
                }
            },
            "close" => Step::Close { reason: note },
            _ => {
                errors.add("_form", "error.bad_choice");
                return None;
            }
        };
        errors.is_empty().then_some(step)
    }
}

pub async fn step(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    form: FormWithFiles<StepForm>,
) -> AppResult<Response> {
    let FormWithFiles { form: f, files: uploads } = form;
    // Unknown or invisible hazards are 404 before anything about the form is said.
    store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let Some(step) = f.step(&mut errors) else {
        return render(&st, &caller, id, errors, f, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    if matches!(step, Step::Close { .. }) && !caller.is(HAZARD_MANAGERS) {
        return Err(AppError::Forbidden);
    }
    let staged = match stage(&st, uploads).await {
        Ok(s) => s,
        Err((errors, status)) => return render(&st, &caller, id, errors, f, status).await,
    };
    match store::act(&st.db, &caller.scope, &caller.actor(), id, f.version, &step, &staged).await {
        Ok(()) => Ok(Redirect::to(&format!("/hazards/{id}")).into_response()),
        Err(e) => {
            files::discard(&st.files, staged).await;
            let (errors, status) = refused(e)?;
            render(&st, &caller, id, errors, f, status).await
        }
    }
}

// ---- the ledger -----------------------------------------------------------------------------

/// Photo columns at most; a hazard with more has the rest on its page.
const MAX_PHOTO_COLUMNS: usize = 6;

async fn place_name(st: &AppState, path: &str) -> AppResult<String> {
    let row: Option<(String,)> = crate::read!(&st.db, |c| sqlx::query_as("SELECT name FROM places WHERE path = $1")
        .bind(path)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(|r| r.0).unwrap_or_default())
}

#[derive(Deserialize, Default)]
pub struct LedgerQuery {
    /// `YYYY-MM`; this month by default.
    pub month: Option<String>,
    pub place_id: Option<String>,
    pub category: Option<String>,
}

/// 隐患排查整治台账: one sheet per month and area, Chinese headers, hazards found in the month
/// and those carried over still open.
pub async fn ledger(
    State(st): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Q(q): Q<LedgerQuery>,
) -> AppResult<Response> {
    let today = store::today();
    let month = q.month.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("");
    let from = if month.is_empty() {
        today.with_day0(0).expect("day 1")
    } else {
        NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
            .map_err(|_| AppError::field("month", "hazard.bad_month"))?
    };
    let to = from.checked_add_months(chrono::Months::new(1)).expect("month") - chrono::Duration::days(1);
    let category = choice(&q.category, Category::parse)?;
    let root = match place_path(&st, &caller, &q.place_id).await? {
        Some(p) => p,
        // The whole scope: its first root (callers with several roots pick a place).
        None => caller.scope.roots.first().cloned().ok_or(AppError::Forbidden)?,
    };
    let lines = store::ledger(&st.db, &caller.scope, &root, from, to, category).await?;
    let photos = store::photo_ids(&st.db, &lines.iter().map(|(l, _)| l.id).collect::<Vec<_>>()).await?;
    // One column per photo, as many as the hazard with most photos has (a cell holds one link).
    let photo_columns = photos.values().map(Vec::len).max().unwrap_or(0).clamp(1, MAX_PHOTO_COLUMNS);
    let origin = crate::web::base_path::public_origin(&st, &headers);
    let tr = crate::i18n::Tr(crate::i18n::Lang::Zh);
    let rows: Vec<Vec<Xl>> = lines
        .iter()
        .enumerate()
        .map(|(i, (l, carried))| {
            let mut row = vec![
                Xl::Int(i as i64 + 1),
                Xl::text(l.number.as_str()),
                Xl::Date(l.found_on),
                Xl::Text(if *carried { tr.t("hazard.carried_over") } else { tr.t("hazard.found_this_month") }),
                Xl::text(l.street.as_str()),
                Xl::text(l.community.as_str()),
                Xl::text(l.address.as_str()),
                Xl::Text(tr.t(&format!("hazard_category.{}", l.category))),
                Xl::Text(tr.t(&format!("risk.{}", l.risk_level))),
                Xl::text(l.description.as_str()),
                Xl::text(l.responsible.as_str()),
                Xl::opt_date(l.deadline),
                Xl::Text(tr.t(&format!("hazard_status.{}", l.status))),
                Xl::opt_time(l.rectified_at),
                Xl::opt_time(l.closed_at),
                Xl::Text(l.closure.clone().unwrap_or_default()),
            ];
            let own = photos.get(&l.id).map(Vec::as_slice).unwrap_or_default();
            for n in 0..photo_columns {
                row.push(match own.get(n) {
                    Some(f) => Xl::Link { url: format!("{origin}/files/{f}"), text: format!("照片{}", n + 1) },
                    None => Xl::Blank,
                });
            }
            row
        })
        .collect();
    let mut headers: Vec<String> = [
        "序号",
        "隐患编号",
        "排查日期",
        "来源",
        "街道",
        "社区",
        "位置",
        "隐患类别",
        "风险等级",
        "隐患描述",
        "整改责任人",
        "整改期限",
        "状态",
        "整改完成时间",
        "销号时间",
        "复查/销号情况",
    ]
    .map(String::from)
    .to_vec();
    headers
        .extend((1..=photo_columns).map(|n| if photo_columns == 1 { "照片".to_string() } else { format!("照片{n}") }));
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let unit = place_name(&st, &root).await?;
    let sheet = crate::ledger_xlsx::Sheet {
        name: "隐患台账",
        title: Some("隐患排查整治台账"),
        unit: &unit,
        period: format!("{from} 至 {to}"),
        headers: &headers,
        rows,
        signature: true,
        text_columns: &[],
    };
    let count = sheet.rows.len();
    let bytes = crate::ledger_xlsx::workbook(&[sheet]).map_err(|e| AppError::Internal(e.into()))?;
    crate::audit::record_alone(
        &st.db,
        &caller.actor(),
        crate::audit::Entry {
            action: "ledger.export",
            entity: "hazard",
            entity_id: None,
            detail: serde_json::json!({ "month": from.format("%Y-%m").to_string(), "rows": count }),
        },
    )
    .await?;
    Ok(crate::people::export::xlsx_response(bytes, &format!("隐患台账-{}.xlsx", from.format("%Y-%m"))))
}

// ---- patrols ------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct PatrolListQuery {
    pub mine: Option<String>,
    #[serde(flatten)]
    pub page: PageParams,
}

pub async fn patrols(State(st): State<AppState>, caller: Caller, Q(q): Q<PatrolListQuery>) -> AppResult<Response> {
    // A grid worker sees their own patrols first; anyone can switch to the whole area.
    let mine = match q.mine.as_deref() {
        Some("0") => false,
        Some(_) => true,
        None => caller.role == Role::GridWorker,
    };
    let assignee = mine.then_some(caller.user_id);
    let (rows, total) = store::patrols(&st.db, &caller.scope, assignee, q.page.size(), q.page.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/patrols", "nav.patrols");
    let tr = ctx.tr;
    let headers =
        ["patrol.checklist", "patrol.place", "patrol.area", "patrol.due_on", "patrol.assignee", "field.status"]
            .iter()
            .map(|k| tr.t(k))
            .collect();
    let cells = rows
        .iter()
        .map(|p| {
            vec![
                Cell::link(tr.t(&format!("checklist.{}", p.checklist)), format!("/patrols/{}", p.id)),
                Cell::text(p.place_name.clone()),
                Cell::text(p.area.clone()),
                Cell::text(p.due_on.to_string()),
                Cell::text(p.assignee_name.clone().unwrap_or_default()),
                Cell::text(tr.t(&format!("patrol_status.{}", p.status))),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, cells, total, q.page.page(), q.page.size());
    if caller.is(HAZARD_MANAGERS) {
        view.actions.push((tr.t("patrol.new"), "/patrols/new".into()));
    }
    view.actions.push(if mine {
        (tr.t("patrol.all"), "/patrols?mine=0".into())
    } else {
        (tr.t("patrol.mine"), "/patrols?mine=1".into())
    });
    view.actions.push((tr.t("nav.hazards"), "/hazards".into()));
    view.query = query_of(&[
        ("mine", Some(if mine { "1" } else { "0" }.into())),
        ("page_size", q.page.page_size.map(|_| q.page.size().to_string())),
    ]);
    Ok(page(&view))
}

/// A patrol task as planned on the form or through the API (all text, checked by `validate`).
#[derive(Deserialize, Default, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolForm {
    /// The grid or community patrolled.
    #[serde(default)]
    pub place_id: String,
    /// flood, fire, gas, elevator or self_built.
    #[serde(default)]
    pub checklist: String,
    /// The streets, estates or buildings walked.
    #[serde(default)]
    pub area: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub due_on: String,
    /// A grid worker whose scope covers the place; empty: anyone of the place may do it.
    #[serde(default)]
    pub assignee_id: String,
}

impl PatrolForm {
    pub(super) fn validate(&self, errors: &mut FieldErrors) -> Option<store::NewPatrol<'static>> {
        let place_id = parse_uuid(Some(&self.place_id), "place_id", errors);
        if place_id.is_none() && errors.get("place_id").is_none() {
            errors.add("place_id", "error.required");
        }
        let list = parse_choice(&self.checklist, "checklist", checklist, errors);
        let area = self.area.trim().to_string();
        if area.is_empty() {
            errors.add("area", "error.required");
        } else if area.chars().count() > 100 {
            errors.add("area", "error.too_long");
        }
        let due_on = optional_date(&self.due_on, "due_on", errors);
        if due_on.is_none() && errors.get("due_on").is_none() {
            errors.add("due_on", "error.required");
        }
        let assignee_id = parse_uuid(Some(&self.assignee_id), "assignee_id", errors);
        if !errors.is_empty() {
            return None;
        }
        Some(store::NewPatrol { place_id: place_id?, checklist: list?, area, due_on: due_on?, assignee_id })
    }
}

async fn patrol_form(st: &AppState, caller: &Caller, f: &PatrolForm, errors: &FieldErrors) -> AppResult<FormPage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/patrols", "patrol.new");
    let tr = ctx.tr;
    let mut places = vec![(String::new(), tr.t("filter.choose"))];
    places.extend(
        crate::org::store::place_options(&st.db, &caller.scope, &[PlaceKind::Grid, PlaceKind::Community])
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name)),
    );
    let mut lists = vec![(String::new(), tr.t("filter.choose"))];
    lists.extend(CHECKLISTS.iter().map(|c| (c.code.to_string(), tr.t(&c.label_key()))));
    let mut workers = vec![(String::new(), tr.t("patrol.unassigned"))];
    workers.extend(
        crate::staff::store::field_workers(&st.db, &caller.scope)
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name)),
    );
    let mut fields = vec![
        Field::select(tr, "place_id", "patrol.place", &f.place_id, places, true),
        Field::select(tr, "checklist", "patrol.checklist", &f.checklist, lists, true),
        Field::text(tr, "area", "patrol.area", &f.area, 100, true).hint(tr.t("patrol.area_hint")),
        Field::date(tr, "due_on", "patrol.due_on", &f.due_on, true),
        Field::select(tr, "assignee_id", "patrol.assignee", &f.assignee_id, workers, false),
    ];
    apply_errors(&mut fields, errors, tr);
    let mut view = FormPage::new(ctx, "/patrols".into(), fields, "/patrols".into());
    view.errors = general_errors(&view.fields, errors, tr);
    view.submit = tr.t("patrol.plan");
    Ok(view)
}

pub async fn new_patrol(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let f = PatrolForm { due_on: store::today().to_string(), ..Default::default() };
    Ok(page(&patrol_form(&st, &caller, &f, &FieldErrors::default()).await?))
}

pub async fn create_patrol(
    State(st): State<AppState>,
    caller: Caller,
    crate::web::extract::PageForm(f): crate::web::extract::PageForm<PatrolForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let result = match f.validate(&mut errors) {
        Some(p) => store::plan_patrol(&st.db, &caller.scope, &caller.actor(), &p).await,
        None => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/patrols/{id}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            Ok(page_with_status(&patrol_form(&st, &caller, &f, &errors).await?, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

struct ItemView {
    seq: i64,
    label: String,
    result: String,
    note: String,
    risk: String,
    hazard: Option<(Uuid, String)>,
}

#[derive(Template)]
#[template(path = "hazards/patrol.html")]
struct PatrolPage {
    ctx: Ctx,
    p: store::Patrol,
    checklist: String,
    status_label: String,
    items: Vec<ItemView>,
    risks: Vec<(String, String)>,
    can_do: bool,
    summary: String,
    errors: Vec<(String, String)>,
}

impl PatrolPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
    fn item_error(&self, prefix: &str, seq: &i64) -> Option<&str> {
        self.error(&format!("{prefix}_{seq}"))
    }
}

/// The form of a patrol as the worker sent it: `result_<seq>`, `note_<seq>`, `risk_<seq>`,
/// photos in `photos_<seq>`.
type PatrolAnswers = std::collections::HashMap<String, String>;

async fn render_patrol(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    typed: Option<&PatrolAnswers>,
    errors: FieldErrors,
    status: StatusCode,
) -> AppResult<Response> {
    let p = store::patrol(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/patrols", "nav.patrols");
    let tr = ctx.tr;
    let list = checklist(&p.checklist);
    let items = store::patrol_items(&st.db, id).await?;
    let typed_value = |k: String| typed.and_then(|t| t.get(&k).cloned());
    let item_views = items
        .iter()
        .map(|i| ItemView {
            seq: i.seq,
            label: list.map(|l| tr.t(&l.item_key(&i.item))).unwrap_or_else(|| i.item.clone()),
            result: typed_value(format!("result_{}", i.seq)).or(i.result.clone()).unwrap_or_default(),
            note: typed_value(format!("note_{}", i.seq)).or(i.note.clone()).unwrap_or_default(),
            risk: typed_value(format!("risk_{}", i.seq)).unwrap_or_else(|| "general".into()),
            hazard: i.hazard_id.zip(i.hazard_number.clone()),
        })
        .collect();
    let can_do = p.status == "planned" && may_complete(&p, caller);
    let view = PatrolPage {
        checklist: tr.t(&format!("checklist.{}", p.checklist)),
        status_label: tr.t(&format!("patrol_status.{}", p.status)),
        items: item_views,
        risks: RiskLevel::ALL.iter().map(|r| (r.as_str().to_string(), tr.t(&r.label_key()))).collect(),
        can_do,
        summary: typed.and_then(|t| t.get("summary").cloned()).or(p.summary.clone()).unwrap_or_default(),
        errors: errors.0.iter().map(|(f, c)| (f.clone(), tr.t(c))).collect(),
        ctx,
        p,
    };
    Ok(page_with_status(&view, status))
}

pub async fn show_patrol(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    render_patrol(&st, &caller, id, None, FieldErrors::default(), StatusCode::OK).await
}

pub async fn complete_patrol(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    form: FormWithFiles<PatrolAnswers>,
) -> AppResult<Response> {
    let FormWithFiles { form: answers, files: uploads } = form;
    let p = store::patrol(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    if !may_complete(&p, &caller) {
        return Err(AppError::Forbidden);
    }
    let version: i64 = answers.get("version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let summary = answers.get("summary").map(|s| s.trim().to_string()).unwrap_or_default();
    let mut errors = FieldErrors::default();
    if summary.chars().count() > 2000 {
        errors.add("summary", "error.too_long");
    }
    // Photos go with the item whose field they came in.
    let mut by_item: std::collections::HashMap<i64, Vec<Upload>> = std::collections::HashMap::new();
    for u in uploads {
        let seq = u.field.strip_prefix("photos_").and_then(|s| s.parse::<i64>().ok());
        match seq {
            Some(seq) => by_item.entry(seq).or_default().push(u),
            None => errors.add(&u.field, "error.bad_choice"),
        }
    }
    let items = store::patrol_items(&st.db, id).await?;
    let mut findings = Vec::new();
    for i in &items {
        let result = answers.get(&format!("result_{}", i.seq)).cloned().unwrap_or_default();
        if result.is_empty() {
            continue; // reported by the store as missing
        }
        let note = answers.get(&format!("note_{}", i.seq)).cloned().unwrap_or_default();
        if note.chars().count() > 2000 {
            errors.add(&format!("note_{}", i.seq), "error.too_long");
        }
        let risk = if result == "hazard" {
            answers.get(&format!("risk_{}", i.seq)).and_then(|r| RiskLevel::parse(r)).or(Some(RiskLevel::General))
        } else {
            None
        };
        findings.push(Finding { seq: i.seq, result, note, risk, photos: Vec::new() });
    }
    if !errors.is_empty() {
        return render_patrol(&st, &caller, id, Some(&answers), errors, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Photos of items without a finding are not kept: they would belong to nothing.
    let photos: Vec<(i64, Upload)> = findings
        .iter()
        .filter(|f| f.result == "hazard")
        .flat_map(|f| by_item.remove(&f.seq).unwrap_or_default().into_iter().map(|u| (f.seq, u)))
        .collect();
    if let Err((field, rejected)) = stage_findings(&st, &mut findings, photos).await {
        let (errors, status) = refused_file(field, rejected);
        return render_patrol(&st, &caller, id, Some(&answers), errors, status).await;
    }
    match store::complete_patrol(&st.db, &caller.scope, &caller.actor(), id, version, &summary, &findings).await {
        Ok(_) => Ok(Redirect::to(&format!("/patrols/{id}")).into_response()),
        Err(e) => {
            files::discard(&st.files, findings.into_iter().flat_map(|f| f.photos).collect()).await;
            let (errors, status) = refused(e)?;
            render_patrol(&st, &caller, id, Some(&answers), errors, status).await
        }
    }
}

/// Hazards linked to a person, for the person timeline (story 9: the hoarding elder's case and
/// his hazard on one page).
pub async fn timeline_events(
    st: &AppState,
    caller: &Caller,
    person: Uuid,
) -> AppResult<Vec<crate::people::timeline::Event>> {
    use crate::people::timeline::Event as TimelineEvent;
    if !caller.is(HAZARD_STAFF) {
        return Ok(Vec::new());
    }
    let tr = crate::i18n::Tr(caller.lang);
    let mut out = Vec::new();
    for h in store::for_person(&st.db, &caller.scope, person).await? {
        let href = Some(format!("/hazards/{}", h.id));
        let category = tr.t(&format!("hazard_category.{}", h.category));
        out.push(TimelineEvent {
            on: h.found_on,
            order: h.id,
            kind: "hazard.timeline_registered".into(),
            title: format!("{} · {} · {}", h.number, category, tr.t(&h.risk().label_key())),
            detail: h.description.clone(),
            href: href.clone(),
        });
        if let Some(t) = h.closed_at {
            out.push(TimelineEvent {
                on: t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
                order: h.id,
                kind: "hazard.timeline_closed".into(),
                title: format!("{} · {}", h.number, tr.t("hazard_status.closed")),
                detail: h.closure.clone().unwrap_or_default(),
                href,
            });
        }
    }
    Ok(out)
}

//! HTML screens for resident requests: the queues, phone intake by staff, and the request page
//! where dispatchers route, units sign, work and resolve their part, and the callback closes it.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{Channel, IntakeInput, PartStatus, Satisfaction, Status, validate_intake};
use super::publication::{PublicationInput, publish};
use super::store::{self, Event, Extension, Part, PartAction, Queue, Request, Unit};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::org::model::PlaceKind;
use crate::web::AppState;
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field, apply_errors, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage, query_of};

pub use crate::roles::REQUEST_STAFF;
/// Who takes a request on the phone or at the counter.
pub const INTAKE_ROLES: &[Role] =
    &[Role::BureauAdmin, Role::StationManager, Role::SocialWorker, Role::CommunityStaff, Role::GridWorker];
/// Who routes requests (派单), decides extensions and calls residents back.
pub const DISPATCHERS: &[Role] = &[Role::BureauAdmin, Role::StationManager, Role::CommunityStaff];
/// Who presses overdue work (督办).
pub const ESCALATORS: &[Role] = &[Role::BureauAdmin, Role::StationManager];

/// Local time for screens.
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

// ---- queues -----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub queue: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    /// Words in the requests' text (description, address, category).
    pub q: Option<String>,
    #[serde(flatten)]
    pub page: PageParams,
}

fn default_queue(role: Role) -> Queue {
    match role {
        Role::DepartmentHandler | Role::GridWorker | Role::SocialWorker => Queue::Mine,
        _ => Queue::Dispatch,
    }
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let queue = q.queue.as_deref().and_then(Queue::parse).unwrap_or(default_queue(caller.role));
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Status::parse(s).ok_or(AppError::bad("error.bad_query"))?),
        None => None,
    };
    let filter = store::ListFilter {
        status,
        category: q.category.clone().filter(|c| !c.is_empty()),
        text: q.q.clone(),
        ..Default::default()
    };
    let (rows, total) = store::list(&st.db, &viewer, queue, &filter, q.page.size(), q.page.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/requests", &queue.label_key());
    let tr = ctx.tr;
    let now = Utc::now();
    let headers = [
        "request.number",
        "request.category",
        "request.address",
        "field.status",
        "request.resolve_due",
        "request.created_at",
    ]
    .iter()
    .map(|k| tr.t(k))
    .collect();
    let cells = rows
        .iter()
        .map(|r| {
            let due = if r.is_overdue(now) {
                format!("{} {}", local(r.resolve_due), tr.t("request.overdue"))
            } else {
                local(r.resolve_due)
            };
            vec![
                Cell::link(r.number.clone(), format!("/requests/{}", r.id)),
                Cell::text(r.category_name.clone()),
                Cell::text(r.address.clone()),
                Cell::text(tr.t(&r.status().label_key())),
                Cell::text(due),
                Cell::text(local(r.created_at)),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, cells, total, q.page.page(), q.page.size());
    if total > store::LIST_COUNT_CAP {
        view.more_than = Some(store::LIST_COUNT_CAP);
    }
    if caller.is(INTAKE_ROLES) {
        view.actions.push((tr.t("request.new"), "/requests/new".into()));
    }
    for other in Queue::ALL {
        if *other != queue {
            view.actions.push((tr.t(&other.label_key()), format!("/requests?queue={}", other.as_str())));
        }
    }
    if caller.is(super::metrics_pages::METRICS_READERS) {
        view.actions.push((tr.t("request.metrics"), "/requests/metrics".into()));
    }
    if caller.is(super::settings::CATEGORY_EDITORS) {
        view.actions.push((tr.t("request.categories"), "/request-categories".into()));
        view.actions.push((tr.t("request.calendar"), "/request-calendar".into()));
    }
    let mut statuses = vec![(String::new(), tr.t("filter.all"))];
    statuses.extend(Status::ALL.iter().map(|s| (s.as_str().to_string(), tr.t(&s.label_key()))));
    let mut cats = vec![(String::new(), tr.t("filter.all"))];
    cats.extend(store::categories(&st.db, false).await?.into_iter().map(|c| (c.code, c.name)));
    // A search or filter stays in the queue it was made from.
    view.filter_hidden.push(("queue".into(), queue.as_str().into()));
    view.filters = vec![
        Field::text(tr, "q", "search_text.label", q.q.as_deref().unwrap_or(""), 40, false),
        Field::select(tr, "status", "field.status", q.status.as_deref().unwrap_or(""), statuses, false),
        Field::select(tr, "category", "request.category", q.category.as_deref().unwrap_or(""), cats, false),
    ];
    view.query = query_of(&[
        ("queue", Some(queue.as_str().to_string())),
        ("q", q.q.clone()),
        ("status", q.status.clone()),
        ("category", q.category.clone()),
        ("page_size", q.page.page_size.map(|_| q.page.size().to_string())),
    ]);
    Ok(page(&view))
}

// ---- staff intake -----------------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
pub struct IntakeForm {
    #[serde(default)]
    pub category: String,
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
    pub reporter_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub person_id: String,
}

impl IntakeForm {
    pub fn input(&self) -> IntakeInput {
        let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
        IntakeInput {
            category: self.category.clone(),
            description: self.description.clone(),
            place_id: opt(&self.place_id),
            estate_id: opt(&self.estate_id),
            building: opt(&self.building),
            address: opt(&self.address),
            lat: opt(&self.lat),
            lon: opt(&self.lon),
            reporter_name: opt(&self.reporter_name),
            phone: opt(&self.phone),
            person_id: opt(&self.person_id),
        }
    }
}

/// Category choices grouped as "group / name".
pub async fn category_options(st: &AppState, tr: crate::i18n::Tr) -> AppResult<Vec<(String, String)>> {
    let mut v = vec![(String::new(), tr.t("filter.choose"))];
    v.extend(
        store::categories(&st.db, true).await?.into_iter().map(|c| (c.code, format!("{} / {}", c.group_name, c.name))),
    );
    Ok(v)
}

async fn intake_form(st: &AppState, caller: &Caller, f: &IntakeForm, errors: &FieldErrors) -> AppResult<FormPage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/requests", "request.new");
    let tr = ctx.tr;
    let mut places = vec![(String::new(), tr.t("request.place_unknown"))];
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
        Field::select(tr, "category", "request.category", &f.category, category_options(st, tr).await?, true),
        Field::textarea(tr, "description", "request.description", &f.description),
        Field::select(tr, "place_id", "request.place", &f.place_id, places, false),
        Field::select(tr, "estate_id", "person.estate", &f.estate_id, estate_opts, false),
        Field::text(tr, "building", "person.building", &f.building, 40, false),
        Field::text(tr, "address", "request.address", &f.address, 200, false).hint(tr.t("request.address_hint")),
        Field::text(tr, "reporter_name", "request.reporter_name", &f.reporter_name, 40, false),
        Field::text(tr, "phone", "request.phone", &f.phone, 20, false),
        Field::text(tr, "lat", "request.lat", &f.lat, 20, false),
        Field::text(tr, "lon", "request.lon", &f.lon, 20, false),
    ];
    fields[1].required = true;
    apply_errors(&mut fields, errors, tr);
    let errs = general_errors(&fields, errors, tr);
    let mut view = FormPage::new(ctx, "/requests".into(), fields, "/requests".into());
    view.errors = errs;
    view.submit = tr.t("request.accept");
    if !f.person_id.is_empty() {
        view.hidden.push(("person_id".into(), f.person_id.clone()));
    }
    Ok(view)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    pub person_id: Option<Uuid>,
}

pub async fn new_form(State(st): State<AppState>, caller: Caller, Q(q): Q<NewQuery>) -> AppResult<Response> {
    let f = IntakeForm { person_id: q.person_id.map(|p| p.to_string()).unwrap_or_default(), ..Default::default() };
    Ok(page(&intake_form(&st, &caller, &f, &FieldErrors::default()).await?))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<IntakeForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let clean = validate_intake(&f.input(), false, &mut errors);
    let result = match clean {
        Some(clean) => {
            let actor = caller.actor();
            let intake = store::Intake {
                channel: Channel::Phone,
                actor: &actor,
                staff_scope: Some(&caller.scope),
                client_id: None,
                attributes: serde_json::json!({}),
                photos: &[],
                limit: None,
                category: None,
            };
            store::create(&st.db, &st.keys, &intake, &clean).await
        }
        None => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(c) => Ok(Redirect::to(&format!("/requests/{}", c.request.id)).into_response()),
        Err(AppError::Invalid(errors)) => {
            Ok(page_with_status(&intake_form(&st, &caller, &f, &errors).await?, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

// ---- the request page -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "requests/request.html")]
struct RequestPage {
    ctx: Ctx,
    current: Request,
    status_label: String,
    overdue: bool,
    parts: Vec<PartView>,
    events: Vec<EventView>,
    extensions: Vec<ExtensionView>,
    duplicates: Vec<(Request, String)>,
    response_due: String,
    responded_at: Option<String>,
    resolve_due: String,
    units: Vec<Unit>,
    suggested: Option<String>,
    can_dispatch: bool,
    can_escalate: bool,
    satisfactions: Vec<(String, String)>,
    revealed_phone: Option<String>,
    photos: Vec<crate::files::FileInfo>,
    errors: Vec<(String, String)>,
    notice: Option<String>,
    /// What the public reads, as it reads it now.
    public_text: String,
    public_address: String,
    /// The publication form's values: what the user sent back (kept on an error), else now's.
    draft: PublicationDraft,
    draft_open: bool,
}

impl RequestPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

struct PartView {
    part: Part,
    status_label: String,
    due: String,
    mine: bool,
    can_sign: bool,
    can_work: bool,
}

struct EventView {
    id: Uuid,
    at: String,
    /// The staff member's name (a resident's as given); their account in `account`.
    actor: String,
    account: String,
    text: String,
    note: Option<String>,
    /// The public reads the note (on the tracking page and Open311), redacted.
    note_public: bool,
}

struct ExtensionView {
    ext: Extension,
    unit: String,
}

/// Who acted, in words, for the steps no staff account took: the resident on the public page,
/// an Open311 app (by its name), the system's own escalation.
fn system_actor(tr: crate::i18n::Tr, name: &str) -> String {
    match name {
        "resident" => tr.t("request_event.actor_resident"),
        "system" => tr.t("request_event.actor_system"),
        other => match other.strip_prefix("open311:") {
            Some(app) => tr.f("request_event.actor_app", &[&app]),
            None => other.to_string(),
        },
    }
}

pub fn event_text(tr: crate::i18n::Tr, e: &Event) -> String {
    let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
    let s = |k: &str| {
        detail.get(k).and_then(|v| v.as_str().map(str::to_string).or_else(|| Some(v.to_string()))).unwrap_or_default()
    };
    let base = tr.t(&format!("request_event.{}", e.kind));
    let extra = match e.kind.as_str() {
        "dispatched" | "signed" | "returned" | "resolved_part" | "withdrawn" | "progress" => s("unit"),
        "extension_requested" | "extension_approved" => {
            format!("{} {}", s("unit"), tr.f("request.days", &[&s("days")]))
        }
        "closed" | "reopened" => tr.t(&format!("satisfaction.{}", s("satisfaction"))),
        "merged" => s("into"),
        "merged_in" => s("from"),
        "accepted" => e.note.as_deref().map(|c| tr.t(&format!("request_channel.{c}"))).unwrap_or_default(),
        _ => String::new(),
    };
    if extra.is_empty() { base } else { format!("{base} · {extra}") }
}

#[derive(Default)]
struct Feedback {
    errors: FieldErrors,
    revealed_phone: Option<String>,
    notice: Option<&'static str>,
    /// A publication form that was refused, to show again as typed.
    publication: Option<PublicationDraft>,
}

async fn render(st: &AppState, caller: &Caller, id: Uuid, fb: Feedback, status: StatusCode) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, caller).await?;
    let r = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/requests", "nav.requests");
    ctx.title = format!("{} · {}", r.number, r.category_name);
    let tr = ctx.tr;
    let now = Utc::now();
    let can_dispatch = viewer.dispatches(&r);
    // The request's parts are independent reads, asked at once (each is a trip to a connection).
    let events_named = async {
        let events = store::events(&st.db, id, false).await?;
        let names = crate::staff::store::names_of(&st.db, events.iter().filter_map(|e| e.actor_id)).await?;
        Ok::<_, sqlx::Error>((events, names))
    };
    let dispatching = async {
        if !(can_dispatch && r.status().is_open()) {
            return Ok((Vec::new(), None, Vec::new()));
        }
        let (units, suggested, dups) =
            tokio::try_join!(store::units(&st.db, &caller.scope), store::default_unit(&st.db, &r), async {
                if r.status() == Status::Accepted {
                    store::duplicates(&st.db, &viewer, &r, st.cfg.duplicate_days).await
                } else {
                    Ok(Vec::new())
                }
            },)?;
        Ok::<_, sqlx::Error>((units, suggested.map(|u| u.key()), dups))
    };
    let (parts, pending, (events, names), (units, suggested, duplicates), linked) = tokio::try_join!(
        store::parts(&st.db, id),
        store::pending_extensions(&st.db, id),
        events_named,
        dispatching,
        super::publication::linked_name(&st.db, &r),
    )?;
    let part_views = parts
        .iter()
        .map(|p| {
            let mine = viewer.handles(p);
            PartView {
                status_label: tr.t(&p.status().label_key()),
                due: local(p.due),
                mine,
                can_sign: mine && p.status() == PartStatus::Dispatched,
                can_work: mine && p.status() == PartStatus::Signed,
                part: p.clone(),
            }
        })
        .collect();
    let extensions = pending
        .into_iter()
        .map(|e| ExtensionView {
            unit: parts.iter().find(|p| p.id == e.part_id).map(|p| p.unit_name.clone()).unwrap_or_default(),
            ext: e,
        })
        .collect();
    let events = events
        .iter()
        .rev()
        .map(|e| EventView {
            id: e.id,
            at: local(e.at),
            actor: e
                .actor_id
                .and_then(|a| names.get(&a))
                .map_or_else(|| system_actor(tr, &e.actor_name), |n| n.0.clone()),
            account: e.actor_id.and_then(|a| names.get(&a)).map(|n| n.1.clone()).unwrap_or_default(),
            text: event_text(tr, e),
            note: e.note.clone().filter(|_| e.kind != "accepted"),
            note_public: e.public && e.note_public && e.note.is_some() && e.kind != "accepted",
        })
        .collect();
    let (public_text, public_address) = (r.public_wording(linked.as_deref()), r.public_place(linked.as_deref()));
    let draft_open = fb.publication.is_some();
    // A refused form comes back as typed, against the version now shown beside it: the user
    // sees the current wording above the form before saving theirs over it.
    let draft = fb.publication.map(|d| PublicationDraft { version: r.version, ..d });
    let draft = draft.unwrap_or_else(|| PublicationDraft {
        version: r.version,
        published: r.published,
        public_text: public_text.clone(),
        public_address: public_address.clone(),
    });
    let view = RequestPage {
        public_text,
        public_address,
        draft,
        draft_open,
        status_label: tr.t(&r.status().label_key()),
        overdue: r.is_overdue(now),
        parts: part_views,
        events,
        extensions,
        duplicates: duplicates
            .into_iter()
            .map(|d| {
                let c = local(d.created_at);
                (d, c)
            })
            .collect(),
        response_due: local(r.response_due),
        responded_at: r.responded_at.map(local),
        resolve_due: local(r.resolve_due),
        units,
        suggested,
        can_dispatch,
        can_escalate: viewer.escalates(&r) && r.status().is_open(),
        satisfactions: Satisfaction::ALL.iter().map(|s| (s.as_str().to_string(), tr.t(&s.label_key()))).collect(),
        revealed_phone: fb.revealed_phone,
        photos: crate::files::of(&st.db, crate::files::Owner::Request(id)).await?,
        errors: fb.errors.0.iter().map(|(f, c)| (f.clone(), tr.t(c))).collect(),
        notice: fb.notice.map(|n| tr.t(n)),
        ctx,
        current: r,
    };
    Ok(page_with_status(&view, status))
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    render(&st, &caller, id, Feedback::default(), StatusCode::OK).await
}

/// The request a part or extension belongs to, if the viewer may see it; otherwise 404, before
/// anything about the submitted form is said.
async fn visible_request(st: &AppState, viewer: &store::Viewer, request: Option<Uuid>) -> AppResult<Uuid> {
    let id = request.ok_or(AppError::NotFound)?;
    store::get(&st.db, viewer, id).await?.map(|r| r.id).ok_or(AppError::NotFound)
}

/// After a transition: back to the page, or the page again with the message where it belongs.
async fn after(st: &AppState, caller: &Caller, id: Uuid, result: Result<(), AppError>) -> AppResult<Response> {
    let code = match result {
        Ok(()) => return Ok(Redirect::to(&format!("/requests/{id}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            return render(st, caller, id, Feedback { errors, ..Default::default() }, StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        }
        Err(AppError::Stale) => "error.stale",
        Err(AppError::Conflict(code)) => code,
        Err(e) => return Err(e),
    };
    let mut errors = FieldErrors::default();
    errors.add("_form", code);
    let status = if code == "error.stale" { StatusCode::PRECONDITION_FAILED } else { StatusCode::CONFLICT };
    render(st, caller, id, Feedback { errors, ..Default::default() }, status).await
}

#[derive(Deserialize, Default)]
pub struct DispatchForm {
    #[serde(default)]
    pub version: i64,
    /// `place:<id>` / `org:<id>`, one or more (co-handling).
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub note_public: Option<String>,
}

pub async fn dispatch(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<DispatchForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let mut units = Vec::new();
    for key in f.units.iter().filter(|k| !k.is_empty()) {
        match store::unit(&st.db, &caller.scope, key).await? {
            Some(u) => units.push(u),
            None => return after(&st, &caller, id, Err(AppError::field("units", "error.bad_choice"))).await,
        }
    }
    let note = store::StaffNote { text: &f.note, public: f.note_public.is_some() };
    let res = store::dispatch(&st.db, &viewer, &caller.actor(), id, f.version, &units, note).await;
    after(&st, &caller, id, res).await
}

#[derive(Deserialize, Default)]
pub struct PartForm {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub public: Option<String>,
}

pub async fn part_action(
    State(st): State<AppState>,
    caller: Caller,
    Id(part): Id,
    form: crate::files::upload::FormWithFiles<PartForm>,
) -> AppResult<Response> {
    let crate::files::upload::FormWithFiles { form: f, files: uploads } = form;
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = visible_request(&st, &viewer, store::part_request(&st.db, part).await?).await?;
    // Whether this unit is the caller's comes before anything about the form.
    if !store::parts(&st.db, request).await?.iter().any(|p| p.id == part && viewer.handles(p)) {
        return Err(AppError::Forbidden);
    }
    let action = match f.action.as_str() {
        "sign" => PartAction::Sign,
        "note" => PartAction::Note,
        "return" => PartAction::Return,
        "resolve" => PartAction::Resolve,
        _ => return after(&st, &caller, request, Err(AppError::field("action", "error.bad_choice"))).await,
    };
    let photos = match crate::files::stage(&st.files, uploads).await {
        Ok(p) => p,
        Err((_, rejected)) => {
            let mut errors = FieldErrors::default();
            errors.add("photos", rejected.code());
            return render(&st, &caller, request, Feedback { errors, ..Default::default() }, rejected.status()).await;
        }
    };
    let res = store::act_on_part(
        &st.db,
        &viewer,
        &caller.actor(),
        part,
        f.version,
        store::PartStep { action, text: &f.note, public: f.public.is_some(), photos: &photos },
    )
    .await
    .map(|_| ());
    if res.is_err() {
        crate::files::discard(&st.files, photos).await;
    }
    after(&st, &caller, request, res).await
}

#[derive(Deserialize, Default)]
pub struct ReassignForm {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn reassign(
    State(st): State<AppState>,
    caller: Caller,
    Id(part): Id,
    PageForm(f): PageForm<ReassignForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = visible_request(&st, &viewer, store::part_request(&st.db, part).await?).await?;
    let to = match f.unit.trim() {
        "" => None,
        key => match store::unit(&st.db, &caller.scope, key).await? {
            Some(u) => Some(u),
            None => return after(&st, &caller, request, Err(AppError::field("unit", "error.bad_choice"))).await,
        },
    };
    let res =
        store::reassign(&st.db, &viewer, &caller.actor(), part, f.version, to.as_ref(), &f.reason).await.map(|_| ());
    after(&st, &caller, request, res).await
}

#[derive(Deserialize, Default)]
pub struct ExtensionForm {
    #[serde(default)]
    pub days: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn ask_extension(
    State(st): State<AppState>,
    caller: Caller,
    Id(part): Id,
    PageForm(f): PageForm<ExtensionForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = visible_request(&st, &viewer, store::part_request(&st.db, part).await?).await?;
    let res = store::ask_extension(&st.db, &viewer, &caller.actor(), part, &f.days, &f.reason).await.map(|_| ());
    after(&st, &caller, request, res).await
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

pub async fn decide_extension(
    State(st): State<AppState>,
    caller: Caller,
    Id(ext): Id,
    PageForm(f): PageForm<DecisionForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = visible_request(&st, &viewer, store::extension_request(&st.db, ext).await?).await?;
    let approve = match f.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return after(&st, &caller, request, Err(AppError::field("decision", "error.bad_choice"))).await,
    };
    let res = store::decide_extension(&st.db, &viewer, &caller.actor(), ext, approve, &f.note).await.map(|_| ());
    after(&st, &caller, request, res).await
}

#[derive(Deserialize, Default)]
pub struct CallbackForm {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub satisfaction: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub note_public: Option<String>,
}

pub async fn callback(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<CallbackForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let note = store::StaffNote { text: &f.note, public: f.note_public.is_some() };
    let res = store::callback(&st.db, &viewer, &caller.actor(), id, f.version, &f.satisfaction, note).await.map(|_| ());
    after(&st, &caller, id, res).await
}

/// The publication form as shown: the current values, or what the user typed.
struct PublicationDraft {
    version: i64,
    published: bool,
    public_text: String,
    public_address: String,
}

#[derive(Deserialize, Default)]
pub struct PublicationForm {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub public_text: String,
    #[serde(default)]
    pub public_address: String,
}

/// The desk publishes a request or words what the public reads. The form shows the wording
/// the public reads now; sent back unchanged, it stays derived from the original (so a later
/// edit of the description still shows through, redacted).
pub async fn publication(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<PublicationForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let r = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let linked = super::publication::linked_name(&st.db, &r).await?;
    let derived = store::Request { public_text: None, public_address: None, ..r };
    let keep = |typed: &str, auto: String| if typed.trim() == auto { String::new() } else { typed.to_string() };
    let input = PublicationInput {
        version: Some(f.version),
        published: Some(f.published.is_some()),
        public_text: Some(keep(&f.public_text, derived.public_wording(linked.as_deref()))),
        public_address: Some(keep(&f.public_address, derived.public_place(linked.as_deref()))),
    };
    let errors = match publish(&st.db, &viewer, &caller.actor(), id, f.version, &input).await {
        Ok(()) => return Ok(Redirect::to(&format!("/requests/{id}#publication")).into_response()),
        Err(AppError::Invalid(errors)) => errors,
        Err(AppError::Stale) => {
            let mut errors = FieldErrors::default();
            errors.add("publication", "request.publication_stale");
            errors
        }
        Err(e) => return Err(e),
    };
    let status = if errors.0.iter().any(|(_, c)| *c == "request.publication_stale") {
        StatusCode::PRECONDITION_FAILED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let typed = PublicationDraft {
        version: f.version,
        published: f.published.is_some(),
        public_text: f.public_text,
        public_address: f.public_address,
    };
    render(&st, &caller, id, Feedback { errors, publication: Some(typed), ..Default::default() }, status).await
}

#[derive(Deserialize, Default)]
pub struct ReasonForm {
    #[serde(default)]
    pub reason: String,
}

/// The desk takes a note back from the public (a name or a detail that should not have gone
/// out); the event stays on the public timeline without it.
pub async fn withdraw_note(State(st): State<AppState>, caller: Caller, Id(event): Id) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = super::publication::withdraw_note(&st.db, &viewer, &caller.actor(), event).await?;
    Ok(Redirect::to(&format!("/requests/{request}#timeline")).into_response())
}

pub async fn escalate(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<ReasonForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let res = store::escalate(&st.db, &viewer, &caller.actor(), id, &f.reason).await;
    after(&st, &caller, id, res).await
}

#[derive(Deserialize, Default)]
pub struct MergeForm {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub into: String,
}

pub async fn merge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<MergeForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let Ok(into) = Uuid::parse_str(f.into.trim()) else {
        return after(&st, &caller, id, Err(AppError::field("into", "error.bad_choice"))).await;
    };
    let res = store::merge(&st.db, &viewer, &caller.actor(), id, f.version, into).await;
    after(&st, &caller, id, res).await
}

pub async fn reveal_phone(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<ReasonForm>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    match store::reveal_phone(&st.db, &st.keys, &viewer, &caller.actor(), id, &f.reason).await {
        Ok(phone) => {
            render(&st, &caller, id, Feedback { revealed_phone: Some(phone), ..Default::default() }, StatusCode::OK)
                .await
        }
        Err(AppError::Invalid(mut errors)) => {
            errors.0.iter_mut().for_each(|(f, _)| *f = "phone_reason".into());
            render(&st, &caller, id, Feedback { errors, ..Default::default() }, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

/// Requests linked to a person, for the person timeline: when they came in and when they closed.
pub async fn timeline_events(
    st: &AppState,
    caller: &Caller,
    person: Uuid,
) -> AppResult<Vec<crate::people::timeline::Event>> {
    use crate::people::timeline::Event as TimelineEvent;
    if !caller.is(REQUEST_STAFF) {
        return Ok(Vec::new());
    }
    let viewer = store::viewer(&st.db, caller).await?;
    let filter = store::ListFilter { person: Some(person), ..Default::default() };
    let (rows, _) = store::list(&st.db, &viewer, Queue::Area, &filter, 200, 0).await?;
    let tr = crate::i18n::Tr(caller.lang);
    let day = |t: DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let mut out = Vec::new();
    for r in rows {
        let href = Some(format!("/requests/{}", r.id));
        out.push(TimelineEvent {
            on: day(r.created_at),
            order: r.id,
            kind: "request.timeline_accepted".into(),
            title: format!("{} · {}", r.number, r.category_name),
            detail: r.description.clone(),
            href: href.clone(),
        });
        if let Some(t) = r.resolved_at.or(r.closed_at) {
            out.push(TimelineEvent {
                on: day(t),
                order: r.id,
                kind: "request.timeline_done".into(),
                title: format!("{} · {}", r.number, tr.t(&r.status().label_key())),
                detail: r.satisfaction.as_deref().map(|s| tr.t(&format!("satisfaction.{s}"))).unwrap_or_default(),
                href,
            });
        }
    }
    Ok(out)
}

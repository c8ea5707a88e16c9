//! HTML screens for people: list and search, register (with duplicate check), edit, the person
//! page with tags, household, cases and timeline, and the audited reveal of full numbers.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::model::*;
use super::store::{self, Candidate, CreateError, PersonFilter, Secret, today};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Tr;
use crate::org::model::PlaceKind;
use crate::web::AppState;
use crate::web::conflict::{self, EditForm, EditValues, Resolution, Sealed};
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field, apply_errors, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage, query_of};

/// Roles that may see the full ID or phone number (with a reason).
pub const REVEALERS: &[Role] = &[Role::BureauAdmin, Role::StationManager, Role::SocialWorker];

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn opt_id(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s.trim()).ok()
}

pub fn tag_options(tr: Tr, blank: &str) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), tr.t(blank))];
    v.extend(Tag::ALL.iter().map(|t| (t.as_str().to_string(), tr.t(&t.label_key()))));
    v
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub place_id: Option<String>,
    pub tag: Option<String>,
    pub clients: Option<String>,
    pub page: Option<i64>,
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let filter = PersonFilter {
        place_id: q.place_id.as_deref().and_then(opt_id),
        tag: q.tag.clone().filter(|t| !t.is_empty()),
        clients: Some(q.clients.as_deref() == Some("on")),
        q: q.q.clone(),
        page: None,
    };
    let (rows, total) = store::list(&st.db, &caller.scope, &filter, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/people", "nav.people");
    let tr = ctx.tr;
    let headers = ["field.name", "person.sex_age", "person.id_number", "person.address", "person.phone"]
        .iter()
        .map(|k| tr.t(k))
        .collect();
    let today = today();
    let rows = rows
        .into_iter()
        .map(|p| {
            let sex = p.sex.as_deref().map(|s| tr.t(&format!("sex.{s}"))).unwrap_or_default();
            let age = p.age(today).map(|a| tr.f("person.age", &[&a])).unwrap_or_default();
            vec![
                Cell::link(p.name.clone(), format!("/people/{}", p.id)),
                Cell::text(format!("{sex} {age}")),
                Cell::text(p.id_masked.clone().unwrap_or_default()),
                Cell::text(format!("{} {}", p.place_name, p.address())),
                Cell::text(p.phone_masked.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    let places = crate::org::store::place_options(
        &st.db,
        &caller.scope,
        &[PlaceKind::Street, PlaceKind::Community, PlaceKind::Grid],
    )
    .await?;
    let mut place_opts = vec![(String::new(), tr.t("filter.all"))];
    place_opts.extend(places.into_iter().map(|(id, n)| (id.to_string(), n)));
    view.filters = vec![
        Field::text(tr, "q", "person.search_name", q.q.as_deref().unwrap_or(""), 40, false),
        Field::select(tr, "place_id", "person.place", q.place_id.as_deref().unwrap_or(""), place_opts, false),
        Field::select(tr, "tag", "person.tag", q.tag.as_deref().unwrap_or(""), tag_options(tr, "filter.all"), false),
        Field::checkbox(tr, "clients", "person.clients_only", q.clients.as_deref() == Some("on")),
    ];
    let export_query =
        query_of(&[("place_id", q.place_id.clone()), ("tag", q.tag.clone()), ("clients", q.clients.clone())]);
    view.query = query_of(&[("q", q.q), ("place_id", q.place_id), ("tag", q.tag), ("clients", q.clients)]);
    view.actions.push((tr.t("person.new"), "/people/new".into()));
    view.actions.push((tr.t("people_import.title"), "/people/import".into()));
    view.actions.push((tr.t("export.roster"), format!("/people/export.xlsx?{export_query}")));
    view.actions.push((tr.t("export_request.title"), "/people/export-requests".into()));
    view.actions.push((tr.t("nav.search"), "/search".into()));
    Ok(page(&view))
}

#[derive(Deserialize, Default, Clone)]
pub struct PersonForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id_number: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub birth_date: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub place_id: String,
    #[serde(default)]
    pub estate_id: String,
    #[serde(default)]
    pub building: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub room: String,
    #[serde(default)]
    pub household_id: String,
    #[serde(default)]
    pub relation: String,
    #[serde(default)]
    pub confirm_new: String,
    #[serde(default)]
    pub version: String,
}

impl EditValues for PersonForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", self.name.clone()),
            ("id_number", self.id_number.clone()),
            ("sex", self.sex.clone()),
            ("birth_date", self.birth_date.clone()),
            ("phone", self.phone.clone()),
            ("place_id", self.place_id.clone()),
            ("estate_id", self.estate_id.clone()),
            ("building", self.building.clone()),
            ("unit", self.unit.clone()),
            ("room", self.room.clone()),
            ("relation", self.relation.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        let slot = match name {
            "name" => &mut self.name,
            "id_number" => &mut self.id_number,
            "sex" => &mut self.sex,
            "birth_date" => &mut self.birth_date,
            "phone" => &mut self.phone,
            "place_id" => &mut self.place_id,
            "estate_id" => &mut self.estate_id,
            "building" => &mut self.building,
            "unit" => &mut self.unit,
            "room" => &mut self.room,
            "relation" => &mut self.relation,
            _ => return,
        };
        *slot = value;
    }
}

impl PersonForm {
    /// The edit form of a saved record; the numbers stay blank (blank keeps them).
    fn of(p: &Person) -> PersonForm {
        PersonForm {
            name: p.name.clone(),
            sex: p.sex.clone().unwrap_or_default(),
            birth_date: p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            place_id: p.place_id.to_string(),
            estate_id: p.estate_id.map(|e| e.to_string()).unwrap_or_default(),
            building: p.building.clone().unwrap_or_default(),
            unit: p.unit.clone().unwrap_or_default(),
            room: p.room.clone().unwrap_or_default(),
            relation: p.relation.clone().unwrap_or_default(),
            version: p.version.to_string(),
            ..Default::default()
        }
    }
    fn input(&self, errors: &mut FieldErrors) -> PersonInput {
        let place_id = opt_id(&self.place_id).unwrap_or_else(|| {
            errors.add("place_id", "error.required");
            Uuid::nil()
        });
        PersonInput {
            name: self.name.clone(),
            id_number: opt(&self.id_number),
            sex: opt(&self.sex),
            birth_date: opt(&self.birth_date),
            phone: opt(&self.phone),
            place_id,
            estate_id: opt_id(&self.estate_id),
            building: opt(&self.building),
            unit: opt(&self.unit),
            room: opt(&self.room),
            household_id: opt_id(&self.household_id),
            relation: opt(&self.relation),
            version: self.version.trim().parse().ok(),
        }
    }
}

async fn person_form(
    st: &AppState,
    caller: &Caller,
    f: &PersonForm,
    errors: &FieldErrors,
    edit: Option<&Person>,
    candidates: &[Candidate],
) -> AppResult<FormPage> {
    let ctx =
        Ctx::new(st.cfg.demo, Some(caller), None, "/people", if edit.is_some() { "person.edit" } else { "person.new" });
    let tr = ctx.tr;
    let mut places =
        crate::org::store::place_options(&st.db, &caller.scope, &[PlaceKind::Community, PlaceKind::Grid]).await?;
    let (estates, _) = crate::org::store::list_estates(&st.db, &caller.scope, 500, 0).await?;
    let mut estates: Vec<(Uuid, String)> =
        estates.into_iter().map(|e| (e.id, format!("{} / {}", e.community_name, e.name))).collect();
    // Where the person lives is offered even outside the editor's places (a client whose case
    // the station holds may live in another street): a blank choice would read as "moved
    // nowhere", and saving keeps it (store::update).
    if let Some(p) = edit {
        let place_missing = !places.iter().any(|(id, _)| *id == p.place_id);
        let estate_missing = p.estate_id.filter(|e| !estates.iter().any(|(id, _)| id == e));
        if (place_missing || estate_missing.is_some())
            && let Some(home) = store::home_place(&st.db, p).await?
        {
            let community = match home.kind() {
                PlaceKind::Grid => home.parent_name.clone().unwrap_or_default(),
                _ => home.name.clone(),
            };
            if let (Some(e), Some(name)) = (estate_missing, &p.estate_name) {
                estates.push((e, format!("{community} / {name}")));
            }
            if place_missing {
                let label = home.parent_name.map_or_else(|| home.name.clone(), |up| format!("{up} / {}", home.name));
                places.push((home.id, label));
            }
        }
    }
    let mut place_opts = vec![(String::new(), tr.t("filter.choose"))];
    place_opts.extend(places.into_iter().map(|(id, n)| (id.to_string(), n)));
    let mut estate_opts = vec![(String::new(), tr.t("person.no_estate"))];
    estate_opts.extend(estates.into_iter().map(|(id, n)| (id.to_string(), n)));
    let sexes = vec![
        (String::new(), tr.t("person.sex_from_id")),
        ("male".into(), tr.t("sex.male")),
        ("female".into(), tr.t("sex.female")),
    ];
    let mut relations = vec![(String::new(), tr.t("filter.choose"))];
    relations.extend(Relation::ALL.iter().map(|r| (r.as_str().to_string(), tr.t(&r.label_key()))));
    let id_hint = match edit.and_then(|p| p.id_masked.clone()) {
        Some(m) => tr.f("person.keep_hint", &[&m]),
        None => tr.t("person.id_hint"),
    };
    let phone_hint = match edit.and_then(|p| p.phone_masked.clone()) {
        Some(m) => tr.f("person.keep_hint", &[&m]),
        None => String::new(),
    };
    let mut fields = vec![
        Field::text(tr, "name", "field.name", &f.name, 40, true),
        Field::text(tr, "id_number", "person.id_number", &f.id_number, 18, false).hint(id_hint),
        Field::select(tr, "sex", "person.sex", &f.sex, sexes, false),
        Field::date(tr, "birth_date", "person.birth_date", &f.birth_date, false),
        Field::text(tr, "phone", "person.phone", &f.phone, 20, false).hint(phone_hint),
        Field::select(tr, "place_id", "person.place", &f.place_id, place_opts, true),
        Field::select(tr, "estate_id", "person.estate", &f.estate_id, estate_opts, false),
        Field::text(tr, "building", "person.building", &f.building, 20, false),
        Field::text(tr, "unit", "person.unit", &f.unit, 20, false),
        Field::text(tr, "room", "person.room", &f.room, 20, false),
        Field::select(tr, "relation", "person.relation", &f.relation, relations, false),
    ];
    if !candidates.is_empty() {
        fields.push(Field::checkbox(tr, "confirm_new", "person.confirm_new", false));
    }
    apply_errors(&mut fields, errors, tr);
    let errs = general_errors(&fields, errors, tr);
    let (action, cancel) = match edit {
        Some(p) => (format!("/people/{}", p.id), format!("/people/{}", p.id)),
        None => ("/people".to_string(), "/people".to_string()),
    };
    let mut view = FormPage::new(ctx, action, fields, cancel);
    view.errors = errs;
    if !candidates.is_empty() {
        let list: Vec<String> = candidates
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {}",
                    c.name,
                    c.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                    c.id_masked.clone().unwrap_or_default(),
                    if c.visible { c.place_name.clone() } else { tr.t("person.outside_scope") }
                )
            })
            .collect();
        view.intro = Some(format!("{} {}", tr.t("person.possible_duplicates"), list.join("；")));
    }
    if !f.household_id.is_empty() {
        view.hidden.push(("household_id".into(), f.household_id.clone()));
    }
    if let Some(p) = edit {
        view.hidden
            .push(("version".into(), if f.version.is_empty() { p.version.to_string() } else { f.version.clone() }));
    }
    Ok(view)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    pub household_id: Option<Uuid>,
}

pub async fn new_form(State(st): State<AppState>, caller: Caller, Q(q): Q<NewQuery>) -> AppResult<Response> {
    let mut f = PersonForm::default();
    if let Some(hid) = q.household_id {
        // A new member of a household starts at the household's address.
        if let Some(head) = store::household_members(&st.db, &caller.scope, hid).await?.into_iter().next() {
            f.household_id = hid.to_string();
            f.place_id = head.place_id.to_string();
            f.estate_id = head.estate_id.map(|e| e.to_string()).unwrap_or_default();
            f.building = head.building.unwrap_or_default();
            f.unit = head.unit.unwrap_or_default();
            f.room = head.room.unwrap_or_default();
        }
    }
    Ok(page(&person_form(&st, &caller, &f, &FieldErrors::default(), None, &[]).await?))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<PersonForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let input = f.input(&mut errors);
    if !errors.is_empty() {
        // Report every field at once: run the full validation too.
        validate(&input, today(), &mut errors);
        let view = person_form(&st, &caller, &f, &errors, None, &[]).await?;
        return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
    }
    match store::create(&st.db, &st.keys, &caller.scope, &caller.actor(), &input, f.confirm_new == "on").await {
        Ok(p) => Ok(Redirect::to(&format!("/people/{}", p.id)).into_response()),
        Err(CreateError::App(AppError::Invalid(errors))) => {
            let view = person_form(&st, &caller, &f, &errors, None, &[]).await?;
            Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(CreateError::IdRegistered(c)) => {
            let mut errors = FieldErrors::default();
            errors.add("id_number", "person.id_registered");
            let view = person_form(&st, &caller, &f, &errors, None, &c).await?;
            Ok(page_with_status(&view, StatusCode::CONFLICT))
        }
        Err(CreateError::PossibleDuplicate(c)) => {
            let view = person_form(&st, &caller, &f, &FieldErrors::default(), None, &c).await?;
            Ok(page_with_status(&view, StatusCode::CONFLICT))
        }
        Err(CreateError::App(e)) => Err(e),
    }
}

pub async fn edit_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let f = PersonForm::of(&p);
    Ok(page(&person_form(&st, &caller, &f, &FieldErrors::default(), Some(&p), &[]).await?))
}

pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<PersonForm>,
) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let saved = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    // An answer to a conflict is taken only on the version it showed: after a third change the
    // store refuses it as stale and the comparison starts again.
    if res.is_answer() && f.version.trim() == saved.version.to_string() {
        if !res.is_complete() {
            return conflict_page(&st, &caller, f, &saved, &res, "conflict.choose", StatusCode::CONFLICT).await;
        }
        conflict::apply(&mut f, &PersonForm::of(&saved), &sealed(&saved), &res);
    }
    let mut errors = FieldErrors::default();
    let input = f.input(&mut errors);
    let result = if errors.is_empty() {
        store::update(&st.db, &st.keys, &caller.scope, &caller.actor(), id, &input).await
    } else {
        Err(AppError::Invalid(errors))
    };
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/people/{}", p.id)).into_response()),
        Err(AppError::Invalid(errors)) => {
            let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            let view = person_form(&st, &caller, &f, &errors, Some(&p), &[]).await?;
            Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(AppError::Stale) => {
            let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            conflict_page(&st, &caller, f, &p, &res, "error.stale", StatusCode::CONFLICT).await
        }
        Err(e) => Err(e),
    }
}

/// The sealed numbers of a record, masked as it shows them.
fn sealed(p: &Person) -> [Sealed; 2] {
    [
        Sealed { name: "id_number", saved_masked: p.id_masked.clone() },
        Sealed { name: "phone", saved_masked: p.phone_masked.clone() },
    ]
}

/// The form again after a save met a newer version: what the user typed stays in the fields,
/// the fields saved differently since are compared above them, and the form now carries the
/// version it compares against.
async fn conflict_page(
    st: &AppState,
    caller: &Caller,
    f: PersonForm,
    saved: &Person,
    res: &Resolution,
    message: &'static str,
    status: StatusCode,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    errors.add("_form", message);
    let f = PersonForm { version: saved.version.to_string(), ..f };
    let mut view = person_form(st, caller, &f, &errors, Some(saved), &[]).await?;
    // A blank sex or relation keeps the saved one (store::update), like a blank number.
    let keeps = ["sex", "relation"];
    view.conflicts =
        conflict::compare(view.ctx.tr, &view.fields, &f, &PersonForm::of(saved), &sealed(saved), &keeps, res);
    Ok(page_with_status(&view, status))
}

#[derive(Template)]
#[template(path = "people/person.html")]
struct PersonPage {
    ctx: Ctx,
    person: Person,
    sex_age: String,
    address: String,
    id_shown: String,
    id_revealed: bool,
    phone_shown: String,
    phone_revealed: bool,
    tags: Vec<PersonTag>,
    members: Vec<Person>,
    cases: Vec<crate::cases::model::Case>,
    events: Vec<super::timeline::Event>,
    /// The timeline shows the newest events only; a link shows them all.
    more_events: bool,
    can_reveal: bool,
    can_open_case: bool,
    /// A child's record seen from outside the case team: only the intake form.
    restricted: bool,
    is_child: bool,
    is_manager: bool,
    grants: Vec<crate::cases::pages::ActiveGrant>,
    can_merge: bool,
    namesakes: Vec<Candidate>,
    action_error: Option<String>,
    reveal_error: Option<String>,
    tag_form: TagForm,
    tag_errors: Vec<(String, String)>,
    tag_opts: Vec<(String, String)>,
    intake: crate::cases::pages::IntakeForm,
    intake_errors: Vec<(String, String)>,
    intake_opts: crate::cases::pages::IntakeOptions,
}

impl PersonPage {
    fn tag_error(&self, field: &str) -> Option<&String> {
        self.tag_errors.iter().find(|(f, _)| f == field).map(|(_, m)| m)
    }
    fn intake_error(&self, field: &str) -> Option<&String> {
        self.intake_errors.iter().find(|(f, _)| f == field).map(|(_, m)| m)
    }
    fn tag_label(&self, code: &str) -> String {
        Tag::parse(code).map(|t| self.ctx.t(&t.label_key())).unwrap_or_else(|| code.to_string())
    }
}

#[derive(Default)]
pub struct Extras {
    /// `?timeline=all`: every event of the timeline, not only the newest.
    timeline_all: bool,
    revealed: Option<(String, String)>,
    reveal_error: Option<String>,
    tag_form: Option<TagForm>,
    tag_errors: FieldErrors,
    intake: Option<crate::cases::pages::IntakeForm>,
    intake_errors: FieldErrors,
    action_error: Option<String>,
}

#[derive(Deserialize)]
pub struct PersonQuery {
    #[serde(default)]
    timeline: String,
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id, Q(q): Q<PersonQuery>) -> AppResult<Response> {
    let x = Extras { timeline_all: q.timeline == "all", ..Default::default() };
    render_person(&st, &caller, id, x, StatusCode::OK).await
}

async fn render_person(st: &AppState, caller: &Caller, id: Uuid, x: Extras, status: StatusCode) -> AppResult<Response> {
    let person = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    // A child's record opens to the case team only. A case worker of the station outside the team
    // still answers 403 but gets the intake form, with nothing of the record: opening the case is
    // how they join the team (the same the case API allows).
    let restricted = match crate::cases::pages::check_child_access(st, caller, &person).await {
        Ok(()) => false,
        Err(AppError::Forbidden) if caller.is(crate::cases::pages::CASE_WRITERS) => true,
        Err(e) => return Err(e),
    };
    let status = if restricted && status == StatusCode::OK { StatusCode::FORBIDDEN } else { status };
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/people", "nav.people");
    ctx.title = person.name.clone();
    let tr = ctx.tr;
    // The record's parts are independent reads: asked at once, the page waits for the slowest
    // instead of their sum (each is a trip to a connection).
    let sections = async {
        if restricted {
            return Ok(Default::default());
        }
        let members = async {
            Ok::<Vec<Person>, AppError>(match person.household_id {
                Some(h) => store::household_members(&st.db, &caller.scope, h)
                    .await?
                    .into_iter()
                    .filter(|m| m.id != id)
                    .collect(),
                None => Vec::new(),
            })
        };
        // The timeline is made of the tags and cases the page shows, and reads the rest.
        let history = async {
            let (tags, cases) = tokio::try_join!(
                async { Ok::<_, AppError>(store::tags_of(&st.db, id).await?) },
                crate::cases::pages::cases_of(st, caller, id),
            )?;
            let newest = (!x.timeline_all).then_some(super::timeline::SHOWN);
            let events = super::timeline::of_parts(st, caller, &person, &tags, &cases, newest).await?;
            Ok::<_, AppError>((tags, cases, events))
        };
        let ((tags, cases, (events, more_events)), members, namesakes) = tokio::try_join!(history, members, async {
            Ok::<_, AppError>(store::namesakes(&st.db, &caller.scope, &person).await?)
        },)?;
        Ok::<_, AppError>((tags, members, cases, events, more_events, namesakes))
    };
    let child_grants = async {
        if person.is_child(today()) && caller.is(crate::cases::pages::CASE_APPROVERS) {
            crate::cases::pages::active_grants(st, id).await
        } else {
            Ok(Vec::new())
        }
    };
    let ((tags, members, cases, events, more_events, namesakes), intake_opts, grants) =
        tokio::try_join!(sections, crate::cases::pages::intake_options(st, tr), child_grants)?;
    let msgs = |e: &FieldErrors| e.0.iter().map(|(f, c)| (f.clone(), tr.t(c))).collect::<Vec<_>>();
    let sex = person.sex.as_deref().map(|s| tr.t(&format!("sex.{s}"))).unwrap_or_default();
    let age = person.age(today()).map(|a| tr.f("person.age", &[&a])).unwrap_or_default();
    let revealed = |field: &str| x.revealed.as_ref().filter(|(f, _)| f == field && !restricted).map(|(_, v)| v.clone());
    let (id_revealed, phone_revealed) = (revealed("id_number"), revealed("phone"));
    let view = PersonPage {
        sex_age: format!("{sex} {age}"),
        address: person.address(),
        id_revealed: id_revealed.is_some(),
        id_shown: id_revealed.or_else(|| person.id_masked.clone()).unwrap_or_default(),
        phone_revealed: phone_revealed.is_some(),
        phone_shown: phone_revealed.or_else(|| person.phone_masked.clone()).unwrap_or_default(),
        tags,
        members,
        cases,
        events,
        more_events,
        can_reveal: caller.is(REVEALERS) && !restricted,
        can_open_case: caller.is(crate::cases::pages::CASE_WRITERS),
        restricted,
        reveal_error: x.reveal_error.map(|c| tr.t(&c)),
        tag_form: x.tag_form.unwrap_or_default(),
        tag_errors: msgs(&x.tag_errors),
        tag_opts: tag_options(tr, "filter.choose"),
        intake: x.intake.unwrap_or_default(),
        intake_errors: msgs(&x.intake_errors),
        intake_opts,
        is_child: person.is_child(today()),
        is_manager: caller.is(crate::cases::pages::CASE_APPROVERS),
        grants,
        can_merge: caller.is(crate::cases::pages::CASE_WRITERS) && !restricted,
        namesakes,
        action_error: x.action_error.map(|c| tr.t(&c)),
        ctx,
        person,
    };
    Ok(page_with_status(&view, status))
}

#[derive(Deserialize, Default)]
pub struct RevealForm {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub reason: String,
}

/// Shows the full number on this one response; nothing is kept in the session.
pub async fn reveal(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<RevealForm>,
) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let Some(what) = Secret::parse(&f.field) else { return Err(AppError::bad("error.bad_choice")) };
    match store::reveal(&st.db, &st.keys, &caller.scope, &caller.actor(), id, what, &f.reason).await {
        Ok(value) => {
            let x = Extras { revealed: Some((what.as_str().into(), value.unwrap_or_default())), ..Default::default() };
            render_person(&st, &caller, id, x, StatusCode::OK).await
        }
        Err(AppError::Invalid(errs)) => {
            let x = Extras { reveal_error: errs.0.first().map(|e| e.1.to_string()), ..Default::default() };
            render_person(&st, &caller, id, x, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct TagForm {
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub starts_on: String,
    #[serde(default)]
    pub ends_on: String,
    #[serde(default)]
    pub source: String,
}

pub async fn add_tag(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<TagForm>,
) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let input = TagInput {
        tag: f.tag.clone(),
        starts_on: opt(&f.starts_on),
        ends_on: opt(&f.ends_on),
        source: f.source.clone(),
    };
    match store::add_tag(&st.db, &caller.scope, &caller.actor(), id, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/people/{id}")).into_response()),
        Err(AppError::Invalid(errs)) => {
            let x = Extras { tag_form: Some(f), tag_errors: errs, ..Default::default() };
            render_person(&st, &caller, id, x, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
pub struct EndTagForm {
    #[serde(default)]
    pub ends_on: String,
}

pub async fn end_tag(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<EndTagForm>,
) -> AppResult<Response> {
    let ends = if f.ends_on.trim().is_empty() { Some(today()) } else { parse_date(&f.ends_on) };
    let Some(ends) = ends else { return Err(AppError::field("ends_on", "error.date_format")) };
    let person_id = store::end_tag(&st.db, &caller.scope, &caller.actor(), id, ends).await?;
    Ok(Redirect::to(&format!("/people/{person_id}")).into_response())
}

pub async fn open_case(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<crate::cases::pages::IntakeForm>,
) -> AppResult<Response> {
    match crate::cases::pages::intake(&st, &caller, id, &f).await {
        Ok(case_id) => Ok(Redirect::to(&format!("/cases/{case_id}")).into_response()),
        Err(AppError::Invalid(errs)) => {
            let x = Extras { intake: Some(f), intake_errors: errs, ..Default::default() };
            render_person(&st, &caller, id, x, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub page: Option<i64>,
}

/// People found per page of `/search`: a phone screen's worth, best matches first.
const SEARCH_PAGE_SIZE: i64 = 20;

#[derive(Template)]
#[template(path = "people/search.html")]
struct SearchPage {
    ctx: Ctx,
    q: String,
    people: Vec<Person>,
    total: String,
    page: i64,
    pages: i64,
    notes: Vec<(Uuid, String, String)>,
}

impl SearchPage {
    fn page_link(&self, page: i64) -> String {
        format!("/search?{}page={page}", query_of(&[("q", Some(self.q.clone()))]))
    }
}

/// People by name (Chinese, pinyin, initials) and, for case workers, case summaries and notes.
pub async fn search(State(st): State<AppState>, caller: Caller, Q(q): Q<SearchQuery>) -> AppResult<Response> {
    let text = q.q.unwrap_or_default();
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/search", "nav.search");
    let (mut people, mut notes, mut total) = (Vec::new(), Vec::new(), 0);
    let pp = PageParams { page: q.page, page_size: Some(SEARCH_PAGE_SIZE) };
    if !text.trim().is_empty() {
        let filter = PersonFilter { q: Some(text.clone()), ..Default::default() };
        (people, total) = store::list(&st.db, &caller.scope, &filter, pp.size(), pp.offset()).await?;
        if caller.is(crate::cases::pages::CASE_READERS) {
            notes = crate::cases::pages::search_notes(&st, &caller, &text).await?;
        }
    }
    let pages = (total + pp.size() - 1) / pp.size();
    let total = ctx.tr.f("list.total", &[&total]);
    Ok(page(&SearchPage { ctx, q: text, people, total, page: pp.page(), pages, notes }))
}

#[derive(Deserialize, Default)]
pub struct RightsForm {
    #[serde(default)]
    pub into: String,
    #[serde(default)]
    pub reason: String,
}

/// Re-renders the person page with the message of a refused action.
async fn action_refused(st: &AppState, caller: &Caller, id: Uuid, e: AppError) -> AppResult<Response> {
    let (code, status) = match e {
        AppError::Invalid(errs) => {
            (errs.0.first().map(|e| e.1).unwrap_or("error.invalid"), StatusCode::UNPROCESSABLE_ENTITY)
        }
        AppError::Conflict(code) => (code, StatusCode::CONFLICT),
        e => return Err(e),
    };
    render_person(st, caller, id, Extras { action_error: Some(code.to_string()), ..Default::default() }, status).await
}

pub async fn merge(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<RightsForm>,
) -> AppResult<Response> {
    let Ok(into) = Uuid::parse_str(f.into.trim()) else {
        return action_refused(&st, &caller, id, AppError::field("into", "merge.target_not_found")).await;
    };
    match super::rights::merge(&st.db, &caller.scope, &caller.actor(), id, into, &f.reason).await {
        Ok(()) => Ok(Redirect::to(&format!("/people/{into}")).into_response()),
        Err(e) => action_refused(&st, &caller, id, e).await,
    }
}

/// The person's full record as a JSON file, for their access request.
pub async fn access_export(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<RightsForm>,
) -> AppResult<Response> {
    match super::rights::full_record(&st.db, &st.keys, &caller.scope, &caller.actor(), id, &f.reason).await {
        Ok(record) => {
            let mut res = axum::Json(record).into_response();
            res.headers_mut().insert(
                axum::http::header::CONTENT_DISPOSITION,
                axum::http::HeaderValue::from_static("attachment; filename=\"person-record.json\""),
            );
            Ok(res)
        }
        Err(e) => action_refused(&st, &caller, id, e).await,
    }
}

pub async fn anonymise(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<RightsForm>,
) -> AppResult<Response> {
    match super::rights::anonymise(&st.db, &caller.scope, &caller.actor(), id, &f.reason).await {
        Ok(()) => Ok(Redirect::to(&format!("/people/{id}")).into_response()),
        Err(e) => action_refused(&st, &caller, id, e).await,
    }
}

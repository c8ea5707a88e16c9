//! HTML screens for places: list, detail, create, edit, move, (de)activate.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::model::*;
use super::store::{self, PlaceFilter};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::web::AppState;
use crate::web::conflict::{self, EditForm, EditValues, Resolution};
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field, apply_errors, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage, query_of};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub kind: Option<String>,
    pub q: Option<String>,
    pub inactive: Option<String>,
    pub page: Option<i64>,
}

pub fn can_edit(caller: &Caller) -> bool {
    caller.is(crate::roles::ORG_ADMINS)
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let filter = PlaceFilter {
        kind: q.kind.clone().filter(|k| !k.is_empty()),
        q: q.q.clone(),
        parent_id: None,
        inactive: Some(q.inactive.as_deref() == Some("on")),
    };
    let (rows, total) = store::list_places(&st.db, &caller.scope, &filter, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/places", "nav.places");
    let tr = ctx.tr;
    let headers = ["field.name", "field.kind", "field.parent", "field.code", "field.status"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let rows = rows
        .into_iter()
        .map(|p| {
            vec![
                Cell::link(p.name.clone(), format!("/places/{}", p.id)).indented(p.depth),
                Cell::text(tr.t(&p.kind().label_key())),
                Cell::text(p.parent_name.clone().unwrap_or_default()),
                Cell::text(p.code.clone().unwrap_or_default()),
                Cell::text(tr.t(if p.active { "status.active" } else { "status.inactive" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    let mut kinds = vec![(String::new(), tr.t("filter.all").to_string())];
    kinds.extend(PlaceKind::ALL.iter().map(|k| (k.as_str().to_string(), tr.t(&k.label_key()).to_string())));
    view.filters = vec![
        Field::text(tr, "q", "field.name", q.q.as_deref().unwrap_or(""), 60, false),
        Field::select(tr, "kind", "field.kind", q.kind.as_deref().unwrap_or(""), kinds, false),
        Field::checkbox(tr, "inactive", "filter.include_inactive", q.inactive.as_deref() == Some("on")),
    ];
    view.query = query_of(&[("q", q.q), ("kind", q.kind), ("inactive", q.inactive)]);
    if can_edit(&caller) {
        view.actions.push((tr.t("place.new").to_string(), "/places/new".into()));
        view.actions.push((tr.t("import.title").to_string(), "/places/import".into()));
    }
    Ok(page(&view))
}

#[derive(Template)]
#[template(path = "org/place.html")]
struct PlacePage {
    ctx: Ctx,
    place: Place,
    kind_label: String,
    crumbs: Vec<(Uuid, String, bool)>,
    children: Vec<Place>,
    estates: Vec<Estate>,
    can_edit: bool,
    move_options: Vec<(Uuid, String)>,
    move_error: Option<String>,
    active_error: Option<String>,
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    render_show(&st, &caller, id, None, None, StatusCode::OK).await
}

async fn render_show(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    move_error: Option<&str>,
    active_error: Option<&str>,
    status: StatusCode,
) -> AppResult<Response> {
    let place = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let crumbs = store::ancestors(&st.db, &caller.scope, &place.path).await?;
    let filter = PlaceFilter { parent_id: Some(id), inactive: Some(true), ..Default::default() };
    let (children, _) = store::list_places(&st.db, &caller.scope, &filter, 500, 0).await?;
    let estates = if place.kind() == PlaceKind::Community {
        store::estates_of(&st.db, &caller.scope, id).await?
    } else {
        Vec::new()
    };
    let can_edit = can_edit(caller);
    let move_options = match place.kind().parent() {
        Some(k) if can_edit => store::place_options(&st.db, &caller.scope, &[k])
            .await?
            .into_iter()
            .filter(|(pid, _)| Some(*pid) != place.parent_id)
            .collect(),
        _ => Vec::new(),
    };
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/places", "nav.places");
    ctx.title = place.name.clone();
    let tr = ctx.tr;
    let view = PlacePage {
        kind_label: tr.t(&place.kind().label_key()).to_string(),
        ctx,
        place,
        crumbs,
        children,
        estates,
        can_edit,
        move_options,
        move_error: move_error.map(|c| tr.t(c).to_string()),
        active_error: active_error.map(|c| tr.t(c).to_string()),
    };
    Ok(page_with_status(&view, status))
}

#[derive(Deserialize, Default)]
pub struct PlaceForm {
    #[serde(default)]
    pub parent_id: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub lat: String,
    #[serde(default)]
    pub lon: String,
    #[serde(default)]
    pub radius_m: String,
}

impl EditValues for PlaceForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", self.name.clone()),
            ("code", self.code.clone()),
            ("lat", self.lat.clone()),
            ("lon", self.lon.clone()),
            ("radius_m", self.radius_m.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        let slot = match name {
            "name" => &mut self.name,
            "code" => &mut self.code,
            "lat" => &mut self.lat,
            "lon" => &mut self.lon,
            "radius_m" => &mut self.radius_m,
            _ => return,
        };
        *slot = value;
    }
}

impl PlaceForm {
    /// The edit form of a saved place.
    fn of(p: &Place) -> PlaceForm {
        PlaceForm {
            name: p.name.clone(),
            code: p.code.clone().unwrap_or_default(),
            version: p.version.to_string(),
            lat: p.lat.map(|v| v.to_string()).unwrap_or_default(),
            lon: p.lon.map(|v| v.to_string()).unwrap_or_default(),
            radius_m: p.radius_m.map(|v| v.to_string()).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// The centre and reach typed: empty clears, anything else must be a number.
    fn location(&self, errors: &mut FieldErrors) -> (Option<f64>, Option<f64>, Option<i32>) {
        let mut num = |v: &str, field: &'static str, code: &'static str| -> Option<f64> {
            let v = v.trim();
            if v.is_empty() {
                return None;
            }
            let n = v.parse::<f64>().ok().filter(|n| n.is_finite());
            if n.is_none() {
                errors.add(field, code);
            }
            n
        };
        let lat = num(&self.lat, "lat", "request.bad_coordinate");
        let lon = num(&self.lon, "lon", "request.bad_coordinate");
        let radius = num(&self.radius_m, "radius_m", "place.bad_radius");
        // Out of range is the store's to refuse; here only whether it is a whole number.
        let radius = radius.map(|r| if r.fract() == 0.0 && r.abs() < 1e9 { r as i32 } else { -1 });
        (lat, lon, radius)
    }
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    pub parent_id: Option<Uuid>,
}

async fn place_form(
    st: &AppState,
    caller: &Caller,
    f: &PlaceForm,
    errors: &FieldErrors,
    edit: Option<&Place>,
) -> AppResult<FormPage> {
    let title = if edit.is_some() { "place.edit" } else { "place.new" };
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/places", title);
    let tr = ctx.tr;
    let mut fields = Vec::new();
    if edit.is_none() {
        let parents = store::place_options(
            &st.db,
            &caller.scope,
            &[PlaceKind::City, PlaceKind::District, PlaceKind::Street, PlaceKind::Community],
        )
        .await?;
        let mut opts = vec![(String::new(), tr.t("filter.choose").to_string())];
        opts.extend(parents.into_iter().map(|(id, n)| (id.to_string(), n)));
        let mut kinds = vec![(String::new(), tr.t("filter.choose").to_string())];
        kinds.extend(PlaceKind::ALL.iter().map(|k| (k.as_str().to_string(), tr.t(&k.label_key()).to_string())));
        fields.push(Field::select(tr, "kind", "field.kind", &f.kind, kinds, true));
        fields.push(Field::select(tr, "parent_id", "field.parent", &f.parent_id, opts, false));
    }
    fields.push(Field::text(tr, "name", "field.name", &f.name, 60, true));
    fields.push(Field::text(tr, "code", "field.code", &f.code, 32, false).hint(tr.t("hint.code").to_string()));
    if edit.is_some() {
        fields.push(Field::text(tr, "lat", "place.lat", &f.lat, 20, false).hint(tr.t("place.centre_hint")));
        fields.push(Field::text(tr, "lon", "place.lon", &f.lon, 20, false));
        fields
            .push(Field::text(tr, "radius_m", "place.radius_m", &f.radius_m, 6, false).hint(tr.t("place.radius_hint")));
    }
    apply_errors(&mut fields, errors, tr);
    let (action, cancel) = match edit {
        Some(p) => (format!("/places/{}", p.id), format!("/places/{}", p.id)),
        None => ("/places".to_string(), "/places".to_string()),
    };
    let errs = general_errors(&fields, errors, tr);
    let mut view = FormPage::new(ctx, action, fields, cancel);
    view.errors = errs;
    if let Some(p) = edit {
        view.hidden
            .push(("version".into(), if f.version.is_empty() { p.version.to_string() } else { f.version.clone() }));
    }
    Ok(view)
}

pub async fn new_form(State(st): State<AppState>, caller: Caller, Q(q): Q<NewQuery>) -> AppResult<Response> {
    let f = PlaceForm { parent_id: q.parent_id.map(|p| p.to_string()).unwrap_or_default(), ..Default::default() };
    Ok(page(&place_form(&st, &caller, &f, &FieldErrors::default(), None).await?))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<PlaceForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let kind = PlaceKind::parse(&f.kind);
    if kind.is_none() {
        errors.add("kind", "error.required");
    }
    let parent_id = if f.parent_id.trim().is_empty() {
        None
    } else {
        match Uuid::parse_str(f.parent_id.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("parent_id", "place.parent_not_found");
                None
            }
        }
    };
    let result = match kind {
        Some(kind) if errors.is_empty() => {
            let input = NewPlace { parent_id, kind, name: f.name.clone(), code: Some(f.code.clone()) };
            store::create_place(&st.db, &caller.scope, &caller.actor(), &input, caller.role == Role::SystemAdmin).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/places/{}", p.id)).into_response()),
        Err(AppError::Invalid(errors)) => {
            let view = place_form(&st, &caller, &f, &errors, None).await?;
            Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

pub async fn edit_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let p = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    Ok(page(&place_form(&st, &caller, &PlaceForm::of(&p), &FieldErrors::default(), Some(&p)).await?))
}

pub fn parse_version(v: &str) -> Option<i64> {
    v.trim().parse().ok()
}

pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<PlaceForm>,
) -> AppResult<Response> {
    let saved = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let shown = f.version.clone();
    if conflict::answer(&mut f, &shown, &PlaceForm::of(&saved), saved.version, &res) {
        return place_conflict(&st, &caller, f, &saved, &res, "conflict.choose").await;
    }
    let mut typed = FieldErrors::default();
    let (lat, lon, radius_m) = f.location(&mut typed);
    let change = PlaceChange {
        name: f.name.clone(),
        code: Some(f.code.clone()),
        version: parse_version(&f.version),
        lat: Some(lat),
        lon: Some(lon),
        radius_m: Some(radius_m),
    };
    let result = if typed.is_empty() {
        store::update_place(&st.db, &caller.scope, &caller.actor(), id, &change).await
    } else {
        Err(AppError::Invalid(typed))
    };
    match result {
        Ok(p) => Ok(Redirect::to(&format!("/places/{}", p.id)).into_response()),
        Err(AppError::Invalid(errors)) => {
            let p = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            let view = place_form(&st, &caller, &f, &errors, Some(&p)).await?;
            Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(AppError::Stale) => {
            let p = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            place_conflict(&st, &caller, f, &p, &res, "error.stale").await
        }
        Err(e) => Err(e),
    }
}

/// The form again after a save met a newer version: what the user typed stays in the fields,
/// the fields saved differently since are compared above them for a choice, and the form now
/// carries the version it compares against.
async fn place_conflict(
    st: &AppState,
    caller: &Caller,
    f: PlaceForm,
    saved: &Place,
    res: &Resolution,
    message: &'static str,
) -> AppResult<Response> {
    let view = place_form(st, caller, &f, &FieldErrors::default(), Some(saved)).await?;
    Ok(conflict::page(view, &f, &PlaceForm::of(saved), saved.version, res, message))
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    pub new_parent_id: String,
    #[serde(default)]
    pub version: String,
}

pub async fn move_place(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<MoveForm>,
) -> AppResult<Response> {
    let Ok(new_parent_id) = Uuid::parse_str(f.new_parent_id.trim()) else {
        return render_show(&st, &caller, id, Some("place.parent_not_found"), None, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    };
    let m = PlaceMove { new_parent_id, version: parse_version(&f.version) };
    match store::move_place(&st.db, &caller.scope, &caller.actor(), id, &m).await {
        Ok(_) => Ok(Redirect::to(&format!("/places/{id}")).into_response()),
        Err(AppError::Invalid(errs)) => {
            render_show(&st, &caller, id, errs.0.first().map(|e| e.1), None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::Stale) => render_show(&st, &caller, id, Some("error.stale"), None, StatusCode::CONFLICT).await,
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    pub active: String,
    #[serde(default)]
    pub version: String,
}

pub async fn set_active(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<ActiveForm>,
) -> AppResult<Response> {
    let active = f.active == "true";
    match store::set_place_active(&st.db, &caller.scope, &caller.actor(), id, active, parse_version(&f.version)).await {
        Ok(()) => Ok(Redirect::to(&format!("/places/{id}")).into_response()),
        Err(AppError::Invalid(errs)) => {
            render_show(&st, &caller, id, None, errs.0.first().map(|e| e.1), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::Stale) => render_show(&st, &caller, id, None, Some("error.stale"), StatusCode::CONFLICT).await,
        Err(e) => Err(e),
    }
}

//! Staff directory and account administration screens.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::store::{self, Staff, StaffFilter, StaffInput};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::org::model::PlaceKind;
use crate::web::AppState;
use crate::web::conflict::{self, EditForm, EditValues, Resolution};
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field, apply_errors, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage, query_of};

#[derive(Deserialize, Default)]
pub struct ListQuery {
    role: Option<String>,
    q: Option<String>,
    page: Option<i64>,
}

pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let filter = StaffFilter { role: q.role.clone().filter(|r| !r.is_empty()), q: q.q.clone() };
    let (rows, total) = store::list(&st.db, &caller.scope, &filter, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/staff", "nav.staff");
    let tr = ctx.tr;
    let headers = ["field.display_name", "field.account", "field.role", "field.places", "field.status"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let rows = rows
        .into_iter()
        .map(|s| {
            vec![
                Cell::link(s.display_name.clone(), format!("/staff/{}", s.id)),
                Cell::text(s.account.clone()),
                Cell::text(tr.t(&format!("role.{}", s.role))),
                Cell::text(s.places.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("、")),
                Cell::text(tr.t(if s.disabled { "status.disabled" } else { "status.active" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    let mut roles = vec![(String::new(), tr.t("filter.all").to_string())];
    roles.extend(Role::ALL.iter().map(|r| (r.as_str().to_string(), tr.t(&r.label_key()).to_string())));
    view.filters = vec![
        Field::text(tr, "q", "field.display_name", q.q.as_deref().unwrap_or(""), 40, false),
        Field::select(tr, "role", "field.role", q.role.as_deref().unwrap_or(""), roles, false),
    ];
    view.query = query_of(&[("q", q.q), ("role", q.role)]);
    if caller.is(crate::roles::ORG_ADMINS) {
        view.actions.push((tr.t("staff.new").to_string(), "/staff/new".into()));
    }
    Ok(page(&view))
}

#[derive(Template)]
#[template(path = "org/staff.html")]
struct StaffPage {
    ctx: Ctx,
    s: Staff,
    role_label: String,
    last_login: String,
    can_manage: bool,
    new_password: Option<String>,
    error: Option<String>,
}

async fn render_staff(
    st: &AppState,
    caller: &Caller,
    id: Uuid,
    new_password: Option<String>,
    error: Option<&str>,
) -> AppResult<Response> {
    let s = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let mut ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/staff", "nav.staff");
    ctx.title = s.display_name.clone();
    let tr = ctx.tr;
    let can_manage =
        Role::parse(&s.role).is_some_and(|r| caller.role.can_grant(r)) && store::covers_all(&caller.scope, &s);
    let view = StaffPage {
        role_label: tr.t(&format!("role.{}", s.role)).to_string(),
        last_login: s
            .last_login_at
            .as_ref()
            .map(crate::web::local_time)
            .unwrap_or_else(|| tr.t("staff.never").to_string()),
        ctx,
        s,
        can_manage,
        error: error.map(|c| tr.t(c).to_string()),
        new_password,
    };
    Ok(page_with_status(&view, if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }))
}

pub async fn show(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    render_staff(&st, &caller, id, None, None).await
}

#[derive(Deserialize, Default)]
pub struct StaffForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    place_ids: Vec<String>,
    #[serde(default)]
    organisation_id: String,
    #[serde(default)]
    version: String,
}

impl EditValues for StaffForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        let mut places = self.place_ids.iter().map(|p| p.trim().to_string()).collect::<Vec<_>>();
        places.sort();
        vec![
            ("display_name", self.display_name.clone()),
            ("role", self.role.clone()),
            ("place_ids", places.join(",")),
            ("organisation_id", self.organisation_id.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        match name {
            "display_name" => self.display_name = value,
            "role" => self.role = value,
            "place_ids" => self.place_ids = value.split(',').filter(|p| !p.is_empty()).map(String::from).collect(),
            "organisation_id" => self.organisation_id = value,
            _ => {}
        }
    }
}

impl StaffForm {
    /// The edit form of a saved account.
    fn of(s: &Staff) -> StaffForm {
        StaffForm {
            account: s.account.clone(),
            display_name: s.display_name.clone(),
            role: s.role.clone(),
            place_ids: s.places.iter().map(|p| p.id.to_string()).collect(),
            organisation_id: s.organisation_id.map(|o| o.to_string()).unwrap_or_default(),
            version: s.version.to_string(),
        }
    }
}

async fn staff_form(
    st: &AppState,
    caller: &Caller,
    f: &StaffForm,
    errors: &FieldErrors,
    id: Option<Uuid>,
) -> AppResult<FormPage> {
    let current_org = match id {
        Some(id) => {
            store::get(&st.db, &caller.scope, id).await?.and_then(|s| s.organisation_id.zip(s.organisation_name))
        }
        None => None,
    };
    let ctx =
        Ctx::new(st.cfg.demo, Some(caller), None, "/staff", if id.is_some() { "staff.edit" } else { "staff.new" });
    let tr = ctx.tr;
    let places = crate::org::store::place_options(&st.db, &caller.scope, &PlaceKind::ALL).await?;
    let mut orgs = crate::org::store::organisation_options_inside(&st.db, &caller.scope).await?;
    // An edit keeps a binding the editor could not grant (a city department): it must stay
    // selectable, or saving the form would drop it.
    if let Some(kept) = current_org.filter(|(id, _)| !orgs.iter().any(|(o, _)| o == id)) {
        orgs.push(kept);
    }
    let mut roles = vec![(String::new(), tr.t("filter.choose").to_string())];
    roles.extend(
        Role::ALL
            .iter()
            .filter(|r| caller.role.can_grant(**r))
            .map(|r| (r.as_str().to_string(), tr.t(&r.label_key()).to_string())),
    );
    let mut org_opts = vec![(String::new(), tr.t("filter.none").to_string())];
    org_opts.extend(orgs.into_iter().map(|(i, n)| (i.to_string(), n)));
    let mut fields = Vec::new();
    if id.is_none() {
        fields.push(
            Field::text(tr, "account", "field.account", &f.account, 32, true).hint(tr.t("hint.account").to_string()),
        );
    }
    fields.push(Field::text(tr, "display_name", "field.display_name", &f.display_name, 40, true));
    fields.push(Field::select(tr, "role", "field.role", &f.role, roles, true));
    fields.push(Field::multi(
        tr,
        "place_ids",
        "field.places",
        f.place_ids.clone(),
        places.into_iter().map(|(i, n)| (i.to_string(), n)).collect(),
    ));
    fields.push(
        Field::select(tr, "organisation_id", "field.organisation", &f.organisation_id, org_opts, false)
            .hint(tr.t("hint.organisation").to_string()),
    );
    apply_errors(&mut fields, errors, tr);
    let errs = general_errors(&fields, errors, tr);
    let action = id.map(|i| format!("/staff/{i}")).unwrap_or_else(|| "/staff".into());
    let cancel = id.map(|i| format!("/staff/{i}")).unwrap_or_else(|| "/staff".into());
    let mut view = FormPage::new(ctx, action, fields, cancel);
    view.errors = errs;
    view.hidden.push(("version".into(), f.version.clone()));
    Ok(view)
}

fn parse_input(f: &StaffForm, errors: &mut FieldErrors) -> Option<StaffInput> {
    let role = Role::parse(&f.role);
    if role.is_none() {
        errors.add("role", "error.required");
    }
    let mut place_ids = Vec::new();
    for p in f.place_ids.iter().filter(|p| !p.is_empty()) {
        match Uuid::parse_str(p) {
            Ok(id) => place_ids.push(id),
            Err(_) => errors.add("place_ids", "error.bad_choice"),
        }
    }
    let organisation_id = match f.organisation_id.trim() {
        "" => None,
        s => match Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("organisation_id", "error.bad_choice");
                None
            }
        },
    };
    Some(StaffInput {
        account: f.account.clone(),
        display_name: f.display_name.clone(),
        role: role?,
        place_ids,
        organisation_id,
        version: f.version.trim().parse().ok(),
    })
}

pub async fn new_form(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    Ok(page(&staff_form(&st, &caller, &StaffForm::default(), &FieldErrors::default(), None).await?))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<StaffForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let input = parse_input(&f, &mut errors);
    let result = match input {
        Some(input) if errors.is_empty() => {
            store::create(&st.db, &caller.scope, &caller.actor(), Some(caller.role), &input, None).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok((id, pass)) => render_staff(&st, &caller, id, Some(pass), None).await,
        Err(AppError::Invalid(errors)) => {
            Ok(page_with_status(&staff_form(&st, &caller, &f, &errors, None).await?, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

pub async fn edit_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let s = store::get_writable(&st.db, &caller.scope, id).await?;
    Ok(page(&staff_form(&st, &caller, &StaffForm::of(&s), &FieldErrors::default(), Some(id)).await?))
}

pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<StaffForm>,
) -> AppResult<Response> {
    let saved = store::get_writable(&st.db, &caller.scope, id).await?;
    let shown = f.version.clone();
    if conflict::answer(&mut f, &shown, &StaffForm::of(&saved), saved.version, &res) {
        return staff_conflict(&st, &caller, f, &saved, &res, "conflict.choose").await;
    }
    let mut errors = FieldErrors::default();
    let input = parse_input(&f, &mut errors);
    let result = match input {
        Some(input) if errors.is_empty() => {
            store::update(&st.db, &caller.scope, &caller.actor(), caller.role, id, &input).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/staff/{id}")).into_response()),
        Err(AppError::Invalid(errors)) => Ok(page_with_status(
            &staff_form(&st, &caller, &f, &errors, Some(id)).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(AppError::Stale) => {
            let current = store::get_writable(&st.db, &caller.scope, id).await?;
            staff_conflict(&st, &caller, f, &current, &res, "error.stale").await
        }
        Err(e) => Err(e),
    }
}

/// The form again after a save met a newer version: what the user typed stays, the fields
/// saved differently since are compared above it for a choice, on the version shown.
async fn staff_conflict(
    st: &AppState,
    caller: &Caller,
    f: StaffForm,
    saved: &Staff,
    res: &Resolution,
    message: &'static str,
) -> AppResult<Response> {
    let view = staff_form(st, caller, &f, &FieldErrors::default(), Some(saved.id)).await?;
    Ok(conflict::page(view, &f, &StaffForm::of(saved), saved.version, res, message))
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    disabled: String,
}

pub async fn set_disabled(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<DisableForm>,
) -> AppResult<Response> {
    match store::set_disabled(&st.db, &caller.scope, &caller.actor(), Some(caller.role), id, f.disabled == "true").await
    {
        Ok(()) => Ok(Redirect::to(&format!("/staff/{id}")).into_response()),
        Err(AppError::Invalid(e)) => render_staff(&st, &caller, id, None, e.0.first().map(|x| x.1)).await,
        Err(e) => Err(e),
    }
}

pub async fn reset_password(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let pass = store::reset_password(&st.db, &caller.scope, &caller.actor(), Some(caller.role), id, None).await?;
    render_staff(&st, &caller, id, Some(pass), None).await
}

//! The bureau's request categories screen: each category's name, group, default handling unit
//! and time limits (response hours, resolution working days), editable with a version check.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::model::DefaultUnit;
use super::store::{self, CategoryInput};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::org::model::OrgKind;
use crate::web::AppState;
use crate::web::extract::PageForm;
use crate::web::form::{Cell, Field, apply_errors, general_errors};
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage};

/// Categories are the district's: only the bureau edits them.
pub const CATEGORY_EDITORS: &[Role] = &[Role::BureauAdmin];

pub async fn list(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let rows = store::categories(&st.db, false).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/requests", "request.categories");
    let tr = ctx.tr;
    let headers = [
        "request.category",
        "category.group_name",
        "category.default_unit",
        "category.response_hours",
        "category.resolve_days",
        "field.status",
    ]
    .iter()
    .map(|k| tr.t(k))
    .collect();
    let total = rows.len() as i64;
    let cells = rows
        .iter()
        .map(|c| {
            vec![
                Cell::link(format!("{} ({})", c.name, c.code), format!("/request-categories/{}/edit", c.code)),
                Cell::text(c.group_name.clone()),
                Cell::text(tr.t(&format!("default_unit.{}", c.default_unit))),
                Cell::text(c.response_hours.to_string()),
                Cell::text(c.resolve_days.to_string()),
                Cell::text(tr.t(if c.active { "category.active" } else { "category.inactive" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, cells, total, 1, total.max(1));
    view.actions.push((tr.t("category.new"), "/request-categories/new".into()));
    view.actions.push((tr.t("request.calendar"), "/request-calendar".into()));
    view.actions.push((tr.t("nav.requests"), "/requests".into()));
    Ok(page(&view))
}

async fn form(st: &AppState, caller: &Caller, f: &CategoryInput, errors: &FieldErrors) -> AppResult<FormPage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/requests", "request.categories");
    let tr = ctx.tr;
    let units: Vec<(String, String)> =
        DefaultUnit::ALL.iter().map(|u| (u.as_str().to_string(), tr.t(&u.label_key()))).collect();
    let mut orgs = vec![(String::new(), tr.t("filter.choose"))];
    let departments = crate::org::store::organisation_options(&st.db, &caller.scope, &[OrgKind::Department]).await?;
    orgs.extend(departments.into_iter().map(|(id, n)| (id.to_string(), n)));
    let editing = f.version.is_some();
    let mut fields = vec![
        Field::text(tr, "code", "category.code", &f.code, 40, true).hint(tr.t("category.code_hint")),
        Field::text(tr, "name", "category.name", &f.name, 40, true),
        Field::text(tr, "group_name", "category.group_name", &f.group_name, 40, true),
        Field::textarea(tr, "description", "category.description", &f.description),
        Field::select(tr, "default_unit", "category.default_unit", &f.default_unit, units, true),
        Field::select(
            tr,
            "default_org_id",
            "category.default_org",
            f.default_org_id.as_deref().unwrap_or(""),
            orgs,
            false,
        ),
        Field::text(tr, "response_hours", "category.response_hours", &f.response_hours, 4, true),
        Field::text(tr, "resolve_days", "category.resolve_days", &f.resolve_days, 3, true),
        Field::checkbox(tr, "active", "category.active", f.active.is_some()),
    ];
    apply_errors(&mut fields, errors, tr);
    let mut view = FormPage::new(ctx, "/request-categories".into(), fields, "/request-categories".into());
    view.errors = general_errors(&view.fields, errors, tr);
    if let Some(v) = f.version {
        view.hidden.push(("version".into(), v.to_string()));
        // The code names the category everywhere (Open311 service_code): fixed once created.
        view.hidden.push(("code".into(), f.code.clone()));
        view.fields.retain(|x| x.name != "code");
    }
    view.intro = Some(tr.t(if editing { "category.edit_intro" } else { "category.new_intro" }));
    Ok(view)
}

pub async fn new_form(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let f = CategoryInput {
        default_unit: "community".into(),
        response_hours: "2".into(),
        resolve_days: "3".into(),
        active: Some("on".into()),
        ..Default::default()
    };
    Ok(page(&form(&st, &caller, &f, &FieldErrors::default()).await?))
}

pub async fn edit_form(State(st): State<AppState>, caller: Caller, Path(code): Path<String>) -> AppResult<Response> {
    let c = store::category(&st.db, &code).await?.ok_or(AppError::NotFound)?;
    let f = CategoryInput {
        code: c.code,
        name: c.name,
        group_name: c.group_name,
        description: c.description,
        default_unit: c.default_unit,
        default_org_id: c.default_org_id.map(|o| o.to_string()),
        response_hours: c.response_hours.to_string(),
        resolve_days: c.resolve_days.to_string(),
        active: c.active.then(|| "on".into()),
        version: Some(c.version),
    };
    Ok(page(&form(&st, &caller, &f, &FieldErrors::default()).await?))
}

pub async fn save(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<CategoryInput>,
) -> AppResult<Response> {
    let status = match store::save_category(&st.db, &caller.scope, &caller.actor(), &f).await {
        Ok(_) => return Ok(Redirect::to("/request-categories").into_response()),
        Err(AppError::Invalid(errors)) => (errors, StatusCode::UNPROCESSABLE_ENTITY),
        Err(AppError::Stale) => {
            let mut e = FieldErrors::default();
            e.add("_form", "error.stale");
            (e, StatusCode::PRECONDITION_FAILED)
        }
        Err(e) => return Err(e),
    };
    Ok(page_with_status(&form(&st, &caller, &f, &status.0).await?, status.1))
}

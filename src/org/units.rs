//! Screens for estates, organisations (departments, partners, property companies) and stations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::model::*;
use super::pages::{can_edit, parse_version};
use super::store;
use crate::auth::Caller;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::Tr;
use crate::web::AppState;
use crate::web::conflict::{self, EditForm, EditValues, Resolution};
use crate::web::extract::{Id, PageForm, Q};
use crate::web::form::{Cell, Field, apply_errors, clean_name, clean_optional, general_errors};
use crate::web::pagination::PageParams;
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::views::{FormPage, ListPage};

#[derive(Deserialize, Default)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub kind: Option<String>,
}

fn opt_uuid(v: &str, field: &str, errors: &mut FieldErrors) -> Option<Uuid> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match Uuid::parse_str(v) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.add(field, "error.bad_choice");
            None
        }
    }
}

fn with_blank(tr: Tr, opts: Vec<(Uuid, String)>) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), tr.t("filter.choose").to_string())];
    v.extend(opts.into_iter().map(|(id, n)| (id.to_string(), n)));
    v
}

/// Re-renders a form with messages, or redirects after a successful save.
fn saved_or_form(
    result: Result<Uuid, AppError>,
    base: &str,
    form: impl FnOnce(FieldErrors) -> Result<FormPage, AppError>,
) -> AppResult<Response> {
    match result {
        Ok(_) => Ok(Redirect::to(base).into_response()),
        Err(AppError::Invalid(errors)) => Ok(page_with_status(&form(errors)?, StatusCode::UNPROCESSABLE_ENTITY)),
        Err(AppError::Stale) => {
            let mut errors = FieldErrors::default();
            errors.add("_form", "error.stale");
            Ok(page_with_status(&form(errors)?, StatusCode::CONFLICT))
        }
        Err(e) => Err(e),
    }
}

// ---- estates --------------------------------------------------------------------------------

pub async fn estates(State(st): State<AppState>, caller: Caller, Q(q): Q<PageQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let (rows, total) = store::list_estates(&st.db, &caller.scope, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/estates", "nav.estates");
    let tr = ctx.tr;
    let headers = ["field.name", "kind.community", "field.property_company", "field.status"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let edit = can_edit(&caller);
    let rows = rows
        .into_iter()
        .map(|e| {
            vec![
                if edit { Cell::link(e.name, format!("/estates/{}/edit", e.id)) } else { Cell::text(e.name) },
                Cell::link(e.community_name, format!("/places/{}", e.community_id)),
                Cell::text(e.property_company_name.unwrap_or_else(|| tr.t("estate.no_property_company").to_string())),
                Cell::text(tr.t(if e.active { "status.active" } else { "status.inactive" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    if edit {
        view.actions.push((tr.t("estate.new").to_string(), "/estates/new".into()));
    }
    Ok(page(&view))
}

#[derive(Deserialize, Default)]
pub struct EstateForm {
    #[serde(default)]
    community_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    property_company_id: String,
    #[serde(default)]
    active: String,
    #[serde(default)]
    version: String,
}

impl EditValues for EstateForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("community_id", self.community_id.clone()),
            ("name", self.name.clone()),
            ("address", self.address.clone()),
            ("property_company_id", self.property_company_id.clone()),
            ("active", self.active.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        match name {
            "community_id" => self.community_id = value,
            "name" => self.name = value,
            "address" => self.address = value,
            "property_company_id" => self.property_company_id = value,
            "active" => self.active = value,
            _ => {}
        }
    }
}

impl EstateForm {
    fn of(e: Estate) -> (EstateForm, i64) {
        let version = e.version;
        let f = EstateForm {
            community_id: e.community_id.to_string(),
            name: e.name,
            address: e.address.unwrap_or_default(),
            property_company_id: e.property_company_id.map(|i| i.to_string()).unwrap_or_default(),
            active: if e.active { "on".into() } else { String::new() },
            version: version.to_string(),
        };
        (f, version)
    }
}

async fn estate_form(
    st: &AppState,
    caller: &Caller,
    f: &EstateForm,
    errors: FieldErrors,
    id: Option<Uuid>,
) -> AppResult<FormPage> {
    let ctx =
        Ctx::new(st.cfg.demo, Some(caller), None, "/estates", if id.is_some() { "estate.edit" } else { "estate.new" });
    let tr = ctx.tr;
    let communities = store::place_options(&st.db, &caller.scope, &[PlaceKind::Community]).await?;
    let companies = store::organisation_options(&st.db, &caller.scope, &[OrgKind::PropertyCompany]).await?;
    let mut fields = vec![
        Field::select(tr, "community_id", "kind.community", &f.community_id, with_blank(tr, communities), true),
        Field::text(tr, "name", "field.name", &f.name, 60, true),
        Field::text(tr, "address", "field.address", &f.address, 200, false),
        Field::select(
            tr,
            "property_company_id",
            "field.property_company",
            &f.property_company_id,
            with_blank(tr, companies),
            false,
        )
        .hint(tr.t("estate.no_property_company_hint").to_string()),
        Field::checkbox(tr, "active", "status.active", f.active == "on"),
    ];
    apply_errors(&mut fields, &errors, tr);
    let errs = general_errors(&fields, &errors, tr);
    let action = id.map(|i| format!("/estates/{i}")).unwrap_or_else(|| "/estates".into());
    let mut view = FormPage::new(ctx, action, fields, "/estates".into());
    view.errors = errs;
    view.hidden.push(("version".into(), f.version.clone()));
    Ok(view)
}

pub async fn estate_new(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let f = EstateForm { active: "on".into(), ..Default::default() };
    Ok(page(&estate_form(&st, &caller, &f, FieldErrors::default(), None).await?))
}

pub async fn estate_edit(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let e = store::get_estate(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let (f, _) = EstateForm::of(e);
    Ok(page(&estate_form(&st, &caller, &f, FieldErrors::default(), Some(id)).await?))
}

async fn estate_save(
    st: AppState,
    caller: Caller,
    id: Option<Uuid>,
    f: EstateForm,
    res: &Resolution,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let community = opt_uuid(&f.community_id, "community_id", &mut errors);
    if community.is_none() && errors.get("community_id").is_none() {
        errors.add("community_id", "error.required");
    }
    let name = clean_name(&f.name, "name", 60, &mut errors);
    let address = clean_optional(Some(&f.address), "address", 200, &mut errors);
    let company = opt_uuid(&f.property_company_id, "property_company_id", &mut errors);
    let result = match community {
        Some(community_id) if errors.is_empty() => {
            let input = store::EstateInput {
                community_id,
                name,
                address,
                property_company_id: company,
                active: f.active == "on",
                version: parse_version(&f.version),
            };
            store::save_estate(&st.db, &caller.scope, &caller.actor(), id, &input).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    if let (Err(AppError::Stale), Some(id)) = (&result, id) {
        let e = store::get_estate(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
        let (saved, version) = EstateForm::of(e);
        let view = estate_form(&st, &caller, &f, FieldErrors::default(), Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, res, "error.stale"));
    }
    let form = estate_form(&st, &caller, &f, FieldErrors::default(), id).await;
    saved_or_form(result, "/estates", |errors| {
        let mut view = form?;
        apply_errors(&mut view.fields, &errors, view.ctx.tr);
        view.errors = general_errors(&view.fields, &errors, view.ctx.tr);
        Ok(view)
    })
}

pub async fn estate_create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<EstateForm>,
) -> AppResult<Response> {
    estate_save(st, caller, None, f, &Resolution::default()).await
}

pub async fn estate_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<EstateForm>,
) -> AppResult<Response> {
    let e = store::get_estate(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let (saved, version) = EstateForm::of(e);
    let shown = f.version.clone();
    if conflict::answer(&mut f, &shown, &saved, version, &res) {
        let view = estate_form(&st, &caller, &f, FieldErrors::default(), Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, &res, "conflict.choose"));
    }
    estate_save(st, caller, Some(id), f, &res).await
}

// ---- organisations ---------------------------------------------------------------------------

pub async fn organisations(State(st): State<AppState>, caller: Caller, Q(q): Q<PageQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let kind = q.kind.as_deref().and_then(OrgKind::parse);
    let (rows, total) = store::list_organisations(&st.db, &caller.scope, kind, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/organisations", "nav.organisations");
    let tr = ctx.tr;
    let headers = ["field.name", "field.kind", "field.place", "field.contact", "field.status"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let edit = can_edit(&caller);
    let rows = rows
        .into_iter()
        .map(|o| {
            vec![
                if edit && caller.scope.covers(&o.place_path) {
                    Cell::link(o.name, format!("/organisations/{}/edit", o.id))
                } else {
                    Cell::text(o.name)
                },
                Cell::text(tr.t(&format!("org.{}", o.kind))),
                Cell::text(o.place_name),
                Cell::text(o.contact_name.unwrap_or_default()),
                Cell::text(tr.t(if o.active { "status.active" } else { "status.inactive" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    let mut kinds = vec![(String::new(), tr.t("filter.all").to_string())];
    kinds.extend(
        OrgKind::ALL.iter().map(|k| (k.as_str().to_string(), tr.t(&format!("org.{}", k.as_str())).to_string())),
    );
    view.filters = vec![Field::select(tr, "kind", "field.kind", q.kind.as_deref().unwrap_or(""), kinds, false)];
    view.query = crate::web::views::query_of(&[("kind", q.kind)]);
    if edit {
        view.actions.push((tr.t("org.new").to_string(), "/organisations/new".into()));
    }
    Ok(page(&view))
}

#[derive(Deserialize, Default)]
pub struct OrgForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    place_id: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    active: String,
    #[serde(default)]
    version: String,
}

impl EditValues for OrgForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        vec![
            ("kind", self.kind.clone()),
            ("name", self.name.clone()),
            ("place_id", self.place_id.clone()),
            ("contact_name", self.contact_name.clone()),
            ("contact_phone", self.contact_phone.clone()),
            ("description", self.description.clone()),
            ("active", self.active.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        match name {
            "kind" => self.kind = value,
            "name" => self.name = value,
            "place_id" => self.place_id = value,
            "contact_name" => self.contact_name = value,
            "contact_phone" => self.contact_phone = value,
            "description" => self.description = value,
            "active" => self.active = value,
            _ => {}
        }
    }
}

impl OrgForm {
    fn of(o: Organisation) -> (OrgForm, i64) {
        let version = o.version;
        let f = OrgForm {
            kind: o.kind,
            name: o.name,
            place_id: o.place_id.to_string(),
            contact_name: o.contact_name.unwrap_or_default(),
            contact_phone: o.contact_phone.unwrap_or_default(),
            description: o.description.unwrap_or_default(),
            active: if o.active { "on".into() } else { String::new() },
            version: version.to_string(),
        };
        (f, version)
    }
}

async fn org_form(st: &AppState, caller: &Caller, f: &OrgForm, id: Option<Uuid>) -> AppResult<FormPage> {
    let ctx =
        Ctx::new(st.cfg.demo, Some(caller), None, "/organisations", if id.is_some() { "org.edit" } else { "org.new" });
    let tr = ctx.tr;
    let places = store::place_options(&st.db, &caller.scope, &PlaceKind::ALL).await?;
    let mut kinds = vec![(String::new(), tr.t("filter.choose").to_string())];
    kinds.extend(
        OrgKind::ALL.iter().map(|k| (k.as_str().to_string(), tr.t(&format!("org.{}", k.as_str())).to_string())),
    );
    let fields = vec![
        Field::select(tr, "kind", "field.kind", &f.kind, kinds, true),
        Field::text(tr, "name", "field.name", &f.name, 60, true),
        Field::select(tr, "place_id", "field.place", &f.place_id, with_blank(tr, places), true)
            .hint(tr.t("org.place_hint").to_string()),
        Field::text(tr, "contact_name", "field.contact", &f.contact_name, 60, false),
        Field::text(tr, "contact_phone", "field.phone", &f.contact_phone, 30, false),
        Field::textarea(tr, "description", "field.description", &f.description),
        Field::checkbox(tr, "active", "status.active", f.active == "on"),
    ];
    let action = id.map(|i| format!("/organisations/{i}")).unwrap_or_else(|| "/organisations".into());
    let mut view = FormPage::new(ctx, action, fields, "/organisations".into());
    view.hidden.push(("version".into(), f.version.clone()));
    Ok(view)
}

pub async fn org_new(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let f = OrgForm { active: "on".into(), ..Default::default() };
    Ok(page(&org_form(&st, &caller, &f, None).await?))
}

pub async fn org_edit(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let (f, _) = OrgForm::of(store::editable_organisation(&st.db, &caller.scope, id).await?);
    Ok(page(&org_form(&st, &caller, &f, Some(id)).await?))
}

async fn org_save(st: AppState, caller: Caller, id: Option<Uuid>, f: OrgForm, res: &Resolution) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let kind = OrgKind::parse(&f.kind);
    if kind.is_none() {
        errors.add("kind", "error.required");
    }
    let name = clean_name(&f.name, "name", 60, &mut errors);
    let place = opt_uuid(&f.place_id, "place_id", &mut errors);
    if place.is_none() && errors.get("place_id").is_none() {
        errors.add("place_id", "error.required");
    }
    let contact_name = clean_optional(Some(&f.contact_name), "contact_name", 60, &mut errors);
    let contact_phone = clean_optional(Some(&f.contact_phone), "contact_phone", 30, &mut errors);
    if contact_phone.as_deref().is_some_and(|p| !p.chars().all(|c| c.is_ascii_digit() || "-+ ()".contains(c))) {
        errors.add("contact_phone", "error.phone_format");
    }
    let description = clean_optional(Some(&f.description), "description", 2000, &mut errors);
    let result = match (kind, place) {
        (Some(kind), Some(place_id)) if errors.is_empty() => {
            let input = store::OrgInput {
                kind,
                name,
                place_id,
                contact_name,
                contact_phone,
                description,
                active: f.active == "on",
                version: parse_version(&f.version),
            };
            store::save_organisation(&st.db, &caller.scope, &caller.actor(), id, &input).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    if let (Err(AppError::Stale), Some(id)) = (&result, id) {
        let (saved, version) = OrgForm::of(store::editable_organisation(&st.db, &caller.scope, id).await?);
        let view = org_form(&st, &caller, &f, Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, res, "error.stale"));
    }
    let form = org_form(&st, &caller, &f, id).await;
    saved_or_form(result, "/organisations", |errors| {
        let mut view = form?;
        apply_errors(&mut view.fields, &errors, view.ctx.tr);
        view.errors = general_errors(&view.fields, &errors, view.ctx.tr);
        Ok(view)
    })
}

pub async fn org_create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<OrgForm>,
) -> AppResult<Response> {
    org_save(st, caller, None, f, &Resolution::default()).await
}

pub async fn org_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<OrgForm>,
) -> AppResult<Response> {
    let (saved, version) = OrgForm::of(store::editable_organisation(&st.db, &caller.scope, id).await?);
    let shown = f.version.clone();
    if conflict::answer(&mut f, &shown, &saved, version, &res) {
        let view = org_form(&st, &caller, &f, Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, &res, "conflict.choose"));
    }
    org_save(st, caller, Some(id), f, &res).await
}

// ---- stations ---------------------------------------------------------------------------------

pub async fn stations(State(st): State<AppState>, caller: Caller, Q(q): Q<PageQuery>) -> AppResult<Response> {
    let pp = PageParams { page: q.page, page_size: None };
    let (rows, total) = store::list_stations(&st.db, &caller.scope, pp.size(), pp.offset()).await?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/stations", "nav.stations");
    let tr = ctx.tr;
    let headers = ["field.name", "kind.street", "station.host", "station.operator", "station.domains", "field.status"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let edit = can_edit(&caller);
    let rows = rows
        .into_iter()
        .map(|s| {
            let domains = s
                .service_domains
                .split(',')
                .filter(|d| !d.is_empty())
                .map(|d| tr.t(&format!("domain.{d}")))
                .collect::<Vec<_>>()
                .join("、");
            vec![
                if edit { Cell::link(s.name, format!("/stations/{}/edit", s.id)) } else { Cell::text(s.name) },
                Cell::link(s.place_name, format!("/places/{}", s.place_id)),
                Cell::text(s.host_community_name.unwrap_or_default()),
                Cell::text(s.operator_name.unwrap_or_default()),
                Cell::text(domains),
                Cell::text(tr.t(if s.active { "status.active" } else { "status.inactive" })),
            ]
        })
        .collect();
    let mut view = ListPage::new(ctx, headers, rows, total, pp.page(), pp.size());
    if edit {
        view.actions.push((tr.t("station.new").to_string(), "/stations/new".into()));
    }
    Ok(page(&view))
}

#[derive(Deserialize, Default)]
pub struct StationForm {
    #[serde(default)]
    place_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    host_community_id: String,
    #[serde(default)]
    operator_id: String,
    #[serde(default)]
    service_domains: Vec<String>,
    #[serde(default)]
    active: String,
    #[serde(default)]
    version: String,
}

impl EditValues for StationForm {
    fn values(&self) -> Vec<(&'static str, String)> {
        let mut domains = self.service_domains.iter().map(|d| d.trim().to_string()).collect::<Vec<_>>();
        domains.sort();
        vec![
            ("place_id", self.place_id.clone()),
            ("name", self.name.clone()),
            ("host_community_id", self.host_community_id.clone()),
            ("operator_id", self.operator_id.clone()),
            ("service_domains", domains.join(",")),
            ("active", self.active.clone()),
        ]
    }
    fn set_value(&mut self, name: &str, value: String) {
        match name {
            "place_id" => self.place_id = value,
            "name" => self.name = value,
            "host_community_id" => self.host_community_id = value,
            "operator_id" => self.operator_id = value,
            "service_domains" => {
                self.service_domains = value.split(',').filter(|d| !d.is_empty()).map(String::from).collect()
            }
            "active" => self.active = value,
            _ => {}
        }
    }
}

impl StationForm {
    fn of(s: Station) -> (StationForm, i64) {
        let version = s.version;
        let f = StationForm {
            place_id: s.place_id.to_string(),
            name: s.name,
            host_community_id: s.host_community_id.map(|i| i.to_string()).unwrap_or_default(),
            operator_id: s.operator_id.map(|i| i.to_string()).unwrap_or_default(),
            service_domains: s.service_domains.split(',').filter(|d| !d.is_empty()).map(str::to_string).collect(),
            active: if s.active { "on".into() } else { String::new() },
            version: version.to_string(),
        };
        (f, version)
    }
}

async fn station_form(st: &AppState, caller: &Caller, f: &StationForm, id: Option<Uuid>) -> AppResult<FormPage> {
    let ctx = Ctx::new(
        st.cfg.demo,
        Some(caller),
        None,
        "/stations",
        if id.is_some() { "station.edit" } else { "station.new" },
    );
    let tr = ctx.tr;
    let streets = store::place_options(&st.db, &caller.scope, &[PlaceKind::District, PlaceKind::Street]).await?;
    let communities = store::place_options(&st.db, &caller.scope, &[PlaceKind::Community]).await?;
    let operators =
        store::organisation_options(&st.db, &caller.scope, &[OrgKind::PartnerOrg, OrgKind::GovernanceCenter]).await?;
    let domains = SERVICE_DOMAINS.iter().map(|d| (d.to_string(), tr.t(&format!("domain.{d}")).to_string())).collect();
    let fields = vec![
        Field::select(tr, "place_id", "station.place", &f.place_id, with_blank(tr, streets), true)
            .hint(tr.t("station.place_hint").to_string()),
        Field::text(tr, "name", "field.name", &f.name, 60, true),
        Field::select(
            tr,
            "host_community_id",
            "station.host",
            &f.host_community_id,
            with_blank(tr, communities),
            false,
        ),
        Field::select(tr, "operator_id", "station.operator", &f.operator_id, with_blank(tr, operators), false),
        Field::multi(tr, "service_domains", "station.domains", f.service_domains.clone(), domains),
        Field::checkbox(tr, "active", "status.active", f.active == "on"),
    ];
    let action = id.map(|i| format!("/stations/{i}")).unwrap_or_else(|| "/stations".into());
    let mut view = FormPage::new(ctx, action, fields, "/stations".into());
    view.hidden.push(("version".into(), f.version.clone()));
    Ok(view)
}

pub async fn station_new(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let f = StationForm { active: "on".into(), ..Default::default() };
    Ok(page(&station_form(&st, &caller, &f, None).await?))
}

pub async fn station_edit(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let s = store::get_station(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let (f, _) = StationForm::of(s);
    Ok(page(&station_form(&st, &caller, &f, Some(id)).await?))
}

async fn station_save(
    st: AppState,
    caller: Caller,
    id: Option<Uuid>,
    f: StationForm,
    res: &Resolution,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let place = opt_uuid(&f.place_id, "place_id", &mut errors);
    if place.is_none() && errors.get("place_id").is_none() {
        errors.add("place_id", "error.required");
    }
    let name = clean_name(&f.name, "name", 60, &mut errors);
    let host = opt_uuid(&f.host_community_id, "host_community_id", &mut errors);
    let operator = opt_uuid(&f.operator_id, "operator_id", &mut errors);
    let result = match place {
        Some(place_id) if errors.is_empty() => {
            let input = store::StationInput {
                place_id,
                name,
                host_community_id: host,
                operator_id: operator,
                service_domains: f.service_domains.clone(),
                active: f.active == "on",
                version: parse_version(&f.version),
            };
            store::save_station(&st.db, &caller.scope, &caller.actor(), id, &input).await
        }
        _ => Err(AppError::Invalid(errors)),
    };
    if let (Err(AppError::Stale), Some(id)) = (&result, id) {
        let s = store::get_station(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
        let (saved, version) = StationForm::of(s);
        let view = station_form(&st, &caller, &f, Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, res, "error.stale"));
    }
    let form = station_form(&st, &caller, &f, id).await;
    saved_or_form(result, "/stations", |errors| {
        let mut view = form?;
        apply_errors(&mut view.fields, &errors, view.ctx.tr);
        view.errors = general_errors(&view.fields, &errors, view.ctx.tr);
        Ok(view)
    })
}

pub async fn station_create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<StationForm>,
) -> AppResult<Response> {
    station_save(st, caller, None, f, &Resolution::default()).await
}

pub async fn station_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    EditForm(mut f, res): EditForm<StationForm>,
) -> AppResult<Response> {
    let s = store::get_station(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let (saved, version) = StationForm::of(s);
    let shown = f.version.clone();
    if conflict::answer(&mut f, &shown, &saved, version, &res) {
        let view = station_form(&st, &caller, &f, Some(id)).await?;
        return Ok(conflict::page(view, &f, &saved, version, &res, "conflict.choose"));
    }
    station_save(st, caller, Some(id), f, &res).await
}

//! The residents' side, without an account: report a problem from a phone (`/report`), then
//! follow it through the tracking link (`/track/{code}`) and add to it. Only what is meant for
//! the public is shown there: status, the public timeline and the notes chosen for it, the
//! handling units, the wording and address in their public form (`super::publication`); never
//! staff names, phone numbers, rooms or internal notes. A link is forwarded more often than
//! its owner thinks.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::model::{Channel, validate_intake};
use super::pages::{IntakeForm, category_options, event_text, local};
use super::store::{self, Request};
use crate::audit::Actor;
use crate::auth::{RequestInfo, Scope};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::files::upload::FormWithFiles;
use crate::i18n::Tr;
use crate::org::model::PlaceKind;
use crate::ratelimit::Limit;
use crate::web::AppState;
use crate::web::extract::PageForm;
use crate::web::form::{Field, apply_errors, general_errors};
use crate::web::render::{Ctx, page, page_with_status};

/// Reports one address may file per hour: enough for a family, not for a flood of spam.
const REPORTS_PER_HOUR: u32 = 20;

fn everywhere() -> Scope {
    Scope { roots: vec!["/".to_string()], casework: false }
}

fn resident(info: &RequestInfo) -> Actor {
    Actor { id: None, name: "resident".into(), ip: info.ip.clone() }
}

/// What the report form posts: the intake's fields, the photo, and which button was pressed
/// ("look": see the open reports near the point given, writing nothing).
#[derive(Deserialize, Default, Clone)]
pub struct ReportForm {
    #[serde(flatten)]
    pub intake: IntakeForm,
    #[serde(default)]
    pub look: Option<String>,
}

/// An open report near the resident's point, as the public reads it.
pub struct NearbyView {
    pub number: String,
    pub category: String,
    pub status: String,
    pub wording: String,
    pub place: String,
    pub distance: String,
}

#[derive(Template)]
#[template(path = "requests/report.html")]
struct ReportPage {
    ctx: Ctx,
    /// What the problem is; where it is, as a point and as an address; who to call back.
    what: Vec<Field>,
    point: Vec<Field>,
    address: Vec<Field>,
    who: Vec<Field>,
    errors: Vec<String>,
    /// Open reports near the point given; `None` when no point was given yet.
    nearby: Option<Vec<NearbyView>>,
}

/// The open published reports near the point the form holds, if it holds a valid one.
async fn nearby_views(st: &AppState, tr: Tr, f: &IntakeForm) -> AppResult<Option<Vec<NearbyView>>> {
    let mut ignored = FieldErrors::default();
    let Some(point) = super::model::coordinates(Some(&f.lat), Some(&f.lon), &mut ignored) else {
        return Ok(None);
    };
    let near = super::publication::nearby(&st.db, point, NEARBY_SHOWN).await?;
    let rows: Vec<Request> = near.iter().map(|(r, _)| r.clone()).collect();
    let extras = super::publication::extras(&st.db, &rows).await?;
    Ok(Some(
        near.into_iter()
            .map(|(r, d)| {
                let e = extras.get(&r.id);
                NearbyView {
                    status: tr.t(&r.status().label_key()),
                    wording: e.map(|e| e.wording.clone()).unwrap_or_default(),
                    place: e.map(|e| e.place.clone()).unwrap_or_default(),
                    distance: tr.f("report.metres", &[&((d / 10.0).round() * 10.0)]),
                    number: r.number,
                    category: r.category_name,
                }
            })
            .collect(),
    ))
}

/// Open reports listed near a point: enough to recognise one's own problem.
const NEARBY_SHOWN: usize = 10;

async fn report_form(st: &AppState, info: &RequestInfo, f: &IntakeForm, errors: &FieldErrors) -> AppResult<ReportPage> {
    let ctx = Ctx::new(st.cfg.demo, None, Some(info), "/report", "report.title");
    let tr = ctx.tr;
    let mut places = vec![(String::new(), tr.t("request.place_unknown"))];
    places.extend(
        crate::org::store::place_options(&st.db, &everywhere(), &[PlaceKind::Community])
            .await?
            .into_iter()
            .map(|(id, name)| (id.to_string(), name)),
    );
    let (estates, _) = crate::org::store::list_estates(&st.db, &everywhere(), 5000, 0).await?;
    let mut estate_opts = vec![(String::new(), tr.t("person.no_estate"))];
    estate_opts.extend(estates.into_iter().map(|e| (e.id.to_string(), format!("{} / {}", e.community_name, e.name))));
    let mut fields = vec![
        Field::select(tr, "category", "request.category", &f.category, category_options(st, tr).await?, true),
        Field::textarea(tr, "description", "request.description", &f.description),
        Field::photos(tr, "photos", "report.photo").hint(tr.t("report.photo_hint")),
        Field::text(tr, "lat", "request.lat", &f.lat, 20, false),
        Field::text(tr, "lon", "request.lon", &f.lon, 20, false),
        Field::select(tr, "estate_id", "person.estate", &f.estate_id, estate_opts, false),
        Field::text(tr, "building", "person.building", &f.building, 40, false),
        Field::text(tr, "address", "request.address", &f.address, 200, false).hint(tr.t("request.address_hint")),
        Field::select(tr, "place_id", "request.place", &f.place_id, places, false),
        Field::text(tr, "reporter_name", "report.name", &f.reporter_name, 40, false),
        Field::text(tr, "phone", "request.phone", &f.phone, 20, true).hint(tr.t("report.phone_hint")),
    ];
    fields[1].required = true;
    apply_errors(&mut fields, errors, tr);
    let errs = general_errors(&fields, errors, tr);
    let nearby = nearby_views(st, tr, f).await?;
    let mut take = |names: &[&str]| -> Vec<Field> {
        let (these, rest): (Vec<Field>, Vec<Field>) =
            std::mem::take(&mut fields).into_iter().partition(|f| names.contains(&f.name));
        fields = rest;
        these
    };
    Ok(ReportPage {
        what: take(&["category", "description", "photos"]),
        point: take(&["lat", "lon"]),
        address: take(&["estate_id", "building", "address", "place_id"]),
        who: take(&["reporter_name", "phone"]),
        ctx,
        errors: errs,
        nearby,
    })
}

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    pub lat: Option<String>,
    #[serde(default)]
    pub lon: Option<String>,
}

/// The form, empty or at a point (`?lat=…&lon=…`, what "use my location" asks for), with the
/// open reports near it.
pub async fn report_page(
    State(st): State<AppState>,
    info: RequestInfo,
    crate::web::extract::Q(q): crate::web::extract::Q<ReportQuery>,
) -> AppResult<Response> {
    let f = IntakeForm { lat: q.lat.unwrap_or_default(), lon: q.lon.unwrap_or_default(), ..Default::default() };
    Ok(page(&report_form(&st, &info, &f, &FieldErrors::default()).await?))
}

pub async fn report(
    State(st): State<AppState>,
    info: RequestInfo,
    form: FormWithFiles<ReportForm>,
) -> AppResult<Response> {
    let FormWithFiles { form: ReportForm { intake: f, look }, files: uploads } = form;
    // Looking around before filing writes nothing and counts against nothing.
    if look.is_some() {
        return Ok(page(&report_form(&st, &info, &f, &FieldErrors::default()).await?));
    }
    // Refused at once when the hour is full; a report that is written counts in its own
    // transaction (one commit), a refused form in one of its own.
    let limit = Limit::new(format!("report:{}", crate::ratelimit::address_key(&info.ip)), REPORTS_PER_HOUR, 3600);
    if limit.exceeded(&st.db).await? {
        return Err(AppError::TooMany);
    }
    let mut input = f.input();
    // A resident cannot attach their report to someone's record.
    input.person_id = None;
    let mut errors = FieldErrors::default();
    let Some(clean) = validate_intake(&input, true, &mut errors) else {
        limit.hit(&st.db).await?;
        return Ok(page_with_status(&report_form(&st, &info, &f, &errors).await?, StatusCode::UNPROCESSABLE_ENTITY));
    };
    // The photo is checked by content before anything is written, and stored with the report.
    let photos = match crate::files::stage(&st.files, uploads).await {
        Ok(p) => p,
        Err((_, rejected)) => {
            limit.hit(&st.db).await?;
            let mut errors = FieldErrors::default();
            errors.add("photos", rejected.code());
            return Ok(page_with_status(&report_form(&st, &info, &f, &errors).await?, rejected.status()));
        }
    };
    let actor = resident(&info);
    let intake = store::Intake {
        channel: Channel::Web,
        actor: &actor,
        staff_scope: None,
        client_id: None,
        attributes: serde_json::json!({}),
        photos: &photos,
        limit: Some(&limit),
        category: None,
    };
    let result = store::create(&st.db, &st.keys, &intake, &clean).await;
    if result.is_err() {
        crate::files::discard(&st.files, photos).await;
    }
    match result {
        Ok(c) => Ok(Redirect::to(&format!("/track/{}?new=1", c.tracking_code)).into_response()),
        Err(AppError::Invalid(errors)) => {
            limit.hit(&st.db).await?;
            Ok(page_with_status(&report_form(&st, &info, &f, &errors).await?, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "requests/track.html")]
struct TrackPage {
    ctx: Ctx,
    current: Request,
    wording: String,
    place: String,
    code: String,
    status_label: String,
    created: String,
    resolve_due: String,
    units: Vec<String>,
    events: Vec<(String, String, Option<String>)>,
    just_filed: bool,
    note: String,
    note_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct TrackQuery {
    #[serde(default)]
    pub new: Option<String>,
}

async fn track_view(
    st: &AppState,
    info: &RequestInfo,
    code: &str,
    just_filed: bool,
    note: String,
    note_error: Option<String>,
) -> AppResult<TrackPage> {
    let r = store::by_tracking_code(&st.db, code).await?.ok_or(AppError::NotFound)?;
    let ctx = Ctx::new(st.cfg.demo, None, Some(info), "/track", "report.track_title");
    let tr = ctx.tr;
    let units = store::parts(&st.db, r.id)
        .await?
        .into_iter()
        .filter(|p| p.status().is_active())
        .map(|p| format!("{} · {}", p.unit_name, tr.t(&p.status().label_key())))
        .collect();
    let linked = super::publication::linked_name(&st.db, &r).await?;
    let names = r.names(linked.as_deref());
    let events = store::events(&st.db, r.id, true)
        .await?
        .iter()
        .rev()
        .map(|e| (local(e.at), event_text(tr, e), e.public_note(&names)))
        .collect();
    Ok(TrackPage {
        wording: r.public_wording(linked.as_deref()),
        place: r.public_place(linked.as_deref()),
        status_label: tr.t(&r.status().label_key()),
        created: local(r.created_at),
        resolve_due: local(r.resolve_due),
        units,
        events,
        just_filed,
        code: code.to_string(),
        note,
        note_error,
        ctx,
        current: r,
    })
}

pub async fn track(
    State(st): State<AppState>,
    info: RequestInfo,
    Path(code): Path<String>,
    crate::web::extract::Q(q): crate::web::extract::Q<TrackQuery>,
) -> AppResult<Response> {
    Ok(page(&track_view(&st, &info, &code, q.new.is_some(), String::new(), None).await?))
}

#[derive(Deserialize, Default)]
pub struct NoteForm {
    #[serde(default)]
    pub note: String,
}

pub async fn add_note(
    State(st): State<AppState>,
    info: RequestInfo,
    Path(code): Path<String>,
    PageForm(f): PageForm<NoteForm>,
) -> AppResult<Response> {
    let r = store::by_tracking_code(&st.db, &code).await?.ok_or(AppError::NotFound)?;
    if !crate::ratelimit::hit(
        &st.db,
        &format!("report-note:{}", crate::ratelimit::address_key(&info.ip)),
        REPORTS_PER_HOUR,
        3600,
    )
    .await?
    {
        return Err(AppError::TooMany);
    }
    match store::public_note(&st.db, &resident(&info), r.id, &f.note).await {
        Ok(()) => Ok(Redirect::to(&format!("/track/{code}")).into_response()),
        Err(AppError::Invalid(errors)) => {
            let tr = crate::i18n::Tr(info.lang);
            let msg = errors.0.first().map(|(_, code)| tr.t(code));
            let view = track_view(&st, &info, &code, false, f.note, msg).await?;
            Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
        }
        Err(e) => Err(e),
    }
}

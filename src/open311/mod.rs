//! Open311 GeoReport v2 under `/open311/v2`: discovery, services and their definitions,
//! posting requests (form-encoded, `api_key` per registered app, attributes), tokens, reading
//! requests with the specification's filters and its 90-day default window, in XML and JSON;
//! plus the common extensions `page`/`page_size` and request updates
//! (`servicerequestupdates`). Every failure answers with the specification's error list.
//! Only published requests are read here, in their public wording (`requests::publication`):
//! no names, phone numbers, rooms, staff or internal notes.

pub mod clients;
pub use crate::web::georeport as format;
pub mod openapi;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::RequestInfo;
use crate::error::AppError;
use crate::i18n::Tr;
use crate::ratelimit::Limit;
use crate::requests::model::{Channel, IntakeInput, Status, validate_intake};
use crate::requests::publication::{self, PublicFilter};
use crate::requests::store::{self, Category, Request};
use crate::web::{Access, AppState, RouteDef, r};
use format::{Fmt, Rec, V, opt, s};

pub fn routes() -> Vec<RouteDef> {
    vec![
        r(Method::GET, "/open311/v2/{file}", Access::Public, get_root),
        r(Method::POST, "/open311/v2/{file}", Access::Public, post_root).upload(),
        r(Method::GET, "/open311/v2/services/{file}", Access::Public, get_service),
        r(Method::GET, "/open311/v2/requests/{file}", Access::Public, get_request),
        r(Method::GET, "/open311/v2/tokens/{file}", Access::Public, get_token),
    ]
}

const DEFAULT_PAGE_SIZE: i64 = 100;
const MAX_PAGE_SIZE: i64 = 500;
/// The specification's window for GET requests.
const WINDOW_DAYS: i64 = 90;

/// A failure in the specification's shape.
struct Fail(StatusCode, Vec<String>);

impl Fail {
    fn bad(msg: impl Into<String>) -> Fail {
        Fail(StatusCode::BAD_REQUEST, vec![msg.into()])
    }
    fn not_found(msg: impl Into<String>) -> Fail {
        Fail(StatusCode::NOT_FOUND, vec![msg.into()])
    }
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Fail {
        tracing::error!(error = %e, "open311 database error");
        Fail(StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".into()])
    }
}

fn answer(fmt: Fmt, r: Result<Response, Fail>) -> Response {
    r.unwrap_or_else(|Fail(status, msgs)| format::errors(fmt, status, &msgs))
}

pub use crate::web::georeport::error_at;

/// The answer to a file name without .json or .xml (in JSON: the format is unknown).
fn unknown_format() -> Response {
    format::errors(Fmt::Json, StatusCode::NOT_FOUND, &["unknown format: use .json or .xml".into()])
}

fn w3c(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai).to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn params(raw: Option<&str>) -> Result<Vec<(String, String)>, Fail> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| Fail::bad("malformed query string"))
}

fn param<'a>(ps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ps.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn comma_list(v: Option<&str>) -> Vec<String> {
    v.map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

/// A W3C date-time as the specification's filters take it: to the second (with fractions) or
/// to the minute with a time zone, or a date alone (a day in Beijing time; as an end, the whole
/// day is included).
pub fn w3c_param(v: &str, end: bool) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some(d.with_timezone(&Utc));
    }
    // To the minute: `2026-01-01T08:00+08:00` or `…T08:00Z`.
    if v.len() > 16
        && v.is_char_boundary(16)
        && v.as_bytes().get(10) == Some(&b'T')
        && v.as_bytes().get(16) != Some(&b':')
    {
        let (head, zone) = v.split_at(16);
        if let Ok(d) = DateTime::parse_from_rfc3339(&format!("{head}:00{zone}")) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let day = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(chrono_tz::Asia::Shanghai).single().map(|d| d.with_timezone(&Utc))
}

fn date_param(ps: &[(String, String)], name: &str) -> Result<Option<DateTime<Utc>>, Fail> {
    match param(ps, name) {
        None => Ok(None),
        Some(v) => w3c_param(v, name == "end_date").map(Some).ok_or_else(|| {
            Fail::bad(format!("{name}: a w3c date, e.g. 2026-01-01, 2026-01-01T08:00+08:00 or 2026-01-01T08:00:00Z"))
        }),
    }
}

fn paging(ps: &[(String, String)]) -> Result<(i64, i64), Fail> {
    let page = match param(ps, "page") {
        None => 1,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or_else(|| Fail::bad("page: a number from 1"))?,
    };
    let size = match param(ps, "page_size") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=MAX_PAGE_SIZE).contains(p))
            .ok_or_else(|| Fail::bad(format!("page_size: a number from 1 to {MAX_PAGE_SIZE}")))?,
    };
    Ok((size, (page - 1) * size))
}

/// The period asked for, at most 90 days; the last 90 days when none is given.
fn window(ps: &[(String, String)]) -> Result<(DateTime<Utc>, DateTime<Utc>), Fail> {
    let span = Duration::days(WINDOW_DAYS);
    let now = Utc::now();
    let (from, to) = match (date_param(ps, "start_date")?, date_param(ps, "end_date")?) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) => (a, a + span),
        (None, Some(b)) => (b - span, b),
        (None, None) => (now - span, now),
    };
    if to < from {
        return Err(Fail::bad("end_date is before start_date"));
    }
    if to - from > span {
        return Err(Fail::bad("the period may not span more than 90 days"));
    }
    Ok((from, to))
}

// ---- discovery and services -------------------------------------------------------------------

/// Where apps reach this service (`web::base_path::public_origin`).
pub fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    format!("{}/open311/v2/", crate::web::base_path::public_origin(st, headers))
}

/// The caller's language for texts in answers (status notes, service descriptions): what the
/// app asks for with Accept-Language, as API clients do; Chinese otherwise.
fn lang_of(headers: &HeaderMap) -> Tr {
    Tr(crate::i18n::Lang::from_accept(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())))
}

/// Read answers may be fetched by any web page (a city's map, a newspaper's tracker): they hold
/// only what is published, and no credentials are involved.
fn readable_anywhere(mut res: Response) -> Response {
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, axum::http::HeaderValue::from_static("*"));
    res
}

fn discovery(st: &AppState, headers: &HeaderMap, fmt: Fmt) -> Response {
    let endpoint: Rec = vec![
        ("specification", s("http://wiki.open311.org/GeoReport_v2")),
        ("url", s(base_url(st, headers))),
        ("changeset", s("2026-11-23T00:00:00+08:00")),
        ("type", s("production")),
        ("formats", V::Strs("format", vec!["text/xml".into(), "application/json".into()])),
    ];
    let rec: Rec = vec![
        ("changeset", s("2026-11-23T00:00:00+08:00")),
        ("contact", s("平城区民政局 / Pingcheng District Civil Affairs Bureau")),
        ("key_service", s("api_key: ask the bureau to register your app (linli open311-app)")),
        ("endpoints", V::Items("endpoint", vec![endpoint])),
    ];
    format::one(fmt, "discovery", &rec)
}

fn attributes_of(c: &Category) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(&c.attributes).unwrap_or_default()
}

/// Text or null: the specification's JSON has null, not "", for what is absent.
fn text(v: &str) -> V {
    opt(Some(v.trim()).filter(|v| !v.is_empty()))
}

/// The category's description, or one made from what is known of it: its group and its times.
fn service_description(tr: Tr, c: &Category) -> String {
    match c.description.trim() {
        "" => tr.f("open311.service_description", &[&c.group_name, &c.name, &c.response_hours, &c.resolve_days]),
        d => d.to_string(),
    }
}

fn service_rec(tr: Tr, c: &Category) -> Rec {
    vec![
        ("service_code", s(c.code.as_str())),
        ("service_name", s(c.name.as_str())),
        ("description", s(service_description(tr, c))),
        ("metadata", V::B(!attributes_of(c).is_empty())),
        ("type", s("realtime")),
        ("keywords", text(&c.keywords)),
        ("group", text(&c.group_name)),
    ]
}

fn attribute_rec(a: &serde_json::Value) -> Rec {
    let str_of = |k: &str| a.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let values: Vec<Rec> = a
        .get("values")
        .and_then(|v| v.as_array())
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    vec![("key", s(v["key"].as_str().unwrap_or(""))), ("name", s(v["name"].as_str().unwrap_or("")))]
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        ("variable", V::B(a.get("variable").and_then(|v| v.as_bool()).unwrap_or(true))),
        ("code", s(str_of("code"))),
        ("datatype", s(str_of("datatype"))),
        ("required", V::B(a.get("required").and_then(|v| v.as_bool()).unwrap_or(false))),
        ("datatype_description", opt(a.get("datatype_description").and_then(|v| v.as_str()))),
        ("order", V::I(a.get("order").and_then(|v| v.as_i64()).unwrap_or(0))),
        ("description", s(str_of("description"))),
        ("values", V::Items("value", values)),
    ]
}

async fn get_root(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some((stem, fmt)) = format::split(&file) else {
        return unknown_format();
    };
    let res = async {
        let ps = params(raw.as_deref())?;
        let tr = lang_of(&headers);
        match stem {
            "discovery" => Ok(discovery(&st, &headers, fmt)),
            "services" => {
                let recs: Vec<Rec> =
                    store::categories(&st.db, true).await?.iter().map(|c| service_rec(tr, c)).collect();
                Ok(format::list(fmt, StatusCode::OK, "services", "service", &recs))
            }
            "requests" => list_requests(&st, tr, fmt, &ps).await,
            "servicerequestupdates" => list_updates(&st, tr, fmt, &ps).await,
            "openapi" if fmt == Fmt::Json => Ok(openapi::document(&base_url(&st, &headers))),
            _ => Err(Fail::not_found(format!("no such resource: {stem}"))),
        }
    }
    .await;
    readable_anywhere(answer(fmt, res))
}

async fn get_service(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((code, fmt)) = format::split(&file) else {
        return unknown_format();
    };
    let res = async {
        let c = store::category(&st.db, code)
            .await?
            .filter(|c| c.active)
            .ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?;
        let attrs: Vec<Rec> = attributes_of(&c).iter().map(attribute_rec).collect();
        let rec: Rec = vec![("service_code", s(c.code.as_str())), ("attributes", V::Items("attribute", attrs))];
        Ok(format::one(fmt, "service_definition", &rec))
    }
    .await;
    readable_anywhere(answer(fmt, res))
}

// ---- reading requests -------------------------------------------------------------------------

fn request_rec(tr: Tr, r: &Request, public: &publication::Extras) -> Rec {
    let attrs: serde_json::Value = serde_json::from_str(&r.attributes).unwrap_or_default();
    let media = attrs.get("media_url").and_then(|v| v.as_str()).map(str::to_string);
    let status = r.status();
    // The latest public step in words, with the note its writer made public.
    let notes = public.latest.as_ref().map(|(e, note)| publication::status_note(tr, e, note.as_deref()));
    let notes = if status == Status::Merged { Some(tr.t("open311.merged_note")) } else { notes };
    let coords = r.public_coords();
    vec![
        ("service_request_id", s(r.number.as_str())),
        ("status", s(status.open311())),
        ("status_notes", opt(notes)),
        ("service_name", s(r.category_name.as_str())),
        ("service_code", s(r.category.as_str())),
        ("description", text(&public.wording)),
        ("agency_responsible", text(&public.units.join("；"))),
        ("service_notice", V::Null),
        ("requested_datetime", s(w3c(r.created_at))),
        ("updated_datetime", s(w3c(r.updated_at))),
        ("expected_datetime", s(w3c(r.resolve_due))),
        ("address", text(&public.place)),
        ("address_id", V::Null),
        ("zipcode", V::Null),
        ("lat", coords.map_or(V::Null, |c| V::N(c.0))),
        ("long", coords.map_or(V::Null, |c| V::N(c.1))),
        ("media_url", opt(media)),
    ]
}

async fn render_requests(st: &AppState, tr: Tr, fmt: Fmt, rows: &[Request]) -> Result<Response, Fail> {
    let extras = publication::extras(&st.db, rows).await?;
    let none = publication::Extras::default();
    let recs: Vec<Rec> = rows.iter().map(|r| request_rec(tr, r, extras.get(&r.id).unwrap_or(&none))).collect();
    Ok(format::list(fmt, StatusCode::OK, "service_requests", "request", &recs))
}

async fn list_requests(st: &AppState, tr: Tr, fmt: Fmt, ps: &[(String, String)]) -> Result<Response, Fail> {
    let (limit, offset) = paging(ps)?;
    let numbers = comma_list(param(ps, "service_request_id"));
    if numbers.len() > MAX_PAGE_SIZE as usize {
        return Err(Fail::bad("too many service_request_id values"));
    }
    let mut f = PublicFilter { numbers, ..Default::default() };
    if f.numbers.is_empty() {
        let (from, to) = window(ps)?;
        f.from = Some(from);
        f.to = Some(to);
        f.categories = comma_list(param(ps, "service_code"));
        for st in comma_list(param(ps, "status")) {
            match st.as_str() {
                "open" => f.statuses.extend([Status::Accepted, Status::Dispatched, Status::InProgress]),
                "closed" => f.statuses.extend([Status::Resolved, Status::Closed, Status::Merged]),
                other => return Err(Fail::bad(format!("status: open or closed, not {other}"))),
            }
        }
    }
    let rows = publication::list(&st.db, &f, limit, offset).await?;
    render_requests(st, tr, fmt, &rows).await
}

async fn get_request(State(st): State<AppState>, headers: HeaderMap, Path(file): Path<String>) -> Response {
    let Some((id, fmt)) = format::split(&file) else {
        return unknown_format();
    };
    let res = async {
        let f = PublicFilter { numbers: vec![id.to_string()], ..Default::default() };
        let rows = publication::list(&st.db, &f, 1, 0).await?;
        if rows.is_empty() {
            return Err(Fail::not_found(format!("service_request_id {id} not found")));
        }
        render_requests(&st, lang_of(&headers), fmt, &rows).await
    }
    .await;
    readable_anywhere(answer(fmt, res))
}

/// Tokens: a post answers with the request's number at once, and with a token (the request's
/// id) for apps that expect one; the token resolves to the number here.
async fn get_token(State(st): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((token, fmt)) = format::split(&file) else {
        return unknown_format();
    };
    let res = async {
        let id = Uuid::parse_str(token).map_err(|_| Fail::not_found(format!("token {token} not found")))?;
        let r =
            publication::by_id(&st.db, id).await?.ok_or_else(|| Fail::not_found(format!("token {token} not found")))?;
        let rec: Rec = vec![("service_request_id", s(r.number.as_str())), ("token", s(token))];
        Ok(format::list(fmt, StatusCode::OK, "service_requests", "request", &[rec]))
    }
    .await;
    readable_anywhere(answer(fmt, res))
}

async fn list_updates(st: &AppState, tr: Tr, fmt: Fmt, ps: &[(String, String)]) -> Result<Response, Fail> {
    let (limit, offset) = paging(ps)?;
    let (from, to) = window(ps)?;
    let rows = publication::updates(&st.db, from, to, limit, offset).await?;
    let recs: Vec<Rec> = rows
        .iter()
        .map(|u| {
            let e = &u.event;
            let description = publication::status_note(tr, e, e.public_note(&u.names()).as_deref());
            let (number, status) = (&u.number, Status::parse(&u.status).unwrap_or(Status::Accepted));
            vec![
                ("update_id", s(e.id.to_string())),
                ("service_request_id", s(number.as_str())),
                ("status", s(status.open311())),
                ("updated_datetime", s(w3c(e.at))),
                ("description", s(description)),
                ("media_url", V::Null),
            ]
        })
        .collect();
    Ok(format::list(fmt, StatusCode::OK, "service_request_updates", "request_update", &recs))
}

// ---- posting ----------------------------------------------------------------------------------

/// Who an app's post is recorded as.
fn app_actor(client: &clients::Client, info: &RequestInfo) -> Actor {
    Actor { id: None, name: format!("open311:{}", client.name), ip: info.ip.clone() }
}

fn too_many() -> Fail {
    Fail(StatusCode::TOO_MANY_REQUESTS, vec!["too many posts; slow down".into()])
}

/// Where a post's api_key may be besides its body: the query string, or this header.
const KEY_HEADER: &str = "x-api-key";

/// The api_key of a post when it is outside the body, where it can be checked first.
fn key_outside_body(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let in_query = query.and_then(|q| {
        serde_html_form::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == "api_key").then_some(v))
    });
    in_query.or_else(|| headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))
}

/// Checks an Open311 post's api_key before its body is read (`web::body_read`), when the key
/// is in the query string or the header: a post with an unknown key, or from an app past its
/// limit, is refused without receiving and holding up to the post limit in memory. `None`:
/// nothing to refuse yet (the key is in the body, or the lookup failed), and the handler checks
/// the key as always.
pub async fn refuse_before_body(st: &AppState, parts: &axum::http::request::Parts) -> Option<Response> {
    if parts.method != Method::POST {
        return None;
    }
    let file = parts.uri.path().strip_prefix("/open311/v2/").filter(|f| !f.contains('/'))?;
    let (_, fmt) = format::split(file)?;
    let key = key_outside_body(parts.uri.query(), &parts.headers)?;
    let limit = clients::post_limit(&key, st.cfg.open311_posts_per_minute);
    let refused = match clients::by_key(&st.db, &key, &limit).await {
        Ok(None) => Fail(StatusCode::FORBIDDEN, vec!["api_key is invalid".into()]),
        Ok(Some((_, true))) => too_many(),
        Ok(Some((_, false))) | Err(_) => return None,
    };
    Some(answer(fmt, Err(refused)))
}

async fn post_root(
    State(st): State<AppState>,
    info: RequestInfo,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    req: axum::extract::Request,
) -> Response {
    let Some((stem, fmt)) = format::split(&file) else {
        return unknown_format();
    };
    let res = async {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (ps, media) = if ct.starts_with("multipart/form-data") {
            multipart_fields(req, st.files.max_bytes).await?
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            use axum::extract::FromRequest;
            let body = Bytes::from_request(req, &()).await.map_err(|_| Fail::bad("malformed form body"))?;
            let ps: Vec<(String, String)> =
                serde_html_form::from_bytes(&body).map_err(|_| Fail::bad("malformed form body"))?;
            (ps, Vec::new())
        } else {
            return Err(Fail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                vec!["post application/x-www-form-urlencoded, or multipart/form-data with a media file".into()],
            ));
        };
        let outside = key_outside_body(query.as_deref(), &headers);
        let Some(key) = param(&ps, "api_key").or(outside.as_deref()) else {
            return Err(Fail(StatusCode::FORBIDDEN, vec!["api_key was not provided".into()]));
        };
        // A new request counts against the app's limit in its own transaction (one commit per
        // post); every other post, and a refused one, counts in a transaction of its own.
        let default = st.cfg.open311_posts_per_minute;
        let (client, full) = clients::by_key(&st.db, key, &clients::post_limit(key, default))
            .await?
            .ok_or_else(|| Fail(StatusCode::FORBIDDEN, vec!["api_key is invalid".into()]))?;
        if full {
            return Err(too_many());
        }
        let limit = client.post_limit(key, default);
        let actor = app_actor(&client, &info);
        let res = if stem == "requests" {
            post_request(&st, &info, fmt, &ps, media, &client, &limit).await
        } else if !limit.hit(&st.db).await? {
            Err(too_many())
        } else if stem == "servicerequestupdates" {
            post_update(&st, &info, fmt, &ps, &actor).await
        } else {
            Err(Fail::not_found(format!("no such resource: {stem}")))
        };
        // A refused request wrote nothing, its hit included: count it on its own.
        if stem == "requests" && res.as_ref().is_err_and(|f| f.0 != StatusCode::TOO_MANY_REQUESTS) {
            limit.hit(&st.db).await?;
        }
        res
    }
    .await;
    answer(fmt, res)
}

/// The fields of a multipart post (the photo-upload extension): text fields as form pairs, and
/// the file in `media`.
async fn multipart_fields(
    req: axum::extract::Request,
    max: usize,
) -> Result<(Vec<(String, String)>, Vec<crate::files::upload::Upload>), Fail> {
    use axum::extract::FromRequest;
    let mp =
        axum::extract::Multipart::from_request(req, &()).await.map_err(|_| Fail::bad("malformed multipart body"))?;
    let (ps, media) = crate::files::upload::read_multipart(mp, max).await.map_err(|e| match e {
        AppError::TooLarge => Fail(StatusCode::PAYLOAD_TOO_LARGE, vec!["the post is too large".into()]),
        AppError::Invalid(_) => Fail::bad("media: too many files"),
        _ => Fail::bad("malformed multipart body"),
    })?;
    if let Some(other) = media.iter().find(|m| m.field != "media") {
        return Err(Fail::bad(format!("unexpected file field {}; send the photo as media", other.field)));
    }
    Ok((ps, media))
}

/// `attribute[code]=v` and `attribute[code][]=v` checked against the service definition.
fn answered_attributes(
    c: &Category,
    ps: &[(String, String)],
) -> Result<serde_json::Map<String, serde_json::Value>, Fail> {
    let defs = attributes_of(c);
    let mut given: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (k, v) in ps {
        if let Some(rest) = k.strip_prefix("attribute[") {
            let code = rest.trim_end_matches("[]").trim_end_matches(']').to_string();
            given.entry(code).or_default().push(v.trim().to_string());
        }
    }
    let mut out = serde_json::Map::new();
    for (code, values) in &given {
        let Some(def) = defs.iter().find(|d| d["code"].as_str() == Some(code)) else {
            return Err(Fail::bad(format!("attribute {code} is not part of service {}", c.code)));
        };
        let keys: Vec<&str> = def["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(|v| v["key"].as_str()).collect())
            .unwrap_or_default();
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        let value = match def["datatype"].as_str().unwrap_or("string") {
            "singlevaluelist" => {
                if values.len() > 1 || values.iter().any(|v| !keys.contains(&v.as_str())) {
                    return Err(Fail::bad(format!("attribute {code}: one of {}", keys.join(", "))));
                }
                values.first().map(|v| serde_json::Value::String((*v).clone()))
            }
            "multivaluelist" => {
                if values.iter().any(|v| !keys.contains(&v.as_str())) {
                    return Err(Fail::bad(format!("attribute {code}: values from {}", keys.join(", "))));
                }
                (!values.is_empty()).then(|| serde_json::json!(values))
            }
            "number" => match values.first() {
                None => None,
                Some(v) => match v.parse::<f64>() {
                    Ok(n) if n.is_finite() => Some(serde_json::json!(n)),
                    _ => return Err(Fail::bad(format!("attribute {code}: a number"))),
                },
            },
            "datetime" => match values.first() {
                None => None,
                Some(v) if DateTime::parse_from_rfc3339(v).is_ok() => Some(serde_json::json!(v)),
                Some(_) => return Err(Fail::bad(format!("attribute {code}: a w3c date and time"))),
            },
            _ => match values.first() {
                Some(v) if v.chars().count() > 500 => {
                    return Err(Fail::bad(format!("attribute {code}: at most 500 characters")));
                }
                v => v.map(|v| serde_json::Value::String((*v).clone())),
            },
        };
        if let Some(v) = value {
            out.insert(code.clone(), v);
        }
    }
    for def in &defs {
        let code = def["code"].as_str().unwrap_or("");
        if def["required"].as_bool() == Some(true) && !out.contains_key(code) {
            return Err(Fail::bad(format!("attribute {code} is required for service {}", c.code)));
        }
    }
    Ok(out)
}

/// Our field names back in the specification's words, for error descriptions.
fn open311_field(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "lon" => "long",
        "address" | "place_id" => "address_string",
        "reporter_name" => "first_name",
        other => other,
    }
}

async fn post_request(
    st: &AppState,
    info: &RequestInfo,
    fmt: Fmt,
    ps: &[(String, String)],
    media: Vec<crate::files::upload::Upload>,
    client: &clients::Client,
    limit: &Limit,
) -> Result<Response, Fail> {
    let actor = &app_actor(client, info);
    let Some(code) = param(ps, "service_code") else {
        return Err(Fail::bad("service_code was not provided"));
    };
    // Read as intake reads it and handed on: one read of the category per post, not two.
    let known = store::intake_category(&st.db, code)
        .await?
        .filter(|c| c.category.active)
        .ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?;
    let category = &known.category;
    let (lat, lon, address) = (param(ps, "lat"), param(ps, "long"), param(ps, "address_string"));
    if lat.is_some() != lon.is_some() {
        return Err(Fail::bad("lat and long go together"));
    }
    if lat.is_none() && address.is_none() {
        return Err(Fail::bad("a location is required: lat and long, or address_string"));
    }
    let mut attributes = answered_attributes(category, ps)?;
    if let Some(url) = param(ps, "media_url") {
        let ok = url.len() <= 1000 && url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(Fail::bad("media_url: an http or https address"));
        }
        attributes.insert("media_url".into(), serde_json::json!(url));
    }
    let name = [param(ps, "last_name"), param(ps, "first_name")].into_iter().flatten().collect::<Vec<_>>().join("");
    let input = IntakeInput {
        category: code.to_string(),
        // The specification makes the description optional; the service name says what it is.
        description: param(ps, "description").unwrap_or(category.name.as_str()).to_string(),
        lat: lat.map(str::to_string),
        lon: lon.map(str::to_string),
        address: address.map(str::to_string),
        reporter_name: Some(name).filter(|n| !n.is_empty()),
        phone: param(ps, "phone").map(str::to_string),
        ..Default::default()
    };
    let tr = Tr(info.lang);
    let mut errors = crate::error::FieldErrors::default();
    let describe = |errors: &crate::error::FieldErrors| {
        errors.0.iter().map(|(f, code)| format!("{}: {}", open311_field(f), tr.t(code))).collect::<Vec<_>>()
    };
    let Some(clean) = validate_intake(&input, false, &mut errors) else {
        return Err(Fail(StatusCode::BAD_REQUEST, describe(&errors)));
    };
    // The photo is checked by content before anything is written (415 for an HTML page named
    // .jpg, 413 over the size limit), then stored with the request in one transaction.
    let photos = crate::files::stage(&st.files, media)
        .await
        .map_err(|(_, rejected)| Fail(rejected.status(), vec![format!("media: {}", tr.t(rejected.code()))]))?;
    let intake = store::Intake {
        channel: Channel::Open311,
        actor,
        staff_scope: None,
        client_id: Some(client.id),
        attributes: serde_json::Value::Object(attributes),
        photos: &photos,
        limit: Some(limit),
        category: Some(&known),
    };
    let result = store::create(&st.db, &st.keys, &intake, &clean).await;
    if result.is_err() {
        crate::files::discard(&st.files, photos).await;
    }
    let created = match result {
        Ok(c) => c,
        Err(AppError::Invalid(errors)) => return Err(Fail(StatusCode::BAD_REQUEST, describe(&errors))),
        Err(AppError::TooMany) => return Err(too_many()),
        Err(e) => {
            tracing::error!(error = ?e, "open311 intake failed");
            return Err(Fail(StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".into()]));
        }
    };
    let rec: Rec = vec![
        ("service_request_id", s(created.request.number.as_str())),
        ("token", s(created.request.id.to_string())),
        ("service_notice", s(format!("expected within {} working days", category.resolve_days))),
        ("account_id", V::Null),
    ];
    Ok(format::list(fmt, StatusCode::CREATED, "service_requests", "request", &[rec]))
}

/// A resident's addition through an app (request-updates extension): a public note.
async fn post_update(
    st: &AppState,
    info: &RequestInfo,
    fmt: Fmt,
    ps: &[(String, String)],
    actor: &Actor,
) -> Result<Response, Fail> {
    let Some(number) = param(ps, "service_request_id") else {
        return Err(Fail::bad("service_request_id was not provided"));
    };
    let r = publication::by_number(&st.db, number)
        .await?
        .ok_or_else(|| Fail::not_found(format!("service_request_id {number} not found")))?;
    let note = param(ps, "description").unwrap_or("");
    match store::public_note(&st.db, actor, r.id, note).await {
        Ok(()) => {}
        Err(AppError::Invalid(errors)) => {
            let tr = Tr(info.lang);
            let msgs = errors.0.iter().map(|(_, code)| format!("description: {}", tr.t(code))).collect();
            return Err(Fail(StatusCode::BAD_REQUEST, msgs));
        }
        Err(e) => {
            tracing::error!(error = ?e, "open311 update failed");
            return Err(Fail(StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".into()]));
        }
    }
    let rec: Rec = vec![("service_request_id", s(r.number.as_str())), ("status", s(r.status().open311()))];
    Ok(format::list(fmt, StatusCode::CREATED, "service_request_updates", "request_update", &[rec]))
}

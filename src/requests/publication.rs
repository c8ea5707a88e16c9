//! What the public reads of requests: the Open311 feed and the resident's tracking page.
//!
//! Nothing a resident or a member of staff typed is public until it is published. A
//! resident's own report (the public page, an Open311 app) is published on intake, because
//! publishing it was the point; a staff intake (phone, counter, API) and anything linked to a
//! resident's record stays internal until the desk publishes it. What is published is never
//! the original: the wording and address are redacted (`crate::redact`: long numbers starred,
//! rooms and units hidden, names cut to a character, the address stopped at the building,
//! coordinates rounded to the building), and the desk can word both by hand — the original
//! stays internal. Event notes follow their writer's choice (`Event::note_public`).
//! Unpublished requests answer the public exactly like numbers that do not exist.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::Channel;
use super::store::{Event, REQUEST_COLS, REQUEST_FROM, Request, Viewer};
use crate::audit::{self, Actor, Entry};
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::error::{AppError, FieldErrors};
use crate::write;

/// Longest public wording and address staff may write.
const MAX_TEXT: usize = super::model::MAX_DESCRIPTION;
const MAX_ADDRESS: usize = 200;

/// Whether a new request is public from the start: a resident's own report about a place,
/// not a staff intake and not one linked to somebody's record.
pub fn published_on_intake(channel: Channel, person: Option<Uuid>) -> bool {
    matches!(channel, Channel::Web | Channel::Open311) && person.is_none()
}

impl Request {
    /// The description as the public reads it: the desk's wording with phone and ID numbers
    /// starred, or the original redacted in full, with the reporter's and the linked
    /// resident's names (`linked`, see [`linked_names`]) cut to a character.
    pub fn public_wording(&self, linked: Option<&str>) -> String {
        match self.public_text.as_deref() {
            Some(worded) => crate::redact::numbers(worded),
            None => crate::redact::text(&self.description, &self.names(linked)),
        }
    }

    /// The names the public must not read in this request's texts.
    pub fn names<'a>(&'a self, linked: Option<&'a str>) -> Vec<&'a str> {
        self.reporter_name.as_deref().into_iter().chain(linked).collect()
    }

    /// The address as the public reads it: the building, no further, without the reporter's
    /// or the linked resident's name.
    pub fn public_place(&self, linked: Option<&str>) -> String {
        crate::redact::address(self.public_address.as_deref().unwrap_or(&self.address), &self.names(linked))
    }

    /// Coordinates as the public reads them.
    pub fn public_coords(&self) -> Option<(f64, f64)> {
        Some((crate::redact::coordinate(self.lat?), crate::redact::coordinate(self.lon?)))
    }
}

/// The desk's change to what the public reads of a request. A field left out keeps its value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicationInput {
    /// The version read (or send `If-Match`).
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub published: Option<bool>,
    /// The public wording; empty to derive it from the description again.
    #[serde(default)]
    pub public_text: Option<String>,
    /// The public address; empty to derive it from the address again.
    #[serde(default)]
    pub public_address: Option<String>,
}

/// Publishes or withdraws a request and sets its public wording, checked against the row's
/// version; audited, and on the timeline for staff.
pub async fn publish(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    version: i64,
    input: &PublicationInput,
) -> Result<(), AppError> {
    let r = super::store::get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let published = input.published.unwrap_or(r.published);
    let text = input.public_text.as_deref().map_or(r.public_text.as_deref().unwrap_or_default(), str::trim);
    let address = input.public_address.as_deref().map_or(r.public_address.as_deref().unwrap_or_default(), str::trim);
    let mut errors = FieldErrors::default();
    if text.chars().count() > MAX_TEXT {
        errors.add("public_text", "error.too_long");
    }
    if address.chars().count() > MAX_ADDRESS {
        errors.add("public_address", "error.too_long");
    }
    errors.into_result()?;
    if r.version != version {
        return Err(AppError::Stale);
    }
    let (text, address) = ((!text.is_empty()).then_some(text), (!address.is_empty()).then_some(address));
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| sqlx::query(
        "UPDATE requests SET published = $1, public_text = $2, public_address = $3, version = version + 1,
            updated_at = $4, updated_by = $5
         WHERE id = $6 AND version = $7"
    )
    .bind(published)
    .bind(text)
    .bind(address)
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    let kind = match (r.published, published) {
        (false, true) => "published",
        (true, false) => "unpublished",
        _ => "public_wording",
    };
    super::store::staff_event(&mut tx, id, kind, actor, now).await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "request.publication",
            entity: "request",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({
                "published": published,
                "public_text": text.is_some(),
                "public_address": address.is_some(),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Takes an event's note back from the public; returns the request's id. The event itself
/// stays public (the resident still sees that it happened). Audited.
pub async fn withdraw_note(db: &Db, viewer: &Viewer, actor: &Actor, event: Uuid) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT request_id FROM request_events WHERE id = {}", args.push(event));
    let request = query::optional::<(Uuid,)>(db, &sql, &args).await?.ok_or(AppError::NotFound)?.0;
    let r = super::store::get(db, viewer, request).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| sqlx::query(
        "UPDATE request_events SET note_public = FALSE WHERE id = $1 AND request_id = $2 AND note_public"
    )
    .bind(event)
    .bind(request)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 1 {
        audit::record(
            &mut tx,
            actor,
            Entry {
                action: "request.note_withdrawn",
                entity: "request",
                entity_id: Some(request.to_string()),
                detail: serde_json::json!({ "event": event }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(request)
}

// ---- the public feed (Open311) ----------------------------------------------------------------

/// What anyone may ask of the public request list (Open311 GET requests).
#[derive(Debug, Clone, Default)]
pub struct PublicFilter {
    pub numbers: Vec<String>,
    pub categories: Vec<String>,
    pub statuses: Vec<super::model::Status>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Published requests by the public filter, newest first. Numbers, when given, override the
/// rest (as the Open311 specification says); an unpublished number is simply not there.
pub async fn list(db: &Db, f: &PublicFilter, limit: i64, offset: i64) -> Result<Vec<Request>, sqlx::Error> {
    let mut args = Args::new();
    let mut wh = vec!["r.published".to_string()];
    if !f.numbers.is_empty() {
        wh.push(format!("r.number IN ({})", args.list(&f.numbers)));
    } else {
        if let Some(from) = f.from {
            wh.push(format!("r.created_at >= {}", args.push(from)));
        }
        if let Some(to) = f.to {
            wh.push(format!("r.created_at <= {}", args.push(to)));
        }
        if !f.categories.is_empty() {
            wh.push(format!("r.category IN ({})", args.list(&f.categories)));
        }
        if !f.statuses.is_empty() {
            let s: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
            wh.push(format!("r.status IN ({})", args.list(&s)));
        }
    }
    let sql = format!(
        "SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE {} ORDER BY r.created_at DESC, r.id LIMIT {} OFFSET {}",
        wh.join(" AND "),
        args.push(limit),
        args.push(offset)
    );
    query::all(db, &sql, &args).await
}

/// How far around a resident's point the report page looks for the same problem, in metres.
pub const NEARBY_M: f64 = 300.0;

/// Open published requests within `NEARBY_M` of `point`, nearest first, at most `limit`:
/// what a resident about to report sees, so as not to report the same thing twice. Read in
/// their public form only (`extras`); the box is read in SQL, the circle in Rust.
pub async fn nearby(db: &Db, point: (f64, f64), limit: usize) -> Result<Vec<(Request, f64)>, sqlx::Error> {
    // ~0.003° of latitude is 330 m; longitude degrees are shorter by cos(lat).
    let dlat = NEARBY_M / 111_000.0;
    let dlon = dlat / point.0.to_radians().cos().abs().max(0.1);
    // The open statuses (`Status::is_open`), as codes.
    let sql = format!(
        "SELECT {REQUEST_COLS} {REQUEST_FROM}
         WHERE r.published AND r.status IN ('accepted', 'dispatched', 'in_progress')
           AND r.lat BETWEEN $1 AND $2 AND r.lon BETWEEN $3 AND $4
         ORDER BY r.created_at DESC, r.id LIMIT 200"
    );
    let rows: Vec<Request> = crate::read!(db, |c| sqlx::query_as(&sql)
        .bind(point.0 - dlat)
        .bind(point.0 + dlat)
        .bind(point.1 - dlon)
        .bind(point.1 + dlon)
        .fetch_all(c)
        .await)?;
    // Distances from the point as published (rounded to about ten metres), never the stored
    // one: an anonymous caller moving its own point could otherwise find where "0 m" or the
    // edge of the circle falls and recover a reporter's exact position.
    let mut near: Vec<(Request, f64)> = rows
        .into_iter()
        .filter_map(|r| {
            let d = crate::org::geo::distance_m(point, r.public_coords()?);
            (d <= NEARBY_M).then_some((r, d))
        })
        .collect();
    near.sort_by(|a, b| a.1.total_cmp(&b.1));
    near.truncate(limit);
    Ok(near)
}

/// The names of the residents linked to `rows`, by request: their names are taken out of
/// what the public reads of those requests.
pub async fn linked_names(db: &Db, rows: &[Request]) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let people: Vec<Uuid> = rows.iter().filter_map(|r| r.person_id).collect();
    if people.is_empty() {
        return Ok(HashMap::new());
    }
    let mut args = Args::new();
    let sql = format!("SELECT id, name FROM persons WHERE id IN ({})", args.list(&people));
    let names: HashMap<Uuid, String> = query::all::<(Uuid, String)>(db, &sql, &args).await?.into_iter().collect();
    Ok(rows.iter().filter_map(|r| Some((r.id, names.get(&r.person_id?)?.clone()))).collect())
}

/// The name of the resident linked to `r`, if any (see [`linked_names`]).
pub async fn linked_name(db: &Db, r: &Request) -> Result<Option<String>, sqlx::Error> {
    Ok(linked_names(db, std::slice::from_ref(r)).await?.remove(&r.id))
}

/// A published request by its id (an Open311 token).
pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.id = {} AND r.published", args.push(id));
    query::optional(db, &sql, &args).await
}

/// A published request by its number (an Open311 app adding to it).
pub async fn by_number(db: &Db, number: &str) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.number = {} AND r.published", args.push(number.trim()));
    query::optional(db, &sql, &args).await
}

/// What the public reads of a request beside its row.
#[derive(Debug, Default)]
pub struct Extras {
    /// The units handling it (agency_responsible).
    pub units: Vec<String>,
    /// The latest note meant for the public, redacted.
    pub note: Option<String>,
    /// The latest step the public reads, and its note when that is public (redacted): the
    /// request's status note ([`status_note`]).
    pub latest: Option<(Event, Option<String>)>,
    /// Its wording as the public reads it.
    pub wording: String,
    /// Its address as the public reads it.
    pub place: String,
}

/// For a page of published requests: what the public reads beside each row.
pub async fn extras(db: &Db, rows: &[Request]) -> Result<HashMap<Uuid, Extras>, sqlx::Error> {
    let linked = linked_names(db, rows).await?;
    let mut out: HashMap<Uuid, Extras> = rows
        .iter()
        .map(|r| {
            let linked = linked.get(&r.id).map(String::as_str);
            let (wording, place) = (r.public_wording(linked), r.public_place(linked));
            (r.id, Extras { wording, place, ..Default::default() })
        })
        .collect();
    if rows.is_empty() {
        return Ok(out);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut args = Args::new();
    let sql = format!(
        "SELECT request_id, unit_name FROM request_parts WHERE request_id IN ({}) AND status IN ('dispatched', 'signed', 'resolved')
         ORDER BY created_at",
        args.list(&ids)
    );
    for (id, unit) in query::all::<(Uuid, String)>(db, &sql, &args).await? {
        out.entry(id).or_default().units.push(unit);
    }
    // Every public step of the page's requests, oldest first: the last one is the status note,
    // the last public note the latest note.
    let mut args = Args::new();
    let sql = format!(
        "SELECT request_id, id, part_id, kind, from_status, to_status, note, detail, public, note_public, at, actor_name
         FROM request_events WHERE request_id IN ({}) AND public ORDER BY at, id",
        args.list(&ids)
    );
    #[derive(sqlx::FromRow)]
    struct Row {
        request_id: Uuid,
        #[sqlx(flatten)]
        event: Event,
    }
    for Row { request_id: id, event } in query::all::<Row>(db, &sql, &args).await? {
        let names = rows.iter().find(|r| r.id == id).map(|r| r.names(linked.get(&r.id).map(String::as_str)));
        let note = event.public_note(&names.unwrap_or_default());
        let entry = out.entry(id).or_default();
        if note.is_some() {
            entry.note.clone_from(&note);
        }
        entry.latest = Some((event, note));
    }
    Ok(out)
}

/// A step as the public reads it, in words, in the reader's language: what happened (a unit's
/// name where one acted), and the note its writer made public. Never an internal note, never
/// a code (the accepted step's note is the channel it came by).
pub fn status_note(tr: crate::i18n::Tr, e: &Event, public_note: Option<&str>) -> String {
    let text = if e.kind == "accepted" { tr.t("request_event.accepted") } else { super::pages::event_text(tr, e) };
    match public_note {
        Some(n) => format!("{text}{}{n}", tr.t("request.note_separator")),
        None => text,
    }
}

/// One public timeline entry of the request-updates extension.
pub struct Update {
    pub event: Event,
    pub number: String,
    /// The request's status now.
    pub status: String,
    pub reporter_name: Option<String>,
    /// The linked resident's name.
    pub linked_name: Option<String>,
}

impl Update {
    /// The names the public must not read in this update's note.
    pub fn names(&self) -> Vec<&str> {
        self.reporter_name.as_deref().into_iter().chain(self.linked_name.as_deref()).collect()
    }
}

/// Public timeline entries of published requests in a period, oldest first (the Open311
/// request-updates extension).
pub async fn updates(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Update>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT e.id, e.part_id, e.kind, e.from_status, e.to_status, e.note, e.detail, e.public, e.note_public, e.at,
                e.actor_name, r.number, r.status, r.reporter_name, p.name AS linked_name
         FROM request_events e JOIN requests r ON r.id = e.request_id LEFT JOIN persons p ON p.id = r.person_id
         WHERE e.public AND r.published AND e.at >= {} AND e.at <= {} ORDER BY e.at, e.id LIMIT {} OFFSET {}",
        args.push(from),
        args.push(to),
        args.push(limit),
        args.push(offset)
    );
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        event: Event,
        number: String,
        status: String,
        reporter_name: Option<String>,
        linked_name: Option<String>,
    }
    Ok(query::all::<Row>(db, &sql, &args)
        .await?
        .into_iter()
        .map(|r| Update {
            event: r.event,
            number: r.number,
            status: r.status,
            reporter_name: r.reporter_name,
            linked_name: r.linked_name,
        })
        .collect())
}

/// On a person's anonymisation: their name leaves the requests linked to them (what the
/// resident typed, the desk's public wording, the notes), and the reporter's name and phone go
/// where the reporter was that person. The public wording of such a request was redacted with
/// the linked name; once the person is anonymous that name is no longer known, so it must not
/// survive in the text either. Runs in the anonymisation's transaction, before the person's own
/// phone is cleared.
pub async fn forget_person(tx: &mut crate::db::Tx, person: Uuid, name: &str) -> Result<(), sqlx::Error> {
    const GONE: &str = "(已匿名)";
    write!(&mut *tx, |c| {
        sqlx::query(
        "UPDATE requests SET
            phone_sealed = CASE WHEN phone_hash = (SELECT phone_hash FROM persons WHERE id = $1) THEN NULL ELSE phone_sealed END,
            phone_masked = CASE WHEN phone_hash = (SELECT phone_hash FROM persons WHERE id = $1) THEN NULL ELSE phone_masked END,
            phone_hash = CASE WHEN phone_hash = (SELECT phone_hash FROM persons WHERE id = $1) THEN NULL ELSE phone_hash END,
            version = version + 1
         WHERE person_id = $1"
    )
    .bind(person)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    // The texts in Rust, not with SQL's REPLACE: the name is found however it was written
    // (padded, with invisible characters between), as the public redaction finds it.
    type Texts = (Uuid, String, String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Texts> = write!(&mut *tx, |c| {
        sqlx::query_as(
        "SELECT id, description, address, public_text, public_address, reporter_name FROM requests WHERE person_id = $1"
    )
    .bind(person)
    .fetch_all(c)
    .await
    })?;
    let gone = |t: &str| crate::redact::replace_name(t, name, GONE);
    for (id, description, address, public_text, public_address, reporter) in rows {
        // The reporter's name goes when it was the person's, however it was written.
        let reporter = reporter.filter(|r| !crate::redact::replace_name(r, name, "").trim().is_empty());
        write!(&mut *tx, |c| {
            sqlx::query(
            "UPDATE requests SET description = $1, address = $2, public_text = $3, public_address = $4, reporter_name = $6
             WHERE id = $5"
        )
        .bind(gone(&description))
        .bind(gone(&address))
        .bind(public_text.as_deref().map(gone))
        .bind(public_address.as_deref().map(gone))
        .bind(id)
        .bind(reporter)
        .execute(c)
        .await
        .map(|_| ())
        })?;
        // The name must not stay findable in the index either.
        crate::search::reindex_text(&mut *tx, "request", id).await?;
    }
    let notes: Vec<(Uuid, String)> = write!(&mut *tx, |c| sqlx::query_as(
        "SELECT id, note FROM request_events
         WHERE note IS NOT NULL AND request_id IN (SELECT id FROM requests WHERE person_id = $1)"
    )
    .bind(person)
    .fetch_all(c)
    .await)?;
    for (id, note) in notes {
        let changed = gone(&note);
        if changed != note {
            write!(&mut *tx, |c| sqlx::query("UPDATE request_events SET note = $1 WHERE id = $2")
                .bind(changed)
                .bind(id)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
    }
    Ok(())
}

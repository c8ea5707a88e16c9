//! Reading requests: one record in scope, the queues with their filters, parts, the timeline,
//! pending extensions and duplicates.

use super::*;
use crate::search::TextQuery;

// ---- reading ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Request {
    pub id: Uuid,
    pub number: String,
    pub category: String,
    pub category_name: String,
    pub channel: String,
    pub description: String,
    pub place_id: Uuid,
    pub place_name: String,
    pub path: String,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub reporter_name: Option<String>,
    pub phone_masked: Option<String>,
    pub person_id: Option<Uuid>,
    pub attributes: String,
    pub status: String,
    pub owner_path: String,
    pub response_due: DateTime<Utc>,
    pub resolve_due: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub escalation: i64,
    pub satisfaction: Option<String>,
    pub merged_into: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Shown on Open311 and the public feed (see [`super::publication`]).
    pub published: bool,
    /// The public wording as staff wrote it; None while it is derived from the description.
    pub public_text: Option<String>,
    /// The public address as staff wrote it; None while it is derived from the address.
    pub public_address: Option<String>,
}

impl Request {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Accepted)
    }
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status().is_open() && self.resolve_due < now
    }
}

pub(in crate::requests) const REQUEST_COLS: &str = "r.id, r.number, r.category, c.name AS category_name, r.channel, r.description, r.place_id, pl.name AS place_name,
    r.path, r.estate_id, r.building, r.address, r.lat, r.lon, r.reporter_name, r.phone_masked, r.person_id, r.attributes, r.status,
    r.owner_path, r.response_due, r.resolve_due, r.responded_at, r.resolved_at, r.closed_at, r.escalation, r.satisfaction,
    r.merged_into, r.version, r.created_at, r.updated_at, r.published, r.public_text, r.public_address";
macro_rules! request_joins {
    () => {
        "JOIN request_categories c ON c.code = r.category JOIN places pl ON pl.id = r.place_id"
    };
}
pub(in crate::requests) const REQUEST_FROM: &str = concat!("FROM requests r ", request_joins!());

/// `requests r` for the open requests past due (the overdue queue, the sweep). SQLite, which
/// has no statistics here, otherwise takes the (status, created_at) index for the `status IN
/// (…)` and sorts every open request; at a million requests that was 90–240 ms a page. Naming
/// the partial index reads them in due order and stops at the page. PostgreSQL's statistics
/// choose it unaided.
pub fn open_due_requests(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => "requests r INDEXED BY requests_open_due",
        Backend::Postgres => "requests r",
    }
}

/// `requests r` for the requests resolved and waiting for their callback, read from their own
/// index in the queue's order (SQLite took the status index and sorted every one of them).
fn resolved_requests(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => "requests r INDEXED BY requests_resolved",
        Backend::Postgres => "requests r",
    }
}

pub async fn get(db: &Db, viewer: &Viewer, id: Uuid) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.id = {} AND {}", args.push(id), viewer.sees(&mut args));
    query::optional(db, &sql, &args).await
}

pub async fn by_tracking_code(db: &Db, code: &str) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.tracking_hash = {}", args.push(tracking_hash(code)));
    query::optional(db, &sql, &args).await
}

pub async fn by_number(db: &Db, number: &str) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.number = {}", args.push(number.trim()));
    query::optional(db, &sql, &args).await
}

crate::code_enum!(
    /// The queues of the request screens: 待派单, my unit's work, everything in my area,
    /// overdue, awaiting callback.
    Queue, "request_queue", [
    Dispatch = "dispatch",
    Mine = "mine",
    Area = "area",
    Overdue = "overdue",
    Callback = "callback",
]);

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub category: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub ids: Option<Vec<Uuid>>,
    /// Requests linked to this person (the person timeline).
    pub person: Option<Uuid>,
    /// Not yet closed (nor merged).
    pub open: bool,
    /// With coordinates (the map).
    pub located: bool,
    /// Words in the text (description, address, category), as `search::text_query` reads them.
    pub text: Option<String>,
}

/// Queue totals are counted up to this many; a larger total reads as "more than".
pub const LIST_COUNT_CAP: i64 = 2000;

/// One page of a queue, newest first (overdue: soonest due first), and the total (at most
/// [`LIST_COUNT_CAP`] + 1: an exact count of a district's million requests would read them all).
pub async fn list(
    db: &Db,
    viewer: &Viewer,
    queue: Queue,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Request>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh: Vec<String> = Vec::new();
    let mut order = "r.created_at DESC, r.id DESC";
    let mut from = "requests r";
    let mut area = None;
    match queue {
        // A department reads requests only through its parts, whatever its places say: its
        // place binding (often the whole district) is where it works, not what it may read.
        Queue::Dispatch | Queue::Callback if viewer.role == Role::DepartmentHandler => {
            let status = if queue == Queue::Dispatch { "accepted" } else { "resolved" };
            wh.push(format!("r.status = '{status}'"));
            wh.push(viewer.sees(&mut args));
        }
        Queue::Dispatch => {
            wh.push("r.status = 'accepted'".into());
            wh.push(args.scope("r.owner_path", &viewer.scope));
        }
        Queue::Mine => {
            let unit = if viewer.role == Role::DepartmentHandler {
                format!("mp.unit_kind = 'org' AND mp.unit_id = {}", args.push(viewer.org.unwrap_or(Uuid::nil())))
            } else {
                format!("mp.unit_kind = 'place' AND {}", args.scope("mp.unit_path", &viewer.scope))
            };
            wh.push(format!(
                "r.id IN (SELECT mp.request_id FROM request_parts mp WHERE {unit} AND mp.status IN ('dispatched', 'signed'))"
            ));
            order = "r.resolve_due, r.id";
        }
        Queue::Area => {
            let a = viewer.area(&mut args);
            wh.push(a.page_predicate(db.backend()));
            area = Some(a);
        }
        Queue::Overdue => {
            wh.push("r.status IN ('accepted', 'dispatched', 'in_progress')".into());
            wh.push(format!("r.resolve_due < {}", args.push(Utc::now())));
            wh.push(viewer.owes(&mut args));
            order = "r.resolve_due, r.id";
            from = open_due_requests(db);
        }
        Queue::Callback => {
            wh.push("r.status = 'resolved'".into());
            from = resolved_requests(db);
            let a = args.scope("r.path", &viewer.scope);
            let b = args.scope("r.owner_path", &viewer.scope);
            wh.push(format!("({a} OR {b})"));
            order = "r.resolved_at, r.id";
        }
    }
    if let Some(s) = filter.status {
        wh.push(format!("r.status = {}", args.push(s.as_str())));
    }
    if let Some(c) = &filter.category {
        wh.push(format!("r.category = {}", args.push(c.as_str())));
    }
    if let Some(t) = filter.since {
        wh.push(format!("r.created_at >= {}", args.push(t)));
    }
    if let Some(t) = filter.until {
        wh.push(format!("r.created_at <= {}", args.push(t)));
    }
    if let Some(p) = filter.person {
        wh.push(format!("r.person_id = {}", args.push(p)));
    }
    if filter.open {
        wh.push("r.status IN ('accepted', 'dispatched', 'in_progress', 'resolved')".into());
    }
    if filter.located {
        wh.push("r.lat IS NOT NULL AND r.lon IS NOT NULL".into());
    }
    if let Some(ids) = &filter.ids {
        if ids.is_empty() {
            return Ok((Vec::new(), 0));
        }
        wh.push(format!("r.id IN ({})", args.list(ids)));
    }
    // A word in the text. The area queue, newest first and otherwise unfiltered by anything as
    // narrow as a status, walks the word's index rows newest first and stops at its page
    // (`search::TextQuery::Walk`). A queue already narrowed to a few requests (waiting for
    // dispatch, overdue, a status, a person) reads those and probes the word's index for each.
    let mut walk = None;
    if let Some(q) = filter.text.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let walks = queue == Queue::Area && filter.status.is_none() && filter.person.is_none() && filter.ids.is_none();
        match crate::search::text_query("request", q, &mut args) {
            TextQuery::Nothing => return Ok((Vec::new(), 0)),
            TextQuery::Walk(cond) if walks => walk = Some(cond),
            TextQuery::Walk(cond) => {
                wh.push(format!("EXISTS (SELECT 1 FROM search_terms s WHERE {cond} AND s.entity_id = r.id)"))
            }
            TextQuery::Ids(ids) => wh.push(format!("r.id IN ({ids})")),
        }
    }
    let where_ = wh.join(" AND ");
    // The area's own test is wh[0]; the rest are the filters.
    let counted = match (&area, &walk) {
        (Some(a), Some(cond)) => {
            let located = args.scope("s.path", &viewer.scope);
            a.count_words(cond, &located, &wh[1..].join(" AND "), LIST_COUNT_CAP)
        }
        (Some(a), None) => {
            let key = match db.backend() {
                Backend::Sqlite => "r.rowid",
                Backend::Postgres => "r.id",
            };
            a.count(key, &wh[1..].join(" AND "), LIST_COUNT_CAP)
        }
        (None, _) => query::capped_count(&format!("SELECT 1 FROM {from} WHERE {where_}"), LIST_COUNT_CAP),
    };
    let select = match &walk {
        // The record id is the intake order (UUIDv7), which the walk reads in; a backend left
        // to choose would otherwise sort every match by `created_at` first. SQLite's CROSS
        // JOIN keeps the term index outermost.
        Some(cond) => format!(
            "SELECT {REQUEST_COLS} FROM search_terms s CROSS JOIN {from} {} WHERE r.id = s.entity_id AND {cond} AND {where_}
             ORDER BY s.entity_id DESC",
            request_joins!()
        ),
        None => format!("SELECT {REQUEST_COLS} FROM {from} {} WHERE {where_} ORDER BY {order}", request_joins!()),
    };
    query::page_counted(db, &select, &counted, &args, limit, offset).await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Part {
    pub id: Uuid,
    pub request_id: Uuid,
    pub unit_kind: String,
    pub unit_id: Uuid,
    pub unit_name: String,
    pub unit_path: String,
    pub status: String,
    pub due: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub version: i64,
}

impl Part {
    pub fn status(&self) -> PartStatus {
        PartStatus::parse(&self.status).unwrap_or(PartStatus::Withdrawn)
    }
}

pub(super) const PART_COLS: &str = "id, request_id, unit_kind, unit_id, unit_name, unit_path, status, due, signed_at, resolved_at, resolution, version";

pub async fn parts(db: &Db, request: Uuid) -> Result<Vec<Part>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {PART_COLS} FROM request_parts WHERE request_id = {} ORDER BY created_at", args.push(request));
    query::all(db, &sql, &args).await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub part_id: Option<Uuid>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    pub detail: String,
    pub public: bool,
    /// The note is shown with the event where the public reads it.
    pub note_public: bool,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    /// The staff account that acted (none for residents and the system); screens show its
    /// holder's name.
    /// Absent from reads that do not select it (the public's, which name no staff).
    #[serde(skip)]
    #[sqlx(default)]
    pub actor_id: Option<Uuid>,
}

impl Event {
    /// The note as the public may read it: only a note meant for the public, redacted.
    pub fn public_note(&self, names: &[&str]) -> Option<String> {
        // The accepted step's note is the channel's code, never a note.
        self.note
            .as_deref()
            .filter(|_| self.public && self.note_public && self.kind != "accepted")
            .map(|n| crate::redact::text(n, names))
    }
}

/// The timeline, oldest first; `public_only` for the resident and Open311.
pub async fn events(db: &Db, request: Uuid, public_only: bool) -> Result<Vec<Event>, sqlx::Error> {
    let mut args = Args::new();
    let public = if public_only { " AND public" } else { "" };
    let sql = format!(
        "SELECT id, part_id, kind, from_status, to_status, note, detail, public, note_public, at, actor_name, actor_id FROM request_events
         WHERE request_id = {}{public} ORDER BY at, id",
        args.push(request)
    );
    query::all(db, &sql, &args).await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Extension {
    pub id: Uuid,
    pub part_id: Uuid,
    pub days: i64,
    pub reason: String,
    pub status: String,
    pub requested_at: DateTime<Utc>,
}

pub async fn pending_extensions(db: &Db, request: Uuid) -> Result<Vec<Extension>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, part_id, days, reason, status, requested_at FROM request_extensions WHERE request_id = {} AND status = 'pending'
         ORDER BY requested_at",
        args.push(request)
    );
    query::all(db, &sql, &args).await
}

/// Open requests of the same category at the same estate and building within `days`: offered
/// for merging at dispatch.
pub async fn duplicates(db: &Db, viewer: &Viewer, r: &Request, days: i64) -> Result<Vec<Request>, sqlx::Error> {
    let Some(estate) = r.estate_id else { return Ok(Vec::new()) };
    let mut args = Args::new();
    let mut sql = format!(
        "SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.estate_id = {} AND r.category = {} AND r.created_at >= {} AND r.id <> {}
         AND r.status IN ('accepted', 'dispatched', 'in_progress')",
        args.push(estate),
        args.push(r.category.as_str()),
        args.push(r.created_at - Duration::days(days)),
        args.push(r.id),
    );
    if let Some(b) = &r.building {
        sql.push_str(&format!(" AND r.building = {}", args.push(b.as_str())));
    }
    sql.push_str(&format!(" AND {} ORDER BY r.created_at LIMIT 10", viewer.sees(&mut args)));
    query::all(db, &sql, &args).await
}

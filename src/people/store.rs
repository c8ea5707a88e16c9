//! All SQL of people: persons, households, tags, reveals. Reads filter by the caller's scope
//! (the path of the community or grid the person lives in) inside the query.

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::model::*;
use crate::audit::{self, Actor, Entry};
use crate::auth::Scope;
use crate::crypto::Keyring;
use crate::db::query::{self, Args};
use crate::db::{Backend, Db, Tx};
use crate::error::{AppError, FieldErrors};
use crate::org::model::PlaceKind;
use crate::{read, write};

pub const PERSON_COLS: &str = "p.id, p.name, p.sex, p.birth_date, p.id_masked, p.phone_masked, p.place_id, pl.name AS place_name, p.path, p.estate_id, e.name AS estate_name, p.building, p.unit, p.room, p.household_id, p.relation, p.merged_into, p.version, p.updated_at";
pub const PERSON_FROM: &str =
    "FROM persons p JOIN places pl ON pl.id = p.place_id LEFT JOIN estates e ON e.id = p.estate_id";

/// Shanghai's calendar date: ages, due dates and "today" on screen follow it.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonFilter {
    /// A street, community or grid: people living there.
    pub place_id: Option<Uuid>,
    /// A vulnerable-group tag in force today.
    pub tag: Option<String>,
    /// Only people with at least one case (clients).
    pub clients: Option<bool>,
    /// Name (Chinese, pinyin or initials).
    pub q: Option<String>,
    /// Pages pass it here; the API's `page` is `PageParams`'.
    #[param(ignore)]
    pub page: Option<i64>,
}

/// SQL true when the person `alias` (a `persons` row) is visible in the scope. Most callers see
/// the people living in their places. A station (`Scope::casework`) sees a person through the
/// cases: the people living in its places, except those another station serves with an open
/// case (a transfer took them there) while it holds none of theirs; and everyone it holds a
/// case of, open or closed, wherever they live, so the history of its cases stays readable with
/// their client. A closed case elsewhere hides nobody: once the receiving station closes it,
/// the client's home station serves and registers them again. Both exceptions come from the
/// cases alone (`cases.path`, `cases.person_path`) and are few, so the residents are still found
/// by their path.
pub fn visible(backend: Backend, alias: &str, scope: &Scope, args: &mut Args) -> String {
    let lives_here = args.scope(&format!("{alias}.path"), scope);
    if !scope.casework {
        return lives_here;
    }
    let served_elsewhere = format!(
        "SELECT xc.person_id FROM cases xc WHERE {} AND NOT ({}) AND xc.status <> 'closed'
           AND NOT EXISTS (SELECT 1 FROM cases hc WHERE hc.person_id = xc.person_id AND {})",
        args.scope("xc.person_path", scope),
        args.scope("xc.path", scope),
        args.scope("hc.path", scope)
    );
    let moved_in = moved_in(scope, args);
    format!(
        "(({lives_here} AND {alias}.id NOT IN ({served_elsewhere})) OR {})",
        crate::db::id_in(backend, &format!("{alias}.id"), &moved_in)
    )
}

/// As [`visible`], tested person by person: for reads anchored on a few people (one id, a
/// household, a name and birth date). The set form reads each exception set whole, the cases
/// of every client living in the scope and of every client the scope's stations hold, and a
/// large station holds tens of thousands: 15–18 ms on PostgreSQL for one person's page at 1M
/// residents (benches/ceiling.rs), where probing that person's own cases takes microseconds.
/// The same people: `NOT IN` over case rows whose `person_id` is never null is `NOT EXISTS`.
/// Lists keep the set form, which lets the residents be found by their path.
pub fn visible_each(alias: &str, scope: &Scope, args: &mut Args) -> String {
    let lives_here = args.scope(&format!("{alias}.path"), scope);
    if !scope.casework {
        return lives_here;
    }
    let served_elsewhere = format!(
        "SELECT 1 FROM cases xc WHERE xc.person_id = {alias}.id AND {} AND NOT ({}) AND xc.status <> 'closed'
           AND NOT EXISTS (SELECT 1 FROM cases hc WHERE hc.person_id = xc.person_id AND {})",
        args.scope("xc.person_path", scope),
        args.scope("xc.path", scope),
        args.scope("hc.path", scope)
    );
    let moved_in = format!(
        "SELECT 1 FROM cases yc WHERE yc.person_id = {alias}.id AND {} AND NOT ({})",
        args.scope("yc.path", scope),
        args.scope("yc.person_path", scope)
    );
    format!("(({lives_here} AND NOT EXISTS ({served_elsewhere})) OR EXISTS ({moved_in}))")
}

/// The ids of the people living outside the scope whose case, open or closed, a station in it
/// holds.
pub fn moved_in(scope: &Scope, args: &mut Args) -> String {
    format!(
        "SELECT yc.person_id FROM cases yc WHERE {} AND NOT ({})",
        args.scope("yc.path", scope),
        args.scope("yc.person_path", scope)
    )
}

pub async fn list(
    db: &Db,
    scope: &Scope,
    f: &PersonFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Person>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh = format!("{} AND p.merged_into IS NULL", visible(db.backend(), "p", scope, &mut args));
    if let Some(pid) = f.place_id {
        // The chosen place's subtree, intersected with the scope above.
        let Some(place) = crate::org::store::get_place(db, scope, pid).await? else {
            return Ok((Vec::new(), 0));
        };
        let end = crate::scope::subtree_end(&place.path);
        wh.push_str(&format!(" AND p.path >= {} AND p.path < {}", args.push(place.path), args.push(end)));
    }
    let clients = f.clients == Some(true);
    if let Some(tag) = f.tag.as_deref().and_then(Tag::parse) {
        // `IN`, not a correlated EXISTS: the query starts from the tag's holders (index-only, on
        // person_tags_current) instead of visiting everyone in the area, and a client filter
        // rides along so only tagged clients are looked up (benches/casework.rs, query a).
        let cases = if clients { " AND EXISTS (SELECT 1 FROM cases c WHERE c.person_id = t.person_id)" } else { "" };
        wh.push_str(&format!(
            " AND p.id IN (SELECT t.person_id FROM person_tags t WHERE t.tag = {} AND t.starts_on <= {d} AND (t.ends_on IS NULL OR t.ends_on >= {d}){cases})",
            args.push(tag.as_str()),
            d = args.push_date(today()),
        ));
    } else if clients {
        wh.push_str(" AND EXISTS (SELECT 1 FROM cases c WHERE c.person_id = p.id)");
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        return ranked(db, scope, q, &wh, args, limit, offset).await;
    }
    let bounded = f.tag.as_deref().and_then(Tag::parse).is_some();
    if bounded {
        // Starting from a tag's holders or the search hits, the matches are found as a whole
        // set (the total needs all of them anyway): find them once, then count them and take
        // the page's ids from the same set, in one statement. Two statements found the set
        // twice (SQLite), or walked persons_id_path down from the newest id for the page, past
        // every row deleted since the last vacuum (PostgreSQL); benches/casework.rs, query a.
        let mut paged = args.clone();
        let select = format!(
            "WITH m AS MATERIALIZED (SELECT p.id FROM persons p WHERE {wh})
             SELECT {PERSON_COLS}, (SELECT COUNT(*) FROM m) AS total {PERSON_FROM}
             WHERE p.id IN (SELECT id FROM m ORDER BY id DESC LIMIT {} OFFSET {}) ORDER BY p.id DESC",
            paged.push(limit),
            paged.push(offset)
        );
        let rows: Vec<Counted> = query::all(db, &select, &paged).await?;
        if let Some(total) = rows.first().map(|r| r.total) {
            return Ok((rows.into_iter().map(|r| r.person).collect(), total));
        }
        // An empty page (no match, or past the last one) carries no total: counted below.
        let (total,): (i64,) = query::one(db, &format!("SELECT COUNT(*) FROM persons p WHERE {wh}"), &args).await?;
        return Ok((Vec::new(), total));
    }
    // The page's ids first, from persons alone (an index-only walk down persons_id_path), then
    // their rows: the rows of the people skipped on the way are never read.
    let mut paged = args.clone();
    let select = format!(
        "SELECT {PERSON_COLS} {PERSON_FROM} WHERE p.id IN (SELECT p.id FROM persons p WHERE {wh} ORDER BY p.id DESC LIMIT {} OFFSET {}) ORDER BY p.id DESC",
        paged.push(limit),
        paged.push(offset)
    );
    let rows = query::all(db, &select, &paged).await?;
    let (total,): (i64,) = query::one(db, &format!("SELECT COUNT(*) FROM persons p WHERE {wh}"), &args).await?;
    Ok((rows, total))
}

/// The people matching a search among those `wh` keeps, best match first (see
/// `search::person_matches`), then newest. The matches are found once as a set, as in `list`,
/// and the page is taken from it by rank: the whole set has to be ranked before any page of it
/// is known.
async fn ranked(
    db: &Db,
    scope: &Scope,
    q: &str,
    wh: &str,
    mut args: Args,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Person>, i64), sqlx::Error> {
    let Some(matches) = crate::search::person_matches(q, scope, &mut args) else {
        return Ok((Vec::new(), 0));
    };
    let rank = crate::search::rank_by_name(q, "p.name", "s.rank", &mut args);
    let with = format!(
        "WITH s AS MATERIALIZED ({matches}),
         m AS MATERIALIZED (SELECT p.id, {rank} AS rank FROM persons p JOIN s ON s.id = p.id WHERE {wh})"
    );
    let mut paged = args.clone();
    let select = format!(
        "{with}, pg AS (SELECT id, rank FROM m ORDER BY rank, id DESC LIMIT {} OFFSET {})
         SELECT {PERSON_COLS}, (SELECT COUNT(*) FROM m) AS total FROM pg JOIN persons p ON p.id = pg.id
         JOIN places pl ON pl.id = p.place_id LEFT JOIN estates e ON e.id = p.estate_id ORDER BY pg.rank, p.id DESC",
        paged.push(limit),
        paged.push(offset)
    );
    let rows: Vec<Counted> = query::all(db, &select, &paged).await?;
    if let Some(total) = rows.first().map(|r| r.total) {
        return Ok((rows.into_iter().map(|r| r.person).collect(), total));
    }
    let (total,): (i64,) = query::one(db, &format!("{with} SELECT COUNT(*) FROM m"), &args).await?;
    Ok((Vec::new(), total))
}

/// A row of a list page with the total of the list.
#[derive(sqlx::FromRow)]
struct Counted {
    #[sqlx(flatten)]
    person: Person,
    total: i64,
}

/// A person inside the scope, or None (missing and out of scope look the same).
pub async fn get(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Person>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {PERSON_COLS} {PERSON_FROM} WHERE p.id = {} AND {}",
        args.push(id),
        visible_each("p", scope, &mut args)
    );
    query::optional(db, &sql, &args).await
}

/// Where a person lives: a community or grid in scope, and an estate of that community.
struct Residence {
    place_id: Uuid,
    path: String,
    estate_id: Option<Uuid>,
    place_name: String,
    estate_name: Option<String>,
}

/// Where a person will live. A new place must be a community or grid in the scope, and an
/// estate one of that community in the scope. On an edit (`current`), the place and estate the
/// person has are kept as they are, in the scope or not: a station edits the record of a client
/// living in another street whose case it holds, and saving a phone number there must not ask
/// it to move them.
async fn residence(
    db: &Db,
    scope: &Scope,
    place_id: Uuid,
    estate_id: Option<Uuid>,
    current: Option<&Person>,
    errors: &mut FieldErrors,
) -> Result<Option<Residence>, sqlx::Error> {
    let stays = current.filter(|p| p.place_id == place_id);
    let place = match stays {
        Some(p) => home_place(db, p).await?,
        None => crate::org::store::get_place(db, scope, place_id).await?,
    };
    let Some(place) = place else {
        errors.add("place_id", "person.place_not_found");
        return Ok(None);
    };
    let community = match place.kind() {
        PlaceKind::Community => place.id,
        PlaceKind::Grid => place.parent_id.unwrap_or(place.id),
        _ => {
            errors.add("place_id", "person.place_kind");
            return Ok(None);
        }
    };
    let mut estate_name = None;
    if let Some(eid) = estate_id {
        match stays.filter(|p| p.estate_id == Some(eid)) {
            Some(p) => estate_name = p.estate_name.clone(),
            None => match crate::org::store::get_estate(db, scope, eid).await? {
                Some(e) if e.community_id == community => estate_name = Some(e.name),
                _ => errors.add("estate_id", "person.estate_not_in_community"),
            },
        }
    }
    Ok(Some(Residence { place_id, path: place.path, estate_id, place_name: place.name, estate_name }))
}

/// The place a person lives in, whatever the caller's places: it is shown and kept on their
/// edit form. Looked up under the person's own path, so nothing else is reached this way.
pub async fn home_place(db: &Db, person: &Person) -> Result<Option<crate::org::model::Place>, sqlx::Error> {
    let own = Scope { roots: vec![person.path.clone()], casework: false };
    crate::org::store::get_place(db, &own, person.place_id).await
}

/// Existing records that may be the same person: the same ID number anywhere (by blind index),
/// or the same name and birth date at the same place, inside the scope.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub id: Uuid,
    pub name: String,
    pub birth_date: Option<NaiveDate>,
    pub id_masked: Option<String>,
    pub place_name: String,
    /// False when the record lies outside the caller's scope (it can't be opened from here).
    #[sqlx(skip)]
    pub visible: bool,
    #[serde(skip)]
    pub path: String,
    /// 1 when the match is by ID number.
    #[serde(skip)]
    pub same_id: i64,
    /// 1 when the caller may open the record.
    #[serde(skip)]
    pub in_scope: i64,
}

pub async fn candidates(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    clean: &CleanPerson,
    place_id: Uuid,
    except: Option<Uuid>,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let mut args = Args::new();
    let mut ors = Vec::new();
    let mut same_id = "CAST(0 AS BIGINT)".to_string();
    if let Some(idn) = &clean.id_number {
        let by_id = format!("p.id_hash IN ({})", args.list(&keys.blind_all("id", idn.as_str())));
        same_id = format!("CAST(CASE WHEN {by_id} THEN 1 ELSE 0 END AS BIGINT)");
        ors.push(by_id);
    }
    if let Some(b) = clean.birth_date {
        ors.push(format!(
            "(p.name = {} AND p.birth_date = {} AND p.place_id = {})",
            args.push(clean.name.as_str()),
            args.push_date(b),
            args.push(place_id)
        ));
    }
    if ors.is_empty() {
        return Ok(Vec::new());
    }
    let not_self = match except {
        Some(id) => format!(" AND p.id <> {}", args.push(id)),
        None => String::new(),
    };
    let in_scope = visible_each("p", scope, &mut args);
    let sql = format!(
        "SELECT p.id, p.name, p.birth_date, p.id_masked, pl.name AS place_name, p.path, {same_id} AS same_id,
                CAST(CASE WHEN {in_scope} THEN 1 ELSE 0 END AS BIGINT) AS in_scope
         FROM persons p JOIN places pl ON pl.id = p.place_id WHERE ({}) AND p.merged_into IS NULL{not_self} LIMIT 10",
        ors.join(" OR ")
    );
    let mut rows: Vec<Candidate> = query::all(db, &sql, &args).await?;
    for r in &mut rows {
        r.visible = r.in_scope == 1;
        if !r.visible {
            // Only the fact that the number is registered leaves the scope, nothing about whom.
            *r = Candidate {
                id: Uuid::nil(),
                name: String::new(),
                birth_date: None,
                id_masked: None,
                place_name: String::new(),
                path: String::new(),
                ..r.clone()
            };
        }
    }
    Ok(rows)
}

pub struct Sealed {
    pub id_sealed: Option<String>,
    pub id_hash: Option<String>,
    pub id_masked: Option<String>,
    pub phone_sealed: Option<String>,
    pub phone_hash: Option<String>,
    pub phone_masked: Option<String>,
}

pub fn seal(keys: &Keyring, clean: &CleanPerson) -> Sealed {
    Sealed {
        id_sealed: clean.id_number.as_ref().map(|i| keys.seal(i.as_str().as_bytes())),
        id_hash: clean.id_number.as_ref().map(|i| keys.blind("id", i.as_str())),
        id_masked: clean.id_number.as_ref().map(|i| i.masked()),
        phone_sealed: clean.phone.as_ref().map(|p| keys.seal(p.as_str().as_bytes())),
        phone_hash: clean.phone.as_ref().map(|p| keys.blind("phone", p.as_str())),
        phone_masked: clean.phone.as_ref().map(|p| p.masked()),
    }
}

/// Creates a person. Possible duplicates are refused with `person.possible_duplicate` unless
/// `confirm_new`; a registered ID number is always refused (one person, one record).
pub async fn create(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    input: &PersonInput,
    confirm_new: bool,
) -> Result<Person, CreateError> {
    let mut errors = FieldErrors::default();
    let clean = validate(input, today(), &mut errors);
    let res = residence(db, scope, input.place_id, input.estate_id, None, &mut errors).await?;
    let household = match input.household_id {
        Some(hid) => match household_in_scope(db, scope, hid).await? {
            Some(h) => Some(h),
            None => {
                errors.add("household_id", "person.household_not_found");
                None
            }
        },
        None => None,
    };
    errors.into_result()?;
    let res = res.expect("validated");
    let found = candidates(db, keys, scope, &clean, res.place_id, None).await?;
    registered_elsewhere(db, actor, "create", found.iter().filter(|c| c.same_id == 1 && !c.visible).count()).await?;
    if found.iter().any(|c| c.same_id == 1) {
        return Err(CreateError::IdRegistered(found));
    }
    if !found.is_empty() && !confirm_new {
        return Err(CreateError::PossibleDuplicate(found));
    }
    let mut tx = db.begin().await?;
    let (id, _) =
        insert(&mut tx, keys, actor, &clean, &res.place_id, &res.path, res.estate_id, household, true).await?;
    tx.commit().await?;
    Ok(get(db, scope, id).await?.ok_or(AppError::NotFound)?)
}

/// Lookups that answer "this ID number is registered elsewhere" outside the caller's scope, per
/// account and hour. One person, one record needs the answer (a second record must not be
/// made); but each answer tells whether someone is on a register the caller may not read, so
/// each is audited and an account gets only so many.
pub const ELSEWHERE_PER_HOUR: u32 = 20;

/// Counts and audits `n` ID-number matches outside the caller's scope found by `via` (a
/// create, an update, an import preview); past the hourly allowance (counted per match) the
/// answer is 429 and nothing is revealed.
pub async fn registered_elsewhere(db: &Db, actor: &Actor, via: &str, n: usize) -> Result<(), AppError> {
    if n == 0 {
        return Ok(());
    }
    let who = actor.id.map_or_else(|| actor.name.clone(), |id| id.to_string());
    let bucket = format!("registered-elsewhere:{who}");
    // Each match counts: an import preview answers for every row of its file.
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    if !crate::ratelimit::hit_many(db, &bucket, n32, ELSEWHERE_PER_HOUR, 3600).await? {
        return Err(AppError::TooMany);
    }
    audit::record_alone(
        db,
        actor,
        Entry {
            action: "person.registered_elsewhere",
            entity: "person",
            entity_id: None,
            detail: serde_json::json!({ "via": via, "matches": n }),
        },
    )
    .await?;
    Ok(())
}

pub enum CreateError {
    IdRegistered(Vec<Candidate>),
    PossibleDuplicate(Vec<Candidate>),
    App(AppError),
}

impl<E: Into<AppError>> From<E> for CreateError {
    fn from(e: E) -> Self {
        CreateError::App(e.into())
    }
}

/// Inserts a validated person (a new household of their own unless one is given) with its
/// search terms and, unless part of a batch, its audit row.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &mut Tx,
    keys: &Keyring,
    actor: &Actor,
    clean: &CleanPerson,
    place_id: &Uuid,
    path: &str,
    estate_id: Option<Uuid>,
    household: Option<Uuid>,
    audit_each: bool,
) -> Result<(Uuid, Uuid), AppError> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let s = seal(keys, clean);
    let (household_id, relation) = match household {
        Some(h) => (h, clean.relation.unwrap_or(Relation::Other)),
        None => {
            let hid = Uuid::now_v7();
            write!(&mut *tx, |c| {
                sqlx::query(
                "INSERT INTO households (id, place_id, path, estate_id, building, unit, room, created_at, created_by, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $9)"
            )
            .bind(hid)
            .bind(place_id)
            .bind(path)
            .bind(estate_id)
            .bind(&clean.building)
            .bind(&clean.unit)
            .bind(&clean.room)
            .bind(now)
            .bind(actor.id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
            (hid, clean.relation.unwrap_or(Relation::Head))
        }
    };
    write!(&mut *tx, |c| sqlx::query(
        "INSERT INTO persons (id, household_id, relation, place_id, path, estate_id, building, unit, room, name, sex, birth_date,
                              id_sealed, id_hash, id_masked, phone_sealed, phone_hash, phone_masked, created_at, created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $19, $20)"
    )
    .bind(id)
    .bind(household_id)
    .bind(relation.as_str())
    .bind(place_id)
    .bind(path)
    .bind(estate_id)
    .bind(&clean.building)
    .bind(&clean.unit)
    .bind(&clean.room)
    .bind(&clean.name)
    .bind(clean.sex.map(|s| s.as_str()))
    .bind(clean.birth_date)
    .bind(&s.id_sealed)
    .bind(&s.id_hash)
    .bind(&s.id_masked)
    .bind(&s.phone_sealed)
    .bind(&s.phone_hash)
    .bind(&s.phone_masked)
    .bind(now)
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .map_err(crate::error::on_unique("id_number", "person.id_registered"))?;
    crate::search::index_name(tx, id, path, &clean.name).await?;
    if household.is_some() {
        household_event(tx, actor, household_id, id, "joined", Some(relation), None, path).await?;
    }
    if !audit_each {
        // A bulk import records one audit row for the whole batch.
        return Ok((id, household_id));
    }
    audit::record(
        tx,
        actor,
        Entry {
            action: "person.create",
            entity: "person",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "name": clean.name }),
        },
    )
    .await?;
    Ok((id, household_id))
}

/// One change in a household's life, for the timelines of its members: `joined`, `relation`
/// (changed), `moved` (the member's address changed), `merged` (the record was merged away).
#[allow(clippy::too_many_arguments)]
pub async fn household_event(
    tx: &mut Tx,
    actor: &Actor,
    household_id: Uuid,
    person_id: Uuid,
    kind: &str,
    relation: Option<Relation>,
    detail: Option<&str>,
    path: &str,
) -> Result<(), sqlx::Error> {
    write!(&mut *tx, |c| sqlx::query(
        "INSERT INTO household_events (id, household_id, person_id, kind, relation, detail, path, at, by_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(Uuid::now_v7())
    .bind(household_id)
    .bind(person_id)
    .bind(kind)
    .bind(relation.map(|r| r.as_str()))
    .bind(detail)
    .bind(path)
    .bind(Utc::now())
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The changes in `person`'s household the caller may see, oldest first: the person's own (the
/// caller sees the person) and those of members living inside the scope.
pub async fn household_events(
    db: &Db,
    scope: &Scope,
    household_id: Uuid,
    person: Uuid,
) -> Result<Vec<HouseholdEvent>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT e.id, e.person_id, p.name, e.kind, e.relation, e.detail, e.at FROM household_events e
         JOIN persons p ON p.id = e.person_id WHERE e.household_id = {} AND (e.person_id = {} OR {}) ORDER BY e.at",
        args.push(household_id),
        args.push(person),
        args.scope("e.path", scope)
    );
    query::all(db, &sql, &args).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HouseholdEvent {
    pub id: Uuid,
    pub person_id: Uuid,
    pub name: String,
    pub kind: String,
    pub relation: Option<String>,
    pub detail: Option<String>,
    pub at: chrono::DateTime<Utc>,
}

async fn household_in_scope(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT id FROM households WHERE id = {} AND {}", args.push(id), args.scope("path", scope));
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0))
}

/// Changes a person; `input.version` must be the version that was read.
pub async fn update(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    input: &PersonInput,
) -> Result<Person, AppError> {
    let current = get(db, scope, id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let mut clean = validate(input, today(), &mut errors);
    let res = residence(db, scope, input.place_id, input.estate_id, Some(&current), &mut errors).await?;
    let Some(version) = input.version else {
        errors.add("version", "error.required");
        return Err(AppError::Invalid(errors));
    };
    errors.into_result()?;
    let res = res.expect("validated");
    // An empty ID or phone on an edit form means "unchanged": the form never shows the full value.
    let keep_id = clean.id_number.is_none();
    let keep_phone = clean.phone.is_none();
    if keep_id && clean.birth_date.is_none() {
        clean.birth_date = current.birth_date;
    }
    let s = seal(keys, &clean);
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| sqlx::query(
        "UPDATE persons SET name = $1, sex = COALESCE($2, sex), birth_date = $3, place_id = $4, path = $5, estate_id = $6,
                building = $7, unit = $8, room = $9, relation = COALESCE($10, relation),
                id_sealed = CASE WHEN $11 THEN id_sealed ELSE $12 END, id_hash = CASE WHEN $11 THEN id_hash ELSE $13 END,
                id_masked = CASE WHEN $11 THEN id_masked ELSE $14 END,
                phone_sealed = CASE WHEN $15 THEN phone_sealed ELSE $16 END, phone_hash = CASE WHEN $15 THEN phone_hash ELSE $17 END,
                phone_masked = CASE WHEN $15 THEN phone_masked ELSE $18 END,
                version = version + 1, updated_at = $19, updated_by = $20
         WHERE id = $21 AND version = $22"
    )
    .bind(&clean.name)
    .bind(clean.sex.map(|s| s.as_str()))
    .bind(clean.birth_date)
    .bind(res.place_id)
    .bind(&res.path)
    .bind(res.estate_id)
    .bind(&clean.building)
    .bind(&clean.unit)
    .bind(&clean.room)
    .bind(clean.relation.map(|r| r.as_str()))
    .bind(keep_id)
    .bind(&s.id_sealed)
    .bind(&s.id_hash)
    .bind(&s.id_masked)
    .bind(keep_phone)
    .bind(&s.phone_sealed)
    .bind(&s.phone_hash)
    .bind(&s.phone_masked)
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .map_err(crate::error::on_unique("id_number", "person.id_registered"));
    let n = match n {
        Ok(n) => n,
        Err(e @ AppError::Invalid(_)) => {
            // The number is someone else's record, perhaps one outside the scope.
            drop(tx);
            registered_elsewhere(db, actor, "update", 1).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Err(AppError::Stale);
    }
    if current.name != clean.name || current.path != res.path {
        crate::search::index_name(&mut tx, id, &res.path, &clean.name).await?;
    }
    if current.path != res.path {
        crate::cases::store::repath_client(&mut tx, id, &res.path).await?;
    }
    let new_address = address_of(&clean, res.estate_name.as_deref());
    let moved = current.path != res.path || current.address() != new_address;
    let new_relation = clean.relation.filter(|r| current.relation.as_deref() != Some(r.as_str()));
    if let Some(hid) = current.household_id {
        if moved {
            let detail = format!("{} {}", res.place_name, new_address);
            household_event(&mut tx, actor, hid, id, "moved", None, Some(detail.trim()), &res.path).await?;
        }
        if new_relation.is_some() {
            household_event(&mut tx, actor, hid, id, "relation", new_relation, None, &res.path).await?;
        }
    }
    let mut changed = Vec::new();
    for (field, differs) in [
        ("name", current.name != clean.name),
        ("address", moved),
        ("relation", new_relation.is_some()),
        ("id_number", !keep_id),
        ("phone", !keep_phone),
    ] {
        if differs {
            changed.push(field);
        }
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.update",
            entity: "person",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "changed": changed }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, scope, id).await?.ok_or(AppError::NotFound)
}

fn address_of(c: &CleanPerson, estate: Option<&str>) -> String {
    address_text(estate, c.building.as_deref(), c.unit.as_deref(), c.room.as_deref())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    IdNumber,
    Phone,
}

impl Secret {
    pub fn parse(s: &str) -> Option<Secret> {
        match s {
            "id_number" => Some(Secret::IdNumber),
            "phone" => Some(Secret::Phone),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Secret::IdNumber => "id_number",
            Secret::Phone => "phone",
        }
    }
}

/// The reason typed before something protected is shown (a full number, a counselling note):
/// required, at least two characters, at most 200.
pub fn reveal_reason(text: &str, field: &str, errors: &mut FieldErrors) -> String {
    let reason = crate::web::form::clean_name(text, field, 200, errors);
    if reason.chars().count() < 2 && !errors.0.iter().any(|(f, _)| f == field) {
        errors.add(field, "reveal.reason_too_short");
    }
    reason
}

/// The full ID or phone number of a person in scope. The reason is required and the reveal
/// is recorded in the audit log before the value is returned.
pub async fn reveal(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    what: Secret,
    reason: &str,
) -> Result<Option<String>, AppError> {
    let mut errors = FieldErrors::default();
    let reason = reveal_reason(reason, "reason", &mut errors);
    errors.into_result()?;
    let mut args = Args::new();
    let col = match what {
        Secret::IdNumber => "id_sealed",
        Secret::Phone => "phone_sealed",
    };
    let sql = format!(
        "SELECT p.{col} FROM persons p WHERE p.id = {} AND {}",
        args.push(id),
        visible_each("p", scope, &mut args)
    );
    let row: Option<(Option<String>,)> = query::optional(db, &sql, &args).await?;
    let sealed = row.ok_or(AppError::NotFound)?.0;
    let Some(sealed) = sealed else { return Ok(None) };
    let plain = keys.open_text(&sealed)?;
    audit::record_alone(
        db,
        actor,
        Entry {
            action: "person.reveal",
            entity: "person",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "field": what.as_str(), "reason": reason }),
        },
    )
    .await?;
    Ok(Some(plain))
}

pub async fn tags_of(db: &Db, person_id: Uuid) -> Result<Vec<PersonTag>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT id, person_id, tag, starts_on, ends_on, source FROM person_tags WHERE person_id = $1 ORDER BY starts_on DESC, id DESC"
    )
    .bind(person_id)
    .fetch_all(c)
    .await
    })
}

pub async fn add_tag(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    person_id: Uuid,
    input: &TagInput,
) -> Result<PersonTag, AppError> {
    let person = get(db, scope, person_id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let (tag, starts, ends, source) =
        validate_tag(input, person.birth_date, today(), &mut errors).ok_or(AppError::Invalid(errors))?;
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO person_tags (id, person_id, tag, starts_on, ends_on, source, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(id)
    .bind(person_id)
    .bind(tag.as_str())
    .bind(starts)
    .bind(ends)
    .bind(&source)
    .bind(Utc::now())
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.tag",
            entity: "person",
            entity_id: Some(person_id.to_string()),
            detail: serde_json::json!({ "tag": tag.as_str(), "starts_on": starts, "source": source }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PersonTag { id, person_id, tag: tag.as_str().into(), starts_on: starts, ends_on: ends, source })
}

/// Ends a tag period (it stays in the history).
pub async fn end_tag(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    tag_id: Uuid,
    ends_on: NaiveDate,
) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT t.person_id, t.starts_on, t.ends_on FROM person_tags t JOIN persons p ON p.id = t.person_id WHERE t.id = {} AND {}",
        args.push(tag_id),
        visible_each("p", scope, &mut args)
    );
    let (person_id, starts, ended): (Uuid, NaiveDate, Option<NaiveDate>) =
        query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    if ended.is_some() {
        return Err(AppError::Conflict("tag.already_ended"));
    }
    if ends_on < starts {
        return Err(AppError::field("ends_on", "tag.ends_before_start"));
    }
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query("UPDATE person_tags SET ends_on = $1 WHERE id = $2")
        .bind(ends_on)
        .bind(tag_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.tag_end",
            entity: "person",
            entity_id: Some(person_id.to_string()),
            detail: serde_json::json!({ "tag_id": tag_id, "ends_on": ends_on }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(person_id)
}

/// Members of a household, in scope.
pub async fn household_members(db: &Db, scope: &Scope, household_id: Uuid) -> Result<Vec<Person>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {PERSON_COLS} {PERSON_FROM} WHERE p.household_id = {} AND p.merged_into IS NULL AND {} ORDER BY p.birth_date",
        args.push(household_id),
        visible_each("p", scope, &mut args)
    );
    query::all(db, &sql, &args).await
}

/// Other records in scope with the same name and birth date: probably the same person.
pub async fn namesakes(db: &Db, scope: &Scope, person: &Person) -> Result<Vec<Candidate>, sqlx::Error> {
    let Some(birth) = person.birth_date else { return Ok(Vec::new()) };
    let mut args = Args::new();
    let sql = format!(
        "SELECT p.id, p.name, p.birth_date, p.id_masked, pl.name AS place_name, p.path, CAST(0 AS BIGINT) AS same_id,
                CAST(1 AS BIGINT) AS in_scope
         FROM persons p JOIN places pl ON pl.id = p.place_id
         WHERE p.name = {} AND p.birth_date = {} AND p.id <> {} AND p.merged_into IS NULL AND {} LIMIT 10",
        args.push(person.name.as_str()),
        args.push(birth),
        args.push(person.id),
        visible_each("p", scope, &mut args)
    );
    let mut rows: Vec<Candidate> = query::all(db, &sql, &args).await?;
    for r in &mut rows {
        r.visible = true;
    }
    Ok(rows)
}

//! 受理: a new request from any channel, located, numbered and written in one transaction.

use super::*;
use crate::write;

pub struct Created {
    /// The request as written, as [`get`] would read it back.
    pub request: Request,
    /// The secret of the resident's tracking link; only its hash is stored.
    pub tracking_code: String,
}

pub fn tracking_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

pub(super) fn new_tracking_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Where a request lies and who holds it until dispatch.
pub(super) struct Location {
    place_id: Uuid,
    path: String,
    place_name: String,
    estate_id: Option<Uuid>,
    address: String,
    /// No place was given: `path` is the top of the tree (or of the caller's scope), and no
    /// street office lies above it.
    unplaced: bool,
}

/// Where a point falls: `Place` is a community or grid, where a request can lie; `Desk` the
/// path of a street or district it falls in away from every community, whose district's desk
/// (or, for staff who cannot reach that desk, the street itself) places it by hand.
pub(super) enum PointPlace {
    None,
    Place(Uuid),
    Desk(String),
}

/// The place a reported point falls in (`org::geo`), when the caller named neither a place nor
/// an estate; a point outside the jurisdiction is refused. A point in a place outside a staff
/// caller's scope leaves the request with the caller's own unit, as before.
pub(super) async fn point_place(
    db: &Db,
    scope: Option<&Scope>,
    clean: &CleanIntake,
    errors: &mut FieldErrors,
) -> Result<PointPlace, sqlx::Error> {
    use crate::org::geo::Located;
    use crate::org::model::PlaceKind;
    let Some(point) = clean.coords else { return Ok(PointPlace::None) };
    Ok(match crate::org::store::locate_point(db, point).await? {
        Located::Outside => {
            errors.add("lat", "request.outside_jurisdiction");
            PointPlace::None
        }
        Located::In { id, path, kind, .. }
            if clean.place_id.is_none() && clean.estate_id.is_none() && scope.is_none_or(|s| s.covers(&path)) =>
        {
            match kind {
                PlaceKind::Community | PlaceKind::Grid => PointPlace::Place(id),
                PlaceKind::Street | PlaceKind::District => PointPlace::Desk(path),
                // Within the city's reach but no district's: no desk of ours answers for it.
                PlaceKind::City => {
                    errors.add("lat", "request.outside_jurisdiction");
                    PointPlace::None
                }
            }
        }
        _ => PointPlace::None,
    })
}

/// Resolves the place of an intake: a community or grid (inside `scope` for staff), an estate
/// (its community), or — when the caller gives only an address or coordinates — the top of the
/// tree (or a point's district desk), for the dispatcher to route.
pub(super) async fn locate(
    db: &Db,
    scope: Option<&Scope>,
    clean: &CleanIntake,
    errors: &mut FieldErrors,
) -> Result<Option<Location>, sqlx::Error> {
    let from_point = point_place(db, scope, clean, errors).await?;
    if !errors.is_empty() {
        return Ok(None);
    }
    let (from_point, desk) = match from_point {
        PointPlace::Place(id) => (Some(id), None),
        PointPlace::Desk(path) => (None, Some(path)),
        PointPlace::None => (None, None),
    };
    let (place, estate_name) =
        crate::org::store::resolve_location(db, scope, clean.estate_id, clean.place_id.or(from_point), errors).await?;
    if !errors.is_empty() {
        return Ok(None);
    }
    let unplaced = place.is_none();
    let (place_id, path, place_name) = match place {
        Some(p) => p,
        None => {
            let mut args = Args::new();
            let mut sql = "SELECT id, path, name FROM places WHERE active".to_string();
            if let Some(s) = scope {
                sql.push_str(&format!(" AND {}", args.scope("path", s)));
            }
            // Unplaced requests land at the district's desk (the hotline), or the caller's top
            // unit; a point away from every community at the desk of the district it falls in.
            let located = desk.unwrap_or_default();
            let district = args.push(crate::scope::district_of(&located).to_string());
            let here = args.push(located);
            sql.push_str(&format!(
                " ORDER BY CASE WHEN kind = 'district' AND path = {district} THEN 0 WHEN path = {here} THEN 1
                  WHEN kind = 'district' THEN 2 ELSE 3 END, depth, path LIMIT 1"
            ));
            match query::optional::<(Uuid, String, String)>(db, &sql, &args).await? {
                Some(p) => p,
                None => {
                    errors.add("place_id", "error.required");
                    return Ok(None);
                }
            }
        }
    };
    let mut address = String::new();
    for part in
        [Some(place_name.clone()), estate_name, clean.building.clone(), clean.address.clone()].into_iter().flatten()
    {
        if !address.is_empty() {
            address.push(' ');
        }
        address.push_str(&part);
    }
    Ok(Some(Location { place_id, path, place_name, estate_id: clean.estate_id, address, unplaced }))
}

/// The street above a path (whose office holds a request nobody dispatched yet), else the path.
pub(super) async fn street_of(db: &Db, path: &str) -> Result<String, sqlx::Error> {
    let mut args = Args::new();
    let p = args.push(path);
    let sql = format!("SELECT path FROM places WHERE kind = 'street' AND path = substr({p}, 1, length(path))");
    Ok(query::optional::<(String,)>(db, &sql, &args).await?.map(|r| r.0).unwrap_or_else(|| path.to_string()))
}

/// The person a staff intake links to, if one was chosen: `Some(None)` when that person is not
/// in the caller's scope (or no longer exists).
pub(super) async fn linked_person(
    db: &Db,
    person: Option<Uuid>,
    scope: Option<&Scope>,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    let (Some(pid), Some(scope)) = (person, scope) else { return Ok(None) };
    let mut args = Args::new();
    let sql = format!(
        "SELECT p.id FROM persons p WHERE p.id = {} AND p.merged_into IS NULL AND {}",
        args.push(pid),
        crate::people::store::visible_each("p", scope, &mut args)
    );
    Ok(Some(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0)))
}

pub struct Intake<'a> {
    pub channel: Channel,
    pub actor: &'a Actor,
    /// Staff intake: the caller's scope bounds the place, and their unit holds the request (首接负责).
    pub staff_scope: Option<&'a Scope>,
    pub client_id: Option<Uuid>,
    /// Open311 attributes answered, a JSON object.
    pub attributes: serde_json::Value,
    /// Photos sent with the report, already checked and staged.
    pub photos: &'a [crate::files::Staged],
    /// A post limit counted in the request's own transaction (public page, Open311 apps).
    pub limit: Option<&'a crate::ratelimit::Limit>,
    /// The category, when the caller has already read it for intake (its code is the form's).
    pub category: Option<&'a IntakeCategory>,
}

pub async fn create(db: &Db, keys: &Keyring, intake: &Intake<'_>, clean: &CleanIntake) -> Result<Created, AppError> {
    // The reads are independent: on separate connections at once, a call waits for one
    // round trip instead of three. The calendar comes from this process's copy when the stamp
    // read with the category matches it.
    let mut place_errors = FieldErrors::default();
    let known = intake.category.filter(|c| c.category.code == clean.category);
    let (cat, loc, person) = tokio::try_join!(
        async {
            match known {
                Some(c) => Ok(Some(c.clone())),
                None => intake_category(db, &clean.category).await,
            }
        },
        locate(db, intake.staff_scope, clean, &mut place_errors),
        linked_person(db, clean.person_id, intake.staff_scope),
    )?;
    let (cat, stamp) = match cat {
        Some(c) if c.category.active => (Some(c.category), c.calendar_stamp),
        _ => (None, None),
    };
    let mut errors = FieldErrors::default();
    if cat.is_none() {
        errors.add("category", "request.unknown_category");
    }
    errors.0.append(&mut place_errors.0);
    if person == Some(None) {
        errors.add("person_id", "error.bad_choice");
    }
    errors.into_result()?;
    let person = person.flatten();
    let (cat, loc) = (cat.expect("checked"), loc.expect("checked"));
    let owner_path = match intake.staff_scope.and_then(|s| s.roots.first()) {
        Some(root) => root.clone(),
        None if loc.unplaced => loc.path.clone(),
        None => street_of(db, &loc.path).await?,
    };
    let cal = calendar_at(db, stamp).await?;
    // To the microsecond, as PostgreSQL keeps it: the request returned is the one stored.
    let now = Utc::now().trunc_subsecs(6);
    let office = OfficeHours::default();
    let response_due = cal.add_working_hours(now, u32::try_from(cat.response_hours).unwrap_or(u32::MAX), office);
    let resolve_due = cal.add_working_days(now, u32::try_from(cat.resolve_days).unwrap_or(u32::MAX), office);
    let code = new_tracking_code();
    let phone = clean.phone.as_ref();
    let year = i64::from(chrono::Datelike::year(&now.with_timezone(&chrono_tz::Asia::Shanghai)));
    let row = NewRequest {
        id: Uuid::now_v7(),
        year,
        number: number_ahead(db, year).await?,
        limit: intake.limit.cloned(),
        category_name: cat.name.clone(),
        category: cat.code,
        channel: intake.channel,
        description: clean.description.clone(),
        place_id: loc.place_id,
        path: loc.path,
        estate_id: loc.estate_id,
        building: clean.building.clone(),
        address: loc.address,
        coords: clean.coords,
        reporter_name: clean.reporter_name.clone(),
        phone_sealed: phone.map(|p| keys.seal(p.as_str().as_bytes())),
        phone_hash: phone.map(|p| keys.blind("phone", p.as_str())),
        phone_masked: phone.map(|p| p.masked()),
        person,
        attributes: intake.attributes.to_string(),
        owner_path,
        response_due,
        resolve_due,
        tracking_hash: tracking_hash(&code),
        client_id: intake.client_id,
        published: crate::requests::publication::published_on_intake(intake.channel, person),
        now,
        actor: intake.actor.clone(),
        photos: intake.photos.to_vec(),
    };
    let mut request = row.as_read(cat.name, loc.place_name);
    // Intake is the write that arrives in crowds (a burst of calls, a busy 311 app): on
    // SQLite, requests accepted together share one commit.
    request.number = db.write_grouped(row, |row, tx| Box::pin(row.write(tx))).await?;
    Ok(Created { request, tracking_code: code })
}

/// Takes the year's next number from its counter row and returns the new count.
pub(super) const NEXT_NUMBER: &str = "INSERT INTO request_counters (year, last) VALUES ($1, 1)
    ON CONFLICT (year) DO UPDATE SET last = request_counters.last + 1 RETURNING last";

/// The request row and its "accepted" event; `{number}` is `$2` where the number was taken
/// ahead, or the expression that reads it from the year's counter. `$26` is the event's id,
/// `$27` the actor's name, `$28` the numbering year, `$29` whether it is published.
pub(super) const INSERT_REQUEST: &str = "INSERT INTO requests (id, number, category, channel, description, place_id, path, estate_id, building,
        address, lat, lon, reporter_name, phone_sealed, phone_hash, phone_masked, person_id, attributes, status, owner_path,
        response_due, resolve_due, tracking_hash, client_id, created_at, created_by, updated_at, updated_by, published)
    VALUES ($1, {number}, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'accepted', $19, $20, $21,
        $22, $23, $24, $25, $24, $25, $29)
    RETURNING number";
pub(super) const INSERT_ACCEPTED: &str =
    "INSERT INTO request_events (id, request_id, part_id, kind, from_status, to_status, note, detail,
        public, at, actor_id, actor_name)
    VALUES ($26, $1, NULL, 'accepted', NULL, 'accepted', $4, '{}', TRUE, $24, $25, $27)";

/// Intake's write as one round trip to the database. SQLite runs a string of statements in
/// one call to its connection's thread, so the counter, the request and its event go
/// together, the number read back from the counter row; each call to that thread costs
/// about as much as the insert itself. PostgreSQL has the number already and takes the
/// event in a data-modifying CTE.
pub(super) static INTAKE_SQLITE: LazyLock<String> = LazyLock::new(|| {
    let number = "(SELECT printf('%d-%06d', year, last) FROM request_counters WHERE year = $28)";
    format!(
        "INSERT INTO request_counters (year, last) VALUES ($28, 1)
             ON CONFLICT (year) DO UPDATE SET last = request_counters.last + 1;
         {};
         {INSERT_ACCEPTED}",
        INSERT_REQUEST.replace("{number}", number)
    )
});
pub(super) static INTAKE_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!("WITH r AS ({}), e AS ({INSERT_ACCEPTED}) SELECT number FROM r", INSERT_REQUEST.replace("{number}", "$2"))
});

pub(super) fn request_number(year: i64, seq: i64) -> String {
    format!("{year}-{seq:06}")
}

/// On PostgreSQL the number is taken in a statement of its own before the request's
/// transaction. Inside it, the counter row's lock was held from the number to the commit, so
/// concurrent intakes ran one after the other however many connections served them; alone,
/// the lock lasts one short commit. The price is a gap in the year's numbers when the
/// request's transaction then fails, which validation ahead of it makes rare. On SQLite
/// writes are serialised anyway, and the number is taken inside the (grouped) transaction.
pub(super) async fn number_ahead(db: &Db, year: i64) -> Result<Option<String>, sqlx::Error> {
    match db {
        Db::Postgres(pool, _) => {
            let (seq,): (i64,) = sqlx::query_as(NEXT_NUMBER).bind(year).fetch_one(pool).await?;
            Ok(Some(request_number(year, seq)))
        }
        Db::Sqlite { .. } => Ok(None),
    }
}

/// A request as intake writes it, checked and with its clocks set: everything
/// [`NewRequest::write`] needs, owned, because on SQLite the write may run in a batch.
pub(super) struct NewRequest {
    id: Uuid,
    /// The numbering year (Beijing time).
    year: i64,
    /// The number, when it was taken ahead of the transaction ([`number_ahead`]).
    number: Option<String>,
    limit: Option<crate::ratelimit::Limit>,
    category: String,
    /// The category's name, indexed with the text.
    category_name: String,
    channel: Channel,
    description: String,
    place_id: Uuid,
    path: String,
    estate_id: Option<Uuid>,
    building: Option<String>,
    address: String,
    coords: Option<(f64, f64)>,
    reporter_name: Option<String>,
    phone_sealed: Option<String>,
    phone_hash: Option<String>,
    phone_masked: Option<String>,
    person: Option<Uuid>,
    attributes: String,
    owner_path: String,
    response_due: DateTime<Utc>,
    resolve_due: DateTime<Utc>,
    tracking_hash: String,
    client_id: Option<Uuid>,
    published: bool,
    now: DateTime<Utc>,
    actor: Actor,
    photos: Vec<crate::files::Staged>,
}

impl NewRequest {
    /// The request as it reads once written, but for its number (taken in the write).
    fn as_read(&self, category_name: String, place_name: String) -> Request {
        Request {
            id: self.id,
            number: self.number.clone().unwrap_or_default(),
            category: self.category.clone(),
            category_name,
            channel: self.channel.as_str().to_string(),
            description: self.description.clone(),
            place_id: self.place_id,
            place_name,
            path: self.path.clone(),
            estate_id: self.estate_id,
            building: self.building.clone(),
            address: self.address.clone(),
            lat: self.coords.map(|c| c.0),
            lon: self.coords.map(|c| c.1),
            reporter_name: self.reporter_name.clone(),
            phone_masked: self.phone_masked.clone(),
            person_id: self.person,
            attributes: self.attributes.clone(),
            status: Status::Accepted.as_str().to_string(),
            owner_path: self.owner_path.clone(),
            response_due: self.response_due,
            resolve_due: self.resolve_due,
            responded_at: None,
            resolved_at: None,
            closed_at: None,
            escalation: 0,
            satisfaction: None,
            merged_into: None,
            version: 1,
            created_at: self.now,
            updated_at: self.now,
            published: self.published,
            public_text: None,
            public_address: None,
        }
    }

    /// Counts the post against its limit, numbers the request, and writes it with its first
    /// event and photos; returns its number.
    async fn write(&self, tx: &mut Tx) -> Result<String, AppError> {
        if let Some(limit) = &self.limit
            && !limit.hit_in(tx).await?
        {
            return Err(AppError::TooMany);
        }
        let sql: &str = match tx {
            Tx::Sqlite(_) => &INTAKE_SQLITE,
            Tx::Postgres(_) => &INTAKE_POSTGRES,
        };
        let numbers: Vec<(String,)> = write!(tx, |c| {
            sqlx::query_as(sql)
                .bind(self.id)
                .bind(self.number.as_deref().unwrap_or_default())
                .bind(&self.category)
                .bind(self.channel.as_str())
                .bind(&self.description)
                .bind(self.place_id)
                .bind(&self.path)
                .bind(self.estate_id)
                .bind(&self.building)
                .bind(&self.address)
                .bind(self.coords.map(|c| c.0))
                .bind(self.coords.map(|c| c.1))
                .bind(&self.reporter_name)
                .bind(&self.phone_sealed)
                .bind(&self.phone_hash)
                .bind(&self.phone_masked)
                .bind(self.person)
                .bind(&self.attributes)
                .bind(&self.owner_path)
                .bind(self.response_due)
                .bind(self.resolve_due)
                .bind(&self.tracking_hash)
                .bind(self.client_id)
                .bind(self.now)
                .bind(self.actor.id)
                .bind(Uuid::now_v7())
                .bind(&self.actor.name)
                .bind(self.year)
                .bind(self.published)
                .fetch_all(c)
                .await
        })?;
        let number = numbers.into_iter().next().ok_or(sqlx::Error::RowNotFound)?.0;
        let owner = crate::files::Owner::Request(self.id);
        crate::files::record(tx, owner, "intake", &self.photos, &self.actor, self.now).await?;
        crate::search::index_request(tx, self.id, &self.path, &self.description, &self.address, &self.category_name)
            .await?;
        Ok(number)
    }
}

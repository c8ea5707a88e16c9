//! 派单 and what the units do with their parts: the units a request can go to, dispatch, sign,
//! resolve and return a part, reassignment, and extensions of a deadline.

use super::*;
use crate::write;

// ---- units --------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unit {
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub path: String,
}

impl Unit {
    /// `place:<uuid>` / `org:<uuid>`, as forms send it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// Units a dispatcher can send work to: communities and streets (stations) in their scope, and
/// the active departments serving it (placed inside the scope or above it: a city department
/// serves the district). A department of another district is not a unit here: its handlers would
/// read the request.
pub async fn units(db: &Db, scope: &Scope) -> Result<Vec<Unit>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT 'place', id, name, path FROM places WHERE active AND kind IN ('street', 'community') AND {}
         UNION ALL
         SELECT 'org', o.id, o.name, p.path FROM organisations o JOIN places p ON p.id = o.place_id WHERE o.active AND o.kind = 'department' AND {}
         ORDER BY 1 DESC, 4",
        args.scope("path", scope),
        args.scope_visible("p.path", scope)
    );
    let rows: Vec<(String, Uuid, String, String)> = query::all(db, &sql, &args).await?;
    Ok(rows.into_iter().map(|(kind, id, name, path)| Unit { kind, id, name, path }).collect())
}

pub async fn unit(db: &Db, scope: &Scope, key: &str) -> Result<Option<Unit>, sqlx::Error> {
    let Some((kind, id)) = key.split_once(':') else { return Ok(None) };
    let Ok(id) = Uuid::parse_str(id.trim()) else { return Ok(None) };
    let mut args = Args::new();
    let sql = match kind {
        "place" => format!(
            "SELECT 'place', id, name, path FROM places WHERE id = {} AND active AND kind IN ('street', 'community', 'grid') AND {}",
            args.push(id),
            args.scope("path", scope)
        ),
        "org" => format!(
            "SELECT 'org', o.id, o.name, p.path FROM organisations o JOIN places p ON p.id = o.place_id
             WHERE o.id = {} AND o.active AND o.kind = 'department' AND {}",
            args.push(id),
            args.scope_visible("p.path", scope)
        ),
        _ => return Ok(None),
    };
    let row: Option<(String, Uuid, String, String)> = query::optional(db, &sql, &args).await?;
    Ok(row.map(|(kind, id, name, path)| Unit { kind, id, name, path }))
}

/// The category's default unit for a request: its community, the station of its street, or the
/// category's department.
pub async fn default_unit(db: &Db, r: &Request) -> Result<Option<Unit>, sqlx::Error> {
    let Some(cat) = category(db, &r.category).await? else { return Ok(None) };
    let everywhere = Scope { roots: vec!["/".into()], casework: false };
    match DefaultUnit::parse(&cat.default_unit) {
        Some(DefaultUnit::Department) => match cat.default_org_id {
            Some(org) => unit(db, &everywhere, &format!("org:{org}")).await,
            None => Ok(None),
        },
        Some(DefaultUnit::Station) => {
            let street = street_of(db, &r.path).await?;
            let mut args = Args::new();
            let sql = format!("SELECT id FROM places WHERE path = {} AND kind = 'street'", args.push(street));
            match query::optional::<(Uuid,)>(db, &sql, &args).await? {
                Some((id,)) => unit(db, &everywhere, &format!("place:{id}")).await,
                None => Ok(None),
            }
        }
        _ => {
            let mut args = Args::new();
            let p = args.push(r.path.as_str());
            let sql = format!("SELECT id FROM places WHERE kind = 'community' AND path = substr({p}, 1, length(path))");
            match query::optional::<(Uuid,)>(db, &sql, &args).await? {
                Some((id,)) => unit(db, &everywhere, &format!("place:{id}")).await,
                None => Ok(None),
            }
        }
    }
}

/// 派单: sends the request to one or more units (co-handling). The dispatcher must hold it, and
/// it must still be open. Each unit gets a part due when the request is.
pub async fn dispatch(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    version: i64,
    units: &[Unit],
    note: StaffNote<'_>,
) -> Result<(), AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    if !r.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    if r.version != version {
        return Err(AppError::Stale);
    }
    if units.is_empty() {
        return Err(AppError::field("units", "request.unit_required"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let existing = tx_parts(&mut tx, id).await?;
    let mut seen: HashSet<Uuid> = existing.iter().filter(|p| p.status().is_active()).map(|p| p.unit_id).collect();
    for u in units {
        if !seen.insert(u.id) {
            return Err(AppError::field("units", "request.unit_already_has_part"));
        }
        let part = Uuid::now_v7();
        write!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO request_parts (id, request_id, unit_kind, unit_id, unit_name, unit_path, status, due, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, 'dispatched', $7, $8, $9, $8, $9)"
        )
        .bind(part)
        .bind(id)
        .bind(&u.kind)
        .bind(u.id)
        .bind(&u.name)
        .bind(&u.path)
        .bind(r.resolve_due)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        event_with(
            &mut tx,
            Ev {
                request: id,
                part: Some(part),
                kind: "dispatched",
                from: None,
                to: Some("dispatched"),
                shown: Shown::public(note.public),
            },
            note.text(),
            serde_json::json!({ "unit": u.name }),
            actor,
            now,
        )
        .await?;
    }
    settle(&mut tx, id, version, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Loads a part the viewer handles, with its request, for a unit's transition.
pub(super) async fn handled_part(db: &Db, viewer: &Viewer, part: Uuid) -> Result<(Part, Request), AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT {PART_COLS} FROM request_parts WHERE id = {}", args.push(part));
    let p: Part = query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, p.request_id).await?.ok_or(AppError::NotFound)?;
    if !viewer.handles(&p) {
        return Err(AppError::Forbidden);
    }
    Ok((p, r))
}

/// Moves a part from one of `from` to `to`, checking its version; then settles the request.
#[allow(clippy::too_many_arguments)]
pub(super) async fn move_part(
    tx: &mut Tx,
    p: &Part,
    from: &[PartStatus],
    to: PartStatus,
    resolution: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if !from.contains(&p.status()) {
        return Err(AppError::Conflict("request.part_wrong_status"));
    }
    let n = write!(tx, |c| sqlx::query(
        "UPDATE request_parts SET status = $1,
                signed_at = CASE WHEN $1 = 'signed' THEN COALESCE(signed_at, $2) ELSE signed_at END,
                resolved_at = CASE WHEN $1 = 'resolved' THEN $2 ELSE NULL END,
                resolution = COALESCE($3, resolution),
                version = version + 1, updated_at = $2, updated_by = $4
         WHERE id = $5 AND version = $6"
    )
    .bind(to.as_str())
    .bind(now)
    .bind(resolution)
    .bind(actor.id)
    .bind(p.id)
    .bind(p.version)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    Ok(())
}

/// The unit's actions on its part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartAction {
    /// 签收
    Sign,
    /// 办理: a contact or progress note, the part stays signed.
    Note,
    /// 退单, with a reason; the dispatcher re-routes.
    Return,
    /// 办结, with resolution notes.
    Resolve,
}

/// One step on a part: what is done, its note or reason, and whether the resident sees the note.
pub struct PartStep<'a> {
    pub action: PartAction,
    pub text: &'a str,
    pub public: bool,
    /// Photos of the work (a note or the resolution), already checked and staged.
    pub photos: &'a [crate::files::Staged],
}

pub async fn act_on_part(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    version: i64,
    step: PartStep<'_>,
) -> Result<Uuid, AppError> {
    let PartStep { action, text, public, photos } = step;
    let (p, r) = handled_part(db, viewer, part).await?;
    if p.version != version {
        return Err(AppError::Stale);
    }
    let text = text.trim();
    let mut errors = FieldErrors::default();
    match action {
        PartAction::Sign => {}
        PartAction::Note | PartAction::Resolve if text.chars().count() < 2 => errors
            .add("note", if action == PartAction::Resolve { "request.resolution_required" } else { "error.required" }),
        PartAction::Return => {
            crate::requests::model::reason(text, "note", &mut errors);
        }
        _ if text.chars().count() > 2000 => errors.add("note", "error.too_long"),
        _ => {}
    }
    errors.into_result()?;
    let now = Utc::now();
    let note = (!text.is_empty()).then_some(text);
    let mut tx = db.begin().await?;
    let (kind, to) = match action {
        PartAction::Sign => {
            move_part(&mut tx, &p, &[PartStatus::Dispatched], PartStatus::Signed, None, actor, now).await?;
            ("signed", Some(PartStatus::Signed))
        }
        PartAction::Note => {
            if p.status() != PartStatus::Signed {
                return Err(AppError::Conflict("request.sign_first"));
            }
            ("progress", None)
        }
        PartAction::Return => {
            move_part(
                &mut tx,
                &p,
                &[PartStatus::Dispatched, PartStatus::Signed],
                PartStatus::Returned,
                None,
                actor,
                now,
            )
            .await?;
            ("returned", Some(PartStatus::Returned))
        }
        PartAction::Resolve => {
            move_part(&mut tx, &p, &[PartStatus::Signed], PartStatus::Resolved, note, actor, now).await?;
            ("resolved_part", Some(PartStatus::Resolved))
        }
    };
    event_with(
        &mut tx,
        Ev {
            request: r.id,
            part: Some(p.id),
            kind,
            from: Some(p.status.as_str()),
            to: to.map(|s| s.as_str()),
            // Signing and resolving are news for the resident; a note, a return, only if
            // its writer says so. The note itself is public only by choice.
            shown: match (public, action) {
                (true, _) => Shown::PublicWithNote,
                (false, PartAction::Sign | PartAction::Resolve) => Shown::Public,
                (false, _) => Shown::Staff,
            },
        },
        note,
        serde_json::json!({ "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    if to.is_some() {
        let current = row(&mut tx, r.id).await?;
        let (from, after) = settle(&mut tx, r.id, current.version, actor, now).await?;
        if from != after && after == Status::Resolved {
            event(
                &mut tx,
                Ev {
                    request: r.id,
                    part: None,
                    kind: "resolved",
                    from: Some(from.as_str()),
                    to: Some("resolved"),
                    shown: Shown::Public,
                },
                None,
                actor,
                now,
            )
            .await?;
        }
    } else {
        touch(&mut tx, r.id, actor, now).await?;
    }
    if !photos.is_empty() {
        let purpose = if matches!(action, PartAction::Resolve) { "resolution" } else { "progress" };
        crate::files::record(&mut tx, crate::files::Owner::Request(r.id), purpose, photos, actor, now).await?;
    }
    tx.commit().await?;
    Ok(r.id)
}

/// Marks a request changed (a note) so open forms see a new version.
pub(super) async fn touch(tx: &mut Tx, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE requests SET version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3"
    )
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes a unit off the request with a reason and, if given, sends it to another (改派).
pub async fn reassign(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    version: i64,
    to: Option<&Unit>,
    reason: &str,
) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT {PART_COLS} FROM request_parts WHERE id = {}", args.push(part));
    let p: Part = query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, p.request_id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let reason = crate::requests::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if r.version != version {
        return Err(AppError::Stale);
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    move_part(
        &mut tx,
        &p,
        &[PartStatus::Dispatched, PartStatus::Signed, PartStatus::Returned],
        PartStatus::Withdrawn,
        None,
        actor,
        now,
    )
    .await?;
    event_with(
        &mut tx,
        Ev {
            request: r.id,
            part: Some(p.id),
            kind: "withdrawn",
            from: Some(p.status.as_str()),
            to: Some("withdrawn"),
            shown: Shown::Staff,
        },
        Some(&reason),
        serde_json::json!({ "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(u) = to {
        let fresh = get(db, viewer, r.id).await?.ok_or(AppError::NotFound)?;
        dispatch(db, viewer, actor, r.id, fresh.version, std::slice::from_ref(u), StaffNote::internal(&reason)).await?;
    } else {
        let mut tx = db.begin().await?;
        let current = row(&mut tx, r.id).await?;
        settle(&mut tx, r.id, current.version, actor, now).await?;
        tx.commit().await?;
    }
    Ok(r.id)
}

/// 延期: the unit asks for more working days with a reason.
pub async fn ask_extension(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    days: &str,
    reason: &str,
) -> Result<Uuid, AppError> {
    let (p, r) = handled_part(db, viewer, part).await?;
    let mut errors = FieldErrors::default();
    let days = positive(days, "days", 30, &mut errors);
    let reason = crate::requests::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if !matches!(p.status(), PartStatus::Dispatched | PartStatus::Signed) {
        return Err(AppError::Conflict("request.part_wrong_status"));
    }
    if !pending_extensions(db, r.id).await?.iter().all(|e| e.part_id != p.id) {
        return Err(AppError::Conflict("request.extension_already_pending"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "INSERT INTO request_extensions (id, request_id, part_id, days, reason, status, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)"
    )
    .bind(Uuid::now_v7())
    .bind(r.id)
    .bind(p.id)
    .bind(days)
    .bind(&reason)
    .bind(actor.id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    event_with(
        &mut tx,
        Ev { request: r.id, part: Some(p.id), kind: "extension_requested", from: None, to: None, shown: Shown::Staff },
        Some(&reason),
        serde_json::json!({ "days": days, "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, r.id, actor, now).await?;
    tx.commit().await?;
    Ok(r.id)
}

/// The dispatcher approves (moving the part's deadline by working days) or refuses an extension.
pub async fn decide_extension(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    extension: Uuid,
    approve: bool,
    note: &str,
) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql =
        format!("SELECT request_id, part_id, days, status FROM request_extensions WHERE id = {}", args.push(extension));
    let (request, part, days, status): (Uuid, Uuid, i64, String) =
        query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, request).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    if status != "pending" {
        return Err(AppError::Conflict("request.extension_decided"));
    }
    let note = note.trim();
    if !approve && note.chars().count() < 2 {
        return Err(AppError::field("note", "request.reason_required"));
    }
    let now = Utc::now();
    let cal = calendar(db).await?;
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE request_extensions SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 WHERE id = $5 AND status = 'pending'"
    )
    .bind(if approve { "approved" } else { "refused" })
    .bind(actor.id)
    .bind(now)
    .bind((!note.is_empty()).then_some(note))
    .bind(extension)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Conflict("request.extension_decided"));
    }
    let mut detail = serde_json::json!({ "days": days });
    if approve {
        let mut args = Args::new();
        let sql = format!("SELECT due FROM request_parts WHERE id = {}", args.push(part));
        let (due,): (DateTime<Utc>,) = query::tx_optional(&mut tx, &sql, &args).await?.ok_or(AppError::NotFound)?;
        let new_due = cal.add_working_days(due.max(now), u32::try_from(days).unwrap_or(30), OfficeHours::default());
        write!(&mut tx, |c| sqlx::query(
            "UPDATE request_parts SET due = $1, version = version + 1, updated_at = $2, updated_by = $3 WHERE id = $4"
        )
        .bind(new_due)
        .bind(now)
        .bind(actor.id)
        .bind(part)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        detail["due"] = serde_json::json!(new_due);
    }
    event_with(
        &mut tx,
        Ev {
            request,
            part: Some(part),
            kind: if approve { "extension_approved" } else { "extension_refused" },
            from: None,
            to: None,
            shown: Shown::Staff,
        },
        (!note.is_empty()).then_some(note),
        detail,
        actor,
        now,
    )
    .await?;
    let current = row(&mut tx, request).await?;
    settle(&mut tx, request, current.version, actor, now).await?;
    tx.commit().await?;
    Ok(request)
}

//! After the units: the resident's rating (回访), escalation (督办) by hand and by the overdue
//! sweep, merging duplicates, public notes, and the reveals and look-ups of the callback desk.

use super::*;
use crate::write;

/// 回访: the resident's rating after resolution. 不满意 or worse reopens the request: every
/// resolved part goes back to its unit (signed) for rework.
pub async fn callback(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    version: i64,
    satisfaction: &str,
    note: StaffNote<'_>,
) -> Result<Status, AppError> {
    let StaffNote { text: note, public: note_public } = note;
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let Some(level) = Satisfaction::parse(satisfaction) else {
        return Err(AppError::field("satisfaction", "error.required"));
    };
    if r.status() != Status::Resolved {
        return Err(AppError::Conflict("request.callback_before_resolution"));
    }
    if r.version != version {
        return Err(AppError::Stale);
    }
    let note = note.trim();
    if level.reopens() && note.chars().count() < 2 {
        return Err(AppError::field("note", "request.dissatisfied_reason"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let after = if level.reopens() {
        write!(&mut tx, |c| {
            sqlx::query(
            "UPDATE request_parts SET status = 'signed', resolved_at = NULL, version = version + 1, updated_at = $1, updated_by = $2
             WHERE request_id = $3 AND status = 'resolved'"
        )
        .bind(now)
        .bind(actor.id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Status::InProgress
    } else {
        Status::Closed
    };
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET status = $1, satisfaction = $2, closed_at = CASE WHEN $1 = 'closed' THEN $3 ELSE NULL END,
                resolved_at = CASE WHEN $1 = 'closed' THEN resolved_at ELSE NULL END,
                version = version + 1, updated_at = $3, updated_by = $4
         WHERE id = $5 AND version = $6"
    )
    .bind(after.as_str())
    .bind(level.as_str())
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    event_with(
        &mut tx,
        Ev {
            request: id,
            part: None,
            kind: if level.reopens() { "reopened" } else { "closed" },
            from: Some("resolved"),
            to: Some(after.as_str()),
            shown: Shown::public(note_public),
        },
        (!note.is_empty()).then_some(note),
        serde_json::json!({ "satisfaction": level.as_str() }),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// 督办 by hand: the street or the bureau presses an open request, with a reason.
pub async fn escalate(db: &Db, viewer: &Viewer, actor: &Actor, id: Uuid, reason: &str) -> Result<(), AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.escalates(&r) {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let reason = crate::requests::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if !r.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET escalation = escalation + 1, escalated_at = $1, version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3"
    )
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    event(
        &mut tx,
        Ev { request: id, part: None, kind: "escalated", from: None, to: None, shown: Shown::Staff },
        Some(&reason),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Folds a duplicate into an earlier request: the duplicate's active parts are withdrawn and it
/// is marked merged; its reporter follows the surviving request.
pub async fn merge(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    dup: Uuid,
    version: i64,
    into: Uuid,
) -> Result<(), AppError> {
    let d = get(db, viewer, dup).await?.ok_or(AppError::NotFound)?;
    let keep = get(db, viewer, into).await?.ok_or_else(|| AppError::field("into", "error.bad_choice"))?;
    if !viewer.dispatches(&d) {
        return Err(AppError::Forbidden);
    }
    if d.id == keep.id || !d.status().is_open() || !keep.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    if d.version != version {
        return Err(AppError::Stale);
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "UPDATE request_parts SET status = 'withdrawn', version = version + 1, updated_at = $1, updated_by = $2
         WHERE request_id = $3 AND status IN ('dispatched', 'signed')"
    )
    .bind(now)
    .bind(actor.id)
    .bind(dup)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET status = 'merged', merged_into = $1, closed_at = $2, version = version + 1, updated_at = $2, updated_by = $3
         WHERE id = $4 AND version = $5"
    )
    .bind(into)
    .bind(now)
    .bind(actor.id)
    .bind(dup)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    event_with(
        &mut tx,
        Ev {
            request: dup,
            part: None,
            kind: "merged",
            from: Some(d.status.as_str()),
            to: Some("merged"),
            shown: Shown::Public,
        },
        None,
        serde_json::json!({ "into": keep.number }),
        actor,
        now,
    )
    .await?;
    event_with(
        &mut tx,
        Ev { request: into, part: None, kind: "merged_in", from: None, to: None, shown: Shown::Staff },
        None,
        serde_json::json!({ "from": d.number }),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, into, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A public note on the request (the resident adds detail on the tracking page, or an Open311
/// app posts an update).
pub async fn public_note(db: &Db, actor: &Actor, id: Uuid, note: &str) -> Result<(), AppError> {
    let note = note.trim();
    if note.chars().count() < 2 {
        return Err(AppError::field("note", "error.required"));
    }
    if note.chars().count() > 1000 {
        return Err(AppError::field("note", "error.too_long"));
    }
    if note.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(AppError::field("note", "error.control_chars"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    event(
        &mut tx,
        Ev { request: id, part: None, kind: "resident_note", from: None, to: None, shown: Shown::PublicWithNote },
        Some(note),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, id, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

// ---- the overdue sweep ----------------------------------------------------------------------------

/// Escalates every open request past its resolution deadline once (level 0 → 1), with a
/// timeline entry. A conditional UPDATE per row, so several instances running it at once
/// escalate each request exactly once. Returns how many it escalated.
pub async fn escalate_overdue(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT r.id FROM {} WHERE r.status IN ('accepted', 'dispatched', 'in_progress') AND r.resolve_due < {} AND r.escalation = 0
         ORDER BY r.resolve_due LIMIT 500",
        open_due_requests(db),
        args.push(now)
    );
    let due: Vec<(Uuid,)> = query::all(db, &sql, &args).await?;
    let actor = Actor::system("system");
    let mut done = 0;
    for (id,) in due {
        let mut tx = db.begin().await?;
        let n = write!(&mut tx, |c| {
            sqlx::query(
            "UPDATE requests SET escalation = 1, escalated_at = $1, version = version + 1, updated_at = $1 WHERE id = $2 AND escalation = 0"
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            event(
                &mut tx,
                Ev { request: id, part: None, kind: "auto_escalated", from: None, to: None, shown: Shown::Staff },
                None,
                &actor,
                now,
            )
            .await?;
            done += 1;
        }
        tx.commit().await?;
    }
    Ok(done)
}

/// Phone number of a request, for the callback: permission and a reason, audited first.
pub async fn reveal_phone(
    db: &Db,
    keys: &Keyring,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<String, AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let reason = crate::people::store::reveal_reason(reason, "reason", &mut errors);
    errors.into_result()?;
    let mut args = Args::new();
    let sql = format!("SELECT phone_sealed FROM requests WHERE id = {}", args.push(r.id));
    let Some((Some(sealed),)) = query::optional::<(Option<String>,)>(db, &sql, &args).await? else {
        return Err(AppError::NotFound);
    };
    // Opened before the reveal is recorded: one that fails (its key gone) revealed nothing.
    let phone = keys.open_text(&sealed)?;
    crate::audit::record_alone(
        db,
        actor,
        crate::audit::Entry {
            action: "request.reveal_phone",
            entity: "request",
            entity_id: Some(r.id.to_string()),
            detail: serde_json::json!({ "reason": reason, "number": r.number }),
        },
    )
    .await?;
    Ok(phone)
}

/// The request a part belongs to (for redirects; access is checked by the action itself).
pub async fn part_request(db: &Db, part: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT request_id FROM request_parts WHERE id = {}", args.push(part));
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0))
}

pub async fn extension_request(db: &Db, extension: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT request_id FROM request_extensions WHERE id = {}", args.push(extension));
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0))
}

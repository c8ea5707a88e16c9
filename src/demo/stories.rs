//! The request and hazard stories of the seeds (6, 7, 8, 9 and 10), written through the same
//! store functions the pages use, so a demo opens on work in every state rather than on empty
//! queues: a sewer cleared and rated, a manhole three departments handle together, a report waiting for
//! the desk, a flood patrol due on the grid worker's phone, a hazard in rectification and one just found.

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::auth::Caller;
use crate::crypto::Keyring;
use crate::db::Db;
use crate::error::FieldErrors;
use crate::hazards::model::{Category as HazardCategory, RiskLevel};
use crate::hazards::store::{self as hz, NewHazard, NewPatrol};
use crate::requests::calendar::{Calendar, OfficeHours};
use crate::requests::model::{Channel, IntakeInput, validate_intake};
use crate::requests::publication::PublicationInput;
use crate::requests::store::{self as rq, Intake, PartAction, PartStep, StaffNote, Unit};

use super::{err, id_of, place};

/// A point about `(north, east)` metres from a demo community's centre, so that a story's
/// request or hazard sits where the location rule (`org::geo`) puts it: in that community, and
/// a resident who uses "my location" beside it lands there too.
fn near(community: &str, north: f64, east: f64) -> anyhow::Result<(f64, f64)> {
    let (_, lat, lon) =
        super::coordinates().into_iter().find(|(n, ..)| n == community).context("a demo community's centre")?;
    let lat = lat + north / 111_000.0;
    Ok((lat, lon + east / (111_000.0 * lat.to_radians().cos())))
}

fn text(x: f64) -> Option<String> {
    Some(format!("{x:.4}"))
}

async fn caller(db: &Db, account: &str) -> anyhow::Result<Caller> {
    crate::auth::caller_for_account(db, account).await?.with_context(|| format!("demo account {account}"))
}

async fn estate(db: &Db, name: &str) -> anyhow::Result<Uuid> {
    id_of(db, "SELECT id FROM estates WHERE name = $1", name).await
}

/// A department as a dispatch target (`org:<id>`), looked up in the dispatcher's scope.
async fn department(db: &Db, who: &Caller, name: &str) -> anyhow::Result<Unit> {
    let id = id_of(db, "SELECT id FROM organisations WHERE name = $1", name).await?;
    rq::unit(db, &who.scope, &format!("org:{id}")).await?.with_context(|| format!("dispatch target {name}"))
}

/// A call the desk takes on the phone (受理); the desk holds it until it is dispatched.
async fn phone_call(db: &Db, keys: &Keyring, desk: &Caller, input: IntakeInput) -> anyhow::Result<rq::Request> {
    let mut errors = FieldErrors::default();
    let clean = validate_intake(&input, true, &mut errors).with_context(|| format!("demo intake: {errors:?}"))?;
    let actor = desk.actor();
    let intake = Intake {
        channel: Channel::Phone,
        actor: &actor,
        staff_scope: Some(&desk.scope),
        client_id: None,
        attributes: serde_json::json!({}),
        photos: &[],
        limit: None,
        category: None,
    };
    Ok(rq::create(db, keys, &intake, &clean).await.map_err(err)?.request)
}

/// The desk publishes a request in its derived (redacted) wording.
async fn publish(db: &Db, desk: &Caller, id: Uuid) -> anyhow::Result<()> {
    let viewer = rq::viewer(db, desk).await?;
    let r = rq::get(db, &viewer, id).await?.context("demo request")?;
    let input = PublicationInput { published: Some(true), ..Default::default() };
    crate::requests::publication::publish(db, &viewer, &desk.actor(), id, r.version, &input).await.map_err(err)?;
    Ok(())
}

/// One step of a unit on its part of `request` (the part addressed to `unit_id`).
async fn part_step(
    db: &Db,
    unit: &Caller,
    request: Uuid,
    unit_id: Uuid,
    action: PartAction,
    text: &str,
) -> anyhow::Result<()> {
    let part = rq::parts(db, request).await?.into_iter().find(|p| p.unit_id == unit_id).context("demo part")?;
    let viewer = rq::viewer(db, unit).await?;
    let step = PartStep { action, text, public: true, photos: &[] };
    rq::act_on_part(db, &viewer, &unit.actor(), part.id, part.version, step).await.map_err(err)?;
    Ok(())
}

pub async fn load_requests_and_hazards(db: &Db, keys: &Keyring) -> anyhow::Result<()> {
    let desk = caller(db, "bureau").await?;
    let desk_viewer = rq::viewer(db, &desk).await?;
    let paiwu = caller(db, "paiwu").await?;
    let version = |id: Uuid| {
        let viewer = &desk_viewer;
        async move { anyhow::Ok(rq::get(db, viewer, id).await?.context("demo request")?.version) }
    };

    // Story 6: a blocked sewer, cleared by the drainage works and rated by the resident.
    let sewer = department(db, &desk, "大同市政排污所").await?;
    let r = phone_call(
        db,
        keys,
        &desk,
        IntakeInput {
            category: "sewage_overflow".into(),
            description: "宏安小区2号楼下水井污水外溢，流到单元门口，气味很大，小区没有物业。".into(),
            estate_id: Some(estate(db, "宏安小区").await?.to_string()),
            building: Some("2号楼".into()),
            lat: text(near("北馨园社区", 60.0, -40.0)?.0),
            lon: text(near("北馨园社区", 60.0, -40.0)?.1),
            reporter_name: Some("刘女士".into()),
            phone: Some("13903521106".into()),
            ..Default::default()
        },
    )
    .await?;
    // A phone call is internal until the desk publishes it; a whole estate's sewer is news.
    publish(db, &desk, r.id).await?;
    rq::dispatch(
        db,
        &desk_viewer,
        &desk.actor(),
        r.id,
        version(r.id).await?,
        std::slice::from_ref(&sewer),
        StaffNote::default(),
    )
    .await
    .map_err(err)?;
    part_step(db, &paiwu, r.id, sewer.id, PartAction::Sign, "").await?;
    part_step(db, &paiwu, r.id, sewer.id, PartAction::Resolve, "检查发现主管道油污堵塞，已清掏疏通，排水恢复正常。")
        .await?;
    let note = StaffNote::internal("居民表示处理及时，满意。");
    rq::callback(db, &desk_viewer, &desk.actor(), r.id, version(r.id).await?, "satisfied", note).await.map_err(err)?;
    // Three working days ago: taken in and dispatched in the morning, cleared the next
    // afternoon, called back before closing.
    let (day, next) = (working_day_before(3), working_day_before(2));
    backdate(
        db,
        r.id,
        &[
            ("accepted", at(day, 9, 12)),
            ("published", at(day, 9, 20)),
            ("dispatched", at(day, 9, 34)),
            ("signed", at(day, 10, 5)),
            ("resolved_part", at(next, 15, 41)),
            ("resolved", at(next, 15, 41)),
            ("closed", at(next, 16, 26)),
        ],
    )
    .await?;

    // Story 7: one manhole, several units at once; the drainage works has started, the others
    // have it in their lists.
    let r = phone_call(
        db,
        keys,
        &desk,
        IntakeInput {
            category: "sewer_blocked".into(),
            description: "建筑三公司家属院门口检查井反复冒水，路面积污水，影响居民出行。".into(),
            estate_id: Some(estate(db, "建筑三公司家属院").await?.to_string()),
            lat: text(near("振兴街社区", -50.0, 30.0)?.0),
            lon: text(near("振兴街社区", -50.0, 30.0)?.1),
            phone: Some("13835207712".into()),
            ..Default::default()
        },
    )
    .await?;
    let units = [
        sewer.clone(),
        department(db, &desk, "平城区环卫服务中心").await?,
        department(db, &desk, "迎宾街道综合行政执法队").await?,
    ];
    publish(db, &desk, r.id).await?;
    let note = StaffNote { text: "多部门联合处置，街道协调", public: true };
    rq::dispatch(db, &desk_viewer, &desk.actor(), r.id, version(r.id).await?, &units, note).await.map_err(err)?;
    part_step(db, &paiwu, r.id, sewer.id, PartAction::Sign, "").await?;
    part_step(db, &paiwu, r.id, sewer.id, PartAction::Note, "已到现场，正在清掏7处检查井，疏通管道百余米。").await?;
    // Yesterday's (the last working day's) afternoon.
    let day = working_day_before(1);
    backdate(
        db,
        r.id,
        &[
            ("accepted", at(day, 14, 3)),
            ("published", at(day, 14, 9)),
            // One dispatch to three units: an event for each.
            ("dispatched", at(day, 14, 27)),
            ("dispatched", at(day, 14, 27)),
            ("dispatched", at(day, 14, 27)),
            ("signed", at(day, 15, 12)),
            ("progress", at(day, 16, 48)),
        ],
    )
    .await?;

    // A resident's report the desk has not dispatched yet (待派单), called in a little while ago.
    let light = phone_call(
        db,
        keys,
        &desk,
        IntakeInput {
            category: "street_light".into(),
            description: "万城华府小区南门路灯一周不亮，晚上出行不便。".into(),
            estate_id: Some(estate(db, "万城华府小区").await?.to_string()),
            lat: text(near("万城社区", 40.0, 70.0)?.0),
            lon: text(near("万城社区", 40.0, 70.0)?.1),
            phone: Some("15935216630".into()),
            ..Default::default()
        },
    )
    .await?;
    backdate(db, light.id, &[("accepted", Utc::now() - TimeDelta::minutes(25))]).await?;

    // Story 8: a flood-season patrol due today on the grid worker's phone.
    let grid = caller(db, "yongtai.grid").await?;
    let checklist = crate::hazards::model::checklist("flood").context("flood checklist")?;
    hz::plan_patrol(
        db,
        &desk.scope,
        &desk.actor(),
        &NewPatrol {
            place_id: id_of(db, "SELECT id FROM places WHERE path = $1", grid.scope.roots.first().context("grid")?)
                .await?,
            checklist,
            area: "小南门西街一带：低洼路段、地下车库".into(),
            due_on: hz::today(),
            assignee_id: Some(grid.user_id),
        },
    )
    .await
    .map_err(err)?;

    // Stories 9 and 10: hoarded waste at an elder's home, and a self-built house with cracks.
    for (category, risk, community, coords, description, responsible) in [
        (
            HazardCategory::Fire,
            RiskLevel::High,
            "大齿社区",
            near("大齿社区", -80.0, 50.0)?,
            "83岁老人在家中大量堆放捡拾的废品，存在火灾隐患，异味影响邻居。",
            "大齿社区 社工与志愿者",
        ),
        (
            HazardCategory::SelfBuilt,
            RiskLevel::Major,
            "新悦社区",
            near("新悦社区", 90.0, -60.0)?,
            "自建房外墙多处裂缝，屋顶漏水，地面有下沉迹象。",
            "",
        ),
    ] {
        let h = NewHazard {
            category: Some(category),
            risk: Some(risk),
            description: description.into(),
            place_id: Some(place(db, community).await?),
            estate_id: None,
            building: None,
            address: None,
            coords: Some(coords),
            responsible: responsible.into(),
            deadline: None,
            person_id: None,
            case_id: None,
            request_id: None,
        };
        hz::register(db, &desk.scope, &desk.actor(), &h, &[]).await.map_err(err)?;
    }
    Ok(())
}

/// The `n`-th working day before today (Shanghai) on the shipped calendar, but not before the
/// first of this month: the metrics page opens on this month, and a demo should open on its
/// stories counted there.
fn working_day_before(n: usize) -> NaiveDate {
    let cal = Calendar::shipped();
    let today = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let day =
        today.iter_days().rev().skip(1).filter(|d| cal.is_working_day(*d)).nth(n.saturating_sub(1)).unwrap_or(today);
    day.max(first)
}

/// A story's instants, moved back as a whole if any would lie in the future (a demo loaded
/// early on the first of a month): the intervals between its steps are what it shows.
fn in_the_past(schedule: &mut [(&str, DateTime<Utc>)]) {
    let latest = Utc::now() - TimeDelta::minutes(10);
    if let Some(last) = schedule.iter().map(|s| s.1).max().filter(|l| *l > latest) {
        let back = last - latest;
        for s in schedule.iter_mut() {
            s.1 -= back;
        }
    }
}

/// A Shanghai wall-clock time on `day`, as stored (UTC).
fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default());
    (local - TimeDelta::hours(8)).and_utc()
}

/// Moves a story's request back to when it would have happened. The store functions stamp
/// every step with the present, so a demo loaded in one go shows handling times of 0.0 h;
/// here each event takes its instant from `schedule` (its kinds, in the order the story wrote
/// them, so a story and its schedule cannot drift apart unnoticed), and the request's and its
/// parts' times and deadlines follow from those instants as the store would have set them.
async fn backdate(db: &Db, request: Uuid, schedule: &[(&str, DateTime<Utc>)]) -> anyhow::Result<()> {
    let mut schedule = schedule.to_vec();
    in_the_past(&mut schedule);
    let schedule = schedule.as_slice();
    type EventRow = (Uuid, String, Option<Uuid>);
    let events: Vec<EventRow> = crate::read!(db, |c| sqlx::query_as(
        "SELECT id, kind, part_id FROM request_events WHERE request_id = $1 ORDER BY at, id"
    )
    .bind(request)
    .fetch_all(c)
    .await)?;
    let kinds: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    let planned: Vec<&str> = schedule.iter().map(|s| s.0).collect();
    anyhow::ensure!(kinds == planned, "demo schedule {planned:?} does not match the story's events {kinds:?}");
    let when = |kind: &str| schedule.iter().find(|s| s.0 == kind).map(|s| s.1);
    let created = schedule.first().context("an empty schedule")?.1;
    let last = schedule.iter().map(|s| s.1).max().unwrap_or(created);
    let (hours, days): (i64, i64) = crate::read!(db, |c| sqlx::query_as(
        "SELECT c.response_hours, c.resolve_days FROM requests r JOIN request_categories c ON c.code = r.category
         WHERE r.id = $1"
    )
    .bind(request)
    .fetch_one(c)
    .await)?;
    let (cal, office) = (Calendar::shipped(), OfficeHours::default());
    let response_due = cal.add_working_hours(created, u32::try_from(hours).unwrap_or(1), office);
    let resolve_due = cal.add_working_days(created, u32::try_from(days).unwrap_or(1), office);
    let responded = when("signed").or(when("resolved_part"));
    let (resolved, closed) = (when("resolved"), when("closed"));
    let mut tx = db.begin().await?;
    for ((id, _, _), (_, t)) in events.iter().zip(schedule) {
        crate::write!(&mut tx, |c| sqlx::query("UPDATE request_events SET at = $1 WHERE id = $2")
            .bind(*t)
            .bind(*id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE requests SET created_at = $1, updated_at = $2, response_due = $3, resolve_due = $4,
                responded_at = CASE WHEN responded_at IS NULL THEN NULL ELSE COALESCE($5, responded_at) END,
                resolved_at = CASE WHEN resolved_at IS NULL THEN NULL ELSE COALESCE($6, resolved_at) END,
                closed_at = CASE WHEN closed_at IS NULL THEN NULL ELSE COALESCE($7, closed_at) END
         WHERE id = $8"
    )
    .bind(created)
    .bind(last)
    .bind(response_due)
    .bind(resolve_due)
    .bind(responded)
    .bind(resolved)
    .bind(closed)
    .bind(request)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    // Each part was made by the dispatch and is due when the request was; its signing and
    // finishing are its own events.
    let dispatched = when("dispatched").unwrap_or(created);
    let parts: Vec<Uuid> = events.iter().filter_map(|e| e.2).collect();
    let part_time = |part: Uuid, kind: &str| {
        events.iter().zip(schedule).find(|(e, _)| e.2 == Some(part) && e.1 == kind).map(|(_, s)| s.1)
    };
    crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE request_parts SET created_at = $1, updated_at = $1, due = $2 WHERE request_id = $3"
    )
    .bind(dispatched)
    .bind(resolve_due)
    .bind(request)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    for part in parts {
        let (signed, finished) = (part_time(part, "signed"), part_time(part, "resolved_part"));
        let touched = [signed, finished, part_time(part, "progress")].into_iter().flatten().max().unwrap_or(dispatched);
        crate::write!(&mut tx, |c| sqlx::query(
            "UPDATE request_parts SET updated_at = $1,
                    signed_at = CASE WHEN signed_at IS NULL THEN NULL ELSE COALESCE($2, signed_at) END,
                    resolved_at = CASE WHEN resolved_at IS NULL THEN NULL ELSE COALESCE($3, resolved_at) END
             WHERE id = $4"
        )
        .bind(touched)
        .bind(signed)
        .bind(finished)
        .bind(part)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(())
}

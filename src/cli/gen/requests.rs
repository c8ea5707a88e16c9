//! `linli gen --requests N`: two years of resident requests (接诉即办) across the demo's
//! communities, written the way the app's own transitions would have left them.
//!
//! Each request is generated as a life — accepted, dispatched to its category's default unit
//! (sometimes a second unit: co-handling), signed, resolved by every unit, called back and
//! closed — with delays drawn per step; the life is then cut at the present, so old requests are
//! mostly closed and recent ones spread over every open status. A few get stuck (never signed,
//! never resolved) and a few are merged into an earlier request of the same community and
//! category. What each step writes follows `requests::store`:
//! - numbers `2025-000123` per year (Asia/Shanghai) in creation order, after any number
//!   `request_counters` already handed out; the counters are left where intake continues;
//! - `path` is the community or grid, `owner_path` the unit that took the request (the district
//!   desk or the community for phone calls, the community or street for staff, the street for
//!   the public page and Open311, as `store::create` sets it);
//! - due times from the shipped working calendar (`add_working_hours`, `add_working_days`),
//!   parts due when the request is, as `dispatch` sets them;
//! - the request's status from its parts (`model::status_from_parts`), its version bumped once
//!   per transition, `responded_at` at the first signing, `resolved_at`/`closed_at` and the
//!   satisfaction of the callback;
//! - every request that was still open at its resolution deadline carries the escalation the
//!   overdue sweep gives it (level 1, `auto_escalated` event a minute after the deadline), so a
//!   server started on the data set has nothing left to sweep;
//! - timeline rows (`request_events`) with the kinds, statuses, public flags and details the
//!   store writes; phone numbers sealed, blind-indexed and masked as intake stores them.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Utc};
use rand::Rng;
use rand::distributions::{Distribution, WeightedIndex};
use uuid::Uuid;

use super::Gen;
use super::bulk::{Table, Ty, Val};
use crate::db::Db;
use crate::read;
use crate::requests::calendar::{Calendar, OfficeHours};
use crate::requests::model::{PartStatus, Status, status_from_parts};

use Ty::{Bool, Id, Int, Real, Text, Time};

pub(super) static REQUESTS: Table = Table {
    name: "requests",
    cols: &[
        ("id", Id),
        ("number", Text),
        ("category", Text),
        ("channel", Text),
        ("description", Text),
        ("place_id", Id),
        ("path", Text),
        ("estate_id", Id),
        ("building", Text),
        ("address", Text),
        ("lat", Real),
        ("lon", Real),
        ("reporter_name", Text),
        ("phone_sealed", Text),
        ("phone_hash", Text),
        ("phone_masked", Text),
        ("attributes", Text),
        ("status", Text),
        ("owner_path", Text),
        ("response_due", Time),
        ("resolve_due", Time),
        ("responded_at", Time),
        ("resolved_at", Time),
        ("closed_at", Time),
        ("escalation", Int),
        ("escalated_at", Time),
        ("satisfaction", Text),
        ("merged_into", Id),
        ("tracking_hash", Text),
        ("version", Int),
        ("created_at", Time),
        ("updated_at", Time),
    ],
};
pub(super) static REQUEST_PARTS: Table = Table {
    name: "request_parts",
    cols: &[
        ("id", Id),
        ("request_id", Id),
        ("unit_kind", Text),
        ("unit_id", Id),
        ("unit_name", Text),
        ("unit_path", Text),
        ("status", Text),
        ("due", Time),
        ("signed_at", Time),
        ("resolved_at", Time),
        ("resolution", Text),
        ("version", Int),
        ("created_at", Time),
        ("updated_at", Time),
    ],
};
pub(super) static REQUEST_EVENTS: Table = Table {
    name: "request_events",
    cols: &[
        ("id", Id),
        ("request_id", Id),
        ("part_id", Id),
        ("kind", Text),
        ("from_status", Text),
        ("to_status", Text),
        ("note", Text),
        ("detail", Text),
        ("public", Bool),
        ("at", Time),
        ("actor_name", Text),
    ],
};

#[derive(Clone)]
struct Unit {
    kind: &'static str,
    id: Uuid,
    name: Arc<str>,
    path: Arc<str>,
    /// `{"unit": name}`, the detail of the unit's events.
    detail: Arc<str>,
}

struct Community {
    unit: Unit,
    street: Unit,
    district_path: Arc<str>,
    grids: Vec<(Uuid, Arc<str>, Arc<str>)>,
    estates: Vec<(Uuid, Arc<str>)>,
}

struct Category {
    code: Arc<str>,
    name: String,
    default_unit: String,
    response_hours: u32,
    resolve_days: u32,
    /// Open311 attributes a post of this category must answer (`elevator`: trapped).
    attributes: Arc<str>,
}

/// What the request generator reads from the database before the load.
pub(super) struct RequestWorld {
    communities: Vec<Community>,
    weights: WeightedIndex<f64>,
    categories: Vec<Category>,
    category_weights: WeightedIndex<u32>,
    departments: Vec<Unit>,
    calendar: std::sync::Arc<Calendar>,
    /// Numbers already handed out: year → last.
    counters: HashMap<i32, i64>,
}

fn unit(kind: &'static str, id: Uuid, name: &str, path: &str) -> Unit {
    Unit {
        kind,
        id,
        name: name.into(),
        path: path.into(),
        detail: serde_json::json!({ "unit": name }).to_string().into(),
    }
}

/// How often each shipped category comes in (others: 3).
fn category_weight(code: &str) -> u32 {
    match code {
        "garbage_piled" => 18,
        "sewer_blocked" => 14,
        "property_dispute" => 12,
        "noise" => 10,
        "heating" => 10,
        "corridor_clutter" => 8,
        "street_light" => 7,
        "elevator" => 5,
        "sewage_overflow" => 5,
        "elderly_help" => 5,
        "other" => 8,
        _ => 3,
    }
}

impl RequestWorld {
    pub(super) async fn load(db: &Db, rng: &mut impl Rng) -> anyhow::Result<RequestWorld> {
        type CommunityRow = (Uuid, String, String, Uuid, String, String, String);
        let rows: Vec<CommunityRow> = read!(db, |c| sqlx::query_as(
            "SELECT c.id, c.name, c.path, s.id, s.name, s.path, d.path FROM places c
             JOIN places s ON s.id = c.parent_id JOIN places d ON d.id = s.parent_id
             WHERE c.kind = 'community' AND c.active = $1 ORDER BY c.path"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let grids: Vec<(Uuid, Uuid, String, String)> = read!(db, |c| sqlx::query_as(
            "SELECT id, parent_id, name, path FROM places WHERE kind = 'grid' AND active = $1 ORDER BY path"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let estates: Vec<(Uuid, Uuid, String)> = read!(db, |c| sqlx::query_as(
            "SELECT id, community_id, name FROM estates WHERE active = $1 ORDER BY name"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let departments: Vec<(Uuid, String, String)> = read!(db, |c| sqlx::query_as(
            "SELECT o.id, o.name, p.path FROM organisations o JOIN places p ON p.id = o.place_id
             WHERE o.kind = 'department' AND o.active = $1 ORDER BY o.name"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let communities: Vec<Community> = rows
            .into_iter()
            .map(|(id, name, path, sid, sname, spath, dpath)| Community {
                unit: unit("place", id, &name, &path),
                street: unit("place", sid, &sname, &spath),
                district_path: dpath.into(),
                grids: grids
                    .iter()
                    .filter(|g| g.1 == id)
                    .map(|g| (g.0, Arc::from(format!("{name}{}", g.2)), Arc::from(g.3.as_str())))
                    .collect(),
                estates: estates.iter().filter(|e| e.1 == id).map(|e| (e.0, Arc::from(e.2.as_str()))).collect(),
            })
            .collect();
        anyhow::ensure!(!communities.is_empty(), "no communities to place requests in");
        let weights = WeightedIndex::new(communities.iter().map(|_| rng.gen_range(0.4..1.6))).expect("weights");
        let categories: Vec<Category> = crate::requests::store::categories(db, true)
            .await?
            .into_iter()
            .map(|c| {
                let attributes = if c.attributes.contains("\"required\":true") && c.code == "elevator" {
                    r#"{"trapped":"no"}"#
                } else {
                    "{}"
                };
                Category {
                    code: c.code.as_str().into(),
                    name: c.name,
                    default_unit: c.default_unit,
                    response_hours: u32::try_from(c.response_hours).unwrap_or(8),
                    resolve_days: u32::try_from(c.resolve_days).unwrap_or(5),
                    attributes: attributes.into(),
                }
            })
            .collect();
        anyhow::ensure!(!categories.is_empty(), "no active request categories");
        let category_weights =
            WeightedIndex::new(categories.iter().map(|c| category_weight(&c.code))).expect("category weights");
        let counters: Vec<(i64, i64)> =
            read!(db, |c| sqlx::query_as("SELECT year, last FROM request_counters").fetch_all(c).await)?;
        Ok(RequestWorld {
            communities,
            weights,
            categories,
            category_weights,
            departments: departments.iter().map(|(id, name, path)| unit("org", *id, name, path)).collect(),
            calendar: crate::requests::store::calendar(db).await.context("reading the working calendar")?,
            counters: counters.into_iter().map(|(y, last)| (y as i32, last)).collect(),
        })
    }
}

/// What the request load wrote, for the summary and the counters.
#[derive(Default)]
pub(super) struct RequestSummary {
    pub requests: u64,
    pub parts: u64,
    pub events: u64,
    pub open: u64,
    pub overdue_open: u64,
    pub by_status: HashMap<&'static str, u64>,
    /// Where each year's counter ends: (year, last).
    pub counters: Vec<(i32, i64)>,
}

const CHANNELS: [(&str, u32); 4] = [("phone", 45), ("web", 20), ("open311", 15), ("staff", 20)];
const SATISFACTION: [(&str, u32); 3] = [("very_satisfied", 55), ("satisfied", 33), ("basically_satisfied", 12)];
const DESCRIPTIONS: &[&str] = &[
    "{place}{estate}{building}居民反映{category}问题，已持续数日，请尽快处理。",
    "来电反映{estate}{building}附近{category}，影响出行和生活。",
    "{place}居民投诉{category}，希望社区协调解决。",
    "{estate}{building}{category}，居民多次反映未果，请求督办。",
    "反映{place}{category}情况，请相关单位上门查看。",
];
const RESOLUTIONS: &[&str] = &[
    "已安排人员上门处理完毕，居民认可。",
    "已协调物业及相关单位处理，现场已恢复。",
    "经现场核实已整改到位，已电话回复居民。",
    "已联系责任单位处置，后续持续跟进。",
];

/// One unit's share, as it stands at the end of its generated life.
struct PartLife {
    unit: Unit,
    dispatched: DateTime<Utc>,
    signed: Option<DateTime<Utc>>,
    resolved: Option<DateTime<Utc>>,
}

impl Gen {
    fn hours(&mut self, lo: f64, hi: f64) -> Duration {
        Duration::seconds((self.rng.gen_range(lo..hi) * 3600.0) as i64)
    }

    /// Generates `n` requests created over the last two years, in creation order.
    pub(super) fn requests(&mut self, n: u64) -> anyhow::Result<()> {
        let Some(rw) = self.w.requests.take() else { return Ok(()) };
        if n == 0 {
            return Ok(());
        }
        let now = self.w.now;
        let start = now - Duration::days(730);
        let span_ms = (now - Duration::minutes(10) - start).num_milliseconds() as f64;
        let office = OfficeHours::default();
        let channels = WeightedIndex::new(CHANNELS.iter().map(|c| c.1)).expect("channels");
        let satisfaction = WeightedIndex::new(SATISFACTION.iter().map(|c| c.1)).expect("satisfaction");
        let mut counters = rw.counters.clone();
        // The latest request per (community, category): what a duplicate is merged into.
        let mut latest: HashMap<(usize, usize), (Uuid, Arc<str>)> = HashMap::new();
        let mut sum = RequestSummary::default();
        let empty_detail: Arc<str> = "{}".into();
        let system: Arc<str> = "system".into();
        let desk: Arc<str> = "派单员".into();
        let callback: Arc<str> = "回访员".into();
        for i in 0..n {
            let created =
                start + Duration::milliseconds(((i as f64 + self.rng.gen_range(0.0..0.9)) * span_ms / n as f64) as i64);
            let ci = rw.weights.sample(&mut self.rng);
            let cat_i = rw.category_weights.sample(&mut self.rng);
            let (comm, cat) = (&rw.communities[ci], &rw.categories[cat_i]);
            let (place_id, place_name, path) = if comm.grids.is_empty() || self.rng.gen_bool(0.3) {
                (comm.unit.id, comm.unit.name.clone(), comm.unit.path.clone())
            } else {
                comm.grids[self.rng.gen_range(0..comm.grids.len())].clone()
            };
            let estate = (!comm.estates.is_empty() && self.rng.gen_bool(0.7))
                .then(|| comm.estates[self.rng.gen_range(0..comm.estates.len())].clone());
            let building = estate.as_ref().map(|_| self.rng.gen_range(1..=14).to_string());
            let channel = CHANNELS[channels.sample(&mut self.rng)].0;
            let mut address = place_name.to_string();
            if let Some((_, e)) = &estate {
                address.push(' ');
                address.push_str(e);
            }
            if let Some(b) = &building {
                address.push(' ');
                address.push_str(b);
            }
            let template = DESCRIPTIONS[self.rng.gen_range(0..DESCRIPTIONS.len())];
            let description = template
                .replace("{place}", &place_name)
                .replace("{estate}", estate.as_ref().map_or("", |e| &*e.1))
                .replace("{building}", &building.as_ref().map(|b| format!("{b}号楼")).unwrap_or_default())
                .replace("{category}", &cat.name);
            let coords = (channel == "open311").then(|| {
                (
                    (self.rng.gen_range(40.03..40.13f64) * 1e6).round() / 1e6,
                    (self.rng.gen_range(113.22..113.36f64) * 1e6).round() / 1e6,
                )
            });
            let with_phone = match channel {
                "phone" | "web" => true,
                "open311" => self.rng.gen_bool(0.5),
                _ => false,
            };
            let (reporter, phone) = if with_phone {
                let surname = self.names.surname(&mut self.rng);
                let title = if self.rng.gen_bool(0.5) { "先生" } else { "女士" };
                (Some(format!("{surname}{title}")), Some(self.phone()))
            } else {
                (None, None)
            };
            let owner_path = match channel {
                "phone" if self.rng.gen_bool(0.5) => comm.district_path.clone(),
                "phone" => comm.unit.path.clone(),
                "staff" if self.rng.gen_bool(0.3) => comm.street.path.clone(),
                "staff" => comm.unit.path.clone(),
                _ => comm.street.path.clone(),
            };
            let response_due = rw.calendar.add_working_hours(created, cat.response_hours, office);
            let resolve_due = rw.calendar.add_working_days(created, cat.resolve_days, office);

            // The life, then cut at now.
            let dispatch_at = created + self.hours(0.1, 6.0);
            let merge = self.rng.gen_bool(0.02).then(|| latest.get(&(ci, cat_i)).cloned()).flatten();
            let mut parts: Vec<PartLife> = Vec::new();
            // A few are never dispatched: they wait in a desk's dispatch queue, overdue.
            let forgotten = self.rng.gen_bool(0.002);
            if merge.is_none() && !forgotten && dispatch_at <= now {
                let first = match cat.default_unit.as_str() {
                    "station" => comm.street.clone(),
                    "department" if !rw.departments.is_empty() => {
                        rw.departments[self.rng.gen_range(0..rw.departments.len())].clone()
                    }
                    _ => comm.unit.clone(),
                };
                let mut units = vec![first];
                if self.rng.gen_bool(0.12) {
                    let second = if units[0].kind == "org" || rw.departments.is_empty() {
                        if units[0].id == comm.unit.id { comm.street.clone() } else { comm.unit.clone() }
                    } else {
                        rw.departments[self.rng.gen_range(0..rw.departments.len())].clone()
                    };
                    units.push(second);
                }
                for u in units {
                    let signed = (!self.rng.gen_bool(0.002)).then(|| dispatch_at + self.hours(0.2, 20.0));
                    let days = f64::from(cat.resolve_days) * 1.4;
                    let resolved = signed
                        .filter(|_| !self.rng.gen_bool(0.006))
                        .map(|s| s + Duration::seconds((self.rng.gen_range(0.1..days) * 86400.0) as i64));
                    parts.push(PartLife {
                        unit: u,
                        dispatched: dispatch_at,
                        signed: signed.filter(|t| *t <= now),
                        resolved: resolved.filter(|t| *t <= now),
                    });
                }
            }
            let part_status = |p: &PartLife| match (p.signed, p.resolved) {
                (_, Some(_)) => PartStatus::Resolved,
                (Some(_), None) => PartStatus::Signed,
                _ => PartStatus::Dispatched,
            };
            let merged_at = merge.as_ref().map(|_| dispatch_at).filter(|t| *t <= now);
            let mut status = if merged_at.is_some() {
                Status::Merged
            } else {
                status_from_parts(&parts.iter().map(part_status).collect::<Vec<_>>())
            };
            let resolved_at =
                (status == Status::Resolved).then(|| parts.iter().filter_map(|p| p.resolved).max()).flatten();
            let closed = resolved_at
                .map(|r| r + self.hours(2.0, 72.0))
                .filter(|t| *t <= now)
                .map(|t| (t, SATISFACTION[satisfaction.sample(&mut self.rng)].0));
            if closed.is_some() {
                status = Status::Closed;
            }
            let responded_at = parts.iter().filter_map(|p| p.signed).min();
            // Open past the deadline at some moment: the sweep escalated it a minute after.
            let open_until = merged_at.or(resolved_at).unwrap_or(now);
            let escalated_at = (resolve_due < open_until && resolve_due < now)
                .then(|| resolve_due + Duration::seconds(self.rng.gen_range(1..60)))
                .filter(|t| *t <= now);

            let id = self.v7(created);
            let year = created.with_timezone(&chrono_tz::Asia::Shanghai).year();
            let seq = counters.entry(year).or_insert(0);
            *seq += 1;
            let number: Arc<str> = format!("{year}-{:06}", *seq).into();
            let code = format!("{id}{}", self.rng.r#gen::<u64>());

            // Events, in order; the request's version counts its transitions.
            let mut version = 1i64;
            let mut updated = created;
            let mut events: Vec<[Val; 11]> = Vec::new();
            let channel_note: Arc<str> = self.text(channel);
            let accepted_by: Arc<str> = self.text(match channel {
                "phone" => "热线受理员",
                "web" => "居民",
                "open311" => "open311:邻里演示应用 (demo app)",
                _ => "社区工作人员",
            });
            let mut ev = |g: &mut Gen,
                          at: DateTime<Utc>,
                          part: Option<Uuid>,
                          kind: &'static str,
                          from: Option<&'static str>,
                          to: Option<&'static str>,
                          note: Val,
                          detail: &Arc<str>,
                          public: bool,
                          actor: &Arc<str>| {
                let eid = g.v7(at);
                events.push([
                    eid.into(),
                    id.into(),
                    part.into(),
                    kind.into(),
                    from.into(),
                    to.into(),
                    note,
                    detail.into(),
                    public.into(),
                    at.into(),
                    actor.into(),
                ]);
            };
            ev(
                self,
                created,
                None,
                "accepted",
                None,
                Some("accepted"),
                (&channel_note).into(),
                &empty_detail,
                true,
                &accepted_by,
            );
            let mut part_rows = Vec::new();
            if let (Some(at), Some((_, into_number))) = (merged_at, &merge) {
                version += 1;
                updated = at;
                let detail: Arc<str> = serde_json::json!({ "into": &**into_number }).to_string().into();
                ev(self, at, None, "merged", Some("accepted"), Some("merged"), Val::Null, &detail, true, &desk);
            }
            if !parts.is_empty() {
                version += 1; // dispatch settles once for all its parts
                updated = updated.max(dispatch_at);
            }
            for p in &parts {
                let pid = self.v7(p.dispatched);
                ev(
                    self,
                    p.dispatched,
                    Some(pid),
                    "dispatched",
                    None,
                    Some("dispatched"),
                    Val::Null,
                    &p.unit.detail,
                    true,
                    &desk,
                );
                let mut pv = 1i64;
                let mut pupdated = p.dispatched;
                if let Some(s) = p.signed {
                    pv += 1;
                    pupdated = s;
                    version += 1;
                    ev(
                        self,
                        s,
                        Some(pid),
                        "signed",
                        Some("dispatched"),
                        Some("signed"),
                        Val::Null,
                        &p.unit.detail,
                        true,
                        &p.unit.name,
                    );
                }
                let pick = self.rng.gen_range(0..RESOLUTIONS.len());
                let resolution = p.resolved.map(|_| self.text(RESOLUTIONS[pick]));
                if let (Some(r), Some(text)) = (p.resolved, &resolution) {
                    pv += 1;
                    pupdated = r;
                    version += 1;
                    ev(
                        self,
                        r,
                        Some(pid),
                        "resolved_part",
                        Some("signed"),
                        Some("resolved"),
                        text.into(),
                        &p.unit.detail,
                        true,
                        &p.unit.name,
                    );
                }
                updated = updated.max(pupdated);
                part_rows.push([
                    pid.into(),
                    id.into(),
                    p.unit.kind.into(),
                    p.unit.id.into(),
                    (&p.unit.name).into(),
                    (&p.unit.path).into(),
                    part_status(p).as_str().into(),
                    resolve_due.into(),
                    p.signed.into(),
                    p.resolved.into(),
                    resolution.as_ref().map_or(Val::Null, Val::from),
                    pv.into(),
                    p.dispatched.into(),
                    pupdated.into(),
                ]);
            }
            if let Some(r) = resolved_at {
                // Settling after the last unit's resolution: in progress → resolved.
                ev(
                    self,
                    r,
                    None,
                    "resolved",
                    Some("in_progress"),
                    Some("resolved"),
                    Val::Null,
                    &empty_detail,
                    true,
                    &parts[0].unit.name,
                );
            }
            if let Some((at, level)) = closed {
                version += 1;
                updated = updated.max(at);
                let detail = self.text(&serde_json::json!({ "satisfaction": level }).to_string());
                ev(self, at, None, "closed", Some("resolved"), Some("closed"), Val::Null, &detail, true, &callback);
            }
            if let Some(at) = escalated_at {
                version += 1;
                updated = updated.max(at);
                ev(self, at, None, "auto_escalated", None, None, Val::Null, &empty_detail, false, &system);
            }
            let phone_vals: [Val; 3] = match &phone {
                Some(p) => [
                    self.keys.seal(p.as_str().as_bytes()).into(),
                    self.keys.blind("phone", p.as_str()).into(),
                    p.masked().into(),
                ],
                None => [Val::Null, Val::Null, Val::Null],
            };
            let [phone_sealed, phone_hash, phone_masked] = phone_vals;
            let attributes = if channel == "open311" { cat.attributes.clone() } else { empty_detail.clone() };
            let terms: Vec<(Arc<str>, i16)> = crate::search::request_terms(&description, &address, &cat.name)
                .into_iter()
                .map(|t| (Arc::from(t), crate::search::KIND_TEXT))
                .collect();
            let term_path: Arc<str> = Arc::from(&*path);
            self.out.row(
                &REQUESTS,
                [
                    id.into(),
                    (&number).into(),
                    (&cat.code).into(),
                    channel.into(),
                    description.into(),
                    place_id.into(),
                    (&path).into(),
                    estate.as_ref().map(|e| e.0).into(),
                    building.into(),
                    address.into(),
                    coords.map(|c| c.0).into(),
                    coords.map(|c| c.1).into(),
                    reporter.into(),
                    phone_sealed,
                    phone_hash,
                    phone_masked,
                    (&attributes).into(),
                    status.as_str().into(),
                    (&owner_path).into(),
                    response_due.into(),
                    resolve_due.into(),
                    responded_at.into(),
                    resolved_at.into(),
                    closed.map(|c| c.0).or(merged_at).into(),
                    i64::from(escalated_at.is_some()).into(),
                    escalated_at.into(),
                    closed.map(|c| c.1).into(),
                    merge.as_ref().filter(|_| merged_at.is_some()).map(|m| m.0).into(),
                    crate::requests::store::tracking_hash(&code).into(),
                    version.into(),
                    created.into(),
                    updated.into(),
                ],
            )?;
            self.index("request", id, id, &term_path, &terms)?;
            for row in part_rows {
                self.out.row(&REQUEST_PARTS, row)?;
                sum.parts += 1;
            }
            for row in events.drain(..) {
                self.out.row(&REQUEST_EVENTS, row)?;
                sum.events += 1;
            }
            latest.insert((ci, cat_i), (id, number));
            sum.requests += 1;
            *sum.by_status.entry(status.as_str()).or_default() += 1;
            if status.is_open() {
                sum.open += 1;
                if resolve_due < now {
                    sum.overdue_open += 1;
                }
            }
        }
        sum.counters = counters.into_iter().collect();
        sum.counters.sort();
        self.req_sum = sum;
        Ok(())
    }
}

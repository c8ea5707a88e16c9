//! Which work each role sees on its home, in what order, and how each item reads. Sections come
//! in order of urgency for the role; inside a section, overdue first, then soonest due.

use chrono::{Duration, Utc};

use super::queries::{self, Unit};
use super::{Due, Item, Section};
use crate::auth::{Caller, Role};
use crate::cases::store::CaseFilter;
use crate::error::AppResult;
use crate::hazards::store::ListFilter as HazardFilter;
use crate::i18n::Tr;
use crate::requests::store::{self as rq, ListFilter, Queue};
use crate::web::AppState;

/// Items shown per section; the count and the link lead to the rest.
const SHOWN: i64 = 8;

pub async fn sections(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Vec<Section>> {
    let mut out = Vec::new();
    match caller.role {
        Role::GridWorker => {
            out.push(patrols(st, caller, tr).await?);
            out.push(hazards(st, caller, tr).await?);
            out.push(unit_parts(st, caller, tr).await?);
        }
        Role::SocialWorker => {
            out.push(follow_ups(st, caller, tr, Some(caller.user_id)).await?);
            out.push(my_cases(st, caller, tr).await?);
            out.push(unit_parts(st, caller, tr).await?);
        }
        Role::StationManager => {
            out.push(transfer_offers(st, caller, tr).await?);
            out.push(approvals(st, caller, tr).await?);
            out.push(overdue_requests(st, caller, tr).await?);
            out.push(follow_ups(st, caller, tr, None).await?);
            out.push(dispatch(st, caller, tr).await?);
            out.push(callbacks(st, caller, tr).await?);
            out.push(caseload(st, caller, tr).await?);
        }
        Role::DepartmentHandler => {
            out.push(org_parts(st, caller, tr).await?);
        }
        Role::CommunityStaff => {
            out.push(dispatch(st, caller, tr).await?);
            out.push(unit_parts(st, caller, tr).await?);
            out.push(callbacks(st, caller, tr).await?);
            out.push(hazards(st, caller, tr).await?);
            out.push(patrols(st, caller, tr).await?);
        }
        Role::BureauAdmin => {
            out.push(escalations(st, caller, tr).await?);
            out.push(overdue_by_street(st, caller, tr).await?);
            out.push(dispatch(st, caller, tr).await?);
            out.push(callbacks(st, caller, tr).await?);
        }
        Role::Auditor => {
            out.push(security(st, tr).await?);
        }
        // Accounts and the organisation tree (the overview tiles and actions of the page);
        // partner staff and volunteers have no work kept here yet (activities and wishes will
        // bring theirs).
        Role::SystemAdmin | Role::PartnerStaff | Role::Volunteer => {}
    }
    Ok(out)
}

// ---- grid: patrols and hazards -----------------------------------------------------------------

async fn patrols(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let today = crate::hazards::store::today();
    // Planned patrols come first in this list, soonest due.
    let (rows, _) = crate::hazards::store::patrols(&st.db, &caller.scope, None, SHOWN, 0).await?;
    let count = queries::planned_patrols(&st.db, &caller.scope).await?;
    let items = rows
        .into_iter()
        .filter(|p| p.status == "planned")
        .map(|p| Item {
            title: format!("{} · {}", tr.t(&format!("checklist.{}", p.checklist)), p.place_name),
            detail: p.area.clone(),
            due: Some(Due::by_date(tr, p.due_on, today)),
            href: format!("/patrols/{}", p.id),
        })
        .collect();
    Ok(Section::new(tr, "patrols", count, Some("/patrols"), items))
}

async fn hazards(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let today = crate::hazards::store::today();
    let f = HazardFilter { open: true, ..Default::default() };
    let (rows, count) = crate::hazards::store::list(&st.db, &caller.scope, &f, SHOWN, 0).await?;
    let items = rows
        .into_iter()
        .map(|h| {
            let due = h.deadline.map(|d| Due::by_date(tr, d, today));
            let detail = format!(
                "{} · {} · {}",
                tr.t(&format!("risk.{}", h.risk_level)),
                tr.t(&format!("hazard_status.{}", h.status)),
                h.place_name
            );
            Item {
                title: format!("{} {}", h.number, tr.t(&format!("hazard_category.{}", h.category))),
                detail,
                due,
                href: format!("/hazards/{}", h.id),
            }
        })
        .collect();
    Ok(Section::new(tr, "hazards", count, Some("/hazards"), items))
}

// ---- case work ---------------------------------------------------------------------------------

/// Follow-ups overdue and due within a week: the worker's own, or the whole station's.
async fn follow_ups(st: &AppState, caller: &Caller, tr: Tr, worker: Option<uuid::Uuid>) -> AppResult<Section> {
    let today = crate::people::store::today();
    let (days, key) = if worker.is_some() { (7, "follow_ups") } else { (-1, "overdue_follow_ups") };
    let rows = crate::cases::store::due(&st.db, &caller.scope, worker, days, SHOWN).await?;
    let count = queries::follow_ups_due(&st.db, &caller.scope, worker, today + Duration::days(days)).await?;
    let items = rows
        .into_iter()
        .map(|c| Item {
            title: format!("{} · {}", c.person_name, c.number),
            detail: if worker.is_some() { c.summary.clone() } else { c.worker_name.clone() },
            due: c.next_follow_up_on.map(|d| Due::by_date(tr, d, today)),
            href: format!("/cases/{}", c.id),
        })
        .collect();
    Ok(Section::new(tr, key, count, Some("/cases/due"), items))
}

/// The worker's cases that wait on them: an assessment to do (intake) or a plan to write
/// (assessed), longest waiting first.
async fn my_cases(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let mut items = Vec::new();
    let mut count = 0;
    for (status, todo) in [("intake", "home.todo_assess"), ("assessed", "home.todo_plan")] {
        let f = CaseFilter { status: Some(status.into()), worker_id: Some(caller.user_id), ..Default::default() };
        let (rows, n) = crate::cases::store::list(&st.db, &caller.scope, &f, SHOWN, 0).await?;
        count += n;
        items.extend(rows.into_iter().map(|c| Item {
            title: format!("{} · {}", c.person_name, c.number),
            detail: tr.t(todo),
            due: Some(Due::waiting(tr, super::start_of(c.opened_on), now)),
            href: format!("/cases/{}", c.id),
        }));
    }
    let mut s = Section::new(tr, "my_cases", count, Some("/cases?mine=on"), items);
    s.items.truncate(SHOWN as usize);
    Ok(s)
}

/// Plans, closures, extensions and roster exports waiting for the station manager, oldest first.
async fn approvals(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let mut items = Vec::new();
    let (plans, n_plans) = queries::draft_plans(&st.db, &caller.scope, SHOWN).await?;
    items.extend(plans.into_iter().map(|w| Item {
        title: format!("{} · {}", tr.t("home.approve_plan"), w.who),
        detail: format!("{} · {}", w.number, w.note),
        due: Some(Due::waiting(tr, w.since, now)),
        href: format!("/cases/{}", w.target),
    }));
    let f = CaseFilter { status: Some("closing".into()), ..Default::default() };
    let (closing, n_closing) = crate::cases::store::list(&st.db, &caller.scope, &f, SHOWN, 0).await?;
    items.extend(closing.into_iter().map(|c| Item {
        title: format!("{} · {}", tr.t("home.approve_closure"), c.person_name),
        detail: format!("{} · {}", c.number, c.closure_reason.clone().unwrap_or_default()),
        due: Some(Due::waiting(tr, c.updated_at, now)),
        href: format!("/cases/{}", c.id),
    }));
    let (ext, n_ext) = queries::pending_extensions(&st.db, &caller.scope, SHOWN).await?;
    items.extend(ext.into_iter().map(|w| Item {
        title: format!("{} · {}", tr.t("home.approve_extension"), w.number),
        detail: format!("{} · {}", w.who, w.note),
        due: Some(Due::waiting(tr, w.since, now)),
        href: format!("/requests/{}", w.target),
    }));
    let (exports, n_exports) = queries::pending_exports(&st.db, &caller.scope, SHOWN).await?;
    items.extend(exports.into_iter().map(|w| Item {
        title: format!("{} · {}", tr.t("home.approve_export"), w.who),
        detail: tr.f("home.export_rows", &[&w.number, &w.note]),
        due: Some(Due::waiting(tr, w.since, now)),
        href: "/people/export-requests".into(),
    }));
    let mut s = Section::new(tr, "approvals", n_plans + n_closing + n_ext + n_exports, None, items);
    s.items.truncate(SHOWN as usize * 2);
    Ok(s)
}

/// Case transfers waiting on a decision: offered to the caller's station (to accept or refuse,
/// first) and offered by it (waiting on the other station).
async fn transfer_offers(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let offers = crate::cases::transfers::pending_offers(st, caller).await?;
    let items: Vec<Item> = offers
        .iter()
        .map(|o| Item {
            title: format!("{} · {}", o.case_number, o.client_name),
            detail: if o.incoming {
                tr.f("home.offer_incoming", &[&o.from_station, &o.reason])
            } else {
                tr.f("home.offer_outgoing", &[&o.to_station])
            },
            due: Some(Due::waiting(tr, o.offered_at, now)),
            href: o.url.clone(),
        })
        .collect();
    Ok(Section::new(tr, "transfer_offers", items.len() as i64, Some("/cases/transfers"), items))
}

/// Open cases and overdue follow-ups per worker of the station, most overdue first.
async fn caseload(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let mut kpis = crate::cases::store::kpis(&st.db, &caller.scope).await?;
    kpis.retain(|k| k.open_cases > 0);
    kpis.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(b.open_cases.cmp(&a.open_cases)));
    let count = kpis.len() as i64;
    let items = kpis
        .into_iter()
        .map(|k| Item {
            title: k.worker_name.clone(),
            detail: tr.f("home.caseload_line", &[&k.open_cases, &k.overdue]),
            due: None,
            href: format!("/staff/{}", k.worker_id),
        })
        .collect();
    Ok(Section::new(tr, "caseload", count, Some("/cases"), items))
}

// ---- requests ----------------------------------------------------------------------------------

fn request_item(tr: Tr, r: &rq::Request, due: Due) -> Item {
    Item {
        title: format!("{} · {}", r.category_name, r.number),
        detail: if r.address.is_empty() { r.place_name.clone() } else { r.address.clone() },
        due: Some(due),
        href: format!("/requests/{}", r.id),
    }
    .with_status(tr, &r.status)
}

impl Item {
    fn with_status(mut self, tr: Tr, status: &str) -> Item {
        self.detail = format!("{} · {}", tr.t(&format!("request_status.{status}")), self.detail);
        self
    }
}

async fn queue(st: &AppState, caller: &Caller, q: Queue) -> AppResult<(Vec<rq::Request>, i64)> {
    let viewer = rq::viewer(&st.db, caller).await?;
    Ok(rq::list(&st.db, &viewer, q, &ListFilter::default(), SHOWN, 0).await?)
}

/// Requests the desk holds and has not dispatched, by their response deadline.
async fn dispatch(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let (rows, count) = queue(st, caller, Queue::Dispatch).await?;
    let items = rows.iter().map(|r| request_item(tr, r, Due::by_instant(tr, r.response_due, now))).collect();
    Ok(Section::new(tr, "dispatch", count, Some("/requests?queue=dispatch"), items))
}

/// Resolved requests whose resident is still to be called back, longest waiting first.
async fn callbacks(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let (rows, count) = queue(st, caller, Queue::Callback).await?;
    let items = rows
        .iter()
        .map(|r| request_item(tr, r, Due::waiting(tr, r.resolved_at.unwrap_or(r.updated_at), now)))
        .collect();
    Ok(Section::new(tr, "callbacks", count, Some("/requests?queue=callback"), items))
}

async fn overdue_requests(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let (rows, count) = queue(st, caller, Queue::Overdue).await?;
    let items = rows.iter().map(|r| request_item(tr, r, Due::by_instant(tr, r.resolve_due, now))).collect();
    Ok(Section::new(tr, "overdue_requests", count, Some("/requests?queue=overdue"), items))
}

fn part_items(tr: Tr, parts: Vec<queries::OpenPart>, with_unit: bool) -> Vec<Item> {
    let now = Utc::now();
    parts
        .into_iter()
        .map(|p| {
            let todo = if p.status == "dispatched" { "home.todo_sign" } else { "home.todo_finish" };
            let mut detail = format!("{} · {}", tr.t(todo), p.address);
            if with_unit {
                detail = format!("{} · {detail}", p.unit_name);
            }
            Item {
                title: format!("{} · {}", p.category_name, p.number),
                detail,
                due: Some(Due::by_instant(tr, p.due, now)),
                href: format!("/requests/{}", p.request_id),
            }
        })
        .collect()
}

/// A department's parts to sign and to finish.
async fn org_parts(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let viewer = rq::viewer(&st.db, caller).await?;
    let (parts, count) = match viewer.org {
        Some(org) => queries::open_parts(&st.db, Unit::Org(org), SHOWN).await?,
        None => (Vec::new(), 0),
    };
    Ok(Section::new(tr, "parts", count, Some("/requests?queue=mine"), part_items(tr, parts, false)))
}

/// Parts dispatched to the places of the caller's scope (a community, a grid, a station).
async fn unit_parts(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let (parts, count) = queries::open_parts(&st.db, Unit::Places(&caller.scope), SHOWN).await?;
    Ok(Section::new(tr, "parts", count, Some("/requests?queue=mine"), part_items(tr, parts, true)))
}

// ---- district ----------------------------------------------------------------------------------

async fn escalations(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let (rows, count) = queries::escalated(&st.db, &caller.scope, SHOWN).await?;
    let items = rows
        .into_iter()
        .map(|r| Item {
            title: format!("{} · {}", r.category_name, r.number),
            detail: format!("{} · {}", tr.f("home.escalation_times", &[&r.escalation]), r.address),
            due: Some(Due::by_instant(tr, r.resolve_due, now)),
            href: format!("/requests/{}", r.id),
        })
        .collect();
    Ok(Section::new(tr, "escalations", count, Some("/requests?queue=overdue"), items))
}

async fn overdue_by_street(st: &AppState, caller: &Caller, tr: Tr) -> AppResult<Section> {
    let rows = queries::overdue_by_street(&st.db, &caller.scope, Utc::now(), crate::people::store::today()).await?;
    let rows: Vec<_> = rows.into_iter().filter(|s| s.total() > 0).collect();
    let count = rows.len() as i64;
    let items = rows
        .into_iter()
        .map(|s| Item {
            title: s.name.clone(),
            detail: tr.f("home.overdue_line", &[&s.requests, &s.hazards, &s.follow_ups]),
            due: None,
            href: format!("/places/{}", s.place_id),
        })
        .collect();
    Ok(Section::new(tr, "overdue_by_street", count, Some("/requests/metrics"), items))
}

async fn security(st: &AppState, tr: Tr) -> AppResult<Section> {
    let now = Utc::now();
    let (rows, count) = queries::security_events(&st.db, now - Duration::days(7), SHOWN * 2).await?;
    let items = rows
        .into_iter()
        .map(|e| Item {
            title: format!("{} · {}", tr.t(&format!("home.security_{}", e.action.replace('.', "_"))), e.actor),
            detail: format!("{} · {}", e.entity, e.ip.clone().unwrap_or_default()),
            due: Some(Due::ago(tr, e.at, now)),
            href: format!("/audit?action={}", e.action),
        })
        .collect();
    Ok(Section::new(tr, "security", count, Some("/audit"), items))
}

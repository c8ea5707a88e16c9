//! The home page (工作台): for each role, what that person must do today, most urgent first,
//! each item one tap from its page. The lists come from the domains' own scoped reads (due
//! follow-ups, request queues, hazards and patrols) and, where a domain had none, from
//! [`queries`]; [`work`] decides which sections each role sees and in what order.

pub mod queries;
pub mod work;

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};

use crate::auth::{Caller, Role};
use crate::db::query::{self, Args};
use crate::error::AppResult;
use crate::i18n::Tr;
use crate::roles::ORG_ADMINS;
use crate::web::render::{Ctx, page};
use crate::web::{Access, AppState, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/", Access::Signed, home)]
}

/// When an item is due (or since when it waits), as the list shows it on the right.
#[derive(Debug, Clone)]
pub struct Due {
    pub text: String,
    pub overdue: bool,
    /// Orders items of a section: the earliest first.
    pub at: DateTime<Utc>,
}

/// Midnight starting `d` in Beijing: dates on screens are Beijing dates.
fn start_of(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - chrono::Duration::hours(8)
}

impl Due {
    /// A deadline at a day's end: overdue from the next day on.
    pub fn by_date(tr: Tr, due: NaiveDate, today: NaiveDate) -> Due {
        let days = (due - today).num_days();
        let text = match days {
            d if d < 0 => tr.f("home.overdue_days", &[&-d]),
            0 => tr.t("home.due_today"),
            d => tr.f("home.due_in_days", &[&d]),
        };
        Due { text, overdue: days < 0, at: start_of(due) }
    }

    /// A deadline at an instant (request SLA clocks).
    pub fn by_instant(tr: Tr, due: DateTime<Utc>, now: DateTime<Utc>) -> Due {
        let left = due - now;
        let (overdue, span) = if left < chrono::Duration::zero() { (true, -left) } else { (false, left) };
        let text = match (overdue, span.num_hours()) {
            (true, h) if h < 24 => tr.f("home.overdue_hours", &[&h.max(1)]),
            (true, h) => tr.f("home.overdue_days", &[&(h / 24)]),
            (false, h) if h < 24 => tr.f("home.due_in_hours", &[&h.max(1)]),
            (false, h) => tr.f("home.due_in_days", &[&(h / 24)]),
        };
        Due { text, overdue, at: due }
    }

    /// Something with no deadline that has waited since `since` (oldest first).
    pub fn waiting(tr: Tr, since: DateTime<Utc>, now: DateTime<Utc>) -> Due {
        let minutes = (now - since).num_minutes().max(0);
        let hours = minutes / 60;
        let text = if hours < 1 {
            tr.f("home.waiting_minutes", &[&minutes.max(1)])
        } else if hours < 24 {
            tr.f("home.waiting_hours", &[&hours])
        } else {
            tr.f("home.waiting_days", &[&(hours / 24)])
        };
        Due { text, overdue: false, at: since }
    }

    /// An event that happened (newest first): a negative key keeps "earliest first" sorting.
    pub fn ago(tr: Tr, at: DateTime<Utc>, now: DateTime<Utc>) -> Due {
        let minutes = (now - at).num_minutes().max(0);
        let text = match minutes {
            m if m < 60 => tr.f("home.ago_minutes", &[&m.max(1)]),
            m if m < 24 * 60 => tr.f("home.ago_hours", &[&(m / 60)]),
            m => tr.f("home.ago_days", &[&(m / (24 * 60))]),
        };
        Due { text, overdue: false, at: DateTime::<Utc>::UNIX_EPOCH + (now - at) }
    }
}

/// One line of a work list: what, whom or where, when, and the page it is done on.
#[derive(Debug, Clone)]
pub struct Item {
    pub title: String,
    pub detail: String,
    pub due: Option<Due>,
    pub href: String,
}

/// A kind of work of a role, with its total and the full list it comes from.
#[derive(Debug, Clone)]
pub struct Section {
    /// Stable name (`id="home-<key>"`), for tests and styles.
    pub key: &'static str,
    pub title: String,
    /// Items in all, counted up to [`queries::COUNT_CAP`].
    pub count: i64,
    /// The full list; `None` where the section shows everything there is.
    pub more: Option<String>,
    pub items: Vec<Item>,
}

impl Section {
    pub fn new(tr: Tr, key: &'static str, count: i64, more: Option<&str>, mut items: Vec<Item>) -> Section {
        // Most urgent first: overdue, then soonest due; undated items keep their order, last.
        items.sort_by_key(|i| i.due.as_ref().map(|d| d.at).unwrap_or(DateTime::<Utc>::MAX_UTC));
        Section { key, title: tr.t(&format!("home.section_{key}")), count, more: more.map(str::to_string), items }
    }
    pub fn count_text(&self) -> String {
        if self.count > queries::COUNT_CAP { format!("{}+", queries::COUNT_CAP) } else { self.count.to_string() }
    }
    pub fn overdue(&self) -> usize {
        self.items.iter().filter(|i| i.due.as_ref().is_some_and(|d| d.overdue)).count()
    }
}

pub struct Tile {
    pub label: String,
    pub value: i64,
    pub href: String,
}

#[derive(Template)]
#[template(path = "home/home.html")]
struct HomePage {
    ctx: Ctx,
    greeting: String,
    role_label: String,
    scope_names: Vec<String>,
    sections: Vec<Section>,
    tiles: Vec<Tile>,
    quick: Vec<(String, String)>,
}

impl HomePage {
    fn all_clear(&self) -> bool {
        self.sections.iter().all(|s| s.count == 0)
    }
}

async fn home(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    Ok(page(&build(&st, &caller).await?))
}

/// The rendered home of `caller` (the benchmark times this).
pub async fn render_for(st: &AppState, caller: &Caller) -> AppResult<String> {
    Ok(build(st, caller).await?.render().map_err(anyhow::Error::from)?)
}

async fn build(st: &AppState, caller: &Caller) -> AppResult<HomePage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/", "nav.home");
    let tr = ctx.tr;
    let sections = work::sections(st, caller, tr).await?;
    let mut tiles = Vec::new();
    let mut quick = Vec::new();
    // Those who build the organisation tree act on it: its size is their overview.
    if caller.is(ORG_ADMINS) {
        let counts = crate::org::store::count_by_kind(&st.db, &caller.scope).await?;
        for kind in ["street", "community", "grid"] {
            let value = counts.iter().find(|(k, _)| k == kind).map(|(_, n)| *n).unwrap_or(0);
            tiles.push(Tile {
                label: tr.t(&format!("home.count_{kind}")),
                value,
                href: format!("/places?kind={kind}"),
            });
        }
        let (_, stations) = crate::org::store::list_stations(&st.db, &caller.scope, 1, 0).await?;
        tiles.push(Tile { label: tr.t("nav.stations"), value: stations, href: "/stations".into() });
        let (_, estates) = crate::org::store::list_estates(&st.db, &caller.scope, 1, 0).await?;
        tiles.push(Tile { label: tr.t("nav.estates"), value: estates, href: "/estates".into() });
        let by_role = crate::staff::store::count_by_role(&st.db, &caller.scope).await?;
        let total: i64 = by_role.iter().map(|(_, n)| n).sum();
        tiles.push(Tile { label: tr.t("home.staff_active"), value: total, href: "/staff".into() });
        quick.push((tr.t("place.new"), "/places/new".to_string()));
        quick.push((tr.t("staff.new"), "/staff/new".to_string()));
        quick.push((tr.t("import.title"), "/places/import".to_string()));
    }
    if caller.role == Role::BureauAdmin {
        quick.push((tr.t("settings.title"), "/cases/settings".to_string()));
    }
    let scope_names = scope_names(st, caller).await?;
    Ok(HomePage {
        greeting: tr.f("home.greeting", &[&caller.display_name]),
        role_label: tr.t(&caller.role.label_key()),
        scope_names,
        sections,
        tiles,
        quick,
        ctx,
    })
}

async fn scope_names(st: &AppState, caller: &Caller) -> Result<Vec<String>, sqlx::Error> {
    if caller.role == Role::Auditor || caller.scope.roots.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::new();
    let sql = format!("SELECT name FROM places WHERE path IN ({}) ORDER BY path", args.list(&caller.scope.roots));
    let rows: Vec<(String,)> = query::all(&st.db, &sql, &args).await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn due_times_read_as_people_say_them_and_overdue_sorts_first() {
        let zh = Tr(Lang::Zh);
        let today = NaiveDate::from_ymd_opt(2026, 7, 20).unwrap();
        let late = Due::by_date(zh, today - chrono::Duration::days(3), today);
        assert_eq!((late.text.as_str(), late.overdue), ("逾期 3 天", true));
        let now_due = Due::by_date(zh, today, today);
        assert_eq!((now_due.text.as_str(), now_due.overdue), ("今天到期", false));
        assert_eq!(Due::by_date(Tr(Lang::En), today + chrono::Duration::days(2), today).text, "due in 2 d");

        let now = Utc.with_ymd_and_hms(2026, 7, 20, 4, 0, 0).unwrap();
        let d = Due::by_instant(zh, now - chrono::Duration::minutes(20), now);
        assert_eq!((d.text.as_str(), d.overdue), ("逾期 1 小时", true));
        assert_eq!(Due::by_instant(zh, now + chrono::Duration::hours(50), now).text, "2 天后到期");
        assert_eq!(Due::ago(zh, now - chrono::Duration::minutes(5), now).text, "5 分钟前");

        let item = |due: Option<Due>| Item { title: String::new(), detail: String::new(), due, href: String::new() };
        let s = Section::new(
            zh,
            "follow_ups",
            3,
            None,
            vec![item(None), item(Some(now_due.clone())), item(Some(late.clone()))],
        );
        let order: Vec<Option<bool>> = s.items.iter().map(|i| i.due.as_ref().map(|d| d.overdue)).collect();
        assert_eq!(order, [Some(true), Some(false), None], "overdue, then due, then undated");
        assert_eq!(s.overdue(), 1);
        assert_eq!(Section::new(zh, "dispatch", 5000, None, Vec::new()).count_text(), "999+");
    }
}

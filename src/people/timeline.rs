//! The person timeline: everything Linli knows about a person that the viewer may see, newest
//! first. Each domain contributes events through its own scoped queries; a new domain adds its
//! source to `for_person` and nothing else changes.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Person, PersonTag, Tag};
use crate::auth::Caller;
use crate::cases::model::Case;
use crate::error::AppResult;
use crate::web::AppState;

/// One entry of a person's timeline. Named apart from a request's `Event`, whose schema it
/// would otherwise share.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TimelineEvent)]
pub struct Event {
    pub on: NaiveDate,
    /// Breaks ties between events of one day (UUIDv7 of the record: creation order).
    #[serde(skip)]
    #[schema(ignore)]
    pub order: Uuid,
    /// Stable code of the event kind: `person.registered`, `tag.start`, `case.opened`, `record.home_visit` …
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub href: Option<String>,
}

/// Events a person's page shows before "show all": a client of years of weekly visits has
/// hundreds of service records, and the page read and drew every one (the slow tail of the
/// person page).
pub const SHOWN: usize = 100;

/// Newest first, every event.
pub async fn for_person(st: &AppState, caller: &Caller, person: &Person) -> AppResult<Vec<Event>> {
    let (tags, cases) = tokio::try_join!(
        async { Ok::<_, crate::error::AppError>(super::store::tags_of(&st.db, person.id).await?) },
        crate::cases::pages::cases_of(st, caller, person.id),
    )?;
    Ok(of_parts(st, caller, person, &tags, &cases, None).await?.0)
}

/// [`for_person`] from the person's tags and the cases the caller may see, which the person's
/// page reads for itself anyway; with `newest`, only that many events, and whether there were
/// more. Service records are the only source that grows without bound, so only they are read
/// short: the newest `newest + 1` of them hold every record among the newest `newest` events.
pub async fn of_parts(
    st: &AppState,
    caller: &Caller,
    person: &Person,
    tags: &[PersonTag],
    cases: &[Case],
    newest: Option<usize>,
) -> AppResult<(Vec<Event>, bool)> {
    // Each source is its own read; they are asked at once.
    let (registered, household, cases, requests, hazards) = tokio::try_join!(
        registered(st, person),
        household_events(st, caller, person),
        crate::cases::pages::timeline_events(st, caller, cases, newest.map(|n| n + 1)),
        crate::requests::pages::timeline_events(st, caller, person.id),
        crate::hazards::pages::timeline_events(st, caller, person.id),
    )?;
    let mut events = vec![registered];
    events.extend(tag_events(tags));
    events.extend(household);
    events.extend(cases);
    events.extend(requests);
    events.extend(hazards);
    events.sort_by_key(|e| std::cmp::Reverse((e.on, e.order)));
    let more = newest.is_some_and(|n| events.len() > n);
    if let Some(n) = newest {
        events.truncate(n);
    }
    Ok((events, more))
}

/// Joins, moves, relationship changes and merges in the person's household, of members the
/// viewer may see.
async fn household_events(st: &AppState, caller: &Caller, person: &Person) -> AppResult<Vec<Event>> {
    let Some(hid) = person.household_id else { return Ok(Vec::new()) };
    let tr = crate::i18n::Tr(caller.lang);
    let rows = super::store::household_events(&st.db, &caller.scope, hid, person.id).await?;
    Ok(rows
        .into_iter()
        .map(|e| {
            let relation = e.relation.as_deref().map(|r| tr.t(&format!("relation.{r}"))).unwrap_or_default();
            let detail = match e.kind.as_str() {
                "joined" | "relation" => relation,
                _ => e.detail.unwrap_or_default(),
            };
            Event {
                on: e.at.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
                order: e.id,
                kind: format!("household.{}", e.kind),
                title: e.name,
                detail,
                href: (e.person_id != person.id).then(|| format!("/people/{}", e.person_id)),
            }
        })
        .collect())
}

async fn registered(st: &AppState, person: &Person) -> AppResult<Event> {
    let registered: (chrono::DateTime<chrono::Utc>,) =
        crate::read!(&st.db, |c| sqlx::query_as("SELECT created_at FROM persons WHERE id = $1")
            .bind(person.id)
            .fetch_one(c)
            .await)?;
    Ok(Event {
        on: registered.0.with_timezone(&chrono_tz::Asia::Shanghai).date_naive(),
        order: person.id,
        kind: "person.registered".into(),
        title: person.place_name.clone(),
        detail: person.address(),
        href: None,
    })
}

fn tag_events(tags: &[PersonTag]) -> Vec<Event> {
    let mut out = Vec::new();
    for t in tags {
        let tag_key = Tag::parse(&t.tag).map(|t| t.label_key()).unwrap_or_default();
        out.push(Event {
            on: t.starts_on,
            order: t.id,
            kind: "tag.start".into(),
            title: tag_key.clone(),
            detail: t.source.clone(),
            href: None,
        });
        if let Some(end) = t.ends_on {
            out.push(Event {
                on: end,
                order: t.id,
                kind: "tag.ended".into(),
                title: tag_key,
                detail: String::new(),
                href: None,
            });
        }
    }
    out
}

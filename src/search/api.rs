//! `GET /api/v1/search`: the people, requests and hazards matching one query, each paged and
//! each read under its own domain's rules (a person by `people::store::visible`, a request by
//! the viewer's area, a hazard by its place), as the `/search`, `/requests` and `/hazards`
//! pages find them.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::hazards::api::PagedHazards;
use crate::people::api::PagedPeople;
use crate::requests::api::PagedRequests;
use crate::web::extract::Q;
use crate::web::pagination::PageParams;

/// The roles that read each section; anyone with one of them may call the route.
pub use crate::requests::pages::REQUEST_STAFF as SEARCHERS;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Chinese text (a record must hold every word of it), or latin letters: the pinyin or
    /// initials of a name (`zhangsan`, `zs`), the start of a word. Read up to 64 characters.
    pub q: Option<String>,
    /// 1-based page number, the same for each section.
    pub page: Option<i64>,
    /// Rows per section and page (at most 200; default 50).
    pub page_size: Option<i64>,
}

/// One page of each kind of record the caller reads. A section is absent when the caller's role
/// does not read that kind of record.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub q: String,
    /// People, best match first: exact name, name prefix, full pinyin, initials, other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<PagedPeople>,
    /// Requests in the caller's area, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<PagedRequests>,
    /// Hazards in the caller's scope, most urgent first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hazards: Option<PagedHazards>,
}

/// Search people (name, pinyin, initials), requests (text, address, category) and hazards
/// (text, address) in the caller's scope. An empty query is 400.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchQuery),
    responses(
        (status = 200, body = SearchResults),
        (status = 400, description = "No query, or a bad parameter", body = crate::error::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 403, description = "The role reads none of these records", body = crate::error::ErrorBody),
    ))]
pub async fn search(
    State(st): State<crate::web::AppState>,
    caller: Caller,
    Q(q): Q<SearchQuery>,
) -> AppResult<Json<SearchResults>> {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default().to_string();
    if text.is_empty() {
        return Err(AppError::bad("error.bad_query"));
    }
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let (page, page_size) = (pp.page(), pp.size());
    let people = if caller.is(crate::people::PEOPLE_ROLES) {
        let f = crate::people::store::PersonFilter { q: Some(text.clone()), ..Default::default() };
        let (items, total) = crate::people::store::list(&st.db, &caller.scope, &f, page_size, pp.offset()).await?;
        Some(PagedPeople { items, page, page_size, total })
    } else {
        None
    };
    let requests = if caller.is(crate::requests::pages::REQUEST_STAFF) {
        let viewer = crate::requests::store::viewer(&st.db, &caller).await?;
        let f = crate::requests::store::ListFilter { text: Some(text.clone()), ..Default::default() };
        let queue = crate::requests::store::Queue::Area;
        let (items, total) = crate::requests::store::list(&st.db, &viewer, queue, &f, page_size, pp.offset()).await?;
        Some(PagedRequests { items, page, page_size, total })
    } else {
        None
    };
    let hazards = if caller.is(crate::hazards::pages::HAZARD_STAFF) {
        let f = crate::hazards::store::ListFilter { text: Some(text.clone()), ..Default::default() };
        let (items, total) = crate::hazards::store::list(&st.db, &caller.scope, &f, page_size, pp.offset()).await?;
        Some(PagedHazards { items, page, page_size, total })
    } else {
        None
    };
    Ok(Json(SearchResults { q: text, people, requests, hazards }))
}

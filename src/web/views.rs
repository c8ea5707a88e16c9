//! The generic list and form pages.

use askama::Template;

use super::conflict::Conflict;
use super::form::{Cell, Field};
use super::render::Ctx;

#[derive(Template)]
#[template(path = "layout/list.html")]
pub struct ListPage {
    pub ctx: Ctx,
    pub actions: Vec<(String, String)>,
    pub filters: Vec<Field>,
    /// What the filter form must carry without showing it (the queue a search is made in).
    pub filter_hidden: Vec<(String, String)>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// Query string of the current filters, without `page`, for pagination links.
    pub query: String,
    pub notice: Option<String>,
    /// Set when the total was counted only up to this many and there are more.
    pub more_than: Option<i64>,
}

impl ListPage {
    pub fn new(ctx: Ctx, headers: Vec<String>, rows: Vec<Vec<Cell>>, total: i64, page: i64, size: i64) -> ListPage {
        ListPage {
            ctx,
            actions: Vec::new(),
            filters: Vec::new(),
            filter_hidden: Vec::new(),
            headers,
            rows,
            total,
            page,
            pages: ((total + size - 1) / size).max(1),
            query: String::new(),
            notice: None,
            more_than: None,
        }
    }
    pub fn total_text(&self) -> String {
        match self.more_than {
            Some(n) => self.ctx.tr.f("list.total_over", &[&n]),
            None => self.ctx.tr.f("list.total", &[&self.total]),
        }
    }
    pub fn prev(&self) -> Option<String> {
        (self.page > 1).then(|| format!("?{}page={}", self.query, self.page - 1))
    }
    pub fn next(&self) -> Option<String> {
        (self.page < self.pages).then(|| format!("?{}page={}", self.query, self.page + 1))
    }
}

#[derive(Template)]
#[template(path = "layout/form.html")]
pub struct FormPage {
    pub ctx: Ctx,
    pub action: String,
    pub multipart: bool,
    pub fields: Vec<Field>,
    pub hidden: Vec<(String, String)>,
    pub submit: String,
    pub errors: Vec<String>,
    pub cancel: String,
    pub intro: Option<String>,
    /// Fields saved by someone else since the form was read, to choose between.
    pub conflicts: Vec<Conflict>,
}

impl FormPage {
    pub fn new(ctx: Ctx, action: String, fields: Vec<Field>, cancel: String) -> FormPage {
        let submit = ctx.t("action.save").to_string();
        FormPage {
            ctx,
            action,
            multipart: false,
            fields,
            hidden: Vec::new(),
            submit,
            errors: Vec::new(),
            cancel,
            intro: None,
            conflicts: Vec::new(),
        }
    }
    /// The names of the fields in conflict, sent back so the save knows what was shown.
    pub fn conflict_names(&self) -> String {
        self.conflicts.iter().map(|c| c.name).collect::<Vec<_>>().join(",")
    }
}

/// Builds `k=v&` pairs for pagination links, skipping empty values.
pub fn query_of(pairs: &[(&str, Option<String>)]) -> String {
    let kept: Vec<(&str, String)> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().filter(|s| !s.is_empty()).map(|v| (*k, v.clone()))).collect();
    if kept.is_empty() { String::new() } else { format!("{}&", serde_urlencoded::to_string(kept).unwrap_or_default()) }
}

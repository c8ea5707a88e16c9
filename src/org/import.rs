//! Importing the place tree from xlsx or CSV: a preview lists every bad row (row, column,
//! reason) before anything is written; the commit re-validates and writes all rows in one
//! transaction. Rows naming a place that already exists are skipped, so a re-import adds nothing.

use std::collections::HashMap;

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{PlaceKind, valid_code};
use super::store::{self, ParentRef};
use crate::auth::{Caller, Role, Scope};
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::error::{AppError, AppResult};
use crate::tabular;
use crate::web;
use crate::web::AppState;
use crate::web::extract::PageForm;
use crate::web::render::{Ctx, page, page_with_status};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub row: usize,
    pub parent: String,
    pub kind: String,
    pub name: String,
    pub code: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub row: usize,
    pub column: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub new_rows: Vec<Row>,
    pub existing: usize,
    pub problems: Vec<Problem>,
}

const COL_PARENT: &[&str] = &["上级", "上级路径", "parent"];
const COL_KIND: &[&str] = &["类型", "kind"];
const COL_NAME: &[&str] = &["名称", "name"];
const COL_CODE: &[&str] = &["编码", "code"];

pub fn rows_from_table(t: &tabular::Table) -> Result<Vec<Row>, Vec<Problem>> {
    let find = |names: &[&str]| tabular::column(&t.headers, names);
    let (Some(pi), Some(ki), Some(ni)) = (find(COL_PARENT), find(COL_KIND), find(COL_NAME)) else {
        return Err(vec![Problem {
            row: 1,
            column: "上级 / 类型 / 名称".into(),
            reason: "import.missing_columns".into(),
        }]);
    };
    let ci = find(COL_CODE);
    let cell = |cells: &Vec<String>, i: usize| cells.get(i).cloned().unwrap_or_default();
    Ok(t.rows
        .iter()
        .map(|(row, cells)| Row {
            row: *row,
            parent: cell(cells, pi),
            kind: cell(cells, ki),
            name: cell(cells, ni),
            code: ci.map(|i| cell(cells, i)).unwrap_or_default(),
        })
        .collect())
}

/// Full name paths ("大同市/平城区/开源街道") of every place the caller can see, with the
/// ancestors of their scope so paths can be written from the top.
async fn known_places(db: &Db, scope: &Scope) -> Result<HashMap<String, (Uuid, PlaceKind, String, i32)>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, parent_id, kind, name, path, depth FROM places WHERE {} ORDER BY depth",
        args.scope_visible("path", scope)
    );
    let rows: Vec<(Uuid, Option<Uuid>, String, String, String, i32)> = query::all(db, &sql, &args).await?;
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut out = HashMap::new();
    for (id, parent, kind, name, path, depth) in rows {
        let full = match parent.and_then(|p| names.get(&p)) {
            Some(pn) => format!("{pn}/{name}"),
            None => name.clone(),
        };
        names.insert(id, full.clone());
        // Only places inside the scope may receive children.
        let writable = scope.covers(&path);
        if let Some(kind) = PlaceKind::parse(&kind) {
            out.insert(full, (id, kind, if writable { path } else { String::new() }, depth));
        }
    }
    Ok(out)
}

fn norm_path(p: &str) -> String {
    p.split(['/', '／', '>', '＞']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
}

pub async fn plan(db: &Db, scope: &Scope, rows: &[Row], can_create_root: bool) -> Result<Plan, sqlx::Error> {
    let known = known_places(db, scope).await?;
    let mut planned: HashMap<String, PlaceKind> = HashMap::new();
    let mut plan = Plan::default();
    let problem =
        |row: usize, column: &str, reason: &str| Problem { row, column: column.into(), reason: reason.into() };
    for r in rows {
        let mut bad = Vec::new();
        let kind = PlaceKind::parse(&r.kind);
        if kind.is_none() {
            bad.push(problem(r.row, "类型", if r.kind.is_empty() { "error.required" } else { "import.bad_kind" }));
        }
        let name = r.name.trim();
        if name.is_empty() {
            bad.push(problem(r.row, "名称", "error.required"));
        } else if name.chars().count() > 60 {
            bad.push(problem(r.row, "名称", "error.too_long_60"));
        } else if name.contains('/') || name.chars().any(char::is_control) {
            bad.push(problem(r.row, "名称", "import.bad_name"));
        }
        if !r.code.is_empty() && !valid_code(&r.code) {
            bad.push(problem(r.row, "编码", "error.code_format"));
        }
        let parent = norm_path(&r.parent);
        let parent_kind = if parent.is_empty() {
            None
        } else if let Some((_, k, path, _)) = known.get(&parent) {
            if path.is_empty() {
                bad.push(problem(r.row, "上级", "import.parent_outside_scope"));
            }
            Some(*k)
        } else if let Some(k) = planned.get(&parent) {
            Some(*k)
        } else {
            bad.push(problem(r.row, "上级", "import.parent_unknown"));
            None
        };
        if let Some(kind) = kind {
            match (kind.parent(), parent.is_empty()) {
                (None, true) if !can_create_root => bad.push(problem(r.row, "类型", "place.city_is_root")),
                (None, false) => bad.push(problem(r.row, "上级", "place.city_is_root")),
                (Some(_), true) => bad.push(problem(r.row, "上级", "error.required")),
                (Some(want), false) if parent_kind.is_some_and(|pk| pk != want) => {
                    bad.push(problem(r.row, "类型", "place.wrong_parent_kind"));
                }
                _ => {}
            }
        }
        let full = if parent.is_empty() { name.to_string() } else { format!("{parent}/{name}") };
        if bad.is_empty() {
            if known.contains_key(&full) {
                plan.existing += 1;
            } else if let std::collections::hash_map::Entry::Vacant(e) = planned.entry(full) {
                e.insert(kind.unwrap());
                plan.new_rows.push(Row { parent, name: name.to_string(), ..r.clone() });
            } else {
                plan.problems.push(problem(r.row, "名称", "import.duplicate_in_file"));
            }
        }
        plan.problems.extend(bad);
    }
    Ok(plan)
}

/// Writes a clean plan in one transaction; any failure leaves nothing behind.
pub async fn commit(db: &Db, scope: &Scope, caller: &Caller, rows: &[Row]) -> Result<usize, AppError> {
    let p = plan(db, scope, rows, caller.role == Role::SystemAdmin).await?;
    if !p.problems.is_empty() {
        return Err(AppError::bad("import.has_problems"));
    }
    let known = known_places(db, scope).await?;
    let mut created: HashMap<String, ParentRef> = HashMap::new();
    let actor = caller.actor();
    let mut tx = db.begin().await?;
    for r in &p.new_rows {
        let kind = PlaceKind::parse(&r.kind).expect("validated");
        let parent = if r.parent.is_empty() {
            None
        } else if let Some(c) = created.get(&r.parent) {
            Some(ParentRef { id: c.id, path: c.path.clone(), depth: c.depth })
        } else {
            known.get(&r.parent).map(|(id, _, path, depth)| ParentRef { id: *id, path: path.clone(), depth: *depth })
        };
        let code = Some(r.code.as_str()).filter(|c| !c.is_empty());
        let (id, path, depth, _) =
            store::insert_place(&mut tx, &actor, parent.as_ref(), kind, &r.name, code).await.map_err(|e| {
                if crate::db::is_unique_violation(&e) { AppError::bad("import.concurrent_change") } else { e.into() }
            })?;
        let full = if r.parent.is_empty() { r.name.clone() } else { format!("{}/{}", r.parent, r.name) };
        created.insert(full, ParentRef { id, path, depth });
    }
    tx.commit().await?;
    Ok(p.new_rows.len())
}

// ---- screens ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "org/import.html")]
struct ImportPage {
    ctx: Ctx,
    problems: Vec<Problem>,
    new_rows: Vec<Row>,
    existing: usize,
    payload: String,
    previewed: bool,
    error: Option<String>,
}

fn import_page(st: &AppState, caller: &Caller) -> ImportPage {
    ImportPage {
        ctx: Ctx::new(st.cfg.demo, Some(caller), None, "/places", "import.title"),
        problems: Vec::new(),
        new_rows: Vec::new(),
        existing: 0,
        payload: String::new(),
        previewed: false,
        error: None,
    }
}

pub async fn form(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    Ok(page(&import_page(&st, &caller)))
}

pub async fn preview(
    State(st): State<AppState>,
    caller: Caller,
    mp: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    let mut view = import_page(&st, &caller);
    let file = crate::web::form::uploaded_file(mp, "file").await?;
    let tr = view.ctx.tr;
    let Some((name, bytes)) = file else {
        view.error = Some(tr.t("import.no_file").to_string());
        return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let table = match tabular::read_off_runtime(bytes, name).await {
        Ok(t) => t,
        Err(e) => {
            view.error = Some(tr.t(&e.to_string()).to_string());
            return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let rows = match rows_from_table(&table) {
        Ok(r) => r,
        Err(problems) => {
            view.problems = localise(problems, tr);
            view.previewed = true;
            return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let p = plan(&st.db, &caller.scope, &rows, caller.role == Role::SystemAdmin).await?;
    view.previewed = true;
    view.existing = p.existing;
    view.payload = if p.problems.is_empty() { serde_json::to_string(&rows).unwrap_or_default() } else { String::new() };
    let status = if p.problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    view.problems = localise(p.problems, tr);
    view.new_rows = p.new_rows;
    Ok(page_with_status(&view, status))
}

fn localise(problems: Vec<Problem>, tr: web::i18n::Tr) -> Vec<Problem> {
    problems.into_iter().map(|p| Problem { reason: tr.t(&p.reason).to_string(), ..p }).collect()
}

#[derive(Deserialize)]
pub struct CommitForm {
    #[serde(default)]
    payload: String,
}

pub async fn commit_page(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<CommitForm>,
) -> AppResult<Response> {
    let rows: Vec<Row> = serde_json::from_str(&f.payload).map_err(|_| AppError::bad("import.bad_payload"))?;
    if rows.len() > tabular::MAX_ROWS {
        return Err(AppError::bad("import.too_many_rows"));
    }
    commit(&st.db, &caller.scope, &caller, &rows).await?;
    Ok(Redirect::to("/places").into_response())
}

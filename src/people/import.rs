//! Importing residents and households from xlsx or CSV (a bureau roster, a station's Excel
//! files). The preview lists every bad row with its row number, column and reason; the good rows
//! wait in `import_batches` until the user commits, then land in one transaction. A person
//! already registered (same ID number, or same name, birth date and place) is skipped, so
//! importing the same file again adds nothing.

use std::collections::{BTreeSet, HashMap, HashSet};

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::*;
use crate::audit::{self, Actor, Entry};
use crate::auth::{Caller, Scope};
use crate::crypto::Keyring;
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::tabular;
use crate::web::AppState;
use crate::web::extract::{Id, PageForm};
use crate::web::render::{Ctx, page, page_with_status};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImportRow {
    pub row: usize,
    pub name: String,
    pub id_number: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
    /// 社区, 街道/社区 or 社区/网格.
    pub place: String,
    pub estate: String,
    pub building: String,
    pub unit: String,
    pub room: String,
    pub relation: String,
    /// Rows with the same household key form one household.
    pub household: String,
    /// Tags separated by 、 , ， ; or ；
    pub tags: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub row: usize,
    pub column: String,
    pub reason: String,
}

const COLUMNS: &[(&str, &[&str])] = &[
    ("name", &["姓名", "name"]),
    ("id_number", &["身份证号", "身份证号码", "公民身份号码", "id_number"]),
    ("sex", &["性别", "sex"]),
    ("birth_date", &["出生日期", "birth_date"]),
    ("phone", &["联系电话", "电话", "手机", "phone"]),
    ("place", &["社区", "所在社区", "网格", "place"]),
    ("estate", &["小区", "estate"]),
    ("building", &["楼栋", "楼号", "building"]),
    ("unit", &["单元", "unit"]),
    ("room", &["室", "房号", "门牌", "room"]),
    ("relation", &["与户主关系", "relation"]),
    ("household", &["户号", "户编号", "household"]),
    ("tags", &["人群标签", "标签", "类别", "tags"]),
];

fn label(field: &str) -> &'static str {
    COLUMNS.iter().find(|(f, _)| *f == field).map(|(_, names)| names[0]).unwrap_or("")
}

pub fn rows_from_table(t: &tabular::Table) -> Result<Vec<ImportRow>, Vec<Problem>> {
    let idx: HashMap<&str, Option<usize>> =
        COLUMNS.iter().map(|(f, names)| (*f, tabular::column(&t.headers, names))).collect();
    if idx["name"].is_none() || idx["place"].is_none() {
        return Err(vec![Problem {
            row: 1,
            column: "姓名 / 社区".into(),
            reason: "people_import.missing_columns".into(),
        }]);
    }
    let cell = |cells: &Vec<String>, f: &str| idx[f].and_then(|i| cells.get(i)).cloned().unwrap_or_default();
    Ok(t.rows
        .iter()
        .map(|(row, c)| ImportRow {
            row: *row,
            name: cell(c, "name"),
            id_number: cell(c, "id_number"),
            sex: cell(c, "sex"),
            birth_date: cell(c, "birth_date"),
            phone: cell(c, "phone"),
            place: cell(c, "place"),
            estate: cell(c, "estate"),
            building: cell(c, "building"),
            unit: cell(c, "unit"),
            room: cell(c, "room"),
            relation: cell(c, "relation"),
            household: cell(c, "household"),
            tags: cell(c, "tags"),
        })
        .collect())
}

/// Where a row can live: "社区", "街道/社区", "社区/网格" and "街道/社区/网格" → (place id, path,
/// community id). Names shared by two communities are left out of the short form.
struct Places {
    by_name: HashMap<String, Option<(Uuid, String, Uuid)>>,
    estates: HashMap<(Uuid, String), Uuid>,
}

async fn places(db: &Db, scope: &Scope) -> Result<Places, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT c.id, c.kind, c.name, c.path, p.id, p.name, p.kind FROM places c JOIN places p ON p.id = c.parent_id
         WHERE {} AND c.active AND c.kind IN ('community', 'grid')",
        args.scope("c.path", scope)
    );
    let rows: Vec<(Uuid, String, String, String, Uuid, String, String)> = query::all(db, &sql, &args).await?;
    let mut by_name: HashMap<String, Option<(Uuid, String, Uuid)>> = HashMap::new();
    let mut put = |key: String, v: (Uuid, String, Uuid)| {
        by_name.entry(key).and_modify(|e| *e = None).or_insert(Some(v));
    };
    let communities: HashMap<Uuid, String> =
        rows.iter().filter(|r| r.1 == "community").map(|r| (r.0, r.5.clone())).collect();
    for (id, kind, name, path, parent, parent_name, _) in &rows {
        if kind == "community" {
            put(name.clone(), (*id, path.clone(), *id));
            put(format!("{parent_name}/{name}"), (*id, path.clone(), *id));
        } else {
            put(format!("{parent_name}/{name}"), (*id, path.clone(), *parent));
            if let Some(street) = communities.get(parent) {
                put(format!("{street}/{parent_name}/{name}"), (*id, path.clone(), *parent));
            }
        }
    }
    let (estates, _) = crate::org::store::list_estates(db, scope, 100_000, 0).await?;
    Ok(Places { by_name, estates: estates.into_iter().map(|e| ((e.community_id, e.name), e.id)).collect() })
}

fn norm_place(p: &str) -> String {
    p.split(['/', '／', '>', '＞']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
}

/// A row ready to insert.
pub struct Ready {
    pub row: ImportRow,
    pub clean: CleanPerson,
    pub place_id: Uuid,
    pub path: String,
    pub estate_id: Option<Uuid>,
    pub tags: Vec<Tag>,
}

#[derive(Default)]
pub struct Plan {
    pub ready: Vec<Ready>,
    pub existing: usize,
    /// Of `existing`, those matched by an ID number registered outside the caller's scope.
    pub elsewhere: usize,
    pub problems: Vec<Problem>,
}

/// Excel turns an 18-digit ID typed as a number into 1.40202E+17 and keeps 15 digits.
fn looks_like_excel_number(raw: &str) -> bool {
    let r = raw.trim();
    r.contains("E+")
        || r.contains("e+")
        || (r.len() == 18 && r.ends_with("000") && r.chars().all(|c| c.is_ascii_digit()))
}

pub async fn plan(db: &Db, keys: &Keyring, scope: &Scope, rows: &[ImportRow]) -> Result<Plan, sqlx::Error> {
    let today = super::store::today();
    let places = places(db, scope).await?;
    let mut plan = Plan::default();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut candidates = Vec::new();
    for r in rows {
        let problem =
            |field: &str, reason: &str| Problem { row: r.row, column: label(field).into(), reason: reason.into() };
        let mut bad = Vec::new();
        let place = places.by_name.get(&norm_place(&r.place));
        let (place_id, path, community) = match place {
            Some(Some(p)) => (p.0, p.1.clone(), p.2),
            Some(None) => {
                bad.push(problem("place", "people_import.place_ambiguous"));
                (Uuid::nil(), String::new(), Uuid::nil())
            }
            None => {
                bad.push(problem(
                    "place",
                    if r.place.trim().is_empty() { "error.required" } else { "people_import.place_unknown" },
                ));
                (Uuid::nil(), String::new(), Uuid::nil())
            }
        };
        let estate_id = if r.estate.trim().is_empty() {
            None
        } else {
            let e = places.estates.get(&(community, r.estate.trim().to_string())).copied();
            if e.is_none() && place.is_some() {
                bad.push(problem("estate", "people_import.estate_unknown"));
            }
            e
        };
        let input = PersonInput {
            name: r.name.clone(),
            id_number: Some(r.id_number.clone()),
            sex: Some(r.sex.clone()),
            birth_date: Some(r.birth_date.clone()),
            phone: Some(r.phone.clone()),
            place_id,
            building: Some(r.building.clone()),
            unit: Some(r.unit.clone()),
            room: Some(r.room.clone()),
            relation: Some(r.relation.clone()),
            ..Default::default()
        };
        let mut errors = FieldErrors::default();
        let clean = validate(&input, today, &mut errors);
        for (field, code) in errors.0 {
            let code = if field == "id_number" && looks_like_excel_number(&r.id_number) {
                "people_import.id_as_number"
            } else {
                code
            };
            bad.push(problem(&field, code));
        }
        let mut tags = Vec::new();
        for part in r.tags.split([',', '，', '、', ';', '；']).map(str::trim).filter(|t| !t.is_empty()) {
            let t = TagInput { tag: part.into(), starts_on: None, ends_on: None, source: "批量导入".into() };
            let mut e = FieldErrors::default();
            match validate_tag(&t, clean.birth_date, today, &mut e) {
                Some((tag, ..)) => tags.push(tag),
                None => bad.extend(e.0.into_iter().map(|(_, code)| problem("tags", code))),
            }
        }
        if let Some(id) = &clean.id_number
            && !seen_ids.insert(id.as_str().to_string())
        {
            bad.push(problem("id_number", "people_import.duplicate_in_file"));
        }
        if bad.is_empty() {
            candidates.push(Ready { row: r.clone(), clean, place_id, path, estate_id, tags });
        }
        plan.problems.extend(bad);
    }
    // Already registered: by the blind index of the ID number, or by name + birth date + place.
    let hashes: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.clean.id_number.as_ref())
        .flat_map(|i| keys.blind_all("id", i.as_str()))
        .collect();
    // Each known hash, and whether its record lies in the caller's scope.
    let mut known_hashes: HashMap<String, bool> = HashMap::new();
    for chunk in hashes.chunks(500) {
        // `merged_into IS NULL` matches the partial unique index; without it SQLite cannot use
        // the index and scans every person once per chunk (minutes at district scale).
        let mut args = Args::new();
        let list = args.list(chunk);
        let in_scope = super::store::visible(db.backend(), "p", scope, &mut args);
        let sql = format!(
            "SELECT p.id_hash, CAST(CASE WHEN {in_scope} THEN 1 ELSE 0 END AS BIGINT) FROM persons p
             WHERE p.id_hash IN ({list}) AND p.merged_into IS NULL"
        );
        known_hashes.extend(query::all::<(String, i64)>(db, &sql, &args).await?.into_iter().map(|r| (r.0, r.1 == 1)));
    }
    let names: Vec<String> =
        candidates.iter().map(|c| c.clean.name.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut known_people: HashSet<(String, Option<NaiveDate>, Uuid)> = HashSet::new();
    for chunk in names.chunks(500) {
        let mut args = Args::new();
        let sql = format!(
            "SELECT name, birth_date, place_id FROM persons WHERE merged_into IS NULL AND name IN ({})",
            args.list(chunk)
        );
        known_people.extend(query::all::<(String, Option<NaiveDate>, Uuid)>(db, &sql, &args).await?);
    }
    for c in candidates {
        let known = c
            .clean
            .id_number
            .as_ref()
            .and_then(|i| keys.blind_all("id", i.as_str()).iter().find_map(|h| known_hashes.get(h).copied()));
        let by_id = known.is_some();
        if known == Some(false) {
            plan.elsewhere += 1;
        }
        // Without a birth date the name and place are all there is: a row without an ID number
        // matches on them too, so importing the same file twice adds such a person once.
        let by_name = (c.clean.birth_date.is_some() || c.clean.id_number.is_none())
            && known_people.contains(&(c.clean.name.clone(), c.clean.birth_date, c.place_id));
        if by_id || by_name {
            plan.existing += 1;
        } else {
            plan.ready.push(c);
        }
    }
    Ok(plan)
}

/// Re-checks the rows and writes every new person in one transaction, with one audit row. Bad
/// rows are left out (the callers decide beforehand whether bad rows stop the import).
pub async fn commit(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    rows: &[ImportRow],
    file: &str,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<usize, AppError> {
    write_people(db, keys, scope, actor, rows, file, progress, None).await
}

/// `commit`, and with a claimed batch, the batch marked done in the same transaction: an import
/// either wrote its people and says so, or wrote nothing.
#[allow(clippy::too_many_arguments)]
async fn write_people(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    rows: &[ImportRow],
    file: &str,
    progress: &(dyn Fn(usize) + Send + Sync),
    claim: Option<&Claim>,
) -> Result<usize, AppError> {
    // Rows that turned bad since the preview (a place closed meanwhile) are left out like the
    // rows that were bad then: the rest still lands.
    let p = plan(db, keys, scope, rows).await?;
    let left_out = p.problems.iter().map(|x| x.row).collect::<BTreeSet<_>>().len();
    let mut households: HashMap<String, Uuid> = HashMap::new();
    let mut tx = db.begin().await?;
    let now = Utc::now();
    let today = super::store::today();
    for (i, r) in p.ready.iter().enumerate() {
        if i % PROGRESS_EVERY == 0 && i > 0 {
            progress(i);
        }
        let key = r.row.household.trim().to_string();
        let household = if key.is_empty() { None } else { households.get(&key).copied() };
        let (person_id, household_id) =
            super::store::insert(&mut tx, keys, actor, &r.clean, &r.place_id, &r.path, r.estate_id, household, false)
                .await
                .map_err(|e| match e {
                    AppError::Invalid(_) => AppError::bad("import.concurrent_change"),
                    e => e,
                })?;
        if !key.is_empty() {
            households.entry(key).or_insert(household_id);
        }
        for tag in &r.tags {
            crate::write!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO person_tags (id, person_id, tag, starts_on, source, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )
            .bind(Uuid::now_v7())
            .bind(person_id)
            .bind(tag.as_str())
            .bind(today)
            .bind("批量导入")
            .bind(now)
            .bind(actor.id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
    }
    if let Some(claim) = claim {
        // A batch marked interrupted meanwhile (its lease ran out) was promised to have written
        // nothing: this transaction rolls back.
        let finished = crate::write!(&mut tx, |c| sqlx::query(
            "UPDATE import_batches SET status = 'done', done = $1, rows = '', finished_at = $2, lease_until = NULL
             WHERE id = $3 AND owner = $4 AND status = 'running'"
        )
        .bind(p.ready.len() as i64)
        .bind(Utc::now())
        .bind(claim.id)
        .bind(&claim.owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        if finished == 0 {
            return Err(AppError::bad("people_import.interrupted"));
        }
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.import",
            entity: "person",
            entity_id: None,
            detail: serde_json::json!({ "file": file, "created": p.ready.len(), "existing": p.existing, "left_out": left_out }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(p.ready.len())
}

// ---- screens ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "people/import.html")]
struct ImportPage {
    ctx: Ctx,
    problems: Vec<Problem>,
    /// All problems found; the page lists the first `SHOWN_PROBLEMS`.
    problems_total: usize,
    problems_cut: Option<String>,
    ready_cut: Option<String>,
    ready: Vec<ImportRow>,
    ready_total: usize,
    existing: usize,
    batch: Option<Uuid>,
    /// The file of rejected rows to fix, when some rows are bad.
    rejects: Option<Uuid>,
    bad_rows: usize,
    previewed: bool,
    error: Option<String>,
    notice: Option<String>,
}

fn import_page(st: &AppState, caller: &Caller) -> ImportPage {
    ImportPage {
        ctx: Ctx::new(st.cfg.demo, Some(caller), None, "/people", "people_import.title"),
        problems: Vec::new(),
        problems_total: 0,
        problems_cut: None,
        ready_cut: None,
        ready: Vec::new(),
        ready_total: 0,
        existing: 0,
        batch: None,
        rejects: None,
        bad_rows: 0,
        previewed: false,
        error: None,
        notice: None,
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
    let tr = view.ctx.tr;
    let file = crate::web::form::uploaded_file(mp, "file").await?;
    let Some((name, bytes)) = file else {
        view.error = Some(tr.t("import.no_file"));
        return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let table = match tabular::read_off_runtime(bytes, name.clone()).await {
        Ok(t) => t,
        Err(e) => {
            view.error = Some(tr.t(&e.to_string()));
            return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    view.previewed = true;
    let rows = match rows_from_table(&table) {
        Ok(r) => r,
        Err(problems) => {
            view.problems_total = problems.len();
            view.problems = localise(problems.into_iter().take(SHOWN_PROBLEMS).collect(), tr);
            return Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY));
        }
    };
    let checked = check(&st, &caller, &name, &rows).await?;
    view.existing = checked.existing;
    view.batch = checked.batch;
    view.rejects = checked.rejects;
    // Bad rows no longer block the good ones; the answer is 422 only when nothing can be imported.
    let status = if checked.problems.is_empty() || checked.batch.is_some() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    view.problems_total = checked.problems.len();
    view.bad_rows = checked.bad_rows;
    view.problems = localise(checked.problems.into_iter().take(SHOWN_PROBLEMS).collect(), tr);
    view.ready_total = checked.ready_total;
    view.ready = checked.ready;
    if view.problems_total > view.problems.len() {
        view.problems_cut = Some(tr.f("people_import.problems_cut", &[&view.problems.len()]));
    }
    if view.ready_total > view.ready.len() {
        view.ready_cut = Some(tr.f("people_import.ready_cut", &[&view.ready.len()]));
    }
    Ok(page_with_status(&view, status))
}

/// What a checked upload left: the good rows waiting for a commit, the bad ones as a file to
/// download, and what the preview shows.
pub struct Checked {
    /// The batch of good rows, when there are any.
    pub batch: Option<Uuid>,
    /// The rejected rows (with their reasons), when there are any.
    pub rejects: Option<Uuid>,
    /// The first good rows, for the preview.
    pub ready: Vec<ImportRow>,
    pub ready_total: usize,
    pub existing: usize,
    /// Rows with at least one problem.
    pub bad_rows: usize,
    /// Every problem, unlocalised.
    pub problems: Vec<Problem>,
}

/// A row that cannot be imported as it is, kept to be handed back for fixing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected {
    pub row: ImportRow,
    /// (column, reason code) of each problem.
    pub reasons: Vec<(String, String)>,
}

/// The rows with problems, each with all of its problems.
pub fn rejected(rows: &[ImportRow], problems: &[Problem]) -> Vec<Rejected> {
    let mut by_row: std::collections::BTreeMap<usize, Vec<(String, String)>> = Default::default();
    for pr in problems {
        by_row.entry(pr.row).or_default().push((pr.column.clone(), pr.reason.clone()));
    }
    rows.iter()
        .filter_map(|r| by_row.get(&r.row).map(|reasons| Rejected { row: r.clone(), reasons: reasons.clone() }))
        .collect()
}

/// Plans the rows and keeps the good ones (and the bad ones, for their file) in `import_batches`,
/// both in one transaction: a preview either offers both or neither.
pub async fn check(st: &AppState, caller: &Caller, name: &str, rows: &[ImportRow]) -> AppResult<Checked> {
    let p = plan(&st.db, &st.keys, &caller.scope, rows).await?;
    super::store::registered_elsewhere(&st.db, &caller.actor(), "import", p.elsewhere).await?;
    let rejected = rejected(rows, &p.problems);
    let good: Vec<ImportRow> = p.ready.iter().map(|r| r.row.clone()).collect();
    let batch = (!good.is_empty()).then(Uuid::now_v7);
    let rejects = (!rejected.is_empty()).then(Uuid::now_v7);
    if batch.is_some() || rejects.is_some() {
        let now = Utc::now();
        let mut tx = st.db.begin().await?;
        for (id, kind, sealed, total) in [
            (batch, "people", serde_json::to_string(&good), good.len()),
            (rejects, REJECTS_KIND, serde_json::to_string(&rejected), rejected.len()),
        ] {
            let Some(id) = id else { continue };
            // Names, ID and phone numbers: sealed like every secret at rest.
            let sealed = st.keys.seal(sealed.map_err(anyhow::Error::from)?.as_bytes());
            crate::write!(&mut tx, |c| {
                sqlx::query(
                    "INSERT INTO import_batches (id, user_id, kind, file_name, rows, created_at, total, existing)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(caller.user_id)
                .bind(kind)
                .bind(name)
                .bind(&sealed)
                .bind(now)
                .bind(total as i64)
                .bind(p.existing as i64)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
        tx.commit().await?;
    }
    Ok(Checked {
        batch,
        rejects,
        ready_total: good.len(),
        ready: good.into_iter().take(200).collect(),
        existing: p.existing,
        bad_rows: rejected.len(),
        problems: p.problems,
    })
}

/// The `import_batches.kind` of an upload's rejected rows; only their file is made from them.
pub const REJECTS_KIND: &str = "people_rejects";

/// The rejected rows of an upload of the user's (gone after an hour, like the preview).
pub async fn rejected_rows(st: &AppState, user_id: Uuid, id: Uuid) -> AppResult<Option<(String, Vec<Rejected>)>> {
    let row: Option<(String, String)> = crate::read!(&st.db, |c| sqlx::query_as(
        "SELECT file_name, rows FROM import_batches WHERE id = $1 AND user_id = $2 AND kind = $3"
    )
    .bind(id)
    .bind(user_id)
    .bind(REJECTS_KIND)
    .fetch_optional(c)
    .await)?;
    let Some((file, sealed)) = row else { return Ok(None) };
    let json = st.keys.open_text(&sealed).map_err(|_| AppError::bad("import.bad_payload"))?;
    let rows = serde_json::from_str(&json).map_err(|_| AppError::bad("import.bad_payload"))?;
    Ok(Some((file, rows)))
}

fn localise(problems: Vec<Problem>, tr: crate::i18n::Tr) -> Vec<Problem> {
    problems.into_iter().map(|p| Problem { reason: tr.t(&p.reason), ..p }).collect()
}

#[derive(Deserialize)]
pub struct CommitForm {
    #[serde(default)]
    batch: String,
    /// The preview's bad rows, to offer their file again once the good ones are in.
    #[serde(default)]
    rejects: String,
    #[serde(default)]
    bad_rows: String,
}

pub async fn commit_page(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<CommitForm>,
) -> AppResult<Response> {
    let id = Uuid::parse_str(f.batch.trim()).map_err(|_| AppError::bad("import.bad_payload"))?;
    let mut view = import_page(&st, &caller);
    let tr = view.ctx.tr;
    Ok(match start(&st, &caller, id).await? {
        Started::Finished(status) => match status.error {
            None => {
                view.notice = Some(tr.f("people_import.done", &[&status.done]));
                // The rows left out are still to fix: their file is offered again (its route
                // answers only its uploader, so an id typed into the form shows nothing else).
                view.rejects = Uuid::parse_str(f.rejects.trim()).ok();
                view.bad_rows = f.bad_rows.trim().parse().unwrap_or(0).min(tabular::MAX_ROWS);
                page(&view)
            }
            Some(code) => {
                view.error = Some(tr.t(&code));
                page_with_status(&view, StatusCode::CONFLICT)
            }
        },
        // A large file runs as a job on this instance; its state and progress are in the
        // database, so the status page answers from any instance. A batch already claimed (a
        // double click) shows how it goes.
        Started::Running | Started::Taken => Redirect::to(&format!("/people/import/{id}")).into_response(),
        Started::Expired => {
            view.error = Some(tr.t("people_import.expired"));
            page_with_status(&view, StatusCode::CONFLICT)
        }
    })
}

/// How asking to commit a batch went.
pub enum Started {
    /// It ran while the request waited (small files).
    Finished(BatchStatus),
    /// It runs as a job; its status says how far it got.
    Running,
    /// Someone (a double click, another instance) claimed it first.
    Taken,
    /// Unknown, someone else's, or deleted after an hour without a commit.
    Expired,
}

/// Claims the batch and runs it: waiting for it up to `import_inline_rows` rows, as a job beyond.
/// The claim and the start of the run happen in a task of their own: a client hanging up
/// cannot stop them between the claim's commit and the run (the batch would wait claimed, with
/// nothing running it, until the janitor found it interrupted).
pub async fn start(st: &AppState, caller: &Caller, id: Uuid) -> AppResult<Started> {
    tokio::spawn(claim_and_run(st.clone(), caller.clone(), id)).await.map_err(anyhow::Error::from)?
}

async fn claim_and_run(st: AppState, caller: Caller, id: Uuid) -> AppResult<Started> {
    let (st, caller) = (&st, &caller);
    let claim = Claim { id, owner: crate::ops::instance_name(&st.cfg.listen) };
    let now = Utc::now();
    // Claiming the batch is one conditional update: a double click or a second instance finds
    // it taken and shows its progress instead of importing twice. The claim's lease says the
    // batch is alive while this instance renews it.
    let mut tx = st.db.begin().await?;
    let claimed = crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE import_batches SET status = 'running', started_at = $1, owner = $2, lease_until = $3
         WHERE id = $4 AND user_id = $5 AND kind = 'people' AND status = 'ready'"
    )
    .bind(now)
    .bind(&claim.owner)
    .bind(now + chrono::Duration::seconds(LEASE_SECS))
    .bind(id)
    .bind(caller.user_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let batch: Option<(String, String, i64)> = if claimed == 0 {
        None
    } else {
        crate::write!(&mut tx, |c| sqlx::query_as("SELECT file_name, rows, total FROM import_batches WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await)?
    };
    tx.commit().await?;
    if claimed == 0 {
        return Ok(if batch_status(&st.db, caller.user_id, id).await?.is_some() {
            Started::Taken
        } else {
            // Not committed within the hour: the janitor deleted the preview and its rows.
            Started::Expired
        });
    }
    let (file, rows, total) = batch.ok_or(AppError::NotFound)?;
    // Run in a task of its own even when the answer waits for it: a user who closes the tab
    // does not cancel an import half-way.
    let run = tokio::spawn(run_batch(st.clone(), caller.clone(), claim, file, rows));
    if total as usize <= st.cfg.import_inline_rows {
        run.await.map_err(anyhow::Error::from)?;
        let status = batch_status(&st.db, caller.user_id, id).await?.ok_or(AppError::NotFound)?;
        return Ok(Started::Finished(status));
    }
    Ok(Started::Running)
}

/// A batch this instance claimed: only its owner renews its lease and records how it ended.
#[derive(Debug, Clone)]
pub struct Claim {
    pub id: Uuid,
    /// `ops::instance_name` of the instance running it.
    pub owner: String,
}

/// A running batch whose lease is this old without renewal lost its instance. The instance
/// renews it every `RENEW_EVERY`; the janitor looks every half minute.
pub const LEASE_SECS: i64 = 60;
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Renews a running batch's lease until dropped (the run ended, returned or panicked).
struct Lease(tokio::task::JoinHandle<()>);

impl Lease {
    fn keep(db: Db, claim: Claim) -> Lease {
        Lease(tokio::spawn(async move {
            let mut tick = tokio::time::interval(RENEW_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let renew = async {
                    let mut tx = db.begin().await?;
                    crate::write!(&mut tx, |c| sqlx::query(
                        "UPDATE import_batches SET lease_until = $1 WHERE id = $2 AND owner = $3 AND status = 'running'"
                    )
                    .bind(Utc::now() + chrono::Duration::seconds(LEASE_SECS))
                    .bind(claim.id)
                    .bind(&claim.owner)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected()))?;
                    tx.commit().await
                };
                if let Err(e) = renew.await {
                    tracing::warn!(error = %e, "renewing an import's lease failed");
                }
            }
        }))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The progress of a running import moves every this many rows.
const PROGRESS_EVERY: usize = 1_000;
/// The preview lists at most this many problems (and says how many there are).
const SHOWN_PROBLEMS: usize = 500;

/// Progress of imports running on this instance. SQLite's one writer is busy with the import's
/// transaction, so there the count can only live here; PostgreSQL also gets it in the batch row
/// (through another pooled connection), which any instance reads.
static RUNNING: std::sync::LazyLock<std::sync::Mutex<HashMap<Uuid, usize>>> =
    std::sync::LazyLock::new(Default::default);

fn running_progress(id: Uuid) -> Option<usize> {
    RUNNING.lock().ok()?.get(&id).copied()
}

/// Runs a claimed batch to its end: every new person in one transaction that also marks the
/// batch done with its count, or the batch failed with the reason; its rows go either way.
async fn run_batch(st: AppState, caller: Caller, claim: Claim, file: String, sealed: String) {
    let id = claim.id;
    let _lease = Lease::keep(st.db.clone(), claim.clone());
    if let Ok(mut m) = RUNNING.lock() {
        m.insert(id, 0);
    }
    let db = st.db.clone();
    let report = move |n: usize| {
        if let Ok(mut m) = RUNNING.lock() {
            m.insert(id, n);
        }
        if db.backend() == crate::db::Backend::Postgres {
            let db = db.clone();
            tokio::spawn(async move {
                let _ = set_done(&db, id, n).await;
            });
        }
    };
    let rows = st
        .keys
        .open_text(&sealed)
        .ok()
        .and_then(|json| serde_json::from_str::<Vec<ImportRow>>(&json).ok())
        .ok_or(AppError::bad("import.bad_payload"));
    let result = match rows {
        Ok(rows) => {
            write_people(&st.db, &st.keys, &caller.scope, &caller.actor(), &rows, &file, &report, Some(&claim)).await
        }
        Err(e) => Err(e),
    };
    if let Ok(mut m) = RUNNING.lock() {
        m.remove(&id);
    }
    let error = match result {
        Ok(_) => return,
        Err(AppError::BadRequest(code, _)) => code.to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "people import failed");
            "people_import.failed".to_string()
        }
    };
    // Nothing was written. Recorded whatever the batch says by now: this instance knows why.
    let finish = async {
        let mut tx = st.db.begin().await?;
        crate::write!(&mut tx, |c| sqlx::query(
            "UPDATE import_batches SET status = 'failed', done = 0, error = $1, rows = '', finished_at = $2,
                    lease_until = NULL
             WHERE id = $3 AND owner = $4"
        )
        .bind(&error)
        .bind(Utc::now())
        .bind(id)
        .bind(&claim.owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await
    };
    if let Err(e) = finish.await {
        tracing::warn!(error = %e, "recording the end of an import failed");
    }
}

async fn set_done(db: &Db, id: Uuid, n: usize) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE import_batches SET done = $1 WHERE id = $2 AND status = 'running' AND done < $1"
    )
    .bind(n as i64)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchStatus {
    pub id: Uuid,
    pub file_name: String,
    pub status: String,
    pub total: i64,
    pub done: i64,
    pub existing: i64,
    pub error: Option<String>,
    pub started_at: Option<chrono::DateTime<Utc>>,
}

impl BatchStatus {
    pub fn is_running(&self) -> bool {
        self.status == "running"
    }
    pub fn percent(&self) -> i64 {
        if self.total <= 0 { 0 } else { (self.done * 100 / self.total).clamp(0, 100) }
    }
}

/// A batch of the user's, without its rows; a running one's count from this instance if it is
/// the one running it.
pub async fn batch_status(db: &Db, user_id: Uuid, id: Uuid) -> Result<Option<BatchStatus>, sqlx::Error> {
    let row: Option<BatchStatus> = crate::read!(db, |c| sqlx::query_as(
        "SELECT id, file_name, status, total, done, existing, error, started_at FROM import_batches
         WHERE id = $1 AND user_id = $2 AND kind = 'people'"
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|mut b| {
        if b.is_running()
            && let Some(n) = running_progress(b.id)
        {
            b.done = b.done.max(n as i64);
        }
        b
    }))
}

#[derive(Template)]
#[template(path = "people/import_status.html")]
struct StatusPage {
    ctx: Ctx,
    batch: BatchStatus,
    message: String,
}

/// Where a large import shows how far it got; it reloads itself while the job runs.
pub async fn status_page(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let batch = batch_status(&st.db, caller.user_id, id).await?.ok_or(AppError::NotFound)?;
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/people", "people_import.title");
    let tr = ctx.tr;
    let message = match batch.status.as_str() {
        "running" => tr.f("people_import.running", &[&batch.done, &batch.total]),
        "done" => tr.f("people_import.done", &[&batch.done]),
        "failed" => tr.t(batch.error.as_deref().unwrap_or("people_import.failed")),
        _ => tr.t("people_import.not_started"),
    };
    Ok(page(&StatusPage { ctx, batch, message }))
}

// ---- batches left behind -----------------------------------------------------------------------

const INTERRUPT: &str = "UPDATE import_batches
     SET status = 'failed', error = 'people_import.interrupted', rows = '', finished_at = $1, lease_until = NULL
     WHERE status = 'running' AND ";

/// Claims made before leases existed carry none: those count as lost after two hours, as then.
const UNLEASED_HOURS: i64 = 2;

/// At start, before any batch is claimed: running batches this instance can tell are dead say
/// so at once. On SQLite that is every one (one process serves a SQLite file, and it is only now
/// starting); on PostgreSQL, those its predecessor under the same name held, and those whose
/// lease ran out. A batch another live instance runs has a fresh lease and is left alone.
pub async fn recover_at_start(db: &Db, owner: &str, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let every = db.backend() == crate::db::Backend::Sqlite;
    let mut tx = db.begin().await?;
    let n = crate::write!(&mut tx, |c| sqlx::query(&format!(
        "{INTERRUPT} ($2 OR owner = $3 OR lease_until < $1 OR (lease_until IS NULL AND started_at < $4))"
    ))
    .bind(now)
    .bind(every)
    .bind(owner)
    .bind(now - chrono::Duration::hours(UNLEASED_HOURS))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n)
}

/// Running batches whose lease ran out are marked interrupted (their instance died, and its
/// transaction with it). Each is one conditional statement, so instances sweeping together mark
/// a batch once and never touch one whose lease is being renewed.
pub async fn expire_leases(tx: &mut crate::db::Tx, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    crate::write!(tx, |c| sqlx::query(&format!(
        "{INTERRUPT} (lease_until < $1 OR (lease_until IS NULL AND started_at < $2))"
    ))
    .bind(now)
    .bind(now - chrono::Duration::hours(UNLEASED_HOURS))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
}

/// The janitor's pass: leases run out, then batches gone an hour — finished ones (their status
/// page has been seen) and previews nobody committed, with their sealed rows. A preview claimed
/// in the same moment is either running before the delete looks (kept) or gone before the claim
/// looks (the user is told to upload again).
pub async fn sweep(tx: &mut crate::db::Tx, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let marked = expire_leases(tx, now).await?;
    let gone = crate::write!(tx, |c| sqlx::query(
        "DELETE FROM import_batches WHERE status <> 'running' AND COALESCE(finished_at, created_at) < $1"
    )
    .bind(now - chrono::Duration::hours(1))
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(marked + gone)
}

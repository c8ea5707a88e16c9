//! Chinese search that behaves the same on SQLite and PostgreSQL: a Rust tokenizer turns text
//! into terms (CJK unigrams and bigrams, lower-cased latin words, and for names their pinyin and
//! initials), one row per term in `search_terms`, and a query is an exact-term match (Chinese)
//! or a term-prefix range (pinyin), filtered by the caller's scope inside the SQL.

pub mod api;

use std::collections::{BTreeMap, BTreeSet};

use pinyin::{ToPinyin, ToPinyinMulti};
use uuid::Uuid;

use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Db, Tx};
use crate::web::{Access, RouteDef, r};
use crate::write;

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Runs of CJK characters and runs of latin letters/digits, in order.
fn runs(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    for c in text.chars() {
        let kind = if is_cjk(c) {
            Some(true)
        } else if c.is_ascii_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match (kind, out.last_mut()) {
            (Some(k), Some((lk, s))) if *lk == k && !s.is_empty() => s.push(c.to_ascii_lowercase()),
            (Some(k), _) => out.push((k, c.to_ascii_lowercase().to_string())),
            (None, Some((_, s))) if !s.is_empty() => out.push((false, String::new())),
            (None, _) => {}
        }
    }
    out.retain(|(_, s)| !s.is_empty());
    out
}

/// Terms of free text: every CJK character and every pair of neighbours, latin words whole.
pub fn text_terms(text: &str) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for (cjk, run) in runs(text) {
        if cjk {
            let chars: Vec<char> = run.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                terms.insert(c.to_string());
                if let Some(n) = chars.get(i + 1) {
                    terms.insert(format!("{c}{n}"));
                }
            }
        } else if run.len() >= 2 {
            terms.insert(run);
        }
    }
    terms
}

/// What an index row stands for. Stored with the row so that a person whose full pinyin matches
/// ranks above one whose initials do.
pub const KIND_TEXT: i16 = 0;
pub const KIND_PINYIN: i16 = 1;
pub const KIND_INITIALS: i16 = 2;

/// The version of [`name_terms_kinds`]. Names indexed under an older one are indexed again at
/// start ([`reindex_all`]); raise it whenever the terms of a name change.
pub const NAME_TERMS_VERSION: i64 = 2;

/// Compound surnames, read as one: their characters' common readings are not the surname's
/// (尉迟 is yuchi, not weichi; 万俟 is moqi).
const COMPOUND_SURNAMES: &[(&str, &str, &str)] = &[
    ("尉迟", "yuchi", "yc"),
    ("万俟", "moqi", "mq"),
    ("单于", "chanyu", "cy"),
    ("长孙", "zhangsun", "zs"),
    ("澹台", "tantai", "tt"),
    ("乐正", "yuezheng", "yz"),
    ("亓官", "qiguan", "qg"),
    ("仉督", "zhangdu", "zd"),
    ("令狐", "linghu", "lh"),
    ("欧阳", "ouyang", "oy"),
    ("皇甫", "huangfu", "hf"),
    ("宇文", "yuwen", "yw"),
    ("慕容", "murong", "mr"),
    ("上官", "shangguan", "sg"),
    ("司马", "sima", "sm"),
    ("诸葛", "zhuge", "zg"),
    ("夏侯", "xiahou", "xh"),
    ("公孙", "gongsun", "gs"),
    ("东方", "dongfang", "df"),
    ("呼延", "huyan", "hy"),
    ("拓跋", "tuoba", "tb"),
];

/// Single surnames whose reading as a surname is not the character's most common one (曾 is
/// zeng as a surname, ceng otherwise). Where a family name is read two ways, both.
const SURNAMES: &[(char, &[&str])] = &[
    ('曾', &["zeng"]),
    ('单', &["shan"]),
    ('解', &["xie"]),
    ('仇', &["qiu"]),
    ('朴', &["piao"]),
    ('区', &["ou"]),
    ('查', &["zha"]),
    ('盖', &["ge"]),
    ('乐', &["yue", "le"]),
    ('缪', &["miao"]),
    ('覃', &["qin", "tan"]),
    ('秘', &["bi"]),
    ('句', &["gou"]),
    ('能', &["nai"]),
    ('种', &["chong"]),
    ('召', &["shao"]),
    ('翟', &["zhai"]),
    ('折', &["she"]),
    ('繁', &["po"]),
    ('员', &["yun"]),
    ('贲', &["ben"]),
    ('隗', &["wei"]),
    ('宓', &["mi"]),
    ('谌', &["chen"]),
    ('莘', &["shen"]),
    ('蕃', &["pi"]),
    ('祭', &["zhai"]),
    ('郇', &["xun"]),
    ('厍', &["she"]),
    ('冼', &["xian"]),
    ('眭', &["sui"]),
    ('阚', &["kan"]),
    ('藏', &["zang"]),
    ('重', &["chong"]),
    ('长', &["chang"]),
    ('朝', &["chao"]),
    ('沈', &["shen"]),
    ('薄', &["bo"]),
    ('柏', &["bai"]),
    ('燕', &["yan"]),
    ('任', &["ren"]),
    ('华', &["hua"]),
    ('纪', &["ji"]),
    ('那', &["na"]),
    ('相', &["xiang"]),
    ('都', &["du"]),
    ('曲', &["qu"]),
    ('车', &["che"]),
    ('尉', &["wei", "yu"]),
    ('石', &["shi"]),
    ('弘', &["hong"]),
    ('黑', &["he"]),
];

/// A name's readings past this many are not indexed: four polyphonic characters would give
/// hundreds, nearly all of them readings nobody uses.
const MAX_READINGS: usize = 16;

/// Every plain reading of a character, the most common first; ü written v, as people type it.
fn readings(c: char) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(multi) = c.to_pinyin_multi() {
        for p in multi {
            let r = p.plain().replace('ü', "v");
            if !out.contains(&r) {
                out.push(r);
            }
        }
    } else if let Some(p) = c.to_pinyin() {
        out.push(p.plain().replace('ü', "v"));
    }
    out
}

fn initial(reading: &str) -> String {
    reading.chars().take(1).collect()
}

/// The ways a name is read, most likely first: (full pinyin, initials). The first character is
/// read as a surname (a compound surname as one), the rest with every reading they have.
pub fn name_readings(name: &str) -> Vec<(String, String)> {
    // Each slot: the alternatives for one character (or a compound surname) as (full, initials).
    let mut slots: Vec<Vec<(String, String)>> = Vec::new();
    let chars: Vec<char> = name.chars().collect();
    let mut rest = &chars[..];
    if let Some((_, full, ini)) =
        COMPOUND_SURNAMES.iter().find(|(s, _, _)| chars.len() > 2 && chars.starts_with(&s.chars().collect::<Vec<_>>()))
    {
        slots.push(vec![(full.to_string(), ini.to_string())]);
        rest = &chars[2..];
    } else if let Some((first, tail)) = chars.split_first()
        && let Some((_, rs)) = SURNAMES.iter().find(|(s, _)| s == first)
        && tail.iter().any(|c| c.to_pinyin().is_some())
    {
        slots.push(rs.iter().map(|r| (r.to_string(), initial(r))).collect());
        rest = tail;
    }
    for c in rest {
        let rs = readings(*c);
        if !rs.is_empty() {
            slots.push(rs.into_iter().map(|r| (initial(&r), r)).map(|(i, r)| (r, i)).collect());
        }
    }
    if slots.is_empty() {
        return Vec::new();
    }
    // Every combination, ranked by how far each character is from its most common reading.
    let mut combos: Vec<(usize, String, String)> = vec![(0, String::new(), String::new())];
    for slot in &slots {
        let mut next = Vec::with_capacity(combos.len() * slot.len());
        for (cost, full, ini) in &combos {
            for (i, (f, n)) in slot.iter().enumerate() {
                next.push((cost + i, format!("{full}{f}"), format!("{ini}{n}")));
            }
        }
        next.sort_by_key(|c| c.0);
        next.truncate(MAX_READINGS * 4);
        combos = next;
    }
    combos.truncate(MAX_READINGS);
    combos.into_iter().map(|(_, f, i)| (f, i)).collect()
}

/// Terms of a person's name, each with its kind: the text terms, and for every reading of the
/// name its full pinyin (`wangfang`) and initials (`wf`).
pub fn name_terms_kinds(name: &str) -> BTreeMap<String, i16> {
    let mut terms: BTreeMap<String, i16> = text_terms(name).into_iter().map(|t| (t, KIND_TEXT)).collect();
    for (full, initials) in name_readings(name) {
        // A term that is both (a one-character name's "a") counts as the better kind.
        for (t, kind) in [(full, KIND_PINYIN), (initials, KIND_INITIALS)] {
            let e = terms.entry(t).or_insert(kind);
            if *e == KIND_TEXT || kind < *e {
                *e = kind;
            }
        }
    }
    terms
}

/// Terms of a person's name (see [`name_terms_kinds`]).
pub fn name_terms(name: &str) -> BTreeSet<String> {
    name_terms_kinds(name).into_keys().collect()
}

/// What a query asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Query {
    /// Every one of these terms (Chinese text).
    All(Vec<String>),
    /// A term starting with this (pinyin or initials typed in latin letters).
    Prefix(String),
    Nothing,
}

/// A query is read up to this many characters: what a search box holds, and an `IN` list the
/// databases take whatever was sent.
pub const MAX_QUERY_CHARS: usize = 64;

pub fn parse_query(q: &str) -> Query {
    let q: String = q.trim().chars().take(MAX_QUERY_CHARS).collect();
    let q = q.as_str();
    let cjk: String = q.chars().filter(|c| is_cjk(*c) || c.is_whitespace()).collect();
    if cjk.chars().any(|c| !c.is_whitespace()) {
        let mut terms = BTreeSet::new();
        for (is_cjk, run) in runs(&cjk) {
            let chars: Vec<char> = run.chars().collect();
            if !is_cjk {
                continue;
            }
            if chars.len() == 1 {
                terms.insert(run.clone());
            }
            for w in chars.windows(2) {
                terms.insert(w.iter().collect());
            }
        }
        return Query::All(terms.into_iter().collect());
    }
    let latin: String = q.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    if latin.len() >= 2 { Query::Prefix(latin) } else { Query::Nothing }
}

/// Replaces the index rows of one record (free text: every term of kind text).
pub async fn index(
    tx: &mut Tx,
    entity: &str,
    entity_id: Uuid,
    person_id: Uuid,
    path: &str,
    terms: &BTreeSet<String>,
) -> Result<(), sqlx::Error> {
    let kinds: BTreeMap<String, i16> = terms.iter().map(|t| (t.clone(), KIND_TEXT)).collect();
    index_kinds(tx, entity, entity_id, person_id, path, &kinds).await
}

/// Replaces the index rows of a person's name.
pub async fn index_name(tx: &mut Tx, person_id: Uuid, path: &str, name: &str) -> Result<(), sqlx::Error> {
    index_kinds(tx, "person", person_id, person_id, path, &name_terms_kinds(name)).await
}

/// Replaces the index rows of one record, in one INSERT per 100 terms: a name has up to a
/// hundred with its readings, and the re-index writes thousands of names in a transaction.
pub async fn index_kinds(
    tx: &mut Tx,
    entity: &str,
    entity_id: Uuid,
    person_id: Uuid,
    path: &str,
    terms: &BTreeMap<String, i16>,
) -> Result<(), sqlx::Error> {
    remove(tx, entity_id).await?;
    let terms: Vec<(&String, &i16)> = terms.iter().collect();
    for chunk in terms.chunks(100) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, $1, $2, $3, $4, ${})", 5 + 2 * i, 6 + 2 * i)).collect();
        let sql = format!(
            "INSERT INTO search_terms (term, entity, entity_id, person_id, path, kind) VALUES {}",
            values.join(", ")
        );
        write!(tx, |c| {
            let mut q = sqlx::query(&sql).bind(entity).bind(entity_id).bind(person_id).bind(path);
            for (term, kind) in chunk {
                q = q.bind(*term).bind(**kind);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

pub async fn remove(tx: &mut Tx, entity_id: Uuid) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query("DELETE FROM search_terms WHERE entity_id = $1")
        .bind(entity_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Moves every index row of a person (their name and their case notes) to a new scope path.
pub async fn repath(tx: &mut Tx, entity: &str, entity_id: Uuid, path: &str) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query("UPDATE search_terms SET path = $1 WHERE entity = $2 AND entity_id = $3")
        .bind(path)
        .bind(entity)
        .bind(entity_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub fn routes() -> Vec<RouteDef> {
    vec![r(axum::http::Method::GET, "/api/v1/search", Access::Roles(api::SEARCHERS), api::search)]
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hit {
    pub entity: String,
    pub entity_id: Uuid,
    pub person_id: Uuid,
}

/// Records matching `q` among `entities`, inside the scope; at most `limit`.
pub async fn find(db: &Db, scope: &Scope, entities: &[&str], q: &str, limit: i64) -> Result<Vec<Hit>, sqlx::Error> {
    let mut args = Args::new();
    let term_sql = match parse_query(q) {
        Query::Nothing => return Ok(Vec::new()),
        Query::All(terms) if terms.is_empty() => return Ok(Vec::new()),
        Query::All(terms) => {
            let n = terms.len() as i64;
            let list = args.list(&terms);
            (format!("term IN ({list})"), Some(n))
        }
        Query::Prefix(p) => {
            let hi = format!("{p}\u{10FFFF}");
            (format!("term >= {} AND term < {}", args.push(p), args.push(hi)), None)
        }
    };
    let (term_where, need) = term_sql;
    let ent = args.list(entities);
    let mut scope_sql = args.scope("path", scope);
    if scope.casework && entities.contains(&"person") {
        // A person's name is indexed where they live; a station also finds the people living
        // elsewhere whose case it holds (`people::store::visible` then drops the residents whose
        // cases another station holds).
        scope_sql = format!(
            "({scope_sql} OR (entity = 'person' AND person_id IN ({})))",
            crate::people::store::moved_in(scope, &mut args)
        );
    }
    let having = match need {
        Some(n) => format!("HAVING COUNT(DISTINCT term) = {}", args.push(n)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT entity, entity_id, person_id FROM search_terms WHERE {term_where} AND entity IN ({ent}) AND {scope_sql}
         GROUP BY entity, entity_id, person_id {having} ORDER BY entity_id DESC LIMIT {}",
        args.push(limit)
    );
    query::all(db, &sql, &args).await
}

/// How well a person matches, best first: their exact name, a name starting with the query,
/// their full pinyin (whole, then its start), their initials (whole, then their start), any
/// other term.
pub const RANK_EXACT: i64 = 0;
pub const RANK_NAME_PREFIX: i64 = 1;
pub const RANK_OTHER: i64 = 6;

/// The people whose name matches `q` as a subquery of `(id, rank)`, inside the scope as `find`
/// reads it; the caller ranks exact names and name prefixes above it (see [`rank_by_name`]),
/// which needs the name. None when `q` asks for nothing.
pub fn person_matches(q: &str, scope: &Scope, args: &mut Args) -> Option<String> {
    let (term_where, rank, having) = match parse_query(q) {
        Query::Nothing => return None,
        Query::All(terms) if terms.is_empty() => return None,
        Query::All(terms) => {
            let n = terms.len() as i64;
            let list = args.list(&terms);
            (
                format!("s.term IN ({list})"),
                RANK_OTHER.to_string(),
                format!("HAVING COUNT(DISTINCT s.term) = {}", args.push(n)),
            )
        }
        Query::Prefix(p) => {
            let hi = format!("{p}\u{10FFFF}");
            let (lo, hi) = (args.push(p), args.push(hi));
            let rank = format!(
                "MIN(CASE WHEN s.kind = {KIND_PINYIN} AND s.term = {lo} THEN 2 WHEN s.kind = {KIND_PINYIN} THEN 3
                          WHEN s.kind = {KIND_INITIALS} AND s.term = {lo} THEN 4 WHEN s.kind = {KIND_INITIALS} THEN 5
                          ELSE {RANK_OTHER} END)"
            );
            (format!("s.term >= {lo} AND s.term < {hi}"), rank, String::new())
        }
    };
    let mut scope_sql = args.scope("s.path", scope);
    if scope.casework {
        // As in `find`: a station also finds the people living elsewhere whose case it holds.
        let moved_in = crate::people::store::moved_in(scope, args);
        scope_sql = format!("({scope_sql} OR s.person_id IN ({moved_in}))");
    }
    Some(format!(
        "SELECT s.entity_id AS id, {rank} AS rank FROM search_terms s
         WHERE {term_where} AND s.entity = 'person' AND {scope_sql} GROUP BY s.entity_id {having}"
    ))
}

/// The rank of a matched person (`rank` from [`person_matches`], `name` their name column):
/// their exact name first, then names starting with the query.
pub fn rank_by_name(q: &str, name: &str, rank: &str, args: &mut Args) -> String {
    let q = q.trim();
    let escaped: String =
        q.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!(
        "CASE WHEN {name} = {} THEN {RANK_EXACT} WHEN {name} LIKE {} ESCAPE '\\' THEN {RANK_NAME_PREFIX} ELSE {rank} END",
        args.push(q.to_string()),
        args.push(format!("{escaped}%"))
    )
}

/// The version of the terms of requests and hazards (their text). Records indexed under an
/// older one, or before they were indexed at all (version 0), are indexed at start.
pub const TEXT_TERMS_VERSION: i64 = 1;

/// A kind of record the start-up re-index walks: its entity, the version its terms are at,
/// its table, and which of its rows are indexed at all.
struct Reindexed {
    entity: &'static str,
    version: i64,
    table: &'static str,
    indexed: &'static str,
}

const REINDEXED: &[Reindexed] = &[
    Reindexed {
        entity: "person",
        version: NAME_TERMS_VERSION,
        table: "persons",
        indexed: "merged_into IS NULL AND anonymised_at IS NULL",
    },
    Reindexed { entity: "request", version: TEXT_TERMS_VERSION, table: "requests", indexed: "1 = 1" },
    Reindexed { entity: "hazard", version: TEXT_TERMS_VERSION, table: "hazards", indexed: "1 = 1" },
];

/// Indexes again, in batches of `batch`, every record indexed under an older version of its
/// terms (names: [`NAME_TERMS_VERSION`]; requests and hazards: [`TEXT_TERMS_VERSION`]), then
/// records the version. Called at every start; several instances starting at once share the
/// work: each batch first moves the shared cursor with a compare-and-set on its batch number
/// (the row stays locked to the commit), and an instance that loses the race drops its batch
/// and reads the cursor again. Returns the records indexed.
pub async fn reindex_all(db: &Db, batch: i64) -> Result<u64, sqlx::Error> {
    let mut done = 0u64;
    for r in REINDEXED {
        done += reindex(db, r, batch).await?;
    }
    Ok(done)
}

async fn reindex(db: &Db, r: &Reindexed, batch: i64) -> Result<u64, sqlx::Error> {
    let mut done = 0u64;
    loop {
        let mut args = Args::new();
        let sql =
            format!("SELECT version, cursor_id, batch FROM search_reindex WHERE entity = {}", args.push(r.entity));
        let state: Option<(i64, Option<Uuid>, i64)> = query::optional(db, &sql, &args).await?;
        let Some((version, cursor, n)) = state else { return Ok(done) };
        if version >= r.version {
            return Ok(done);
        }
        let mut args = Args::new();
        let after = match cursor {
            Some(c) => format!("AND id > {}", args.push(c)),
            None => String::new(),
        };
        let sql =
            format!("SELECT id FROM {} WHERE {} {after} ORDER BY id LIMIT {}", r.table, r.indexed, args.push(batch));
        let ids: Vec<Uuid> = query::all::<(Uuid,)>(db, &sql, &args).await?.into_iter().map(|r| r.0).collect();
        let mut tx = db.begin().await?;
        let mut cas = Args::new();
        let set = match ids.last() {
            Some(last) => format!("cursor_id = {}", cas.push(*last)),
            None => format!("cursor_id = NULL, version = {}", cas.push(r.version)),
        };
        let sql = format!(
            "UPDATE search_reindex SET {set}, batch = batch + 1 WHERE entity = {} AND batch = {}",
            cas.push(r.entity),
            cas.push(n)
        );
        if query::execute(&mut tx, &sql, &cas).await? == 0 {
            // Another instance took this batch.
            drop(tx);
            continue;
        }
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        done += match r.entity {
            "person" => reindex_people(db, &mut tx, &ids).await?,
            _ => {
                for id in &ids {
                    reindex_text(&mut tx, r.entity, *id).await?;
                }
                ids.len() as u64
            }
        };
        tx.commit().await?;
    }
}

/// Indexes these people's names again as they are now, read under the lock an edit takes on
/// PostgreSQL, so that an edit committed after this read cannot be overwritten with the old
/// name's terms. (On SQLite the write transaction already excludes every other writer.)
async fn reindex_people(db: &Db, tx: &mut Tx, ids: &[Uuid]) -> Result<u64, sqlx::Error> {
    let mut args = Args::new();
    let lock = if db.backend() == crate::db::Backend::Postgres { " FOR UPDATE" } else { "" };
    let rows: Vec<(Uuid, String, String)> = query::tx_all(
        tx,
        &format!(
            "SELECT id, name, path FROM persons WHERE id IN ({}) AND merged_into IS NULL AND anonymised_at IS NULL{lock}",
            args.list(ids)
        ),
        &args,
    )
    .await?;
    for (id, name, path) in &rows {
        index_name(tx, *id, path, name).await?;
    }
    Ok(rows.len() as u64)
}

/// The terms a desk searches a request by: what was reported, where, and its category's name.
pub fn request_terms(description: &str, address: &str, category_name: &str) -> BTreeSet<String> {
    [description, address, category_name].iter().flat_map(|p| text_terms(p)).collect()
}

/// Indexes a request's text under its place's path. Its own id stands in for the person (a
/// linked person must not carry a request's terms into their own scope).
pub async fn index_request(
    tx: &mut Tx,
    id: Uuid,
    path: &str,
    description: &str,
    address: &str,
    category_name: &str,
) -> Result<(), sqlx::Error> {
    index(tx, "request", id, id, path, &request_terms(description, address, category_name)).await
}

/// Indexes a hazard's text under its place's path.
pub async fn index_hazard(
    tx: &mut Tx,
    id: Uuid,
    path: &str,
    description: &str,
    address: &str,
) -> Result<(), sqlx::Error> {
    index(tx, "hazard", id, id, path, &request_terms(description, address, "")).await
}

/// Indexes a request or hazard again from its row as the transaction sees it (after a text
/// changed: anonymisation, the re-index at start). A record that is gone loses its rows.
pub async fn reindex_text(tx: &mut Tx, entity: &str, id: Uuid) -> Result<(), sqlx::Error> {
    let mut args = Args::new();
    // Locked on PostgreSQL, as people are in `reindex_people`: the re-index at start and an
    // anonymisation rewriting the same request would otherwise each delete the rows they saw
    // and insert their own, leaving both sets (a request listed twice by a search, or its old
    // words still found). SQLite has one writer.
    let (lock_r, lock) = match tx.backend() {
        crate::db::Backend::Postgres => (" FOR UPDATE OF r", " FOR UPDATE"),
        crate::db::Backend::Sqlite => ("", ""),
    };
    let sql = match entity {
        "request" => format!(
            "SELECT r.path, r.description, r.address, c.name FROM requests r
             JOIN request_categories c ON c.code = r.category WHERE r.id = {}{lock_r}",
            args.push(id)
        ),
        _ => format!(
            "SELECT path, description, COALESCE(address, ''), '' FROM hazards WHERE id = {}{lock}",
            args.push(id)
        ),
    };
    let row: Option<(String, String, String, String)> = query::tx_optional(tx, &sql, &args).await?;
    match row {
        Some((path, description, address, category)) if entity == "request" => {
            index_request(tx, id, &path, &description, &address, &category).await
        }
        Some((path, description, address, _)) => index_hazard(tx, id, &path, &description, &address).await,
        None => remove(tx, id).await,
    }
}

/// How a text query over records of one kind is read.
pub enum TextQuery {
    /// The query asks for nothing (no word of two letters or one Chinese character).
    Nothing,
    /// A Chinese query as a condition on `s`, a `search_terms` row of the query's first term
    /// whose record also holds the others: the caller walks those rows in `s.entity_id` order
    /// (newest first for records with UUIDv7 ids) and stops at its page, instead of collecting
    /// every match and sorting them (a word in a fifth of a million requests).
    Walk(String),
    /// A latin prefix, whose matches span a range of terms and have no one order: the ids of
    /// the matching records as a subquery.
    Ids(String),
}

/// The terms of a Chinese query, the one to walk first: a two-character word where there is
/// one. A lone character (三 of "三 号楼") is in far more records than any word, and the
/// code-point order of the terms would often put a common one (一, 上, 不) first.
fn walk_order(mut terms: Vec<String>) -> Vec<String> {
    if let Some(i) = terms.iter().position(|t| t.chars().count() > 1) {
        terms.swap(0, i);
    }
    terms
}

/// The most terms a walk probes for each row it reads. A longer phrase takes the ids instead
/// (every term's rows, grouped once): a 64-character query walked with 63 probes a row took
/// PostgreSQL 9.8 s to plan and run at a million requests.
const MAX_WALK_TERMS: usize = 4;

/// Reads `q` for records of `entity` ([`TextQuery`]).
pub fn text_query(entity: &str, q: &str, args: &mut Args) -> TextQuery {
    match parse_query(q) {
        Query::All(terms) if !terms.is_empty() && terms.len() <= MAX_WALK_TERMS => {
            let terms = walk_order(terms);
            let ent = args.push(entity.to_string());
            let mut cond = format!("s.entity = {ent} AND s.term = {}", args.push(terms[0].clone()));
            for (i, t) in terms.iter().enumerate().skip(1) {
                cond.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM search_terms s{i} WHERE s{i}.entity = {ent} AND s{i}.term = {} AND s{i}.entity_id = s.entity_id)",
                    args.push(t.clone())
                ));
            }
            TextQuery::Walk(cond)
        }
        _ => match text_matches(entity, q, args) {
            Some(ids) => TextQuery::Ids(ids),
            None => TextQuery::Nothing,
        },
    }
}

/// The ids of the records of `entity` whose text matches `q`, as a subquery (the caller's own
/// scope rule then applies to them: a request's `Viewer::sees`, a hazard's place). None when
/// `q` asks for nothing. A Chinese query needs every one of its bigrams; latin letters match
/// a word's start.
pub fn text_matches(entity: &str, q: &str, args: &mut Args) -> Option<String> {
    let ent = args.push(entity.to_string());
    match parse_query(q) {
        Query::Nothing => None,
        Query::All(terms) if terms.is_empty() => None,
        Query::All(terms) if terms.len() == 1 => {
            // One term (a two-character word): no grouping, an index range read.
            Some(format!(
                "SELECT s.entity_id FROM search_terms s WHERE s.term = {} AND s.entity = {ent}",
                args.push(terms[0].clone())
            ))
        }
        Query::All(terms) => {
            let n = terms.len() as i64;
            let list = args.list(&terms);
            Some(format!(
                "SELECT s.entity_id FROM search_terms s WHERE s.term IN ({list}) AND s.entity = {ent}
                 GROUP BY s.entity_id HAVING COUNT(DISTINCT s.term) = {}",
                args.push(n)
            ))
        }
        Query::Prefix(p) => {
            let hi = format!("{p}\u{10FFFF}");
            Some(format!(
                "SELECT DISTINCT s.entity_id FROM search_terms s WHERE s.term >= {} AND s.term < {} AND s.entity = {ent}",
                args.push(p),
                args.push(hi)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_character_names_are_terms() {
        let t = name_terms("王芳");
        for want in ["王", "芳", "王芳", "wangfang", "wf"] {
            assert!(t.contains(want), "{want} in {t:?}");
        }
        assert_eq!(parse_query("王芳"), Query::All(vec!["王芳".into()]));
        assert_eq!(parse_query("芳"), Query::All(vec!["芳".into()]));
        assert_eq!(parse_query(" WangFang "), Query::Prefix("wangfang".into()));
        assert_eq!(parse_query("w"), Query::Nothing);
    }

    #[test]
    fn surnames_take_their_surname_reading_and_given_names_every_reading() {
        let t = name_terms_kinds("曾小红");
        assert_eq!(t.get("zengxiaohong"), Some(&KIND_PINYIN));
        assert_eq!(t.get("zxh"), Some(&KIND_INITIALS));
        assert!(!t.contains_key("cengxiaohong"), "{t:?}");
        for (name, full, initials) in [
            ("单田芳", "shantianfang", "stf"),
            ("解玉兰", "xieyulan", "xyl"),
            ("仇德明", "qiudeming", "qdm"),
            ("朴志英", "piaozhiying", "pzy"),
            ("区永华", "ouyonghua", "oyh"),
            ("查建国", "zhajianguo", "zjg"),
            ("盖文", "gewen", "gw"),
            ("尉迟敬德", "yuchijingde", "ycjd"),
            ("万俟雅言", "moqiyayan", "mqyy"),
            ("吕强", "lvqiang", "lq"),
        ] {
            let t = name_terms_kinds(name);
            assert_eq!(t.get(full), Some(&KIND_PINYIN), "{name}: {t:?}");
            assert_eq!(t.get(initials), Some(&KIND_INITIALS), "{name}: {t:?}");
        }
        // Every reading of a polyphonic given name, the common one first.
        let r = name_readings("张乐");
        assert_eq!(r[0].0, "zhangle");
        assert!(r.iter().any(|(f, i)| f == "zhangyue" && i == "zy"), "{r:?}");
        // A name of polyphonic characters only keeps its likeliest readings.
        assert!(name_readings("解乐长重还").len() <= MAX_READINGS);
        // A lone surname character is read as a word.
        assert!(name_terms("曾").contains("ceng"));
    }

    #[test]
    fn a_search_walks_from_a_word_not_a_lone_character() {
        let Query::All(terms) = parse_query("三 号楼") else { panic!("a Chinese query") };
        assert_eq!(terms[0], "三", "code-point order puts the lone character first");
        assert_eq!(walk_order(terms)[0], "号楼");
        assert_eq!(walk_order(vec!["一".into(), "上".into()])[0], "一", "no word: the first");
        let mut args = Args::new();
        assert!(matches!(text_query("request", "电梯坏了", &mut args), TextQuery::Walk(_)));
        let long: String = (0..64u32).filter_map(|i| char::from_u32(0x4E00 + i * 37)).collect();
        assert!(matches!(text_query("request", &long, &mut args), TextQuery::Ids(_)), "a long phrase is grouped");
    }

    #[test]
    fn longer_text_needs_every_bigram() {
        assert_eq!(parse_query("肾衰竭"), Query::All(vec!["肾衰".into(), "衰竭".into()]));
        let t = text_terms("尿毒症, 需要工作 job");
        assert!(t.contains("尿毒") && t.contains("毒症") && t.contains("job"));
        assert!(!t.contains("症,"));
    }
}

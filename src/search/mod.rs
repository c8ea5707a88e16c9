//! Chinese search that behaves the same on SQLite and PostgreSQL: a Rust tokenizer turns text
//! into terms (CJK unigrams and bigrams, lower-cased latin words, and for names their pinyin and
//! initials), one row per term in `search_terms`, and a query is an exact-term match (Chinese)
//! or a term-prefix range (pinyin), filtered by the caller's scope inside the SQL.

use std::collections::BTreeSet;

use pinyin::ToPinyin;
use uuid::Uuid;

use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Db, Tx};
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

/// Terms of a person's name: the text terms plus full pinyin (`wangfang`) and initials (`wf`).
/// Heteronyms take their most common reading.
pub fn name_terms(name: &str) -> BTreeSet<String> {
    let mut terms = text_terms(name);
    let (mut full, mut initials) = (String::new(), String::new());
    for p in name.to_pinyin().flatten() {
        full.push_str(p.plain());
        initials.push_str(p.first_letter());
    }
    if !full.is_empty() {
        terms.insert(full);
        terms.insert(initials);
    }
    terms
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

pub fn parse_query(q: &str) -> Query {
    let q = q.trim();
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

/// Replaces the index rows of one record.
pub async fn index(
    tx: &mut Tx,
    entity: &str,
    entity_id: Uuid,
    person_id: Uuid,
    path: &str,
    terms: &BTreeSet<String>,
) -> Result<(), sqlx::Error> {
    remove(tx, entity_id).await?;
    for term in terms {
        write!(tx, |c| sqlx::query(
            "INSERT INTO search_terms (term, entity, entity_id, person_id, path) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(term)
        .bind(entity)
        .bind(entity_id)
        .bind(person_id)
        .bind(path)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
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
    fn longer_text_needs_every_bigram() {
        assert_eq!(parse_query("肾衰竭"), Query::All(vec!["肾衰".into(), "衰竭".into()]));
        let t = text_terms("尿毒症, 需要工作 job");
        assert!(t.contains("尿毒") && t.contains("毒症") && t.contains("job"));
        assert!(!t.contains("症,"));
    }
}

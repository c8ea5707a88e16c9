//! The sweep of unreferenced objects. A file's bytes are stored before the row that names them
//! is committed, so a crash between the two (or a discard that failed) leaves an object no
//! `files` row names, never a row without bytes. This finds such objects and deletes them.
//!
//! Only objects older than a grace period are considered: a younger one may belong to an upload
//! whose transaction has not committed yet. Only keys of the shape this module's [`super::stage`]
//! makes (`xx/yy/<uuid>.<ext>`, thumbnails `….thumb.jpg`) are ever deleted; anything else in the
//! store (another tool's objects under the same prefix) is counted and left alone. Idempotent:
//! several instances sweeping at once delete each object at most once between them.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use uuid::Uuid;

use super::Files;
use crate::db::Db;
use crate::db::query::{self, Args};

/// Keys looked up per query.
const BATCH: usize = 500;

#[derive(Debug, Default)]
pub struct Report {
    pub examined: usize,
    /// Younger than the grace period: not looked at.
    pub young: usize,
    /// Not a key Linli makes: left alone.
    pub foreign: usize,
    pub referenced: usize,
    /// Unreferenced (deleted unless it was a dry run).
    pub orphans: Vec<String>,
}

/// Sweeps objects last modified before `older_than`; with `delete` false it only reports.
pub async fn sweep(db: &Db, files: &Files, older_than: DateTime<Utc>, delete: bool) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut batch: Vec<(Uuid, String)> = Vec::new();
    let mut listing = files.store.list(None);
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        report.examined += 1;
        if meta.last_modified >= older_than {
            report.young += 1;
            continue;
        }
        let key = meta.location.to_string();
        match file_id(&key) {
            Some(id) => batch.push((id, key)),
            None => report.foreign += 1,
        }
        if batch.len() == BATCH {
            settle(db, files, &mut batch, &mut report, delete).await?;
        }
    }
    settle(db, files, &mut batch, &mut report, delete).await?;
    Ok(report)
}

async fn settle(
    db: &Db,
    files: &Files,
    batch: &mut Vec<(Uuid, String)>,
    report: &mut Report,
    delete: bool,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut args = Args::new();
    let ids: Vec<String> = batch.iter().map(|(id, _)| args.push(*id)).collect();
    let sql = format!("SELECT id FROM files WHERE id IN ({})", ids.join(", "));
    let known: HashSet<Uuid> = query::all::<(Uuid,)>(db, &sql, &args).await?.into_iter().map(|r| r.0).collect();
    for (id, key) in batch.drain(..) {
        if known.contains(&id) {
            report.referenced += 1;
            continue;
        }
        if delete {
            match files.store.delete(&object_store::path::Path::from(key.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        report.orphans.push(key);
    }
    Ok(())
}

/// The file id a key made by `stage` carries, or None for a key of another shape.
fn file_id(key: &str) -> Option<Uuid> {
    let mut parts = key.split('/');
    let (a, b, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (stem, ext) = name.split_once('.')?;
    let id = Uuid::try_parse(stem).ok()?;
    let simple = id.simple().to_string();
    let shaped = stem == simple
        && a == &simple[30..32]
        && b == &simple[28..30]
        && !ext.is_empty()
        && ext.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    shaped.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::file_id;

    #[test]
    fn only_keys_stage_makes_carry_an_id() {
        let id = uuid::Uuid::parse_str("0192f5a0-1234-7abc-8def-0123456789ab").unwrap();
        let s = id.simple().to_string();
        let key = format!("{}/{}/{s}.jpg", &s[30..32], &s[28..30]);
        assert_eq!(file_id(&key), Some(id));
        assert_eq!(file_id(&format!("{}/{}/{s}.thumb.jpg", &s[30..32], &s[28..30])), Some(id));
        for other in [
            format!("{s}.jpg"),
            format!("{}/{}/{s}.jpg", &s[28..30], &s[30..32]),
            format!("{}/{}/{id}.jpg", &s[30..32], &s[28..30]),
            format!("backups/{}/{}/{s}.jpg", &s[30..32], &s[28..30]),
            format!("{}/{}/{s}", &s[30..32], &s[28..30]),
            format!("{}/{}/notes.txt", &s[30..32], &s[28..30]),
        ] {
            assert_eq!(file_id(&other), None, "{other}");
        }
    }
}

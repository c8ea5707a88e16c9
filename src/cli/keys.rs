//! `linli keygen` and `linli keys rotate`: re-seal every secret at rest with the newest key of
//! the ring and recompute the blind indexes, then append an audit row under the new key (it
//! covers the links the old key made), so the old key can then be dropped from
//! LINLI_SECRET_KEY. Runs in batches of its own transactions and can be interrupted and run
//! again. [`sealed_keys`] tells `linli check` what is still under which key.

use std::process::ExitCode;

use anyhow::{Context, bail};
use uuid::Uuid;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::db::{Backend, Db};
use crate::{read, write};

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt everything sealed at rest (ID and phone numbers of residents and requests,
    /// second-factor secrets, import previews) with the first key of LINLI_SECRET_KEY, and
    /// recompute the blind indexes (give the new key first and the old one after it).
    Rotate,
}

/// A table with values sealed by the keyring: each sealed column, with the blind index kept
/// beside it (its column and the kind of value hashed there).
pub struct SealedTable {
    pub table: &'static str,
    /// What a row is, for `keys rotate`'s report.
    pub rows: &'static str,
    pub columns: &'static [(&'static str, Option<(&'static str, &'static str)>)],
}

/// Every value the keyring seals or indexes. A new sealed column goes here, or `keys rotate`
/// leaves it under the old key and the old key can never go (the test in this module reads
/// the migrations for `*_sealed` columns).
pub const SEALED: &[SealedTable] = &[
    SealedTable {
        table: "persons",
        rows: "people",
        columns: &[("id_sealed", Some(("id_hash", "id"))), ("phone_sealed", Some(("phone_hash", "phone")))],
    },
    SealedTable { table: "requests", rows: "requests", columns: &[("phone_sealed", Some(("phone_hash", "phone")))] },
    SealedTable { table: "users", rows: "second-factor secrets", columns: &[("totp_secret", None)] },
    // Empty once the import has ended (the preview is dropped), sealed while it waits.
    SealedTable { table: "import_batches", rows: "import previews", columns: &[("rows", None)] },
];

/// Rows re-sealed per table of [`SEALED`], and values that could not be opened.
#[derive(Debug, Default)]
pub struct Rotated {
    pub changed: Vec<(&'static str, usize)>,
    /// Values under a key the ring does not hold (or that fail to open): left as they are.
    pub unopened: usize,
}

impl Rotated {
    pub fn of(&self, table: &str) -> usize {
        self.changed.iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| *n)
    }
}

pub async fn run(cfg: Config, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate = cmd;
    let keys = cfg.keyring()?;
    let db = super::serve::open(&cfg).await?;
    let r = rotate(&db, &keys).await?;
    let parts: Vec<String> = SEALED.iter().map(|t| format!("{} {}", r.of(t.table), t.rows)).collect();
    let (last, first) = parts.split_last().expect("sealed tables");
    println!("re-sealed {} and {last} with key {}", first.join(", "), keys.current_id());
    if r.unopened > 0 {
        println!(
            "{} values could not be opened (sealed with a key the ring does not hold) and are left as they were; `linli check` names their keys",
            r.unopened
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a new key named with the next free id of the ring it joins (`--id` chooses one).
pub fn keygen(cfg: &Config, id: Option<String>) -> anyhow::Result<ExitCode> {
    let has_ring = cfg.secret_key.is_some() || (cfg.embedded() && cfg.data_dir.join("secret.key").exists());
    let ring = if has_ring { Some(cfg.keyring().context("reading the keyring the new key is to join")?) } else { None };
    let id = match (id, &ring) {
        (Some(id), _) => id,
        (None, Some(ring)) => ring.next_id(),
        (None, None) => "k1".to_string(),
    };
    if ring.as_ref().is_some_and(|r| r.holds(&id)) {
        bail!("the keyring holds a key {id} already; choose another id with --id");
    }
    let spec = Keyring::generate_spec_with_id(&id);
    Keyring::parse(&spec)?;
    println!("{spec}");
    Ok(ExitCode::SUCCESS)
}

type SealedRow = (Uuid, Option<String>, Option<String>);

/// Re-seals values not yet under the current key, then records the rotation in the audit log
/// (under `db`'s keyring, which must be `keys`).
///
/// Servers keep writing meanwhile: each row is replaced only if its sealed values are still
/// the ones read, so a number changed in between is not put back; a row skipped so, or one
/// sealed by a server still running with the old ring, is left for the next run (`linli
/// check` shows whether one is needed).
pub async fn rotate(db: &Db, keys: &Keyring) -> anyhow::Result<Rotated> {
    let prefix = format!("{}:", keys.current_id());
    let mut report = Rotated::default();
    for t in SEALED {
        let stale =
            |col: &str| format!("({col} IS NOT NULL AND {col} <> '' AND substr({col}, 1, {}) <> $1)", prefix.len());
        let mut conditions = Vec::new();
        for (sealed, index) in t.columns {
            conditions.push(stale(sealed));
            if let Some((hash, _)) = index {
                conditions.push(stale(hash));
            }
        }
        let second = t.columns.get(1).map_or("CAST(NULL AS TEXT)", |c| c.0);
        let select = format!(
            "SELECT id, {}, {second} FROM {} WHERE ({}) AND id > $2 ORDER BY id LIMIT 500",
            t.columns[0].0,
            t.table,
            conditions.join(" OR ")
        );
        // SET each sealed column (and its index) WHERE every sealed column is still as read.
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut sets = Vec::new();
        let mut unchanged = Vec::new();
        for (sealed, index) in t.columns {
            sets.push(format!("{sealed} = {}", next()));
            if let Some((hash, _)) = index {
                sets.push(format!("{hash} = {}", next()));
            }
            unchanged.push(format!("{sealed} IS NOT DISTINCT FROM {}", next()));
        }
        let update =
            format!("UPDATE {} SET {} WHERE {} AND id = {}", t.table, sets.join(", "), unchanged.join(" AND "), next());
        let mut after = Uuid::nil();
        let mut changed = 0;
        loop {
            let rows: Vec<SealedRow> =
                read!(db, |c| sqlx::query_as(&select).bind(&prefix).bind(after).fetch_all(c).await)?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            let mut tx = db.begin().await?;
            'row: for (id, a, b) in &rows {
                let mut binds: Vec<Option<String>> = Vec::new();
                for ((_, index), old) in t.columns.iter().zip([a, b]) {
                    let (sealed, hash) = match old.as_deref().filter(|s| !s.is_empty()) {
                        None => (old.clone(), None),
                        Some(sealed) => match keys.open(sealed) {
                            Ok(plain) => {
                                let hash = index.map(|(_, kind)| keys.blind(kind, &String::from_utf8_lossy(&plain)));
                                (Some(keys.seal(&plain)), hash)
                            }
                            Err(_) => {
                                report.unopened += 1;
                                continue 'row;
                            }
                        },
                    };
                    binds.push(sealed);
                    if index.is_some() {
                        binds.push(hash);
                    }
                    binds.push(old.clone());
                }
                let done = write!(&mut tx, |c| {
                    let mut q = sqlx::query(&update);
                    for v in &binds {
                        q = q.bind(v.clone());
                    }
                    q.bind(*id).execute(c).await.map(|r| r.rows_affected())
                })?;
                changed += done as usize;
            }
            tx.commit().await?;
        }
        report.changed.push((t.table, changed));
    }
    // Keyed with the new key, this row covers every link before it: once it is written the
    // old key may leave the ring and `linli check` still verifies the whole chain.
    let mut detail = serde_json::Map::new();
    for (table, n) in &report.changed {
        detail.insert((*table).to_string(), (*n).into());
    }
    let entry = crate::audit::Entry {
        action: "keys.rotate",
        entity: "keyring",
        entity_id: Some(keys.current_id().to_string()),
        detail: serde_json::Value::Object(detail),
    };
    crate::audit::record_alone(db, &crate::audit::Actor::system("linli keys rotate"), entry).await?;
    Ok(report)
}

/// How many values of each sealed column and blind index ([`SEALED`]) are under each key id:
/// (`table.column`, key id, count).
pub async fn sealed_keys(db: &Db) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let mut out = Vec::new();
    for t in SEALED {
        for (sealed, index) in t.columns {
            for col in std::iter::once(*sealed).chain(index.map(|(hash, _)| hash)) {
                let key = match db.backend() {
                    Backend::Sqlite => format!("substr({col}, 1, instr({col}, ':') - 1)"),
                    Backend::Postgres => format!("split_part({col}, ':', 1)"),
                };
                let sql = format!(
                    "SELECT {key}, COUNT(*) FROM {} WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY 1 ORDER BY 1",
                    t.table
                );
                let rows: Vec<(String, i64)> = read!(db, |c| sqlx::query_as(&sql).fetch_all(c).await)?;
                out.extend(rows.into_iter().map(|(id, n)| (format!("{}.{col}", t.table), id, n)));
            }
        }
    }
    Ok(out)
}

/// `check`'s lines on [`sealed_keys`], and whether they pass. Values under an older key of the
/// ring still open, and tell the operator the old key must stay; values under a key the ring
/// does not hold cannot be opened at all.
pub fn describe_sealed(keys: &Keyring, counts: &[(String, String, i64)]) -> (Vec<String>, bool) {
    let newest = keys.current_id();
    let mut ids: Vec<&str> = Vec::new();
    for (_, id, _) in counts {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    // The newest first, then the ring's older keys in order, then keys it lacks.
    ids.sort_by_key(|id| keys.ids().position(|k| k == *id).unwrap_or(usize::MAX));
    let total = |id: &str| counts.iter().filter(|(_, k, _)| k == id).map(|(_, _, n)| n).sum::<i64>();
    let columns = |id: &str| {
        let list: Vec<String> =
            counts.iter().filter(|(_, k, _)| k == id).map(|(col, _, n)| format!("{col}: {n}")).collect();
        format!("  {}", list.join(", "))
    };
    match ids[..] {
        [] => return (vec!["sealed values: none".into()], true),
        [only] if only == newest => {
            return (
                vec![format!(
                    "sealed values: {}, all under {newest}, the newest key: older keys may leave the ring (keep them while backups made with them are kept)",
                    total(only)
                )],
                true,
            );
        }
        _ => {}
    }
    let mut lines = Vec::new();
    let mut ok = true;
    for id in ids {
        if id == newest {
            lines.push(format!("sealed values: {} under {newest}, the newest key", total(id)));
        } else if keys.holds(id) {
            lines.push(format!(
                "sealed values: {} under {id}, not the newest key ({newest}): `linli keys rotate` re-seals them; keep {id} in the ring until none is left",
                total(id)
            ));
            lines.push(columns(id));
        } else {
            ok = false;
            lines.push(format!(
                "sealed values: {} under {id}, which the keyring does not hold: they cannot be opened; put {id} back in LINLI_SECRET_KEY (or secret.key), after the newest key",
                total(id)
            ));
            lines.push(columns(id));
        }
    }
    (lines, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `*_sealed` column of the schema is one `keys rotate` re-seals and `check` counts.
    #[test]
    fn every_sealed_column_of_the_schema_is_rotated() {
        let re = regex::Regex::new(r"(?i)\b(\w+_sealed)\s+TEXT").unwrap();
        let known: Vec<&str> = SEALED.iter().flat_map(|t| t.columns.iter().map(|c| c.0)).collect();
        for dir in ["migrations/sqlite", "migrations/postgres"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for f in std::fs::read_dir(path).unwrap() {
                let sql = std::fs::read_to_string(f.unwrap().path()).unwrap();
                for c in re.captures_iter(&sql) {
                    assert!(known.contains(&&c[1]), "{} in {dir} is not in keys::SEALED", &c[1]);
                }
            }
        }
    }

    #[test]
    fn check_names_keys_that_must_stay_and_keys_that_are_missing() {
        let k1 = Keyring::generate_spec();
        let k2 = Keyring::generate_spec_with_id("k2");
        let ring = Keyring::parse(&format!("{k2},{k1}")).unwrap();
        let row = |col: &str, id: &str, n| (col.to_string(), id.to_string(), n);
        let (lines, ok) = describe_sealed(&ring, &[row("persons.id_sealed", "k2", 3)]);
        assert!(ok && lines[0].contains("3, all under k2, the newest key"), "{lines:?}");
        let (lines, ok) =
            describe_sealed(&ring, &[row("persons.id_sealed", "k1", 1), row("requests.phone_sealed", "k2", 2)]);
        assert!(ok, "{lines:?}");
        assert!(lines[0].starts_with("sealed values: 2 under k2") && lines[1].contains("under k1, not the newest key"));
        assert_eq!(lines[2], "  persons.id_sealed: 1");
        let (lines, ok) = describe_sealed(&ring, &[row("users.totp_secret", "k0", 4)]);
        assert!(!ok && lines[0].contains("4 under k0, which the keyring does not hold"), "{lines:?}");
        assert_eq!(describe_sealed(&ring, &[]), (vec!["sealed values: none".to_string()], true));
    }
}

//! `migrate`, `check`, `audit-anchor`, `sweep-files`.

use std::process::ExitCode;

use anyhow::Context;

use crate::audit::store::{self, Anchor};
use crate::config::Config;
use crate::db::Db;

/// Where `linli audit-anchor --store` keeps anchors in the object store, one object each,
/// named by sequence so that the last key is the newest.
pub(super) const ANCHORS: &str = "audit-anchors";

pub async fn migrate(cfg: Config) -> anyhow::Result<ExitCode> {
    cfg.keyring_for_setup()?;
    super::serve::open(&cfg).await?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn check(cfg: Config, given: Vec<String>) -> anyhow::Result<ExitCode> {
    let mut anchors = Vec::new();
    for a in &given {
        match a.strip_prefix('@') {
            Some(file) => {
                let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    anchors.push(line.parse::<Anchor>()?);
                }
            }
            None => anchors.push(a.parse::<Anchor>()?),
        }
    }
    let db = Db::connect_existing(&cfg).await?;
    if !db.has_schema().await? {
        anyhow::bail!("no Linli schema here; run `linli migrate` (or `linli restore` a backup)");
    }
    let mut ok = true;
    if let Db::Sqlite { read, .. } = &db {
        let mut read = read.acquire().await?;
        let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&mut *read).await?;
        println!("integrity: {integrity}");
        ok &= integrity == "ok";
        let fk: Vec<(String, i64, String, i64)> =
            sqlx::query_as("PRAGMA foreign_key_check").fetch_all(&mut *read).await?;
        println!("foreign keys: {} violations", fk.len());
        ok &= fk.is_empty();
    }
    match newest_stored_anchor(&cfg).await {
        Ok(Some(a)) => {
            println!("stored anchor: row {}", a.seq);
            anchors.push(a);
        }
        Ok(None) => println!("stored anchor: none in the object store"),
        Err(e) => {
            println!("stored anchor: cannot read the object store: {e:#}");
            ok = false;
        }
    }
    let report = store::verify_against(&db, &anchors).await?;
    let unchecked = match report.unchecked {
        0 => String::new(),
        n => format!("; {n} links by keys no longer in the ring, covered by later ones"),
    };
    match report.first_break {
        None => println!("audit chain: {} rows, intact ({} anchors held){unchecked}", report.rows, anchors.len()),
        Some((seq, why)) => {
            println!("audit chain: BROKEN at row {seq}: {why} ({} rows verified before it)", report.rows);
            if matches!(why, store::PAST_ANCHOR | store::NOT_ANCHORED) {
                println!(
                    "  (if you restored an older backup: anchors kept since name rows it does not hold; set them aside as docs/operations.md says under \"After a restore\")"
                );
            }
            // Which key, and whether it is a wrong key rather than forged links.
            if let Some(words) =
                report.explain().filter(|_| matches!(why, store::OTHER_KEY | store::UNCOVERED | store::ALTERED_MAC))
            {
                println!("  the chain {words}");
            }
            ok = false;
        }
    }
    let (lines, sealed_ok) = super::keys::describe_sealed(db.keys(), &super::keys::sealed_keys(&db).await?);
    for line in lines {
        println!("{line}");
    }
    ok &= sealed_ok;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Prints the chain's head as an anchor (and keeps it in the object store with `store`).
pub async fn audit_anchor(cfg: Config, store: bool) -> anyhow::Result<ExitCode> {
    let db = Db::connect_existing(&cfg).await?;
    let Some(anchor) = crate::audit::store::anchor(&db).await? else {
        anyhow::bail!("the audit log is empty: nothing to anchor yet");
    };
    if store {
        let files = crate::files::Files::open(&cfg)?;
        files.keep(&format!("{ANCHORS}/{:020}", anchor.seq), &anchor.to_string()).await?;
    }
    println!("{anchor}");
    Ok(ExitCode::SUCCESS)
}

async fn newest_stored_anchor(cfg: &Config) -> anyhow::Result<Option<Anchor>> {
    let files = crate::files::Files::open(cfg)?;
    files.last_under(ANCHORS).await?.map(|text| text.trim().parse()).transpose()
}

pub async fn sweep_files(cfg: Config, grace_hours: u32, dry_run: bool) -> anyhow::Result<ExitCode> {
    let db = Db::connect_existing(&cfg).await?;
    let files = crate::files::Files::open(&cfg)?;
    let older_than = chrono::Utc::now() - chrono::Duration::hours(i64::from(grace_hours));
    let r = crate::files::sweep::sweep(&db, &files, older_than, !dry_run).await?;
    for key in &r.orphans {
        println!("{} {key}", if dry_run { "unreferenced" } else { "deleted" });
    }
    println!(
        "{} objects: {} referenced, {} {}, {} younger than {grace_hours} h, {} not made by linli (left alone)",
        r.examined,
        r.referenced,
        r.orphans.len(),
        if dry_run { "unreferenced (dry run: kept)" } else { "unreferenced deleted" },
        r.young,
        r.foreign
    );
    Ok(ExitCode::SUCCESS)
}

//! `migrate`, `check`, `sweep-files`, `backup`, `restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::db::Db;
use crate::read;

pub async fn migrate(cfg: Config) -> anyhow::Result<ExitCode> {
    super::serve::open(&cfg).await?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn check(cfg: Config) -> anyhow::Result<ExitCode> {
    let db = Db::connect(&cfg).await?;
    let mut ok = true;
    if let Db::Sqlite { read, .. } = &db {
        let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(read).await?;
        println!("integrity: {integrity}");
        ok &= integrity == "ok";
        let fk: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check").fetch_all(read).await?;
        println!("foreign keys: {} violations", fk.len());
        ok &= fk.is_empty();
    }
    let report = crate::audit::store::verify_chain(&db).await?;
    match report.first_break {
        None => println!("audit chain: {} rows, intact", report.rows),
        Some((seq, why)) => {
            println!("audit chain: BROKEN at row {seq}: {why} ({} rows verified before it)", report.rows);
            ok = false;
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn sweep_files(cfg: Config, grace_hours: u32, dry_run: bool) -> anyhow::Result<ExitCode> {
    let db = Db::connect(&cfg).await?;
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

pub async fn backup(cfg: Config, out: PathBuf) -> anyhow::Result<ExitCode> {
    // Made here, empty and owner-only, before SQLite or pg_dump writes the copy into it.
    crate::fsperm::create_private_file(&out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow::anyhow!("{} exists; choose a new file", out.display()),
        _ => anyhow::Error::from(e).context(format!("creating {}", out.display())),
    })?;
    let written = copy_into(&cfg, &out).await;
    if written.is_err() {
        let _ = std::fs::remove_file(&out);
    }
    written?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("backup written to {} ({size} bytes)", out.display());
    Ok(ExitCode::SUCCESS)
}

async fn copy_into(cfg: &Config, out: &std::path::Path) -> anyhow::Result<()> {
    let db = Db::connect(cfg).await?;
    match &db {
        // VACUUM INTO reads one consistent snapshot; in WAL mode writers carry on meanwhile.
        // It fills an empty file, as the one made for it is.
        Db::Sqlite { write, .. } => {
            let target = out.to_str().context("backup path must be UTF-8")?;
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(&mut **write.lock().await?)
                .await
                .map(|r| r.rows_affected())
                .context("VACUUM INTO")?;
        }
        Db::Postgres(_) => {
            // pg_dump runs in one repeatable-read snapshot: consistent while writes go on.
            let status = std::process::Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(out)
                .arg(&cfg.database_url)
                .status()
                .context("running pg_dump (install postgresql-client)")?;
            if !status.success() {
                bail!("pg_dump failed: {status}");
            }
        }
    }
    Ok(())
}

pub async fn restore(cfg: Config, from: PathBuf, force: bool) -> anyhow::Result<ExitCode> {
    if !from.exists() {
        bail!("{} does not exist", from.display());
    }
    if let Some(path) = cfg.database_url.strip_prefix("sqlite://") {
        let target = PathBuf::from(path);
        // Check the copy before it replaces anything.
        let probe = Config { database_url: format!("sqlite://{}", from.display()), ..cfg.clone() };
        let src = Db::connect(&probe).await?;
        let (integrity,): (String,) = read!(&src, |c| sqlx::query_as("PRAGMA integrity_check").fetch_one(c).await)?;
        let chain = crate::audit::store::verify_chain(&src).await?;
        src.close().await;
        if integrity != "ok" || chain.first_break.is_some() {
            bail!(
                "the backup fails its checks (integrity: {integrity}, audit chain: {:?}); not restored",
                chain.first_break
            );
        }
        if target.exists() && !force {
            bail!("{} exists; pass --force to replace it (stop the app first)", target.display());
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        }
        if let Some(parent) = target.parent()
            && !parent.as_os_str().is_empty()
        {
            crate::fsperm::private_dir(parent)?;
        }
        // A copy takes the backup's permissions, whatever they are.
        std::fs::copy(&from, &target).with_context(|| format!("copying to {}", target.display()))?;
        #[cfg(unix)]
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    } else {
        if !force {
            bail!("restoring into PostgreSQL replaces its tables; pass --force (stop the app first)");
        }
        let status = std::process::Command::new("pg_restore")
            .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname"])
            .arg(&cfg.database_url)
            .arg(&from)
            .status()
            .context("running pg_restore")?;
        if !status.success() {
            bail!("pg_restore failed: {status}");
        }
    }
    println!("restored from {}", from.display());
    Ok(ExitCode::SUCCESS)
}

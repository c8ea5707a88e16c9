//! `backup` and `restore`.
//!
//! A backup is one file — SQLite: a copy made with `VACUUM INTO`; PostgreSQL: a `pg_dump`
//! custom-format archive — and beside it `FILE.mac`, one line: a MAC of the whole file under
//! the keyring's newest key (`linli-backup v1 sqlite k1:hex`). Nothing inside a backup says
//! whether it was changed since: SQLite pages carry no checksums and a dump's schema is plain
//! text. `restore` copies the backup somewhere private while it checks the MAC and restores
//! only that copy, so an altered backup is refused before anything is replaced, and cannot be
//! swapped between the check and the restore.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sqlx::{ConnectOptions, Connection};

use crate::config::Config;
use crate::crypto::{Keyring, NoKey};
use crate::db::Db;
use crate::read;

/// What a backup's MAC is made for: it never checks as an audit link, nor the other way.
const PURPOSE: &str = "linli backup v1";

/// `FILE.mac` beside `FILE`.
pub fn mac_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".mac");
    PathBuf::from(name)
}

fn backend_of(cfg: &Config) -> &'static str {
    if cfg.embedded() { "sqlite" } else { "postgres" }
}

pub async fn backup(cfg: Config, out: PathBuf) -> anyhow::Result<ExitCode> {
    let mac_file = mac_path(&out);
    if mac_file.exists() {
        bail!("{} exists; choose a new file", mac_file.display());
    }
    let db = Db::connect_existing(&cfg).await?;
    // Made here, empty and owner-only, before SQLite or pg_dump writes the copy into it.
    crate::fsperm::create_private_file(&out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow::anyhow!("{} exists; choose a new file", out.display()),
        _ => anyhow::Error::from(e).context(format!("creating {}", out.display())),
    })?;
    let written = write_backup(&cfg, &db, &out, &mac_file).await;
    if written.is_err() {
        let _ = std::fs::remove_file(&out);
    }
    written?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("backup written to {} ({size} bytes), its MAC to {}", out.display(), mac_file.display());
    Ok(ExitCode::SUCCESS)
}

/// The copy into `out` (made empty and private) and its MAC beside it.
async fn write_backup(cfg: &Config, db: &Db, out: &Path, mac_file: &Path) -> anyhow::Result<()> {
    match db {
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
            // The copy comes out in rollback-journal mode, and the first open by Linli (a
            // `linli check` of the backup) would switch it to WAL, rewriting its header and
            // with it the MAC's bytes: switched here, before the MAC is taken.
            let mut copy = sqlx::sqlite::SqliteConnectOptions::new().filename(out).connect().await?;
            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut copy).await?;
            copy.close().await?;
        }
        Db::Postgres(..) => {
            // pg_dump runs in one repeatable-read snapshot: consistent while writes go on.
            let status = pg_command("pg_dump", &cfg.database_url)?
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(out)
                .status()
                .context("running pg_dump (install postgresql-client)")?;
            if !status.success() {
                bail!("pg_dump failed: {status}");
            }
        }
    }
    let backend = backend_of(cfg);
    let keys = db.keys();
    let mut mac = Mac::new(keys, backend);
    std::io::copy(&mut std::fs::File::open(out)?, &mut mac)?;
    // The key's check value after the MAC: restore tells "another key" from "altered" by it.
    let check = keys.check_value(keys.current_id()).expect("the newest key is in the ring");
    let line = format!("linli-backup v1 {backend} {} {check}\n", mac.0.finish());
    let mut f = crate::fsperm::create_private_file(mac_file)?;
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

pub async fn restore(cfg: Config, from: PathBuf, force: bool, no_verify: bool) -> anyhow::Result<ExitCode> {
    if !from.exists() {
        bail!("{} does not exist", from.display());
    }
    let keys = match cfg.keyring() {
        Err(e) if e.is::<NoKey>() => bail!(
            "no secret key: put the key the backup was made with in secret.key or LINLI_SECRET_KEY (no {} here); nothing was restored",
            cfg.data_dir.join("secret.key").display()
        ),
        keys => keys?,
    };
    let backend = backend_of(&cfg);
    let expected = if no_verify {
        eprintln!(
            "WARNING: --no-verify: {} is restored without checking it against its MAC; a backup altered since it was written is restored as it is",
            from.display()
        );
        None
    } else {
        Some(read_mac_file(&keys, &from, backend)?)
    };
    if let Some(target) = cfg.sqlite_path() {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::fsperm::private_dir(parent)?;
        }
        // Held to the end: no server starts on the database while it is replaced.
        let _lock = super::lock::replacing(&target)?;
        if target.exists() && !force {
            bail!("{} exists; pass --force to replace it (stop the app first)", target.display());
        }
        // Beside the target, so that putting it in place is a rename.
        let staged = Staged(target.with_extension("restoring"));
        copy_checked(&from, &staged.0, expected)?;
        // The copy that will be restored is checked before it replaces anything.
        let probe = Config { database_url: format!("sqlite://{}", staged.0.display()), ..cfg.clone() };
        let src = Db::connect(&probe).await?;
        let (integrity,): (String,) = read!(&src, |c| sqlx::query_as("PRAGMA integrity_check").fetch_one(c).await)?;
        let chain = crate::audit::store::verify_chain(&src).await?;
        src.close().await;
        drop(src);
        if integrity != "ok" {
            bail!(
                "the backup's database file is damaged (SQLite's integrity check: {integrity}); nothing was restored"
            );
        }
        if let Some(words) = chain.explain() {
            bail!("the backup's audit chain {words}; nothing was restored");
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        }
        std::fs::rename(&staged.0, &target).with_context(|| format!("moving the backup to {}", target.display()))?;
        // The copy took the backup's permissions, whatever they were.
        #[cfg(unix)]
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        println!("restored from {}", from.display());
        after_restore(&cfg, &from).await?;
    } else {
        if !force {
            bail!("restoring into PostgreSQL replaces its tables; pass --force (stop every instance first)");
        }
        let staged = Staged(std::env::temp_dir().join(format!("linli-restore-{}.dump", uuid::Uuid::now_v7())));
        copy_checked(&from, &staged.0, expected)?;
        let status = pg_command("pg_restore", &cfg.database_url)?
            .args(["--clean", "--if-exists", "--no-owner", "--single-transaction"])
            .arg(&staged.0)
            .status()
            .context("running pg_restore")?;
        if !status.success() {
            bail!("pg_restore failed: {status}");
        }
        println!("restored from {}", from.display());
        after_restore(&cfg, &from).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// After the database is replaced: the restored chain ends where the backup's did, and any
/// anchor kept since names rows it does not hold, so `check` would fail on them for good. The
/// restore is recorded in the chain, those anchors move aside (kept, for whoever wants to know
/// what the restore took away) and, where anchors are stored at all, one of the new head is.
async fn after_restore(cfg: &Config, from: &Path) -> anyhow::Result<()> {
    use crate::audit::store::{self, Anchor};
    let db = Db::connect_existing(cfg).await?;
    let (restored,): (i64,) =
        read!(&db, |c| sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1").fetch_one(c).await)?;
    println!("the restored audit chain ends at row {restored}");
    let files = crate::files::Files::open(cfg)?;
    let stored = files.all_under(super::maintenance::ANCHORS).await.context(
        "restored, but the object store's anchors could not be read: `linli check` fails on those the restored chain does not hold",
    )?;
    let mut stale = Vec::new();
    for (key, text) in &stored {
        // Not ours to judge (or move) if it is not an anchor.
        let Ok(anchor) = text.trim().parse::<Anchor>() else { continue };
        if anchor.seq > restored || !store::holds(&db, &anchor).await? {
            stale.push(key.clone());
        }
    }
    let name = from.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    crate::audit::record_alone(
        &db,
        &crate::audit::Actor::system("linli restore"),
        crate::audit::Entry {
            action: "backup.restore",
            entity: "database",
            entity_id: None,
            detail: serde_json::json!({ "from": name, "restored_rows": restored, "anchors_set_aside": stale.len() }),
        },
    )
    .await?;
    if !stale.is_empty() {
        let aside = format!("{SET_ASIDE}/{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
        for key in &stale {
            let leaf = key.rsplit('/').next().unwrap_or(key);
            files.rename(key, &format!("{aside}/{leaf}")).await.with_context(|| {
                format!(
                    "restored, but anchor {key} could not be set aside: move it out of {} by hand",
                    super::maintenance::ANCHORS
                )
            })?;
        }
        println!(
            "{} stored anchor{} of rows the restored chain does not hold set aside: moved to {aside}/ in the object store, kept there and no longer checked",
            stale.len(),
            if stale.len() == 1 { "" } else { "s" }
        );
    }
    if !stored.is_empty()
        && let Some(anchor) = store::anchor(&db).await?
    {
        files.keep(&format!("{}/{:020}", super::maintenance::ANCHORS, anchor.seq), &anchor.to_string()).await?;
        println!("a new anchor of the restored chain (the restore is row {}) is stored: {anchor}", anchor.seq);
    }
    db.close().await;
    Ok(())
}

/// Where restore moves the anchors the restored chain does not hold.
const SET_ASIDE: &str = "audit-anchors-set-aside";

/// The MAC `FILE.mac` holds, ready to check `FILE` against.
fn read_mac_file(keys: &Keyring, from: &Path, backend: &str) -> anyhow::Result<Expected> {
    let mac_file = mac_path(from);
    let line = std::fs::read_to_string(&mac_file).with_context(|| {
        format!(
            "reading {}: a backup is restored only with the MAC `linli backup` wrote beside it (--no-verify restores one without)",
            mac_file.display()
        )
    })?;
    // Backups before key check values have none.
    let (made_for, tag, check) = match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["linli-backup", "v1", made_for, tag] => (made_for.to_string(), tag.to_string(), None),
        ["linli-backup", "v1", made_for, tag, check] => {
            (made_for.to_string(), tag.to_string(), Some(check.to_string()))
        }
        _ => bail!("{} is not a backup MAC written by `linli backup`", mac_file.display()),
    };
    if made_for != backend {
        bail!("{} is a {made_for} backup; this database is {backend}", from.display());
    }
    let id = tag.split(':').next().unwrap_or("");
    let Some(mac) = keys.mac_for(PURPOSE, &tag) else {
        bail!(
            "{} was made with key {id}, which the keyring does not hold: put that key in secret.key or LINLI_SECRET_KEY, after the newest (keep a retired key for as long as its backups are kept); nothing was restored",
            from.display()
        );
    };
    let key_confirmed = check.is_some();
    if let Some(check) = check
        && keys.check_value(id).as_deref() != Some(check.as_str())
    {
        bail!(
            "{} was made with another key named {id} than the {id} given: put the key the backup was made with in secret.key or LINLI_SECRET_KEY; nothing was restored",
            from.display()
        );
    }
    let mut mac = Mac(mac);
    mac.begin(backend);
    Ok(Expected { mac, tag, key_confirmed })
}

/// What a backup must match: its MAC, and whether the key is known to be the one that made
/// it (the MAC file's check value matched), so that a mismatch can only be an alteration.
struct Expected {
    mac: Mac,
    tag: String,
    key_confirmed: bool,
}

/// Copies `from` to a new file `to`, checking it against `expected` on the way; on a mismatch
/// the copy is removed and nothing else happens.
fn copy_checked(from: &Path, to: &Path, expected: Option<Expected>) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(to);
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    let mut src = std::fs::File::open(from)?;
    let mut mac = expected;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(e) = &mut mac {
            e.mac.0.update(&buf[..n]);
        }
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    if let Some(e) = mac
        && !e.mac.0.verify(&e.tag)
    {
        let _ = std::fs::remove_file(to);
        let id = e.tag.split(':').next().unwrap_or("");
        let or_key = if e.key_confirmed {
            String::new()
        } else {
            format!(", or key {id} of this keyring is not the one that made it")
        };
        bail!(
            "{} does not match its MAC: it was changed after `linli backup` wrote it{or_key}; nothing was restored",
            from.display()
        );
    }
    Ok(())
}

/// A backup's MAC: the backend it was taken from, then every byte of the file.
struct Mac(crate::crypto::Mac);

impl Mac {
    fn new(keys: &Keyring, backend: &str) -> Mac {
        let mut mac = Mac(keys.mac(PURPOSE));
        mac.begin(backend);
        mac
    }

    fn begin(&mut self, backend: &str) {
        self.0.update(backend.as_bytes());
        self.0.update(b"\0");
    }
}

impl Write for Mac {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A private copy that is removed unless it was moved into place.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A PostgreSQL client tool pointed at the database, with the URL's password in the
/// environment (PGPASSWORD) rather than on the command line, where `ps` shows it to every user
/// of the machine.
fn pg_command(tool: &str, database_url: &str) -> anyhow::Result<std::process::Command> {
    let mut url = url::Url::parse(database_url).context("database_url is not a URL")?;
    let mut cmd = std::process::Command::new(tool);
    if let Some(password) = url.password() {
        let password = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
        cmd.env("PGPASSWORD", password);
        url.set_password(None).map_err(|()| anyhow::anyhow!("database_url cannot hold a password"))?;
    }
    cmd.arg("--dbname").arg(url.as_str());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::pg_command;

    #[test]
    fn the_password_goes_in_the_environment_not_on_the_command_line() {
        let cmd = pg_command("pg_dump", "postgres://linli:s%3Acret%40x@db.example:5432/linli?sslmode=require").unwrap();
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["--dbname", "postgres://linli@db.example:5432/linli?sslmode=require"]);
        let env: Vec<_> = cmd.get_envs().collect();
        assert_eq!(env, [(std::ffi::OsStr::new("PGPASSWORD"), Some(std::ffi::OsStr::new("s:cret@x")))]);
        let plain = pg_command("pg_dump", "postgres://postgres@127.0.0.1/linli").unwrap();
        assert_eq!(plain.get_envs().count(), 0);
    }
}

//! The command line: one binary, one subcommand per task.

mod backup;
mod r#gen;
mod import;
pub mod keys;
mod lock;
mod maintenance;
mod serve;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ConfigArgs;

#[derive(Parser)]
#[command(name = "linli", version, about = "Linli (邻里): community social-work platform for a district", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the web app and API (applies pending migrations first; on an empty database it
    /// creates the first administrator and prints a one-time password).
    Serve,
    /// Start a demo district (a fresh embedded database, or an empty PostgreSQL one when
    /// LINLI_DATABASE_URL is set) and print one login per role.
    Demo {
        /// Where to keep the demo data (replaced if it holds an earlier demo).
        #[arg(long, default_value = "linli-demo")]
        dir: std::path::PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a new key for LINLI_SECRET_KEY (secrets at rest), named with the next free id of
    /// the ring in LINLI_SECRET_KEY or secret.key (`k2` after `k1`; `k1` where there is none).
    Keygen {
        /// The new key's id (letters and digits) instead of the next free one.
        #[arg(long)]
        id: Option<String>,
    },
    /// Secrets at rest: `rotate` re-seals everything with the newest key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage staff accounts.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Register an app for the Open311 API and print its api_key (shown once).
    Open311App {
        /// The app's name, as staff will see it on requests it files.
        name: String,
        /// Who runs it (a person or an e-mail address).
        #[arg(long, default_value = "")]
        contact: String,
        /// Posts per minute this app may make (default: LINLI_OPEN311_POSTS_PER_MINUTE).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        posts_per_minute: Option<u32>,
    },
    /// Verify the database: integrity and foreign keys (SQLite), the keyed audit chain and its
    /// anchors, and the keys of sealed values. Exits 1 on a problem.
    Check {
        /// An anchor printed by `linli audit-anchor` (`linli-audit-anchor v1 SEQ MAC`), or
        /// `@FILE` of such lines: the chain must still hold those rows unchanged, which finds
        /// rows cut from its end. The newest anchor kept in the object store is checked too.
        #[arg(long = "anchor", value_name = "ANCHOR")]
        anchors: Vec<String>,
    },
    /// Print the audit chain's head (sequence and MAC) as an anchor to keep outside the
    /// database, for `linli check --anchor`; run it from cron.
    AuditAnchor {
        /// Also keep it in the object store (`audit-anchors/`), where `linli check` finds it.
        #[arg(long)]
        store: bool,
    },
    /// Fill the database with district-scale synthetic case work on top of the demo city (for
    /// benchmarks): residents, households, tags, clients, cases and service records.
    Gen(r#gen::GenArgs),
    /// Import data from spreadsheets as a staff account (dry run unless --commit).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Delete stored files no record names (left by a crash between storing a photo and
    /// committing its record), older than a grace period. The server also does this daily.
    SweepFiles {
        /// Leave objects younger than this many hours (an upload may still be committing).
        #[arg(long, default_value_t = 24)]
        grace_hours: u32,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Take a consistent online copy of the database while the app keeps writing.
    Backup {
        /// File to write (SQLite: a database file; PostgreSQL: a pg_dump custom-format archive).
        /// Its MAC goes beside it, in FILE.mac: keep the two together.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Restore a backup taken by `linli backup` (stop the app first: on SQLite it refuses while
    /// `linli serve` runs). The backup is checked against its MAC before anything is replaced;
    /// anchors of rows the restored chain does not hold are set aside.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
        /// Restore without checking the backup against its MAC (FILE.mac): for a backup made
        /// before backups had one. An altered backup is then restored as it is.
        #[arg(long)]
        no_verify: bool,
    },
}

pub fn run() -> ExitCode {
    // Before anything is created: the data directory, the database and its journals, photos
    // and backups are the owner's alone (`fsperm`).
    crate::fsperm::restrict_umask();
    let cli = Cli::parse();
    let cfg = match cli.config.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("linli: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(cfg.log_json, cfg.log_color);
    for note in &cfg.deprecations {
        tracing::warn!("{note}");
    }
    tune_malloc();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve => serve::serve(cfg).await,
            Command::Demo { dir } => serve::demo(cfg, dir).await,
            Command::Migrate => maintenance::migrate(cfg).await,
            Command::Keygen { id } => keys::keygen(&cfg, id),
            Command::Keys(k) => keys::run(cfg, k).await,
            Command::User(u) => user::run(cfg, u).await,
            Command::Open311App { name, contact, posts_per_minute } => {
                let db = serve::open(&cfg).await?;
                let name = name.trim();
                anyhow::ensure!(
                    !name.is_empty() && name.chars().count() <= 60,
                    "give the app a name of 1–60 characters"
                );
                let (id, key) = crate::open311::clients::register(&db, name, contact.trim(), None).await?;
                if posts_per_minute.is_some() {
                    crate::open311::clients::set_post_limit(&db, id, posts_per_minute).await?;
                }
                println!("{key}");
                Ok(std::process::ExitCode::SUCCESS)
            }
            Command::Check { anchors } => maintenance::check(cfg, anchors).await,
            Command::AuditAnchor { store } => maintenance::audit_anchor(cfg, store).await,
            Command::Gen(a) => r#gen::run(cfg, a).await,
            Command::Import(c) => import::run(cfg, c).await,
            Command::SweepFiles { grace_hours, dry_run } => maintenance::sweep_files(cfg, grace_hours, dry_run).await,
            Command::Backup { out } => backup::backup(cfg, out).await,
            Command::Restore { from, force, no_verify } => backup::restore(cfg, from, force, no_verify).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("linli: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(json: bool, color: crate::config::LogColor) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("LINLI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Escape codes in a file or a journal are noise that breaks grep.
    let ansi = color.colour(std::io::stderr().is_terminal());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Two settings of glibc's allocator, both measured on the request benchmark (1M requests).
///
/// Threads that allocate at once get arenas of their own, up to eight per core, and memory
/// freed into an arena stays with it; the SQLite connections each run on a thread of their own,
/// so under load the server kept a dozen arenas' worth. Two arenas held the benchmark's peak at
/// 105 MB where the default reached 145 MB, with no measurable change in throughput.
///
/// A block of 128 KiB or more comes straight from the system and goes back when freed, but
/// glibc raises that bar to the size of each such block freed, up to 32 MiB: after the first
/// login, argon2's 19 MiB of working memory (and a decoded phone photo's tens of MiB) stayed
/// with the thread that hashed it. The benchmark's four logins left 65 MB of heap where the
/// server idles at 6 MB. With the bar fixed at 4 MiB each large block is returned when freed:
/// the heap is back at 6.5 MB after each login.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread is
    // spawned, and both are documented settings with valid positive values.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

//! `linli serve` and `linli demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::app::{AppState, router};
use crate::config::Config;
use crate::db::Db;
use crate::web::server::{self, Limits};
use crate::{read, write};

pub async fn open(cfg: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(cfg).await?;
    crate::app::migrate(&db).await.context("applying migrations")?;
    Ok(db)
}

pub async fn serve(cfg: Config) -> anyhow::Result<ExitCode> {
    // Held until the server stops: `linli restore` must not replace the database under it.
    let _lock = cfg.sqlite_path().map(|db| super::lock::running(&db)).transpose()?;
    cfg.keyring_for_setup()?;
    let db = open(&cfg).await?;
    bootstrap_admin(&db).await?;
    run(cfg, db).await
}

/// On a database without accounts, creates `admin` (system administrator) with a one-time
/// password printed once on the terminal, never to the log.
async fn bootstrap_admin(db: &Db) -> anyhow::Result<()> {
    let (users,): (i64,) = read!(db, |c| sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(c).await)?;
    if users > 0 {
        return Ok(());
    }
    let pass = crate::staff::store::one_time_password();
    let hash = crate::auth::password::hash(&pass);
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO users (id, account, display_name, role, password_hash, must_change_password, version, created_at, updated_at)
             VALUES ($1, 'admin', '系统管理员', 'system_admin', $2, TRUE, 1, $3, $3)",
        )
        .bind(id)
        .bind(&hash)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    crate::audit::record(
        &mut tx,
        &crate::audit::Actor::system("linli serve"),
        crate::audit::Entry {
            action: "staff.bootstrap_admin",
            entity: "user",
            entity_id: Some(id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    println!(
        "\nFirst administrator created. Sign in once with this password; you will set your own and a second factor."
    );
    println!("  account:  admin\n  password: {pass}\n");
    Ok(())
}

pub async fn demo(mut cfg: Config, dir: PathBuf) -> anyhow::Result<ExitCode> {
    cfg.demo = true;
    let mut lock = None;
    let db = if cfg.database_url.starts_with("sqlite://") {
        let marker = dir.join(".linli-demo");
        let file = dir.join("linli.db");
        if dir.exists() {
            if !marker.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                bail!("{} exists and is not a Linli demo directory; choose another with --dir", dir.display());
            }
            // Not from under a demo still running there.
            let _replacing = super::lock::replacing(&file)?;
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        crate::fsperm::private_dir(&dir)?;
        std::fs::write(&marker, "Linli demo data; `linli demo` replaces this directory.\n")?;
        lock = Some(super::lock::running(&file)?);
        cfg.data_dir = dir.clone();
        cfg.database_url = format!("sqlite://{}", file.display());
        cfg.keyring_for_setup()?;
        open(&cfg).await?
    } else {
        // On PostgreSQL the demo fills an empty database and never replaces anything.
        let db = open(&cfg).await?;
        let (users,): (i64,) = read!(&db, |c| sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(c).await)?;
        if users > 0 {
            bail!("the demo needs an empty database; this one already has accounts");
        }
        db
    };
    let pass = crate::staff::store::one_time_password();
    let logins = crate::demo::load(&db, &pass).await?;
    let keys = cfg.keyring()?;
    crate::demo::load_casework(&db, &keys).await?;
    crate::demo::load_requests_and_hazards(&db, &keys).await?;
    println!("\nLinli demo: 大同市 / 平城区 and 云冈区 ({:?})", db.backend());
    println!("Open http://{}/ and sign in as any of these (password for all: {pass}):", cfg.listen);
    for (role, account, name) in &logins {
        println!("  {role:<19} {account:<16} {name}");
    }
    let (_, api_key) = crate::open311::clients::register(&db, "邻里演示应用 (demo app)", "demo", None).await?;
    println!("Residents report at http://{}/report without an account.", cfg.listen);
    println!("Open311 GeoReport v2: http://{}/open311/v2/discovery.json  api_key: {api_key}", cfg.listen);
    println!();
    let served = run(cfg, db).await;
    drop(lock);
    served
}

async fn run(cfg: Config, db: Db) -> anyhow::Result<ExitCode> {
    // A data directory made by an earlier version may be open to everyone on the machine.
    crate::fsperm::tighten(&cfg.data_dir);
    let keys = Arc::new(cfg.keyring()?);
    let files = Arc::new(crate::files::Files::open(&cfg)?);
    let state =
        AppState { db: db.clone(), cfg: Arc::new(cfg.clone()), metrics: crate::ops::install_metrics(), keys, files };
    let app = router(state.clone());
    // Handlers go in before the port opens: a SIGTERM that arrives as soon as we listen must
    // still mean "finish and stop", not the default "die now".
    let shutdown = shutdown_signal()?;
    let listener =
        tokio::net::TcpListener::bind(&cfg.listen).await.with_context(|| format!("listening on {}", cfg.listen))?;
    // Only once the address is ours: no other live process can be running under this name.
    let interrupted =
        crate::people::import::recover_at_start(&db, &crate::ops::instance_name(&cfg.listen), chrono::Utc::now())
            .await?;
    if interrupted > 0 {
        tracing::warn!(imports = interrupted, "imports cut off by the last stop are marked interrupted");
    }
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    if let Err(e) = crate::ops::warn_on_holiday_gap(&db, today).await {
        tracing::warn!(error = %e, "could not check the holiday table");
    }
    let metrics = match &cfg.metrics_listen {
        Some(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics listening on {addr}"))?)
        }
        None => None,
    };
    let limits = Limits { header_timeout: cfg.header_timeout, max_connections: connection_cap(cfg.max_connections) };
    tracing::info!(listen = %cfg.listen, metrics = ?cfg.metrics_listen, backend = ?db.backend(),
        max_connections = limits.max_connections, "linli serving");
    let janitor = tokio::spawn(crate::ops::janitor(db.clone(), cfg.session_max));
    let sla = tokio::spawn(crate::ops::sla_watch(db.clone()));
    let sweeper = tokio::spawn(crate::ops::file_sweeper(db.clone(), state.files.clone()));
    let reindex = tokio::spawn(crate::ops::search_reindex(db.clone()));
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = metrics.map(|l| {
        let small = Limits { header_timeout: limits.header_timeout, max_connections: 16 };
        tokio::spawn(server::serve(l, crate::ops::metrics_router(state.clone()), small, until_stopped(stopped.clone())))
    });
    server::serve(listener, app, limits, until_stopped(stopped)).await?;
    if let Some(m) = metrics {
        m.await??;
    }
    janitor.abort();
    sla.abort();
    sweeper.abort();
    reindex.abort();
    tracing::info!("in-flight requests finished; closing the database");
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// The connection cap, kept under the process's descriptor limit (raised to its hard limit
/// first: the usual soft limit of 1,024 would run out before the cap did). The database, its
/// files and the object store keep 256 descriptors for themselves.
fn connection_cap(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                if lim.rlim_cur < lim.rlim_max {
                    let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        lim = raised;
                    }
                }
                let room = (lim.rlim_cur as usize).saturating_sub(256).max(16);
                if room < wanted {
                    tracing::warn!(wanted, room, "max_connections lowered to fit the descriptor limit");
                }
                return wanted.min(room);
            }
        }
    }
    wanted
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term => {},
        }
        tracing::info!("shutdown requested");
    })
}

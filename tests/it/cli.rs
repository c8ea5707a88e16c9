//! The binary itself: serve's first-admin bootstrap and graceful shutdown, user admin,
//! check, and an online backup taken while writes go on, then restored.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn linli(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linli"));
    c.env_remove("LINLI_DATABASE_URL").arg("--data-dir").arg(dir);
    c
}

#[test]
fn serve_bootstraps_an_admin_once_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut child = linli(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut password = None;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(p) = line.trim().strip_prefix("password: ") {
            password = Some(p.to_string());
            break;
        }
    }
    assert_eq!(password.as_ref().map(|p| p.len()), Some(16));
    // 30 s, as the other tests here wait: 5 s was too little for a freshly linked debug
    // binary on a loaded machine.
    wait_listening(port);
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful exit on SIGTERM: {exit}");
    // A second start does not create another admin.
    let list = linli(dir.path()).args(["user", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one account: {text}");
    assert!(text.starts_with("admin ") && text.contains("system_admin"));
    let check = linli(dir.path()).arg("check").output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

#[test]
fn unknown_database_scheme_is_an_error_not_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_linli"))
        .args(["--database-url", "mysql://x/y", "migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown database URL scheme"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_then_restore_and_check() {
    let dir = tempfile::tempdir().unwrap();
    // `migrate` makes the database and its key; no other command makes a key.
    let out = linli(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (db, _) = {
        // Always SQLite here: the PostgreSQL path is pg_dump, exercised in scripts/test.
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = dir.path().to_path_buf();
        cfg.database_url = format!("sqlite://{}", dir.path().join("linli.db").display());
        let db = linli::db::Db::connect(&cfg).await.unwrap();
        linli::app::migrate(&db).await.unwrap();
        (db, cfg)
    };
    linli::demo::load(&db, "backup-test-password").await.unwrap();
    let out = linli(dir.path())
        .args([
            "user",
            "add",
            "--account",
            "cli.user",
            "--name",
            "命令行",
            "--role",
            "grid_worker",
            "--place",
            "大同市/平城区/清远街道/大齿社区",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("one-time password"));
    // Writers keep going while the backup runs.
    let writer_db = db.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let writer = tokio::spawn(async move {
        let all = linli::staff::store::everything();
        let actor = linli::audit::Actor::system("writer");
        let parent: (uuid::Uuid,) =
            linli::read!(&writer_db, |c| sqlx::query_as("SELECT id FROM places WHERE name = '武定街道'")
                .fetch_one(c)
                .await)
            .unwrap();
        let mut n = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let input = linli::org::model::NewPlace {
                parent_id: Some(parent.0),
                kind: linli::org::model::PlaceKind::Community,
                name: format!("写入{n}"),
                code: None,
            };
            linli::org::store::create_place(&writer_db, &all, &actor, &input, false).await.unwrap();
            n += 1;
        }
        n
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let backup = dir.path().join("copy.db");
    let out = tokio::task::spawn_blocking({
        let mut cmd = linli(dir.path());
        cmd.arg("backup").arg("--out").arg(&backup);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(written > 0);
    let check = linli(dir.path())
        .arg("--database-url")
        .arg(format!("sqlite://{}", backup.display()))
        .arg("check")
        .output()
        .unwrap();
    assert!(check.status.success(), "backup is consistent: {}", String::from_utf8_lossy(&check.stdout));
    let restored = tempfile::tempdir().unwrap();
    // The key goes with the deployment, not with the backup.
    std::fs::copy(dir.path().join("secret.key"), restored.path().join("secret.key")).unwrap();
    let out = linli(restored.path()).arg("restore").arg("--from").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = linli(restored.path()).arg("check").output().unwrap();
    assert!(out.status.success());
    let list = linli(restored.path()).args(["user", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("cli.user"));
    // Restoring over an existing database needs --force.
    let again = linli(restored.path()).arg("restore").arg("--from").arg(&backup).output().unwrap();
    assert!(!again.status.success());
}

/// PostgreSQL backups go through pg_dump/pg_restore; run when the suite runs on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_and_restore_round_trip() {
    let Ok(base) = std::env::var("LINLI_TEST_DATABASE_URL") else { return };
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (src, dst) = (format!("lb_src_{tag}"), format!("lb_dst_{tag}"));
    for name in [&src, &dst] {
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    }
    let url_of = |name: &str| {
        let mut u = url::Url::parse(&base).unwrap();
        u.set_path(&format!("/{name}"));
        u.to_string()
    };
    let secret = linli::crypto::Keyring::generate_spec();
    // One object store for both: the same deployment, restored.
    let store = tempfile::tempdir().unwrap();
    let run = |args: &[&str], db: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_linli"))
            .env("LINLI_SECRET_KEY", &secret)
            .arg("--data-dir")
            .arg(store.path())
            .arg("--database-url")
            .arg(url_of(db))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
    cfg.database_url = url_of(&src);
    cfg.secret_key = Some(secret.clone());
    let db = linli::db::Db::connect(&cfg).await.unwrap();
    linli::app::migrate(&db).await.unwrap();
    linli::demo::load(&db, "pg-backup-password").await.unwrap();
    db.close().await;
    let (ok, out) =
        run(&["user", "add", "--account", "pg.user", "--name", "备份", "--role", "auditor", "--place", "大同市"], &src);
    assert!(ok, "{out}");
    let file = tempfile::tempdir().unwrap();
    let dump = file.path().join("linli.dump");
    let (ok, out) = run(&["audit-anchor", "--store"], &src);
    assert!(ok, "{out}");
    let (ok, out) = run(&["backup", "--out", dump.to_str().unwrap()], &src);
    assert!(ok, "{out}");
    // Finding 5 on PostgreSQL: rows after the backup, anchored, are not in what is restored.
    let (ok, out) =
        run(&["user", "add", "--account", "pg.late", "--name", "后来", "--role", "auditor", "--place", "大同市"], &src);
    assert!(ok, "{out}");
    let (ok, out) = run(&["audit-anchor", "--store"], &src);
    assert!(ok, "{out}");
    let (ok, _) = run(&["restore", "--from", dump.to_str().unwrap()], &dst);
    assert!(!ok, "restoring into PostgreSQL needs --force");
    // Item 15: the same dump with the audit log's append-only trigger neutered by a same-length
    // edit (pg_restore takes it as it is) is refused, --force or not, and nothing is restored.
    let pristine = std::fs::read(&dump).unwrap();
    let (from, to) = (b"RAISE EXCEPTION 'audit_log is append-only'", b"RETURN NEW; -- 'audit_log is append-only'");
    let at: Vec<usize> = pristine.windows(from.len()).enumerate().filter(|(_, w)| w == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the trigger's body is in the dump once");
    let mut edited = pristine.clone();
    edited[at[0]..at[0] + to.len()].copy_from_slice(to);
    std::fs::write(&dump, &edited).unwrap();
    let (ok, out) = run(&["restore", "--force", "--from", dump.to_str().unwrap()], &dst);
    assert!(!ok, "an altered dump is refused: {out}");
    let (_, out) = run(&["user", "list"], &dst);
    assert!(!out.contains("pg.user"), "nothing was restored: {out}");
    std::fs::write(&dump, &pristine).unwrap();
    let (ok, out) = run(&["restore", "--force", "--from", dump.to_str().unwrap()], &dst);
    assert!(ok, "{out}");
    assert!(out.contains("1 stored anchor of rows the restored chain does not hold set aside"), "{out}");
    let (ok, out) = run(&["check"], &dst);
    assert!(ok && out.contains("intact"), "{out}");
    let (ok, out) = run(&["user", "list"], &dst);
    assert!(ok && out.contains("pg.user") && !out.contains("pg.late"), "{out}");
    for name in [&src, &dst] {
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
    }
}

/// `linli import people` checks a file as an account would on the import page, lists the bad
/// rows and writes nothing without --commit; with it, everything lands once.
#[tokio::test]
async fn import_people_from_the_command_line_dry_run_then_commit() {
    if std::env::var("LINLI_TEST_DATABASE_URL").is_ok() {
        return; // The test schema of a PostgreSQL run is not reachable by URL; SQLite covers it.
    }
    let app = crate::harness::TestApp::new().await;
    let dir = app.dir();
    let file = dir.join("名册.csv");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_linli"))
            .env_remove("LINLI_DATABASE_URL")
            .env("LINLI_LOG", "warn")
            .env("LINLI_SECRET_KEY", app.st.cfg.secret_key.as_deref().unwrap())
            .arg("--data-dir")
            .arg(dir)
            .args(["import", "people"])
            .arg(&file)
            .args(args)
            .output()
            .unwrap()
    };
    std::fs::write(&file, "姓名,出生日期,社区\n王芳,1944-08-08,民和社区\n李四,2099-01-01,民和社区\n").unwrap();
    let out = run(&["--as", "zhengjiangbo", "--commit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a bad row fails the run: {text}");
    assert!(text.contains("row 3") && text.contains("不能晚于今天"), "{text}");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0);

    std::fs::write(&file, "姓名,出生日期,社区\n王芳,1944-08-08,民和社区\n刘强,1975-07-07,民和社区\n").unwrap();
    let out = run(&["--as", "zhengjiangbo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 new"));
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0, "a dry run writes nothing");
    // An account whose places do not include 民和社区 cannot put people there.
    assert!(!run(&["--as", "wenbichen", "--commit"]).status.success());
    let out = run(&["--as", "zhengjiangbo", "--commit"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 people"));
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.import' AND actor = 'zhengjiangbo'").await,
        1
    );
    assert!(!run(&["--as", "nobody", "--commit"]).status.success());
}

/// `linli user reset-password` ends the account's API tokens as the staff page does.
#[tokio::test]
async fn reset_password_from_the_command_line_revokes_api_tokens() {
    if std::env::var("LINLI_TEST_DATABASE_URL").is_ok() {
        return; // The test schema of a PostgreSQL run is not reachable by URL; SQLite covers it.
    }
    let app = crate::harness::TestApp::new().await;
    let c = app.login("hanjianwei").await;
    let token = c.post_form("/account/tokens", &[("name", "脚本")]).await.between("id=\"new-token\">", "<").unwrap();
    let mut api = app.anon();
    api.token = Some(token);
    assert_eq!(api.get("/api/v1/me").await.status, axum::http::StatusCode::OK);
    let out = linli(app.dir())
        .env("LINLI_LOG", "warn")
        .env("LINLI_SECRET_KEY", app.st.cfg.secret_key.as_deref().unwrap())
        .args(["user", "reset-password", "--account", "hanjianwei"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(api.get("/api/v1/me").await.status, axum::http::StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'staff.reset_password' AND detail LIKE '%\"api_tokens_revoked\":1%'").await,
        1
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("server on port {port} never listened");
}

fn stop(child: &mut std::process::Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

/// Every directory and file under `root` with any permission for group or others.
fn shared_with_others(root: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode();
        if mode & 0o077 != 0 {
            found.push(format!("{} {:o}", p.display(), mode & 0o777));
        }
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    found
}

/// Somebody else's account on the machine reads nothing of a district: the data directory, the
/// database with its -wal and -shm, the key, stored photos, backups and a restored copy are the
/// owner's alone.
#[test]
fn the_data_directory_database_files_photos_and_backups_are_private_to_the_owner() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linli"))
        .env_remove("LINLI_DATABASE_URL")
        .env("LINLI_LOG", "warn")
        .args(["--listen", &format!("127.0.0.1:{port}"), "demo", "--dir"])
        .arg(&demo)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut key = None;
    // Kept open to the end: the demo prints more after its key, and a closed pipe would kill it.
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in out.by_ref() {
        if let Some((_, k)) = line.unwrap().split_once("api_key: ") {
            key = Some(k.trim().to_string());
            break;
        }
    }
    wait_listening(port);
    // A resident's photo through Open311, so the object store holds a file.
    let boundary = "linli-modes-7c2e";
    let mut body = Vec::new();
    let fields = [
        ("api_key", key.expect("the demo prints its Open311 key")),
        ("service_code", "street_light".into()),
        ("lat", "40.09".into()),
        ("long", "113.30".into()),
        ("description", "路灯不亮，见照片".into()),
    ];
    for (k, v) in &fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"lamp.jpg\"\r\n\r\n")
            .bytes(),
    );
    body.extend(linli::files::samples::jpeg_with_gps(200, 150));
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /open311/v2/requests.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let backup = backups.join("copy.db");
    let out = linli(&demo).arg("backup").arg("--out").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Read while the server runs: its -wal and -shm exist now.
    let names: Vec<String> =
        std::fs::read_dir(&demo).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for name in ["linli.db", "linli.db-wal", "linli.db-shm", "secret.key", "files"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(count_files(&demo.join("files")) >= 1, "the photo is stored");
    assert_eq!(shared_with_others(&demo), Vec::<String>::new());
    assert_eq!(shared_with_others(&backup), Vec::<String>::new());
    stop(&mut child);
    drop(out);
    // Restored with the key that made the backup (its MAC is checked with it).
    let restored = tmp.path().join("restored");
    let key = std::fs::read_to_string(demo.join("secret.key")).unwrap();
    let out = linli(&restored)
        .env("LINLI_SECRET_KEY", key.trim())
        .arg("restore")
        .arg("--from")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(shared_with_others(&restored), Vec::<String>::new());
}

fn count_files(root: &std::path::Path) -> usize {
    let mut n = 0;
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            n += 1;
        }
    }
    n
}

/// An import claimed by an instance that then died says so as soon as the server starts again,
/// instead of "importing 0 / N" for two hours; committing it again runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_left_running_by_a_crash_is_marked_interrupted_when_serve_starts() {
    if std::env::var("LINLI_TEST_DATABASE_URL").is_ok() {
        return; // One instance on one SQLite file; PostgreSQL's leases: people_import.rs.
    }
    let app = crate::harness::TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let r =
        crate::people_import::upload(&c, "名册.csv", "姓名,出生日期,社区\n王芳,1944-08-08,民和社区\n".as_bytes()).await;
    let batch = r.between("name=\"batch\" value=\"", "\"").expect("commit offered");
    // The state a claim leaves behind when its process is killed before the import commits.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |conn| sqlx::query(
        "UPDATE import_batches SET status = 'running', started_at = $1 WHERE id = $2"
    )
    .bind(chrono::Utc::now())
    .bind(uuid::Uuid::parse_str(&batch).unwrap())
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let port = free_port();
    let mut child = linli(app.dir())
        .env("LINLI_LOG", "warn")
        .env("LINLI_SECRET_KEY", app.st.cfg.secret_key.as_deref().unwrap())
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    stop(&mut child);
    let page = c.get(&format!("/people/import/{batch}")).await;
    assert!(page.body.contains("data-status=\"failed\""), "{}", page.body);
    assert!(page.body.contains("导入被中断"), "{}", page.body);
    assert!(!page.body.contains("http-equiv=\"refresh\""), "it no longer reloads itself");
    let again = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert_eq!(again.status, axum::http::StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0);
}

/// Item 15: `linli backup` writes a MAC of the whole backup, keyed like the audit chain, and
/// `restore` checks it before anything is replaced, `--force` or not. Issue 21 restored a
/// backup with a resident request's description changed (same length), and 4 of 20 random
/// byte flips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_backup_is_refused_before_anything_is_restored() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let secret = linli::crypto::Keyring::generate_spec();
    {
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = dir.path().to_path_buf();
        cfg.database_url = format!("sqlite://{}", dir.path().join("linli.db").display());
        cfg.secret_key = Some(secret.clone());
        let db = linli::db::Db::connect(&cfg).await.unwrap();
        linli::app::migrate(&db).await.unwrap();
        linli::demo::load(&db, "backup-mac-password").await.unwrap();
        linli::demo::load_requests_and_hazards(&db, &cfg.keyring().unwrap()).await.unwrap();
        db.close().await;
    }
    let keyed = |d: &std::path::Path| {
        let mut c = linli(d);
        c.env("LINLI_SECRET_KEY", &secret);
        c
    };
    let backup = dir.path().join("copy.db");
    let out = keyed(dir.path()).arg("backup").arg("--out").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restore = |bytes: &[u8]| {
        std::fs::write(&backup, bytes).unwrap();
        let target = tempfile::tempdir().unwrap();
        let out = keyed(target.path()).arg("restore").arg("--force").arg("--from").arg(&backup).output().unwrap();
        (
            out.status.success(),
            target.path().join("linli.db").exists(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let pristine = std::fs::read(&backup).unwrap();
    // A resident's report, one word changed: 一周 (a week) becomes 两周 (two weeks).
    let (from, to) = ("路灯一周不亮".as_bytes(), "路灯两周不亮".as_bytes());
    let at: Vec<usize> = pristine.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the description is in the backup once");
    let mut edited = pristine.clone();
    edited[at[0]..at[0] + to.len()].copy_from_slice(to);
    let (ok, restored, err) = restore(&edited);
    assert!(!ok && !restored, "an edited description is refused and nothing is written: {err}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut accepted = Vec::new();
    for _ in 0..20 {
        let mut flipped = pristine.clone();
        let i = rng.gen_range(0..flipped.len());
        flipped[i] ^= 1 << rng.gen_range(0..8);
        if restore(&flipped).0 {
            accepted.push(i);
        }
    }
    assert!(accepted.is_empty(), "byte flips restored at offsets {accepted:?}");
    let (ok, restored, err) = restore(&pristine);
    assert!(ok && restored, "the backup as written restores: {err}");
}

/// `linli audit-anchor --store` prints the head and keeps it in the object store; `check` reads
/// the newest kept anchor on its own, and takes printed ones with `--anchor`. Rows cut from
/// the end, with the head moved back, pass the keyed chain but not the anchor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_kept_outside_finds_rows_cut_from_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = linli(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
    cfg.data_dir = dir.path().to_path_buf();
    cfg.database_url = format!("sqlite://{}", dir.path().join("linli.db").display());
    let db = linli::db::Db::connect(&cfg).await.unwrap();
    linli::app::migrate(&db).await.unwrap();
    linli::demo::load(&db, "anchor-password").await.unwrap();
    let out = linli(dir.path()).args(["audit-anchor", "--store"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let anchor: linli::audit::store::Anchor = line.parse().unwrap();
    let check = |args: &[&str]| {
        let out = linli(dir.path()).arg("check").args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, text) = check(&["--anchor", &line]);
    assert!(ok && text.contains(&format!("stored anchor: row {}", anchor.seq)), "{text}");
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| async {
        sqlx::query("DROP TRIGGER audit_log_no_delete").execute(&mut *c).await.map(|r| r.rows_affected())?;
        sqlx::query("DELETE FROM audit_log WHERE seq > $1")
            .bind(anchor.seq - 3)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_log WHERE seq = $1) WHERE id = 1")
            .bind(anchor.seq - 3)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    }
    .await)
    .unwrap();
    tx.commit().await.unwrap();
    db.close().await;
    let (ok, text) = check(&[]);
    assert!(!ok && text.contains(&format!("BROKEN at row {}", anchor.seq)), "the stored anchor: {text}");
    std::fs::remove_dir_all(dir.path().join("files/audit-anchors")).unwrap();
    let (ok, text) = check(&[]);
    assert!(ok, "without an anchor the shorter chain is whole: {text}");
    let file = dir.path().join("anchors.txt");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (ok, text) = check(&["--anchor", &format!("@{}", file.display())]);
    assert!(!ok && text.contains(&format!("BROKEN at row {}", anchor.seq)), "a printed anchor: {text}");
}

/// The binary on a test app's database (its SQLite file, or its PostgreSQL schema) with `keys`
/// as LINLI_SECRET_KEY; stdout and stderr together.
fn linli_on(app: &crate::harness::TestApp, keys: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_linli"))
        .env("LINLI_LOG", "warn")
        .env("LINLI_SECRET_KEY", keys)
        .arg("--data-dir")
        .arg(app.dir())
        .arg("--database-url")
        .arg(&app.st.cfg.database_url)
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// How many values of each sealed table are sealed (or blind-indexed) with key `id`.
async fn sealed_with(app: &crate::harness::TestApp, id: &str) -> [i64; 4] {
    let like = |cols: &[&str]| cols.iter().map(|c| format!("{c} LIKE '{id}:%'")).collect::<Vec<_>>().join(" OR ");
    [
        app.count(&format!(
            "SELECT COUNT(*) FROM persons WHERE {}",
            like(&["id_sealed", "id_hash", "phone_sealed", "phone_hash"])
        ))
        .await,
        app.count(&format!("SELECT COUNT(*) FROM requests WHERE {}", like(&["phone_sealed", "phone_hash"]))).await,
        app.count(&format!("SELECT COUNT(*) FROM users WHERE {}", like(&["totp_secret"]))).await,
        app.count(&format!("SELECT COUNT(*) FROM import_batches WHERE {}", like(&["rows"]))).await,
    ]
}

/// Trial finding 1: `keys rotate` left requests' phones under the old key, `check` said all was
/// well without it, and revealing such a phone was a bare 500. Now every sealed column is
/// re-sealed (a person's numbers, a request's phone, second factors, import previews), `check`
/// says what is still under an older key or under one the ring lacks, and a value whose key is
/// gone is a 503 that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reseals_every_sealed_value_and_check_says_when_the_old_key_may_go() {
    use axum::http::StatusCode;
    use linli::crypto::Keyring;
    use std::sync::Arc;
    let mut app = crate::harness::TestApp::new().await;
    let k1 = app.st.cfg.secret_key.clone().unwrap();
    let k2 = Keyring::generate_spec().replacen("k1:", "k2:", 1);
    let (both, k2_only) = (format!("{k2},{k1}"), k2.clone());
    // Something in every sealed column, all under k1: the bureau's second factor (enrolled at
    // sign-in), a request's phone, a person's ID and phone numbers, an import's preview.
    let (cookie, csrf, request) = {
        let desk = app.login("bureau").await;
        let place = app.place_id("北馨园社区").await.to_string();
        let r = desk
            .post_form(
                "/requests",
                &[
                    ("category", "sewage_overflow"),
                    ("description", "下水井污水外溢"),
                    ("place_id", &place),
                    ("phone", "13912345678"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let request = r.location().rsplit('/').next().unwrap().to_string();
        let worker = app.login("zhengjiangbo").await;
        let csv = format!(
            "姓名,身份证号,出生日期,联系电话,社区\n王芳,{},,13800001111,民和社区\n",
            crate::people_import::id_number("19440808", "022")
        );
        let r = crate::people_import::upload(&worker, "名册.csv", csv.as_bytes()).await;
        assert!(r.body.contains("name=\"batch\""), "a preview waits for its commit: {}", r.body);
        (desk.cookie.clone(), desk.csrf.clone(), request)
    };
    let input = linli::people::model::PersonInput {
        name: "张大爷".into(),
        id_number: Some(crate::people_import::id_number("19500101", "011")),
        phone: Some("13900001234".into()),
        place_id: app.place_id("永宁社区").await,
        ..Default::default()
    };
    let everything = linli::staff::store::everything();
    let actor = linli::audit::Actor::system("test");
    assert!(linli::people::store::create(&app.st.db, &app.st.keys, &everything, &actor, &input, false).await.is_ok());
    assert!(sealed_with(&app, "k1").await.iter().all(|n| *n >= 1), "{:?}", sealed_with(&app, "k1").await);

    // The old key still in the ring: check passes and names what is left under it.
    let (ok, out) = linli_on(&app, &both, &["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("under k1, not the newest key (k2)") && out.contains("linli keys rotate"), "{out}");
    assert!(out.contains("requests.phone_sealed: 1"), "{out}");
    // Dropped too early: check fails, naming the key, and the app answers 503 with a reason.
    let (ok, out) = linli_on(&app, &k2_only, &["check"]);
    assert!(!ok, "{out}");
    assert!(out.contains("under k1, which the keyring does not hold"), "{out}");
    let set_keys = |app: &mut crate::harness::TestApp, spec: &str| {
        app.st.keys = Arc::new(Keyring::parse(spec).unwrap());
        app.st.db = app.st.db.with_keys(app.st.keys.clone());
        app.router = linli::app::router(app.st.clone());
    };
    set_keys(&mut app, &k2_only);
    let desk = crate::harness::Client { app: &app, cookie: cookie.clone(), csrf: csrf.clone(), token: None };
    let r = desk.post_form(&format!("/requests/{request}/reveal-phone"), &[("reason", "回访联系")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains("密钥") && !r.body.contains("13912345678"), "{}", r.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'request.reveal_phone'").await,
        0,
        "nothing was revealed, so no reveal is recorded"
    );
    drop(desk);
    set_keys(&mut app, &both);

    let (ok, out) = linli_on(&app, &both, &["keys", "rotate"]);
    assert!(ok, "{out}");
    assert!(out.contains("1 people, 1 requests, 1 second-factor secrets and 1 import previews with key k2"), "{out}");
    assert_eq!(sealed_with(&app, "k1").await, [0; 4]);
    assert!(sealed_with(&app, "k2").await.iter().all(|n| *n >= 1), "{:?}", sealed_with(&app, "k2").await);
    let (ok, out) = linli_on(&app, &both, &["keys", "rotate"]);
    assert!(ok && out.contains("0 people, 0 requests, 0 second-factor secrets and 0 import previews"), "{out}");
    let (ok, out) = linli_on(&app, &both, &["check"]);
    assert!(ok && out.contains("all under k2, the newest key"), "{out}");

    // Now the old key may go: everything still opens, and check is green.
    let (ok, out) = linli_on(&app, &k2_only, &["check"]);
    assert!(ok && out.contains("all under k2, the newest key"), "{out}");
    set_keys(&mut app, &k2_only);
    let desk = crate::harness::Client { app: &app, cookie, csrf, token: None };
    let r = desk.post_form(&format!("/requests/{request}/reveal-phone"), &[("reason", "回访联系")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("13912345678"));
}

/// The shell blocks of a section of docs/operations.md, in order.
fn recipe(section: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md")).unwrap();
    let start = doc.find(&format!("\n## {section}\n")).unwrap_or_else(|| panic!("no section {section}"));
    let body = &doc[start + 4..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.split("```sh\n").skip(1).map(|b| b[..b.find("```").unwrap()].to_string()).collect()
}

/// `sh -e` running `script` with `linli` on its PATH, in `dir`, with `env`.
fn shell(dir: &std::path::Path, script: &str, env: &[(&str, &str)]) -> (bool, String) {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_linli")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("LINLI_LOG", "warn")
        .env_remove("LINLI_DATABASE_URL")
        .env_remove("LINLI_SECRET_KEY")
        .env_remove("LINLI_DATA_DIR")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Trial finding 2: `linli keygen` always said `k1:…`, so the documented rotation gave "key id
/// k1 is given twice". keygen now names a new key after the ring's ids (or `--id`), and the
/// recipe in docs/operations.md is run here exactly as written: with `secret.key`, then with
/// LINLI_SECRET_KEY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_rotation_recipe_in_the_docs_works_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = linli(&data).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    {
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = data.clone();
        cfg.database_url = format!("sqlite://{}", data.join("linli.db").display());
        let db = linli::db::Db::connect(&cfg).await.unwrap();
        linli::demo::load(&db, "recipe-password").await.unwrap();
        linli::demo::load_requests_and_hazards(&db, &cfg.keyring().unwrap()).await.unwrap();
        db.close().await;
    }
    let key_ids = || {
        let spec = std::fs::read_to_string(data.join("secret.key")).unwrap();
        spec.trim().split(',').map(|k| k.split(':').next().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(key_ids(), ["k1"]);
    let blocks = recipe("Keys");
    assert!(blocks.len() >= 3, "the Keys section has its recipe: {blocks:?}");
    let env = [("LINLI_DATA_DIR", data.to_str().unwrap())];
    let (ok, out) = shell(tmp.path(), &blocks[0], &env);
    assert!(ok, "{}\n{out}", blocks[0]);
    assert_eq!(key_ids(), ["k2", "k1"]);
    assert!(out.contains("with key k2") && out.contains("all under k2, the newest key"), "{out}");
    let (ok, out) = shell(tmp.path(), &blocks[1], &env);
    assert!(ok, "{}\n{out}", blocks[1]);
    assert_eq!(key_ids(), ["k2"], "the old key has left the ring");
    let (ok, out) = shell(tmp.path(), "linli check", &env);
    assert!(ok && out.contains("audit chain:") && out.contains("intact"), "{out}");
    // The request's phone opens with the new key alone.
    let db = {
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = data.clone();
        cfg.database_url = format!("sqlite://{}", data.join("linli.db").display());
        linli::db::Db::connect(&cfg).await.unwrap()
    };
    let phones: Vec<(String,)> =
        linli::read!(&db, |c| sqlx::query_as("SELECT phone_sealed FROM requests WHERE phone_sealed IS NOT NULL")
            .fetch_all(c)
            .await)
        .unwrap();
    assert!(!phones.is_empty());
    for (sealed,) in &phones {
        assert!(db.keys().open_text(sealed).is_ok(), "{sealed}");
    }
    db.close().await;

    // With LINLI_SECRET_KEY (PostgreSQL, or SQLite configured so): the same, in the variable.
    let k1 = linli::crypto::Keyring::generate_spec();
    let (ok, out) =
        shell(tmp.path(), &format!("{}\nprintf '%s' \"$LINLI_SECRET_KEY\"", blocks[2]), &[("LINLI_SECRET_KEY", &k1)]);
    assert!(ok, "{}\n{out}", blocks[2]);
    let ring = linli::crypto::Keyring::parse(out.trim()).unwrap();
    assert_eq!(ring.current_id(), "k2");
    assert!(out.trim().ends_with(&format!(",{k1}")), "{out}");
    // An id can be chosen, but not one the ring holds.
    let (ok, out) = shell(tmp.path(), "linli keygen --id k7", &[("LINLI_SECRET_KEY", &k1)]);
    assert!(ok && out.starts_with("k7:"), "{out}");
    let (ok, out) = shell(tmp.path(), "linli keygen --id k1", &[("LINLI_SECRET_KEY", &k1)]);
    assert!(!ok && out.contains("k1"), "{out}");
}

/// Trial finding 3: `restore --force` while `linli serve` ran on the same SQLite file said
/// "restored", and the server's later writes went into the replaced file and were lost. The
/// server holds a lock on the database for its lifetime, and restore refuses while it is held.
#[test]
fn restore_refuses_while_the_app_runs_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = linli(dir.path())
        .env("LINLI_LOG", "warn")
        .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    let backup = dir.path().join("b1.db");
    let out = linli(dir.path()).arg("backup").arg("--out").arg(&backup).output().unwrap();
    assert!(out.status.success(), "backups are taken while the app runs: {}", String::from_utf8_lossy(&out.stderr));
    let before = std::fs::metadata(dir.path().join("linli.db")).unwrap();
    let out = linli(dir.path()).args(["restore", "--force", "--from"]).arg(&backup).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("in use by a running `linli serve`") && err.contains("stop it first"), "{err}");
    let after = std::fs::metadata(dir.path().join("linli.db")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino(), "the database was not replaced");
    stop(&mut child);
    let out = linli(dir.path()).args(["restore", "--force", "--from"]).arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Trial finding 4: restoring into an empty data directory made a new `secret.key` and then
/// blamed the backup ("does not match its MAC … changed after linli backup wrote it"); with
/// --no-verify it printed Rust debug output saying a row was altered. No command but serve,
/// demo and migrate makes a key; without one restore says what to put where, and a wrong key
/// is called a wrong key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_a_new_machine_without_the_key_asks_for_it_and_makes_none() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old");
    let out = linli(&old).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    {
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = old.clone();
        cfg.database_url = format!("sqlite://{}", old.join("linli.db").display());
        let db = linli::db::Db::connect(&cfg).await.unwrap();
        linli::demo::load(&db, "new-machine-password").await.unwrap();
        db.close().await;
    }
    let backup = tmp.path().join("b1.db");
    let out = linli(&old).arg("backup").arg("--out").arg(&backup).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = |dir: &std::path::Path, key: Option<&str>, args: &[&str]| {
        let mut c = linli(dir);
        c.env("LINLI_LOG", "warn").env_remove("LINLI_SECRET_KEY");
        if let Some(k) = key {
            c.env("LINLI_SECRET_KEY", k);
        }
        let out = c.args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let from = backup.to_str().unwrap();
    let new = tmp.path().join("new");
    for args in [&["restore", "--from", from][..], &["restore", "--no-verify", "--from", from][..]] {
        let (ok, out) = run(&new, None, args);
        assert!(!ok, "{out}");
        assert!(
            out.contains("no secret key: put the key the backup was made with in secret.key or LINLI_SECRET_KEY"),
            "{out}"
        );
        assert!(!out.contains("MAC"), "the backup is not blamed: {out}");
        assert!(!new.join("secret.key").exists() && !new.join("linli.db").exists(), "nothing made");
    }
    for args in [&["check"][..], &["backup", "--out", new.join("b.db").to_str().unwrap()][..], &["audit-anchor"][..]] {
        let (ok, out) = run(&new, None, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(!new.join("secret.key").exists(), "{args:?} made a key: {out}");
        assert!(!new.join("linli.db").exists(), "{args:?} made a database: {out}");
    }
    // Another key under the same id is named as such, with the MAC checked or not.
    let other = linli::crypto::Keyring::generate_spec();
    let (ok, out) = run(&new, Some(&other), &["restore", "--from", from]);
    assert!(!ok, "{out}");
    assert!(out.contains("another key named k1") && !out.contains("changed after"), "{out}");
    let (ok, out) = run(&new, Some(&other), &["restore", "--no-verify", "--from", from]);
    assert!(!ok, "{out}");
    assert!(out.contains("another key named k1") && !out.contains("Some((") && !out.contains("was altered"), "{out}");
    // A ring without the backup's key says which key it needs.
    let k2 = linli::crypto::Keyring::generate_spec().replacen("k1:", "k2:", 1);
    let (ok, out) = run(&new, Some(&k2), &["restore", "--from", from]);
    assert!(!ok && out.contains("made with key k1, which the keyring does not hold"), "{out}");
    let (ok, out) = run(&new, Some(&k2), &["restore", "--no-verify", "--from", from]);
    assert!(!ok && out.contains("keyed with k1, which the keyring does not hold") && !out.contains("Some(("), "{out}");
    assert!(!new.join("linli.db").exists());
    // With the key it was made with, it restores.
    let key = std::fs::read_to_string(old.join("secret.key")).unwrap();
    let (ok, out) = run(&new, Some(key.trim()), &["restore", "--from", from]);
    assert!(ok, "{out}");
}

/// Trial finding 5: after restoring an older backup, `check` failed for good: the object store
/// still held anchors of rows the restored chain never had. Restore now records itself in the
/// chain, sets those anchors aside (kept, not deleted) and stores a new one; the docs' steps
/// bring a cron file of anchors back in line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_an_older_backup_sets_newer_anchors_aside_and_check_is_green_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = linli(&dir).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    {
        let mut cfg = linli::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = dir.clone();
        cfg.database_url = format!("sqlite://{}", dir.join("linli.db").display());
        let db = linli::db::Db::connect(&cfg).await.unwrap();
        linli::demo::load(&db, "anchor-restore-password").await.unwrap();
        db.close().await;
    }
    let run = |args: &[&str]| {
        let out = linli(&dir).env("LINLI_LOG", "warn").args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let cron = tmp.path().join("anchors.txt");
    let mut kept = String::new();
    let (ok, first) = run(&["audit-anchor", "--store"]);
    assert!(ok, "{first}");
    kept.push_str(&first);
    let backup = tmp.path().join("b1.db");
    let (ok, out) = run(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    let place = "大同市/平城区/开源街道";
    let (ok, out) =
        run(&["user", "add", "--account", "late.user", "--name", "后来", "--role", "grid_worker", "--place", place]);
    assert!(ok, "{out}");
    let (ok, newer) = run(&["audit-anchor", "--store"]);
    assert!(ok, "{newer}");
    kept.push_str(&newer);
    std::fs::write(&cron, &kept).unwrap();
    let newer: linli::audit::store::Anchor = newer.trim().parse().unwrap();
    let first: linli::audit::store::Anchor = first.trim().parse().unwrap();
    assert!(newer.seq > first.seq);

    let (ok, out) = run(&["restore", "--force", "--from", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("the restored audit chain ends at row {}", first.seq)), "{out}");
    assert!(out.contains("1 stored anchor of rows the restored chain does not hold set aside"), "{out}");
    let (ok, out) = run(&["check"]);
    assert!(ok, "green again after a restore: {out}");
    assert!(
        out.contains(&format!("stored anchor: row {}", first.seq + 1)),
        "a new anchor for the restore's row: {out}"
    );
    // Set aside, not deleted.
    let aside = dir.join("files/audit-anchors-set-aside");
    let texts: Vec<String> = walk(&aside).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert_eq!(texts.iter().map(|t| t.trim()).collect::<Vec<_>>(), [newer.to_string()], "{texts:?}");
    let (_, log) = run(&["user", "list"]);
    assert!(!log.contains("late.user"), "the backup's state: {log}");

    // A cron file of anchors still names the rows the restore took away, until the docs' steps.
    let (ok, out) = run(&["check", "--anchor", &format!("@{}", cron.display())]);
    assert!(!ok && out.contains("restored an older backup"), "{out}");
    let steps = recipe("Backups and checks");
    let step = steps.iter().find(|s| s.contains("before-restore")).expect("the docs say what to do with a cron file");
    let step =
        step.replace("/srv/anchors/linli.txt", cron.to_str().unwrap()).replace("N=…", &format!("N={}", first.seq));
    let (ok, out) = shell(tmp.path(), &step, &[("LINLI_DATA_DIR", dir.to_str().unwrap())]);
    assert!(ok, "{step}\n{out}");
    let (ok, out) = run(&["check", "--anchor", &format!("@{}", cron.display())]);
    assert!(ok, "{out}");
    let before = std::fs::read_to_string(format!("{}.before-restore", cron.display())).unwrap();
    assert_eq!(before, kept, "the old lines are kept aside");
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(p);
        }
    }
    files
}

/// Trial finding 6: `check` on an empty PostgreSQL database printed `relation "audit_log" does
/// not exist`; on SQLite it made an empty database and reported on that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_where_there_is_no_linli_database_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let key = linli::crypto::Keyring::generate_spec();
    let check = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_linli"))
            .env("LINLI_SECRET_KEY", &key)
            .arg("--data-dir")
            .arg(tmp.path())
            .arg("--database-url")
            .arg(url)
            .arg("check")
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let file = tmp.path().join("none.db");
    let (ok, out) = check(&format!("sqlite://{}", file.display()));
    assert!(!ok && out.contains(&format!("no database at {}", file.display())), "{out}");
    assert!(!file.exists(), "check made no database");
    std::fs::File::create(&file).unwrap();
    let (ok, out) = check(&format!("sqlite://{}", file.display()));
    assert!(!ok && out.contains("no Linli schema here; run `linli migrate`"), "{out}");
    let Ok(base) = std::env::var("LINLI_TEST_DATABASE_URL") else { return };
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    let name = format!("lc_empty_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let (ok, out) = check(url.as_str());
    assert!(!ok && out.contains("no Linli schema here; run `linli migrate`"), "{out}");
    assert!(!out.contains("relation"), "{out}");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
}

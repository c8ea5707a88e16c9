//! What an operator runs and reads: the access log, log colours, /metrics, serving under a base
//! path behind a proxy, the holiday-table warning, and the object store the files go to.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::harness::TestApp;

/// Log lines written while `f` runs on this thread (the tests run on a current-thread runtime,
/// so everything a request does happens here).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        let out = Captured::default();
        let writer = out.clone();
        let sub = tracing_subscriber::fmt()
            .with_env_filter("linli::access=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (out, tracing::subscriber::set_default(sub))
    }
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap()).lines().map(str::to_string).collect()
    }
    /// The one line of the request with this id.
    fn line_of(&self, request_id: &str) -> String {
        let found: Vec<String> =
            self.lines().into_iter().filter(|l| l.contains(&format!("request_id={request_id}"))).collect();
        assert_eq!(found.len(), 1, "one line for {request_id}: {:?}", self.lines());
        found[0].clone()
    }
}

fn request_id(r: &crate::harness::Resp) -> String {
    r.headers.get("x-request-id").expect("every answer names its request").to_str().unwrap().to_string()
}

#[tokio::test]
async fn the_access_log_names_routes_never_queries_or_ids() {
    let mut app = TestApp::new().await;
    app.reconfigure(|c| c.trusted_proxies = 1);
    let (log, _guard) = Captured::start();
    let staff = app.login("bureau").await;
    let person = uuid::Uuid::now_v7();

    let r = staff.get(&format!("/people/{person}?q=%E7%8E%8B%E8%8A%B3&_csrf=SECRET-CSRF")).await;
    let line = log.line_of(&request_id(&r));
    assert!(line.contains("linli::access"), "its own target: {line}");
    assert!(line.contains("method=GET") && line.contains("route=/people/{id}"), "{line}");
    assert!(line.contains(&format!("status={}", r.status.as_u16())), "{line}");
    assert!(line.contains(&format!("bytes={}", r.bytes.len())), "what was sent: {line}");
    assert!(!line.contains(&person.to_string()) && !line.contains("SECRET") && !line.contains("%E7%8E%8B"), "{line}");

    let key = linli::open311::clients::register(&app.st.db, "日志测试", "", None).await.unwrap().1;
    let r = app
        .anon()
        .raw(
            Method::GET,
            &format!("/open311/v2/requests.json?api_key={key}"),
            &[("x-forwarded-for", "203.0.113.7"), ("x-request-id", "lb-7f3a")],
            vec![],
        )
        .await;
    assert_eq!(request_id(&r), "lb-7f3a", "a trusted proxy's request id is kept");
    let line = log.line_of("lb-7f3a");
    assert!(line.contains("client=203.0.113.7"), "the client as the proxies resolve it: {line}");
    assert!(!line.contains(&key), "never an api key: {line}");

    // An unknown path is logged by its first segment, without the rest or its query: a
    // tracking code with a stray slash matches no route and must not land in the log.
    let r = app.anon().get("/no/such/page?token=SECRET-TOKEN").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let line = log.line_of(&request_id(&r));
    assert!(line.contains("route=/no/… ") && line.contains("status=404"), "{line}");
    assert!(!line.contains("SECRET") && !line.contains("such"), "{line}");
    let r = app.anon().get("/track/SECRETCODE123/").await;
    let line = log.line_of(&request_id(&r));
    assert!(!line.contains("SECRETCODE123"), "{line}");

    // A client that hangs up before the body is read: the line still comes, marked incomplete.
    let res = app.router.clone().oneshot(Request::get("/login").body(Body::empty()).unwrap()).await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    drop(res);
    let line = log.line_of(&id);
    assert!(line.contains("route=/login") && line.contains("complete=false"), "{line}");
}

#[test]
fn logs_have_colours_only_on_a_terminal_or_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    // The deprecated switch makes every command log one warning at start.
    let run = |colour: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_linli"));
        c.env_remove("NO_COLOR").env_remove("LINLI_LOG_COLOR").env("LINLI_TRUST_FORWARDED_FOR", "true");
        c.arg("--data-dir").arg(dir.path()).arg("keygen");
        if let Some(v) = colour {
            c.env("LINLI_LOG_COLOR", v);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let piped = run(None);
    assert!(piped.contains("deprecated"), "{piped}");
    assert!(!piped.contains('\x1b'), "no escape codes into a pipe or a file: {piped:?}");
    assert!(run(Some("always")).contains('\x1b'));
    assert!(!run(Some("never")).contains('\x1b'));
}

#[tokio::test]
async fn metrics_have_help_lines_process_figures_and_build_info() {
    let app = TestApp::new().await;
    app.anon().get("/login").await;
    let res = linli::ops::metrics_router(app.st.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let typed: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    assert!(typed.contains(&"linli_http_requests_total"), "{text}");
    for name in &typed {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP line:\n{text}");
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_cpu_seconds_total") > 0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    let started = value("process_start_time_seconds");
    assert!(started <= now + 1.0 && started > now - 86_400.0, "started {started}, now {now}");
    let info = text.lines().find(|l| l.starts_with("linli_build_info{")).unwrap_or_else(|| panic!("{text}"));
    assert!(info.ends_with("} 1"), "{info}");
    assert!(info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{info}");
    assert!(info.contains(&format!("git_sha=\"{}\"", linli::ops::process::GIT_SHA)), "{info}");
    let sha = linli::ops::process::GIT_SHA;
    assert!(sha == "unknown" || (sha.len() == 12 && sha.bytes().all(|b| b.is_ascii_hexdigit())), "{sha}");
}

/// Every root-relative URL in an attribute of the page (what the browser would fetch).
fn urls(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " src=\"", " action=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let url = &rest[..rest.find('"').unwrap()];
            if url.starts_with('/') {
                out.push(url.to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn under_a_base_path_links_forms_redirects_and_cookies_carry_it() {
    let mut app = TestApp::new().await;
    app.reconfigure(|c| c.base_path = "/linli".into());
    let anon = app.anon();

    let page = anon.get("/linli/login").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let found = urls(&page.body);
    assert!(found.iter().any(|u| u == "/linli/login"), "the form posts under the prefix: {found:?}");
    assert!(found.iter().any(|u| u.starts_with("/linli/static/")), "assets too: {found:?}");
    assert!(found.iter().all(|u| u.starts_with("/linli/")), "{found:?}");
    let css = found.iter().find(|u| u.starts_with("/linli/static/")).unwrap();
    assert_eq!(anon.get(css).await.status, StatusCode::OK, "{css} is served");

    // Outside the prefix nothing is served; the prefix itself leads to its root.
    assert_eq!(anon.get("/login").await.status, StatusCode::NOT_FOUND);
    assert_eq!(anon.get("/linlix/login").await.status, StatusCode::NOT_FOUND);
    let root = anon.get("/linli").await;
    assert_eq!((root.status, root.location().as_str()), (StatusCode::PERMANENT_REDIRECT, "/linli/"));
    let r = anon.get("/linli/people").await;
    assert_eq!((r.status, r.location().as_str()), (StatusCode::SEE_OTHER, "/linli/login"), "{}", r.body);

    // Signing in: the redirect and the session cookie are under the prefix, and the pages
    // behind them link under it.
    let r = anon.post_form("/linli/login", &[("account", "volunteer"), ("password", &app.password)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/linli/"), "{}", r.location());
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("Path=/linli;") || cookie.ends_with("Path=/linli"), "{cookie}");
    let mut user = app.anon();
    user.take_cookie(&r);
    let home = user.get(&r.location()).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    let found = urls(&home.body);
    assert!(found.len() > 3 && found.iter().all(|u| u.starts_with("/linli/")), "{found:?}");

    // The language switch sends back the path the browser shows (prefix included).
    user.csrf = home.csrf();
    let r = user.post_form("/linli/locale", &[("lang", "en"), ("back", "/linli/account")]).await;
    assert_eq!((r.status, r.location().as_str()), (StatusCode::SEE_OTHER, "/linli/account"));

    let d = anon.get("/linli/open311/v2/discovery.json").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert!(d.body.contains("/linli/open311/v2/"), "{}", d.body);
}

#[tokio::test]
async fn without_a_base_path_pages_are_served_at_the_root_unchanged() {
    let app = TestApp::new().await;
    let page = app.anon().get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(urls(&page.body).iter().any(|u| u == "/login"));
    assert!(!page.body.contains("/linli/"));
}

#[tokio::test]
async fn a_missing_holiday_year_is_found_from_october() {
    use chrono::NaiveDate;
    let app = TestApp::new().await;
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let shipped: Vec<i32> = {
        let rows = linli::requests::store::holiday_rows(&app.st.db).await.unwrap();
        let mut years: Vec<i32> = rows.iter().map(|r| chrono::Datelike::year(&r.start_on)).collect();
        years.dedup();
        years
    };
    let last = *shipped.last().expect("a holiday table is shipped");
    let check = |today| linli::ops::warn_on_holiday_gap(&app.st.db, today);
    assert_eq!(check(day(last, 9, 30)).await.unwrap(), None, "next year is not due before October");
    assert_eq!(check(day(last, 10, 8)).await.unwrap(), Some(last + 1));
    assert_eq!(check(day(last - 1, 12, 7)).await.unwrap(), None, "{shipped:?}");
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("DELETE FROM holiday_ranges WHERE start_on >= $1")
        .bind(day(last, 1, 1))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(check(day(last - 1, 12, 7)).await.unwrap(), Some(last));
    assert_eq!(check(day(last, 2, 1)).await.unwrap(), Some(last), "this year's table missing");
}

/// Run again against S3 by scripts/test (LINLI_TEST_OBJECT_STORE_URL=s3://…): a photo goes to
/// the store selected and comes back from it.
#[tokio::test]
async fn object_store_photos_go_to_the_selected_store_and_come_back() {
    let app = TestApp::new().await;
    let grid = app.login("yongtai.grid").await;
    let place = crate::hazards::liuhangli_grid(&app).await;
    let photo = linli::files::samples::jpeg_flat(640, 480, true, None, |x, y| ((x + y) % 200) as i32 - 100);
    let fields = [
        ("category", "fire"),
        ("risk_level", "general"),
        ("description", "楼道堆放杂物"),
        ("place_id", place.as_str()),
    ];
    let r = grid.post_multipart("/api/v1/hazards", &fields, &[("photos", "p.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (file,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM files").fetch_one(c).await).unwrap();
    let got = grid.get(&format!("/files/{file}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.bytes.starts_with(&[0xFF, 0xD8]), "a JPEG comes back");
    let local = app.dir().join("files");
    let local_objects = walk(&local);
    match std::env::var("LINLI_TEST_OBJECT_STORE_URL") {
        Ok(url) => {
            assert!(url.starts_with("s3://"), "{url}");
            assert_eq!(local_objects, 0, "nothing written locally when the store is S3");
        }
        Err(_) => assert!(local_objects >= 1, "the local store holds the photo"),
    }
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.file_type().is_ok_and(|t| t.is_dir()) { walk(&e.path()) } else { 1 }).sum()
}

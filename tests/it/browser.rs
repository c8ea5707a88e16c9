//! Main flows in a real headless Chromium (Debian's chromium + chromium-driver), against the
//! real router served on a loopback port: login, wrong password, lockout, logout, creating and
//! moving a community, and a phone-width layout check.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::harness::TestApp;

pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn start_driver() -> Option<Driver> {
    let path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(path) = path else {
        if std::env::var("LINLI_SKIP_BROWSER").is_ok() {
            eprintln!("browser tests skipped: LINLI_SKIP_BROWSER is set and chromedriver is missing");
            return None;
        }
        panic!(
            "chromedriver not found: install Debian's chromium and chromium-driver (scripts/test does), or set LINLI_SKIP_BROWSER=1"
        );
    };
    let port = free_port();
    let child =
        Command::new(path).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // From here the Driver owns the process: its Drop kills and reaps it, on every path.
    let driver = Driver { child, port, _profile: tempfile::tempdir().unwrap() };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not start");
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     format!("--user-data-dir={}", driver._profile.path().display()), "--window-size=1280,900"]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("webdriver session")
}

pub(crate) async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    format!("http://{addr}")
}

pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    let el = c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page"));
    if el.attr("type").await.unwrap().as_deref() == Some("date") {
        // Keys typed into a date input follow the browser's locale (mm/dd/yyyy here); a person
        // picks the day from the calendar, which sets the value as YYYY-MM-DD.
        c.execute("arguments[0].value = arguments[1];", vec![serde_json::to_value(&el).unwrap(), text.into()])
            .await
            .unwrap();
        return;
    }
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

/// Clicks and waits until the browser has left the old page (its <html> goes stale).
pub(crate) async fn click(c: &Client, css: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page")).click().await.unwrap();
    wait_gone(c, old).await;
}

pub(crate) async fn wait_gone(c: &Client, old: fantoccini::elements::Element) {
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            // New document: let it finish loading.
            let _ = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("body")).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    match c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
        Ok(el) => el.text().await.unwrap(),
        Err(_) => {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let src = c.source().await.unwrap_or_default();
            panic!("{css} not on {url}:\n{}", &src[..src.len().min(3000)]);
        }
    }
}

pub(crate) async fn login(c: &Client, base: &str, account: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#f-account", account).await;
    fill(c, "#f-password", password).await;
    click(c, "#login-form button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_lockout_logout_and_moving_a_community_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;

    // Wrong password: the same message an unknown account gets.
    login(&c, &base, "wenbichen", "not-the-password").await;
    let wrong = text_of(&c, "#login-error").await;
    assert_eq!(wrong, "账号或密码不正确");
    login(&c, &base, "nobody.at.all", "not-the-password").await;
    assert_eq!(text_of(&c, "#login-error").await, wrong);

    // Lockout after five failures, even with the right password afterwards.
    for _ in 0..5 {
        login(&c, &base, "leizeyu", "still-the-wrong-one").await;
    }
    login(&c, &base, "leizeyu", &app.password).await;
    assert!(text_of(&c, "#login-error").await.contains("锁定"), "locked out");

    // A bureau administrator signs in with the second factor.
    login(&c, &base, "bureau", &app.password).await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login/totp"));
    let secret = text_of(&c, "#totp-secret").await;
    let code = linli::auth::totp::code_at(&secret, "bureau", linli::auth::totp::now_secs());
    fill(&c, "#f-code", &code).await;
    click(&c, "#totp-form button[type=submit]").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/");
    assert!(c.source().await.unwrap().contains("平城区民政局 李科长"));

    // Create a community under 开源街道.
    c.goto(&format!("{base}/places/new")).await.unwrap();
    c.find(Locator::Css("#f-kind")).await.unwrap().select_by_value("community").await.unwrap();
    let kaiyuan = app.place_id("开源街道").await;
    c.find(Locator::Css("#f-parent_id")).await.unwrap().select_by_value(&kaiyuan.to_string()).await.unwrap();
    fill(&c, "#f-name", "浏览器社区").await;
    click(&c, "form.form button.primary").await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().starts_with("/places/"), "{url}");
    assert!(text_of(&c, "h1").await.contains("区划") || c.source().await.unwrap().contains("浏览器社区"));
    assert!(text_of(&c, ".crumbs").await.contains("开源街道"));

    // Move it under 振华街道, accepting the confirmation.
    let zhenhua = app.place_id("振华街道").await;
    c.find(Locator::Css("#f-new_parent_id")).await.unwrap().select_by_value(&zhenhua.to_string()).await.unwrap();
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css("#move-form button[type=submit]")).await.unwrap().click().await.unwrap();
    c.accept_alert().await.unwrap();
    wait_gone(&c, old).await;
    let crumbs = text_of(&c, ".crumbs").await;
    assert!(crumbs.contains("振华街道") && !crumbs.contains("开源街道"), "{crumbs}");

    // Phone width: nothing overflows 360 px.
    c.set_window_size(360, 740).await.unwrap();
    for path in ["/places", "/staff", "/"] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let width = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap();
        assert!(width.as_u64().unwrap() <= 360, "{path} is {width} px wide on a phone");
    }

    // Logout: back to the login page, and the old pages need a login again.
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    click(&c, "#logout").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.goto(&format!("{base}/places")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.close().await.unwrap();
}

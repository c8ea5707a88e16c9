//! TestApp: the real router on a fresh database — a temp SQLite file, or a throwaway schema in
//! the PostgreSQL database named by LINLI_TEST_DATABASE_URL — loaded with the demo city.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use linli::app::{AppState, router};
use linli::config::{Config, ConfigArgs};
use linli::db::Db;
use tower::ServiceExt;

pub struct TestApp {
    pub st: AppState,
    pub router: Router,
    pub password: String,
    _dir: tempfile::TempDir,
}

pub async fn fresh_db(dir: &std::path::Path) -> (Db, Config) {
    let mut cfg = ConfigArgs::default().resolve().unwrap();
    cfg.data_dir = dir.to_path_buf();
    cfg.database_url = format!("sqlite://{}", dir.join("linli.db").display());
    cfg.secret_key = Some(linli::crypto::Keyring::generate_spec());
    // The object store under test: a local directory unless told otherwise (scripts/test runs
    // the file tests again against an S3-compatible server: s3://bucket/prefix). Each test
    // gets a prefix of its own there, as it gets a directory of its own here.
    if let Ok(url) = std::env::var("LINLI_TEST_OBJECT_STORE_URL") {
        cfg.object_store_url = Some(format!("{}/t_{}", url.trim_end_matches('/'), uuid::Uuid::now_v7().simple()));
    }
    let db = match std::env::var("LINLI_TEST_DATABASE_URL") {
        Ok(url) => {
            use std::str::FromStr;
            let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
            let admin = sqlx::PgPool::connect(&url).await.expect("test PostgreSQL reachable");
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
            admin.close().await;
            // The schema goes into the URL too, so that a second connection (another instance
            // of the app, the command line) reaches the same tables.
            let sep = if url.contains('?') { '&' } else { '?' };
            cfg.database_url = format!("{url}{sep}options[search_path]={schema}");
            let opts = sqlx::postgres::PgConnectOptions::from_str(&cfg.database_url).unwrap();
            Db::connect_pg(opts, 5, Arc::new(cfg.keyring().unwrap())).await.unwrap()
        }
        Err(_) => Db::connect(&cfg).await.unwrap(),
    };
    linli::app::migrate(&db).await.unwrap();
    (db, cfg)
}

impl TestApp {
    pub async fn new() -> TestApp {
        static LOG: std::sync::Once = std::sync::Once::new();
        LOG.call_once(|| {
            let _ = tracing_subscriber::fmt().with_env_filter("linli=warn").with_test_writer().try_init();
        });
        let dir = tempfile::tempdir().unwrap();
        let (db, cfg) = fresh_db(dir.path()).await;
        let password = "demo-Passw0rd-for-tests".to_string();
        linli::demo::load(&db, &password).await.unwrap();
        let keys = db.keys().clone();
        let files = Arc::new(linli::files::Files::open(&cfg).unwrap());
        let st = AppState { db, cfg: Arc::new(cfg), metrics: linli::ops::install_metrics(), keys, files };
        TestApp { router: router(st.clone()), st, password, _dir: dir }
    }

    /// Changes the configuration the app runs with (the router is rebuilt on the same database).
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut Config)) {
        let mut cfg = (*self.st.cfg).clone();
        change(&mut cfg);
        self.st.cfg = Arc::new(cfg);
        self.router = router(self.st.clone());
    }

    /// The test's directory (its SQLite file is `linli.db` there unless PostgreSQL is used).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec() }
    }

    pub fn anon(&self) -> Client<'_> {
        Client { app: self, cookie: None, csrf: String::new(), token: None }
    }

    /// Signs in through the real forms, enrolling a second factor where the role requires it.
    pub async fn login(&self, account: &str) -> Client<'_> {
        let mut c = self.anon();
        let r = c.post_form("/login", &[("account", account), ("password", &self.password)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login of {account} failed: {}", r.body);
        c.take_cookie(&r);
        if r.location() == "/login/totp" {
            let page = c.get("/login/totp").await;
            c.csrf = page.csrf();
            let secret = page.between("id=\"totp-secret\">", "<").expect("enrolment shows the secret");
            let code = linli::auth::totp::code_at(&secret, account, linli::auth::totp::now_secs());
            let r = c.post_form("/login/totp", &[("code", &code)]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "totp for {account}: {}", r.body);
            c.take_cookie(&r);
        }
        let home = c.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "home after login of {account}");
        c.csrf = home.csrf();
        c
    }

    pub async fn place_id(&self, name: &str) -> uuid::Uuid {
        let row: (uuid::Uuid,) = linli::read!(&self.st.db, |c| sqlx::query_as("SELECT id FROM places WHERE name = $1")
            .bind(name)
            .fetch_one(c)
            .await)
        .unwrap();
        row.0
    }

    pub async fn user_id(&self, account: &str) -> uuid::Uuid {
        let row: (uuid::Uuid,) =
            linli::read!(&self.st.db, |c| sqlx::query_as("SELECT id FROM users WHERE account = $1")
                .bind(account)
                .fetch_one(c)
                .await)
            .unwrap();
        row.0
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let row: (i64,) = linli::read!(&self.st.db, |c| sqlx::query_as(sql).fetch_one(c).await).unwrap();
        row.0
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The body as sent (files, spreadsheets).
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn location(&self) -> String {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }
    pub fn between(&self, start: &str, end: &str) -> Option<String> {
        let i = self.body.find(start)? + start.len();
        let j = self.body[i..].find(end)? + i;
        Some(self.body[i..j].to_string())
    }
    pub fn csrf(&self) -> String {
        self.between("name=\"_csrf\" value=\"", "\"").unwrap_or_default()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub struct Client<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
    pub csrf: String,
    pub token: Option<String>,
}

impl Client<'_> {
    pub fn take_cookie(&mut self, r: &Resp) {
        for v in r.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("linli_sid=") {
                let value = rest.split(';').next().unwrap();
                self.cookie = if value.is_empty() { None } else { Some(value.to_string()) };
            }
        }
    }

    fn builder(&self, method: Method, path: &str) -> axum::http::request::Builder {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(c) = &self.cookie {
            b = b.header(header::COOKIE, format!("linli_sid={c}"));
        }
        if let Some(t) = &self.token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.app.send(self.builder(Method::GET, path).body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if !self.csrf.is_empty() {
            all.push(("_csrf", &self.csrf));
        }
        let body = serde_urlencoded::to_string(&all).unwrap();
        let req = self
            .builder(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.app.send(req).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &str, extra: &[(&str, &str)]) -> Resp {
        let mut b = self.builder(method, path).header(header::CONTENT_TYPE, "application/json");
        if !self.csrf.is_empty() && self.token.is_none() {
            b = b.header("x-csrf-token", &self.csrf);
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        self.app.send(b.body(Body::from(body.to_string())).unwrap()).await
    }

    /// A multipart form as a browser sends it: text fields and files (field, file name, bytes).
    pub async fn post_multipart(&self, path: &str, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Resp {
        let boundary = "----linli-test-boundary-7d1f";
        let mut body: Vec<u8> = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        for (k, name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut b = self
            .builder(Method::POST, path)
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
        if !self.csrf.is_empty() {
            b = b.header("x-csrf-token", &self.csrf);
        }
        self.app.send(b.body(Body::from(body)).unwrap()).await
    }

    pub async fn raw(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut b = self.builder(method, path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.app.send(b.body(Body::from(body)).unwrap()).await
    }
}

/// Accounts of the demo city, one per role, used across the suite.
pub const ROLE_ACCOUNTS: &[(&str, &str)] = &[
    ("bureau_admin", "bureau"),
    ("system_admin", "sysadmin"),
    ("auditor", "auditor"),
    ("station_manager", "zhenhua.mgr"),
    ("social_worker", "wenbichen"),
    ("community_staff", "changmin"),
    ("grid_worker", "yongtai.grid"),
    ("department_handler", "paiwu"),
    ("partner_staff", "yanjun"),
    ("volunteer", "volunteer"),
];

/// `s` as a query-string value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

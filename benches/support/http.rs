//! The HTTP side of the benchmarks that drive a running `linli serve` (benches/requests.rs,
//! benches/ceiling.rs): a keep-alive client per worker, sign-in with the second factor a first
//! sign-in enrols, API tokens, and timed cells of N workers issuing requests back to back.

// Each benchmark uses the part it needs.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build_http()
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One prepared request: method, path, headers, body.
#[derive(Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Req {
        Req { method: Method::GET, path: path.into(), headers: Vec::new(), body: None }
    }
    pub fn form(path: impl Into<String>, pairs: &[(&str, &str)]) -> Req {
        let body = serde_urlencoded::to_string(pairs).expect("form encodes");
        Req {
            method: Method::POST,
            path: path.into(),
            headers: Vec::new(),
            body: Some(("application/x-www-form-urlencoded", body.into_bytes())),
        }
    }
    pub fn json(path: impl Into<String>, v: &serde_json::Value) -> Req {
        Req {
            method: Method::POST,
            path: path.into(),
            headers: Vec::new(),
            body: Some(("application/json", v.to_string().into_bytes())),
        }
    }
    pub fn with(mut self, name: header::HeaderName, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

pub async fn send(c: &HttpClient, base: &str, r: Req) -> anyhow::Result<Resp> {
    let mut b = Request::builder().method(r.method).uri(format!("{base}{}", r.path));
    for (k, v) in r.headers {
        b = b.header(k, v);
    }
    let body = match r.body {
        Some((ct, bytes)) => {
            b = b.header(header::CONTENT_TYPE, ct);
            Full::new(Bytes::from(bytes))
        }
        None => Full::new(Bytes::new()),
    };
    let res = c.request(b.body(body)?).await?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Resp { status: parts.status, headers: parts.headers, body })
}

/// A signed-in staff member: the session cookie and its CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

pub async fn login(c: &HttpClient, base: &str, account: &str, password: &str) -> anyhow::Result<Session> {
    let r = send(c, base, Req::form("/login", &[("account", account), ("password", password)])).await?;
    anyhow::ensure!(r.status == StatusCode::SEE_OTHER, "login of {account}: {} {}", r.status, r.text());
    let set = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("linli_sid="))
        .context("no session cookie")?;
    let mut cookie = set.split(';').next().unwrap_or_default().to_string();
    // Roles that need a second factor enrol one here, as a first sign-in on `linli serve` does.
    if r.headers.get(header::LOCATION).is_some_and(|l| l == "/login/totp") {
        let page = send(c, base, Req::get("/login/totp").with(header::COOKIE, &cookie)).await?.text();
        let csrf = between(&page, "name=\"_csrf\" value=\"", "\"").context("no _csrf on /login/totp")?;
        let secret = between(&page, "id=\"totp-secret\">", "<")
            .with_context(|| format!("{account} has a second factor already; the benchmark needs a fresh data set"))?;
        let code = linli::auth::totp::code_at(secret, account, linli::auth::totp::now_secs());
        let r =
            send(c, base, Req::form("/login/totp", &[("code", &code), ("_csrf", csrf)]).with(header::COOKIE, &cookie))
                .await?;
        anyhow::ensure!(r.status == StatusCode::SEE_OTHER, "second factor of {account}: {} {}", r.status, r.text());
        if let Some(set) = r
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("linli_sid="))
        {
            cookie = set.split(';').next().unwrap_or_default().to_string();
        }
    }
    let home = send(c, base, Req::get("/account").with(header::COOKIE, &cookie)).await?;
    let text = home.text();
    let csrf = between(&text, "name=\"_csrf\" value=\"", "\"").context("no _csrf on /account")?.to_string();
    Ok(Session { cookie, csrf })
}

pub async fn api_token(c: &HttpClient, base: &str, s: &Session) -> anyhow::Result<String> {
    let r = send(
        c,
        base,
        Req::form("/account/tokens", &[("name", "bench-requests"), ("_csrf", &s.csrf)]).with(header::COOKIE, &s.cookie),
    )
    .await?;
    let text = r.text();
    Ok(between(&text, "id=\"new-token\">", "<").context("could not create an API token")?.to_string())
}

// ---- cells ------------------------------------------------------------------------------------

pub struct Cell {
    pub op: String,
    pub conns: usize,
    pub ok: usize,
    pub errors: usize,
    pub secs: f64,
    pub ms: Vec<f64>,
    pub note: String,
}

impl Cell {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.secs
    }
    pub fn pct(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.ms.len() as f64 * p).ceil() as usize).clamp(1, self.ms.len()) - 1;
        self.ms[i]
    }
}

/// What one operation sends next (given the worker and its request count), and the answers that
/// count as success. `None` ends the worker (nothing left to do).
pub type Next = Arc<dyn Fn(usize, usize) -> Option<Req> + Send + Sync>;

pub struct Op {
    pub name: String,
    pub next: Next,
    pub ok: &'static [StatusCode],
}

/// Runs `conns` workers for `secs`; each has its own connection, opened before the clock starts.
/// Sends `first` untimed: true when the route answers as expected; false when the server has no
/// such route (its cells are recorded as "n/a"); an error for any other answer.
pub async fn route_present(
    c: &HttpClient,
    base: &str,
    op: &Op,
    first: Req,
    conns: &[usize],
    cells: &mut Vec<Cell>,
) -> anyhow::Result<bool> {
    let probe = send(c, base, first).await?;
    if op.ok.contains(&probe.status) {
        return Ok(true);
    }
    if matches!(probe.status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) {
        eprintln!("  {}: n/a (the server answers {})", op.name, probe.status);
        cells.extend(conns.iter().map(|&n| Cell {
            op: op.name.clone(),
            conns: n,
            ok: 0,
            errors: 0,
            secs: 1.0,
            ms: Vec::new(),
            note: "n/a: route absent".into(),
        }));
        return Ok(false);
    }
    bail!("{}: probe answered {} {}", op.name, probe.status, probe.text().chars().take(500).collect::<String>())
}

pub async fn run_cell(base: &str, op: &Op, conns: usize, secs: f64) -> anyhow::Result<Cell> {
    let start_gate = Arc::new(tokio::sync::Barrier::new(conns + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let ran_out = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut handles = Vec::new();
    for w in 0..conns {
        let (gate, stop, ran_out, first_error) =
            (start_gate.clone(), stop.clone(), ran_out.clone(), first_error.clone());
        let (base, next, ok) = (base.to_string(), op.next.clone(), op.ok);
        handles.push(tokio::spawn(async move {
            let c = client();
            let warm = send(&c, &base, Req::get("/healthz")).await;
            gate.wait().await;
            warm?;
            let mut lat = Vec::new();
            let (mut good, mut bad) = (0usize, 0usize);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let Some(req) = next(w, i) else {
                    ran_out.store(true, Ordering::Relaxed);
                    break;
                };
                i += 1;
                let t = Instant::now();
                let r = send(&c, &base, req).await;
                let took = t.elapsed();
                if stop.load(Ordering::Relaxed) {
                    break; // finished after the bell: not counted
                }
                match r {
                    Ok(r) if ok.contains(&r.status) => {
                        good += 1;
                        lat.push(took.as_secs_f64() * 1000.0);
                    }
                    Ok(r) => {
                        bad += 1;
                        let mut fe = first_error.lock().unwrap();
                        if fe.is_none() {
                            *fe = Some(format!("{} {}", r.status, r.text().chars().take(300).collect::<String>()));
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        let mut fe = first_error.lock().unwrap();
                        if fe.is_none() {
                            *fe = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            anyhow::Ok((lat, good, bad))
        }));
    }
    start_gate.wait().await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let mut ms = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for h in handles {
        let (lat, g, b) = h.await??;
        ms.extend(lat);
        ok += g;
        errors += b;
    }
    ms.sort_by(f64::total_cmp);
    let mut note = String::new();
    if ran_out.load(Ordering::Relaxed) {
        note.push_str("ran out of prepared work; ");
    }
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("  {} ×{conns}: first failure: {e}", op.name);
        note.push_str("see errors; ");
    }
    Ok(Cell { op: op.name.clone(), conns, ok, errors, secs, ms, note: note.trim_end_matches("; ").to_string() })
}

/// `tasks` workers calling `work` back to back for `secs`, each call timed: a ceiling measured
/// on the database directly, beside the HTTP cells of the same run.
pub async fn loop_cell<F, Fut>(op: &str, tasks: usize, secs: f64, work: F) -> anyhow::Result<Cell>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (stop, work) = (stop.clone(), work.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    work().await?;
                    if !stop.load(Ordering::Relaxed) {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                anyhow::Ok(lat)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let mut ms = Vec::new();
    for h in handles {
        ms.extend(h.await??);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Cell { op: op.into(), conns: tasks, ok: ms.len(), errors: 0, secs, ms, note: String::new() })
}

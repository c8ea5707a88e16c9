//! The listener on a real socket (`web::server::serve` on 127.0.0.1:0): a request head has a
//! deadline, the open connections have a cap under which a newcomer makes room by closing the
//! oldest idle one, a request in progress is never cut off (not to make room, not at
//! shutdown), and handlers see the client's address.

use std::net::SocketAddr;
use std::time::Duration;

use linli::web::server::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Client, TestApp};

/// Bound on every wait below. Reaching it means the server never closed or answered; nothing
/// here measures how long an answer took.
const HANG: Duration = Duration::from_secs(30);

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(app: &TestApp, limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app.router.clone(), limits, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, server }
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(HANG, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open: {}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: linli\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    read_to_close(&mut s).await
}

/// A write whose handler is running, waiting for the rest of its body: the head asks for
/// `100 Continue`, which the server sends once the handler reads the body.
struct HalfSent {
    stream: TcpStream,
    rest: Vec<u8>,
}

async fn half_sent_write(addr: SocketAddr, c: &Client<'_>, street: uuid::Uuid, name: &str) -> HalfSent {
    let body = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"{name}\"}}").into_bytes();
    let head = format!(
        "POST /api/v1/places HTTP/1.1\r\nHost: linli\r\nCookie: linli_sid={}\r\nX-CSRF-Token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        c.cookie.as_deref().unwrap(),
        c.csrf,
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(HANG, stream.read(&mut byte)).await.expect("100 Continue").unwrap();
        assert_eq!(n, 1, "closed before 100 Continue: {}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    assert!(got.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&got));
    HalfSent { stream, rest: body[10..].to_vec() }
}

impl HalfSent {
    async fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).await.unwrap();
        read_to_close(&mut self.stream).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_not_finished_in_time_is_cut_off() {
    let app = TestApp::new().await;
    let run = start(&app, Limits { header_timeout: Duration::from_millis(300), max_connections: 64 }).await;
    let mut slow = TcpStream::connect(run.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: linli\r\n").await.unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    // One that sends nothing at all goes too.
    let mut silent = TcpStream::connect(run.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    assert!(get(run.addr, "/healthz").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_stay() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;
    let run = start(&app, Limits { header_timeout: Duration::from_secs(600), max_connections: 4 }).await;
    // One connection with a request in progress, then three that never send a byte: the cap.
    let busy = half_sent_write(run.addr, &c, street, "连接上限社区").await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(run.addr).await.unwrap());
    }
    // A fifth client is served; the oldest idle connection was closed for it.
    assert!(get(run.addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert_eq!(read_to_close(&mut idle[0]).await, "");
    // Full again: the next newcomer closes the next oldest.
    idle.push(TcpStream::connect(run.addr).await.unwrap());
    assert!(get(run.addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert_eq!(read_to_close(&mut idle[1]).await, "");
    // The request in progress was never the one to go.
    let answer = busy.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // Its handler saw the client's address (the audit row records it).
    let ip: (String,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT ip FROM audit_log WHERE action = 'place.create' ORDER BY seq DESC LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(ip.0, "127.0.0.1");
    drop(run.stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_and_lets_requests_in_progress_finish() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;
    let run = start(&app, Limits { header_timeout: Duration::from_secs(600), max_connections: 64 }).await;
    let busy = half_sent_write(run.addr, &c, street, "停机社区").await;
    let mut idle = TcpStream::connect(run.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: linli\r\n\r\n").await.unwrap();
    let mut first = [0u8; 15];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");
    run.stop.send(()).unwrap();
    // The keep-alive connection, idle now, is closed; the write still gets its answer.
    let rest = read_to_close(&mut idle).await;
    assert!(!rest.contains("HTTP/1.1"), "{rest}");
    let answer = busy.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(HANG, run.server).await.expect("serve returned").unwrap().unwrap();
    assert!(TcpStream::connect(run.addr).await.is_err(), "no longer listening");
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '停机社区'").await, 1);
}

//! The HTTP listener. `axum::serve` waits for a request head as long as the client likes and
//! takes every connection it is offered, so clients that open connections and never finish a
//! head hold a file descriptor each until the process has none left (20,000 of them stopped
//! /healthz). Here a connection has `header_timeout` to send each request head — hyper's
//! header timer, which also closes keep-alive connections idle that long — and at most
//! `max_connections` are open: past that, a new connection takes the place of the oldest one
//! with no request in progress, so a real client still gets in while a flood holds the slots.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send a request head; also how long a keep-alive connection may
    /// stay idle.
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` until `shutdown` resolves; then stops accepting, closes idle connections and
/// lets requests in progress finish. Requests carry `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let open = Arc::new(Open::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(conn) = open.admit() else {
            // Every slot has a request in progress: turned away at once rather than queued.
            continue;
        };
        let (app, tracked) = (app.clone(), conn.clone());
        let service = hyper::service::service_fn(move |mut req: axum::http::Request<Incoming>| {
            let busy = tracked.busy();
            req.extensions_mut().insert(ConnectInfo(addr));
            let call = app.clone().oneshot(req.map(Body::new));
            async move {
                let res = call.await?;
                // hyper drops the body once it is written: the connection is busy until then.
                Ok::<_, Infallible>(res.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &busy;
                        frame
                    }))
                }))
            }
        });
        let served = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = served => {}
                () = conn.evict.notified() => {}
            }
            open.close(&conn);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    // The client gave up before we took the connection: nothing to do.
    if matches!(e.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused) {
        return;
    }
    // Out of descriptors or memory: give the process a moment rather than spinning.
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The open connections, oldest first.
struct Open {
    max: usize,
    conns: Mutex<(u64, BTreeMap<u64, Arc<Conn>>)>,
}

/// Set in `Conn::state` once the connection is being closed to make room.
const EVICTED: usize = 1 << (usize::BITS - 1);

struct Conn {
    id: u64,
    /// Requests in progress, plus `EVICTED`.
    state: AtomicUsize,
    evict: Notify,
}

struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.state.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Conn {
    fn busy(self: &Arc<Self>) -> Busy {
        self.state.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

impl Open {
    fn new(max: usize) -> Open {
        Open { max: max.max(1), conns: Mutex::new((0, BTreeMap::new())) }
    }

    /// A slot for a new connection, closing the oldest idle one if all are taken; `None` when
    /// every connection has a request in progress.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut guard = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let (next, conns) = &mut *guard;
        if conns.len() >= self.max {
            let idle = conns.iter().find_map(|(&id, c)| {
                c.state.compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire).is_ok().then_some(id)
            })?;
            if let Some(c) = conns.remove(&idle) {
                c.evict.notify_one();
            }
        }
        *next += 1;
        let conn = Arc::new(Conn { id: *next, state: AtomicUsize::new(0), evict: Notify::new() });
        conns.insert(conn.id, conn.clone());
        Some(conn)
    }

    fn close(&self, conn: &Conn) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).1.remove(&conn.id);
    }
}

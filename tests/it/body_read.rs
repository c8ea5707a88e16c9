//! Bodies are read before the overload queue: a body still on its way holds no slot, must
//! arrive within the body deadline (408), within its route's limit (Open311's is its own) and
//! within the process-wide budget of body bytes (503). Open311 keys outside the body are
//! checked before the body is read, and Open311's shed answers are in its error format.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use tokio::time::timeout;
use tower::ServiceExt;

use crate::harness::TestApp;
use crate::open311::api_key;

/// A body that sends `first` (if any) and then nothing, ever: a client trickling its body.
fn stalled(first: Option<Vec<u8>>) -> Body {
    use futures::StreamExt;
    let head = futures::stream::iter(first.map(|b| Ok::<_, Infallible>(Bytes::from(b))));
    Body::from_stream(head.chain(futures::stream::pending()))
}

/// Sends `req` in the background; the handle yields its status and body.
fn spawn(app: &TestApp, req: Request<Body>) -> tokio::task::JoinHandle<(StatusCode, axum::http::HeaderMap, String)> {
    let router = app.router.clone();
    tokio::spawn(async move {
        use http_body_util::BodyExt;
        let res = router.oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_still_on_their_way_hold_no_slot_and_are_cut_off_with_408() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.max_in_flight = 1;
        cfg.max_queued = 1;
        cfg.body_timeout = Duration::from_secs(2);
    });
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;

    // Three writes that send their head and part of the body, then nothing.
    let mut slow = Vec::new();
    for _ in 0..3 {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/places")
            .header(header::COOKIE, format!("linli_sid={}", c.cookie.as_deref().unwrap()))
            .header("x-csrf-token", &c.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "100")
            .body(stalled(Some(b"{\"parent_id\":".to_vec())))
            .unwrap();
        slow.push(spawn(&app, req));
    }
    let open311 = Request::builder()
        .method(Method::POST)
        .uri("/open311/v2/requests.xml")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(stalled(None))
        .unwrap();
    let slow_open311 = spawn(&app, open311);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // With the one slot and the one place in the queue free, reads and writes answer at once.
    for _ in 0..3 {
        let read = timeout(Duration::from_millis(1500), c.get("/api/v1/places?limit=5"))
            .await
            .expect("a read waited behind bodies still on their way");
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    }
    let json = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"慢客户端旁的社区\"}}");
    let write = timeout(Duration::from_millis(1500), c.send_json(Method::POST, "/api/v1/places", &json, &[]))
        .await
        .expect("a write waited behind bodies still on their way");
    assert_eq!(write.status, StatusCode::CREATED, "{}", write.body);

    // Past the deadline each slow one is answered 408, in its path's format, and its
    // connection is not kept for another request (the rest of its body was never read).
    for s in slow {
        let (status, headers, body) = timeout(Duration::from_secs(5), s).await.expect("no body deadline").unwrap();
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
        assert_eq!(headers[header::CONNECTION], "close");
        assert!(body.contains("\"code\""), "{body}");
    }
    let (status, _, body) = timeout(Duration::from_secs(5), slow_open311).await.expect("no body deadline").unwrap();
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(body.contains("<errors><error><code>408</code>"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open311_key_outside_the_body_is_checked_before_the_body_is_read() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    for (uri, header_key) in
        [("/open311/v2/requests.json?api_key=nope", None), ("/open311/v2/requests.json", Some("nope"))]
    {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
            .header(header::CONTENT_LENGTH, "5000000");
        if let Some(k) = header_key {
            req = req.header("x-api-key", k);
        }
        let res = timeout(Duration::from_secs(3), spawn(&app, req.body(stalled(None)).unwrap()))
            .await
            .expect("the body was waited for before the key was checked")
            .unwrap();
        assert_eq!(res.0, StatusCode::FORBIDDEN, "{}", res.2);
        let list: serde_json::Value = serde_json::from_str(&res.2).unwrap();
        assert_eq!(list[0]["code"], 403);
        assert_eq!(list[0]["description"], "api_key is invalid");
    }

    // A valid key in the query string or the header files the request; the body has none.
    let fields = [("service_code", "street_light"), ("address_string", "万城华府3号楼"), ("description", "路灯不亮")];
    let form = serde_html_form::to_string(fields).unwrap();
    let anon = app.anon();
    let r = anon
        .raw(
            Method::POST,
            &format!("/open311/v2/requests.json?api_key={key}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = anon
        .raw(
            Method::POST,
            "/open311/v2/requests.json",
            &[("content-type", "application/x-www-form-urlencoded"), ("x-api-key", &key)],
            form.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_posts_have_their_own_limit_and_bodies_share_a_budget() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.max_open311_bytes = 64 * 1024;
        cfg.max_body_bytes = 256 * 1024;
        cfg.max_import_bytes = 1024 * 1024;
        cfg.upload_budget_bytes = 1024 * 1024;
    });
    let key = api_key(&app).await;
    let anon = app.anon();

    // Over Open311's limit though well under an import's: 413 in Open311's format.
    let big = vec![b'a'; 100 * 1024];
    let body = [
        &b"--x\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"[..],
        &big,
        b"\r\n--x--\r\n",
    ]
    .concat();
    let r = anon
        .raw(
            Method::POST,
            &format!("/open311/v2/requests.json?api_key={key}"),
            &[("content-type", "multipart/form-data; boundary=x")],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert_eq!(r.json()[0]["code"], 413);

    // An import-sized body that has sent 990 KB and stalls holds 990 KB of the 1 MB budget.
    let c = app.login("bureau").await;
    let stalled_upload = Request::builder()
        .method(Method::POST)
        .uri("/people/import")
        .header(header::COOKIE, format!("linli_sid={}", c.cookie.as_deref().unwrap()))
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .header(header::CONTENT_LENGTH, (1000 * 1024).to_string())
        .body(stalled(Some(vec![b'a'; 990 * 1024])))
        .unwrap();
    let holding = spawn(&app, stalled_upload);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Another body that cannot fit is refused at once, before it is sent: 503 with
    // Retry-After, Open311's error list under /open311/.
    let fields = [("service_code", "street_light"), ("address_string", "万城华府3号楼"), ("description", "路灯不亮")];
    let mut form = serde_html_form::to_string(fields).unwrap();
    form.push_str(&"&x=".repeat(16 * 1024));
    let r = anon
        .raw(
            Method::POST,
            &format!("/open311/v2/requests.json?api_key={key}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(r.json()[0]["code"], 503);
    let r = c.send_json(Method::POST, "/api/v1/places", &"x".repeat(200 * 1024), &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.json()["code"], "overloaded");

    // A small one still fits; and once the stalled upload is gone, so does the budget.
    let r = anon.get("/open311/v2/services.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let street = app.place_id("武定街道").await;
    let json = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"预算内的社区\"}}");
    assert_eq!(c.send_json(Method::POST, "/api/v1/places", &json, &[]).await.status, StatusCode::CREATED);
    holding.abort();
    let _ = holding.await;
    let r = c.send_json(Method::POST, "/api/v1/places", &"x".repeat(200 * 1024), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// One client address holds at most its share of the budget: a few slow large bodies from one
/// address turn away that address's further posts, not everyone's.
#[tokio::test]
async fn one_address_holds_only_its_share_of_the_upload_budget() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.trusted_proxies = 1;
        cfg.max_body_bytes = 256 * 1024;
        cfg.max_import_bytes = 1024 * 1024;
        cfg.upload_budget_bytes = 8 * 1024 * 1024;
    });
    let c = app.login("bureau").await;
    let cookie = format!("linli_sid={}", c.cookie.as_deref().unwrap());
    let stalled_from = |addr: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/people/import")
            .header(header::COOKIE, cookie.clone())
            .header("x-forwarded-for", addr)
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
            .header(header::CONTENT_LENGTH, (1000 * 1024).to_string())
            .body(stalled(Some(vec![b'a'; 990 * 1024])))
            .unwrap()
    };
    let holding = spawn(&app, stalled_from("203.0.113.7"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let post_from = |addr: &'static str| {
        let c = &c;
        async move {
            c.send_json(Method::POST, "/api/v1/places", &"x".repeat(100 * 1024), &[("x-forwarded-for", addr)])
                .await
                .status
        }
    };
    assert_eq!(post_from("203.0.113.7").await, StatusCode::SERVICE_UNAVAILABLE, "the address's share is held");
    assert_eq!(post_from("203.0.113.8").await, StatusCode::BAD_REQUEST, "another address still posts (bad JSON: 400)");
    holding.abort();
    let _ = holding.await;
    assert_eq!(post_from("203.0.113.7").await, StatusCode::BAD_REQUEST, "given back when the upload ends");
}

use axum::http::StatusCode;

use crate::harness::{Client, TestApp};

#[tokio::test]
async fn login_sets_a_safe_cookie_and_logout_ends_the_session() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let r = anon.post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let c = app.login("wenbichen").await;
    let old_cookie = c.cookie.clone();
    let r = c.post_form("/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The old cookie no longer works anywhere.
    let mut stale = app.anon();
    stale.cookie = old_cookie;
    assert_eq!(stale.get("/").await.location(), "/login");
    assert_eq!(stale.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn each_login_gets_a_new_session_id() {
    let app = TestApp::new().await;
    let a = app.login("wenbichen").await;
    let b = app.login("wenbichen").await;
    assert_ne!(a.cookie, b.cookie);
    // Signing in again from a signed-in browser replaces its session.
    let mut again = app.login("wenbichen").await;
    let old = again.cookie.clone();
    let r = again.post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
    again.take_cookie(&r);
    assert_ne!(again.cookie, old);
    let mut stale = app.anon();
    stale.cookie = old;
    assert_eq!(stale.get("/").await.location(), "/login");
    assert_eq!(again.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_the_same() {
    let app = TestApp::new().await;
    let c = app.anon();
    let wrong = c.post_form("/login", &[("account", "wenbichen"), ("password", "not the password!")]).await;
    let unknown = c.post_form("/login", &[("account", "nobody-here"), ("password", "not the password!")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.between("id=\"login-error\">", "<"), unknown.between("id=\"login-error\">", "<"));
    assert!(wrong.between("id=\"login-error\">", "<").is_some());
}

#[tokio::test]
async fn five_failures_lock_the_account_for_fifteen_minutes_known_or_not() {
    let app = TestApp::new().await;
    let c = app.anon();
    for account in ["wenbichen", "ghost-account"] {
        for i in 0..5 {
            let r = c.post_form("/login", &[("account", account), ("password", "wrong password here")]).await;
            let expected = if i < 4 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
            assert_eq!(r.status, expected, "{account} attempt {i}");
        }
        // Even the right password is refused while locked.
        let r = c.post_form("/login", &[("account", account), ("password", &app.password)]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{account} locked");
        assert!(r.body.contains("15"), "message names the lock time");
        assert!(r.headers.get("retry-after").is_some(), "a 429 says when to come back");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.lockout'").await, 2);
    // Another account is unaffected.
    app.login("leizeyu").await;
}

#[tokio::test]
async fn address_rate_limit_answers_429() {
    let app = TestApp::new().await;
    let c = app.anon();
    // Successful sign-ins do not count: a whole office behind one address can sign in.
    for _ in 0..35 {
        let r = c.post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    let mut statuses = Vec::new();
    // 65 failures span at most two one-minute windows, so one of them exceeds 30.
    for i in 0..65 {
        let r = c.post_form("/login", &[("account", &format!("user{i}")), ("password", "whatever-password")]).await;
        statuses.push(r.status);
    }
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(limited >= 5, "{statuses:?}");
    // One row per address and window, not one per refusal (two windows at most here).
    let rows = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.rate_limited'").await;
    assert!((1..=2).contains(&rows), "{rows}");
}

/// A brute force refused by the address limit writes one audit row for the window, not one
/// per refused attempt; a role hammering a forbidden route writes a capped number of rows.
#[tokio::test]
async fn refused_floods_write_one_audit_row_a_window_not_one_a_refusal() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| cfg.login_rate_per_minute = 3);
    // Signed in before the flood fills this address's window.
    let worker = app.login("wenbichen").await;
    fresh_minute_window().await;
    let c = app.anon();
    let mut limited = 0;
    for i in 0..53 {
        let r = c.post_form("/login", &[("account", &format!("user{i}")), ("password", "whatever-password")]).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert_eq!(limited, 50);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.rate_limited'").await, 1);

    fresh_minute_window().await;
    for _ in 0..30 {
        assert_eq!(worker.get("/audit").await.status, StatusCode::FORBIDDEN);
    }
    let denied = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'").await;
    assert_eq!(denied, i64::from(linli::app::DENIALS_AUDITED_PER_MINUTE), "capped per account and minute");
}

#[tokio::test]
async fn admins_must_enrol_a_second_factor_and_codes_cannot_be_replayed() {
    let app = TestApp::new().await;
    let mut c = app.anon();
    let r = c.post_form("/login", &[("account", "bureau"), ("password", &app.password)]).await;
    assert_eq!(r.location(), "/login/totp");
    c.take_cookie(&r);
    // Half-signed-in: no page but the second factor.
    assert_eq!(c.get("/places").await.location(), "/login/totp");
    assert_eq!(c.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let page = c.get("/login/totp").await;
    c.csrf = page.csrf();
    let secret = page.between("id=\"totp-secret\">", "<").unwrap();
    let bad = c.post_form("/login/totp", &[("code", "000000")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stored: (String,) =
        linli::read!(&app.st.db, |conn| sqlx::query_as("SELECT totp_secret FROM users WHERE account = 'bureau'")
            .fetch_one(conn)
            .await)
        .unwrap();
    assert!(stored.0.starts_with("k1:") && !stored.0.contains(&secret), "the secret is stored sealed");
    let code = linli::auth::totp::code_at(&secret, "bureau", linli::auth::totp::now_secs());
    let ok = c.post_form("/login/totp", &[("code", &code)]).await;
    assert_eq!(ok.location(), "/");
    // Next login asks for a code; the one just used is refused.
    let mut d = app.anon();
    let r = d.post_form("/login", &[("account", "bureau"), ("password", &app.password)]).await;
    d.take_cookie(&r);
    let page = d.get("/login/totp").await;
    assert!(!page.body.contains("totp-secret"), "secret is not shown again");
    d.csrf = page.csrf();
    let replay = d.post_form("/login/totp", &[("code", &code)]).await;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_at_once() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    assert_eq!(worker.get("/places").await.status, StatusCode::OK);
    let admin = app.login("bureau").await;
    let id = app.user_id("wenbichen").await;
    let r = admin.post_form(&format!("/staff/{id}/disabled"), &[("disabled", "true")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(worker.get("/places").await.location(), "/login");
    let again = app.anon().post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(31);
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |conn| sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(past)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(c.get("/").await.location(), "/login");
}

#[tokio::test]
async fn reset_password_forces_a_change_that_follows_the_policy() {
    let app = TestApp::new().await;
    let admin = app.login("bureau").await;
    let id = app.user_id("hanjianwei").await;
    let r = admin.post_form(&format!("/staff/{id}/reset-password"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let otp = r.between("id=\"one-time-password\">", "<").unwrap();
    let mut c = app.anon();
    let r = c.post_form("/login", &[("account", "hanjianwei"), ("password", &otp)]).await;
    c.take_cookie(&r);
    assert_eq!(c.get("/places").await.location(), "/account/password");
    let page = c.get("/account/password").await;
    c.csrf = page.csrf();
    let weak = c
        .post_form(
            "/account/password",
            &[("current", &otp), ("new_password", "password123456"), ("confirm", "password123456")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let named = c
        .post_form(
            "/account/password",
            &[("current", &otp), ("new_password", "hanjianwei-is-me-2026"), ("confirm", "hanjianwei-is-me-2026")],
        )
        .await;
    assert_eq!(named.status, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "长城长江黄河泰山".repeat(8);
    let ok = c.post_form("/account/password", &[("current", &otp), ("new_password", &long), ("confirm", &long)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(c.get("/places").await.status, StatusCode::OK);
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked_and_are_stored_hashed() {
    let app = TestApp::new().await;
    let c = app.login("zhenhua.mgr").await;
    let r = c.post_form("/account/tokens", &[("name", "手机端")]).await;
    let token = r.between("id=\"new-token\">", "<").unwrap();
    assert!(token.starts_with("linli_"));
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{token}'")).await,
        0,
        "never stored in clear"
    );
    let mut api = app.anon();
    api.token = Some(token.clone());
    let me = api.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["role"], "station_manager");
    let id = api.get("/account").await;
    assert_eq!(id.status, StatusCode::OK);
    let tid: (uuid::Uuid,) =
        linli::read!(&app.st.db, |conn| sqlx::query_as("SELECT id FROM api_tokens").fetch_one(conn).await).unwrap();
    c.post_form(&format!("/account/tokens/{}/revoke", tid.0), &[]).await;
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    let mut forged = app.anon();
    forged.token = Some("linli_forged".into());
    let r = forged.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "unauthenticated");
}

#[tokio::test]
async fn language_switch_is_kept_per_user() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    assert!(c.get("/places").await.body.contains("区划网格"));
    let r = c.post_form("/locale", &[("lang", "en"), ("back", "/places")]).await;
    assert_eq!(r.location(), "/places");
    assert!(c.get("/places").await.body.contains("lang=\"en\""));
    // A new session of the same user keeps English.
    let d = app.login("wenbichen").await;
    assert!(d.get("/").await.body.contains("lang=\"en\""));
    // Open redirects are refused.
    let r = c.post_form("/locale", &[("lang", "zh-CN"), ("back", "//evil.example")]).await;
    assert_eq!(r.location(), "/");
}

#[tokio::test]
async fn csrf_token_and_origin_are_required_for_changes() {
    let app = TestApp::new().await;
    let mut c = app.login("bureau").await;
    let good = c.csrf.clone();
    c.csrf = "wrong".into();
    let r = c.post_form("/places", &[("kind", "grid"), ("name", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    c.csrf = good;
    let r = c
        .raw(
            axum::http::Method::POST,
            "/locale",
            &[("origin", "https://evil.example"), ("content-type", "application/x-www-form-urlencoded")],
            format!("lang=en&_csrf={}", c.csrf).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = c
        .raw(
            axum::http::Method::POST,
            "/locale",
            &[("sec-fetch-site", "cross-site"), ("content-type", "application/x-www-form-urlencoded")],
            format!("lang=en&_csrf={}", c.csrf).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A reset password means the account may be in the wrong hands: its API tokens stop with its
/// sessions, in the reset's own transaction, and the audit row says how many.
#[tokio::test]
async fn a_password_reset_revokes_the_accounts_api_tokens() {
    let app = TestApp::new().await;
    let c = app.login("hanjianwei").await;
    let token = c.post_form("/account/tokens", &[("name", "手机端")]).await.between("id=\"new-token\">", "<").unwrap();
    let mut api = app.anon();
    api.token = Some(token);
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::OK);
    let admin = app.login("bureau").await;
    let id = app.user_id("hanjianwei").await;
    assert_eq!(admin.post_form(&format!("/staff/{id}/reset-password"), &[]).await.status, StatusCode::OK);
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL").await, 0);
    let detail: (String,) = linli::read!(&app.st.db, |conn| sqlx::query_as(
        "SELECT detail FROM audit_log WHERE action = 'staff.reset_password'"
    )
    .fetch_one(conn)
    .await)
    .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&detail.0).unwrap()["api_tokens_revoked"], 1);
}

/// Changing one's own password is what a user does who fears it is known: the API tokens made
/// with the old one stop at once (a token is a password of its own), and so do the account's
/// other sessions; the session that changed it stays signed in.
#[tokio::test]
async fn an_own_password_change_revokes_the_accounts_api_tokens_and_other_sessions() {
    let app = TestApp::new().await;
    let c = app.login("hanjianwei").await;
    let other = app.login("hanjianwei").await;
    let token = c.post_form("/account/tokens", &[("name", "手机端")]).await.between("id=\"new-token\">", "<").unwrap();
    let mut api = app.anon();
    api.token = Some(token);
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::OK, "the token works before");
    let new = "另一个很长的新密码-Passw0rd";
    let r =
        c.post_form("/account/password", &[("current", &app.password), ("new_password", new), ("confirm", new)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(api.get("/api/v1/me").await.status, StatusCode::UNAUTHORIZED, "the token stops after");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL").await, 0);
    assert_eq!(other.get("/places").await.status, StatusCode::SEE_OTHER, "the other session ended");
    assert_eq!(c.get("/places").await.status, StatusCode::OK, "this session stays");
    let detail: (String,) = linli::read!(&app.st.db, |conn| sqlx::query_as(
        "SELECT detail FROM audit_log WHERE action = 'password.change'"
    )
    .fetch_one(conn)
    .await)
    .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&detail.0).unwrap()["api_tokens_revoked"], 1);
}

/// Waits out the end of the current one-minute rate-limit window when little of it is left, so
/// that a burst of attempts lands in one window (the limits count per fixed minute).
async fn fresh_minute_window() {
    let into = chrono::Utc::now().timestamp().rem_euclid(60);
    if into > 40 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - into) as u64)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_guesses_at_one_account_check_no_more_passwords_than_the_lockout_allows() {
    let app = TestApp::new().await;
    let c = app.anon();
    let guesses =
        (0..40).map(|i| {
            let c = &c;
            async move {
                c.post_form("/login", &[("account", "wenbichen"), ("password", &format!("guess number {i}"))]).await
            }
        });
    let answers = futures::future::join_all(guesses).await;
    let wrong = answers.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    let locked = answers.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(wrong + locked, 40, "every guess is refused one way or the other");
    // Each password actually verified and found wrong leaves one audit row.
    let checked = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure'").await;
    assert!(
        checked <= i64::from(linli::auth::login::MAX_FAILURES),
        "{checked} passwords checked, {wrong} answered wrong"
    );
    assert!(wrong < linli::auth::login::MAX_FAILURES as usize, "{wrong} answered wrong");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.lockout'").await, 1);
    let r = c.post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the account is locked, right password or not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_parallel_guesses_from_one_address_check_no_more_than_its_limit() {
    let app = TestApp::new().await;
    let c = app.anon();
    fresh_minute_window().await;
    // A different account each time: the per-account lockout plays no part.
    let guesses =
        (0..60).map(|i| {
            let c = &c;
            async move {
                c.post_form("/login", &[("account", &format!("guess{i}")), ("password", "a wrong password")]).await
            }
        });
    let answers = futures::future::join_all(guesses).await;
    let wrong = answers.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    let limited = answers.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(wrong + limited, 60);
    let checked = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure'").await;
    let limit = app.st.cfg.login_rate_per_minute;
    assert!(checked <= i64::from(limit) && wrong <= limit as usize, "{checked} checked, {wrong} wrong, limit {limit}");
}

#[tokio::test]
async fn a_right_password_between_wrong_ones_resets_the_count_and_uses_no_address_slot() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| cfg.login_rate_per_minute = 7);
    fresh_minute_window().await;
    let c = app.anon();
    for round in 0..2 {
        for i in 0..3 {
            let r = c.post_form("/login", &[("account", "wenbichen"), ("password", "wrong password here")]).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "round {round}, attempt {i}");
        }
        let r = c.post_form("/login", &[("account", "wenbichen"), ("password", &app.password)]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "round {round}: three failures do not lock");
    }
    // Six failures and two successes from one address: the successes took no slot of seven.
    let r = c.post_form("/login", &[("account", "someone-else"), ("password", "wrong password here")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the seventh slot");
    let r = c.post_form("/login", &[("account", "someone-else"), ("password", "wrong password here")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_second_factor_code_sent_twice_at_once_signs_in_once() {
    let app = TestApp::new().await;
    app.login("bureau").await;
    let sealed: (String,) =
        linli::read!(&app.st.db, |conn| sqlx::query_as("SELECT totp_secret FROM users WHERE account = 'bureau'")
            .fetch_one(conn)
            .await)
        .unwrap();
    let secret = app.st.keys.open_text(&sealed.0).unwrap();
    let mut pending = Vec::new();
    for _ in 0..2 {
        let mut c = app.anon();
        let r = c.post_form("/login", &[("account", "bureau"), ("password", &app.password)]).await;
        assert_eq!(r.location(), "/login/totp");
        c.take_cookie(&r);
        c.csrf = c.get("/login/totp").await.csrf();
        pending.push(c);
    }
    // The next step's code: the one enrolment used is spent, and one step of drift is allowed.
    let code = linli::auth::totp::code_at(&secret, "bureau", linli::auth::totp::now_secs() + linli::auth::totp::STEP);
    let fields = [("code", code.as_str())];
    let answers = futures::future::join_all(pending.iter().map(|c| c.post_form("/login/totp", &fields))).await;
    let signed_in = answers.iter().filter(|r| r.status == StatusCode::SEE_OTHER && r.location() == "/").count();
    assert_eq!(signed_in, 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
}

/// A sign-in with a wrong password, through a proxy that wrote `xff`.
async fn wrong_password_through_a_proxy(c: &Client<'_>, account: String, xff: String) -> StatusCode {
    let body = format!("account={account}&password=a+wrong+password");
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("x-forwarded-for", xff.as_str())];
    c.raw(axum::http::Method::POST, "/login", &headers, body.into_bytes()).await.status
}

#[tokio::test]
async fn rotating_the_left_of_x_forwarded_for_does_not_escape_the_address_limit() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.trusted_proxies = 1;
        cfg.login_rate_per_minute = 5;
    });
    fresh_minute_window().await;
    let c = app.anon();
    let attempt = |account: String, xff: String| wrong_password_through_a_proxy(&c, account, xff);
    // The client writes whatever it likes on the left; the proxy appends the address it saw.
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(attempt(format!("guess{i}"), format!("10.9.{i}.1, 203.0.113.7")).await);
    }
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(wrong, 5, "{statuses:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure' AND ip = '203.0.113.7'").await,
        5,
        "failures are filed under the address the proxy saw"
    );
    // Another client behind the same proxy has a window of its own.
    assert_eq!(attempt("other".into(), "203.0.113.8".into()).await, StatusCode::UNAUTHORIZED);
}

/// An IPv6 client holds a whole /64: walking its addresses does not give it new windows, while
/// a client of another /64 keeps its own.
#[tokio::test]
async fn walking_the_addresses_of_one_ipv6_network_does_not_escape_the_address_limit() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.trusted_proxies = 1;
        cfg.login_rate_per_minute = 5;
    });
    fresh_minute_window().await;
    let c = app.anon();
    let attempt = |account: String, xff: String| wrong_password_through_a_proxy(&c, account, xff);
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(attempt(format!("guess{i}"), format!("2001:db8:7:7:{i:x}::1")).await);
    }
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(wrong, 5, "{statuses:?}");
    assert_eq!(attempt("other".into(), "2001:db8:7:8::1".into()).await, StatusCode::UNAUTHORIZED);
}

/// A byte that is not text in the client's own part of X-Forwarded-For does not send the
/// request to the proxy's address: each client keeps its own window (before, such headers were
/// ignored whole, so every client sending one shared one bucket, and escaped their own).
#[tokio::test]
async fn a_byte_that_is_not_text_in_x_forwarded_for_keeps_each_client_in_its_own_window() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.trusted_proxies = 1;
        cfg.login_rate_per_minute = 5;
    });
    fresh_minute_window().await;
    let attempt = |account: String, xff: Vec<u8>| {
        let app = &app;
        async move {
            let req = axum::http::Request::builder()
                .method(axum::http::Method::POST)
                .uri("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-for", axum::http::HeaderValue::from_bytes(&xff).unwrap())
                .body(axum::body::Body::from(format!("account={account}&password=a+wrong+password")))
                .unwrap();
            app.send(req).await.status
        }
    };
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses.push(attempt(format!("guess{i}"), b"\xff\xfe, 203.0.113.7".to_vec()).await);
    }
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(wrong, 5, "{statuses:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure' AND ip = '203.0.113.7'").await,
        5,
        "failures are filed under the address the proxy saw"
    );
    assert_eq!(
        attempt("other".into(), b"\xc3\x28, 203.0.113.8".to_vec()).await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy has a window of its own"
    );
}

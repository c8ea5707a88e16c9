//! Login, second factor, logout, language, and the user's own account page.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{Caller, RequestInfo, login, password, session, tokens, totp};
use crate::audit::{self, Entry};
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;
use crate::web::extract::{Id, PageForm};
use crate::web::render::{Ctx, page, page_with_status};
use crate::web::{Access, AppState, RouteDef, r};
use crate::{read, write};

pub fn routes() -> Vec<RouteDef> {
    use axum::http::Method;
    vec![
        r(Method::GET, "/login", Access::Public, login_form),
        r(Method::POST, "/login", Access::Public, login_submit),
        r(Method::GET, "/login/totp", Access::Public, totp_form),
        r(Method::POST, "/login/totp", Access::Public, totp_submit),
        r(Method::POST, "/logout", Access::Public, logout),
        r(Method::POST, "/locale", Access::Public, set_locale),
        r(Method::GET, "/account", Access::Signed, account),
        r(Method::GET, "/account/password", Access::Signed, password_form),
        r(Method::POST, "/account/password", Access::Signed, password_submit),
        r(Method::POST, "/account/totp", Access::Signed, totp_enroll_start),
        r(Method::POST, "/account/tokens", Access::Signed, token_create),
        r(Method::POST, "/account/tokens/{id}/revoke", Access::Signed, token_revoke),
    ]
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: Ctx,
    account: String,
    error: Option<String>,
}

async fn login_form(State(st): State<AppState>, caller: Option<Caller>, info: RequestInfo) -> Response {
    if caller.is_some() {
        return Redirect::to("/").into_response();
    }
    let ctx = Ctx::new(st.cfg.demo, None, Some(&info), "/login", "login.title");
    page(&LoginPage { ctx, account: String::new(), error: None })
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    password: String,
}

fn with_cookie(mut res: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn login_submit(
    State(st): State<AppState>,
    current: Option<Caller>,
    info: RequestInfo,
    headers: axum::http::HeaderMap,
    PageForm(f): PageForm<LoginForm>,
) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, None, Some(&info), "/login", "login.title");
    let tr = ctx.tr;
    let account = f.account.chars().take(64).collect::<String>();
    let outcome = match login::attempt(&st, &f.account, &f.password, &info.ip).await {
        Err(AppError::TooMany) => {
            let view = LoginPage { ctx, account, error: Some(tr.t("login.too_many").to_string()) };
            return Ok(page_with_status(&view, StatusCode::TOO_MANY_REQUESTS));
        }
        other => other?,
    };
    match outcome {
        login::Outcome::Accepted { user_id, stage } => {
            // The language picked on the login page is the user's latest choice: it becomes
            // the account's, or the account's older one would replace it at sign-in.
            if let Some(lang) = crate::web::cookie(&headers, "linli_lang").and_then(|v| Lang::parse(&v)) {
                save_locale(&st, user_id, lang).await?;
            }
            // Any session this browser had ends here; the new one gets a fresh id.
            if let Some(p) = &info.pending {
                session::destroy(&st, &p.session.id).await?;
            }
            if let Some(s) = current.as_ref().and_then(|c| c.session.as_ref()) {
                session::destroy(&st, &s.id).await?;
            }
            let (token, _) = session::create(&st, user_id, stage, &info.ip).await?;
            let to = if stage == "full" { "/" } else { "/login/totp" };
            Ok(with_cookie(Redirect::to(to).into_response(), &session::cookie_header(&st, &token)))
        }
        login::Outcome::Rejected => {
            let view = LoginPage { ctx, account, error: Some(tr.t("login.failed").to_string()) };
            Ok(page_with_status(&view, StatusCode::UNAUTHORIZED))
        }
        login::Outcome::Locked => {
            let view = LoginPage { ctx, account, error: Some(tr.f("login.locked", &[&login::LOCK_MINUTES])) };
            Ok(page_with_status(&view, StatusCode::TOO_MANY_REQUESTS))
        }
    }
}

#[derive(Template)]
#[template(path = "auth/totp.html")]
struct TotpPage {
    ctx: Ctx,
    enroll: bool,
    secret: String,
    otpauth: String,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    account: String,
    totp_secret: Option<String>,
    totp_enabled: bool,
    totp_last_step: i64,
}

/// The account's second-factor state, its secret unsealed (it is stored encrypted).
async fn totp_row(st: &AppState, user_id: Uuid) -> AppResult<TotpRow> {
    let mut row: TotpRow = read!(&st.db, |c| {
        sqlx::query_as("SELECT account, totp_secret, totp_enabled, totp_last_step FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await
    })?;
    if let Some(sealed) = row.totp_secret.take() {
        row.totp_secret = Some(String::from_utf8(st.keys.open(&sealed)?).map_err(anyhow::Error::from)?);
    }
    Ok(row)
}

/// Gives the account a secret to enrol with, keeping an unconfirmed one across reloads.
async fn ensure_secret(st: &AppState, user_id: Uuid, row: &TotpRow) -> AppResult<String> {
    if let Some(s) = &row.totp_secret {
        return Ok(s.clone());
    }
    let secret = totp::new_secret();
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2 AND NOT totp_enabled")
        .bind(st.keys.seal(secret.as_bytes()))
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(secret)
}

async fn totp_view(
    st: &AppState,
    info: &RequestInfo,
    p: &session::Pending,
    error: Option<&str>,
) -> AppResult<TotpPage> {
    let ctx = Ctx::new(st.cfg.demo, None, Some(info), "/login/totp", "totp.title");
    let row = totp_row(st, p.user_id).await?;
    let enroll = p.stage == "enroll";
    let (secret, otpauth) = if enroll {
        let s = ensure_secret(st, p.user_id, &row).await?;
        let url = totp::url(&s, &row.account);
        (s, url)
    } else {
        (String::new(), String::new())
    };
    let error = error.map(|e| ctx.tr.t(e).to_string());
    Ok(TotpPage { ctx, enroll, secret, otpauth, error })
}

async fn totp_form(State(st): State<AppState>, info: RequestInfo) -> AppResult<Response> {
    let Some(p) = info.pending.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    Ok(page(&totp_view(&st, &info, &p, None).await?))
}

#[derive(Deserialize)]
struct TotpForm {
    #[serde(default)]
    code: String,
}

async fn totp_submit(
    State(st): State<AppState>,
    info: RequestInfo,
    PageForm(f): PageForm<TotpForm>,
) -> AppResult<Response> {
    let Some(p) = info.pending.clone() else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !crate::ratelimit::hit(&st.db, &format!("totp:{}", p.user_id), 10, 300).await? {
        return Ok(page_with_status(
            &totp_view(&st, &info, &p, Some("login.too_many")).await?,
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let row = totp_row(&st, p.user_id).await?;
    let Some(secret) = row.totp_secret.clone() else {
        return Ok(page_with_status(
            &totp_view(&st, &info, &p, Some("totp.wrong")).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let actor = crate::audit::Actor { id: Some(p.user_id), name: row.account.clone(), ip: info.ip.clone() };
    let Some(step) = totp::verify(&secret, &row.account, &f.code, row.totp_last_step, totp::now_secs()) else {
        audit::record_alone(
            &st.db,
            &actor,
            Entry {
                action: "login.totp_failure",
                entity: "user",
                entity_id: Some(p.user_id.to_string()),
                detail: serde_json::Value::Null,
            },
        )
        .await?;
        return Ok(page_with_status(
            &totp_view(&st, &info, &p, Some("totp.wrong")).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let mut tx = st.db.begin().await?;
    // The step is taken only if no other request took it (or a later one) since the row was
    // read: the same code sent twice at once signs in once.
    let taken = write!(&mut tx, |c| {
        sqlx::query("UPDATE users SET totp_enabled = TRUE, totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(p.user_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if taken == 0 {
        drop(tx);
        return Ok(page_with_status(
            &totp_view(&st, &info, &p, Some("totp.wrong")).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    write!(&mut tx, |c| {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(&p.session.id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        &actor,
        Entry {
            action: if row.totp_enabled { "login.success" } else { "login.totp_enrolled" },
            entity: "user",
            entity_id: Some(p.user_id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    // The fully signed-in session gets a new id again.
    let (token, _) = session::create(&st, p.user_id, "full", &info.ip).await?;
    Ok(with_cookie(Redirect::to("/").into_response(), &session::cookie_header(&st, &token)))
}

async fn logout(State(st): State<AppState>, caller: Option<Caller>, info: RequestInfo) -> AppResult<Response> {
    if let Some(c) = &caller {
        if let Some(s) = &c.session {
            session::destroy(&st, &s.id).await?;
        }
        audit::record_alone(
            &st.db,
            &c.actor(),
            Entry {
                action: "logout",
                entity: "user",
                entity_id: Some(c.user_id.to_string()),
                detail: serde_json::Value::Null,
            },
        )
        .await?;
    } else if let Some(p) = &info.pending {
        session::destroy(&st, &p.session.id).await?;
    }
    Ok(with_cookie(Redirect::to("/login").into_response(), &session::clear_cookie_header(&st)))
}

#[derive(Deserialize)]
struct LocaleForm {
    #[serde(default)]
    lang: String,
    #[serde(default)]
    back: String,
}

async fn set_locale(
    State(st): State<AppState>,
    caller: Option<Caller>,
    PageForm(f): PageForm<LocaleForm>,
) -> AppResult<Response> {
    let lang = Lang::parse(&f.lang).ok_or(AppError::bad("error.bad_choice"))?;
    if let Some(c) = &caller {
        save_locale(&st, c.user_id, lang).await?;
    }
    // The browser sends the path it shows, base path included, which `web::base_path` adds
    // to the redirect again.
    let back = match f.back.strip_prefix(st.cfg.base_path.as_str()) {
        Some(rest) if !st.cfg.base_path.is_empty() && rest.starts_with('/') => rest.to_string(),
        _ => f.back,
    };
    // Only local paths: never an open redirect.
    let back = if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') { back } else { "/".into() };
    let cookie = format!("linli_lang={}; Path=/; SameSite=Lax; Max-Age=31536000", lang.code());
    Ok(with_cookie(Redirect::to(&back).into_response(), &cookie))
}

async fn save_locale(st: &AppState, user_id: Uuid, lang: Lang) -> AppResult<()> {
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |conn| sqlx::query("UPDATE users SET locale = $1 WHERE id = $2 AND locale <> $1")
        .bind(lang.code())
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "auth/account.html")]
struct AccountPage {
    ctx: Ctx,
    account: String,
    role_label: String,
    totp_enabled: bool,
    tokens: Vec<tokens::TokenInfo>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn account_view(
    st: &AppState,
    caller: &Caller,
    new_token: Option<String>,
    error: Option<&str>,
) -> AppResult<AccountPage> {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/account", "nav.account");
    let row = totp_row(st, caller.user_id).await?;
    let tokens = tokens::list(st, caller.user_id).await?;
    let tr = ctx.tr;
    Ok(AccountPage {
        role_label: tr.t(&caller.role.label_key()).to_string(),
        account: caller.account.clone(),
        totp_enabled: row.totp_enabled,
        tokens,
        new_token,
        error: error.map(|e| tr.t(e).to_string()),
        ctx,
    })
}

async fn account(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    Ok(page(&account_view(&st, &caller, None, None).await?))
}

#[derive(Template)]
#[template(path = "auth/password.html")]
struct PasswordPage {
    ctx: Ctx,
    forced: bool,
    errors: Vec<(String, String)>,
}

async fn password_form(State(st): State<AppState>, caller: Caller) -> Response {
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/account", "password.title");
    page(&PasswordPage { ctx, forced: caller.must_change_password, errors: Vec::new() })
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
}

async fn password_submit(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<PasswordForm>,
) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/account", "password.title");
    let tr = ctx.tr;
    let hash: (String,) = read!(&st.db, |c| sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
        .bind(caller.user_id)
        .fetch_one(c)
        .await)?;
    let ok = password::verify_off_thread(&f.current, Some(&hash.0)).await?;
    let mut errors = Vec::new();
    if !ok {
        errors.push(("current".to_string(), tr.t("password.current_wrong").to_string()));
    }
    if let Err(code) = password::check_policy(&f.new_password, &caller.account, &caller.display_name) {
        errors.push(("new_password".into(), tr.t(code).to_string()));
    } else if f.new_password != f.confirm {
        errors.push(("confirm".into(), tr.t("password.mismatch").to_string()));
    }
    if !errors.is_empty() {
        return Ok(page_with_status(
            &PasswordPage { ctx, forced: caller.must_change_password, errors },
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let new_hash = password::hash_off_thread(&f.new_password).await?;
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = FALSE WHERE id = $2")
            .bind(&new_hash)
            .bind(caller.user_id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        // Other sessions of this account end; this one stays.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(caller.user_id)
            .bind(caller.session.as_ref().map(|s| s.id.as_str()).unwrap_or(""))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    // API tokens too: whoever changes a password they fear is known must not leave a token
    // made with it working (the one this request came with, if any, ends as well).
    let revoked = super::tokens::revoke_all_for(&mut tx, caller.user_id).await?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "password.change",
            entity: "user",
            entity_id: Some(caller.user_id.to_string()),
            detail: serde_json::json!({ "api_tokens_revoked": revoked }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/account").into_response())
}

/// Starts (re-)enrolment of a second factor from the account page: the session steps down to
/// `enroll` until a code from the new secret is confirmed.
async fn totp_enroll_start(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    let row = totp_row(&st, caller.user_id).await?;
    if row.totp_enabled {
        return Ok(page_with_status(
            &account_view(&st, &caller, None, Some("totp.already")).await?,
            StatusCode::CONFLICT,
        ));
    }
    if let Some(s) = &caller.session {
        session::set_stage(&st, &s.id, "enroll").await?;
    }
    Ok(Redirect::to("/login/totp").into_response())
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

async fn token_create(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<TokenForm>,
) -> AppResult<Response> {
    match tokens::create(&st, &caller, &f.name).await {
        Ok((_, secret)) => Ok(page(&account_view(&st, &caller, Some(secret), None).await?)),
        Err(AppError::Invalid(e)) => Ok(page_with_status(
            &account_view(&st, &caller, None, e.0.first().map(|x| x.1)).await?,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(e) => Err(e),
    }
}

async fn token_revoke(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    tokens::revoke(&st, &caller, id).await?;
    Ok(Redirect::to("/account").into_response())
}

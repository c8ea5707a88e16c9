//! What users hit in passing (issue item 7): list paging links, the language chosen at sign-in
//! and by `Accept-Language`, the audit screen in words, names on timelines, date inputs, unit
//! chips, photo types the server takes, and demo stories spread in time.

use axum::http::{Method, StatusCode};
use linli::web::i18n::{Lang, Tr};

use crate::harness::{Client, TestApp};

/// The demo city with its case work and request and hazard stories.
async fn demo_app() -> TestApp {
    let app = TestApp::new().await;
    linli::demo::load_casework(&app.st.db, &app.st.keys).await.unwrap();
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    app
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&#38;", "&").replace("&#x3D;", "=").replace("&#61;", "=").replace("&quot;", "\"")
}

/// The pager's "next" link of a list page, as the browser would follow it from `path`.
fn next_link(path: &str, body: &str) -> Option<String> {
    let pager = &body[body.find("class=\"pager\"")?..];
    let pager = &pager[..pager.find("</nav>")?];
    let next = Tr(Lang::Zh).t("list.next");
    let end = pager.find(&format!("{next} ›"))?;
    let start = pager[..end].rfind("href=\"")? + 6;
    let href = unescape(&pager[start..start + pager[start..].find('"')?]);
    let base = path.split('?').next().unwrap();
    Some(if href.starts_with('?') { format!("{base}{href}") } else { href })
}

fn page_of(body: &str) -> Option<String> {
    let pager = &body[body.find("class=\"pager\"")?..];
    let i = pager.find("<span>")? + 6;
    Some(pager[i..i + pager[i..].find("</span>")?].to_string())
}

/// Every list page, as one of the accounts that reads it: page 1, page 2 and a page size all
/// answer, and where there are more pages the pager's own next link is followed to the end.
/// Before, the request queue's own next link (`/requests?queue=area&page=2`) answered 400, as
/// did any `page` or `page_size` on the request and hazard lists.
#[tokio::test]
async fn every_list_page_answers_its_own_next_link() {
    let app = demo_app().await;
    // (account, list path, whether the list takes `page_size` and has two rows or more for it)
    let table: &[(&str, &str, bool)] = &[
        ("bureau", "/places", false),
        ("bureau", "/estates", false),
        ("bureau", "/organisations", false),
        ("bureau", "/stations", false),
        ("bureau", "/staff", false),
        ("bureau", "/people", false),
        ("bureau", "/request-categories", false),
        ("bureau", "/requests?queue=area", true),
        ("bureau", "/requests?queue=dispatch", false),
        ("bureau", "/requests?queue=mine", false),
        ("bureau", "/requests?queue=overdue", false),
        ("bureau", "/requests?queue=callback", false),
        ("bureau", "/hazards", true),
        ("bureau", "/hazards?status=all", true),
        ("bureau", "/patrols?mine=0", false),
        ("zhenhua.mgr", "/cases", false),
        ("zhenhua.mgr", "/cases/due", false),
        ("zhenhua.mgr", "/people/export-requests", false),
        ("auditor", "/audit", false),
    ];
    let mut clients: Vec<(&str, Client<'_>)> = Vec::new();
    for (account, path, sized) in table {
        if !clients.iter().any(|(a, _)| a == account) {
            clients.push((account, app.login(account).await));
        }
        let c = &clients.iter().find(|(a, _)| a == account).unwrap().1;
        let sep = if path.contains('?') { '&' } else { '?' };
        for variant in [path.to_string(), format!("{path}{sep}page=2"), format!("{path}{sep}page=1&page_size=1")] {
            let r = c.get(&variant).await;
            assert_eq!(r.status, StatusCode::OK, "{account} {variant}: {}", &r.body[..r.body.len().min(600)]);
        }
        let first = c.get(&format!("{path}{sep}page_size=1")).await;
        let mut next = next_link(path, &first.body);
        assert!(next.is_some() || !*sized, "{account} {path}: one row a page, so a next link");
        let mut hops = 0;
        while let Some(link) = next {
            hops += 1;
            assert!(hops < 20, "{link}: the pager never ends");
            let r = c.get(&link).await;
            assert_eq!(r.status, StatusCode::OK, "{account} follows {link}: {}", &r.body[..r.body.len().min(600)]);
            let shown = page_of(&r.body).unwrap_or_else(|| panic!("{link} has no pager: {}", r.body));
            assert_eq!(shown.split(" / ").next().unwrap(), (hops + 1).to_string(), "{link}");
            assert!(link.contains("page_size=1") || !*sized, "the page size is kept: {link}");
            next = next_link(path, &r.body);
        }
        if *sized {
            assert!(hops >= 1, "{path}");
        }
    }
    // The link exactly as the queue writes it.
    let desk = &clients.iter().find(|(a, _)| *a == "bureau").unwrap().1;
    assert_eq!(desk.get("/requests?queue=area&page=2").await.status, StatusCode::OK);
    let r = desk.get("/requests?queue=area&page=two").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "not a number is still refused");
    assert!(r.body.contains("查询参数"), "in words: {}", &r.body[..r.body.len().min(800)]);
}

fn header<'a>(r: &'a crate::harness::Resp, name: &str) -> Vec<&'a str> {
    r.headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
}

/// English chosen on the login page stays English after signing in (it was replaced by the
/// account's Chinese), and is the account's from then on.
#[tokio::test]
async fn the_language_chosen_on_the_login_page_survives_sign_in() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let r = anon.post_form("/locale", &[("lang", "en"), ("back", "/login")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cookie = header(&r, "set-cookie").into_iter().find(|c| c.starts_with("linli_lang=")).unwrap();
    let lang_cookie = cookie.split(';').next().unwrap().to_string();
    assert_eq!(lang_cookie, "linli_lang=en");
    // The browser sends the language cookie with the sign-in.
    let body = serde_urlencoded::to_string([("account", "changmin"), ("password", app.password.as_str())]).unwrap();
    let r = anon
        .raw(
            Method::POST,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &lang_cookie)],
            body.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let sid = header(&r, "set-cookie").into_iter().find(|c| c.starts_with("linli_sid=")).unwrap();
    let sid = sid.split(';').next().unwrap().to_string();
    // Even a later request without the language cookie (another browser tab that lost it, the
    // account on another device) reads English: the choice is the account's now.
    let home = anon.raw(Method::GET, "/", &[("cookie", &sid)], Vec::new()).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("<html lang=\"en\""), "{}", &home.body[..home.body.len().min(400)]);
    assert_eq!(header(&home, "content-language"), ["en"]);
    let locale: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT locale FROM users WHERE account = 'changmin'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(locale.0, "en");
    // Without a choice on the login page, the account keeps its own language.
    let c = app.login("wenbichen").await;
    let page = c.get("/").await;
    assert!(page.body.contains("<html lang=\"zh-CN\""));
    assert_eq!(header(&page, "content-language"), ["zh-CN"]);
}

/// `Accept-Language` is read with its q-values (the API's messages), and every answer says
/// which language it is in and that it varies with the header and the cookie.
#[tokio::test]
async fn accept_language_q_values_pick_the_language_and_answers_say_so() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let ask = |lang: &'static str| {
        let anon = &anon;
        async move { anon.raw(Method::GET, "/api/v1/me", &[("accept-language", lang)], Vec::new()).await }
    };
    let r = ask("zh-CN;q=0.8, en;q=0.9").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "content-language"), ["en"], "English has the higher q: {}", r.body);
    let zh = ask("en;q=0.5, zh-CN").await;
    assert_eq!(header(&zh, "content-language"), ["zh-CN"]);
    assert_ne!(r.json()["message"], zh.json()["message"], "the message itself changes language");
    assert_eq!(header(&ask("en;q=0, *").await, "content-language"), ["zh-CN"]);
    let page = anon.get("/login").await;
    assert_eq!(header(&page, "content-language"), ["zh-CN"]);
    let vary = header(&page, "vary").join(", ").to_ascii_lowercase();
    assert!(vary.contains("accept-language") && vary.contains("cookie"), "Vary: {vary}");
    let vary = header(&r, "vary").join(", ").to_ascii_lowercase();
    assert!(vary.contains("accept-language") && vary.contains("cookie"), "Vary: {vary}");
}

/// The audit screen in words: action names in the viewer's language, the actor's name with
/// the account, the record's label where the viewer's scope holds it, details as lines, and
/// a filter by action chosen from a list.
#[tokio::test]
async fn the_audit_page_names_actions_people_and_records() {
    let app = demo_app().await;
    let auditor = app.login("auditor").await;
    let page = auditor.get("/audit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("登记居民"), "person.create in words");
    assert!(!page.body.contains(">person.create<"), "no raw codes");
    assert!(page.body.contains("温碧晨 (wenbichen)"), "the actor's name and account");
    // 王鹏's registration names his record: masked, linked to his page.
    let wang: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM persons WHERE name = '王鹏'").fetch_one(c).await)
            .unwrap();
    assert!(page.body.contains(&format!("<a href=\"/people/{}\">居民 王*</a>", wang.0)), "person label");
    assert!(page.body.contains("name: 王鹏"), "the detail as a line");
    // A case by its number.
    assert!(page.body.contains("个案 振华-"), "case label");
    // Details are lines, not JSON.
    assert!(!page.body.contains("{&quot;"), "no raw JSON in the details");
    assert!(page.body.contains("class=\"lines\""));
    // The filter lists actions by name and filters on exactly one.
    assert!(page.body.contains("<option value=\"person.tag\">添加标签</option>"), "the filter is a list");
    let tags = auditor.get("/audit?action=person.tag").await;
    assert_eq!(tags.status, StatusCode::OK);
    assert!(tags.body.contains("添加标签"));
    assert!(!tags.body.contains("<td data-label=\"操作\">结束标签"), "person.tag_end is another action");
    assert!(!tags.body.contains("<td data-label=\"操作\">登记居民"));
    assert_eq!(auditor.get("/audit?action=person.").await.status, StatusCode::BAD_REQUEST, "only listed actions");
    // In English, the same page in English.
    let r = auditor.post_form("/locale", &[("lang", "en"), ("back", "/audit")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let en = auditor.get("/audit").await;
    assert!(en.body.contains("Person registered") && en.body.contains("Person 王*"), "English names");
}

/// A record outside the viewer's scope is shown by its id, exactly as an unknown one: the
/// bureau of 平城区 reads its audit log, where a 云冈区 place's creation names that place.
#[tokio::test]
async fn audit_labels_outside_the_scope_show_the_id_only() {
    let app = demo_app().await;
    let yungang: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM places WHERE name = '槐园社区(示例)'")
            .fetch_one(c)
            .await)
        .unwrap();
    let pingcheng: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM places WHERE name = '永宁社区'")
            .fetch_one(c)
            .await)
        .unwrap();
    let bureau = app.login("bureau").await;
    let mut body = String::new();
    let mut path = "/audit?action=place.create".to_string();
    // The demo creates every place: walk back through the older pages.
    for _ in 0..10 {
        let r = bureau.get(&path).await;
        assert_eq!(r.status, StatusCode::OK);
        body.push_str(&r.body);
        match r.between("href=\"/audit?", "\"") {
            Some(q) if q.contains("before=") => path = format!("/audit?{}", unescape(&q)),
            _ => break,
        }
    }
    assert!(body.contains(&format!("<a href=\"/places/{}\">区划 永宁社区</a>", pingcheng.0)), "inside: named");
    assert!(body.contains(&format!("区划 {}", yungang.0)), "outside: the id");
    assert!(!body.contains("区划 槐园社区"), "outside: not named");
}

/// Timelines name the staff member, not the login; the account stays beside the name.
#[tokio::test]
async fn timelines_show_staff_names_not_logins() {
    let app = demo_app().await;
    let desk = app.login("bureau").await;
    let (id,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM requests WHERE category = 'sewage_overflow'")
            .fetch_one(c)
            .await)
        .unwrap();
    let page = desk.get(&format!("/requests/{id}")).await;
    let timeline = page.between("id=\"request-timeline\">", "</ol>").unwrap();
    let names: Vec<(String, String)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT display_name, account FROM users WHERE account IN ('bureau', 'paiwu') ORDER BY account"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    for (name, account) in &names {
        assert!(timeline.contains(&format!("title=\"{account}\">{name}</span>")), "{name} ({account}): {timeline}");
        assert!(!timeline.contains(&format!(">{account}<")), "no login {account} as a name: {timeline}");
    }
    let (hazard,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM hazards WHERE category = 'fire'")
            .fetch_one(c)
            .await)
        .unwrap();
    let page = desk.get(&format!("/hazards/{hazard}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let bureau_name = &names.iter().find(|n| n.1 == "bureau").unwrap().0;
    assert!(page.body.contains(&format!("title=\"bureau\">{bureau_name}</span>")), "hazard timeline");
}

/// Every date field is a date input (the browser's picker), and the server still refuses a
/// typed date that is not one, keeping what was typed.
#[tokio::test]
async fn date_fields_are_date_inputs_and_still_checked() {
    let app = demo_app().await;
    let desk = app.login("bureau").await;
    for (path, names) in
        [("/people/new", &["birth_date"][..]), ("/hazards/new", &["deadline"][..]), ("/patrols/new", &["due_on"][..])]
    {
        let page = desk.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for n in names {
            assert!(page.body.contains(&format!("<input type=\"date\" name=\"{n}\"")), "{path} {n}");
        }
        assert!(!page.body.contains("YYYY-MM-DD"), "{path}: no text box asking for a format");
    }
    let auditor = app.login("auditor").await;
    let audit = auditor.get("/audit").await;
    assert!(audit.body.contains("<input type=\"date\" name=\"from\""));
    assert!(audit.body.contains("<input type=\"date\" name=\"to\""));
    // The case page: plan dates, record date; the person page: tag start.
    let mgr = app.login("wenbichen").await;
    let (case_id, person_id): (uuid::Uuid, uuid::Uuid) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT c.id, c.person_id FROM cases c JOIN persons p ON p.id = c.person_id WHERE p.name = '王鹏'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let case = mgr.get(&format!("/cases/{case_id}")).await;
    assert_eq!(case.status, StatusCode::OK);
    for n in ["review_on", "occurred_on"] {
        assert!(case.body.contains(&format!("<input type=\"date\" name=\"{n}\"")), "case {n}");
    }
    assert!(!case.body.contains("placeholder=\"YYYY-MM-DD\""));
    let person = mgr.get(&format!("/people/{person_id}")).await;
    assert!(person.body.contains("<input type=\"date\" name=\"starts_on\""), "tag start");
    // A client without the picker sends what was typed: refused in words, input kept.
    let r = desk
        .post_form(
            "/people",
            &[
                ("name", "测试人"),
                ("birth_date", "1950-13-40"),
                ("place_id", &app.place_id("永宁社区").await.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", &r.body[..r.body.len().min(500)]);
    assert!(r.body.contains("value=\"测试人\""), "the name typed is kept");
    assert!(r.body.contains("class=\"error\""), "a field message");
}

/// Dispatch offers the units as checkable chips (checkboxes), which a phone can tap without
/// script, and the suggested unit comes checked.
#[tokio::test]
async fn dispatch_offers_units_as_chips() {
    let app = demo_app().await;
    let desk = app.login("bureau").await;
    let (id,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM requests WHERE status = 'accepted'")
            .fetch_one(c)
            .await)
        .unwrap();
    let page = desk.get(&format!("/requests/{id}")).await;
    let form = page.between("id=\"dispatch-form\"", "</form>").expect("the dispatch form");
    assert!(!form.contains("<select name=\"units\""), "no multiple select");
    assert!(form.contains("<fieldset class=\"chips\" id=\"f-units\">"));
    assert!(form.matches("<input type=\"checkbox\" name=\"units\"").count() > 3, "{form}");
    assert_eq!(form.matches("name=\"units\" value=").count(), form.matches("class=\"chip\"").count());
    assert_eq!(form.matches(" checked><span>").count(), 1, "the suggested unit is checked: {form}");
    // Two chips ticked are two parts, as two options chosen were.
    let units: Vec<String> = form
        .match_indices("name=\"units\" value=\"")
        .map(|(i, m)| form[i + m.len()..].split('"').next().unwrap().to_string())
        .take(2)
        .collect();
    let version = page.between("name=\"version\" value=\"", "\"").unwrap();
    let r = desk
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[("version", &version), ("units", &units[0]), ("units", &units[1]), ("note", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", &r.body[..r.body.len().min(500)]);
    let parts =
        "SELECT COUNT(*) FROM request_parts p JOIN requests r ON r.id = p.request_id WHERE r.category = 'street_light'";
    assert_eq!(app.count(parts).await, 2);
}

/// No page offers HEIC/HEIF: the server cannot decode it (no decoder without a C library), so
/// a phone must convert to JPEG, which it does when the input does not accept HEIC.
#[tokio::test]
async fn no_page_offers_heic_photos() {
    let app = demo_app().await;
    let desk = app.login("bureau").await;
    let (request,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM requests WHERE category = 'sewer_blocked'")
            .fetch_one(c)
            .await)
        .unwrap();
    let (hazard,): (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM hazards WHERE status = 'rectifying' OR status = 'open' ORDER BY status DESC LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let (patrol,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM patrols").fetch_one(c).await).unwrap();
    let paiwu = app.login("paiwu").await;
    let grid = app.login("yongtai.grid").await;
    let pages = [
        (&desk, "/requests/new".to_string()),
        (&desk, "/hazards/new".to_string()),
        (&desk, format!("/hazards/{hazard}")),
        (&paiwu, format!("/requests/{request}")),
        (&grid, format!("/patrols/{patrol}")),
        (&app.anon(), "/report".to_string()),
    ];
    let mut photo_inputs = 0;
    for (c, path) in pages.iter() {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let lower = page.body.to_ascii_lowercase();
        assert!(!lower.contains("heic") && !lower.contains("heif"), "{path} offers HEIC");
        photo_inputs += page.body.matches("accept=\"image/jpeg,").count();
    }
    assert!(photo_inputs >= 5, "the pages do have photo inputs ({photo_inputs})");
}

/// The demo's stories happen over past days, as work does: the finished request took real
/// time, every step at its own moment, in order, and its part was signed and finished then.
#[tokio::test]
async fn demo_stories_are_spread_in_time() {
    let app = demo_app().await;
    let finished: Vec<(uuid::Uuid, f64)> = linli::read!(&app.st.db, |c| sqlx::query_as(match app.st.db.backend() {
        linli::db::Backend::Sqlite =>
            "SELECT id, (julianday(resolved_at) - julianday(created_at)) * 24.0 FROM requests WHERE resolved_at IS NOT NULL",
        linli::db::Backend::Postgres =>
            "SELECT id, EXTRACT(EPOCH FROM (resolved_at - created_at))::float8 / 3600.0 FROM requests WHERE resolved_at IS NOT NULL",
    })
    .fetch_all(c)
    .await)
    .unwrap();
    assert!(!finished.is_empty(), "the demo has finished requests");
    for (id, hours) in &finished {
        assert!(*hours > 1.0, "request {id} took {hours} h");
        let times: Vec<(chrono::DateTime<chrono::Utc>,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
            "SELECT at FROM request_events WHERE request_id = $1 AND kind NOT IN ('resolved') ORDER BY at, id"
        )
        .bind(*id)
        .fetch_all(c)
        .await)
        .unwrap();
        let mut distinct: Vec<_> = times.iter().map(|t| t.0).collect();
        distinct.dedup();
        assert_eq!(distinct.len(), times.len(), "every step at its own time: {times:?}");
        assert!(times.last().unwrap().0 < chrono::Utc::now() - chrono::Duration::hours(1), "in the past");
    }
    // Open requests, too, were taken in before they were dispatched and worked on.
    let spans: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        linli::read!(&app.st.db, |c| sqlx::query_as(
            "SELECT MIN(e.at), MAX(e.at) FROM request_events e GROUP BY e.request_id ORDER BY MIN(e.at)"
        )
        .fetch_all(c)
        .await)
        .unwrap();
    let starts: Vec<_> = spans.iter().map(|s| s.0).collect();
    let mut unique = starts.clone();
    unique.dedup();
    assert_eq!(unique.len(), starts.len(), "the stories start at different moments: {spans:?}");
    // The metrics page shows a real average handling time.
    let desk = app.login("bureau").await;
    let metrics = desk.get("/requests/metrics?by=street").await;
    assert!(!metrics.body.contains(">0.0<"), "no zero handling time: {}", metrics.body);
    type Times = (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>);
    let parts: Vec<Times> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT p.signed_at, p.resolved_at FROM request_parts p JOIN requests r ON r.id = p.request_id
             WHERE r.resolved_at IS NOT NULL"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    for (signed, resolved) in parts {
        assert!(signed.unwrap() < resolved.unwrap(), "signed before finished");
    }
}

/// The demo's stories stand where the location rule puts them: a point of a request (beside
/// its estate) or a hazard lands in the community the record names, so a resident who uses
/// "my location" beside one is routed there too, not to a neighbouring street.
#[tokio::test]
async fn demo_story_points_land_in_their_own_community() {
    let app = demo_app().await;
    let rows: Vec<(Option<f64>, Option<f64>, String)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT r.lat, r.lon, pl.path FROM requests r JOIN estates e ON e.id = r.estate_id JOIN places pl ON pl.id = e.community_id
         UNION ALL
         SELECT h.lat, h.lon, pl.path FROM hazards h JOIN places pl ON pl.id = h.place_id"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    assert!(rows.len() >= 5, "{rows:?}");
    for (lat, lon, community) in rows {
        let point = (lat.expect("a story point"), lon.expect("a story point"));
        match linli::org::store::locate_point(&app.st.db, point).await.unwrap() {
            linli::org::geo::Located::In { path, name, .. } => {
                assert!(path.starts_with(&community), "{point:?} lands in {name} ({path}), not under {community}")
            }
            other => panic!("{point:?}: {other:?}"),
        }
    }
}

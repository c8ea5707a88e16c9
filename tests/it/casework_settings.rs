//! The bureau's case-work settings page: follow-up intervals and instrument versions through
//! the HTML forms, with the API's checks, audit rows and stale-form refusals.

use axum::http::StatusCode;

use crate::harness::{Client, Resp, TestApp};

/// Undoes the template escaping of a text the page shows inside an attribute or a textarea.
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The `value` of the input with this id.
fn value_of(page: &Resp, id: &str) -> String {
    let tag = page.between(&format!("id=\"{id}\""), ">").unwrap_or_else(|| panic!("no input {id}: {}", page.body));
    let v = tag.split("value=\"").nth(1).map(|r| r[..r.find('"').unwrap()].to_string()).unwrap_or_default();
    unescape(&v)
}

/// The hidden `version` field of the form with this id.
fn version_in_form(page: &Resp, form_id: &str) -> String {
    let form = page.between(&format!("id=\"{form_id}\""), "</form>").unwrap();
    let v = form.split("name=\"version\" value=\"").nth(1).unwrap();
    v[..v.find('"').unwrap()].to_string()
}

fn textarea(page: &Resp, id: &str) -> String {
    let rest = page.between(&format!("id=\"{id}\""), "</textarea>").unwrap();
    unescape(&rest[rest.find('>').unwrap() + 1..])
}

async fn publish(c: &Client<'_>, name: &str, reassess: &str, items: &str, bands: &str, version: &str) -> Resp {
    let fields = [
        ("name", name),
        ("domain", "elderly_care"),
        ("reassess_days", reassess),
        ("items", items),
        ("bands", bands),
        ("version", version),
    ];
    c.post_form("/cases/settings/instruments/elderly_adl", &fields).await
}

fn shown(page: &Resp, id: &str) -> String {
    page.between(&format!("id=\"{id}\">"), "<").unwrap_or_else(|| panic!("no {id}: {}", page.body))
}

#[tokio::test]
async fn the_bureau_changes_a_follow_up_interval_on_the_settings_page() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let home = bureau.get("/").await;
    assert!(home.body.contains("href=\"/cases/settings\""), "the bureau's home links the settings");

    let page = bureau.get("/cases/settings").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("个案工作设置"));
    assert!(page.body.contains("id=\"tier-standard\"") && page.body.contains("一般个案"));
    assert_eq!(value_of(&page, "f-interval-standard"), "30");
    assert_eq!(value_of(&page, "f-interval-elder_80_alone"), "7");
    let version = version_in_form(&page, "tier-form-standard");

    let r = bureau.post_form("/cases/settings/tiers/standard", &[("interval_days", "21"), ("version", &version)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/cases/settings?saved=1"), "{}", r.location());
    let page = bureau.get(&r.location()).await;
    assert!(page.body.contains("id=\"settings-saved\""));
    assert_eq!(value_of(&page, "f-interval-standard"), "21");
    let tiers = bureau.get("/api/v1/follow-up-tiers").await.json();
    let standard = tiers.as_array().unwrap().iter().find(|t| t["code"] == "standard").unwrap().clone();
    assert_eq!(standard["interval_days"], 21);
    assert_eq!(standard["name"], "一般个案", "the name stays");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'tier.save' AND entity_id = 'standard'").await,
        1
    );

    // Zero, a negative number and words are refused with the message; what was typed stays.
    let version = version_in_form(&page, "tier-form-standard");
    for typed in ["0", "-7", "两周"] {
        let r = bureau
            .post_form("/cases/settings/tiers/standard", &[("interval_days", typed), ("version", &version)])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{typed}: {}", r.body);
        assert!(r.body.contains("间隔天数须在 1–366 之间"), "{}", r.body);
        assert_eq!(value_of(&r, "f-interval-standard"), typed);
        assert_eq!(value_of(&r, "f-interval-elder_alone"), "14", "other rows show what is stored");
    }
    // A form based on a version changed since is refused and keeps the input; sent again, it saves.
    let r = bureau.post_form("/cases/settings/tiers/standard", &[("interval_days", "45"), ("version", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("该记录已被他人修改"));
    assert_eq!(value_of(&r, "f-interval-standard"), "45");
    let fresh = version_in_form(&r, "tier-form-standard");
    assert_eq!(fresh, version);
    let again =
        bureau.post_form("/cases/settings/tiers/standard", &[("interval_days", "45"), ("version", &fresh)]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(app.count("SELECT interval_days FROM follow_up_tiers WHERE code = 'standard'").await, 45);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'tier.save'").await, 2);

    // An unknown tier is missing, not created.
    let r = bureau.post_form("/cases/settings/tiers/no_such_tier", &[("interval_days", "9"), ("version", "1")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) FROM follow_up_tiers WHERE code = 'no_such_tier'").await, 0);
}

#[tokio::test]
async fn the_bureau_publishes_an_instrument_version_on_the_settings_page() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let page = bureau.get("/cases/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(shown(&page, "version-elderly_adl"), "1");
    assert_eq!(shown(&page, "items-elderly_adl"), "10");
    assert_eq!(shown(&page, "reassess-elderly_adl"), "180");
    let items_text = textarea(&page, "f-elderly_adl-items");
    let bands_text = textarea(&page, "f-elderly_adl-bands");
    let mut items: Vec<serde_json::Value> = serde_json::from_str(&items_text).expect("the items are prefilled as JSON");
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["key"], "feeding");
    let name = value_of(&page, "f-elderly_adl-name");
    assert!(name.contains("Barthel"));
    let version = version_in_form(&page, "publish-elderly_adl");
    assert_eq!(version, "1");

    // Invalid definitions are refused with field messages; the text stays for correcting.
    let broken = "[{\"key\": \"feeding\",";
    let r = publish(&bureau, &name, "0", broken, &bands_text, &version).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("评估项不是有效的 JSON 列表"), "{}", r.body);
    assert!(r.body.contains("复评间隔须在 1–3650 天之间"), "{}", r.body);
    assert!(!r.body.contains("至少需要一个评估项"), "a list that did not parse gets only its own message");
    assert_eq!(textarea(&r, "f-elderly_adl-items"), broken);
    assert_eq!(value_of(&r, "f-elderly_adl-reassess"), "0");
    let mut dup = items.clone();
    dup[1]["key"] = "feeding".into();
    let r = publish(&bureau, &name, "180", &serde_json::to_string(&dup).unwrap(), "[]", &version).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("第 2 项：评估项编码须唯一"), "{}", r.body);
    assert!(r.body.contains("结果分档须覆盖 0 分"));
    assert_eq!(app.count("SELECT COUNT(*) FROM instruments WHERE code = 'elderly_adl'").await, 1);

    // Version 2: one item fewer and a shorter reassessment interval.
    items.pop();
    let items_json = serde_json::to_string_pretty(&items).unwrap();
    let r = publish(&bureau, &name, "120", &items_json, &bands_text, &version).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = bureau.get(&r.location()).await;
    assert_eq!(shown(&page, "version-elderly_adl"), "2");
    assert_eq!(shown(&page, "items-elderly_adl"), "9");
    assert_eq!(shown(&page, "reassess-elderly_adl"), "120");
    assert_eq!(shown(&page, "version-child_screening"), "1", "the other instrument is untouched");
    let current = bureau.get("/api/v1/instruments").await.json();
    assert!(current.as_array().unwrap().iter().any(|i| i["code"] == "elderly_adl" && i["version"] == 2));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'instrument.publish'").await, 1);

    // The same form sent again (based on version 1) would publish over version 2 unseen: refused.
    let r = publish(&bureau, &name, "90", &items_json, &bands_text, &version).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("该记录已被他人修改"));
    assert_eq!(value_of(&r, "f-elderly_adl-reassess"), "90");
    assert_eq!(version_in_form(&r, "publish-elderly_adl"), "2");
    assert_eq!(app.count("SELECT MAX(version) FROM instruments WHERE code = 'elderly_adl'").await, 2);
}

#[tokio::test]
async fn only_the_bureau_reaches_the_settings_page() {
    let app = TestApp::new().await;
    for account in ["wenbichen", "zhenhua.mgr"] {
        let c = app.login(account).await;
        assert_eq!(c.get("/cases/settings").await.status, StatusCode::FORBIDDEN, "{account}");
        let r = c.post_form("/cases/settings/tiers/standard", &[("interval_days", "3"), ("version", "1")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{account}");
        let r = c.post_form("/cases/settings/instruments/elderly_adl", &[("reassess_days", "3")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{account}");
        assert!(!c.get("/").await.body.contains("href=\"/cases/settings\""), "{account}");
    }
    assert_eq!(app.count("SELECT interval_days FROM follow_up_tiers WHERE code = 'standard'").await, 30);
    assert_eq!(app.count("SELECT COUNT(*) FROM instruments WHERE code = 'elderly_adl'").await, 1);
    let anon = app.anon();
    let r = anon.get("/cases/settings").await;
    assert_eq!((r.status, r.location().as_str()), (StatusCode::SEE_OTHER, "/login"));
}

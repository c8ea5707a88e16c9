//! Edits that meet: a save over a newer version shows, field by field, what the user typed
//! beside what was saved since, and goes through only once the user has chosen for each field,
//! on the version that was shown. The API's 412 names the current version.

use axum::http::{Method, StatusCode};

use crate::casework::register;
use crate::harness::{Client, Resp, TestApp};

/// The person form as a page posts it: every field, with the changes given.
async fn save(c: &Client<'_>, pid: &str, place: &str, changes: &[(&str, &str)], extra: &[(&str, &str)]) -> Resp {
    let mut form: Vec<(&str, &str)> = vec![
        ("name", "李桂兰"),
        ("id_number", ""),
        ("sex", ""),
        ("birth_date", "1950-05-05"),
        ("phone", ""),
        ("place_id", place),
        ("estate_id", ""),
        ("building", ""),
        ("unit", ""),
        ("room", "301"),
        ("relation", ""),
    ];
    for (k, v) in changes {
        match form.iter_mut().find(|(f, _)| f == k) {
            Some(slot) => slot.1 = v,
            None => form.push((k, v)),
        }
    }
    form.extend_from_slice(extra);
    c.post_form(&format!("/people/{pid}"), &form).await
}

/// The compared row of a field on a conflict page: (mine, theirs) as shown.
fn row(r: &Resp, field: &str) -> Option<(String, String)> {
    let tr = r.between(&format!("<tr data-field=\"{field}\">"), "</tr>")?;
    let cell = |class: &str| {
        let start = tr.find(&format!("<bdi class=\"{class}\">")).unwrap() + class.len() + 14;
        tr[start..start + tr[start..].find("</bdi>").unwrap()].to_string()
    };
    Some((cell("mine"), cell("theirs")))
}

async fn saved(c: &Client<'_>, pid: &str) -> serde_json::Value {
    c.get(&format!("/api/v1/people/{pid}")).await.json()
}

/// A saves room 302A; B, who opened the form before, saves a building and the old room. B sees
/// both rooms side by side and the building (only what differs), must choose before the save
/// goes through, meets a third change (a new conflict on the new version), and then the
/// choices are what is written: "theirs" keeps A's room, "mine" writes B's building.
#[tokio::test]
async fn a_stale_save_shows_the_other_change_and_saves_only_what_the_user_chose() {
    let app = TestApp::new().await;
    let a = app.login("wenbichen").await;
    let b = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await.to_string();
    let p = register(
        &a,
        serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place, "room": "301", "phone": "13800138000"}),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_string();

    // Both open the form at version 1; A saves first.
    let r = save(&a, &pid, &place, &[("room", "302A")], &[("version", "1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // B's save on version 1: refused, compared where it differs, B's input kept.
    let r = save(&b, &pid, &place, &[("building", "5号楼"), ("phone", "13900001111")], &[("version", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(row(&r, "room"), Some(("301".into(), "302A".into())), "A's room beside B's");
    assert_eq!(row(&r, "building"), Some(("5号楼".into(), "（空）".into())));
    assert_eq!(row(&r, "name"), None, "fields that agree are not asked about");
    // The numbers are compared masked, never in clear.
    assert_eq!(row(&r, "phone"), Some(("139****1111".into(), "138****8000".into())));
    let table = r.between("id=\"conflict\"", "</section>").unwrap();
    assert!(!table.contains("13900001111") && !r.body.contains("13800138000"), "{table}");
    assert!(r.body.contains("name=\"_conflict\" value=\"phone,building,room\""), "{}", r.body);
    assert!(r.body.contains("name=\"version\" value=\"2\""), "the form now carries the version it shows");
    assert!(r.body.contains("value=\"5号楼\""), "what B typed stays in the form");

    // Sent again without choosing: refused, nothing written.
    let conflict = [("_conflict", "phone,building,room"), ("version", "2")];
    let r = save(&b, &pid, &place, &[("building", "5号楼"), ("phone", "13900001111")], &conflict).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("请对每个不一致的项目选择"), "{}", r.body);
    let now = saved(&a, &pid).await;
    assert_eq!((now["room"].as_str(), now["version"].as_i64()), (Some("302A"), Some(2)));
    // One choice of three is not enough either, and the choice made is kept on the page.
    let mut partial = conflict.to_vec();
    partial.push(("_pick.room", "theirs"));
    let r = save(&b, &pid, &place, &[("building", "5号楼"), ("phone", "13900001111")], &partial).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let room = r.between("<tr data-field=\"room\">", "</tr>").unwrap();
    // On a phone the table's head is hidden: each side says whose it is.
    assert!(
        room.contains("data-label=\"我的填写\"") && room.contains("data-label=\"已保存的内容（他人修改后）\""),
        "{room}"
    );
    assert!(room.contains("value=\"theirs\" required checked"), "{room}");

    // A third change meanwhile (A sets the unit): B's choices on version 2 meet version 3.
    let r = save(&a, &pid, &place, &[("room", "302A"), ("unit", "2单元")], &[("version", "2")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut chosen = conflict.to_vec();
    chosen.extend([("_pick.phone", "mine"), ("_pick.building", "mine"), ("_pick.room", "theirs")]);
    let r = save(&b, &pid, &place, &[("building", "5号楼"), ("phone", "13900001111")], &chosen).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(row(&r, "unit"), Some(("（空）".into(), "2单元".into())), "the third change is shown");
    assert!(r.body.contains("name=\"version\" value=\"3\""));
    assert_eq!(saved(&a, &pid).await["unit"], "2单元", "nothing of B's was written");

    // Chosen on version 3: A's room and unit stay ("theirs"), B's building and phone are written.
    let mut chosen = vec![("_conflict", "phone,building,unit,room"), ("version", "3")];
    chosen.extend([
        ("_pick.phone", "mine"),
        ("_pick.building", "mine"),
        ("_pick.unit", "theirs"),
        ("_pick.room", "theirs"),
    ]);
    let r = save(&b, &pid, &place, &[("building", "5号楼"), ("phone", "13900001111")], &chosen).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = saved(&a, &pid).await;
    assert_eq!(now["room"], "302A", "theirs: A's room kept");
    assert_eq!(now["unit"], "2单元", "theirs: A's unit kept");
    assert_eq!(now["building"], "5号楼", "mine: B's building written");
    assert_eq!(now["phone_masked"], "139****1111", "mine: B's phone written");
    assert_eq!(now["version"], 4);
}

/// "Theirs" on a number keeps the saved one; "mine" on a room writes the stale form's value
/// over the newer one, because the user chose it having seen both.
#[tokio::test]
async fn choosing_mine_writes_the_users_value_and_theirs_on_a_number_keeps_the_saved_one() {
    let app = TestApp::new().await;
    let a = app.login("wenbichen").await;
    let b = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await.to_string();
    let p = register(
        &a,
        serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place, "room": "301", "phone": "13800138000"}),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(save(&a, &pid, &place, &[("room", "302A")], &[("version", "1")]).await.status, StatusCode::SEE_OTHER);
    let r = save(&b, &pid, &place, &[("room", "303"), ("phone", "13900001111")], &[("version", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let chosen = [("_conflict", "phone,room"), ("version", "2"), ("_pick.phone", "theirs"), ("_pick.room", "mine")];
    let r = save(&b, &pid, &place, &[("room", "303"), ("phone", "13900001111")], &chosen).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = saved(&a, &pid).await;
    assert_eq!((now["room"].as_str(), now["phone_masked"].as_str()), (Some("303"), Some("138****8000")));
}

/// The API's 412 speaks of versions, not of a form, and names the current one (body and ETag).
#[tokio::test]
async fn a_stale_api_write_names_the_current_version_and_no_form() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let place = app.place_id("永宁社区").await;
    let p =
        register(&worker, serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place})).await;
    let pid = p["id"].as_str().unwrap();
    let put = serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place, "room": "301"});
    let url = format!("/api/v1/people/{pid}");
    let ok = worker.send_json(Method::PUT, &url, &put.to_string(), &[("if-match", "\"1\"")]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    for (lang, form_words) in [("zh-CN", ["填写", "表单"]), ("en", ["input", "form"])] {
        let r = worker
            .send_json(Method::PUT, &url, &put.to_string(), &[("if-match", "\"1\""), ("accept-language", lang)])
            .await;
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
        let body = r.json();
        assert_eq!(body["code"], "stale");
        let message = body["message"].as_str().unwrap();
        assert!(form_words.iter().all(|w| !message.contains(w)), "{lang}: {message}");
        assert!(message.contains("current_version"), "{message}");
        assert_eq!(body["details"]["current_version"], 2, "{body}");
        assert_eq!(body["details"]["etag"], "\"2\"");
        assert_eq!(r.headers["etag"], "\"2\"");
    }
    // The same for a place.
    let bureau = app.login("bureau").await;
    let id = app.place_id("民和社区").await;
    let r = bureau
        .send_json(
            Method::PATCH,
            &format!("/api/v1/places/{id}"),
            "{\"name\":\"民和社区\",\"code\":\"MH\"}",
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = bureau
        .send_json(Method::PATCH, &format!("/api/v1/places/{id}"), "{\"name\":\"旧版本\"}", &[("if-match", "\"1\"")])
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.json()["details"]["current_version"], 2);
}

/// The place form meets edits the same way: a stale rename shows the other user's name beside
/// the user's, asks for a choice, and writes only what was chosen on the version shown.
#[tokio::test]
async fn a_stale_place_edit_is_compared_and_chosen_field_by_field() {
    let app = TestApp::new().await;
    let a = app.login("bureau").await;
    let b = app.login("sysadmin").await;
    let id = app.place_id("永宁社区").await;
    let path = format!("/places/{id}");
    let version: i64 = a.get(&format!("/api/v1/places/{id}")).await.json()["version"].as_i64().unwrap();
    let v = version.to_string();
    let form = |name: &'static str, code: &'static str, extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(String, String)> = vec![
            ("name".into(), name.into()),
            ("code".into(), code.into()),
            ("lat".into(), String::new()),
            ("lon".into(), String::new()),
            ("radius_m".into(), String::new()),
        ];
        f.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        f
    };
    let post = |c: &'static str, f: Vec<(String, String)>| {
        let client = if c == "a" { &a } else { &b };
        let path = path.clone();
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            client.post_form(&path, &pairs).await
        }
    };
    let r = post("a", form("永宁新村社区", "", vec![("version", v.clone())])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // B, on the old version, sets a code and keeps the old name: refused and compared.
    let r = post("b", form("永宁社区", "140213-001", vec![("version", v.clone())])).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(row(&r, "name"), Some(("永宁社区".into(), "永宁新村社区".into())));
    assert_eq!(row(&r, "code"), Some(("140213-001".into(), "（空）".into())));
    let next = (version + 1).to_string();
    assert!(r.body.contains(&format!("name=\"version\" value=\"{next}\"")), "{}", r.body);
    // Resent on the new version without choosing: nothing is written.
    let shown = vec![("_conflict", "name,code".to_string()), ("version", next.clone())];
    let r = post("b", form("永宁社区", "140213-001", shown.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let now = a.get(&format!("/api/v1/places/{id}")).await.json();
    assert_eq!((now["name"].as_str(), now["code"].as_str()), (Some("永宁新村社区"), None));
    // Chosen: A's name stays, B's code is written.
    let mut chosen = shown;
    chosen.extend([("_pick.name", "theirs".to_string()), ("_pick.code", "mine".to_string())]);
    let r = post("b", form("永宁社区", "140213-001", chosen)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = a.get(&format!("/api/v1/places/{id}")).await.json();
    assert_eq!((now["name"].as_str(), now["code"].as_str()), (Some("永宁新村社区"), Some("140213-001")));
}

/// A staff account's form too: a stale save shows the other administrator's change (places
/// by name) beside the user's, and writes only what was chosen.
#[tokio::test]
async fn a_stale_staff_edit_is_compared_and_chosen_field_by_field() {
    let app = TestApp::new().await;
    let a = app.login("bureau").await;
    let b = app.login("sysadmin").await;
    let id = app.user_id("wenbichen").await;
    let path = format!("/staff/{id}");
    let zhenhua = app.place_id("振华街道").await.to_string();
    let yongning = app.place_id("永宁社区").await.to_string();
    let v = a.get(&format!("/api/v1/staff/{id}")).await.json()["version"].as_i64().unwrap();
    let form = |name: &'static str, place: String, extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("display_name", name.to_string()),
            ("role", "social_worker".to_string()),
            ("place_ids", place),
            ("organisation_id", String::new()),
        ];
        f.extend(extra);
        f
    };
    async fn post(c: &Client<'_>, path: &str, f: Vec<(&'static str, String)>) -> Resp {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.post_form(path, &pairs).await
    }
    // A moves the worker to 永宁社区; B, on the old version, corrects the name only.
    let r = post(&a, &path, form("温碧晨", yongning.clone(), vec![("version", v.to_string())])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(&b, &path, form("温碧辰", zhenhua.clone(), vec![("version", v.to_string())])).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(
        row(&r, "place_ids"),
        Some(("平城区 / 振华街道".into(), "振华街道 / 永宁社区".into())),
        "places by name"
    );
    assert_eq!(row(&r, "display_name"), Some(("温碧辰".into(), "温碧晨".into())));
    assert_eq!(row(&r, "role"), None);
    let shown = vec![("_conflict", "display_name,place_ids".to_string()), ("version", (v + 1).to_string())];
    let mut chosen = shown.clone();
    chosen.extend([("_pick.display_name", "mine".to_string()), ("_pick.place_ids", "theirs".to_string())]);
    let r = post(&b, &path, form("温碧辰", zhenhua.clone(), chosen)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = a.get(&format!("/api/v1/staff/{id}")).await.json();
    assert_eq!(now["display_name"], "温碧辰", "mine: B's name");
    let places: Vec<&str> = now["places"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(places, [yongning.as_str()], "theirs: A's places kept");
}

/// Estates, organisations and stations meet edits the same way (one helper serves the three):
/// a stale estate save is compared field by field — a checkbox in words — and written as chosen.
#[tokio::test]
async fn a_stale_estate_edit_is_compared_and_chosen_field_by_field() {
    let app = TestApp::new().await;
    let a = app.login("bureau").await;
    let b = app.login("sysadmin").await;
    let (id, community, version): (uuid::Uuid, uuid::Uuid, i64) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, community_id, version FROM estates WHERE name = '宏安小区'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let path = format!("/estates/{id}");
    let community = community.to_string();
    let form = |address: &'static str, active: &'static str, extra: Vec<(&'static str, String)>| {
        let mut f: Vec<(&'static str, String)> = vec![
            ("community_id", community.clone()),
            ("name", "宏安小区".into()),
            ("address", address.into()),
            ("property_company_id", String::new()),
        ];
        if !active.is_empty() {
            f.push(("active", active.into()));
        }
        f.extend(extra);
        f
    };
    async fn post(c: &Client<'_>, path: &str, f: Vec<(&'static str, String)>) -> Resp {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.post_form(path, &pairs).await
    }
    // A marks it inactive; B, on the old version, types an address and leaves it active.
    let r = post(&a, &path, form("", "", vec![("version", version.to_string())])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = post(&b, &path, form("御河西路 12 号", "on", vec![("version", version.to_string())])).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(row(&r, "active"), Some(("是".into(), "否".into())), "a checkbox in words");
    assert_eq!(row(&r, "address"), Some(("御河西路 12 号".into(), "（空）".into())));
    assert_eq!(row(&r, "name"), None);
    let next = (version + 1).to_string();
    assert!(r.body.contains(&format!("name=\"version\" value=\"{next}\"")), "{}", r.body);
    // Resent without choosing: refused again; chosen: A's inactive stays, B's address is written.
    let shown = vec![("_conflict", "address,active".to_string()), ("version", next.clone())];
    let r = post(&b, &path, form("御河西路 12 号", "on", shown.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let mut chosen = shown;
    chosen.extend([("_pick.address", "mine".to_string()), ("_pick.active", "theirs".to_string())]);
    let r = post(&b, &path, form("御河西路 12 号", "on", chosen)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (address, active): (Option<String>, bool) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT address, active FROM estates WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!((address.as_deref(), active), (Some("御河西路 12 号"), false));
}

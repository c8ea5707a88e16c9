use axum::http::StatusCode;

use crate::harness::TestApp;

#[tokio::test]
async fn demo_city_has_every_street_the_seeds_name() {
    let app = TestApp::new().await;
    for street in [
        "开源街道",
        "迎宾街道",
        "清远街道",
        "振华街道",
        "新旺街道",
        "永泰街道",
        "新华街道",
        "水泊寺街道",
        "古城街道",
        "白登山街道",
        "武定街道",
        "口泉街道",
        "西花园街道",
    ] {
        app.place_id(street).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE kind = 'district'").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM stations WHERE is_hub").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM stations").await, 14);
    let c = app.login("bureau").await;
    let home = c.get("/").await;
    assert!(
        home.body.contains("<span class=\"value\">11</span><span class=\"label\">街道"),
        "bureau sees the 11 streets of 平城区"
    );
}

#[tokio::test]
async fn create_edit_move_and_deactivate_a_community() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let kaiyuan = app.place_id("开源街道").await;
    let r = c
        .post_form(
            "/places",
            &[("kind", "community"), ("parent_id", &kaiyuan.to_string()), ("name", "新建社区"), ("code", "KY-09")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = app.place_id("新建社区").await;
    assert_eq!(r.location(), format!("/places/{id}"));
    // A grid inside it, to prove the subtree moves along.
    let r = c.post_form("/places", &[("kind", "grid"), ("parent_id", &id.to_string()), ("name", "新网格")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Duplicate name under the same street: field message, input kept.
    let r = c
        .post_form("/places", &[("kind", "community"), ("parent_id", &kaiyuan.to_string()), ("name", "新建社区")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("同一上级下已有这个名称") && r.body.contains("value=\"新建社区\""));
    // Wrong parent kind.
    let r =
        c.post_form("/places", &[("kind", "community"), ("parent_id", &id.to_string()), ("name", "错层社区")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Edit with a stale version keeps the typed name.
    let r = c.post_form(&format!("/places/{id}"), &[("name", "改名社区"), ("code", ""), ("version", "1")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = c.post_form(&format!("/places/{id}"), &[("name", "再改名"), ("code", ""), ("version", "1")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("value=\"再改名\"") && r.body.contains("已被他人修改"));
    // Move under 振华街道: the grid follows.
    let zhenhua = app.place_id("振华街道").await;
    let r =
        c.post_form(&format!("/places/{id}/move"), &[("new_parent_id", &zhenhua.to_string()), ("version", "2")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let zmgr = app.login("zhenhua.mgr").await;
    assert_eq!(zmgr.get(&format!("/places/{id}")).await.status, StatusCode::OK, "now in 振华's scope");
    let grid = app.place_id("新网格").await;
    assert_eq!(zmgr.get(&format!("/places/{grid}")).await.status, StatusCode::OK, "the grid moved too");
    let kmgr = app.login("kaiyuan.mgr").await;
    assert_eq!(kmgr.get(&format!("/places/{id}")).await.status, StatusCode::NOT_FOUND, "gone from 开源's scope");
    // Deactivation waits for the children.
    let r = c.post_form(&format!("/places/{id}/active"), &[("active", "false")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    c.post_form(&format!("/places/{grid}/active"), &[("active", "false")]).await;
    let r = c.post_form(&format!("/places/{id}/active"), &[("active", "false")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = c.get("/places?q=改名").await;
    assert!(!list.body.contains("改名社区"), "inactive hidden by default");
    let list = c.get("/places?q=改名&inactive=on").await;
    assert!(list.body.contains("改名社区"));
    let actions =
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE entity_id = '{id}' AND action LIKE 'place.%'")).await;
    assert_eq!(actions, 4, "create, update, move, deactivate audited");
    let probe = format!("SELECT COUNT(*) FROM audit_log WHERE entity_id = '{id}' AND action = 'access.not_found'");
    assert_eq!(app.count(&probe).await, 1, "开源's 404 on it is audited too");
}

#[tokio::test]
async fn a_place_cannot_move_under_its_own_child_or_a_wrong_kind() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("清远街道").await;
    let community = app.place_id("大齿社区").await;
    let r = c
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/places/{street}/move"),
            &format!("{{\"new_parent_id\":\"{community}\"}}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["details"][0]["code"], "place.move_into_self");
    let r = c
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/places/{street}/move"),
            &format!("{{\"new_parent_id\":\"{street}\"}}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let yunqu = app.place_id("西花园街道").await;
    let r = c
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/places/{community}/move"),
            &format!("{{\"new_parent_id\":\"{}\"}}", app.place_id("平城区").await),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a community cannot sit under a district");
    // 西花园街道 is in 云冈区, outside the 平城区 bureau's scope: same answer as missing.
    let r = c
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/places/{community}/move"),
            &format!("{{\"new_parent_id\":\"{yunqu}\"}}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["details"][0]["code"], "place.parent_not_found");
    let paths_ok = app.count("SELECT COUNT(*) FROM places c JOIN places p ON p.id = c.parent_id WHERE substr(c.path, 1, length(p.path)) <> p.path").await;
    assert_eq!(paths_ok, 0, "every path still extends its parent's");
}

#[tokio::test]
async fn scope_confines_lists_and_fetches() {
    let app = TestApp::new().await;
    let changmin = app.login("changmin").await;
    let list = changmin.get("/api/v1/places?page_size=200").await.json();
    let names: Vec<String> =
        list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, vec!["万城社区", "第一网格", "第二网格"]);
    let other = app.place_id("大齿社区").await;
    let r = changmin.get(&format!("/api/v1/places/{other}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let missing = changmin.get(&format!("/api/v1/places/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(r.body, missing.body, "out of scope answers exactly like missing");
    // Departments above the scope are visible (for dispatch), not editable.
    let orgs = changmin.get("/api/v1/organisations?kind=department").await.json();
    assert!(orgs["items"].as_array().unwrap().iter().any(|o| o["name"] == "大同市政排污所"));
    let bureau = app.login("bureau").await;
    let all = bureau.get("/api/v1/places?kind=street&page_size=200").await.json();
    assert_eq!(all["total"], 11, "平城区 only, not 云冈区");
    let staff = app.login("zhenhua.mgr").await.get("/api/v1/staff").await.json();
    let accounts: Vec<&str> =
        staff["items"].as_array().unwrap().iter().map(|s| s["account"].as_str().unwrap()).collect();
    assert_eq!(accounts, vec!["wenbichen", "zhenhua.mgr"]);
}

#[tokio::test]
async fn estates_stations_and_organisations_are_managed_on_screens() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let community = app.place_id("北馨园社区").await;
    let r = c
        .post_form(
            "/estates",
            &[
                ("community_id", &community.to_string()),
                ("name", "北馨园小区"),
                ("address", "迎宾街 1 号"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(c.get("/estates").await.body.contains("北馨园小区"));
    let r = c.post_form("/estates", &[("community_id", &community.to_string()), ("name", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let pingcheng = app.place_id("平城区").await;
    let r = c
        .post_form(
            "/organisations",
            &[
                ("kind", "department"),
                ("name", "平城区卫生健康局"),
                ("place_id", &pingcheng.to_string()),
                ("contact_phone", "0352-1234567"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = c
        .post_form(
            "/organisations",
            &[
                ("kind", "department"),
                ("name", "坏电话"),
                ("place_id", &pingcheng.to_string()),
                ("contact_phone", "call me"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("value=\"坏电话\""), "input kept");
    let street = app.place_id("新旺街道").await;
    let host_elsewhere = app.place_id("大齿社区").await;
    let r = c
        .post_form(
            "/stations",
            &[
                ("place_id", &street.to_string()),
                ("name", "新旺第二站"),
                ("host_community_id", &host_elsewhere.to_string()),
                ("service_domains", "elderly_care"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "host community must be inside the street");
    let host = app.place_id("和信社区").await;
    let r = c
        .post_form(
            "/stations",
            &[
                ("place_id", &street.to_string()),
                ("name", "新旺第二站"),
                ("host_community_id", &host.to_string()),
                ("service_domains", "elderly_care"),
                ("service_domains", "child_welfare"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let list = c.get("/stations").await;
    assert!(list.body.contains("新旺第二站") && list.body.contains("养老服务、儿童福利"));
}

#[tokio::test]
async fn staff_accounts_bind_to_places_inside_the_managers_scope() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let yongning = app.place_id("永宁社区").await;
    let r = c
        .post_form(
            "/staff",
            &[
                ("account", "new.worker"),
                ("display_name", "新社工"),
                ("role", "social_worker"),
                ("place_ids", &yongning.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.between("id=\"one-time-password\">", "<").is_some_and(|p| p.len() == 16));
    let r = c
        .post_form(
            "/staff",
            &[
                ("account", "new.admin"),
                ("display_name", "越权"),
                ("role", "system_admin"),
                ("place_ids", &yongning.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "bureau cannot grant system_admin");
    let outside = app.place_id("口泉街道").await;
    let r = c
        .post_form(
            "/staff",
            &[
                ("account", "far.away"),
                ("display_name", "云冈"),
                ("role", "social_worker"),
                ("place_ids", &outside.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "cannot bind outside own scope");
    let r =
        c.post_form("/staff", &[("account", "Bad Account!"), ("display_name", ""), ("role", "social_worker")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("value=\"Bad Account!\""));
    let r = c
        .post_form(
            "/staff",
            &[
                ("account", "wenbichen"),
                ("display_name", "重名"),
                ("role", "social_worker"),
                ("place_ids", &yongning.to_string()),
            ],
        )
        .await;
    assert!(r.body.contains("该账号已被使用"));
}

#[tokio::test]
async fn estates_stations_and_organisations_can_be_edited_moved_and_deactivated() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let one = |sql: &'static str| {
        let db = app.st.db.clone();
        async move {
            let row: (uuid::Uuid, i64) = linli::read!(&db, |conn| sqlx::query_as(sql).fetch_one(conn).await).unwrap();
            row
        }
    };
    // An estate moves to another community and gets a property company.
    let (estate, v) = one("SELECT id, version FROM estates WHERE name = '宏安小区'").await;
    let target = app.place_id("振兴街社区").await;
    let (company, _) = one("SELECT id, version FROM organisations WHERE name = '恒大绿洲物业'").await;
    let r = c
        .post_form(
            &format!("/estates/{estate}"),
            &[
                ("community_id", &target.to_string()),
                ("name", "宏安小区"),
                ("property_company_id", &company.to_string()),
                ("active", "on"),
                ("version", &v.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = c
        .post_form(
            &format!("/estates/{estate}"),
            &[("community_id", &target.to_string()), ("name", "旧"), ("version", &v.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "stale version refused");
    assert!(r.body.contains("value=\"旧\""));
    let page = c.get(&format!("/places/{target}")).await;
    assert!(page.body.contains("宏安小区"));
    // A department is renamed and deactivated.
    let (org, v) = one("SELECT id, version FROM organisations WHERE name = '平城区商务局'").await;
    let district = app.place_id("平城区").await;
    let r = c
        .post_form(
            &format!("/organisations/{org}"),
            &[
                ("kind", "department"),
                ("name", "平城区商务和经济局"),
                ("place_id", &district.to_string()),
                ("version", &v.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organisations WHERE name = '平城区商务和经济局' AND NOT active").await,
        1
    );
    // A station changes operator and domains.
    let (station, v) = one("SELECT id, version FROM stations WHERE name = '振华街道社工站'").await;
    let street = app.place_id("振华街道").await;
    let (op, _) = one("SELECT id, version FROM organisations WHERE name = '彦君传统文化传媒工作室'").await;
    let r = c
        .post_form(
            &format!("/stations/{station}"),
            &[
                ("place_id", &street.to_string()),
                ("name", "振华街道社工站"),
                ("operator_id", &op.to_string()),
                ("service_domains", "child_welfare"),
                ("active", "on"),
                ("version", &v.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let edit = c.get(&format!("/stations/{station}/edit")).await;
    assert!(edit.body.contains("value=\"child_welfare\" checked"), "a ticked chip");
    let r = c
        .post_form(
            &format!("/stations/{station}"),
            &[("place_id", &street.to_string()), ("name", "x"), ("service_domains", "astrology")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Staff move to another place.
    let hjw = app.user_id("hanjianwei").await;
    let r = c
        .post_form(
            &format!("/staff/{hjw}"),
            &[("display_name", "韩建伟"), ("role", "social_worker"), ("place_ids", &street.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let staff = app.login("zhenhua.mgr").await.get("/api/v1/staff").await.json();
    assert!(staff["items"].as_array().unwrap().iter().any(|s| s["account"] == "hanjianwei"), "now in 振华's directory");
}

/// A list's total rides on its page's rows (one statement, `db::query::page_counted`): every
/// page says the same total, the last page holds the rest, and a page past the end, with no row
/// to carry the total, still counts the list.
#[tokio::test]
async fn every_page_of_a_list_carries_the_same_total_even_past_the_end() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let first = c.get("/api/v1/places?page_size=5").await.json();
    let total = first["total"].as_i64().unwrap();
    assert!(total > 10, "the demo has places enough for pages: {total}");
    assert_eq!(first["items"].as_array().unwrap().len(), 5);
    let last_page = (total + 4) / 5;
    let last = c.get(&format!("/api/v1/places?page={last_page}&page_size=5")).await.json();
    assert_eq!(last["total"], total);
    assert_eq!(last["items"].as_array().unwrap().len() as i64, total - (last_page - 1) * 5);
    let past = c.get(&format!("/api/v1/places?page={}&page_size=5", last_page + 3)).await.json();
    assert_eq!(past["total"], total, "{past}");
    assert!(past["items"].as_array().unwrap().is_empty());
    let one = c.get("/api/v1/places?q=永宁社区").await.json();
    assert_eq!(one["total"].as_i64().unwrap(), one["items"].as_array().unwrap().len() as i64);
}

//! Each role's home is its work list (工作台): on the demo city with its stories, every role
//! sees its own work, most urgent first, each item linking to a page it may open, and nothing
//! from outside its scope.

use axum::http::StatusCode;

use crate::casework::register;
use crate::harness::{Client, Resp, TestApp};

/// The demo city with its case, request and hazard stories, as `linli demo` opens it.
pub(crate) async fn demo_with_stories() -> TestApp {
    let app = TestApp::new().await;
    linli::demo::load_casework(&app.st.db, &app.st.keys).await.unwrap();
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    app
}

/// The HTML of one section of a home page, or None when the page has no such section.
pub(crate) fn section(home: &Resp, key: &str) -> Option<String> {
    home.between(&format!("id=\"home-{key}\""), "</section>")
}

/// Time passes: the case's next follow-up falls `days` before today.
pub(crate) async fn follow_up_due_days_ago(app: &TestApp, person: &str, days: i64) {
    let due = linli::people::store::today() - chrono::Duration::days(days);
    let mut tx = app.st.db.begin().await.unwrap();
    let n = linli::write!(&mut tx, |c| sqlx::query(
        "UPDATE cases SET next_follow_up_on = $1 WHERE person_id = (SELECT id FROM persons WHERE name = $2)"
    )
    .bind(due)
    .bind(person)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 1, "one case of {person}");
}

/// A new client of 振华 with a case in intake; with `plan`, a draft plan waiting for approval.
pub(crate) async fn new_client(app: &TestApp, worker: &Client<'_>, name: &str, plan: bool) -> String {
    let yongning = app.place_id("永宁社区").await;
    let p = register(worker, serde_json::json!({"name": name, "birth_date": "1950-02-02", "place_id": yongning})).await;
    let pid = p["id"].as_str().unwrap();
    let r = worker
        .post_form(
            &format!("/people/{pid}/cases"),
            &[("domain", "elderly_care"), ("source", "visit"), ("summary", "独居，行动不便")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let case_path = r.location();
    if plan {
        let form = [
            ("goals", "保障日常生活"),
            ("action", "每周入户探访"),
            ("owner", "温碧晨"),
            ("due_on", "2030-01-31"),
            ("review_on", "2030-03-01"),
            ("tier", "standard"),
        ];
        assert_eq!(worker.post_form(&format!("{case_path}/plan"), &form).await.status, StatusCode::SEE_OTHER);
    }
    case_path
}

/// Every link of the work lists opens for the one who sees it: one tap from its page.
async fn links_open(c: &Client<'_>, account: &str, home: &Resp) {
    let lists: Vec<&str> = home.body.split("<section class=\"worklist\"").skip(1).collect();
    for list in lists {
        let list = list.split("</section>").next().unwrap();
        for href in list.split("href=\"").skip(1).map(|s| s.split('"').next().unwrap()) {
            let href = href.replace("&amp;", "&");
            let r = c.get(&href).await;
            assert_eq!(r.status, StatusCode::OK, "{account}: {href} from the home opens");
        }
    }
}

/// (account, [(section, text it shows)], [text nowhere on the page])
type Expect<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

#[tokio::test]
async fn each_role_home_lists_its_own_work_and_nothing_outside_its_scope() {
    let app = demo_with_stories().await;
    let worker = app.login("wenbichen").await;
    // Work made through the pages: a new case waiting for its assessment, a draft plan waiting
    // for the manager, and 王鹏's follow-up three days late.
    let zhao = new_client(&app, &worker, "赵大妈", false).await;
    new_client(&app, &worker, "钱大爷", true).await;
    follow_up_due_days_ago(&app, "王鹏", 3).await;
    // A failed sign-in for the auditor.
    let r = app.anon().post_form("/login", &[("account", "wenbichen"), ("password", "not the password!")]).await;
    assert_ne!(r.status, StatusCode::SEE_OTHER);

    // The desk first: the street-light report waits for dispatch; then it goes to 万城社区.
    let bureau = app.login("bureau").await;
    let home = bureau.get("/").await;
    let dispatch = section(&home, "dispatch").expect("the bureau's dispatch list");
    assert!(dispatch.contains("路灯") && dispatch.contains("万城华府"), "{dispatch}");
    let id = dispatch.split("href=\"/requests/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let version = app.count("SELECT version FROM requests WHERE category = 'street_light'").await;
    let wancheng = app.place_id("万城社区").await;
    let r = bureau
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[("version", &version.to_string()), ("units", &format!("place:{wancheng}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // (account, [(section, text it shows)], [text nowhere on the page])
    let table: &[Expect] = &[
        (
            "yongtai.grid",
            &[
                ("patrols", "汛期巡查"),
                ("patrols", "小南门西街一带"),
                ("patrols", "今天到期"),
                ("patrols", "href=\"/patrols/"),
            ],
            &["消防安全", "自建房安全", "王鹏", "赵大妈", "class=\"tile\""],
        ),
        (
            "wenbichen",
            &[
                ("follow_ups", "王鹏"),
                ("follow_ups", "class=\"due late\">逾期 3 天"),
                ("my_cases", "赵大妈"),
                ("my_cases", "待需求评估"),
                ("my_cases", &format!("href=\"{zhao}\"")),
            ],
            &["王芳", "小阳", "class=\"tile\""],
        ),
        (
            "zhenhua.mgr",
            &[
                ("approvals", "服务计划待审批 · 钱大爷"),
                ("overdue_follow_ups", "王鹏"),
                ("caseload", "温碧晨"),
                ("transfer_offers", "0"),
            ],
            &["王芳", "小阳", "郑江波", "class=\"tile\""],
        ),
        ("kaiyuan.mgr", &[("caseload", "郑江波")], &["钱大爷", "王鹏", "赵大妈", "温碧晨"]),
        (
            "paiwu",
            &[("parts", "待办结"), ("parts", "建筑三公司家属院"), ("parts", "href=\"/requests/")],
            &["万城华府", "宏安小区", "王鹏", "class=\"tile\""],
        ),
        ("changmin", &[("parts", "待签收"), ("parts", "万城华府")], &["建筑三公司家属院", "王鹏", "汛期巡查"]),
        ("bureau", &[("overdue_by_street", "振华街道"), ("overdue_by_street", "逾期回访 1")], &["钱大爷"]),
        ("auditor", &[("security", "登录失败 · wenbichen")], &["王鹏", "汛期巡查", "class=\"tile\""]),
        ("sysadmin", &[], &["王鹏", "汛期巡查", "class=\"worklist\""]),
        ("yanjun", &[], &["王鹏", "汛期巡查", "万城华府", "class=\"tile\""]),
        ("volunteer", &[], &["王鹏", "汛期巡查", "万城华府", "class=\"tile\""]),
    ];
    for (account, shows, hides) in table {
        // The bureau signs in once (its second factor is enrolled on the first sign-in).
        let other;
        let c = if *account == "bureau" {
            &bureau
        } else {
            other = app.login(account).await;
            &other
        };
        let home = c.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{account}");
        for (key, text) in *shows {
            let s = section(&home, key).unwrap_or_else(|| panic!("{account}: no section {key}:\n{}", home.body));
            assert!(s.contains(text), "{account}: {key} should show {text}:\n{s}");
        }
        for text in *hides {
            assert!(!home.body.contains(text), "{account}: the home must not show {text}:\n{}", home.body);
        }
        links_open(c, account, &home).await;
        // Roles with no work kept here are told so; the system admin sees the tree it builds.
        if ["yanjun", "volunteer"].contains(account) {
            assert!(home.body.contains("这里暂时没有需要您处理的工作"), "{account}");
        }
        if *account == "sysadmin" {
            assert!(home.body.contains("class=\"tile\""));
        }
    }
}

#[tokio::test]
async fn the_most_urgent_comes_first_and_overdue_reads_in_red() {
    let app = demo_with_stories().await;
    let worker = app.login("wenbichen").await;
    for name in ["孙大爷", "李奶奶", "周爷爷"] {
        new_client(&app, &worker, name, false).await;
    }
    follow_up_due_days_ago(&app, "孙大爷", 1).await;
    follow_up_due_days_ago(&app, "李奶奶", 10).await;
    follow_up_due_days_ago(&app, "周爷爷", -2).await;
    let home = worker.get("/").await;
    let s = section(&home, "follow_ups").unwrap();
    let at = |name: &str| s.find(name).unwrap_or_else(|| panic!("{name} in {s}"));
    assert!(at("李奶奶") < at("孙大爷") && at("孙大爷") < at("周爷爷"), "{s}");
    assert!(s.contains("class=\"due late\">逾期 10 天") && s.contains("class=\"due\">2 天后到期"), "{s}");
    assert!(home.body.contains("id=\"home-follow_ups\" data-count=\"3\""), "{}", home.body);
    assert!(home.body.contains("class=\"badge late\">3</span>"), "the count is red when something is overdue");
}

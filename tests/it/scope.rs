//! Writes that name a place, an organisation, a station or an account by id: an id outside the
//! caller's scope is refused exactly like an id that does not exist (the same 422 field error),
//! and nothing is written. Records above the caller (a city-level organisation seen from a
//! district) are shown but not editable.

use axum::http::{Method, StatusCode};
use linli::audit::Actor;
use linli::auth::Role;
use uuid::Uuid;

use crate::harness::{Client, TestApp};

async fn id_of(app: &TestApp, table: &str, name: &str) -> Uuid {
    let sql = format!("SELECT id FROM {table} WHERE name = $1");
    let (id,): (Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(&sql).bind(name).fetch_one(c).await)
        .unwrap_or_else(|e| {
            panic!("{table} {name}: {e}");
        });
    id
}

/// Records of 云冈区 the demo lacks: a department, a partner organisation and a social worker
/// of 口泉街道. Made by the operator, whose scope is the whole city.
async fn yungang_records(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    use linli::org::model::OrgKind;
    use linli::org::store::{OrgInput, save_organisation};
    let all = linli::staff::store::everything();
    let op = Actor::system("test operator");
    let yungang = app.place_id("云冈区").await;
    let mut ids = Vec::new();
    for (kind, name) in [(OrgKind::Department, "云冈区市政管理所"), (OrgKind::PartnerOrg, "云冈区社工服务中心")]
    {
        let input = OrgInput {
            kind,
            name: name.into(),
            place_id: yungang,
            contact_name: None,
            contact_phone: None,
            description: None,
            active: true,
            version: None,
        };
        ids.push(save_organisation(&app.st.db, &all, &op, None, &input).await.unwrap());
    }
    let worker = linli::staff::store::StaffInput {
        account: "kouquan.sw".into(),
        display_name: "口泉社工".into(),
        role: Role::SocialWorker,
        place_ids: vec![app.place_id("口泉街道").await],
        organisation_id: None,
        version: None,
    };
    let (sw, _) = linli::staff::store::create(&app.st.db, &all, &op, None, &worker, None).await.unwrap();
    (ids[0], ids[1], sw)
}

/// How a refusal looks, with the ids it names blanked out: the same for a foreign id and for
/// one that does not exist means the answer reveals nothing.
fn refusal(r: &crate::harness::Resp, id: &str) -> (StatusCode, String) {
    let body = if r.headers.get("content-type").is_some_and(|v| v.to_str().unwrap().contains("json")) {
        r.json()["details"].to_string()
    } else {
        r.body.clone()
    };
    (r.status, body.replace(id, "<id>"))
}

/// Whether a refusal puts its message on `field`: the API's details, or the form field marked.
fn names_field(r: &crate::harness::Resp, field: &str) -> bool {
    if r.body.starts_with('{') {
        return r.json()["details"].as_array().is_some_and(|d| d.iter().any(|e| e["field"] == field));
    }
    if r.body.contains(&format!("<li>{field}: ")) {
        return true; // the error page of a form posted from elsewhere
    }
    let Some(at) = r.body.find(&format!("name=\"{field}\"")) else { return false };
    let div = r.body[..at].rfind("<div class=\"field").unwrap_or(0);
    r.body[div..at].contains("has-error")
}

enum Send<'a> {
    Json(Method, String, String),
    Form(String, Vec<(&'a str, String)>),
    Multipart(String, Vec<(&'a str, String)>),
}

async fn send(c: &Client<'_>, s: &Send<'_>) -> crate::harness::Resp {
    match s {
        Send::Json(m, path, body) => c.send_json(m.clone(), path, body, &[]).await,
        Send::Form(path, fields) => {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.post_form(path, &fields).await
        }
        Send::Multipart(path, fields) => {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.post_multipart(path, &fields, &[]).await
        }
    }
}

/// A write naming a foreign id: who sends it, the id, the request naming it, the field refused.
type Row<'a> = (&'a Client<'a>, String, Box<dyn Fn(String) -> Send<'a> + 'a>, &'a str);

/// Runs a table of writes that name a foreign id: each must answer 422 on its field, exactly
/// as for an id that does not exist.
async fn refused_like_unknown(rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for (i, (client, foreign, request, field)) in rows.iter().enumerate() {
        let unknown = if foreign.contains('.') { "no.such.account".to_string() } else { Uuid::now_v7().to_string() };
        let r = send(client, &request(foreign.clone())).await;
        let u = send(client, &request(unknown.clone())).await;
        if r.status != StatusCode::UNPROCESSABLE_ENTITY {
            failures.push(format!(
                "row {i} ({field}): foreign id answered {} {}",
                r.status,
                &r.body[..r.body.len().min(300)]
            ));
            continue;
        }
        if !names_field(&r, field) {
            failures.push(format!("row {i}: the refusal does not name {field}: {}", &r.body[..r.body.len().min(300)]));
        }
        if refusal(&r, foreign) != refusal(&u, &unknown) {
            failures.push(format!("row {i} ({field}): a foreign id is answered unlike an unknown one"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn ids_outside_the_callers_scope_are_refused_like_unknown_ones_on_every_write() {
    let app = TestApp::new().await;
    let (yg_dept, yg_partner, yg_worker) = yungang_records(&app).await;
    let bureau = app.login("bureau").await;
    let manager = app.login("zhenhua.mgr").await;
    let worker = app.login("wenbichen").await;

    let city_dept = id_of(&app, "organisations", "大同市政排污所").await;
    let district_dept = id_of(&app, "organisations", "平城区环卫服务中心").await;
    let yg_company = id_of(&app, "organisations", "中瑞物业").await;
    let yg_station = id_of(&app, "stations", "口泉街道社工站").await;
    let estate = id_of(&app, "estates", "宏安小区").await;
    let station = id_of(&app, "stations", "振华街道社工站").await;
    let sysadmin = app.user_id("sysadmin").await;
    let hanjianwei = app.user_id("hanjianwei").await;
    let (pingcheng, kouquan, quanxi) =
        (app.place_id("平城区").await, app.place_id("口泉街道").await, app.place_id("泉西社区(示例)").await);
    let (beixin, yongning, zhenhua) =
        (app.place_id("北馨园社区").await, app.place_id("永宁社区").await, app.place_id("振华街道").await);
    let yingbin = app.place_id("迎宾街道").await;

    // A client of 振华 with a case, another without, and a request the bureau took and sent to
    // 北馨园社区.
    let new_person = |name: &'static str| {
        serde_json::json!({"name": name, "birth_date": "1950-01-01", "place_id": yongning}).to_string()
    };
    let p1 = worker.send_json(Method::POST, "/api/v1/people", &new_person("赵一"), &[]).await.json()["id"].clone();
    let p2 = worker.send_json(Method::POST, "/api/v1/people", &new_person("赵二"), &[]).await.json()["id"].clone();
    let body = serde_json::json!({"person_id": p1, "domain": "elderly_care", "source": "visit", "summary": "独居"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"category": "sewage_overflow", "description": "污水外溢", "place_id": beixin});
    let request = bureau.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert_eq!(request.status, StatusCode::CREATED, "{}", request.body);
    let request_id = request.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"version": 1, "units": [format!("place:{beixin}")]});
    let r = bureau
        .send_json(Method::POST, &format!("/api/v1/requests/{request_id}/dispatch"), &body.to_string(), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let part: (Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM request_parts").fetch_one(c).await).unwrap();
    let version = |r: &crate::harness::Resp| r.json()["version"].as_i64().unwrap().to_string();
    let request_version = version(&bureau.get(&format!("/api/v1/requests/{request_id}")).await);

    let staff_json = |account: &str, org: String| {
        serde_json::json!({"account": account, "display_name": "新经办人", "role": "department_handler",
            "place_ids": [pingcheng], "organisation_id": org})
        .to_string()
    };
    let staff_form = |account: &str, org: String| {
        vec![
            ("account", account.to_string()),
            ("display_name", "新经办人".to_string()),
            ("role", "department_handler".to_string()),
            ("place_ids", pingcheng.to_string()),
            ("organisation_id", org),
        ]
    };
    let rows: Vec<Row> = vec![
        // A department of another district, and one above the district: binding an account to
        // an organisation lets it read that organisation's requests.
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| Send::Json(Method::POST, "/api/v1/staff".into(), staff_json("handler.a", o))),
            "organisation_id",
        ),
        (
            &bureau,
            city_dept.to_string(),
            Box::new(|o| Send::Json(Method::POST, "/api/v1/staff".into(), staff_json("handler.b", o))),
            "organisation_id",
        ),
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| Send::Form("/staff".into(), staff_form("handler.c", o))),
            "organisation_id",
        ),
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| {
                Send::Form(
                    format!("/staff/{hanjianwei}"),
                    vec![
                        ("display_name", "韩建伟".into()),
                        ("role", "social_worker".into()),
                        ("place_ids", yingbin.to_string()),
                        ("organisation_id", o),
                    ],
                )
            }),
            "organisation_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Json(Method::POST, "/api/v1/staff".into(),
            serde_json::json!({"account": "new.worker", "display_name": "新社工", "role": "social_worker", "place_ids": [p]}).to_string())
            }),
            "place_ids",
        ),
        // An estate's property company, a station's operator.
        (
            &bureau,
            yg_company.to_string(),
            Box::new(|o| {
                Send::Form(
                    "/estates".into(),
                    vec![
                        ("community_id", beixin.to_string()),
                        ("name", "测试小区".into()),
                        ("property_company_id", o),
                        ("active", "on".into()),
                    ],
                )
            }),
            "property_company_id",
        ),
        (
            &bureau,
            yg_company.to_string(),
            Box::new(|o| {
                Send::Form(
                    format!("/estates/{estate}"),
                    vec![
                        ("community_id", beixin.to_string()),
                        ("name", "宏安小区".into()),
                        ("property_company_id", o),
                        ("active", "on".into()),
                        ("version", "1".into()),
                    ],
                )
            }),
            "property_company_id",
        ),
        (
            &bureau,
            quanxi.to_string(),
            Box::new(|c| {
                Send::Form(
                    "/estates".into(),
                    vec![("community_id", c), ("name", "测试小区".into()), ("active", "on".into())],
                )
            }),
            "community_id",
        ),
        (
            &bureau,
            yg_partner.to_string(),
            Box::new(|o| {
                Send::Form(
                    format!("/stations/{station}"),
                    vec![
                        ("place_id", zhenhua.to_string()),
                        ("name", "振华街道社工站".into()),
                        ("operator_id", o),
                        ("active", "on".into()),
                        ("version", "1".into()),
                    ],
                )
            }),
            "operator_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/organisations".into(),
                    vec![
                        ("kind", "partner_org".into()),
                        ("name", "测试机构".into()),
                        ("place_id", p),
                        ("active", "on".into()),
                    ],
                )
            }),
            "place_id",
        ),
        // A category's department, and the units a request is sent to.
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| {
                Send::Form(
                    "/request-categories".into(),
                    vec![
                        ("code", "scope_test".into()),
                        ("name", "范围测试".into()),
                        ("group_name", "测试".into()),
                        ("default_unit", "department".into()),
                        ("default_org_id", o),
                        ("response_hours", "2".into()),
                        ("resolve_days", "3".into()),
                        ("active", "on".into()),
                    ],
                )
            }),
            "default_org_id",
        ),
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| {
                Send::Json(Method::POST, format!("/api/v1/requests/{request_id}/dispatch"),
                serde_json::json!({"version": request_version.parse::<i64>().unwrap(), "units": [format!("org:{o}")]}).to_string())
            }),
            "units",
        ),
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| {
                Send::Form(
                    format!("/requests/{request_id}/dispatch"),
                    vec![("version", request_version.clone()), ("units", format!("org:{o}"))],
                )
            }),
            "units",
        ),
        (
            &bureau,
            yg_dept.to_string(),
            Box::new(|o| {
                Send::Form(
                    format!("/request-parts/{}/reassign", part.0),
                    vec![("version", request_version.clone()), ("unit", format!("org:{o}")), ("reason", "改派".into())],
                )
            }),
            "unit",
        ),
        (
            &bureau,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Json(
                    Method::POST,
                    "/api/v1/requests".into(),
                    serde_json::json!({"category": "sewage_overflow", "description": "污水", "place_id": p})
                        .to_string(),
                )
            }),
            "place_id",
        ),
        // Case work: where a case goes, who works it, who may open a child's record.
        (
            &manager,
            yg_station.to_string(),
            Box::new(|s| {
                Send::Form(format!("/cases/{case_id}/transfer"), vec![("station_id", s), ("reason", "迁居".into())])
            }),
            "station_id",
        ),
        (
            &worker,
            sysadmin.to_string(),
            Box::new(|w| {
                Send::Json(Method::POST, "/api/v1/cases".into(),
                serde_json::json!({"person_id": p2, "domain": "elderly_care", "source": "visit", "summary": "独居", "worker_id": w}).to_string())
            }),
            "worker_id",
        ),
        (
            &manager,
            "kouquan.sw".to_string(),
            Box::new(|a| {
                Send::Form(
                    format!("/people/{}/grants", p1.as_str().unwrap()),
                    vec![("account", a), ("days", "1".into()), ("reason", "协助".into())],
                )
            }),
            "account",
        ),
        (
            &worker,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Json(
                    Method::POST,
                    "/api/v1/people".into(),
                    serde_json::json!({"name": "钱三", "birth_date": "1950-01-01", "place_id": p}).to_string(),
                )
            }),
            "place_id",
        ),
        (
            &worker,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Json(Method::POST, "/api/v1/hazards".into(),
            serde_json::json!({"category": "fire", "risk_level": "high", "description": "堆放杂物", "place_id": p}).to_string())
            }),
            "place_id",
        ),
        (
            &manager,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Json(Method::POST, "/api/v1/patrols".into(),
            serde_json::json!({"place_id": p, "checklist": "fire", "area": "1号楼", "due_on": linli::hazards::store::today().to_string()}).to_string())
            }),
            "place_id",
        ),
    ];
    let _ = yg_worker;

    let users = app.count("SELECT COUNT(*) FROM users").await;
    refused_like_unknown(&rows).await;

    // Nothing was written: no account, the estate, station, case and request as they were.
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM estates WHERE property_company_id IS NOT NULL AND name = '宏安小区'").await,
        0
    );
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM stations WHERE operator_id = '{yg_partner}'")).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM request_categories WHERE code = 'scope_test'").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM request_parts").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM child_access_grants").await, 0);
    let held = manager.get(&format!("/api/v1/cases/{case_id}")).await.json();
    assert_eq!(held["station_name"], "振华街道社工站");

    // Inside the scope the same writes go through: a handler of the district's own department.
    let r =
        bureau.send_json(Method::POST, "/api/v1/staff", &staff_json("handler.d", district_dept.to_string()), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn an_organisation_above_the_caller_is_shown_but_not_editable() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let wushu = id_of(&app, "organisations", "大同市武术协会").await;
    let pingcheng = app.place_id("平城区").await.to_string();
    // Moved into the district with `active` unset: that deactivated it. Now refused, with a
    // message saying why, on the form and on the save.
    let edit = bureau.get(&format!("/organisations/{wushu}/edit")).await;
    assert_eq!(edit.status, StatusCode::FORBIDDEN);
    assert!(edit.body.contains("上级"), "{}", edit.body);
    let r = bureau
        .post_form(
            &format!("/organisations/{wushu}"),
            &[("kind", "partner_org"), ("name", "大同市武术协会"), ("place_id", &pingcheng), ("version", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("只能查看"), "{}", r.body);
    let (place, active): (Uuid, bool) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT place_id, active FROM organisations WHERE id = $1")
            .bind(wushu)
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!((place, active), (app.place_id("大同市").await, true), "neither moved nor deactivated");
    // Still listed, without an edit link, on the page and in the API.
    let list = bureau.get("/organisations").await;
    assert!(list.body.contains("大同市武术协会"));
    assert!(!list.body.contains(&format!("/organisations/{wushu}/edit")));
    let api = bureau.get("/api/v1/organisations?page_size=100").await.json();
    assert!(api["items"].as_array().unwrap().iter().any(|o| o["id"] == wushu.to_string()));

    // An organisation of the district itself stays editable; the operator edits the city's.
    let yanjun = id_of(&app, "organisations", "彦君传统文化传媒工作室").await;
    assert!(list.body.contains(&format!("/organisations/{yanjun}/edit")));
    let r = bureau
        .post_form(
            &format!("/organisations/{yanjun}"),
            &[
                ("kind", "partner_org"),
                ("name", "彦君传统文化传媒工作室"),
                ("place_id", &pingcheng),
                ("active", "on"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let city = app.place_id("大同市").await.to_string();
    let op = app.login("sysadmin").await;
    let r = op
        .post_form(
            &format!("/organisations/{wushu}"),
            &[
                ("kind", "partner_org"),
                ("name", "大同市武术协会"),
                ("place_id", &city),
                ("active", "on"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // In English too.
    bureau.post_form("/locale", &[("lang", "en")]).await;
    let r = bureau
        .post_form(
            &format!("/organisations/{wushu}"),
            &[("kind", "partner_org"), ("name", "大同市武术协会"), ("place_id", &pingcheng), ("version", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("above"), "{}", r.body);
}

/// An account bound to an organisation above the editor (by the operator) keeps its binding
/// through an edit, and the form offers it; but the binding is no longer "kept" when the role
/// changes with it: a handler of a city department would read its requests.
#[tokio::test]
async fn an_edit_keeps_a_binding_above_the_editor_but_cannot_turn_it_into_a_new_grant() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let paiwu = app.user_id("paiwu").await;
    let city_dept = id_of(&app, "organisations", "大同市政排污所").await.to_string();
    let pingcheng = app.place_id("平城区").await.to_string();
    let form = bureau.get(&format!("/staff/{paiwu}/edit")).await;
    assert!(form.body.contains(&format!("value=\"{city_dept}\" selected")), "the kept binding is offered");
    let edit = |role: &'static str, name: &'static str| {
        vec![
            ("display_name", name),
            ("role", role),
            ("place_ids", pingcheng.as_str()),
            ("organisation_id", city_dept.as_str()),
        ]
    };
    let r =
        bureau.post_form(&format!("/staff/{paiwu}"), &edit("department_handler", "市政排污所 王师傅（夜班）")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let all = linli::staff::store::everything();
    let op = Actor::system("test operator");
    let input = linli::staff::store::StaffInput {
        account: "wushu.staff".into(),
        display_name: "武术协会 李教练".into(),
        role: Role::PartnerStaff,
        place_ids: vec![app.place_id("平城区").await],
        organisation_id: Some(id_of(&app, "organisations", "大同市武术协会").await),
        version: None,
    };
    let (id, _) = linli::staff::store::create(&app.st.db, &all, &op, None, &input, None).await.unwrap();
    let wushu = id_of(&app, "organisations", "大同市武术协会").await.to_string();
    let fields = |role: &'static str| {
        vec![
            ("display_name", "武术协会 李教练"),
            ("role", role),
            ("place_ids", pingcheng.as_str()),
            ("organisation_id", wushu.as_str()),
        ]
    };
    let r = bureau.post_form(&format!("/staff/{id}"), &fields("department_handler")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(names_field(&r, "organisation_id"), "{}", r.body);
    let r = bureau.post_form(&format!("/staff/{id}"), &fields("partner_staff")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let role: (String,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT role FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap();
    assert_eq!(role.0, "partner_staff");
}

/// The rest of the writes that name a place or an organisation by id: a station created, an
/// organisation of the district moved to another, places created or re-parented, and the page
/// forms beside the API writes of the first table.
#[tokio::test]
async fn the_remaining_writes_naming_a_place_or_organisation_refuse_foreign_ids() {
    let app = TestApp::new().await;
    let (_, yg_partner, _) = yungang_records(&app).await;
    let bureau = app.login("bureau").await;
    let manager = app.login("zhenhua.mgr").await;
    let worker = app.login("wenbichen").await;
    let district_dept = id_of(&app, "organisations", "平城区环卫服务中心").await;
    let (kouquan, quanxi, yongning, zhenhua) = (
        app.place_id("口泉街道").await,
        app.place_id("泉西社区(示例)").await,
        app.place_id("永宁社区").await,
        app.place_id("振华街道").await,
    );
    let body = serde_json::json!({"name": "赵三", "birth_date": "1950-01-01", "place_id": yongning}).to_string();
    let person = worker.send_json(Method::POST, "/api/v1/people", &body, &[]).await.json();
    let person_id = person["id"].as_str().unwrap().to_string();
    let place_body = serde_json::json!({"parent_id": zhenhua, "kind": "community", "name": "测试社区"}).to_string();
    let own_place = bureau.send_json(Method::POST, "/api/v1/places", &place_body, &[]).await;
    assert_eq!(own_place.status, StatusCode::CREATED, "{}", own_place.body);
    let own_place = own_place.json()["id"].as_str().unwrap().to_string();
    let today = linli::hazards::store::today().to_string();

    let rows: Vec<Row> = vec![
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/stations".into(),
                    vec![("place_id", p), ("name", "测试社工站".into()), ("active", "on".into())],
                )
            }),
            "place_id",
        ),
        (
            &bureau,
            yg_partner.to_string(),
            Box::new(|o| {
                Send::Form(
                    "/stations".into(),
                    vec![
                        ("place_id", zhenhua.to_string()),
                        ("name", "测试社工站".into()),
                        ("operator_id", o),
                        ("active", "on".into()),
                    ],
                )
            }),
            "operator_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Form(
                    format!("/organisations/{district_dept}"),
                    vec![
                        ("kind", "department".into()),
                        ("name", "平城区环卫服务中心".into()),
                        ("place_id", p),
                        ("active", "on".into()),
                        ("version", "1".into()),
                    ],
                )
            }),
            "place_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Json(
                    Method::POST,
                    "/api/v1/places".into(),
                    serde_json::json!({"parent_id": p, "kind": "community", "name": "外区社区"}).to_string(),
                )
            }),
            "parent_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/places".into(),
                    vec![("parent_id", p), ("kind", "community".into()), ("name", "外区社区".into())],
                )
            }),
            "parent_id",
        ),
        (
            &bureau,
            kouquan.to_string(),
            Box::new(|p| {
                Send::Json(
                    Method::POST,
                    format!("/api/v1/places/{own_place}/move"),
                    serde_json::json!({"new_parent_id": p}).to_string(),
                )
            }),
            "new_parent_id",
        ),
        (
            &bureau,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/requests".into(),
                    vec![("category", "sewage_overflow".into()), ("description", "污水".into()), ("place_id", p)],
                )
            }),
            "place_id",
        ),
        (
            &worker,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/people".into(),
                    vec![("name", "钱四".into()), ("birth_date", "1950-01-01".into()), ("place_id", p)],
                )
            }),
            "place_id",
        ),
        (
            &worker,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Json(
                    Method::PUT,
                    format!("/api/v1/people/{person_id}"),
                    serde_json::json!({"name": "赵三", "birth_date": "1950-01-01", "place_id": p, "version": 1})
                        .to_string(),
                )
            }),
            "place_id",
        ),
        (
            &worker,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Multipart(
                    "/hazards".into(),
                    vec![
                        ("category", "fire".into()),
                        ("risk_level", "general".into()),
                        ("description", "楼道堆放杂物".into()),
                        ("place_id", p),
                    ],
                )
            }),
            "place_id",
        ),
        (
            &manager,
            quanxi.to_string(),
            Box::new(|p| {
                Send::Form(
                    "/patrols".into(),
                    vec![
                        ("place_id", p),
                        ("checklist", "fire".into()),
                        ("area", "1号楼".into()),
                        ("due_on", today.clone()),
                    ],
                )
            }),
            "place_id",
        ),
    ];
    let counts =
        "SELECT (SELECT COUNT(*) FROM stations) + (SELECT COUNT(*) FROM places) + (SELECT COUNT(*) FROM requests)
                  + (SELECT COUNT(*) FROM persons) + (SELECT COUNT(*) FROM hazards) + (SELECT COUNT(*) FROM patrols)";
    let before = app.count(counts).await;
    refused_like_unknown(&rows).await;
    assert_eq!(app.count(counts).await, before, "nothing was written");
    let dept = bureau.get(&format!("/api/v1/organisations/{district_dept}")).await;
    assert!(!dept.body.contains(&kouquan.to_string()), "the department stayed in the district: {}", dept.body);
    let moved = bureau.get(&format!("/api/v1/people/{person_id}")).await.json();
    assert_eq!(moved["place_id"], yongning.to_string());
}

/// An account bound to places in two districts belongs to neither district's bureau alone: the
/// 平城区 bureau reads it (one of its places is theirs) but may not reset its password, disable
/// it, or edit its roles and places — that would take over a 云冈区 account. Refused with a
/// reason (403), nothing written, and the account still signs in with its own password.
#[tokio::test]
async fn an_account_reaching_outside_the_scope_is_read_but_not_written() {
    let app = TestApp::new().await;
    let all = linli::staff::store::everything();
    let op = Actor::system("test operator");
    let input = linli::staff::store::StaffInput {
        account: "two.districts".into(),
        display_name: "两区管理员".into(),
        role: Role::BureauAdmin,
        place_ids: vec![app.place_id("云冈区").await, app.place_id("振华街道").await],
        organisation_id: None,
        version: None,
    };
    let (id, _) = linli::staff::store::create(&app.st.db, &all, &op, None, &input, Some(&app.password)).await.unwrap();
    let before = user_version(&app, id).await;
    let audits = app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'staff.%'").await;

    let bureau = app.login("bureau").await;
    assert_eq!(bureau.get(&format!("/staff/{id}")).await.status, StatusCode::OK, "reads stay as they were");
    let show = bureau.get(&format!("/staff/{id}")).await;
    assert!(!show.body.contains("/reset-password"), "no write buttons are offered");

    let r = bureau.post_form(&format!("/staff/{id}/reset-password"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = bureau.post_form(&format!("/staff/{id}/disabled"), &[("disabled", "true")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(bureau.get(&format!("/staff/{id}/edit")).await.status, StatusCode::FORBIDDEN);
    let zhenhua = app.place_id("振华街道").await.to_string();
    let r = bureau
        .post_form(
            &format!("/staff/{id}"),
            &[("display_name", "两区管理员"), ("role", "community_staff"), ("place_ids", &zhenhua), ("version", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    assert_eq!(user_version(&app, id).await, before, "nothing written");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'staff.%'").await, audits);
    let (places,): (i64,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT COUNT(*) FROM user_places WHERE user_id = $1")
            .bind(id)
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(places, 2);
    let r = app.anon().post_form("/login", &[("account", "two.districts"), ("password", &app.password)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the account keeps its password");

    // The operator's whole-city scope still manages it.
    linli::staff::store::set_disabled(&app.st.db, &all, &op, None, id, true).await.unwrap();
}

async fn user_version(app: &TestApp, id: Uuid) -> i64 {
    let (v,): (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT version FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap();
    v
}

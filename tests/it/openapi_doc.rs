//! The OpenAPI document's structural invariants: what made it invalid for validators, client
//! generators and schemathesis (see `scripts/api-check` for those tools themselves).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::{Client, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let r = app.anon().get("/api/v1/openapi.json").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    r.json()
}

/// Every operation of the document: (method, path template, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((m.to_string(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

fn template_vars(path: &str) -> BTreeSet<String> {
    path.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(v, _)| v.to_string())).collect()
}

#[tokio::test]
async fn operation_ids_are_unique_and_parameters_are_where_they_are_declared() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut faults = Vec::new();
    for (m, path, op) in operations(&doc) {
        let at = format!("{m} {path}");
        match op["operationId"].as_str() {
            Some(id) => ids.entry(id.to_string()).or_default().push(at.clone()),
            None => faults.push(format!("{at}: no operationId")),
        }
        let mut seen = BTreeSet::new();
        let mut path_params = BTreeSet::new();
        for p in op["parameters"].as_array().cloned().unwrap_or_default() {
            let (name, place) =
                (p["name"].as_str().unwrap_or("").to_string(), p["in"].as_str().unwrap_or("").to_string());
            if !seen.insert((name.to_lowercase(), place.clone())) {
                faults.push(format!("{at}: parameter {name} in {place} declared twice"));
            }
            if place == "path" {
                if p["required"] != Value::Bool(true) {
                    faults.push(format!("{at}: path parameter {name} not required"));
                }
                path_params.insert(name);
            }
        }
        let vars = template_vars(&path);
        if path_params != vars {
            faults.push(format!("{at}: path parameters {path_params:?}, template {vars:?}"));
        }
    }
    for (id, at) in &ids {
        if at.len() > 1 {
            faults.push(format!("operationId {id} used by {at:?}"));
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
}

#[tokio::test]
async fn every_operation_documents_its_error_answers() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let routes = linli::app::all_routes();
    let mut faults = Vec::new();
    for (m, path, op) in operations(&doc) {
        let at = format!("{m} {path}");
        let responses = op["responses"].as_object().expect("responses");
        let route = routes
            .iter()
            .find(|r| r.method.as_str().eq_ignore_ascii_case(&m) && r.path == path)
            .unwrap_or_else(|| panic!("{at} is documented but not routed"));
        let mut want: Vec<&str> = vec!["default"];
        let public = matches!(route.access, linli::app::Access::Public);
        if !public {
            want.push("401");
            // Signed operations carry the document's token requirement, not an empty one.
            if op.get("security").is_some_and(|s| s.as_array().is_some_and(|a| a.is_empty())) {
                faults.push(format!("{at}: signed but documented as public"));
            }
        }
        if matches!(route.access, linli::app::Access::Roles(_)) {
            want.push("403");
        }
        if path.contains('{') {
            want.extend(["400", "404"]);
        }
        if op.get("requestBody").is_some() {
            want.extend(["400", "422"]);
        }
        if op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "query")) {
            want.push("400");
        }
        for status in want {
            if !responses.contains_key(status) {
                faults.push(format!("{at}: {status} undocumented"));
            }
        }
        for (status, r) in responses {
            if !(status.starts_with('4') || status.starts_with('5') || status == "default") {
                continue;
            }
            let schema = &r["content"]["application/json"]["schema"];
            if schema.is_null() {
                faults.push(format!("{at}: {status} has no JSON body"));
            }
        }
    }
    let details = &doc["components"]["schemas"]["ErrorBody"]["properties"]["details"];
    assert!(
        details.get("oneOf").is_some() || details.get("$ref").is_some() || details.get("anyOf").is_some(),
        "details is untyped: {details}"
    );
    assert!(faults.is_empty(), "{faults:#?}");
}

/// Walks every value of the document and reports `items: false` and tuple schemas.
fn tuple_schemas(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if map.get("items") == Some(&Value::Bool(false)) || map.contains_key("prefixItems") {
                out.push(at.to_string());
            }
            for (k, v) in map {
                tuple_schemas(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                tuple_schemas(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn no_tuple_schemas_and_each_body_its_own_name() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let mut tuples = Vec::new();
    tuple_schemas(&doc, "", &mut tuples);
    assert!(tuples.is_empty(), "tuple schemas at {tuples:?}");
    let timeline = &doc["paths"]["/api/v1/people/{id}/timeline"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(timeline["items"]["$ref"], "#/components/schemas/TimelineEvent", "{timeline}");
    let body_of =
        |path: &str| doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].clone();
    assert_eq!(body_of("/api/v1/cases"), "#/components/schemas/CaseIntakeInput");
    assert_eq!(body_of("/api/v1/requests"), "#/components/schemas/RequestIntakeInput");
    let case_intake = &doc["components"]["schemas"]["CaseIntakeInput"]["properties"];
    for field in ["person_id", "domain", "source", "summary"] {
        assert!(case_intake.get(field).is_some(), "CaseIntakeInput lacks {field}");
    }
    let event = &doc["components"]["schemas"]["TimelineEvent"];
    assert!(event["properties"].get("id").is_none() && event["properties"].get("order").is_none(), "{event}");
    // A file in an answer is a binary string (a file to client generators), not a list of bytes.
    let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    let rejects =
        &doc["paths"]["/api/v1/people/imports/{id}/rejects"]["get"]["responses"]["200"]["content"][xlsx]["schema"];
    let rejects = match rejects.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => rejects,
    };
    assert_eq!((&rejects["type"], &rejects["format"]), (&json!("string"), &json!("binary")), "{rejects}");
}

/// A small validator of an answer against the document's schema: types, required properties,
/// arrays' items, `$ref`, `oneOf`/`anyOf`/`allOf`. Enough to catch a list documented as an array
/// that answers `{items, …}`, or a property documented that the answer lacks.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], v, at, out);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let fits = alts.iter().any(|s| {
                let mut o = Vec::new();
                conforms(doc, s, v, at, &mut o);
                o.is_empty()
            });
            if !fits {
                out.push(format!("{at}: matches no alternative of {key}: {v}"));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            conforms(doc, s, v, at, out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            out.push(format!("{at}: documented {types:?}, answered {actual}"));
            return;
        }
    }
    if let (Some(items), Value::Array(vs)) = (schema.get("items"), v) {
        for (i, x) in vs.iter().enumerate().take(5) {
            conforms(doc, items, x, &format!("{at}[{i}]"), out);
        }
    }
    if let Value::Object(obj) = v {
        for req in schema["required"].as_array().cloned().unwrap_or_default() {
            let name = req.as_str().unwrap_or("");
            if !obj.contains_key(name) {
                out.push(format!("{at}: required property {name} missing"));
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, s) in props {
                if let Some(x) = obj.get(name) {
                    conforms(doc, s, x, &format!("{at}.{name}"), out);
                }
            }
        }
    }
}

#[tokio::test]
async fn every_list_answers_what_its_document_says() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    // The demo city's data; each list is read by the first of these roles that may read it.
    let clients: Vec<Client> = vec![
        app.login("bureau").await,
        app.login("zhenhua.mgr").await,
        app.login("wenbichen").await,
        app.login("auditor").await,
    ];
    // A person with a case and a request, so that the lists have rows to check.
    let yongning = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning}).to_string();
    let person = clients[2].send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(person.status.as_u16(), 201, "{}", person.body);
    let person_id = person.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"person_id": person_id, "domain": "social_assistance", "source": "walk_in", "summary": "尿毒症"});
    let case = clients[2].send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(case.status.as_u16(), 201, "{}", case.body);
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"category": "garbage_piled", "description": "楼下垃圾堆放", "place_id": yongning});
    let request = clients[2].send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert_eq!(request.status.as_u16(), 201, "{}", request.body);
    let mut checked = Vec::new();
    let mut faults = Vec::new();
    for (m, path, op) in operations(&doc) {
        if m != "get" || path == "/api/v1/openapi.json" {
            continue;
        }
        let url = path
            .replace("/people/{id}", &format!("/people/{person_id}"))
            .replace("/cases/{id}", &format!("/cases/{case_id}"));
        if url.contains('{') {
            continue;
        }
        // Search answers only a query (a blank one is refused).
        let url = if url == "/api/v1/search" { format!("{url}?q=%E7%8E%8B") } else { url };
        let mut answered = None;
        for c in &clients {
            let r = c.get(&url).await;
            if r.status.as_u16() == 200 {
                answered = Some(r.json());
                break;
            }
        }
        let Some(body) = answered else {
            faults.push(format!("{url}: no role of the test read it"));
            continue;
        };
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let before = faults.len();
        conforms(&doc, schema, &body, &url, &mut faults);
        if faults.len() == before {
            checked.push(url);
        }
    }
    assert!(faults.is_empty(), "{faults:#?}");
    for must in ["/api/v1/people", "/api/v1/cases", "/api/v1/requests", "/api/v1/hazards", "/api/v1/staff"] {
        assert!(checked.iter().any(|u| u == must), "{must} not checked: {checked:?}");
    }
    assert!(checked.iter().any(|u| u.ends_with("/timeline")), "{checked:?}");
}

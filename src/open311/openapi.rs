//! The OpenAPI 3.0 document of `/open311/v2` (`openapi.json`), written by hand: the
//! endpoints take a format in the file name and answer lists in the specification's shapes,
//! which utoipa's derive cannot describe. Kept next to the handlers it describes; a test
//! walks every documented path against the router.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn error_list() -> Value {
    json!({"description": "The specification's error list.",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}},
                       "text/xml": {"schema": {"type": "string"}}}})
}

fn ok(schema: &str, description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
                       "text/xml": {"schema": {"type": "string"}}}})
}

fn format_param() -> Value {
    json!({"name": "format", "in": "path", "required": true,
           "schema": {"type": "string", "enum": ["json", "xml"]}})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn nullable(t: &str) -> Value {
    json!({"type": t, "nullable": true})
}

fn schemas() -> Value {
    let s = json!({"type": "string"});
    json!({
        "Error": {"type": "object", "required": ["code", "description"],
                  "properties": {"code": {"type": "integer"}, "description": s}},
        "Errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
        "Discovery": {"type": "object", "properties": {
            "changeset": s, "contact": s, "key_service": s,
            "endpoints": {"type": "array", "items": {"type": "object", "properties": {
                "specification": s, "url": s, "changeset": s, "type": s,
                "formats": {"type": "array", "items": s}}}}}},
        "Service": {"type": "object",
            "required": ["service_code", "service_name", "description", "metadata", "type"],
            "properties": {"service_code": s, "service_name": s, "description": s,
                "metadata": {"type": "boolean"}, "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
                "keywords": nullable("string"), "group": nullable("string")}},
        "Services": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}},
        "AttributeValue": {"type": "object", "properties": {"key": s, "name": s}},
        "Attribute": {"type": "object", "properties": {
            "variable": {"type": "boolean"}, "code": s,
            "datatype": {"type": "string", "enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
            "required": {"type": "boolean"}, "datatype_description": nullable("string"),
            "order": {"type": "integer"}, "description": s,
            "values": {"type": "array", "items": {"$ref": "#/components/schemas/AttributeValue"}}}},
        "ServiceDefinition": {"type": "object", "properties": {"service_code": s,
            "attributes": {"type": "array", "items": {"$ref": "#/components/schemas/Attribute"}}}},
        "ServiceRequest": {"type": "object", "required": ["service_request_id", "status"], "properties": {
            "service_request_id": s, "status": {"type": "string", "enum": ["open", "closed"]},
            "status_notes": nullable("string"), "service_name": s, "service_code": s,
            "description": nullable("string"), "agency_responsible": nullable("string"),
            "service_notice": nullable("string"),
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "expected_datetime": {"type": "string", "format": "date-time", "nullable": true},
            "address": nullable("string"), "address_id": nullable("string"), "zipcode": nullable("string"),
            "lat": nullable("number"), "long": nullable("number"), "media_url": nullable("string")}},
        "ServiceRequests": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceRequest"}},
        "Created": {"type": "array", "items": {"type": "object", "properties": {
            "service_request_id": s, "token": s, "service_notice": nullable("string"),
            "account_id": nullable("string")}}},
        "Token": {"type": "array", "items": {"type": "object", "properties": {"service_request_id": s, "token": s}}},
        "Update": {"type": "object", "properties": {
            "update_id": s, "service_request_id": s, "status": {"type": "string", "enum": ["open", "closed"]},
            "updated_datetime": {"type": "string", "format": "date-time"}, "description": s,
            "media_url": nullable("string")}},
        "Updates": {"type": "array", "items": {"$ref": "#/components/schemas/Update"}},
        "UpdateCreated": {"type": "array", "items": {"type": "object", "properties": {
            "service_request_id": s, "status": {"type": "string", "enum": ["open", "closed"]}}}},
        "NewRequest": {"type": "object", "required": ["api_key", "service_code"], "properties": {
            "api_key": s, "service_code": s,
            "lat": {"type": "number", "description": "WGS-84; with long. A point outside the district is refused (400)."},
            "long": {"type": "number"},
            "address_string": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": 4000},
            "first_name": s, "last_name": s, "phone": s, "email": s, "device_id": s, "account_id": s,
            "media_url": {"type": "string", "format": "uri"},
            "media": {"type": "string", "format": "binary", "description": "multipart/form-data only: a photo"}},
            "additionalProperties": {"type": "string", "description": "attribute[code] answers"}},
        "NewUpdate": {"type": "object", "required": ["api_key", "service_request_id", "description"], "properties": {
            "api_key": s, "service_request_id": s, "description": {"type": "string", "maxLength": 2000}}}
    })
}

/// The document, with `base` (what `base_url` makes of the request) as its server.
pub fn document(base: &str) -> Response {
    let date = json!({"type": "string", "description":
        "W3C date: 2026-01-01, 2026-01-01T08:00+08:00 or 2026-01-01T08:00:00Z"});
    let paging = [
        query("page", "Page, from 1 (extension).", json!({"type": "integer", "minimum": 1, "maximum": 100000})),
        query("page_size", "Rows per page (extension).", json!({"type": "integer", "minimum": 1, "maximum": 500})),
    ];
    let bad = error_list();
    let mut list_params = vec![
        format_param(),
        query("service_request_id", "Comma-separated numbers; overrides the other filters.", json!({"type": "string"})),
        query("service_code", "Comma-separated service codes.", json!({"type": "string"})),
        query("start_date", "Earliest requested_datetime (default: 90 days ago).", date.clone()),
        query("end_date", "Latest requested_datetime; at most 90 days after start_date.", date.clone()),
        query("status", "open, closed, or both comma-separated.", json!({"type": "string"})),
    ];
    list_params.extend(paging.iter().cloned());
    let mut update_params = vec![
        format_param(),
        query("start_date", "Earliest update (default: 90 days ago).", date.clone()),
        query("end_date", "Latest update.", date),
    ];
    update_params.extend(paging.iter().cloned());
    let form = |schema: &str| {
        json!({"required": true, "content": {
            "application/x-www-form-urlencoded": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
            "multipart/form-data": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
    };
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "Linli Open311 GeoReport v2", "version": "2026-11-23",
                 "description": "Open311 GeoReport v2 with the request-updates, paging and photo-upload extensions. Every failure answers with the specification's error list; reads allow any origin (CORS)."},
        "servers": [{"url": base.trim_end_matches('/')}],
        "paths": {
            "/discovery.{format}": {"get": {"operationId": "open311Discovery", "parameters": [format_param()],
                "responses": {"200": ok("Discovery", "Where and how to reach the service."), "404": bad}}},
            "/services.{format}": {"get": {"operationId": "open311ListServices", "parameters": [format_param()],
                "responses": {"200": ok("Services", "The services (request categories)."), "404": bad}}},
            "/services/{service_code}.{format}": {"get": {"operationId": "open311GetServiceDefinition",
                "parameters": [{"name": "service_code", "in": "path", "required": true, "schema": {"type": "string"}}, format_param()],
                "responses": {"200": ok("ServiceDefinition", "The service's attributes."), "404": bad}}},
            "/requests.{format}": {
                "get": {"operationId": "open311ListRequests", "parameters": list_params,
                    "responses": {"200": ok("ServiceRequests", "Published requests, newest first."), "400": bad, "404": bad}},
                "post": {"operationId": "open311CreateRequest", "parameters": [format_param()], "requestBody": form("NewRequest"),
                    "responses": {"201": ok("Created", "The new request's number and token."), "400": bad, "403": bad,
                        "404": bad, "413": bad, "415": bad, "429": bad}}},
            "/requests/{service_request_id}.{format}": {"get": {"operationId": "open311GetRequest",
                "parameters": [{"name": "service_request_id", "in": "path", "required": true, "schema": {"type": "string"}}, format_param()],
                "responses": {"200": ok("ServiceRequests", "The request, as a list of one."), "404": bad}}},
            "/tokens/{token}.{format}": {"get": {"operationId": "open311GetToken",
                "parameters": [{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}, format_param()],
                "responses": {"200": ok("Token", "The request number for a token."), "404": bad}}},
            "/servicerequestupdates.{format}": {
                "get": {"operationId": "open311ListUpdates", "parameters": update_params,
                    "responses": {"200": ok("Updates", "Public steps of published requests, oldest first."), "400": bad, "404": bad}},
                "post": {"operationId": "open311CreateUpdate", "parameters": [format_param()], "requestBody": form("NewUpdate"),
                    "responses": {"201": ok("UpdateCreated", "The note was added."), "400": bad, "403": bad, "404": bad,
                        "415": bad, "429": bad}}}
        },
        "components": {"schemas": schemas()}
    });
    let mut res = (StatusCode::OK, doc.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

//! The OpenAPI 3 document, generated from the handlers' annotations. It names every domain's
//! handlers, so it sits on top with `app`; the error body the handlers document lives in `error`.

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::web::{Access, RouteDef, r};

pub use crate::error::{ErrorBody, ErrorDetails, ErrorReason, FieldError};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Personal API token (linli_…)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Linli API", description = "Linli (邻里): the community-service network of a district. All lists are confined to the caller's data scope; a record outside it answers 404."),
    paths(
        crate::auth::api::me,
        crate::org::api::list_places,
        crate::org::api::get_place,
        crate::org::api::create_place,
        crate::org::api::update_place,
        crate::org::api::move_place,
        crate::org::api::list_organisations,
        crate::org::api::list_estates,
        crate::org::api::list_stations,
        crate::staff::api::list,
        crate::staff::api::get,
        crate::staff::api::create,
        crate::staff::api::update,
        crate::staff::api::set_disabled,
        crate::staff::api::reset_password,
        crate::audit::pages::list_api,
        crate::people::api::list,
        crate::people::api::create,
        crate::people::api::get,
        crate::people::api::update,
        crate::people::api::timeline,
        crate::people::api::household,
        crate::people::api::add_tag,
        crate::people::api::end_tag,
        crate::people::api::reveal,
        crate::people::import_api::preview,
        crate::people::import_api::status,
        crate::people::import_api::commit,
        crate::people::import_api::rejects,
        crate::people::rights::merge_api,
        crate::people::rights::access_export_api,
        crate::people::rights::anonymise_api,
        crate::cases::api::list,
        crate::cases::api::create,
        crate::cases::api::get,
        crate::cases::api::add_record,
        crate::cases::api::save_plan,
        crate::cases::api::due,
        crate::cases::api::assessments,
        crate::cases::api::assess,
        crate::cases::api::approve_plan,
        crate::cases::api::request_closure,
        crate::cases::api::decide_closure,
        crate::cases::api::reassign,
        crate::cases::transfers::api_offer,
        crate::cases::transfers::api_pending,
        crate::cases::transfers::api_accept,
        crate::cases::transfers::api_refuse,
        crate::cases::transfers::api_withdraw,
        crate::cases::settings::list_tiers,
        crate::cases::settings::save_tier,
        crate::cases::settings::list_instruments,
        crate::cases::settings::publish_instrument,
        crate::requests::api::list,
        crate::requests::api::create,
        crate::requests::api::get,
        crate::requests::api::dispatch,
        crate::requests::api::part_step,
        crate::requests::api::callback,
        crate::requests::api::publication,
        crate::requests::api::ask_extension,
        crate::requests::api::decide_extension,
        crate::requests::metrics_pages::api,
        crate::hazards::api::list,
        crate::hazards::api::create,
        crate::hazards::api::get,
        crate::hazards::api::step,
        crate::hazards::api::patrols,
        crate::hazards::api::patrol,
        crate::hazards::api::plan,
        crate::hazards::api::complete,
        crate::search::api::search,
    ),
    components(schemas(ErrorBody, ErrorDetails, FieldError, ErrorReason, crate::org::model::Place, crate::org::model::PlaceKind, crate::staff::store::PlaceRef)),
    modifiers(&BearerAuth, &ErrorAnswers),
    security(("token" = [])),
)]
pub struct ApiDoc;

/// Documents the error answers every operation can give from what its route declares, so that no
/// handler's annotation has to repeat them (and none can forget them): 401 where a sign-in is
/// needed, 403 where roles are limited, 404 for a path with an id, 400 for what is parsed, 413 and
/// 422 for a body, 409 for a POST's `Idempotency-Key`, and `default` for the answers any route may
/// give under load (408, 429, 503) or by fault (500). An annotation's own entry for a status wins.
struct ErrorAnswers;

impl Modify for ErrorAnswers {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let routes = crate::app::all_routes();
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let access = routes.iter().find(|r| r.method == method && r.path == path).map(|r| &r.access);
                document_errors(path, &method, access, op);
            }
        }
    }
}

fn document_errors(path: &str, method: &Method, access: Option<&Access>, op: &mut Operation) {
    let signed = !matches!(access, Some(Access::Public));
    if !signed {
        op.security = Some(Vec::new());
    }
    let has_id = path.contains('{');
    let has_params = op.parameters.as_ref().is_some_and(|ps| ps.iter().any(|p| p.parameter_in != ParameterIn::Path));
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, why: &str| {
        op.responses.responses.entry(status.to_string()).or_insert_with(|| error_answer(why));
    };
    if signed {
        add("401", "No valid token or session (`unauthenticated`).");
    }
    if matches!(access, Some(Access::Roles(_))) {
        add("403", "The caller's role may not do this (`forbidden`).");
    }
    if has_id {
        add("404", "No such record, or outside the caller's scope (`not_found`).");
    }
    if has_id || has_params || has_body {
        add(
            "400",
            "An id, query, header or JSON body that cannot be read (`bad_id`, `bad_query`, `bad_json`, `json_data` …).",
        );
    }
    if has_body {
        add("413", "The body is larger than the route takes (`too_large`).");
        add("422", "Invalid input; `details` names each field at fault (`invalid`).");
    }
    if *method == Method::POST {
        add("409", "A request with the same `Idempotency-Key` is still running or its answer was lost.");
    }
    add(
        "default",
        "Too many requests (429), overloaded (503), a body that did not arrive in time (408), or a fault (500).",
    );
}

fn error_answer(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
            .build(),
    )
}

/// The document as served, built once.
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serialises"))
}

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/api/v1/openapi.json", Access::Public, document)]
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document_json())
}

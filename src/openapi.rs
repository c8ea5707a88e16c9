//! The OpenAPI 3 document, generated from the handlers' annotations.

use axum::Json;
use axum::http::Method;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::app::{Access, RouteDef, r};

/// Every error answer of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `not_found`, `invalid`, `stale`.
    pub code: String,
    /// Human-readable text in the caller's language.
    pub message: String,
    /// Field errors (`[{field, code, message}]`) or other detail; null when none.
    pub details: serde_json::Value,
}

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
        crate::audit::pages::list_api,
        crate::people::api::list,
        crate::people::api::create,
        crate::people::api::get,
        crate::people::api::update,
        crate::people::api::timeline,
        crate::people::api::add_tag,
        crate::people::api::reveal,
        crate::people::rights::merge_api,
        crate::people::rights::access_export_api,
        crate::people::rights::anonymise_api,
        crate::cases::api::list,
        crate::cases::api::create,
        crate::cases::api::get,
        crate::cases::api::add_record,
        crate::cases::api::save_plan,
        crate::cases::api::due,
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
        crate::requests::metrics_pages::api,
        crate::hazards::api::list,
        crate::hazards::api::create,
        crate::hazards::api::get,
        crate::hazards::api::step,
        crate::hazards::api::patrols,
        crate::hazards::api::patrol,
        crate::hazards::api::plan,
        crate::hazards::api::complete,
    ),
    components(schemas(ErrorBody, crate::org::model::Place, crate::org::model::PlaceKind, crate::staff::store::PlaceRef)),
    modifiers(&BearerAuth),
    security(("token" = [])),
)]
pub struct ApiDoc;

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/api/v1/openapi.json", Access::Public, document)]
}

async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

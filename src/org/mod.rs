//! The organisation: places (city … grid), estates, stations, departments and partner organisations.

pub mod api;
pub mod geo;
pub mod import;
pub mod model;
pub mod pages;
pub mod store;
pub mod units;

use axum::http::Method;

use crate::roles::{ORG_ADMINS, ORG_READERS};
use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Roles(ORG_READERS);
    let admin = Access::Roles(ORG_ADMINS);
    vec![
        r(Method::GET, "/places", read, pages::list),
        r(Method::GET, "/places/new", admin, pages::new_form),
        r(Method::POST, "/places", admin, pages::create),
        r(Method::GET, "/places/import", admin, import::form),
        r(Method::POST, "/places/import", admin, import::preview).upload(),
        r(Method::POST, "/places/import/commit", admin, import::commit_page),
        r(Method::GET, "/places/{id}", read, pages::show),
        r(Method::GET, "/places/{id}/edit", admin, pages::edit_form),
        r(Method::POST, "/places/{id}", admin, pages::update),
        r(Method::POST, "/places/{id}/move", admin, pages::move_place),
        r(Method::POST, "/places/{id}/active", admin, pages::set_active),
        r(Method::GET, "/estates", read, units::estates),
        r(Method::GET, "/estates/new", admin, units::estate_new),
        r(Method::POST, "/estates", admin, units::estate_create),
        r(Method::GET, "/estates/{id}/edit", admin, units::estate_edit),
        r(Method::POST, "/estates/{id}", admin, units::estate_update),
        r(Method::GET, "/organisations", read, units::organisations),
        r(Method::GET, "/organisations/new", admin, units::org_new),
        r(Method::POST, "/organisations", admin, units::org_create),
        r(Method::GET, "/organisations/{id}/edit", admin, units::org_edit),
        r(Method::POST, "/organisations/{id}", admin, units::org_update),
        r(Method::GET, "/stations", read, units::stations),
        r(Method::GET, "/stations/new", admin, units::station_new),
        r(Method::POST, "/stations", admin, units::station_create),
        r(Method::GET, "/stations/{id}/edit", admin, units::station_edit),
        r(Method::POST, "/stations/{id}", admin, units::station_update),
        r(Method::GET, "/api/v1/places", read, api::list_places),
        r(Method::POST, "/api/v1/places", admin, api::create_place),
        r(Method::GET, "/api/v1/places/{id}", read, api::get_place),
        r(Method::PATCH, "/api/v1/places/{id}", admin, api::update_place),
        r(Method::POST, "/api/v1/places/{id}/move", admin, api::move_place),
        r(Method::GET, "/api/v1/organisations", read, api::list_organisations),
        r(Method::GET, "/api/v1/estates", read, api::list_estates),
        r(Method::GET, "/api/v1/stations", read, api::list_stations),
    ]
}

//! Staff accounts of the network: who works where, in which role.

pub mod api;
pub mod pages;
pub mod store;

use axum::http::Method;

use crate::roles::{ORG_ADMINS, STAFF_READERS};
use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Roles(STAFF_READERS);
    let admin = Access::Roles(ORG_ADMINS);
    vec![
        r(Method::GET, "/staff", read, pages::list),
        r(Method::GET, "/staff/new", admin, pages::new_form),
        r(Method::POST, "/staff", admin, pages::create),
        r(Method::GET, "/staff/{id}", read, pages::show),
        r(Method::GET, "/staff/{id}/edit", admin, pages::edit_form),
        r(Method::POST, "/staff/{id}", admin, pages::update),
        r(Method::POST, "/staff/{id}/disabled", admin, pages::set_disabled),
        r(Method::POST, "/staff/{id}/reset-password", admin, pages::reset_password),
        r(Method::GET, "/api/v1/staff", read, api::list),
        r(Method::GET, "/api/v1/staff/{id}", read, api::get),
        r(Method::POST, "/api/v1/staff", admin, api::create),
        r(Method::PUT, "/api/v1/staff/{id}", admin, api::update),
        r(Method::POST, "/api/v1/staff/{id}/disabled", admin, api::set_disabled),
        r(Method::POST, "/api/v1/staff/{id}/password-reset", admin, api::reset_password),
    ]
}

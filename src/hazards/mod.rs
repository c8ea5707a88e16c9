//! Hazard patrols and the hazard register (隐患排查): grid workers patrol their grids with a
//! checklist on a phone, findings become hazards with photos and a risk level, hazards are
//! rectified by a deadline, re-inspected and closed (销号), and the monthly ledger (台账) per street
//! exports to xlsx. A hazard can link to a person or case (story 9) and to a request.

pub mod api;
pub mod model;
pub mod pages;
pub mod store;

use axum::http::Method;

use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    let staff = Access::Roles(pages::HAZARD_STAFF);
    let managers = Access::Roles(pages::HAZARD_MANAGERS);
    vec![
        r(Method::GET, "/hazards", staff, pages::list),
        r(Method::GET, "/hazards/new", staff, pages::new_form),
        r(Method::POST, "/hazards", staff, pages::create).upload(),
        r(Method::GET, "/hazards/ledger.xlsx", managers, pages::ledger),
        r(Method::GET, "/hazards/{id}", staff, pages::show),
        r(Method::POST, "/hazards/{id}/step", staff, pages::step).upload(),
        r(Method::GET, "/patrols", staff, pages::patrols),
        r(Method::GET, "/patrols/new", managers, pages::new_patrol),
        r(Method::POST, "/patrols", managers, pages::create_patrol),
        r(Method::GET, "/patrols/{id}", staff, pages::show_patrol),
        r(Method::POST, "/patrols/{id}", staff, pages::complete_patrol).upload(),
        r(Method::GET, "/api/v1/hazards", staff, api::list),
        r(Method::POST, "/api/v1/hazards", staff, api::create).upload(),
        r(Method::GET, "/api/v1/hazards/{id}", staff, api::get),
        r(Method::POST, "/api/v1/hazards/{id}/steps", staff, api::step).upload(),
        r(Method::GET, "/api/v1/patrols", staff, api::patrols),
        r(Method::POST, "/api/v1/patrols", managers, api::plan),
        r(Method::GET, "/api/v1/patrols/{id}", staff, api::patrol),
        r(Method::POST, "/api/v1/patrols/{id}/completion", staff, api::complete).upload(),
    ]
}

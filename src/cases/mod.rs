//! Case work of the stations: intake, assessment, support plans, service records, follow-ups
//! and closure.

pub mod api;
pub mod instruments;
pub mod ledger;
pub mod model;
pub mod pages;
pub mod settings;
pub mod store;
pub mod transfers;

use axum::http::Method;

use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Roles(pages::CASE_READERS);
    let write = Access::Roles(pages::CASE_WRITERS);
    let approve = Access::Roles(pages::CASE_APPROVERS);
    let bureau = Access::Roles(&[crate::auth::Role::BureauAdmin]);
    vec![
        r(Method::GET, "/cases", read, pages::list),
        r(Method::GET, "/cases/due", read, pages::due),
        r(Method::GET, "/cases/ledger.xlsx", read, ledger::ledger),
        r(Method::GET, "/cases/{id}", read, pages::show),
        r(Method::POST, "/cases/{id}/assessments", write, pages::assess),
        r(Method::POST, "/cases/{id}/plan", write, pages::save_plan),
        r(Method::POST, "/cases/{id}/plan/approve", approve, pages::approve_plan),
        r(Method::POST, "/cases/{id}/records", write, pages::add_record),
        r(Method::POST, "/cases/{id}/close", write, pages::request_closure),
        r(Method::POST, "/cases/{id}/close/decision", approve, pages::decide_closure),
        r(Method::POST, "/cases/{id}/transfer", approve, transfers::offer_form),
        r(Method::GET, "/cases/transfers", approve, transfers::offers_page),
        r(Method::POST, "/cases/transfers/{id}/accept", approve, transfers::accept_form),
        r(Method::POST, "/cases/transfers/{id}/refuse", approve, transfers::refuse_form),
        r(Method::POST, "/cases/transfers/{id}/withdraw", approve, transfers::withdraw_form),
        r(Method::POST, "/cases/{id}/reassign", approve, pages::reassign),
        r(Method::POST, "/case-records/{id}/reveal", bureau, pages::reveal_note),
        r(Method::GET, "/api/v1/cases", read, api::list),
        r(Method::POST, "/api/v1/cases", write, api::create),
        r(Method::GET, "/api/v1/cases/{id}", read, api::get),
        r(Method::POST, "/api/v1/cases/{id}/records", write, api::add_record),
        r(Method::PUT, "/api/v1/cases/{id}/plan", write, api::save_plan),
        r(Method::GET, "/api/v1/cases/{id}/assessments", read, api::assessments),
        r(Method::POST, "/api/v1/cases/{id}/assessments", write, api::assess),
        r(Method::POST, "/api/v1/cases/{id}/plan/approval", approve, api::approve_plan),
        r(Method::POST, "/api/v1/cases/{id}/closure", write, api::request_closure),
        r(Method::POST, "/api/v1/cases/{id}/closure/decision", approve, api::decide_closure),
        r(Method::POST, "/api/v1/cases/{id}/reassignment", approve, api::reassign),
        r(Method::POST, "/api/v1/cases/{id}/transfer-offers", approve, transfers::api_offer),
        r(Method::GET, "/api/v1/transfer-offers", approve, transfers::api_pending),
        r(Method::POST, "/api/v1/transfer-offers/{id}/accept", approve, transfers::api_accept),
        r(Method::POST, "/api/v1/transfer-offers/{id}/refuse", approve, transfers::api_refuse),
        r(Method::POST, "/api/v1/transfer-offers/{id}/withdraw", approve, transfers::api_withdraw),
        r(Method::GET, "/api/v1/follow-ups", read, api::due),
        r(Method::GET, "/api/v1/follow-up-tiers", read, settings::list_tiers),
        r(Method::POST, "/api/v1/follow-up-tiers", bureau, settings::save_tier),
        r(Method::GET, "/api/v1/instruments", read, settings::list_instruments),
        r(Method::POST, "/api/v1/instruments", bureau, settings::publish_instrument),
        r(Method::GET, "/cases/settings", bureau, settings::settings_page),
        r(Method::POST, "/cases/settings/tiers/{code}", bureau, settings::save_tier_form),
        r(Method::POST, "/cases/settings/instruments/{code}", bureau, settings::publish_instrument_form),
    ]
}

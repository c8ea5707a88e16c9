//! Resident requests (接诉即办): intake by phone, the public page and Open311; dispatch to
//! communities, stations and departments (several at once for co-handling); the work-order
//! life 受理 → 派单 → 签收 → 办理 → 办结 → 回访 → 评价 with 退单 and 延期; SLA clocks on the
//! Chinese working calendar ([`calendar`]) and escalation of overdue work.

pub mod api;
pub mod calendar;
pub mod defaults;
pub mod holidays;

pub mod metrics;
pub mod metrics_pages;
pub mod model;
pub mod pages;
pub mod public;
pub mod publication;
pub mod settings;
pub mod store;

use axum::http::Method;

use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    let staff = Access::Roles(pages::REQUEST_STAFF);
    let intake = Access::Roles(pages::INTAKE_ROLES);
    let dispatch = Access::Roles(pages::DISPATCHERS);
    let escalate = Access::Roles(pages::ESCALATORS);
    let bureau = Access::Roles(settings::CATEGORY_EDITORS);
    let metrics = Access::Roles(metrics_pages::METRICS_READERS);
    vec![
        r(Method::GET, "/requests", staff, pages::list),
        r(Method::GET, "/requests/new", intake, pages::new_form),
        r(Method::GET, "/requests/metrics", metrics, metrics_pages::page_view),
        r(Method::GET, "/requests/metrics.xlsx", metrics, metrics_pages::xlsx),
        r(Method::GET, "/api/v1/requests/metrics", metrics, metrics_pages::api),
        r(Method::GET, "/api/v1/requests", staff, api::list),
        r(Method::POST, "/api/v1/requests", intake, api::create),
        r(Method::GET, "/api/v1/requests/{id}", staff, api::get),
        r(Method::POST, "/api/v1/requests/{id}/dispatch", dispatch, api::dispatch),
        r(Method::POST, "/api/v1/requests/{id}/callback", dispatch, api::callback),
        r(Method::POST, "/api/v1/requests/{id}/publication", dispatch, api::publication),
        r(Method::POST, "/api/v1/request-parts/{id}/actions", staff, api::part_step),
        r(Method::POST, "/api/v1/request-parts/{id}/extension", staff, api::ask_extension),
        r(Method::POST, "/api/v1/request-extensions/{id}/decision", dispatch, api::decide_extension),
        r(Method::POST, "/requests", intake, pages::create),
        r(Method::GET, "/requests/{id}", staff, pages::show),
        r(Method::POST, "/requests/{id}/dispatch", dispatch, pages::dispatch),
        r(Method::POST, "/requests/{id}/callback", dispatch, pages::callback),
        r(Method::POST, "/requests/{id}/publication", dispatch, pages::publication),
        r(Method::POST, "/request-events/{id}/withdraw-note", dispatch, pages::withdraw_note),
        r(Method::POST, "/requests/{id}/merge", dispatch, pages::merge),
        r(Method::POST, "/requests/{id}/escalate", escalate, pages::escalate),
        r(Method::POST, "/requests/{id}/reveal-phone", dispatch, pages::reveal_phone),
        r(Method::POST, "/request-parts/{id}", staff, pages::part_action).upload(),
        r(Method::POST, "/request-parts/{id}/extension", staff, pages::ask_extension),
        r(Method::POST, "/request-parts/{id}/reassign", dispatch, pages::reassign),
        r(Method::POST, "/request-extensions/{id}/decision", dispatch, pages::decide_extension),
        r(Method::GET, "/request-categories", bureau, settings::list),
        r(Method::GET, "/request-categories/new", bureau, settings::new_form),
        r(Method::GET, "/request-categories/{name}/edit", bureau, settings::edit_form),
        r(Method::POST, "/request-categories", bureau, settings::save),
        r(Method::GET, "/request-calendar", bureau, holidays::show),
        r(Method::POST, "/request-calendar", bureau, holidays::save),
        r(Method::GET, "/report", Access::Public, public::report_page),
        r(Method::POST, "/report", Access::Public, public::report).upload(),
        r(Method::GET, "/track/{code}", Access::Public, public::track),
        r(Method::POST, "/track/{code}/note", Access::Public, public::add_note),
    ]
}

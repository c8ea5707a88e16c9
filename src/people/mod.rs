//! People: residents and households, vulnerable-group tags, identity numbers (sealed, masked,
//! revealed with a reason), the person timeline.

pub mod api;
pub mod export;
pub mod export_requests;
pub mod identity;
pub mod import;
pub mod import_api;
pub mod import_files;
pub mod model;
pub mod pages;
pub mod rights;
pub mod store;
pub mod timeline;

use axum::http::Method;

use crate::web::{Access, RouteDef, r};

pub use crate::roles::PEOPLE_ROLES;

pub fn routes() -> Vec<RouteDef> {
    let people = Access::Roles(PEOPLE_ROLES);
    let reveal = Access::Roles(pages::REVEALERS);
    let case_writers = Access::Roles(crate::cases::pages::CASE_WRITERS);
    let approvers = Access::Roles(crate::cases::pages::CASE_APPROVERS);
    let export_approvers = Access::Roles(export_requests::APPROVERS);
    vec![
        r(Method::GET, "/people", people, pages::list),
        r(Method::GET, "/people/new", people, pages::new_form),
        r(Method::GET, "/people/import", people, import::form),
        r(Method::POST, "/people/import", people, import::preview).upload(),
        r(Method::POST, "/people/import/commit", people, import::commit_page),
        r(Method::GET, "/people/import/template.xlsx", people, import_files::template),
        r(Method::GET, "/people/import/{id}", people, import::status_page),
        r(Method::GET, "/people/import/{id}/rejects.xlsx", people, import_files::rejects),
        r(Method::GET, "/people/export.xlsx", people, export::roster),
        r(Method::GET, "/people/export-requests", people, export_requests::list),
        r(Method::POST, "/people/export-requests", people, export_requests::create),
        r(Method::POST, "/people/export-requests/{id}/decision", export_approvers, export_requests::decide),
        r(Method::GET, "/people/export-requests/{id}/download", people, export_requests::download),
        r(Method::POST, "/people", people, pages::create),
        r(Method::GET, "/people/{id}", people, pages::show),
        r(Method::GET, "/people/{id}/edit", people, pages::edit_form),
        r(Method::POST, "/people/{id}", people, pages::update),
        r(Method::POST, "/people/{id}/reveal", reveal, pages::reveal),
        r(Method::POST, "/people/{id}/tags", people, pages::add_tag),
        r(Method::POST, "/person-tags/{id}/end", people, pages::end_tag),
        r(Method::POST, "/people/{id}/cases", case_writers, pages::open_case),
        r(Method::POST, "/people/{id}/grants", approvers, crate::cases::pages::grant_child_access),
        r(Method::POST, "/child-grants/{id}/revoke", approvers, crate::cases::pages::revoke_child_access),
        r(Method::POST, "/people/{id}/merge", case_writers, pages::merge),
        r(Method::POST, "/people/{id}/access-export", approvers, pages::access_export),
        r(Method::POST, "/people/{id}/anonymise", approvers, pages::anonymise),
        r(Method::GET, "/search", people, pages::search),
        r(Method::GET, "/api/v1/people", people, api::list),
        r(Method::POST, "/api/v1/people", people, api::create),
        r(Method::POST, "/api/v1/people/imports", people, import_api::preview).upload(),
        r(Method::GET, "/api/v1/people/imports/{id}", people, import_api::status),
        r(Method::POST, "/api/v1/people/imports/{id}/commit", people, import_api::commit),
        r(Method::GET, "/api/v1/people/imports/{id}/rejects", people, import_api::rejects),
        r(Method::GET, "/api/v1/people/{id}", people, api::get),
        r(Method::PUT, "/api/v1/people/{id}", people, api::update),
        r(Method::GET, "/api/v1/people/{id}/timeline", people, api::timeline),
        r(Method::GET, "/api/v1/people/{id}/household", people, api::household),
        r(Method::POST, "/api/v1/people/{id}/tags", people, api::add_tag),
        r(Method::POST, "/api/v1/person-tags/{id}/end", people, api::end_tag),
        r(Method::POST, "/api/v1/people/{id}/reveal", reveal, api::reveal),
        r(Method::POST, "/api/v1/people/{id}/merge", case_writers, rights::merge_api),
        r(Method::POST, "/api/v1/people/{id}/access-export", approvers, rights::access_export_api),
        r(Method::POST, "/api/v1/people/{id}/anonymise", approvers, rights::anonymise_api),
    ]
}

//! The types of the route table: each domain lists its routes with their access rule in its
//! `routes()`, and `app` assembles the router and the authorisation test from those lists.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

use crate::roles::Role;
use crate::state::AppState;

/// Who may call a route. Data scope is enforced further in, inside each query.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Public,
    /// Any signed-in user.
    Signed,
    Roles(&'static [Role]),
}

impl Access {
    pub fn allows(&self, role: Role) -> bool {
        match self {
            Access::Public | Access::Signed => true,
            Access::Roles(roles) => roles.contains(&role),
        }
    }
}

pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<AppState>,
    /// Takes spreadsheet uploads up to `max_import_bytes` instead of `max_body_bytes`.
    pub upload: bool,
}

impl RouteDef {
    pub fn upload(mut self) -> Self {
        self.upload = true;
        self
    }
}

/// Declares one route: method, path, access rule, handler.
pub fn r<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> RouteDef
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("standard method");
    RouteDef { method, path, access, handler: axum::routing::on(filter, handler), upload: false }
}

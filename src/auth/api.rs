//! JSON API: who am I.

use axum::Json;
use axum::http::Method;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, Role};
use crate::web::{Access, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/api/v1/me", Access::Signed, me)]
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub account: String,
    pub display_name: String,
    pub role: Role,
    pub locale: String,
    /// Materialised paths of the places the account is bound to.
    pub scope: Vec<String>,
}

/// The calling account, its role and data scope.
#[utoipa::path(get, path = "/api/v1/me", operation_id = "get_me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        id: caller.user_id,
        account: caller.account,
        display_name: caller.display_name,
        role: caller.role,
        locale: caller.lang.code().into(),
        scope: caller.scope.roots,
    })
}

//! Page/size parameters with a cap, shared by lists and the API.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_SIZE: i64 = 50;
pub const MAX_SIZE: i64 = 200;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number.
    pub page: Option<i64>,
    /// Rows per page (at most 200; default 50).
    pub page_size: Option<i64>,
}

impl PageParams {
    pub fn size(&self) -> i64 {
        self.page_size.unwrap_or(DEFAULT_SIZE).clamp(1, MAX_SIZE)
    }
    pub fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 1_000_000)
    }
    pub fn offset(&self) -> i64 {
        (self.page() - 1) * self.size()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

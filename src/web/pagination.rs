//! Page/size parameters with a cap, shared by lists and the API.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_SIZE: i64 = 50;
pub const MAX_SIZE: i64 = 200;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number.
    #[serde(default, deserialize_with = "number_or_text")]
    pub page: Option<i64>,
    /// Rows per page (at most 200; default 50).
    #[serde(default, deserialize_with = "number_or_text")]
    pub page_size: Option<i64>,
}

/// A page number as a query string carries it. Inside a `#[serde(flatten)]` query type serde
/// hands every value over as text, so a plain `Option<i64>` refused `page=2` there (the request
/// queue's own next link answered 400). An empty value counts as absent.
fn number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(Raw::Text(t)) => {
            t.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("not a page number: {t:.20}")))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::PageParams;

    #[derive(serde::Deserialize)]
    struct Flattened {
        #[allow(dead_code)]
        queue: Option<String>,
        #[serde(flatten)]
        page: PageParams,
    }

    #[test]
    fn page_numbers_are_read_inside_a_flattened_query_too() {
        let q: Flattened = serde_urlencoded::from_str("queue=area&page=2&page_size=20").unwrap();
        assert_eq!((q.page.page, q.page.page_size), (Some(2), Some(20)));
        let q: PageParams = serde_urlencoded::from_str("page=3").unwrap();
        assert_eq!(q.page, Some(3));
        let q: Flattened = serde_urlencoded::from_str("page=").unwrap();
        assert_eq!(q.page.page, None, "an empty value is no value");
        assert!(serde_urlencoded::from_str::<Flattened>("page=two").is_err());
        let q: PageParams = serde_json::from_str(r#"{"page": 4}"#).unwrap();
        assert_eq!(q.page, Some(4));
    }
}

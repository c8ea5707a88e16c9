//! Places (city > district > street > community > grid), estates, organisations, stations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    City,
    District,
    Street,
    Community,
    Grid,
}

impl PlaceKind {
    pub const ALL: [PlaceKind; 5] =
        [PlaceKind::City, PlaceKind::District, PlaceKind::Street, PlaceKind::Community, PlaceKind::Grid];

    pub fn as_str(self) -> &'static str {
        match self {
            PlaceKind::City => "city",
            PlaceKind::District => "district",
            PlaceKind::Street => "street",
            PlaceKind::Community => "community",
            PlaceKind::Grid => "grid",
        }
    }
    pub fn parse(s: &str) -> Option<PlaceKind> {
        let s = s.trim();
        PlaceKind::ALL.into_iter().find(|k| k.as_str() == s).or(match s {
            "市" => Some(PlaceKind::City),
            "区" | "县" => Some(PlaceKind::District),
            "街道" | "镇" => Some(PlaceKind::Street),
            "社区" | "村" => Some(PlaceKind::Community),
            "网格" => Some(PlaceKind::Grid),
            _ => None,
        })
    }
    /// The only kind a place of this kind may sit under.
    pub fn parent(self) -> Option<PlaceKind> {
        match self {
            PlaceKind::City => None,
            PlaceKind::District => Some(PlaceKind::City),
            PlaceKind::Street => Some(PlaceKind::District),
            PlaceKind::Community => Some(PlaceKind::Street),
            PlaceKind::Grid => Some(PlaceKind::Community),
        }
    }
    pub fn label_key(self) -> String {
        format!("kind.{}", self.as_str())
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Place {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    /// city, district, street, community or grid.
    pub kind: String,
    pub name: String,
    pub code: Option<String>,
    /// Materialised path; a place's subtree is every path that starts with it.
    pub path: String,
    pub depth: i32,
    pub active: bool,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    /// Centre (WGS-84) that reported points are placed by (`org::geo`); null when not known.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// How far the place reaches from its centre, in metres, when not its kind's usual.
    pub radius_m: Option<i32>,
    /// Name of the parent place, if any.
    pub parent_name: Option<String>,
}

impl Place {
    pub fn kind(&self) -> PlaceKind {
        PlaceKind::parse(&self.kind).unwrap_or(PlaceKind::Grid)
    }
}

/// Fields a client sends to create a place.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlace {
    pub parent_id: Option<Uuid>,
    pub kind: PlaceKind,
    pub name: String,
    pub code: Option<String>,
}

/// Fields a client may change on a place.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceChange {
    pub name: String,
    pub code: Option<String>,
    /// The version the client last saw; a stale one is refused.
    pub version: Option<i64>,
    /// Centre latitude (WGS-84), given with `lon`. Left out: kept; null: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lat: Option<Option<f64>>,
    /// Centre longitude (WGS-84). Left out: kept; null: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lon: Option<Option<f64>>,
    /// Reach from the centre in metres (1–200,000), when not the kind's usual. Left out: kept;
    /// null: the kind's usual.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>)]
    pub radius_m: Option<Option<i32>>,
}

/// A field that is there, even as null (`Some(None)`), as against one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceMove {
    pub new_parent_id: Uuid,
    pub version: Option<i64>,
}

pub fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 32 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Path segment number `n`: six base-36 digits (`[0-9a-z]`, all sorting above `/`), so
/// siblings sort in creation order and a parent holds up to 2 billion children.
pub fn segment_of(n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    let mut v = n;
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Department,
    PartnerOrg,
    PropertyCompany,
    GovernanceCenter,
}

impl OrgKind {
    pub const ALL: [OrgKind; 4] =
        [OrgKind::Department, OrgKind::PartnerOrg, OrgKind::PropertyCompany, OrgKind::GovernanceCenter];
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Department => "department",
            OrgKind::PartnerOrg => "partner_org",
            OrgKind::PropertyCompany => "property_company",
            OrgKind::GovernanceCenter => "governance_center",
        }
    }
    pub fn parse(s: &str) -> Option<OrgKind> {
        OrgKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The service domains of GLOSSARY.md a station may work in.
pub const SERVICE_DOMAINS: [&str; 6] =
    ["social_assistance", "elderly_care", "child_welfare", "community_governance", "social_affairs", "other"];

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Organisation {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub place_id: Uuid,
    pub place_name: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub description: Option<String>,
    pub active: bool,
    pub version: i64,
    /// The path of the place it serves: above the caller's scope, it is shown but not edited.
    #[serde(skip)]
    pub place_path: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Estate {
    pub id: Uuid,
    pub community_id: Uuid,
    pub community_name: String,
    pub name: String,
    pub address: Option<String>,
    pub property_company_id: Option<Uuid>,
    pub property_company_name: Option<String>,
    pub active: bool,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Station {
    pub id: Uuid,
    pub place_id: Uuid,
    pub place_name: String,
    pub name: String,
    pub is_hub: bool,
    pub host_community_id: Option<Uuid>,
    pub host_community_name: Option<String>,
    pub operator_id: Option<Uuid>,
    pub operator_name: Option<String>,
    /// Comma-separated service domain codes.
    pub service_domains: String,
    pub active: bool,
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_nest_one_level_at_a_time() {
        assert_eq!(PlaceKind::Community.parent(), Some(PlaceKind::Street));
        assert_eq!(PlaceKind::City.parent(), None);
        assert_eq!(PlaceKind::parse("社区"), Some(PlaceKind::Community));
        assert_eq!(PlaceKind::parse("grid"), Some(PlaceKind::Grid));
        assert!(PlaceKind::parse("planet").is_none());
        assert_eq!(segment_of(1), "000001");
        assert_eq!(segment_of(36), "000010");
        assert!(segment_of(9) < segment_of(10) && segment_of(35) < segment_of(36));
        assert!(segment_of(12345).bytes().all(|b| b > b'/'));
    }
}

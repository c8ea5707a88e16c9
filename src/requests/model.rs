//! Resident requests: channels, the work-order status machine as 12345 hotlines run it, the
//! parts of a co-handled request, the five-level satisfaction scale and intake validation.
//! Types and rules only; no I/O.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::code_enum;
use crate::error::FieldErrors;
use crate::web::form::{clean_optional, clean_text};

code_enum!(
    /// How a request came in.
    Channel, "request_channel", [
    Phone = "phone",
    Web = "web",
    Open311 = "open311",
    Staff = "staff",
]);

code_enum!(
    /// 受理 → 派单 → 办理 → 办结 → 回访/评价. `Merged` is a duplicate folded into another request.
    Status, "request_status", [
    Accepted = "accepted",
    Dispatched = "dispatched",
    InProgress = "in_progress",
    Resolved = "resolved",
    Closed = "closed",
    Merged = "merged",
]);

impl Status {
    /// Still somebody's work: counted by the SLA clocks and escalated when overdue.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Accepted | Status::Dispatched | Status::InProgress)
    }
    /// Open311 knows only `open` and `closed`.
    pub fn open311(self) -> &'static str {
        if self.is_open() { "open" } else { "closed" }
    }
}

code_enum!(
    /// One handling unit's share: 派单 → 签收 → 办结, or 退单 (returned) / withdrawn on reassignment.
    PartStatus, "part_status", [
    Dispatched = "dispatched",
    Signed = "signed",
    Resolved = "resolved",
    Returned = "returned",
    Withdrawn = "withdrawn",
]);

impl PartStatus {
    /// Counts towards the request: returned and withdrawn parts are history.
    pub fn is_active(self) -> bool {
        matches!(self, PartStatus::Dispatched | PartStatus::Signed | PartStatus::Resolved)
    }
}

code_enum!(
    /// Where a category's requests go by default.
    DefaultUnit, "default_unit", [
    Community = "community",
    Station = "station",
    Department = "department",
]);

code_enum!(
    /// The five-level scale of the callback (回访).
    Satisfaction, "satisfaction", [
    VerySatisfied = "very_satisfied",
    Satisfied = "satisfied",
    BasicallySatisfied = "basically_satisfied",
    Dissatisfied = "dissatisfied",
    VeryDissatisfied = "very_dissatisfied",
]);

impl Satisfaction {
    /// 不满意 or worse sends the request back for rework.
    pub fn reopens(self) -> bool {
        matches!(self, Satisfaction::Dissatisfied | Satisfaction::VeryDissatisfied)
    }
    /// Counted as satisfied by 满意率 (metrics formula v1): the top three levels.
    pub fn is_satisfied(self) -> bool {
        !self.reopens()
    }
}

/// What the request's status becomes from its active parts: all resolved → resolved; any signed
/// or resolved → in progress; only dispatched → dispatched; none left → back to the dispatcher.
pub fn status_from_parts(parts: &[PartStatus]) -> Status {
    let active: Vec<PartStatus> = parts.iter().copied().filter(|p| p.is_active()).collect();
    if active.is_empty() {
        Status::Accepted
    } else if active.iter().all(|p| *p == PartStatus::Resolved) {
        Status::Resolved
    } else if active.iter().any(|p| matches!(p, PartStatus::Signed | PartStatus::Resolved)) {
        Status::InProgress
    } else {
        Status::Dispatched
    }
}

/// A request as typed by staff, by a resident on the public page, or posted through Open311.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RequestIntakeInput)]
pub struct IntakeInput {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub description: String,
    /// The community or grid; empty when the caller does not know it (the dispatcher sets it).
    #[serde(default)]
    pub place_id: Option<String>,
    #[serde(default)]
    pub estate_id: Option<String>,
    #[serde(default)]
    pub building: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<String>,
    #[serde(default)]
    pub lon: Option<String>,
    #[serde(default)]
    pub reporter_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// A resident already known to the station (staff intake only).
    #[serde(default)]
    pub person_id: Option<String>,
}

/// The checked shape of an intake; the store resolves the ids against the caller's scope.
#[derive(Debug, Clone)]
pub struct CleanIntake {
    pub category: String,
    pub description: String,
    pub place_id: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub address: Option<String>,
    pub coords: Option<(f64, f64)>,
    pub reporter_name: Option<String>,
    pub phone: Option<crate::people::identity::Phone>,
    pub person_id: Option<Uuid>,
}

/// As long as Open311 apps send (their common limit is 4,000 characters).
pub const MAX_DESCRIPTION: usize = 4000;

/// Mainland China's bounding box (with its islands): coordinates outside it are a typo or a
/// swapped pair, never a request for this district.
pub fn in_china(lat: f64, lon: f64) -> bool {
    (3.8..=53.6).contains(&lat) && (73.4..=135.1).contains(&lon)
}

/// An optional id typed or chosen on a form: empty is none, anything else must be a UUID.
pub fn parse_uuid(v: Option<&str>, field: &str, errors: &mut FieldErrors) -> Option<Uuid> {
    let v = v.map(str::trim).filter(|s| !s.is_empty())?;
    match Uuid::parse_str(v) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.add(field, "error.bad_choice");
            None
        }
    }
}

fn parse_coord(v: Option<&str>, field: &str, errors: &mut FieldErrors) -> Option<f64> {
    let v = v.map(str::trim).filter(|s| !s.is_empty())?;
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Some(x),
        _ => {
            errors.add(field, "request.bad_coordinate");
            None
        }
    }
}

/// Latitude and longitude typed as text: both or neither, numbers, inside China.
pub fn coordinates(lat: Option<&str>, lon: Option<&str>, errors: &mut FieldErrors) -> Option<(f64, f64)> {
    let lat = parse_coord(lat, "lat", errors);
    let lon = parse_coord(lon, "lon", errors);
    match (lat, lon) {
        (Some(lat), Some(lon)) if in_china(lat, lon) => Some((lat, lon)),
        (Some(_), Some(_)) => {
            errors.add("lat", "request.outside_china");
            None
        }
        (None, None) => None,
        (Some(_), None) => {
            errors.add("lon", "error.required");
            None
        }
        (None, Some(_)) => {
            errors.add("lat", "error.required");
            None
        }
    }
}

/// Checks what can be checked without the database. A request needs a category, a description
/// and a location: a community, an address, or coordinates inside China.
pub fn validate_intake(input: &IntakeInput, phone_required: bool, errors: &mut FieldErrors) -> Option<CleanIntake> {
    let category = input.category.trim().to_string();
    if category.is_empty() {
        errors.add("category", "error.required");
    }
    let description = clean_text(&input.description, "description", MAX_DESCRIPTION, errors);
    let place_id = parse_uuid(input.place_id.as_deref(), "place_id", errors);
    let estate_id = parse_uuid(input.estate_id.as_deref(), "estate_id", errors);
    let building = clean_optional(input.building.as_deref(), "building", 40, errors);
    let address = clean_optional(input.address.as_deref(), "address", 200, errors);
    let coords = coordinates(input.lat.as_deref(), input.lon.as_deref(), errors);
    let has_coord_input = input.lat.as_deref().is_some_and(|s| !s.trim().is_empty())
        || input.lon.as_deref().is_some_and(|s| !s.trim().is_empty());
    if place_id.is_none() && estate_id.is_none() && address.is_none() && !has_coord_input {
        errors.add("address", "request.location_required");
    }
    let reporter_name = clean_optional(input.reporter_name.as_deref(), "reporter_name", 40, errors);
    let phone = match input.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(p) => match crate::people::identity::Phone::parse(p) {
            Some(p) => Some(p),
            None => {
                errors.add("phone", "error.phone_format");
                None
            }
        },
        None => {
            if phone_required {
                errors.add("phone", "error.required");
            }
            None
        }
    };
    let person_id = parse_uuid(input.person_id.as_deref(), "person_id", errors);
    if !errors.is_empty() {
        return None;
    }
    Some(CleanIntake {
        category,
        description,
        place_id,
        estate_id,
        building,
        address,
        coords,
        reporter_name,
        phone,
        person_id,
    })
}

/// A reason typed for a transition (退单, reassignment, extension, escalation): required, short.
pub fn reason(text: &str, field: &str, errors: &mut FieldErrors) -> String {
    let r = text.trim();
    if r.chars().count() < 2 {
        errors.add(field, "request.reason_required");
    } else if r.chars().count() > 500 {
        errors.add(field, "error.too_long");
    }
    r.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_words_in_both_languages() {
        use crate::i18n::{Lang, Tr};
        let mut keys: Vec<String> = Vec::new();
        keys.extend(Channel::ALL.iter().map(|c| c.label_key()));
        keys.extend(Status::ALL.iter().map(|c| c.label_key()));
        keys.extend(PartStatus::ALL.iter().map(|c| c.label_key()));
        keys.extend(DefaultUnit::ALL.iter().map(|c| c.label_key()));
        keys.extend(Satisfaction::ALL.iter().map(|c| c.label_key()));
        keys.extend(crate::requests::store::Queue::ALL.iter().map(|c| c.label_key()));
        for lang in [Lang::Zh, Lang::En] {
            for k in &keys {
                assert_ne!(&Tr(lang).t(k), k, "{k} missing in {lang:?}");
            }
        }
    }

    #[test]
    fn status_follows_the_parts() {
        use PartStatus::*;
        assert_eq!(status_from_parts(&[]), Status::Accepted);
        assert_eq!(status_from_parts(&[Returned, Withdrawn]), Status::Accepted);
        assert_eq!(status_from_parts(&[Dispatched, Dispatched]), Status::Dispatched);
        assert_eq!(status_from_parts(&[Dispatched, Signed]), Status::InProgress);
        assert_eq!(status_from_parts(&[Resolved, Dispatched]), Status::InProgress);
        assert_eq!(status_from_parts(&[Resolved, Resolved, Returned]), Status::Resolved);
    }

    #[test]
    fn intake_needs_category_description_and_location() {
        let mut e = FieldErrors::default();
        assert!(validate_intake(&IntakeInput::default(), false, &mut e).is_none());
        let fields: Vec<&str> = e.0.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"category") && fields.contains(&"description") && fields.contains(&"address"));

        let mut e = FieldErrors::default();
        let input = IntakeInput {
            category: "sewer_blocked".into(),
            description: "污水外溢".into(),
            lat: Some("48.85".into()),
            lon: Some("2.35".into()),
            ..Default::default()
        };
        assert!(validate_intake(&input, false, &mut e).is_none());
        assert_eq!(e.0[0].1, "request.outside_china");

        let mut e = FieldErrors::default();
        let input = IntakeInput { lat: Some("40.09".into()), lon: Some("113.30".into()), ..input };
        let clean = validate_intake(&input, false, &mut e).expect("valid");
        assert_eq!(clean.coords, Some((40.09, 113.30)));
    }

    #[test]
    fn only_dissatisfied_reopens() {
        assert!(Satisfaction::Dissatisfied.reopens() && Satisfaction::VeryDissatisfied.reopens());
        assert!(!Satisfaction::BasicallySatisfied.reopens());
    }
}

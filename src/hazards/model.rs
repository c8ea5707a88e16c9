//! The words of hazard work: categories, risk levels, the register's states, and the patrol
//! checklists. Labels live in the locale files under `hazard.*`, `risk.*`, `checklist.*`.

use crate::error::FieldErrors;

crate::code_enum!(
    Category,
    "hazard_category",
    [
        Flood = "flood",
        Fire = "fire",
        Gas = "gas",
        Elevator = "elevator",
        SelfBuilt = "self_built",
        Building = "building",
        Other = "other",
    ]
);

// Risk grading as the emergency offices use it: 重大 / 较大 / 一般 / 低 (red, orange, yellow, blue).
crate::code_enum!(RiskLevel, "risk", [Major = "major", High = "high", General = "general", Low = "low",]);

crate::code_enum!(
    Status,
    "hazard_status",
    [Open = "open", Rectifying = "rectifying", Rectified = "rectified", Closed = "closed",]
);

impl RiskLevel {
    /// Days to rectify when the register does not set a deadline by hand.
    pub fn default_days(self) -> i64 {
        match self {
            RiskLevel::Major => 1,
            RiskLevel::High => 3,
            RiskLevel::General => 7,
            RiskLevel::Low => 15,
        }
    }
}

/// A patrol checklist: what a grid worker looks at, item by item. A finding on an item opens a
/// hazard of the checklist's category.
pub struct Checklist {
    pub code: &'static str,
    pub category: Category,
    pub items: &'static [&'static str],
}

impl Checklist {
    pub fn label_key(&self) -> String {
        format!("checklist.{}", self.code)
    }
    pub fn item_key(&self, item: &str) -> String {
        format!("checklist_item.{}_{item}", self.code)
    }
}

pub const CHECKLISTS: &[Checklist] = &[
    Checklist {
        code: "flood",
        category: Category::Flood,
        items: &["road_water", "garage_backflow", "drains_blocked", "basement_people", "warning_posted"],
    },
    Checklist {
        code: "fire",
        category: Category::Fire,
        items: &["corridor_clutter", "exits_blocked", "extinguishers", "ebike_charging", "hoarding"],
    },
    Checklist { code: "gas", category: Category::Gas, items: &["smell", "hose_aged", "alarm", "pipes_enclosed"] },
    Checklist {
        code: "elevator",
        category: Category::Elevator,
        items: &["certificate", "maintenance_record", "emergency_phone", "trapped_reports"],
    },
    Checklist {
        code: "self_built",
        category: Category::SelfBuilt,
        items: &["cracks", "leaks", "subsidence", "added_floors", "use_changed"],
    },
];

pub fn checklist(code: &str) -> Option<&'static Checklist> {
    CHECKLISTS.iter().find(|c| c.code == code)
}

pub fn parse_choice<T>(v: &str, field: &str, parse: fn(&str) -> Option<T>, errors: &mut FieldErrors) -> Option<T> {
    let v = v.trim();
    if v.is_empty() {
        errors.add(field, "error.required");
        return None;
    }
    let parsed = parse(v);
    if parsed.is_none() {
        errors.add(field, "error.bad_choice");
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(*c));
        }
        for r in RiskLevel::ALL {
            assert_eq!(RiskLevel::parse(r.as_str()), Some(*r));
        }
        assert_eq!(Status::parse("closed"), Some(Status::Closed));
        assert_eq!(Status::parse("CLOSED"), None);
        for c in CHECKLISTS {
            assert_eq!(checklist(c.code).map(|c| c.code), Some(c.code));
            assert!(!c.items.is_empty());
        }
    }
}

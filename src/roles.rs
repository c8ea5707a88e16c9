//! Roles of GLOSSARY.md and what each may do at the foundation level.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    BureauAdmin,
    StationManager,
    SocialWorker,
    CommunityStaff,
    GridWorker,
    DepartmentHandler,
    PartnerStaff,
    Volunteer,
    /// Runs the system; manages the org tree and accounts, never reads case data.
    SystemAdmin,
    /// Reads the audit log only.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::BureauAdmin,
        Role::StationManager,
        Role::SocialWorker,
        Role::CommunityStaff,
        Role::GridWorker,
        Role::DepartmentHandler,
        Role::PartnerStaff,
        Role::Volunteer,
        Role::SystemAdmin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::BureauAdmin => "bureau_admin",
            Role::StationManager => "station_manager",
            Role::SocialWorker => "social_worker",
            Role::CommunityStaff => "community_staff",
            Role::GridWorker => "grid_worker",
            Role::DepartmentHandler => "department_handler",
            Role::PartnerStaff => "partner_staff",
            Role::Volunteer => "volunteer",
            Role::SystemAdmin => "system_admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// i18n key of the role's name.
    pub fn label_key(self) -> String {
        format!("role.{}", self.as_str())
    }

    /// Second factor is mandatory for the two roles that can change the whole district.
    pub fn requires_totp(self) -> bool {
        matches!(self, Role::BureauAdmin | Role::SystemAdmin)
    }

    /// Roles this role may grant when creating or editing staff accounts.
    pub fn can_grant(self, other: Role) -> bool {
        match self {
            Role::SystemAdmin => true,
            Role::BureauAdmin => !matches!(other, Role::SystemAdmin | Role::Auditor),
            _ => false,
        }
    }
}

/// Who may manage the organisation tree and staff accounts.
pub const ORG_ADMINS: &[Role] = &[Role::BureauAdmin, Role::SystemAdmin];
/// Who may read the audit log.
pub const AUDIT_READERS: &[Role] = &[Role::Auditor, Role::BureauAdmin];
/// Everyone who works with places (all roles but the auditor).
pub const ORG_READERS: &[Role] = &[
    Role::BureauAdmin,
    Role::StationManager,
    Role::SocialWorker,
    Role::CommunityStaff,
    Role::GridWorker,
    Role::DepartmentHandler,
    Role::PartnerStaff,
    Role::Volunteer,
    Role::SystemAdmin,
];
/// Who may see the staff directory of their scope.
pub const STAFF_READERS: &[Role] = &[Role::BureauAdmin, Role::SystemAdmin, Role::StationManager];
// Who sees each part of the navigation. The domains own these sets and re-export them; they
// live here so that the page frame, which draws the navigation, needs no domain.

/// Who works with resident files: the bureau, stations, communities and grid workers.
pub const PEOPLE_ROLES: &[Role] =
    &[Role::BureauAdmin, Role::StationManager, Role::SocialWorker, Role::CommunityStaff, Role::GridWorker];

/// Who reads case files (the bureau reads, but not counselling notes without a reason).
pub const CASE_READERS: &[Role] = &[Role::BureauAdmin, Role::StationManager, Role::SocialWorker];

/// Everyone who works requests: takes them, routes them or handles a part.
pub const REQUEST_STAFF: &[Role] = &[
    Role::BureauAdmin,
    Role::StationManager,
    Role::SocialWorker,
    Role::CommunityStaff,
    Role::GridWorker,
    Role::DepartmentHandler,
];

/// Everyone who registers and follows hazards in their area.
pub const HAZARD_STAFF: &[Role] =
    &[Role::BureauAdmin, Role::StationManager, Role::SocialWorker, Role::CommunityStaff, Role::GridWorker];

/// Everyone who works requests or hazards in an area.
pub const MAP_READERS: &[Role] = &[
    Role::BureauAdmin,
    Role::StationManager,
    Role::SocialWorker,
    Role::CommunityStaff,
    Role::GridWorker,
    Role::DepartmentHandler,
];

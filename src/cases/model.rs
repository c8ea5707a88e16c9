//! Cases: service domains, intake sources, the status machine, service records and plans.
//! Types and validation only; no I/O.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::code_enum;
use crate::error::FieldErrors;
use crate::web::form::{clean_name, clean_optional};

code_enum!(
    /// 服务领域
    Domain, "domain", [
    SocialAssistance = "social_assistance",
    ElderlyCare = "elderly_care",
    ChildWelfare = "child_welfare",
    CommunityGovernance = "community_governance",
    SocialAffairs = "social_affairs",
    Other = "other",
]);

code_enum!(
    /// How the case came in.
    Source, "source", [
    WalkIn = "walk_in",
    Visit = "visit",
    Referral = "referral",
    Request = "request",
    Hotline = "hotline",
]);

code_enum!(
    /// intake → assessed → planned → closing → closed.
    Status, "status", [
    Intake = "intake",
    Assessed = "assessed",
    Planned = "planned",
    Closing = "closing",
    Closed = "closed",
]);

code_enum!(
    /// Kinds of service record.
    RecordKind, "record", [
    HomeVisit = "home_visit",
    PhoneFollowUp = "phone_follow_up",
    Counselling = "counselling",
    ResourceLinking = "resource_linking",
    Referral = "referral",
    GroupActivity = "group_activity",
]);

impl RecordKind {
    /// Contacts with the client: they satisfy the follow-up schedule.
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            RecordKind::HomeVisit | RecordKind::PhoneFollowUp | RecordKind::Counselling | RecordKind::GroupActivity
        )
    }
    /// Counselling notes stay inside the owning station.
    pub fn is_restricted(self) -> bool {
        matches!(self, RecordKind::Counselling)
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Case {
    pub id: Uuid,
    /// The number people quote: 振华-2026-0012.
    pub number: String,
    pub person_id: Uuid,
    pub person_name: String,
    pub station_id: Uuid,
    pub station_name: String,
    #[serde(skip)]
    pub path: String,
    pub domain: String,
    pub source: String,
    pub status: String,
    pub summary: String,
    pub worker_id: Uuid,
    pub worker_name: String,
    pub tier: Option<String>,
    pub next_follow_up_on: Option<NaiveDate>,
    pub opened_on: NaiveDate,
    pub plan_approved_on: Option<NaiveDate>,
    pub closure_reason: Option<String>,
    pub closed_on: Option<NaiveDate>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl Case {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Intake)
    }
    pub fn status_key(&self) -> String {
        format!("status.{}", self.status)
    }
    pub fn domain_key(&self) -> String {
        format!("domain.{}", self.domain)
    }
    pub fn source_key(&self) -> String {
        format!("source.{}", self.source)
    }
    pub fn is_open(&self) -> bool {
        self.status() != Status::Closed
    }
    pub fn overdue(&self, today: &NaiveDate) -> bool {
        self.is_open() && self.next_follow_up_on.is_some_and(|d| d < *today)
    }
}

/// Opening a case (`POST /api/v1/cases`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CaseIntakeInput)]
pub struct IntakeInput {
    pub person_id: Uuid,
    pub domain: String,
    pub source: String,
    /// The presenting problem, in the worker's words.
    pub summary: String,
    /// Follow-up tier code; suggested from tags and age when absent.
    pub tier: Option<String>,
    /// The responsible social worker; the caller when absent.
    pub worker_id: Option<Uuid>,
}

pub struct CleanIntake {
    pub domain: Domain,
    pub source: Source,
    pub summary: String,
}

pub fn validate_intake(i: &IntakeInput, errors: &mut FieldErrors) -> Option<CleanIntake> {
    let domain = Domain::parse(&i.domain);
    if domain.is_none() {
        errors.add("domain", "error.bad_choice");
    }
    let source = Source::parse(&i.source);
    if source.is_none() {
        errors.add("source", "error.bad_choice");
    }
    let summary = clean_name(&i.summary, "summary", 2000, errors);
    Some(CleanIntake { domain: domain?, source: source?, summary })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// home_visit, phone_follow_up, counselling, resource_linking, referral, group_activity.
    pub kind: String,
    /// YYYY-MM-DD; today when absent. Not in the future.
    pub occurred_on: Option<String>,
    /// Time spent, in minutes.
    pub minutes: i64,
    pub notes: String,
    /// For referrals: the department or organisation referred to.
    pub referred_to: Option<String>,
}

pub struct CleanRecord {
    pub kind: RecordKind,
    pub occurred_on: NaiveDate,
    pub minutes: i64,
    pub notes: String,
    pub referred_to: Option<String>,
}

pub fn validate_record(
    r: &RecordInput,
    opened_on: NaiveDate,
    today: NaiveDate,
    errors: &mut FieldErrors,
) -> Option<CleanRecord> {
    let kind = RecordKind::parse(&r.kind);
    if kind.is_none() {
        errors.add("kind", "error.bad_choice");
    }
    let occurred_on = match r.occurred_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(today),
        Some(s) => match crate::people::model::parse_date(s) {
            Some(d) if d > today => {
                errors.add("occurred_on", "record.in_future");
                None
            }
            Some(d) if d < opened_on => {
                errors.add("occurred_on", "record.before_opened");
                None
            }
            Some(d) => Some(d),
            None => {
                errors.add("occurred_on", "error.date_format");
                None
            }
        },
    };
    if !(0..=24 * 60).contains(&r.minutes) {
        errors.add("minutes", "record.minutes_range");
    }
    let notes = clean_name(&r.notes, "notes", 5000, errors);
    let referred_to = clean_optional(r.referred_to.as_deref(), "referred_to", 100, errors);
    if kind == Some(RecordKind::Referral) && referred_to.is_none() {
        errors.add("referred_to", "record.referral_needs_target");
    }
    Some(CleanRecord { kind: kind?, occurred_on: occurred_on?, minutes: r.minutes, notes, referred_to })
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct ServiceRecord {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub occurred_on: NaiveDate,
    pub minutes: i64,
    pub notes: String,
    pub referred_to: Option<String>,
    pub created_by_name: Option<String>,
    /// The station whose worker wrote it: after a transfer, the records of the station before.
    pub station_name: String,
}

/// A move of a case from one station to another, with its reason.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Transfer {
    pub id: Uuid,
    /// Read so that one statement can serve several cases (a person's timeline).
    #[serde(skip)]
    #[schema(ignore)]
    pub case_id: Uuid,
    pub from_station: String,
    pub to_station: String,
    pub reason: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by_name: Option<String>,
}

/// One action of a support plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanAction {
    pub action: String,
    /// Who does it (a worker, the family, a partner organisation).
    pub owner: String,
    /// YYYY-MM-DD
    pub due_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub goals: String,
    pub actions: Vec<PlanActionInput>,
    /// YYYY-MM-DD: when the plan is reviewed.
    pub review_on: String,
    /// Follow-up tier for the case while this plan runs.
    pub tier: Option<String>,
    /// Version of the plan being edited (absent for a new plan).
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanActionInput {
    pub action: String,
    pub owner: String,
    pub due_on: Option<String>,
}

pub struct CleanPlan {
    pub goals: String,
    pub actions: Vec<PlanAction>,
    pub review_on: NaiveDate,
}

pub fn validate_plan(p: &PlanInput, today: NaiveDate, errors: &mut FieldErrors) -> Option<CleanPlan> {
    let goals = clean_name(&p.goals, "goals", 3000, errors);
    let mut actions = Vec::new();
    for (i, a) in p.actions.iter().enumerate() {
        let blank = a.action.trim().is_empty()
            && a.owner.trim().is_empty()
            && a.due_on.as_deref().unwrap_or("").trim().is_empty();
        if blank {
            continue;
        }
        let field = |f: &str| format!("actions[{i}].{f}");
        if a.action.trim().is_empty() {
            errors.add(&field("action"), "plan.action_required");
        }
        if a.owner.trim().is_empty() {
            errors.add(&field("owner"), "plan.owner_required");
        }
        let due_on = match a.due_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match crate::people::model::parse_date(s) {
                Some(d) => Some(d),
                None => {
                    errors.add(&field("due_on"), "error.date_format");
                    None
                }
            },
        };
        actions.push(PlanAction { action: a.action.trim().to_string(), owner: a.owner.trim().to_string(), due_on });
    }
    if actions.is_empty() {
        errors.add("actions", "plan.needs_action");
    }
    let review_on = match crate::people::model::parse_date(&p.review_on) {
        Some(d) if d < today => {
            errors.add("review_on", "plan.review_in_past");
            None
        }
        Some(d) => Some(d),
        None => {
            errors.add("review_on", if p.review_on.trim().is_empty() { "error.required" } else { "error.date_format" });
            None
        }
    };
    if !errors.is_empty() {
        return None;
    }
    Some(CleanPlan { goals, actions, review_on: review_on? })
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Plan {
    pub id: Uuid,
    pub case_id: Uuid,
    pub goals: String,
    /// JSON array of actions.
    #[serde(skip)]
    pub actions: String,
    pub review_on: NaiveDate,
    pub status: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub version: i64,
}

impl Plan {
    pub fn action_list(&self) -> Vec<PlanAction> {
        serde_json::from_str(&self.actions).unwrap_or_default()
    }
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Tier {
    pub code: String,
    pub name: String,
    pub interval_days: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        crate::people::model::parse_date(s).unwrap()
    }

    #[test]
    fn a_plan_action_needs_an_owner_and_blank_rows_are_skipped() {
        let mut e = FieldErrors::default();
        let p = PlanInput {
            goals: "恢复就业".into(),
            actions: vec![
                PlanActionInput { action: "链接社区公益岗位".into(), owner: "".into(), due_on: None },
                PlanActionInput::default(),
            ],
            review_on: "2026-12-31".into(),
            tier: None,
            version: None,
        };
        assert!(validate_plan(&p, d("2026-11-23"), &mut e).is_none());
        assert_eq!(e.get("actions[0].owner"), Some("plan.owner_required"));
        assert_eq!(e.0.len(), 1);
    }

    #[test]
    fn records_are_not_in_the_future_nor_before_intake() {
        let r = |on: &str| RecordInput {
            kind: "home_visit".into(),
            occurred_on: Some(on.into()),
            minutes: 30,
            notes: "入户走访".into(),
            referred_to: None,
        };
        let (opened, today) = (d("2026-11-01"), d("2026-11-23"));
        let mut e = FieldErrors::default();
        assert!(validate_record(&r("2026-11-24"), opened, today, &mut e).is_none());
        assert_eq!(e.get("occurred_on"), Some("record.in_future"));
        let mut e = FieldErrors::default();
        assert!(validate_record(&r("2026-10-31"), opened, today, &mut e).is_none());
        let mut e = FieldErrors::default();
        assert!(validate_record(&r("2026-11-20"), opened, today, &mut e).is_some());
    }
}

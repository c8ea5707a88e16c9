//! Residents, households and vulnerable-group tags: types and validation, no I/O.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::identity::{Phone, ResidentId, Sex, age_on};
use crate::error::FieldErrors;
use crate::web::form::{clean_name, clean_optional};

/// Vulnerable-group tags of GLOSSARY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    LivingAlone,
    EmptyNest,
    ChildlessWidowed,
    ChildInDifficulty,
    LeftBehindChild,
    MinimumAllowance,
    ExtremePoverty,
    Disability,
    SeriousIllness,
}

impl Tag {
    pub const ALL: [Tag; 9] = [
        Tag::LivingAlone,
        Tag::EmptyNest,
        Tag::ChildlessWidowed,
        Tag::ChildInDifficulty,
        Tag::LeftBehindChild,
        Tag::MinimumAllowance,
        Tag::ExtremePoverty,
        Tag::Disability,
        Tag::SeriousIllness,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::LivingAlone => "living_alone",
            Tag::EmptyNest => "empty_nest",
            Tag::ChildlessWidowed => "childless_widowed",
            Tag::ChildInDifficulty => "child_in_difficulty",
            Tag::LeftBehindChild => "left_behind_child",
            Tag::MinimumAllowance => "minimum_allowance",
            Tag::ExtremePoverty => "extreme_poverty",
            Tag::Disability => "disability",
            Tag::SeriousIllness => "serious_illness",
        }
    }
    pub fn parse(s: &str) -> Option<Tag> {
        let s = s.trim();
        Tag::ALL.into_iter().find(|t| t.as_str() == s).or(match s {
            "独居" | "独居老人" => Some(Tag::LivingAlone),
            "空巢" | "空巢老人" => Some(Tag::EmptyNest),
            "孤寡" | "孤寡老人" => Some(Tag::ChildlessWidowed),
            "困境儿童" => Some(Tag::ChildInDifficulty),
            "留守儿童" => Some(Tag::LeftBehindChild),
            "低保" => Some(Tag::MinimumAllowance),
            "特困" => Some(Tag::ExtremePoverty),
            "残疾" => Some(Tag::Disability),
            "重病" => Some(Tag::SeriousIllness),
            _ => None,
        })
    }
    pub fn label_key(self) -> String {
        format!("tag.{}", self.as_str())
    }
    /// Tags that only make sense for a minor.
    pub fn is_child_tag(self) -> bool {
        matches!(self, Tag::ChildInDifficulty | Tag::LeftBehindChild)
    }
    /// Tags of the elderly focus group (60 and over).
    pub fn is_elder_tag(self) -> bool {
        matches!(self, Tag::LivingAlone | Tag::EmptyNest | Tag::ChildlessWidowed)
    }
}

/// Age under which a person's records are a child's (restricted) records.
pub const CHILD_AGE: i32 = 14;
/// Children's tags apply below this age (the civil-affairs definition of a minor).
pub const ADULT_AGE: i32 = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
    Sibling,
    Other,
}

impl Relation {
    pub const ALL: [Relation; 7] = [
        Relation::Head,
        Relation::Spouse,
        Relation::Child,
        Relation::Parent,
        Relation::Grandchild,
        Relation::Sibling,
        Relation::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Head => "head",
            Relation::Spouse => "spouse",
            Relation::Child => "child",
            Relation::Parent => "parent",
            Relation::Grandchild => "grandchild",
            Relation::Sibling => "sibling",
            Relation::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Relation> {
        let s = s.trim();
        Relation::ALL.into_iter().find(|r| r.as_str() == s).or(match s {
            "户主" | "本人" => Some(Relation::Head),
            "配偶" => Some(Relation::Spouse),
            "子女" | "儿子" | "女儿" => Some(Relation::Child),
            "父母" | "父亲" | "母亲" => Some(Relation::Parent),
            "孙子女" | "孙子" | "孙女" | "外孙" => Some(Relation::Grandchild),
            "兄弟姐妹" => Some(Relation::Sibling),
            "其他" => Some(Relation::Other),
            _ => None,
        })
    }
    pub fn label_key(self) -> String {
        format!("relation.{}", self.as_str())
    }
}

/// A person as lists and pages show them: sensitive numbers only in masked form.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub sex: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// `140202********123X`
    pub id_masked: Option<String>,
    /// `138****1234`
    pub phone_masked: Option<String>,
    pub place_id: Uuid,
    pub place_name: String,
    #[serde(skip)]
    pub path: String,
    pub estate_id: Option<Uuid>,
    pub estate_name: Option<String>,
    pub building: Option<String>,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub household_id: Option<Uuid>,
    pub relation: Option<String>,
    pub merged_into: Option<Uuid>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl Person {
    pub fn age(&self, today: NaiveDate) -> Option<i32> {
        self.birth_date.map(|b| age_on(b, today))
    }
    pub fn is_child(&self, today: NaiveDate) -> bool {
        self.age(today).is_some_and(|a| a < CHILD_AGE)
    }
    /// `宏安小区 2号楼 1单元 301室`
    pub fn address(&self) -> String {
        address_text(self.estate_name.as_deref(), self.building.as_deref(), self.unit.as_deref(), self.room.as_deref())
    }
}

pub fn address_text(estate: Option<&str>, building: Option<&str>, unit: Option<&str>, room: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(e) = estate {
        parts.push(e.to_string());
    }
    for (v, suffix) in [(building, "号楼"), (unit, "单元"), (room, "室")] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let already = v.ends_with(suffix) || v.ends_with('栋') || v.ends_with('号');
            parts.push(if already { v.to_string() } else { format!("{v}{suffix}") });
        }
    }
    parts.join(" ")
}

/// What a form or the API sends to create or change a person.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub name: String,
    /// 18-character resident ID number; lower-case x is accepted.
    pub id_number: Option<String>,
    /// male or female; derived from the ID number when one is given.
    pub sex: Option<String>,
    /// YYYY-MM-DD; derived from the ID number when one is given.
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    /// The community or grid the person lives in.
    pub place_id: Uuid,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub household_id: Option<Uuid>,
    /// head, spouse, child, parent, grandchild, sibling, other.
    pub relation: Option<String>,
    /// Required when updating: the version that was read.
    pub version: Option<i64>,
}

/// A validated person, ready to store.
#[derive(Debug, Clone)]
pub struct CleanPerson {
    pub name: String,
    pub id_number: Option<ResidentId>,
    pub sex: Option<Sex>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<Phone>,
    pub building: Option<String>,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub relation: Option<Relation>,
}

pub fn parse_date(v: &str) -> Option<NaiveDate> {
    let v = v.trim();
    NaiveDate::parse_from_str(v, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(v, "%Y/%m/%d")).ok()
}

/// Checks everything that needs no database; `today` is Shanghai's date.
pub fn validate(input: &PersonInput, today: NaiveDate, errors: &mut FieldErrors) -> CleanPerson {
    let name = clean_name(&input.name, "name", 40, errors);
    let id_number = match input.id_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match ResidentId::parse(raw, today) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.add("id_number", e.code());
                None
            }
        },
    };
    let typed_birth = match input.birth_date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match parse_date(raw) {
            Some(d) if d > today => {
                errors.add("birth_date", "person.birth_in_future");
                None
            }
            Some(d) if d.year_ce().1 < 1900 => {
                errors.add("birth_date", "error.date_format");
                None
            }
            Some(d) => Some(d),
            None => {
                errors.add("birth_date", "error.date_format");
                None
            }
        },
    };
    let typed_sex = match input.sex.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Sex::parse(s).or(match s {
            "男" => Some(Sex::Male),
            "女" => Some(Sex::Female),
            _ => None,
        }) {
            Some(s) => Some(s),
            None => {
                errors.add("sex", "error.bad_choice");
                None
            }
        },
    };
    // The ID number decides birth date and sex; what was typed must agree with it.
    let (birth_date, sex) = match &id_number {
        Some(id) => {
            if typed_birth.is_some_and(|d| d != id.birth_date()) {
                errors.add("birth_date", "person.birth_mismatch");
            }
            if typed_sex.is_some_and(|s| s != id.sex()) {
                errors.add("sex", "person.sex_mismatch");
            }
            (Some(id.birth_date()), Some(id.sex()))
        }
        None => (typed_birth, typed_sex),
    };
    let phone = match input.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match Phone::parse(raw) {
            Some(p) => Some(p),
            None => {
                errors.add("phone", "person.phone_format");
                None
            }
        },
    };
    let relation = match input.relation.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => match Relation::parse(r) {
            Some(r) => Some(r),
            None => {
                errors.add("relation", "error.bad_choice");
                None
            }
        },
    };
    let building = clean_optional(input.building.as_deref(), "building", 20, errors);
    let unit = clean_optional(input.unit.as_deref(), "unit", 20, errors);
    let room = clean_optional(input.room.as_deref(), "room", 20, errors);
    CleanPerson { name, id_number, sex, birth_date, phone, building, unit, room, relation }
}

use chrono::Datelike;

/// A tag period as shown on the person page.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct PersonTag {
    pub id: Uuid,
    pub person_id: Uuid,
    pub tag: String,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub source: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    /// One of the tag codes (living_alone, left_behind_child, …).
    pub tag: String,
    /// YYYY-MM-DD; today when absent.
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    /// Where the fact comes from (低保 roll, home visit, hospital certificate …).
    pub source: String,
}

/// A tag checked against the person's age.
pub fn validate_tag(
    input: &TagInput,
    birth: Option<NaiveDate>,
    today: NaiveDate,
    errors: &mut FieldErrors,
) -> Option<(Tag, NaiveDate, Option<NaiveDate>, String)> {
    let tag = Tag::parse(&input.tag);
    if tag.is_none() {
        errors.add("tag", "error.bad_choice");
    }
    let source = clean_name(&input.source, "source", 100, errors);
    let starts = match input.starts_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(today),
        Some(s) => parse_date(s).or_else(|| {
            errors.add("starts_on", "error.date_format");
            None
        }),
    };
    let ends = match input.ends_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match parse_date(s) {
            Some(d) if starts.is_some_and(|st| d < st) => {
                errors.add("ends_on", "tag.ends_before_start");
                None
            }
            Some(d) => Some(d),
            None => {
                errors.add("ends_on", "error.date_format");
                None
            }
        },
    };
    if let (Some(t), Some(start)) = (tag, starts) {
        match birth.map(|b| age_on(b, start)) {
            Some(age) if t.is_child_tag() && age >= ADULT_AGE => errors.add("tag", "tag.child_tag_on_adult"),
            Some(age) if t.is_elder_tag() && age < 60 => errors.add("tag", "tag.elder_tag_on_young"),
            None if t.is_child_tag() || t.is_elder_tag() => errors.add("tag", "tag.needs_birth_date"),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return None;
    }
    Some((tag?, starts?, ends, source))
}

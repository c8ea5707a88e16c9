//! Assessment instruments: versioned item lists with scored options and result bands. The
//! bureau edits an instrument by publishing a new version; an assessment keeps the version it
//! was made with, so old scores stay readable.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Db;
use crate::error::FieldErrors;
use crate::{read, write};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub key: String,
    pub label: String,
    /// `[label, score]` of each answer.
    #[schema(value_type = Vec<Vec<OptionCell>>)]
    pub options: Vec<(String, i64)>,
}

/// A cell of an option's `[label, score]` pair. Documented this way because a tuple's schema
/// (`prefixItems` with `items: false`) breaks client generators; the pair stays on the wire as the
/// stored instruments have it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OptionCell {
    Label(String),
    Score(i64),
}

/// A result band: scores from `min` up (bands sorted by `min` descending pick the first match).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub min: i64,
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstrumentRow {
    pub id: Uuid,
    pub code: String,
    pub version: i64,
    pub name: String,
    pub domain: String,
    pub items: String,
    pub bands: String,
    pub reassess_days: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Instrument {
    pub id: Uuid,
    pub code: String,
    pub version: i64,
    pub name: String,
    pub domain: String,
    pub items: Vec<Item>,
    pub bands: Vec<Band>,
    pub reassess_days: i64,
}

impl From<InstrumentRow> for Instrument {
    fn from(r: InstrumentRow) -> Self {
        Instrument {
            id: r.id,
            code: r.code,
            version: r.version,
            name: r.name,
            domain: r.domain,
            items: serde_json::from_str(&r.items).unwrap_or_default(),
            bands: serde_json::from_str(&r.bands).unwrap_or_default(),
            reassess_days: r.reassess_days,
        }
    }
}

impl Instrument {
    /// Scores answers given as item key → option index. Every item must be answered.
    pub fn score(
        &self,
        answers: &std::collections::BTreeMap<String, usize>,
        errors: &mut FieldErrors,
    ) -> Option<(i64, Band)> {
        let mut total = 0;
        for item in &self.items {
            match answers.get(&item.key).and_then(|i| item.options.get(*i)) {
                Some((_, s)) => total += s,
                None => errors.add(&format!("item_{}", item.key), "assessment.item_unanswered"),
            }
        }
        if answers.keys().any(|k| !self.items.iter().any(|i| &i.key == k)) {
            errors.add("answers", "assessment.unknown_item");
        }
        if !errors.is_empty() {
            return None;
        }
        let mut bands = self.bands.clone();
        bands.sort_by_key(|b| std::cmp::Reverse(b.min));
        let band = bands.into_iter().find(|b| total >= b.min)?;
        Some((total, band))
    }
}

fn opts(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(l, s)| (l.to_string(), *s)).collect()
}

fn item(key: &str, label: &str, options: &[(&str, i64)]) -> Item {
    Item { key: key.into(), label: label.into(), options: opts(options) }
}

/// The Barthel index of activities of daily living (ADL), as used in elderly-care assessments.
fn elderly_adl() -> (Vec<Item>, Vec<Band>) {
    let items = vec![
        item("feeding", "进食", &[("完全独立", 10), ("需部分帮助", 5), ("完全依赖", 0)]),
        item("bathing", "洗澡", &[("独立完成", 5), ("需帮助", 0)]),
        item("grooming", "修饰(洗脸刷牙梳头)", &[("独立完成", 5), ("需帮助", 0)]),
        item("dressing", "穿衣", &[("完全独立", 10), ("需部分帮助", 5), ("完全依赖", 0)]),
        item("bowels", "控制大便", &[("能控制", 10), ("偶尔失禁", 5), ("失禁", 0)]),
        item("bladder", "控制小便", &[("能控制", 10), ("偶尔失禁", 5), ("失禁", 0)]),
        item("toilet", "如厕", &[("完全独立", 10), ("需部分帮助", 5), ("完全依赖", 0)]),
        item("transfer", "床椅转移", &[("完全独立", 15), ("需少量帮助", 10), ("需大量帮助", 5), ("完全依赖", 0)]),
        item("mobility", "平地行走45米", &[("完全独立", 15), ("需少量帮助", 10), ("需大量帮助", 5), ("完全依赖", 0)]),
        item("stairs", "上下楼梯", &[("完全独立", 10), ("需部分帮助", 5), ("完全依赖", 0)]),
    ];
    let bands = vec![
        Band { min: 100, code: "independent".into(), label: "能力完好".into() },
        Band { min: 61, code: "mild".into(), label: "轻度依赖".into() },
        Band { min: 41, code: "moderate".into(), label: "中度依赖".into() },
        Band { min: 0, code: "severe".into(), label: "重度依赖".into() },
    ];
    (items, bands)
}

/// A child welfare screening: protection, care, health, schooling and emotional needs.
fn child_screening() -> (Vec<Item>, Vec<Band>) {
    let scale = &[("无风险", 0), ("低风险", 1), ("中风险", 2), ("高风险", 3)];
    let items = vec![
        item("guardianship", "监护状况(监护人缺失或监护不力)", scale),
        item("living", "基本生活(衣食住行保障)", scale),
        item("health", "身体健康与就医", scale),
        item("schooling", "就学与学业", scale),
        item("emotion", "情绪与心理(孤僻、退缩、创伤)", scale),
        item("safety", "安全(受虐、忽视、意外风险)", scale),
        item("family", "家庭关系与支持", scale),
    ];
    let bands = vec![
        Band { min: 12, code: "high".into(), label: "高风险".into() },
        Band { min: 6, code: "medium".into(), label: "中风险".into() },
        Band { min: 0, code: "low".into(), label: "低风险".into() },
    ];
    (items, bands)
}

/// Inserts the shipped instruments and follow-up tiers where missing (run after migrations).
pub async fn ensure_defaults(db: &Db) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let now = Utc::now();
    for (code, name, domain, reassess, (items, bands)) in [
        ("elderly_adl", "老年人日常生活能力评估(Barthel)", "elderly_care", 180_i64, elderly_adl()),
        ("child_screening", "儿童福利需求评估", "child_welfare", 90, child_screening()),
    ] {
        write!(&mut tx, |c| sqlx::query(
            "INSERT INTO instruments (id, code, version, name, domain, items, bands, reassess_days, created_at)
             VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8) ON CONFLICT (code, version) DO NOTHING"
        )
        .bind(Uuid::now_v7())
        .bind(code)
        .bind(name)
        .bind(domain)
        .bind(serde_json::to_string(&items)?)
        .bind(serde_json::to_string(&bands)?)
        .bind(reassess)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    for (code, name, days, sort) in [
        ("elder_80_alone", "80岁以上独居老人", 7_i64, 1_i64),
        ("elder_alone", "独居/空巢/孤寡老人", 14, 2),
        ("child", "留守/困境儿童", 30, 3),
        ("standard", "一般个案", 30, 4),
    ] {
        write!(&mut tx, |c| sqlx::query(
            "INSERT INTO follow_up_tiers (code, name, interval_days, sort, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (code) DO NOTHING"
        )
        .bind(code)
        .bind(name)
        .bind(days)
        .bind(sort)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(())
}

/// The newest version of each active instrument.
pub async fn current(db: &Db) -> Result<Vec<Instrument>, sqlx::Error> {
    let rows: Vec<InstrumentRow> = read!(db, |c| {
        sqlx::query_as(
        "SELECT i.id, i.code, i.version, i.name, i.domain, i.items, i.bands, i.reassess_days FROM instruments i
         WHERE i.active = $1 AND i.version = (SELECT MAX(j.version) FROM instruments j WHERE j.code = i.code) ORDER BY i.code"
    )
    .bind(true)
    .fetch_all(c)
    .await
    })?;
    Ok(rows.into_iter().map(Instrument::from).collect())
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<Instrument>, sqlx::Error> {
    let row: Option<InstrumentRow> = read!(db, |c| sqlx::query_as(
        "SELECT id, code, version, name, domain, items, bands, reassess_days FROM instruments WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(Instrument::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barthel_scores_and_bands() {
        let (items, bands) = elderly_adl();
        let inst = Instrument {
            id: Uuid::nil(),
            code: "elderly_adl".into(),
            version: 1,
            name: String::new(),
            domain: String::new(),
            items,
            bands,
            reassess_days: 180,
        };
        let all_best: std::collections::BTreeMap<String, usize> =
            inst.items.iter().map(|i| (i.key.clone(), 0)).collect();
        let mut e = FieldErrors::default();
        let (score, band) = inst.score(&all_best, &mut e).unwrap();
        assert_eq!((score, band.code.as_str()), (100, "independent"));
        let mut partial = all_best.clone();
        partial.remove("stairs");
        let mut e = FieldErrors::default();
        assert!(inst.score(&partial, &mut e).is_none());
        assert_eq!(e.get("item_stairs"), Some("assessment.item_unanswered"));
        let worst: std::collections::BTreeMap<String, usize> =
            inst.items.iter().map(|i| (i.key.clone(), i.options.len() - 1)).collect();
        let mut e = FieldErrors::default();
        assert_eq!(inst.score(&worst, &mut e).unwrap().1.code, "severe");
    }
}

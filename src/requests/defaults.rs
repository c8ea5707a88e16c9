//! Reference data every installation starts with: the State Council holiday schedule shipped in
//! `holidays.toml` and a district's usual request categories. Each set is loaded once per
//! database, guarded by a `reference_seeds` marker row, so instances starting together load it
//! once and a table the bureau has edited (or emptied) is never refilled.

use chrono::Utc;
use serde_json::json;

use super::calendar::Calendar;
use crate::db::{Db, Tx};
use crate::write;

/// (code, name, group, default unit, response hours, resolve working days, Open311 attributes)
type Shipped = (&'static str, &'static str, &'static str, &'static str, i64, i64, serde_json::Value);

fn shipped_categories() -> Vec<Shipped> {
    let floor = json!({"variable": true, "code": "floor", "datatype": "number", "required": false,
        "datatype_description": "楼层（数字）", "order": 1, "description": "所在楼层"});
    vec![
        ("sewer_blocked", "下水堵塞", "市政设施", "community", 4, 3, json!([floor])),
        ("sewage_overflow", "污水外溢", "市政设施", "community", 2, 2, json!([floor])),
        ("garbage_piled", "垃圾堆放", "环境卫生", "community", 8, 3, json!([])),
        ("corridor_clutter", "楼道杂物", "消防安全", "community", 8, 5, json!([floor])),
        ("street_light", "路灯", "市政设施", "station", 8, 5, json!([])),
        (
            "elevator",
            "电梯",
            "房屋与设施",
            "community",
            2,
            5,
            json!([{"variable": true, "code": "trapped", "datatype": "singlevaluelist", "required": true,
                "datatype_description": null, "order": 1, "description": "是否有人被困",
                "values": [{"key": "yes", "name": "有人被困"}, {"key": "no", "name": "无人被困"}]}]),
        ),
        ("property_dispute", "物业纠纷", "物业管理", "community", 8, 10, json!([])),
        (
            "housing_safety",
            "房屋安全",
            "房屋与设施",
            "station",
            2,
            5,
            json!([{"variable": true, "code": "signs", "datatype": "multivaluelist", "required": false,
                "datatype_description": null, "order": 1, "description": "可见迹象",
                "values": [{"key": "cracks", "name": "墙体裂缝"}, {"key": "leak", "name": "屋顶漏水"},
                           {"key": "sinking", "name": "地面下沉"}]}]),
        ),
        ("heating", "供暖", "民生保障", "community", 4, 3, json!([])),
        ("noise", "噪音扰民", "环境卫生", "community", 8, 5, json!([])),
        ("elderly_help", "为老服务", "民生保障", "station", 8, 5, json!([])),
        ("other", "其他", "其他", "community", 8, 10, json!([])),
    ]
}

/// True the first time `name` is claimed in this transaction's database.
async fn claim(tx: &mut Tx, name: &str) -> Result<bool, sqlx::Error> {
    let n = write!(tx, |c| sqlx::query(
        "INSERT INTO reference_seeds (name, seeded_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
    )
    .bind(name)
    .bind(Utc::now())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn ensure(db: &Db) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    if claim(&mut tx, "holidays").await? {
        for r in Calendar::shipped_ranges() {
            super::store::insert_range(&mut tx, &r, now, None).await?;
        }
    }
    // Also on every start, not only when seeding: a database from before the stamps has none.
    super::store::restamp_calendar(&mut tx).await?;
    if claim(&mut tx, "request_categories").await? {
        for (code, name, group, unit, hours, days, attributes) in shipped_categories() {
            write!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO request_categories (code, name, group_name, default_unit, response_hours, resolve_days, attributes,
                                                 created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (code) DO NOTHING"
            )
            .bind(code)
            .bind(name)
            .bind(group)
            .bind(unit)
            .bind(hours)
            .bind(days)
            .bind(attributes.to_string())
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_categories_are_valid() {
        for (code, _, _, unit, hours, days, attrs) in super::shipped_categories() {
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
            assert!(crate::requests::model::DefaultUnit::parse(unit).is_some(), "{code}");
            assert!(hours > 0 && days > 0);
            for a in attrs.as_array().unwrap() {
                assert!(a["code"].is_string() && a["datatype"].is_string(), "{code}: {a}");
            }
        }
    }
}

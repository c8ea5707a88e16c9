//! The demo city: 大同市 with 平城区 (every street and community the newspaper pages name) and
//! 云冈区, stations, departments, partner organisations, estates, and one account per role.
//! Community names marked "(示例)" do not appear in the sources and stand in for unnamed ones.

use chrono::Utc;
use uuid::Uuid;

use crate::audit::Actor;
use crate::db::Db;
use crate::org::model::{NewPlace, OrgKind, PlaceKind};
use crate::org::store::{self, EstateInput, OrgInput, StationInput};
use crate::staff::store::everything;
use crate::write;

mod stories;
pub use stories::load_requests_and_hazards;

/// (street, [communities]) of 平城区; the first four are the pilot stations.
pub const PINGCHENG: &[(&str, &[&str])] = &[
    ("开源街道", &["民和社区", "开源社区(示例)"]),
    (
        "迎宾街道",
        &["迎宾路社区", "北馨园社区", "振兴街社区", "振华南院社区", "明珠社区", "理想城社区", "万城社区", "绿园社区"],
    ),
    ("清远街道", &["大齿社区", "惠达社区", "清远西街社区"]),
    ("振华街道", &["永宁社区", "振华社区(示例)"]),
    ("新旺街道", &["新泉东街社区", "御锦源社区", "御河九号社区", "向阳东街社区", "工农路社区", "和信社区"]),
    ("永泰街道", &["柳航里社区", "桥北社区", "恒大社区"]),
    ("新华街道", &["卫星里社区", "新悦社区"]),
    ("水泊寺街道", &["永安社区", "文兴社区"]),
    ("古城街道", &["和阳社区"]),
    ("白登山街道", &["桐府社区"]),
    ("武定街道", &["西马路社区"]),
];

pub const YUNGANG: &[(&str, &[&str])] =
    &[("口泉街道", &["泉西社区(示例)", "六中社区(示例)"]), ("西花园街道", &["槐园社区(示例)"])];

/// Approximate centres (lat, lon; WGS-84) of the districts and streets, so that a reported
/// point lands in its grid (`org::geo`). Communities sit on a ring around their street's
/// centre and grids beside their community: close enough to the real layout for a demo, and
/// stated here as such — a district sets its own from its survey.
const CENTRES: &[(&str, f64, f64)] = &[
    ("平城区", 40.088, 113.300),
    ("云冈区", 40.035, 113.140),
    ("开源街道", 40.088, 113.268),
    ("迎宾街道", 40.068, 113.318),
    ("清远街道", 40.104, 113.280),
    ("振华街道", 40.062, 113.292),
    ("新旺街道", 40.108, 113.318),
    ("永泰街道", 40.125, 113.298),
    ("新华街道", 40.100, 113.296),
    ("水泊寺街道", 40.052, 113.345),
    ("古城街道", 40.091, 113.299),
    ("白登山街道", 40.100, 113.352),
    ("武定街道", 40.078, 113.282),
    ("口泉街道", 40.000, 113.090),
    ("西花园街道", 40.060, 113.220),
];

/// (place key as `load` names it, lat, lon) of every demo place below the city.
pub fn coordinates() -> Vec<(String, f64, f64)> {
    let centre = |name: &str| CENTRES.iter().find(|(n, ..)| *n == name).map(|(_, lat, lon)| (*lat, *lon));
    let mut out = Vec::new();
    for (district, streets) in [("平城区", PINGCHENG), ("云冈区", YUNGANG)] {
        if let Some((lat, lon)) = centre(district) {
            out.push((district.to_string(), lat, lon));
        }
        for (street, communities) in streets {
            let Some((slat, slon)) = centre(street) else { continue };
            out.push(((*street).to_string(), slat, slon));
            // ~0.6–1 km from the street's centre; the old town's streets are 2–4 km across.
            let ring = if communities.len() > 4 { 0.009 } else { 0.006 };
            for (i, community) in communities.iter().enumerate() {
                let angle = std::f64::consts::TAU * i as f64 / communities.len() as f64;
                let (clat, clon) = (slat + ring * angle.sin(), slon + ring * 1.3 * angle.cos());
                out.push(((*community).to_string(), clat, clon));
                for (grid, dlon) in [("第一网格", -0.0025), ("第二网格", 0.0025)] {
                    out.push((format!("{community}/{grid}"), clat, clon + dlon));
                }
            }
        }
    }
    out
}

/// Estates the sources name: (community, estate, property company or none).
const ESTATES: &[(&str, &str, Option<&str>)] = &[
    ("北馨园社区", "宏安小区", None),
    ("振兴街社区", "建筑三公司家属院", None),
    ("明珠社区", "明珠花园小区", None),
    ("万城社区", "万城华府小区", None),
    ("惠达社区", "龙港苑小区", None),
    ("御河九号社区", "御河九号小区", Some("御河九号博爱物业")),
    ("御锦源社区", "御锦源小区", Some("御锦源凯兴物业")),
    ("桥北社区", "蔬菜南库小区", None),
    ("恒大社区", "恒大绿洲小区", Some("恒大绿洲物业")),
    ("卫星里社区", "七中家属楼", None),
    ("槐园社区(示例)", "槐园北区", Some("中瑞物业")),
    ("泉西社区(示例)", "泉西小区", None),
    ("六中社区(示例)", "六中家属院小区", None),
];

/// (kind, name, anchored at: city | district | street name).
const ORGS: &[(OrgKind, &str, &str)] = &[
    (OrgKind::Department, "大同市政排污所", "city"),
    (OrgKind::Department, "平城区环卫服务中心", "平城区"),
    (OrgKind::Department, "平城区住建局", "平城区"),
    (OrgKind::Department, "平城区市场监督管理局", "平城区"),
    (OrgKind::Department, "平城区商务局", "平城区"),
    (OrgKind::Department, "迎宾街道综合行政执法队", "迎宾街道"),
    (OrgKind::Department, "水泊寺街道综合行政执法队", "水泊寺街道"),
    (OrgKind::GovernanceCenter, "平城区社区治理创享中心", "平城区"),
    (OrgKind::PartnerOrg, "彦君传统文化传媒工作室", "平城区"),
    (OrgKind::PartnerOrg, "大同市武术协会", "city"),
    (OrgKind::PartnerOrg, "梵廷心理咨询公司", "平城区"),
    (OrgKind::PartnerOrg, "美源口腔医院", "平城区"),
    (OrgKind::PartnerOrg, "大同市养老服务中心", "city"),
    (OrgKind::PartnerOrg, "东街卫生服务中心", "平城区"),
    (OrgKind::PartnerOrg, "平城区阳光社会工作服务中心(示例)", "平城区"),
    (OrgKind::PropertyCompany, "恒大绿洲物业", "平城区"),
    (OrgKind::PropertyCompany, "御河九号博爱物业", "平城区"),
    (OrgKind::PropertyCompany, "御锦源凯兴物业", "平城区"),
    (OrgKind::PropertyCompany, "中瑞物业", "云冈区"),
];

/// (host community) of each pilot street's station.
const PILOT_HOSTS: &[(&str, &str)] =
    &[("开源街道", "民和社区"), ("迎宾街道", "迎宾路社区"), ("清远街道", "大齿社区"), ("振华街道", "永宁社区")];

/// (role, account, display name, places by name, organisation).
type DemoAccount = (&'static str, &'static str, &'static str, &'static [&'static str], Option<&'static str>);
const ACCOUNTS: &[DemoAccount] = &[
    ("bureau_admin", "bureau", "平城区民政局 李科长", &["平城区"], None),
    ("system_admin", "sysadmin", "系统管理员", &["大同市"], None),
    ("auditor", "auditor", "审计员 周敏", &["大同市"], None),
    ("station_manager", "zhenhua.mgr", "振华街道社工站 赵站长", &["振华街道"], None),
    ("station_manager", "kaiyuan.mgr", "开源街道社工站 孙站长", &["开源街道"], None),
    ("social_worker", "wenbichen", "温碧晨", &["振华街道"], None),
    ("social_worker", "leizeyu", "雷泽宇", &["清远街道"], None),
    ("social_worker", "zhengjiangbo", "郑江波", &["开源街道"], None),
    ("social_worker", "hanjianwei", "韩建伟", &["迎宾街道"], None),
    ("community_staff", "changmin", "常敏", &["万城社区"], None),
    ("grid_worker", "yongtai.grid", "永泰街道网格员 刘伟", &["柳航里社区/第一网格"], None),
    ("department_handler", "paiwu", "市政排污所 王师傅", &["平城区"], Some("大同市政排污所")),
    ("partner_staff", "yanjun", "彦君工作室 张老师", &["清远街道"], Some("彦君传统文化传媒工作室")),
    ("volunteer", "volunteer", "志愿者 陈静", &["文兴社区"], None),
];

/// Loads the demo city into an empty database; returns (role, account, name) of each login.
pub async fn load(db: &Db, password: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let all = everything();
    let actor = Actor::system("linli demo");
    let mk = |parent: Option<Uuid>, kind: PlaceKind, name: &str| NewPlace {
        parent_id: parent,
        kind,
        name: name.into(),
        code: None,
    };
    let mut ids: std::collections::HashMap<String, Uuid> = std::collections::HashMap::new();
    let city = store::create_place(db, &all, &actor, &mk(None, PlaceKind::City, "大同市"), true).await.map_err(err)?;
    ids.insert("大同市".into(), city.id);
    for (district, streets) in [("平城区", PINGCHENG), ("云冈区", YUNGANG)] {
        let d = store::create_place(db, &all, &actor, &mk(Some(city.id), PlaceKind::District, district), false)
            .await
            .map_err(err)?;
        ids.insert(district.into(), d.id);
        for (street, communities) in streets {
            let s = store::create_place(db, &all, &actor, &mk(Some(d.id), PlaceKind::Street, street), false)
                .await
                .map_err(err)?;
            ids.insert((*street).into(), s.id);
            for community in *communities {
                let c = store::create_place(db, &all, &actor, &mk(Some(s.id), PlaceKind::Community, community), false)
                    .await
                    .map_err(err)?;
                ids.insert((*community).into(), c.id);
                for grid in ["第一网格", "第二网格"] {
                    let g = store::create_place(db, &all, &actor, &mk(Some(c.id), PlaceKind::Grid, grid), false)
                        .await
                        .map_err(err)?;
                    ids.insert(format!("{community}/{grid}"), g.id);
                }
            }
        }
    }
    let mut orgs = std::collections::HashMap::new();
    for (kind, name, anchor) in ORGS {
        let place_id = if *anchor == "city" { city.id } else { ids[*anchor] };
        let input = OrgInput {
            kind: *kind,
            name: (*name).into(),
            place_id,
            contact_name: None,
            contact_phone: None,
            description: None,
            active: true,
            version: None,
        };
        orgs.insert(*name, store::save_organisation(db, &all, &actor, None, &input).await.map_err(err)?);
    }
    for (community, estate, company) in ESTATES {
        let input = EstateInput {
            community_id: ids[*community],
            name: (*estate).into(),
            address: None,
            property_company_id: company.map(|c| orgs[c]),
            active: true,
            version: None,
        };
        store::save_estate(db, &all, &actor, None, &input).await.map_err(err)?;
    }
    let operator = orgs["平城区阳光社会工作服务中心(示例)"];
    let hub = StationInput {
        place_id: ids["平城区"],
        name: "平城区社工总站".into(),
        host_community_id: None,
        operator_id: Some(orgs["平城区社区治理创享中心"]),
        service_domains: crate::org::model::SERVICE_DOMAINS.iter().map(|s| s.to_string()).collect(),
        active: true,
        version: None,
    };
    store::save_station(db, &all, &actor, None, &hub).await.map_err(err)?;
    for (street, _) in PINGCHENG.iter().chain(YUNGANG) {
        let host = PILOT_HOSTS.iter().find(|(s, _)| s == street).map(|(_, c)| ids[*c]);
        let input = StationInput {
            place_id: ids[*street],
            name: format!("{street}社工站"),
            host_community_id: host,
            operator_id: Some(operator),
            service_domains: crate::org::model::SERVICE_DOMAINS.iter().map(|s| s.to_string()).collect(),
            active: true,
            version: None,
        };
        store::save_station(db, &all, &actor, None, &input).await.map_err(err)?;
    }
    set_coordinates(db, &ids, &actor).await?;
    // One hash for every demo account: they share the printed password, and argon2 per account
    // would make each demo (and each test database) slower for nothing.
    let hash = crate::auth::password::hash_off_thread(password).await?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut logins = Vec::new();
    for (role, account, name, places, org) in ACCOUNTS {
        let id = Uuid::now_v7();
        let org_id = org.map(|o| orgs[o]);
        write!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO users (id, account, display_name, role, password_hash, demo, organisation_id, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, 1, $7, $7)",
            )
            .bind(id)
            .bind(*account)
            .bind(*name)
            .bind(*role)
            .bind(&hash)
            .bind(org_id)
            .bind(now)
            .execute(c)
            .await.map(|r| r.rows_affected())
        })?;
        let place_ids: Vec<Uuid> = places.iter().map(|p| ids[*p]).collect();
        crate::staff::store::bind_places(&mut tx, id, &place_ids).await?;
        logins.push((role.to_string(), account.to_string(), name.to_string()));
    }
    crate::audit::record(
        &mut tx,
        &actor,
        crate::audit::Entry {
            action: "demo.load",
            entity: "user",
            entity_id: None,
            detail: serde_json::json!({"accounts": logins.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(logins)
}

/// Every demo place's centre in one transaction (one audit row): the demo loads for each test.
async fn set_coordinates(db: &Db, ids: &std::collections::HashMap<String, Uuid>, actor: &Actor) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let all = coordinates();
    for (key, lat, lon) in &all {
        let id = ids[key];
        write!(&mut tx, |c| sqlx::query("UPDATE places SET lat = $1, lon = $2 WHERE id = $3")
            .bind(lat)
            .bind(lon)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    crate::audit::record(
        &mut tx,
        actor,
        crate::audit::Entry {
            action: "place.location",
            entity: "place",
            entity_id: None,
            detail: serde_json::json!({"demo": true, "places": all.len()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("loading demo data: {e:?}")
}

/// The id of the one row `sql` finds by `name` (a place, estate or organisation of the demo).
async fn id_of(db: &Db, sql: &'static str, name: &str) -> anyhow::Result<Uuid> {
    let (id,): (Uuid,) = crate::read!(db, |c| sqlx::query_as(sql).bind(name).fetch_one(c).await)
        .map_err(|e| anyhow::anyhow!("demo record {name}: {e}"))?;
    Ok(id)
}

async fn place(db: &Db, name: &str) -> anyhow::Result<Uuid> {
    id_of(db, "SELECT id FROM places WHERE name = $1", name).await
}

/// The case-work stories of the seeds, so a demo opens on a working station: 王鹏 at 振华 (a
/// plan in force, services recorded), 王芳 at 开源 (living alone, visits due), 小阳 at 清远.
pub async fn load_casework(db: &Db, keys: &crate::crypto::Keyring) -> anyhow::Result<()> {
    use crate::cases::model::{IntakeInput, PlanActionInput, PlanInput, RecordInput};
    use crate::people::model::{PersonInput, TagInput};
    let all = everything();
    let user = |account: &'static str| async move {
        let (id,): (Uuid,) = crate::read!(db, |c| sqlx::query_as("SELECT id FROM users WHERE account = $1")
            .bind(account)
            .fetch_one(c)
            .await)?;
        anyhow::Ok(Actor { id: Some(id), name: account.into(), ip: "demo".into() })
    };
    let person = |name: &str, birth: &str, place_id: Uuid| PersonInput {
        name: name.into(),
        birth_date: Some(birth.into()),
        place_id,
        ..Default::default()
    };
    let created = |r: Result<crate::people::model::Person, crate::people::store::CreateError>| match r {
        Ok(p) => Ok(p),
        Err(_) => Err(anyhow::anyhow!("loading demo people")),
    };
    let today = crate::people::store::today();
    let stories = [
        (
            "wenbichen",
            "王鹏",
            "1986-03-02",
            "永宁社区",
            None,
            "social_assistance",
            "walk_in",
            "尿毒症，家庭经济困难，需要就业和医疗救助支持",
        ),
        (
            "zhengjiangbo",
            "王芳",
            "1945-06-01",
            "民和社区",
            Some("living_alone"),
            "elderly_care",
            "visit",
            "80岁独居，不会用智能手机，日常生活有困难",
        ),
        (
            "leizeyu",
            "小阳",
            "2015-09-10",
            "大齿社区",
            None,
            "child_welfare",
            "referral",
            "患先天性心脏病，父亲去世、母亲患精神疾病，孩子孤僻退缩",
        ),
    ];
    for (account, name, birth, community, tag, domain, source, summary) in stories {
        let actor = user(account).await?;
        let p = created(
            crate::people::store::create(
                db,
                keys,
                &all,
                &actor,
                &person(name, birth, place(db, community).await?),
                true,
            )
            .await,
        )?;
        if let Some(tag) = tag {
            let t = TagInput { tag: tag.into(), starts_on: None, ends_on: None, source: "入户走访核实".into() };
            crate::people::store::add_tag(db, &all, &actor, p.id, &t).await.map_err(err)?;
        }
        let intake = IntakeInput {
            person_id: p.id,
            domain: domain.into(),
            source: source.into(),
            summary: summary.into(),
            tier: None,
            worker_id: None,
        };
        let case = crate::cases::store::intake(db, &all, &actor, &intake).await.map_err(err)?;
        if name == "王鹏" {
            let plan = PlanInput {
                goals: "稳定透析治疗，申请医疗救助，链接一份力所能及的工作".into(),
                actions: vec![
                    PlanActionInput {
                        action: "协助申请医疗救助".into(), owner: "温碧晨".into(), due_on: None
                    },
                    PlanActionInput {
                        action: "经社区链接门卫岗位".into(), owner: "永宁社区".into(), due_on: None
                    },
                ],
                review_on: (today + chrono::Duration::days(60)).to_string(),
                tier: None,
                version: None,
            };
            crate::cases::store::save_plan(db, &all, &actor, case.id, &plan).await.map_err(err)?;
            crate::cases::store::approve_plan(db, &all, &user("zhenhua.mgr").await?, case.id, None)
                .await
                .map_err(err)?;
            for (kind, minutes, notes) in [
                ("resource_linking", 90, "经社区联系到一份门卫工作"),
                ("phone_follow_up", 15, "电话回访：透析规律，情绪稳定"),
            ] {
                let r = RecordInput {
                    kind: kind.into(),
                    occurred_on: None,
                    minutes,
                    notes: notes.into(),
                    referred_to: None,
                };
                crate::cases::store::add_record(db, &all, &actor, case.id, &r).await.map_err(err)?;
            }
        }
    }
    Ok(())
}

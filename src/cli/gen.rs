//! `linli gen`: district-scale synthetic case work on top of the demo city, for benchmarks and
//! load tests. On an empty database it loads the demo first, as `linli demo` does (the city, its
//! accounts and its three case-work stories); a database holding more people than that is
//! refused.
//!
//! What it writes, and how it matches the app:
//! - residents in households across every community and grid of the demo, in estates it adds
//!   through the app's own `save_estate` (buildings, units, rooms); common surnames and given
//!   names of each birth cohort, so two-character names such as 王芳 occur many times; valid
//!   GB 11643 ID numbers (check character from `identity::check_char`) for a share of them and
//!   mobile numbers, sealed, blind-indexed and masked by `people::store::seal`, exactly as
//!   `people::store::insert` stores them;
//! - vulnerable-group tags with start (and some end) dates, elder tags only from 60 and
//!   children's tags only below 18, as `validate_tag` allows;
//! - clients: residents of the four pilot streets (开源, 迎宾, 清远, 振华) with cases at the
//!   station `cases::store::station_for` finds for their address, numbered `振华-2024-0001`
//!   per station and year in opening order after any existing numbers (and `case_counters`
//!   left where intake continues),
//!   the tier `suggested_tier` picks, statuses from intake to closed with the assessments
//!   (scored by the instrument itself), approved plans and closure fields each status implies,
//!   and next follow-ups spread around today (a quarter overdue), one interval after the last
//!   contact as `add_record` keeps them;
//! - service records spread over the cases in proportion to how long each ran and how often
//!   its tier asks for contact, with short notes; the last record of an open case is the
//!   contact its next follow-up is counted from;
//! - `search_terms` rows as the app writes them: `search::name_terms` of each person (entity
//!   `person`, path of their place), `text_terms` of case summaries (`case`) and of every
//!   non-counselling note (`record`), both under the station's path like intake and
//!   `add_record`;
//! - a few social workers per pilot station (and a manager where the demo has none) so
//!   caseloads look like a district's: demo accounts sharing the demo password.
//!
//! Audit rows are not written for generated people, tags, cases and records: nobody did
//! anything, and a hash-chained log of millions of invented actions would only make
//! `linli check` slower. The demo city, the added estates and one `gen.staff`/`gen.load` row
//! each are audited as usual.
//!
//! Speed: a generator thread (seeded, so a seed always yields the same people, cases and notes)
//! feeds a writer on one dedicated connection through a bounded channel. SQLite gets 500-row
//! INSERTs, PostgreSQL 5000-row `UNNEST` arrays, committed every 200 statements; secondary
//! indexes of the bulk tables are dropped first and rebuilt from their stored definitions at the
//! end (a sort instead of millions of random B-tree inserts). PostgreSQL is then vacuumed and
//! analysed, as autovacuum would do shortly after such a load; SQLite is left without
//! `ANALYZE` statistics, like a database the app filled itself.

mod bulk;
mod names;
mod requests;

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use uuid::Uuid;

use self::bulk::{Msg, Table, Ty, Val, n};
use self::names::Names;
use crate::audit::{self, Actor, Entry};
use crate::cases::instruments::Instrument;
use crate::cases::model::PlanAction;
use crate::config::Config;
use crate::crypto::Keyring;
use crate::db::Db;
use crate::people::identity::{Phone, ResidentId, Sex, check_char};
use crate::people::model::{CleanPerson, Person, Relation, Tag};
use crate::{read, write};

#[derive(clap::Args)]
pub struct GenArgs {
    /// Residents to register across the demo's communities and grids.
    #[arg(long, default_value_t = 1_000_000)]
    pub residents: u64,
    /// Clients: residents of the pilot streets with at least one case.
    #[arg(long, default_value_t = 50_000)]
    pub clients: u64,
    /// Service records, spread over the cases.
    #[arg(long, default_value_t = 2_000_000)]
    pub records: u64,
    /// Seed of the generator: the same seed gives the same people, cases and notes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Resident requests (接诉即办) over the last two years, with their parts and timelines.
    #[arg(long, default_value_t = 0)]
    pub requests: u64,
}

/// The tables the load writes (their secondary indexes are rebuilt afterwards).
const BULK_TABLES: &[&str] = &[
    "households",
    "persons",
    "person_tags",
    "search_terms",
    "cases",
    "assessments",
    "support_plans",
    "service_records",
    "requests",
    "request_parts",
    "request_events",
];

pub async fn run(cfg: Config, a: GenArgs) -> anyhow::Result<ExitCode> {
    if a.clients > a.residents {
        bail!("--clients ({}) cannot exceed --residents ({})", a.clients, a.residents);
    }
    let started = Instant::now();
    let keys = cfg.keyring_for_setup()?;
    let db = super::serve::open(&cfg).await?;
    let password = ensure_demo(&db, &keys).await?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let world = World::load(&db, &a, &mut rng).await?;
    println!(
        "linli gen ({:?}): {} residents, {} clients, {} records, {} requests, seed {}",
        db.backend(),
        n(a.residents),
        n(a.clients),
        n(a.records),
        n(a.requests),
        a.seed
    );
    println!(
        "  demo city: {} communities, {} grids, {} estates; pilot stations: {}",
        world.communities.len(),
        world.communities.iter().map(|c| c.grids.len()).sum::<usize>(),
        world.communities.iter().map(|c| c.estates.len()).sum::<usize>(),
        world
            .stations
            .iter()
            .map(|s| format!("{} ({} workers)", s.name, s.workers.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let mut conn = bulk::Conn::open(&cfg.database_url).await?;
    let indexes = conn.secondary_indexes(BULK_TABLES).await?;
    for (name, _) in &indexes {
        conn.exec(&format!("DROP INDEX {name}")).await?;
    }
    println!("  dropped {} secondary indexes for the load", indexes.len());
    let load_start = Instant::now();
    let (tx, rx) = mpsc::channel::<Msg>(16);
    let sqlite = matches!(conn, bulk::Conn::Sqlite(_));
    let per_statement: HashMap<&'static str, usize> =
        ALL_TABLES.iter().map(|t| (t.name, conn.rows_per_statement(t))).collect();
    let seed = a.seed;
    let generator = std::thread::spawn(move || {
        let mut g = Gen::new(world, keys, rng, Sink::new(tx, per_statement));
        g.run(&a)
    });
    let written = bulk::write_all(&mut conn, rx).await;
    let generated = generator.join().map_err(|_| anyhow::anyhow!("the generator panicked"));
    let load_secs = load_start.elapsed().as_secs_f64();
    // The indexes come back whatever happened above, so a failed run leaves a usable schema.
    let index_start = Instant::now();
    for (name, sql) in &indexes {
        let t = Instant::now();
        conn.exec(sql).await.with_context(|| format!("rebuilding index {name}"))?;
        println!("  index {name}: {:.1}s", t.elapsed().as_secs_f64());
    }
    let index_secs = index_start.elapsed().as_secs_f64();
    let written = written?;
    let (summary, req_summary) = generated??;
    let finish_start = Instant::now();
    if sqlite {
        conn.exec("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    } else {
        conn.exec(&format!("VACUUM (ANALYZE) {}", BULK_TABLES.join(", "))).await?;
    }
    let finish_secs = finish_start.elapsed().as_secs_f64();
    conn.close().await?;

    let mut tx = db.begin().await?;
    // Every name and request here was indexed by this build (the generator's and the demo's
    // alike): no re-index at the next start.
    write!(&mut tx, |c| sqlx::query(
        "UPDATE search_reindex SET version = CASE entity WHEN 'person' THEN $1 ELSE $2 END, cursor_id = NULL"
    )
    .bind(crate::search::NAME_TERMS_VERSION)
    .bind(crate::search::TEXT_TERMS_VERSION)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    for (station, year, last) in &summary.counters {
        write!(&mut tx, |c| sqlx::query(
            "INSERT INTO case_counters (station_id, year, last) VALUES ($1, $2, $3)
             ON CONFLICT (station_id, year) DO UPDATE SET last = excluded.last"
        )
        .bind(station)
        .bind(i64::from(*year))
        .bind(last)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    for (year, last) in &req_summary.counters {
        write!(&mut tx, |c| sqlx::query(
            "INSERT INTO request_counters (year, last) VALUES ($1, $2)
             ON CONFLICT (year) DO UPDATE SET last = excluded.last"
        )
        .bind(i64::from(*year))
        .bind(last)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    audit::record(
        &mut tx,
        &Actor::system("linli gen"),
        Entry {
            action: "gen.load",
            entity: "person",
            entity_id: None,
            detail: serde_json::json!({
                "residents": summary.persons, "clients": summary.clients, "cases": summary.cases,
                "records": summary.records, "requests": req_summary.requests, "seed": seed,
            }),
        },
    )
    .await?;
    tx.commit().await?;

    let rows = written.total();
    println!("rows written: {} in {:.1}s = {} rows/s", n(rows), load_secs, n((rows as f64 / load_secs) as u64));
    for (t, c) in &written.0 {
        println!("  {t:<16} {:>12}", n(*c));
    }
    println!(
        "index rebuild {:.1}s, {} {:.1}s, total {:.1}s",
        index_secs,
        if sqlite { "checkpoint" } else { "vacuum analyze" },
        finish_secs,
        started.elapsed().as_secs_f64()
    );
    println!(
        "people: {} in {} households, {} with ID numbers, {} tag periods; {} named 王芳",
        n(summary.persons),
        n(summary.households),
        n(summary.with_id),
        n(summary.tags),
        n(summary.wang_fang)
    );
    println!(
        "case work: {} clients, {} cases ({} open, {} overdue), {} records",
        n(summary.clients),
        n(summary.cases),
        n(summary.open_cases),
        n(summary.overdue),
        n(summary.records)
    );
    if req_summary.requests > 0 {
        let mut statuses: Vec<_> = req_summary.by_status.iter().collect();
        statuses.sort();
        println!(
            "requests: {} ({}), {} open of which {} overdue; {} parts, {} events",
            n(req_summary.requests),
            statuses.iter().map(|(s, c)| format!("{s} {}", n(**c))).collect::<Vec<_>>().join(", "),
            n(req_summary.open),
            n(req_summary.overdue_open),
            n(req_summary.parts),
            n(req_summary.events)
        );
    }
    print_size(&db, &cfg).await?;
    if let Some(pass) = password {
        println!("demo accounts (bureau, zhenhua.mgr, wenbichen, … and gen.*) share the password {pass}");
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn print_size(db: &Db, cfg: &Config) -> anyhow::Result<()> {
    if let Some(path) = cfg.database_url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("database file: {path}, {:.2} GB", size as f64 / 1e9);
    } else {
        let (size,): (i64,) =
            read!(db, |c| sqlx::query_as("SELECT pg_database_size(current_database())").fetch_one(c).await)?;
        println!("database size: {:.2} GB", size as f64 / 1e9);
    }
    Ok(())
}

/// At most this many people may be there already: the demo's own stories.
const DEMO_PEOPLE: i64 = 20;

/// Loads the demo into an empty database as `linli demo` does (returning its password);
/// accepts a database that holds the demo and no more people than its stories.
async fn ensure_demo(db: &Db, keys: &Keyring) -> anyhow::Result<Option<String>> {
    let (users,): (i64,) = read!(db, |c| sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(c).await)?;
    if users == 0 {
        let pass = crate::staff::store::one_time_password();
        crate::demo::load(db, &pass).await?;
        crate::demo::load_casework(db, keys).await?;
        return Ok(Some(pass));
    }
    let (persons,): (i64,) = read!(db, |c| sqlx::query_as("SELECT COUNT(*) FROM persons").fetch_one(c).await)?;
    if persons > DEMO_PEOPLE {
        bail!("this database already holds {persons} people; `linli gen` fills an empty database or a fresh demo");
    }
    let (demo,): (i64,) =
        read!(db, |c| sqlx::query_as("SELECT COUNT(*) FROM users WHERE demo = $1").bind(true).fetch_one(c).await)?;
    if demo == 0 {
        bail!("this database has accounts but no demo city; `linli gen` builds on the demo");
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// The demo city as the generator needs it.

struct Estate {
    id: Uuid,
    floors: u32,
    units: u32,
    next_room: u32,
}

struct Community {
    /// (id, path) of the community itself and then of each grid.
    places: Vec<(Uuid, Arc<str>)>,
    grids: Vec<(Uuid, Arc<str>)>,
    estates: Vec<Estate>,
    /// Index into `World::stations` for the pilot streets.
    station: Option<usize>,
    weight: f64,
}

struct Station {
    id: Uuid,
    name: String,
    path: Arc<str>,
    short: String,
    workers: Vec<Uuid>,
    manager: Uuid,
}

struct World {
    today: NaiveDate,
    now: DateTime<Utc>,
    communities: Vec<Community>,
    stations: Vec<Station>,
    tiers: HashMap<String, i64>,
    adl: Instrument,
    child: Instrument,
    /// Case numbers already handed out: (station, year) → last.
    counters: HashMap<(Uuid, i32), i64>,
    /// What `--requests` needs; taken by the request phase.
    requests: Option<requests::RequestWorld>,
}

impl World {
    async fn load(db: &Db, a: &GenArgs, rng: &mut StdRng) -> anyhow::Result<World> {
        let everything = crate::staff::store::everything();
        let actor = Actor::system("linli gen");
        let rows: Vec<(Uuid, String, String, String)> = read!(db, |c| sqlx::query_as(
            "SELECT c.id, c.name, c.path, s.name FROM places c JOIN places s ON s.id = c.parent_id
             WHERE c.kind = 'community' AND c.active = $1 ORDER BY c.path"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let grids: Vec<(Uuid, Uuid, String)> = read!(db, |c| sqlx::query_as(
            "SELECT id, parent_id, path FROM places WHERE kind = 'grid' AND active = $1 ORDER BY path"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let estates: Vec<(Uuid, Uuid, String)> = read!(db, |c| sqlx::query_as(
            "SELECT id, community_id, name FROM estates WHERE active = $1 ORDER BY name"
        )
        .bind(true)
        .fetch_all(c)
        .await)?;
        let pilots: Vec<&str> = crate::demo::PINGCHENG.iter().take(4).map(|(s, _)| *s).collect();
        let mut communities = Vec::new();
        let mut stations: Vec<Station> = Vec::new();
        let mut station_streets: Vec<String> = Vec::new();
        for (id, name, path, street) in rows {
            let mut station = None;
            if pilots.contains(&street.as_str()) {
                // The station intake would pick for an address here.
                let (sid, sname, spath) = crate::cases::store::station_for(db, &path)
                    .await?
                    .with_context(|| format!("no station serves {name}"))?;
                station = Some(match stations.iter().position(|s| s.id == sid) {
                    Some(i) => i,
                    None => {
                        stations.push(Station {
                            id: sid,
                            short: crate::cases::store::station_short(&sname),
                            name: sname,
                            path: spath.into(),
                            workers: Vec::new(),
                            manager: Uuid::nil(),
                        });
                        station_streets.push(street.clone());
                        stations.len() - 1
                    }
                });
            }
            // Three to six estates per community: the demo's own, then `<stem>小区`, `<stem>花园` …
            let mut own: Vec<(Uuid, String)> =
                estates.iter().filter(|e| e.1 == id).map(|e| (e.0, e.2.clone())).collect();
            let want = rng.gen_range(3..=6);
            let stem = name.trim_end_matches("(示例)").trim_end_matches("社区").to_string();
            for suffix in names::ESTATE_SUFFIXES {
                if own.len() >= want {
                    break;
                }
                let estate = format!("{stem}{suffix}");
                if own.iter().any(|(_, n)| *n == estate) {
                    continue;
                }
                let input = crate::org::store::EstateInput {
                    community_id: id,
                    name: estate.clone(),
                    address: None,
                    property_company_id: None,
                    active: true,
                    version: None,
                };
                let eid = crate::org::store::save_estate(db, &everything, &actor, None, &input)
                    .await
                    .map_err(|e| anyhow::anyhow!("creating estate {estate}: {e:?}"))?;
                own.push((eid, estate));
            }
            let grids: Vec<(Uuid, Arc<str>)> =
                grids.iter().filter(|g| g.1 == id).map(|g| (g.0, Arc::from(g.2.as_str()))).collect();
            let mut places = vec![(id, Arc::from(path.as_str()))];
            places.extend(grids.iter().cloned());
            communities.push(Community {
                places,
                grids,
                estates: own
                    .into_iter()
                    .map(|(id, _)| Estate {
                        id,
                        floors: [6, 6, 7, 11, 18, 26][rng.gen_range(0..6)],
                        units: rng.gen_range(2..=6),
                        next_room: 0,
                    })
                    .collect(),
                station,
                weight: rng.gen_range(0.6..1.4),
            });
        }
        if stations.len() != pilots.len() {
            bail!("expected stations for the pilot streets {pilots:?}, found {}", stations.len());
        }
        staff(db, a, rng, &communities, &mut stations, &station_streets).await?;
        let tiers = crate::cases::store::tiers(db).await?.into_iter().map(|t| (t.code, t.interval_days)).collect();
        let current = crate::cases::instruments::current(db).await?;
        let inst = |code: &str| {
            current.iter().find(|i| i.code == code).cloned().with_context(|| format!("instrument {code} missing"))
        };
        let counters: Vec<(Uuid, i64, i64)> =
            read!(db, |c| sqlx::query_as("SELECT station_id, year, last FROM case_counters").fetch_all(c).await)?;
        let now = Utc::now();
        let requests = if a.requests > 0 { Some(requests::RequestWorld::load(db, rng).await?) } else { None };
        Ok(World {
            requests,
            today: crate::people::store::today(),
            now,
            communities,
            stations,
            tiers,
            adl: inst("elderly_adl")?,
            child: inst("child_screening")?,
            counters: counters.into_iter().map(|(s, y, last)| ((s, y as i32), last)).collect(),
        })
    }
}

/// Social workers for each pilot station (about 250 cases each, the demo's own included) and
/// a manager where the demo has none: demo accounts with the demo password, bound to the street.
async fn staff(
    db: &Db,
    a: &GenArgs,
    rng: &mut StdRng,
    communities: &[Community],
    stations: &mut [Station],
    streets: &[String],
) -> anyhow::Result<()> {
    let total_weight: f64 = communities.iter().filter(|c| c.station.is_some()).map(|c| c.weight).sum();
    let (hash,): (String,) = read!(db, |c| sqlx::query_as(
        "SELECT password_hash FROM users WHERE demo = $1 AND role = 'social_worker' ORDER BY account LIMIT 1"
    )
    .bind(true)
    .fetch_one(c)
    .await)?;
    let names = Names::new();
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut created = 0;
    for (i, st) in stations.iter_mut().enumerate() {
        let (street_id,): (Uuid,) =
            read!(db, |c| sqlx::query_as("SELECT id FROM places WHERE path = $1").bind(&*st.path).fetch_one(c).await)?;
        let bound: Vec<(Uuid, String, String)> = read!(db, |c| {
            sqlx::query_as(
            "SELECT u.id, u.role, u.account FROM users u JOIN user_places up ON up.user_id = u.id
             WHERE up.place_id = $1 AND u.disabled = $2 AND u.role IN ('social_worker', 'station_manager') ORDER BY u.account"
        )
        .bind(street_id)
        .bind(false)
        .fetch_all(c)
        .await
        })?;
        st.workers = bound.iter().filter(|b| b.1 == "social_worker").map(|b| b.0).collect();
        st.manager = bound.iter().find(|b| b.1 == "station_manager").map(|b| b.0).unwrap_or_default();
        let share: f64 =
            communities.iter().filter(|c| c.station == Some(i)).map(|c| c.weight).sum::<f64>() / total_weight;
        let want = ((a.clients as f64 * 1.12 * share / 250.0).ceil() as usize).clamp(1, 80);
        let short: &str = &st.short;
        let py: String = pinyin::ToPinyin::to_pinyin(&short).flatten().map(|p| p.plain()).collect();
        let mut accounts: Vec<(String, String, &str)> = Vec::new();
        for k in st.workers.len()..want {
            let male = rng.gen_bool(0.3);
            let born = rng.gen_range(1975..2000);
            let name = format!("{}{}", names.surname(rng), names.given(rng, male, born));
            accounts.push((format!("gen.{py}.sw{:02}", k + 1), name, "social_worker"));
        }
        if st.manager.is_nil() {
            accounts.push((
                format!("gen.{py}.mgr"),
                format!("{}社工站 {}站长", streets[i], names.surname(rng)),
                "station_manager",
            ));
        }
        for (account, display, role) in accounts {
            let existing: Option<(Uuid,)> = read!(db, |c| sqlx::query_as("SELECT id FROM users WHERE account = $1")
                .bind(&account)
                .fetch_optional(c)
                .await)?;
            let id = match existing {
                Some((id,)) => id,
                None => {
                    let id = Uuid::now_v7();
                    write!(&mut tx, |c| {
                        sqlx::query(
                        "INSERT INTO users (id, account, display_name, role, password_hash, demo, organisation_id, version, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, TRUE, NULL, 1, $6, $6)"
                    )
                    .bind(id)
                    .bind(&account)
                    .bind(&display)
                    .bind(role)
                    .bind(&hash)
                    .bind(now)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
                    })?;
                    crate::staff::store::bind_places(&mut tx, id, &[street_id]).await?;
                    created += 1;
                    id
                }
            };
            if role == "station_manager" {
                st.manager = id;
            } else {
                st.workers.push(id);
            }
        }
    }
    audit::record(
        &mut tx,
        &Actor::system("linli gen"),
        Entry {
            action: "gen.staff",
            entity: "user",
            entity_id: None,
            detail: serde_json::json!({ "accounts": created }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tables, with the columns the app's own INSERTs name.

use Ty::{Date, Id, Int, Text, Time};

static HOUSEHOLDS: Table = Table {
    name: "households",
    cols: &[
        ("id", Id),
        ("place_id", Id),
        ("path", Text),
        ("estate_id", Id),
        ("building", Text),
        ("unit", Text),
        ("room", Text),
        ("created_at", Time),
        ("created_by", Id),
        ("updated_at", Time),
        ("updated_by", Id),
    ],
};
static PERSONS: Table = Table {
    name: "persons",
    cols: &[
        ("id", Id),
        ("household_id", Id),
        ("relation", Text),
        ("place_id", Id),
        ("path", Text),
        ("estate_id", Id),
        ("building", Text),
        ("unit", Text),
        ("room", Text),
        ("name", Text),
        ("sex", Text),
        ("birth_date", Date),
        ("id_sealed", Text),
        ("id_hash", Text),
        ("id_masked", Text),
        ("phone_sealed", Text),
        ("phone_hash", Text),
        ("phone_masked", Text),
        ("created_at", Time),
        ("created_by", Id),
        ("updated_at", Time),
        ("updated_by", Id),
    ],
};
static PERSON_TAGS: Table = Table {
    name: "person_tags",
    cols: &[
        ("id", Id),
        ("person_id", Id),
        ("tag", Text),
        ("starts_on", Date),
        ("ends_on", Date),
        ("source", Text),
        ("created_at", Time),
        ("created_by", Id),
    ],
};
static CASES: Table = Table {
    name: "cases",
    cols: &[
        ("id", Id),
        ("number", Text),
        ("person_id", Id),
        ("station_id", Id),
        ("path", Text),
        ("domain", Text),
        ("source", Text),
        ("status", Text),
        ("summary", Text),
        ("worker_id", Id),
        ("tier", Text),
        ("next_follow_up_on", Date),
        ("opened_on", Date),
        ("plan_approved_on", Date),
        ("closure_reason", Text),
        ("closure_requested_by", Id),
        ("closed_on", Date),
        ("closed_by", Id),
        ("version", Int),
        ("created_at", Time),
        ("created_by", Id),
        ("updated_at", Time),
        ("updated_by", Id),
        ("person_path", Text),
    ],
};
static ASSESSMENTS: Table = Table {
    name: "assessments",
    cols: &[
        ("id", Id),
        ("case_id", Id),
        ("instrument_id", Id),
        ("answers", Text),
        ("score", Int),
        ("band", Text),
        ("assessed_on", Date),
        ("reassess_on", Date),
        ("notes", Text),
        ("created_at", Time),
        ("created_by", Id),
    ],
};
static SUPPORT_PLANS: Table = Table {
    name: "support_plans",
    cols: &[
        ("id", Id),
        ("case_id", Id),
        ("goals", Text),
        ("actions", Text),
        ("review_on", Date),
        ("status", Text),
        ("approved_at", Time),
        ("approved_by", Id),
        ("version", Int),
        ("created_at", Time),
        ("created_by", Id),
        ("updated_at", Time),
        ("updated_by", Id),
    ],
};
static SERVICE_RECORDS: Table = Table {
    name: "service_records",
    cols: &[
        ("id", Id),
        ("case_id", Id),
        ("station_id", Id),
        ("path", Text),
        ("kind", Text),
        ("occurred_on", Date),
        ("minutes", Int),
        ("notes", Text),
        ("referred_to", Text),
        ("created_at", Time),
        ("created_by", Id),
    ],
};
/// A text's index terms with their kinds (`search::KIND_*`), shared by every row that has it.
type Terms = Arc<[(Arc<str>, i16)]>;

static SEARCH_TERMS: Table = Table {
    name: "search_terms",
    cols: &[("term", Text), ("entity", Text), ("entity_id", Id), ("person_id", Id), ("path", Text), ("kind", Int)],
};

/// Parents before children: flushing a table flushes the ones before it first, so a row's
/// foreign keys always point at rows already written.
static ALL_TABLES: [&Table; 11] = [
    &HOUSEHOLDS,
    &PERSONS,
    &PERSON_TAGS,
    &CASES,
    &ASSESSMENTS,
    &SUPPORT_PLANS,
    &SERVICE_RECORDS,
    &SEARCH_TERMS,
    &requests::REQUESTS,
    &requests::REQUEST_PARTS,
    &requests::REQUEST_EVENTS,
];

/// Buffers rows per table and sends full statements to the writer.
struct Sink {
    tx: mpsc::Sender<Msg>,
    bufs: Vec<Vec<Val>>,
    per_statement: Vec<usize>,
}

impl Sink {
    fn new(tx: mpsc::Sender<Msg>, per: HashMap<&'static str, usize>) -> Sink {
        Sink {
            tx,
            bufs: ALL_TABLES.iter().map(|_| Vec::new()).collect(),
            per_statement: ALL_TABLES.iter().map(|t| per[t.name]).collect(),
        }
    }

    fn row<const N: usize>(&mut self, t: &'static Table, vals: [Val; N]) -> anyhow::Result<()> {
        debug_assert_eq!(N, t.cols.len(), "{}", t.name);
        let i = ALL_TABLES.iter().position(|x| std::ptr::eq(*x, t)).expect("known table");
        self.bufs[i].extend(vals);
        if self.bufs[i].len() >= self.per_statement[i] * N {
            self.flush_upto(i)?;
        }
        Ok(())
    }

    /// Sends table `i` and every table before it.
    fn flush_upto(&mut self, i: usize) -> anyhow::Result<()> {
        for (table, buf) in ALL_TABLES.iter().zip(self.bufs.iter_mut()).take(i + 1) {
            if buf.is_empty() {
                continue;
            }
            let table: &'static Table = table;
            let vals = std::mem::take(buf);
            let rows = vals.len() / table.cols.len();
            self.tx
                .blocking_send(Msg::Insert { table, rows, vals })
                .map_err(|_| anyhow::anyhow!("the writer stopped"))?;
        }
        Ok(())
    }

    fn phase(&mut self, name: &'static str) -> anyhow::Result<()> {
        self.flush_upto(ALL_TABLES.len() - 1)?;
        self.tx.blocking_send(Msg::Phase(name)).map_err(|_| anyhow::anyhow!("the writer stopped"))
    }
}

// ---------------------------------------------------------------------------------------------
// The generator.

#[derive(Default)]
struct Summary {
    households: u64,
    persons: u64,
    with_id: u64,
    tags: u64,
    wang_fang: u64,
    clients: u64,
    cases: u64,
    open_cases: u64,
    overdue: u64,
    records: u64,
    /// Where each (station, year) counter ends: (station, year, last).
    counters: Vec<(Uuid, i32, i64)>,
}

/// A pilot-street resident who may become a client.
struct Candidate {
    id: Uuid,
    /// Where the person lives (`cases.person_path`).
    path: Arc<str>,
    station: usize,
    birth: Option<NaiveDate>,
    registered: NaiveDate,
    /// Tags in force today, as bits of `Tag::ALL`.
    tags: u16,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Household {
    ElderAlone,
    ElderCouple,
    Single,
    Couple,
    Family,
    ThreeGenerations,
    LeftBehind,
    SingleParent,
    ElderWithChild,
}

const HOUSEHOLDS_MIX: [(Household, u32); 9] = [
    (Household::ElderAlone, 8),
    (Household::ElderCouple, 12),
    (Household::Single, 10),
    (Household::Couple, 15),
    (Household::Family, 30),
    (Household::ThreeGenerations, 12),
    (Household::LeftBehind, 5),
    (Household::SingleParent, 5),
    (Household::ElderWithChild, 3),
];

struct Member {
    birth: NaiveDate,
    male: bool,
    relation: Relation,
    surname: &'static str,
}

struct Gen {
    w: World,
    keys: Keyring,
    rng: StdRng,
    out: Sink,
    names: Names,
    terms: HashMap<String, Terms>,
    texts: HashMap<String, Arc<str>>,
    ids_seen: HashSet<u64>,
    sum: Summary,
    req_sum: requests::RequestSummary,
    /// A person as `suggested_tier` reads one; only the birth date matters to it.
    template: Person,
}

const ENT_PERSON: &str = "person";
const ENT_CASE: &str = "case";
const ENT_RECORD: &str = "record";

impl Gen {
    fn new(w: World, keys: Keyring, rng: StdRng, out: Sink) -> Gen {
        let template = Person {
            id: Uuid::nil(),
            name: String::new(),
            sex: None,
            birth_date: None,
            id_masked: None,
            phone_masked: None,
            place_id: Uuid::nil(),
            place_name: String::new(),
            path: String::new(),
            estate_id: None,
            estate_name: None,
            building: None,
            unit: None,
            room: None,
            household_id: None,
            relation: None,
            merged_into: None,
            version: 1,
            updated_at: w.now,
        };
        Gen {
            w,
            keys,
            rng,
            out,
            names: Names::new(),
            terms: HashMap::new(),
            texts: HashMap::new(),
            ids_seen: HashSet::new(),
            sum: Summary::default(),
            req_sum: requests::RequestSummary::default(),
            template,
        }
    }

    fn run(&mut self, a: &GenArgs) -> anyhow::Result<(Summary, requests::RequestSummary)> {
        self.out.phase("residents")?;
        let candidates = self.residents(a.residents)?;
        self.out.phase("cases and records")?;
        self.cases(candidates, a.clients, a.records)?;
        if a.requests > 0 {
            self.out.phase("requests")?;
            self.requests(a.requests)?;
        }
        self.out.phase("")?;
        Ok((std::mem::take(&mut self.sum), std::mem::take(&mut self.req_sum)))
    }

    /// A UUIDv7 for a moment in the past, from the seeded generator.
    fn v7(&mut self, t: DateTime<Utc>) -> Uuid {
        let mut bytes = [0u8; 10];
        self.rng.fill(&mut bytes);
        uuid::Builder::from_unix_timestamp_millis(t.timestamp_millis().max(0) as u64, &bytes).into_uuid()
    }

    /// `d` at `secs` seconds past midnight, Shanghai time.
    fn at(d: NaiveDate, secs: i64) -> DateTime<Utc> {
        (d.and_hms_opt(0, 0, 0).expect("midnight") - Duration::hours(8) + Duration::seconds(secs)).and_utc()
    }

    fn office_hours(&mut self, d: NaiveDate) -> DateTime<Utc> {
        let s = self.rng.gen_range(8 * 3600..18 * 3600);
        Self::at(d, s)
    }

    fn between(&mut self, a: NaiveDate, b: NaiveDate) -> NaiveDate {
        if b <= a { a } else { a + Duration::days(self.rng.gen_range(0..=(b - a).num_days())) }
    }

    fn birth(&mut self, min_age: i64, max_age: i64) -> NaiveDate {
        let days = self.rng.gen_range(min_age * 365 + 1..(max_age + 1) * 365);
        self.w.today - Duration::days(days)
    }

    fn text(&mut self, s: &str) -> Arc<str> {
        if let Some(t) = self.texts.get(s) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(s);
        self.texts.insert(s.to_string(), t.clone());
        t
    }

    fn terms_of(&mut self, s: &str, name: bool) -> Terms {
        let key = if name { format!("n:{s}") } else { format!("t:{s}") };
        if let Some(t) = self.terms.get(&key) {
            return t.clone();
        }
        let t: Terms = if name {
            crate::search::name_terms_kinds(s).into_iter().map(|(t, k)| (Arc::from(t), k)).collect()
        } else {
            crate::search::text_terms(s).into_iter().map(|t| (Arc::from(t), crate::search::KIND_TEXT)).collect()
        };
        self.terms.insert(key, t.clone());
        t
    }

    fn index(
        &mut self,
        entity: &'static str,
        id: Uuid,
        person: Uuid,
        path: &Arc<str>,
        terms: &[(Arc<str>, i16)],
    ) -> anyhow::Result<()> {
        for (term, kind) in terms {
            self.out.row(
                &SEARCH_TERMS,
                [term.into(), entity.into(), id.into(), person.into(), path.into(), i64::from(*kind).into()],
            )?;
        }
        Ok(())
    }

    /// A valid ID number never handed out before in this run.
    fn id_number(&mut self, birth: NaiveDate, male: bool) -> ResidentId {
        let regions: Vec<&(&str, u32, i32)> = names::ID_REGIONS.iter().filter(|r| birth.year() >= r.2).collect();
        let pick = WeightedIndex::new(regions.iter().map(|r| r.1)).expect("regions");
        loop {
            let region = regions[pick.sample(&mut self.rng)].0;
            let seq = self.rng.gen_range(0..500u32) * 2 + u32::from(male);
            let first17 = format!("{region}{}{seq:03}", birth.format("%Y%m%d"));
            let key: u64 = first17.parse().expect("digits");
            if self.ids_seen.insert(key) {
                let raw = format!("{first17}{}", check_char(&first17));
                return ResidentId::parse(&raw, self.w.today).expect("generated ID numbers are valid");
            }
        }
    }

    fn phone(&mut self) -> Phone {
        let prefix = ["13", "15", "17", "18", "19"][self.rng.gen_range(0..5)];
        let raw = format!("{prefix}{:09}", self.rng.gen_range(0..1_000_000_000u32));
        Phone::parse(&raw).expect("generated phone numbers are valid")
    }

    fn members(&mut self, kind: Household) -> Vec<Member> {
        let mut out = Vec::new();
        let family = self.names.surname(&mut self.rng);
        let other = |g: &mut Gen| g.names.surname(&mut g.rng);
        let mut add = |birth, male, relation, surname| out.push(Member { birth, male, relation, surname });
        match kind {
            Household::ElderAlone => {
                let male = self.rng.gen_bool(0.35);
                add(self.birth(65, 95), male, Relation::Head, family);
            }
            Household::ElderCouple => {
                let h = self.birth(62, 90);
                add(h, true, Relation::Head, family);
                let w = (h + Duration::days(self.rng.gen_range(0..1800))).min(self.w.today - Duration::days(60 * 366));
                add(w, false, Relation::Spouse, other(self));
            }
            Household::Single => {
                let male = self.rng.gen_bool(0.5);
                add(self.birth(20, 59), male, Relation::Head, family);
            }
            Household::Couple | Household::Family | Household::ThreeGenerations => {
                let (lo, hi) = if kind == Household::Couple { (22, 59) } else { (26, 52) };
                let h = self.birth(lo, hi);
                add(h, true, Relation::Head, family);
                let w = (h + Duration::days(self.rng.gen_range(0..1500))).min(self.w.today - Duration::days(22 * 366));
                add(w, false, Relation::Spouse, other(self));
                if kind != Household::Couple {
                    let mother_age = (self.w.today - w).num_days() / 365;
                    for _ in 0..self.rng.gen_range(1..=2) {
                        let max = (mother_age - 20).clamp(0, if kind == Household::Family { 22 } else { 17 });
                        let male = self.rng.gen_bool(0.52);
                        add(self.birth(0, max), male, Relation::Child, family);
                    }
                }
                if kind == Household::ThreeGenerations {
                    let head_age = (self.w.today - h).num_days() / 365;
                    let gf = self.birth((head_age + 22).min(95), (head_age + 32).min(98));
                    add(gf, true, Relation::Parent, family);
                    if self.rng.gen_bool(0.7) {
                        let gm = gf + Duration::days(self.rng.gen_range(0..1500));
                        add(gm, false, Relation::Parent, other(self));
                    }
                }
            }
            Household::LeftBehind => {
                let gf = self.birth(55, 80);
                let both = self.rng.gen_bool(0.6);
                let head_male = both || self.rng.gen_bool(0.4);
                add(gf, head_male, Relation::Head, family);
                if both {
                    let gm = gf + Duration::days(self.rng.gen_range(0..1500));
                    add(gm, false, Relation::Spouse, other(self));
                }
                for _ in 0..self.rng.gen_range(1..=2) {
                    let male = self.rng.gen_bool(0.52);
                    add(self.birth(3, 16), male, Relation::Grandchild, family);
                }
            }
            Household::SingleParent => {
                let male = self.rng.gen_bool(0.3);
                add(self.birth(28, 50), male, Relation::Head, family);
                let kid_name = if male || self.rng.gen_bool(0.5) { family } else { other(self) };
                let male = self.rng.gen_bool(0.52);
                add(self.birth(0, 17), male, Relation::Child, kid_name);
            }
            Household::ElderWithChild => {
                let e = self.birth(65, 92);
                let male = self.rng.gen_bool(0.4);
                add(e, male, Relation::Head, family);
                let age = (self.w.today - e).num_days() / 365;
                let c = self.birth((age - 35).max(30), (age - 22).min(60));
                let male = self.rng.gen_bool(0.5);
                add(c, male, Relation::Child, family);
            }
        }
        out
    }

    /// Tag periods of a person: (tag, starts, ends).
    fn tags(&mut self, kind: Household, m: &Member) -> Vec<(Tag, NaiveDate, Option<NaiveDate>)> {
        let today = self.w.today;
        let age = crate::people::identity::age_on(m.birth, today) as i64;
        let years = |n: i64| Duration::days(n * 366);
        let mut out = Vec::new();
        let elder_from = (m.birth + years(60)).max(today - years(10));
        let recent = today - Duration::days(7);
        if age >= 60 {
            if kind == Household::ElderAlone && self.rng.gen_bool(0.92) {
                out.push((Tag::LivingAlone, self.between(elder_from, recent), None));
                if self.rng.gen_bool(0.12) {
                    out.push((Tag::ChildlessWidowed, self.between(elder_from, recent), None));
                }
            }
            if kind == Household::ElderCouple && self.rng.gen_bool(0.75) {
                out.push((Tag::EmptyNest, self.between(elder_from, recent), None));
            }
            if self.rng.gen_bool(0.004) {
                out.push((Tag::ExtremePoverty, self.between(elder_from, recent), None));
            }
        }
        if age < 18 {
            let from = (m.birth + years(1)).max(today - years(6)).min(recent);
            let p = match kind {
                Household::LeftBehind => 0.55,
                Household::SingleParent => 0.08,
                _ => 0.005,
            };
            if self.rng.gen_bool(p) {
                let tag = if kind == Household::LeftBehind { Tag::LeftBehindChild } else { Tag::ChildInDifficulty };
                out.push((tag, self.between(from, recent), None));
            }
        }
        let adult_from = (m.birth + years(18)).max(today - years(12));
        if age >= 18 {
            if self.rng.gen_bool(0.025) {
                let start = self.between(adult_from, recent);
                let ends = self
                    .rng
                    .gen_bool(0.25)
                    .then(|| self.between(start + Duration::days(180), today - Duration::days(1)));
                out.push((Tag::MinimumAllowance, start, ends.filter(|e| *e > start)));
            }
            if self.rng.gen_bool(0.015) {
                out.push((Tag::SeriousIllness, self.between(adult_from, recent), None));
            }
        }
        if self.rng.gen_bool(0.02) {
            let from = (m.birth + years(1)).max(today - years(15)).min(recent);
            out.push((Tag::Disability, self.between(from, recent), None));
        }
        out
    }

    fn residents(&mut self, residents: u64) -> anyhow::Result<Vec<Candidate>> {
        let today = self.w.today;
        let mix = WeightedIndex::new(HOUSEHOLDS_MIX.iter().map(|h| h.1)).expect("mix");
        let where_ = WeightedIndex::new(self.w.communities.iter().map(|c| c.weight)).expect("communities");
        // Registration times rise with generation order (so do the UUIDv7 keys): five years
        // back to a month ago, as if the district had entered its residents over that time.
        let first = Self::at(today - Duration::days(5 * 365), 9 * 3600);
        let span = (Self::at(today - Duration::days(30), 17 * 3600) - first).num_milliseconds();
        let step = (span as f64 / (residents as f64 / 2.7)).max(1.0);
        let mut candidates = Vec::new();
        let mut persons = 0u64;
        let mut hh = 0u64;
        while persons < residents {
            let ci = where_.sample(&mut self.rng);
            let created = first + Duration::milliseconds(((hh as f64 * step) as i64).min(span));
            hh += 1;
            let c = &mut self.w.communities[ci];
            let (place_id, path) = if c.grids.is_empty() || self.rng.gen_bool(0.15) {
                c.places[0].clone()
            } else {
                c.grids[self.rng.gen_range(0..c.grids.len())].clone()
            };
            let station = c.station;
            let ei = self.rng.gen_range(0..c.estates.len());
            let e = &mut c.estates[ei];
            let (estate_id, r) = (e.id, e.next_room);
            e.next_room += 1;
            let per_unit = e.floors * 2;
            let per_building = per_unit * e.units;
            let building: Arc<str> = (r / per_building + 1).to_string().into();
            let unit: Arc<str> = (r % per_building / per_unit + 1).to_string().into();
            let room: Arc<str> = format!("{}{:02}", r % per_unit / 2 + 1, r % 2 + 1).into();
            let kind = HOUSEHOLDS_MIX[mix.sample(&mut self.rng)].0;
            let hid = self.v7(created);
            self.out.row(
                &HOUSEHOLDS,
                [
                    hid.into(),
                    place_id.into(),
                    (&path).into(),
                    estate_id.into(),
                    (&building).into(),
                    (&unit).into(),
                    (&room).into(),
                    created.into(),
                    Val::Null,
                    created.into(),
                    Val::Null,
                ],
            )?;
            self.sum.households += 1;
            for (k, m) in self.members(kind).into_iter().enumerate() {
                if persons >= residents {
                    break;
                }
                persons += 1;
                let at = created + Duration::seconds(k as i64 * 40);
                let id = self.v7(at);
                let given = self.names.given(&mut self.rng, m.male, m.birth.year());
                let name = format!("{}{given}", m.surname);
                if name == "王芳" {
                    self.sum.wang_fang += 1;
                }
                let tags = self.tags(kind, &m);
                let age = crate::people::identity::age_on(m.birth, today);
                let p_id = if !tags.is_empty() {
                    0.95
                } else if age < 16 {
                    0.45
                } else {
                    0.72
                };
                let id_number = self.rng.gen_bool(p_id).then(|| self.id_number(m.birth, m.male));
                let p_phone = match age {
                    ..14 => 0.0,
                    14..18 => 0.5,
                    18..75 => 0.85,
                    _ => 0.4,
                };
                let phone = self.rng.gen_bool(p_phone).then(|| self.phone());
                // Without an ID number the birth date is what was typed, and sometimes nothing.
                let birth_date = if id_number.is_some() || !tags.is_empty() || self.rng.gen_bool(0.9) {
                    Some(m.birth)
                } else {
                    None
                };
                let clean = CleanPerson {
                    name: name.clone(),
                    sex: Some(if m.male { Sex::Male } else { Sex::Female }),
                    birth_date,
                    id_number,
                    phone,
                    building: Some(building.to_string()),
                    unit: Some(unit.to_string()),
                    room: Some(room.to_string()),
                    relation: Some(m.relation),
                };
                if clean.id_number.is_some() {
                    self.sum.with_id += 1;
                }
                let s = crate::people::store::seal(&self.keys, &clean);
                let name_text = self.text(&name);
                self.out.row(
                    &PERSONS,
                    [
                        id.into(),
                        hid.into(),
                        m.relation.as_str().into(),
                        place_id.into(),
                        (&path).into(),
                        estate_id.into(),
                        (&building).into(),
                        (&unit).into(),
                        (&room).into(),
                        (&name_text).into(),
                        (if m.male { "male" } else { "female" }).into(),
                        birth_date.into(),
                        s.id_sealed.into(),
                        s.id_hash.into(),
                        s.id_masked.into(),
                        s.phone_sealed.into(),
                        s.phone_hash.into(),
                        s.phone_masked.into(),
                        at.into(),
                        Val::Null,
                        at.into(),
                        Val::Null,
                    ],
                )?;
                let terms = self.terms_of(&name, true);
                self.index(ENT_PERSON, id, id, &path, &terms)?;
                let mut current = 0u16;
                for (tag, starts, ends) in tags {
                    let created_at = at.max(Self::at(starts, 10 * 3600)).min(self.w.now);
                    let tid = self.v7(created_at);
                    let source = names::TAG_SOURCES[self.rng.gen_range(0..names::TAG_SOURCES.len())];
                    self.out.row(
                        &PERSON_TAGS,
                        [
                            tid.into(),
                            id.into(),
                            tag.as_str().into(),
                            starts.into(),
                            ends.into(),
                            source.into(),
                            created_at.into(),
                            Val::Null,
                        ],
                    )?;
                    self.sum.tags += 1;
                    if ends.is_none_or(|e| e >= today) {
                        current |= 1 << Tag::ALL.iter().position(|t| *t == tag).expect("tag");
                    }
                }
                if let Some(station) = station {
                    candidates.push(Candidate {
                        id,
                        path: path.clone(),
                        station,
                        birth: birth_date,
                        registered: (at + Duration::hours(8)).date_naive(),
                        tags: current,
                    });
                }
            }
        }
        self.sum.persons = persons;
        Ok(candidates)
    }

    fn cases(&mut self, mut candidates: Vec<Candidate>, clients: u64, records: u64) -> anyhow::Result<()> {
        let today = self.w.today;
        // Clients are drawn without replacement, tagged residents and the old far more often.
        let mut keyed: Vec<(f64, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let age = c.birth.map_or(40, |b| crate::people::identity::age_on(b, today));
                let w = if c.tags != 0 {
                    25.0
                } else if age >= 70 {
                    3.0
                } else {
                    1.0
                };
                let u: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
                (-u.ln() / w, i)
            })
            .collect();
        let k = (clients as usize).min(keyed.len());
        if k < keyed.len() {
            keyed.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
        }
        let mut chosen: Vec<usize> = keyed[..k].iter().map(|x| x.1).collect();
        chosen.sort_unstable();
        self.sum.clients = k as u64;

        let mut plans = Vec::new();
        for &i in &chosen {
            let c = &candidates[i];
            let primary = self.plan_case(c, None);
            if self.rng.gen_bool(0.12) {
                let before = primary.opened - Duration::days(60);
                if let Some(earlier) = Some(self.plan_case(c, Some(before))).filter(|p| p.opened < before) {
                    plans.push(earlier);
                }
            }
            plans.push(primary);
        }
        candidates.clear();
        // Numbers and ids follow opening order, per station and year, as intake hands them out.
        let mut order: Vec<(NaiveDate, u32, usize)> =
            plans.iter().enumerate().map(|(i, p)| (p.opened, self.rng.r#gen(), i)).collect();
        order.sort_unstable();
        let mut counters: HashMap<(usize, i32), i64> = HashMap::new();
        for &(_, _, i) in &order {
            let p = &plans[i];
            let year = p.opened.year();
            let sid = self.w.stations[p.station].id;
            let seq = counters
                .entry((p.station, year))
                .or_insert_with(|| self.w.counters.get(&(sid, year)).copied().unwrap_or(0));
            *seq += 1;
            let number = format!("{}-{year}-{:04}", self.w.stations[p.station].short, *seq);
            let created = self.office_hours(p.opened);
            let id = self.v7(created);
            let p = &mut plans[i];
            p.number = number;
            p.created = created;
            p.id = id;
        }
        // Records: each case's share grows with how long it ran and how often its tier asks
        // for contact; an open case with a last contact gets at least that one.
        let weight_sum: f64 = plans.iter().map(|p| p.weight).sum();
        let scale = if weight_sum > 0.0 { records as f64 / weight_sum } else { 0.0 };
        let mut given = 0u64;
        for p in plans.iter_mut() {
            p.records = if p.weight > 0.0 { ((p.weight * scale) as u64).max(1) } else { 0 };
            given += p.records;
        }
        let eligible: Vec<usize> = (0..plans.len()).filter(|i| plans[*i].weight > 0.0).collect();
        while given != records && !eligible.is_empty() {
            let i = eligible[self.rng.gen_range(0..eligible.len())];
            if given < records {
                plans[i].records += 1;
                given += 1;
            } else if plans[i].records > 1 {
                plans[i].records -= 1;
                given -= 1;
            } else if eligible.iter().all(|i| plans[*i].records <= 1) {
                break;
            }
        }
        for &(_, _, i) in &order {
            let p = std::mem::take(&mut plans[i]);
            self.write_case(p)?;
        }
        self.sum.counters =
            counters.into_iter().map(|((st, year), last)| (self.w.stations[st].id, year, last)).collect();
        self.sum.counters.sort();
        Ok(())
    }

    /// Decides a case of a client; `before` makes it an earlier, closed one.
    fn plan_case(&mut self, c: &Candidate, before: Option<NaiveDate>) -> CasePlan {
        let today = self.w.today;
        let age = c.birth.map(|b| crate::people::identity::age_on(b, today));
        let tags: Vec<Tag> =
            Tag::ALL.iter().enumerate().filter(|(i, _)| c.tags & (1 << i) != 0).map(|(_, t)| *t).collect();
        let elder = tags.iter().any(|t| t.is_elder_tag());
        let child = tags.iter().any(|t| t.is_child_tag());
        let needy = tags
            .iter()
            .any(|t| matches!(t, Tag::MinimumAllowance | Tag::ExtremePoverty | Tag::Disability | Tag::SeriousIllness));
        let pick = |g: &mut Gen, opts: &[(&'static str, u32)]| {
            let i = WeightedIndex::new(opts.iter().map(|o| o.1)).expect("weights").sample(&mut g.rng);
            opts[i].0
        };
        let domain = if elder {
            pick(self, &[("elderly_care", 85), ("social_assistance", 15)])
        } else if child || age.is_some_and(|a| a < 18) {
            "child_welfare"
        } else if needy {
            pick(self, &[("social_assistance", 80), ("social_affairs", 20)])
        } else if age.is_some_and(|a| a >= 60) {
            pick(
                self,
                &[
                    ("elderly_care", 50),
                    ("social_affairs", 20),
                    ("community_governance", 15),
                    ("social_assistance", 10),
                    ("other", 5),
                ],
            )
        } else {
            pick(
                self,
                &[("social_affairs", 35), ("social_assistance", 30), ("community_governance", 20), ("other", 15)],
            )
        };
        let source = pick(self, &[("walk_in", 25), ("visit", 35), ("referral", 15), ("request", 15), ("hotline", 10)]);
        let status = if before.is_some() {
            "closed"
        } else {
            pick(self, &[("closed", 22), ("closing", 4), ("planned", 46), ("assessed", 13), ("intake", 15)])
        };
        let earliest = c.registered.max(today - Duration::days(4 * 365));
        let back = |g: &mut Gen, max_days: i64| {
            let u: f64 = g.rng.r#gen();
            Duration::days((u * u * max_days as f64) as i64)
        };
        let latest = before.unwrap_or(today);
        let opened = match status {
            "intake" => self.between(today - Duration::days(45), today),
            "assessed" => self.between(today - Duration::days(200), today - Duration::days(5)),
            "closed" => latest - Duration::days(40) - back(self, 4 * 365),
            _ => today - Duration::days(20) - back(self, 4 * 365),
        }
        .max(earliest)
        .min(today);
        let mut person = self.template.clone();
        person.birth_date = c.birth;
        let tier = crate::cases::store::suggested_tier(&person, &tags, today);
        let interval = self.w.tiers.get(tier).copied().unwrap_or(30);
        let st = &self.w.stations[c.station];
        let worker = st.workers[self.rng.gen_range(0..st.workers.len())];
        let mut p = CasePlan {
            person: c.id,
            person_path: c.path.clone(),
            station: c.station,
            age,
            domain,
            source,
            status,
            opened,
            tier,
            interval,
            worker,
            ..CasePlan::default()
        };
        if status == "closed" {
            let closed = self
                .between(opened + Duration::days(30), (opened + Duration::days(730)).min(latest))
                .min(today)
                .max(opened);
            p.closed = Some(closed);
            p.weight = ((closed - opened).num_days() as f64 / interval as f64 + 1.0).max(1.0);
        } else {
            let target = if self.rng.gen_bool(0.25) {
                today - Duration::days(self.rng.gen_range(1..=30))
            } else {
                today + Duration::days(self.rng.gen_range(0..=interval))
            };
            let last = target - Duration::days(interval);
            if last < opened {
                p.next = Some(opened + Duration::days(interval));
            } else {
                p.next = Some(target);
                p.last_contact = Some(last);
                p.weight = (last - opened).num_days() as f64 / interval as f64 + 1.0;
            }
        }
        p
    }

    fn write_case(&mut self, mut p: CasePlan) -> anyhow::Result<()> {
        let today = self.w.today;
        let st_id = self.w.stations[p.station].id;
        let path = self.w.stations[p.station].path.clone();
        let manager = self.w.stations[p.station].manager;
        let end = p.closed.unwrap_or(today);
        if p.records == 0 && p.last_contact.is_some() {
            // Fewer records than cases were asked for: this one has had no contact yet.
            p.last_contact = None;
            p.next = Some(p.opened + Duration::days(p.interval));
        }
        let summaries = names::summaries(p.domain);
        let summary = summaries[self.rng.gen_range(0..summaries.len())];
        let summary = self.text(summary);
        let mut events: Vec<DateTime<Utc>> = vec![p.created];
        let mut version: i64 = 1;
        // The case row goes out first (its children point at it), so everything that decides
        // its version and last change is built before it and sent after it.
        let mut assessment_rows = Vec::new();
        let mut plan_row = None;
        let mut record_rows = Vec::new();

        // Assessment, plan, closure: what the status says happened, in order, before `end`.
        let assessed =
            matches!(p.status, "assessed" | "planned" | "closing") || (p.status == "closed" && self.rng.gen_bool(0.85));
        let mut assessments = Vec::new();
        let mut plan = None;
        if assessed {
            let first = self.between(p.opened + Duration::days(2), p.opened + Duration::days(20)).min(end);
            assessments.push(first);
            let reassess =
                if p.age.is_some_and(|a| a < 18) { self.w.child.reassess_days } else { self.w.adl.reassess_days };
            let again = first + Duration::days(reassess);
            if p.status != "closed" && again <= end {
                assessments.push(again);
            }
            let planned = matches!(p.status, "planned" | "closing") || (p.status == "closed" && self.rng.gen_bool(0.9));
            if planned {
                let drafted = self.between(first + Duration::days(1), first + Duration::days(10)).min(end);
                let approved = self.between(drafted, drafted + Duration::days(7)).min(end);
                plan = Some((drafted, approved));
            }
        }
        let instrument = if p.age.is_some_and(|a| a < 18) { &self.w.child } else { &self.w.adl };
        let (inst_id, items, reassess_days) = (
            instrument.id,
            instrument.items.iter().map(|i| (i.key.clone(), i.options.len())).collect::<Vec<_>>(),
            instrument.reassess_days,
        );
        let frailty = match p.age {
            Some(a) if a >= 80 => 0.5,
            Some(a) if a >= 70 => 0.3,
            _ => 0.12,
        };
        for on in assessments {
            let answers: std::collections::BTreeMap<String, usize> = items
                .iter()
                .map(|(key, options)| {
                    let i = if self.rng.gen_bool(frailty) { self.rng.gen_range(1..*options) } else { 0 };
                    (key.clone(), i)
                })
                .collect();
            let instrument = if p.age.is_some_and(|a| a < 18) { &self.w.child } else { &self.w.adl };
            let (score, band) = instrument
                .score(&answers, &mut crate::error::FieldErrors::default())
                .context("scoring a generated assessment")?;
            let at = self.office_hours(on);
            let id = self.v7(at);
            let notes = self.rng.gen_bool(0.3).then(|| "评估时家属在场".to_string());
            assessment_rows.push([
                id.into(),
                p.id.into(),
                inst_id.into(),
                serde_json::to_string(&answers)?.into(),
                score.into(),
                band.code.into(),
                on.into(),
                (on + Duration::days(reassess_days)).into(),
                notes.into(),
                at.into(),
                p.worker.into(),
            ]);
            events.push(at);
            version += 1;
        }
        if let Some((drafted, approved)) = plan {
            let goals = names::plan_goals(p.domain);
            let goals = goals[self.rng.gen_range(0..goals.len())];
            let actions: Vec<PlanAction> = (0..2)
                .map(|_| {
                    let (action, owner) = names::PLAN_ACTIONS[self.rng.gen_range(0..names::PLAN_ACTIONS.len())];
                    PlanAction {
                        action: action.into(),
                        owner: owner.into(),
                        due_on: Some(approved + Duration::days(30)),
                    }
                })
                .collect();
            let created = self.office_hours(drafted);
            let approved_at = self.office_hours(approved).max(created);
            let id = self.v7(created);
            plan_row = Some([
                id.into(),
                p.id.into(),
                goals.into(),
                serde_json::to_string(&actions)?.into(),
                (approved + Duration::days(180)).into(),
                "approved".into(),
                approved_at.into(),
                manager.into(),
                2i64.into(),
                created.into(),
                p.worker.into(),
                created.into(),
                p.worker.into(),
            ]);
            p.plan_approved = Some(approved);
            events.push(approved_at);
            version += 1;
        }

        // Service records between opening and the last contact (open) or closure.
        let until = p.last_contact.unwrap_or(end);
        let kinds: &[(&str, u32)] = match p.domain {
            "elderly_care" => &[
                ("home_visit", 40),
                ("phone_follow_up", 35),
                ("counselling", 5),
                ("resource_linking", 10),
                ("referral", 4),
                ("group_activity", 6),
            ],
            "child_welfare" => &[
                ("home_visit", 25),
                ("phone_follow_up", 20),
                ("counselling", 20),
                ("resource_linking", 10),
                ("referral", 5),
                ("group_activity", 20),
            ],
            _ => &[
                ("home_visit", 25),
                ("phone_follow_up", 30),
                ("counselling", 15),
                ("resource_linking", 15),
                ("referral", 10),
                ("group_activity", 5),
            ],
        };
        let kind_pick = WeightedIndex::new(kinds.iter().map(|k| k.1)).expect("kinds");
        for r in 0..p.records {
            let last = r + 1 == p.records;
            let mut kind = kinds[kind_pick.sample(&mut self.rng)].0;
            let on = if last && p.last_contact.is_some() {
                while !is_contact(kind) {
                    kind = kinds[kind_pick.sample(&mut self.rng)].0;
                }
                until
            } else {
                self.between(p.opened, until)
            };
            let minutes: i64 = match kind {
                "home_visit" => self.rng.gen_range(30..=120),
                "phone_follow_up" => self.rng.gen_range(5..=30),
                "counselling" => self.rng.gen_range(45..=90),
                "resource_linking" => self.rng.gen_range(20..=120),
                "referral" => self.rng.gen_range(15..=60),
                _ => self.rng.gen_range(60..=180),
            };
            let (openings, findings) = names::note_parts(kind);
            let note = format!(
                "{}，{}",
                openings[self.rng.gen_range(0..openings.len())],
                findings[self.rng.gen_range(0..findings.len())]
            );
            let note = self.text(&note);
            let referred_to = (kind == "referral")
                .then(|| names::REFERRAL_TARGETS[self.rng.gen_range(0..names::REFERRAL_TARGETS.len())]);
            let at = self.office_hours(on);
            let id = self.v7(at);
            // Counselling notes stay out of the index, as `add_record` leaves them.
            let terms = (kind != "counselling").then(|| self.terms_of(&note, false));
            record_rows.push((
                [
                    id.into(),
                    p.id.into(),
                    st_id.into(),
                    (&path).into(),
                    kind.into(),
                    on.into(),
                    minutes.into(),
                    (&note).into(),
                    referred_to.into(),
                    at.into(),
                    p.worker.into(),
                ],
                id,
                terms,
            ));
            if is_contact(kind) {
                version += 1;
            }
            events.push(at);
            self.sum.records += 1;
        }

        let (mut reason, mut requested_by, mut closed_by) = (None, None, None);
        if matches!(p.status, "closing" | "closed") {
            reason = Some(names::CLOSURE_REASONS[self.rng.gen_range(0..names::CLOSURE_REASONS.len())]);
            requested_by = Some(p.worker);
            version += 1;
        }
        if let Some(closed) = p.closed {
            closed_by = Some(manager);
            p.next = None;
            let at = self.office_hours(closed);
            events.push(at);
            version += 1;
        } else {
            self.sum.open_cases += 1;
            if p.next.is_some_and(|d| d < today) {
                self.sum.overdue += 1;
            }
        }
        let updated_at = events.iter().copied().max().unwrap_or(p.created).min(self.w.now);
        let updated_by = if p.closed.is_some() { manager } else { p.worker };
        self.out.row(
            &CASES,
            [
                p.id.into(),
                std::mem::take(&mut p.number).into(),
                p.person.into(),
                st_id.into(),
                (&path).into(),
                p.domain.into(),
                p.source.into(),
                p.status.into(),
                (&summary).into(),
                p.worker.into(),
                p.tier.into(),
                p.next.into(),
                p.opened.into(),
                p.plan_approved.into(),
                reason.into(),
                requested_by.into(),
                p.closed.into(),
                closed_by.into(),
                version.into(),
                p.created.into(),
                p.worker.into(),
                updated_at.into(),
                updated_by.into(),
                (&p.person_path).into(),
            ],
        )?;
        self.sum.cases += 1;
        let terms = self.terms_of(&summary, false);
        self.index(ENT_CASE, p.id, p.person, &path, &terms)?;
        for row in assessment_rows {
            self.out.row(&ASSESSMENTS, row)?;
        }
        if let Some(row) = plan_row {
            self.out.row(&SUPPORT_PLANS, row)?;
        }
        for (row, id, terms) in record_rows {
            self.out.row(&SERVICE_RECORDS, row)?;
            if let Some(terms) = terms {
                self.index(ENT_RECORD, id, p.person, &path, &terms)?;
            }
        }
        Ok(())
    }
}

/// Contacts with the client (they move the next follow-up), as `RecordKind::is_contact`.
fn is_contact(kind: &str) -> bool {
    crate::cases::model::RecordKind::parse(kind).is_some_and(|k| k.is_contact())
}

#[derive(Default)]
struct CasePlan {
    id: Uuid,
    number: String,
    created: DateTime<Utc>,
    person: Uuid,
    person_path: Arc<str>,
    station: usize,
    age: Option<i32>,
    domain: &'static str,
    source: &'static str,
    status: &'static str,
    opened: NaiveDate,
    closed: Option<NaiveDate>,
    plan_approved: Option<NaiveDate>,
    tier: &'static str,
    interval: i64,
    next: Option<NaiveDate>,
    last_contact: Option<NaiveDate>,
    weight: f64,
    records: u64,
    worker: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::identity::ResidentId;

    /// A small district, checked against what the app itself would have written.
    #[tokio::test]
    async fn a_small_district_is_what_the_app_would_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = crate::config::ConfigArgs::default().resolve().unwrap();
        cfg.data_dir = dir.path().to_path_buf();
        cfg.database_url = format!("sqlite://{}", dir.path().join("linli.db").display());
        let args = GenArgs { residents: 800, clients: 60, records: 700, seed: 3, requests: 400 };
        run(cfg.clone(), args).await.unwrap();
        let db = Db::connect(&cfg).await.unwrap();
        let keys = cfg.keyring().unwrap();
        let one = async |sql: &str| -> i64 {
            let (n,): (i64,) = read!(&db, |c| sqlx::query_as(sql).fetch_one(c).await).unwrap();
            n
        };
        // The demo's three stories, then the generated residents; clients and records exactly.
        assert_eq!(one("SELECT COUNT(*) FROM persons").await, 803);
        assert_eq!(one("SELECT COUNT(DISTINCT person_id) FROM cases").await, 63);
        assert_eq!(one("SELECT COUNT(*) FROM service_records").await, 700 + 2);
        let fk: Vec<(String, i64, String, i64)> =
            read!(&db, |c| sqlx::query_as("PRAGMA foreign_key_check").fetch_all(c).await).unwrap();
        assert!(fk.is_empty(), "{fk:?}");
        // Search rows as `people::store::insert` writes them.
        type Row = (Uuid, String, String, Option<String>, Option<String>);
        let people: Vec<Row> = read!(&db, |c| sqlx::query_as(
            "SELECT id, name, path, id_sealed, id_hash FROM persons ORDER BY id LIMIT 200"
        )
        .fetch_all(c)
        .await)
        .unwrap();
        let mut with_id = 0;
        for (id, name, path, sealed, hash) in &people {
            let rows: Vec<(String, String)> = read!(&db, |c| sqlx::query_as(
                "SELECT term, path FROM search_terms WHERE entity = 'person' AND entity_id = $1 AND person_id = $1 ORDER BY term"
            )
            .bind(id)
            .fetch_all(c)
            .await)
            .unwrap();
            let terms: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
            assert_eq!(terms, crate::search::name_terms(name).into_iter().collect::<Vec<_>>(), "{name}");
            assert!(rows.iter().all(|r| &r.1 == path));
            if let Some(sealed) = sealed {
                let number = keys.open_text(sealed).unwrap();
                ResidentId::parse(&number, crate::people::store::today()).unwrap();
                assert_eq!(hash.as_deref(), Some(keys.blind("id", &number).as_str()));
                with_id += 1;
            }
        }
        assert!(with_id > 50, "a share of residents has ID numbers");
        // Records: indexed unless counselling, under their case's path.
        assert_eq!(
            one("SELECT COUNT(*) FROM service_records r WHERE r.kind <> 'counselling' AND NOT EXISTS
                 (SELECT 1 FROM search_terms s WHERE s.entity = 'record' AND s.entity_id = r.id AND s.path = r.path)")
            .await,
            0
        );
        assert_eq!(
            one("SELECT COUNT(*) FROM search_terms s JOIN service_records r ON r.id = s.entity_id WHERE r.kind = 'counselling'")
                .await,
            0
        );
        // Cases: the station's path, follow-ups only while open, counters where intake goes on.
        assert_eq!(
            one("SELECT COUNT(*) FROM cases c JOIN service_records r ON r.case_id = c.id WHERE r.path <> c.path").await,
            0
        );
        assert_eq!(one("SELECT COUNT(*) FROM cases WHERE (status = 'closed') <> (next_follow_up_on IS NULL)").await, 0);
        let counters: Vec<(Uuid, i64, i64)> =
            read!(&db, |c| sqlx::query_as("SELECT station_id, year, last FROM case_counters").fetch_all(c).await)
                .unwrap();
        for (station, year, last) in counters {
            let numbers: Vec<(String,)> =
                read!(&db, |c| sqlx::query_as("SELECT number FROM cases WHERE station_id = $1")
                    .bind(station)
                    .fetch_all(c)
                    .await)
                .unwrap();
            let max = numbers
                .iter()
                .map(|(n,)| n)
                .filter(|n| n.contains(&format!("-{year}-")))
                .filter_map(|n| n.rsplit('-').next()?.parse::<i64>().ok())
                .max();
            assert_eq!(max, Some(last), "counter of {station} in {year}");
        }
        // Requests: numbered per year up to where the counter stands, statuses as their parts
        // make them, nothing left for the overdue sweep.
        assert_eq!(one("SELECT COUNT(*) FROM requests").await, 400);
        let counters: Vec<(i64, i64)> =
            read!(&db, |c| sqlx::query_as("SELECT year, last FROM request_counters").fetch_all(c).await).unwrap();
        assert!(!counters.is_empty());
        for (year, last) in counters {
            let (n, max): (i64, Option<String>) =
                read!(&db, |c| sqlx::query_as("SELECT COUNT(*), MAX(number) FROM requests WHERE number LIKE $1")
                    .bind(format!("{year}-%"))
                    .fetch_one(c)
                    .await)
                .unwrap();
            assert_eq!((n, max), (last, Some(format!("{year}-{last:06}"))), "numbers of {year}");
        }
        assert_eq!(crate::requests::store::escalate_overdue(&db, Utc::now()).await.unwrap(), 0);
        let rows: Vec<(Uuid, String)> =
            read!(&db, |c| sqlx::query_as("SELECT id, status FROM requests").fetch_all(c).await).unwrap();
        for (id, status) in rows {
            let parts = crate::requests::store::parts(&db, id).await.unwrap();
            let derived =
                crate::requests::model::status_from_parts(&parts.iter().map(|p| p.status()).collect::<Vec<_>>());
            match status.as_str() {
                "closed" => assert_eq!(derived.as_str(), "resolved"),
                "merged" => assert!(parts.is_empty()),
                s => assert_eq!(derived.as_str(), s, "request {id}"),
            }
        }
        // A second run refuses: the database holds people now.
        let again = GenArgs { residents: 10, clients: 1, records: 1, seed: 3, requests: 0 };
        assert!(run(cfg, again).await.is_err());
    }
}

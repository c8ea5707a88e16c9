//! Linli's read path against the database's own ceiling, measured in the same run, against a
//! running `linli serve` on a `linli gen` data set (issue: pages at the speed of the database).
//!
//!   cargo bench --bench ceiling -- --url http://127.0.0.1:18125 --password PASS
//!       [--duration 10] [--conns 16] [--page-conns 4] [--tsv FILE] [--label sqlite]
//!
//! The database comes from the normal configuration, the one the server was started with: the
//! tool reads ids from it and runs the bare query on a pool opened by `Db::connect` (the
//! server's pragmas, cache and reader count). Cells, in this order:
//! - `/healthz` at ×conns: the framework's ceiling (no database, no session).
//! - the list, filtered and scoped, per status of `--statuses` (accepted, closed): a street
//!   station manager's area queue (`/requests?queue=area&status=…`, 50 rows, the page's
//!   default) as HTML with the session cookie and as `/api/v1/requests` with a bearer token, at
//!   ×conns;
//! - its ceiling: the bare SELECT of the same 50 rows (the same columns and joins, the street's
//!   path range and the status, newest first) through the same driver at ×conns, with no
//!   session, scope resolution, count or rendering. The tool checks first that it returns the
//!   rows the API lists, in the same order.
//! - pages at ×page-conns (p95 is the target): a client's page with their timeline
//!   (`/people/{id}`), a case (`/cases/{id}`) and a request (`/requests/{id}`), each over up to
//!   300 ids of the street that answer 200.
//!
//! The table prints each cell's rate and latencies and, for the lists, the ratio to the bare
//! query. `scripts/bench-ceiling` runs it on SQLite (FULL and NORMAL) and PostgreSQL, beside the
//! intake cells of benches/requests.rs and the server's peak memory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, ensure};
use axum::http::{StatusCode, header};
use clap::Parser;
use linli::config::ConfigArgs;
use linli::db::Db;
use linli::db::query::{self, Args as SqlArgs};
use uuid::Uuid;

#[path = "support/http.rs"]
mod http;
use http::{Cell, Op, Req, api_token, client, login, loop_cell, run_cell, send};

#[derive(Parser)]
#[command(about = "Linli's list and record pages against the bare query of the same rows")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The server, e.g. http://127.0.0.1:18125.
    #[arg(long)]
    url: String,
    /// The demo password (printed by `linli demo` / `linli gen`).
    #[arg(long)]
    password: String,
    /// Seconds per cell.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Connections of the throughput cells (healthz, lists, the bare query).
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Connections of the record-page cells (latency).
    #[arg(long, default_value_t = 4)]
    page_conns: usize,
    /// Status filters of the lists, each measured against its own bare query: `accepted` (the
    /// dispatch backlog, newest first, found near the top of the index) and `closed` (most rows,
    /// where the newest are mostly still open and a page reads past them).
    #[arg(long, default_value = "accepted,closed", value_delimiter = ',')]
    statuses: Vec<String>,
    /// The street station manager whose lists and records are read.
    #[arg(long, default_value = "gen.yingbin.mgr")]
    account: String,
    /// Append one tab-separated line per cell to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Label of the table and the TSV lines (default: the backend).
    #[arg(long)]
    label: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const PAGE_ROWS: i64 = 50;

/// The columns and joins of a request as Linli lists it (`requests::store`), so that the bare
/// query decodes the same rows into the same struct.
const BARE_LIST: &str =
    "SELECT r.id, r.number, r.category, c.name AS category_name, r.channel, r.description, r.place_id,
    pl.name AS place_name, r.path, r.estate_id, r.building, r.address, r.lat, r.lon, r.reporter_name, r.phone_masked,
    r.person_id, r.attributes, r.status, r.owner_path, r.response_due, r.resolve_due, r.responded_at, r.resolved_at,
    r.closed_at, r.escalation, r.satisfaction, r.merged_into, r.version, r.created_at, r.updated_at, r.published,
    r.public_text, r.public_address
    FROM requests r JOIN request_categories c ON c.code = r.category JOIN places pl ON pl.id = r.place_id";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

/// The bare list: `tasks` loops of the one SELECT for `secs`.
async fn bare(db: &Db, sql: &str, args: &SqlArgs, tasks: usize, secs: f64) -> anyhow::Result<Cell> {
    let (db, sql, args) = (db.clone(), Arc::new(sql.to_string()), Arc::new(args.clone()));
    loop_cell("bare SELECT of the same rows", tasks, secs, move || {
        let (db, sql, args) = (db.clone(), sql.clone(), args.clone());
        async move {
            let rows: Vec<linli::requests::store::Request> = query::all(&db, &sql, &args).await?;
            ensure!(rows.len() as i64 == PAGE_ROWS, "the bare query returned {} rows", rows.len());
            Ok(())
        }
    })
    .await
}

/// Up to 300 ids of `sql` (one id column, the street's path range bound at `$1`, `$2`) whose
/// page answers 200 to the session.
async fn page_ids(
    db: &Db,
    c: &http::HttpClient,
    base: &str,
    cookie: &str,
    sql: &str,
    args: &SqlArgs,
    prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let ids: Vec<(Uuid,)> = query::all(db, sql, args).await?;
    let mut ok = Vec::new();
    for (id,) in ids {
        let path = format!("{prefix}{id}");
        if send(c, base, Req::get(&path).with(header::COOKIE, cookie)).await?.status == StatusCode::OK {
            ok.push(path);
        }
    }
    ensure!(!ok.is_empty(), "no page under {prefix} answers 200 to the account");
    Ok(ok)
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.resolve()?;
    let db = Db::connect(&cfg).await?;
    let label = args.label.clone().unwrap_or_else(|| format!("{:?}", db.backend()).to_lowercase());
    let base = args.url.trim_end_matches('/').to_string();
    let dur = args.duration;
    let c = client();
    let who = linli::auth::caller_for_account(&db, &args.account).await?.context("no such account")?;
    let session = login(&c, &base, &args.account, &args.password).await?;
    let token = api_token(&c, &base, &session).await?;
    let cookie = session.cookie.clone();

    // Per status: the bare query, checked against the API's first page.
    let mut lists = Vec::new();
    for status in &args.statuses {
        let mut bare_args = SqlArgs::new();
        let scope = bare_args.scope("r.path", &who.scope);
        let st = bare_args.push(status.as_str());
        let limit = bare_args.push(PAGE_ROWS);
        let bare_sql = format!(
            "{BARE_LIST} WHERE {scope} AND r.status = {st} ORDER BY r.created_at DESC, r.id DESC LIMIT {limit}"
        );
        let list_path = format!("/requests?queue=area&status={status}");
        let api_path = format!("/api/v1/requests?queue=area&status={status}&page_size={PAGE_ROWS}");
        let api = send(&c, &base, Req::get(&api_path).with(header::AUTHORIZATION, format!("Bearer {token}"))).await?;
        ensure!(api.status == StatusCode::OK, "{api_path}: {} {}", api.status, api.text());
        let listed: serde_json::Value = serde_json::from_slice(&api.body)?;
        let listed: Vec<String> = listed["items"]
            .as_array()
            .context("no items")?
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_string))
            .collect();
        let bare_rows: Vec<linli::requests::store::Request> = query::all(&db, &bare_sql, &bare_args).await?;
        let bare_ids: Vec<String> = bare_rows.iter().map(|r| r.id.to_string()).collect();
        ensure!(
            listed == bare_ids && listed.len() as i64 == PAGE_ROWS,
            "{status}: the bare query's rows are not the page's ({} listed, {} bare): the ceiling would not be the same work",
            listed.len(),
            bare_ids.len()
        );
        eprintln!("  {status}: the list and the bare query return the same {PAGE_ROWS} rows");
        lists.push((status.clone(), bare_sql, bare_args, list_path, api_path));
    }

    // Record pages of the street.
    let mut id_args = SqlArgs::new();
    let range = id_args.scope("path", &who.scope);
    let people = page_ids(
        &db,
        &c,
        &base,
        &cookie,
        &format!("SELECT DISTINCT person_id FROM cases WHERE {range} ORDER BY person_id LIMIT 300"),
        &id_args,
        "/people/",
    )
    .await?;
    let cases = page_ids(
        &db,
        &c,
        &base,
        &cookie,
        &format!("SELECT id FROM cases WHERE {range} ORDER BY id LIMIT 300"),
        &id_args,
        "/cases/",
    )
    .await?;
    let requests = page_ids(
        &db,
        &c,
        &base,
        &cookie,
        &format!("SELECT id FROM requests WHERE {range} ORDER BY id DESC LIMIT 300"),
        &id_args,
        "/requests/",
    )
    .await?;

    let get = |path: String, auth: Option<(header::HeaderName, String)>| -> http::Next {
        Arc::new(move |_, _| {
            let r = Req::get(&path);
            Some(match &auth {
                Some((k, v)) => r.with(k.clone(), v.clone()),
                None => r,
            })
        })
    };
    let rotate = |paths: Vec<String>, cookie: String| -> http::Next {
        Arc::new(move |w, i| Some(Req::get(&paths[(w * 7919 + i) % paths.len()]).with(header::COOKIE, &cookie)))
    };
    let ok200: &'static [StatusCode] = &[StatusCode::OK];
    let healthz = Op { name: "GET /healthz".into(), next: get("/healthz".into(), None), ok: ok200 };
    let pages = [
        Op {
            name: format!("person page with timeline ({} ids)", people.len()),
            next: rotate(people, cookie.clone()),
            ok: ok200,
        },
        Op { name: format!("case page ({} ids)", cases.len()), next: rotate(cases, cookie.clone()), ok: ok200 },
        Op {
            name: format!("request page ({} ids)", requests.len()),
            next: rotate(requests, cookie.clone()),
            ok: ok200,
        },
    ];

    let mut cells = Vec::new();
    let print = |c: &Cell| {
        eprintln!("  {} ×{}: {:.1}/s, p50 {:.2} ms, p95 {:.2} ms", c.op, c.conns, c.rps(), c.pct(0.5), c.pct(0.95))
    };
    run_cell(&base, &healthz, args.conns, (dur / 4.0).min(2.0)).await?;
    let cell = run_cell(&base, &healthz, args.conns, dur).await?;
    print(&cell);
    cells.push(cell);
    // Per status, the bare query first and last: its ceiling is the better of the two runs.
    let mut ceilings: Vec<(String, f64)> = Vec::new();
    for (status, bare_sql, bare_args, list_path, api_path) in &lists {
        let tag = format!("[{status}]");
        bare(&db, bare_sql, bare_args, args.conns, (dur / 4.0).min(2.0)).await?;
        let mut first = bare(&db, bare_sql, bare_args, args.conns, dur).await?;
        first.op = format!("bare SELECT of the same rows {tag}");
        print(&first);
        cells.push(first);
        let ops = [
            Op {
                name: format!("list HTML {tag}: GET {list_path}"),
                next: get(list_path.clone(), Some((header::COOKIE, cookie.clone()))),
                ok: ok200,
            },
            Op {
                name: format!("list API {tag}: GET {api_path}"),
                next: get(api_path.clone(), Some((header::AUTHORIZATION, format!("Bearer {token}")))),
                ok: ok200,
            },
        ];
        for op in &ops {
            run_cell(&base, op, args.conns, (dur / 4.0).min(2.0)).await?;
            let cell = run_cell(&base, op, args.conns, dur).await?;
            print(&cell);
            cells.push(cell);
        }
        let mut last = bare(&db, bare_sql, bare_args, args.conns, dur).await?;
        last.op = format!("bare SELECT of the same rows {tag}");
        print(&last);
        let best = cells.iter().filter(|c| c.op == last.op).map(Cell::rps).fold(last.rps(), f64::max);
        cells.push(last);
        ceilings.push((tag, best));
    }
    for op in &pages {
        run_cell(&base, op, args.page_conns, (dur / 4.0).min(2.0)).await?;
        let cell = run_cell(&base, op, args.page_conns, dur).await?;
        print(&cell);
        cells.push(cell);
    }
    let ceiling_of = |op: &str| {
        ceilings.iter().find(|(tag, _)| op.starts_with("list") && op.contains(tag.as_str())).map(|(_, r)| *r)
    };

    println!(
        "\n## {label}: {} s per cell, {} cores; lists of {PAGE_ROWS} rows, each against the better of its bare query's two runs",
        dur,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<78} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "operation", "conns", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed", "×bare"
    );
    for c in &cells {
        let ratio = ceiling_of(&c.op).map(|b| format!("{:.2}", c.rps() / b)).unwrap_or_default();
        println!(
            "{:<78} {:>5} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9}",
            c.op,
            c.conns,
            c.rps(),
            c.pct(0.5),
            c.pct(0.95),
            c.pct(0.99),
            c.ms.last().copied().unwrap_or(f64::NAN),
            c.errors,
            ratio
        );
    }
    if let Some(path) = &args.tsv {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for c in &cells {
            writeln!(
                f,
                "{label}\t{}\t{}\t{:.1}\t{:.3}\t{:.3}\t{:.3}\t{}\t{:.3}",
                c.op,
                c.conns,
                c.rps(),
                c.pct(0.5),
                c.pct(0.95),
                c.pct(0.99),
                c.errors,
                ceiling_of(&c.op).map_or(f64::NAN, |b| c.rps() / b)
            )?;
        }
    }
    db.close().await;
    Ok(())
}

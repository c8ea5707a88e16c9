//! `linli import people FILE --as ACCOUNT [--commit]`: the import page's check and commit for
//! files too large to upload, or for an operator's script. The account decides the scope, just
//! as if it had uploaded the file; without `--commit` nothing is written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::i18n::Tr;
use crate::people::import::{self, Problem};

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// Residents and households from xlsx, xls, ods or CSV (UTF-8 or GBK), with the columns
    /// of the import page. Lists every bad row; writes only with --commit, and while rows are
    /// bad only with --skip-bad too, all in one transaction with one audit row.
    People {
        /// The spreadsheet.
        file: PathBuf,
        /// The staff account the import is made as (its places limit where people may go).
        #[arg(long = "as")]
        account: String,
        /// Write the new people (otherwise a dry run).
        #[arg(long)]
        commit: bool,
        /// Import the good rows even though some are bad (those are left out).
        #[arg(long)]
        skip_bad: bool,
        /// Write the bad rows, with a reason column, to this xlsx to fix and import again.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
}

pub async fn run(cfg: Config, cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::People { file, account, commit, skip_bad, rejects } = cmd;
    let db = super::serve::open(&cfg).await?;
    let keys = cfg.keyring()?;
    let caller = crate::auth::caller_for_account(&db, &account)
        .await?
        .with_context(|| format!("no active account {account}"))?;
    if !caller.is(crate::people::PEOPLE_ROLES) {
        bail!("account {account} ({}) cannot import residents", caller.role.as_str());
    }
    let tr = Tr(caller.lang);
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let started = Instant::now();
    let table = crate::tabular::read(&bytes, &name).map_err(|e| anyhow::anyhow!(tr.t(&e.to_string())))?;
    let rows = match import::rows_from_table(&table) {
        Ok(rows) => rows,
        Err(problems) => {
            print_problems(tr, &problems);
            return Ok(ExitCode::FAILURE);
        }
    };
    let plan = import::plan(&db, &keys, &caller.scope, &rows).await?;
    println!(
        "{}: {} rows, {} new, {} already registered, {} problems (checked in {:.1} s)",
        name,
        rows.len(),
        plan.ready.len(),
        plan.existing,
        plan.problems.len(),
        started.elapsed().as_secs_f64()
    );
    if !plan.problems.is_empty() {
        print_problems(tr, &plan.problems);
        if let Some(path) = &rejects {
            let bad = import::rejected(&rows, &plan.problems);
            let bytes = crate::people::import_files::rejects_bytes(&bad, tr).map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
            println!("{} bad rows written to {}", bad.len(), path.display());
        }
        if !(commit && skip_bad) {
            return Ok(ExitCode::FAILURE);
        }
    }
    if !commit {
        println!("dry run: nothing written (add --commit to import)");
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let progress = |n: usize| {
        if n.is_multiple_of(10_000) {
            eprintln!("  {n} written …");
        }
    };
    let created = import::commit(&db, &keys, &caller.scope, &caller.actor(), &rows, &name, &progress)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("imported {created} people in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn print_problems(tr: Tr, problems: &[Problem]) {
    for p in problems {
        println!("row {}\t{}\t{}", p.row, p.column, tr.t(&p.reason));
    }
}

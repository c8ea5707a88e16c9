//! `linli user …`: account administration from the terminal (for the operator).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::Role;
use crate::config::Config;
use crate::db::Db;
use crate::read;
use crate::staff::store::{self, StaffInput, everything};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add an account bound to one or more places; prints a one-time password.
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// bureau_admin, station_manager, social_worker, community_staff, grid_worker,
        /// department_handler, partner_staff, volunteer, system_admin or auditor.
        #[arg(long)]
        role: String,
        /// A place by id or by name path (大同市/平城区/开源街道); repeat for several.
        #[arg(long = "place", required = true)]
        places: Vec<String>,
    },
    /// Set a new one-time password and end the account's sessions and API tokens.
    ResetPassword {
        #[arg(long)]
        account: String,
    },
    /// Disable an account (its sessions and API tokens end at once).
    Disable {
        #[arg(long)]
        account: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        account: String,
    },
    /// List accounts.
    List,
}

fn operator() -> Actor {
    Actor::system(&format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "operator".into())))
}

async fn find_account(db: &Db, account: &str) -> anyhow::Result<Uuid> {
    let acc = account.trim().to_lowercase();
    let row: Option<(Uuid,)> =
        read!(db, |c| sqlx::query_as("SELECT id FROM users WHERE account = $1").bind(&acc).fetch_optional(c).await)?;
    row.map(|r| r.0).with_context(|| format!("no account {acc}"))
}

async fn resolve_place(db: &Db, spec: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(spec) {
        return Ok(id);
    }
    let mut parent: Option<Uuid> = None;
    for name in spec.split('/').map(str::trim).filter(|s| !s.is_empty()) {
        let row: Option<(Uuid,)> = read!(db, |c| {
            sqlx::query_as(
                "SELECT id FROM places WHERE name = $1 AND ((parent_id IS NULL AND $2 IS NULL) OR parent_id = $2)",
            )
            .bind(name)
            .bind(parent)
            .fetch_optional(c)
            .await
        })?;
        parent = Some(row.with_context(|| format!("no place named {name} in {spec}"))?.0);
    }
    parent.context("empty place path")
}

pub async fn run(cfg: Config, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let db = super::serve::open(&cfg).await?;
    let all = everything();
    match cmd {
        UserCommand::Add { account, name, role, places } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role {role}"))?;
            let mut place_ids = Vec::new();
            for p in &places {
                place_ids.push(resolve_place(&db, p).await?);
            }
            let input =
                StaffInput { account, display_name: name, role, place_ids, organisation_id: None, version: None };
            match store::create(&db, &all, &operator(), None, &input, None).await {
                Ok((_, pass)) => println!("created; one-time password: {pass}"),
                Err(crate::error::AppError::Invalid(e)) => bail!("invalid: {:?}", e.0),
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        }
        UserCommand::ResetPassword { account } => {
            let id = find_account(&db, &account).await?;
            let pass = store::reset_password(&db, &all, &operator(), None, id, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("new one-time password: {pass}");
        }
        UserCommand::Disable { account } => {
            let id = find_account(&db, &account).await?;
            store::set_disabled(&db, &all, &operator(), None, id, true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("disabled {account}");
        }
        UserCommand::Enable { account } => {
            let id = find_account(&db, &account).await?;
            store::set_disabled(&db, &all, &operator(), None, id, false).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("enabled {account}");
        }
        UserCommand::List => {
            for (account, role, disabled) in store::list_all(&db).await? {
                println!("{account:<20} {role:<18} {}", if disabled { "disabled" } else { "active" });
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

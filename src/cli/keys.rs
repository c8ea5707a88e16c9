//! `linli keys rotate`: re-seal every secret at rest with the newest key of the ring and
//! recompute the blind indexes, then append an audit row under the new key (it covers the
//! links the old key made), so the old key can then be dropped from LINLI_SECRET_KEY.
//! Runs in batches of its own transactions and can be interrupted and run again.

use std::process::ExitCode;

use uuid::Uuid;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::db::Db;
use crate::{read, write};

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt ID numbers, phone numbers and second-factor secrets with the first key of
    /// LINLI_SECRET_KEY (give the new key first and the old one after it).
    Rotate,
}

pub async fn run(cfg: Config, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate = cmd;
    let db = super::serve::open(&cfg).await?;
    let keys = cfg.keyring()?;
    let (people, users) = rotate(&db, &keys).await?;
    println!("re-sealed {people} people and {users} second-factor secrets with key {}", keys.current_id());
    Ok(ExitCode::SUCCESS)
}

type SealedRow = (Uuid, Option<String>, Option<String>);

/// Re-seals values not yet under the current key, then records the rotation in the audit log
/// (under `db`'s keyring, which must be `keys`); returns (people, users) changed.
pub async fn rotate(db: &Db, keys: &Keyring) -> anyhow::Result<(usize, usize)> {
    let current = format!("{}:%", keys.current_id());
    let mut people = 0;
    loop {
        let rows: Vec<SealedRow> = read!(db, |c| {
            sqlx::query_as(
            "SELECT id, id_sealed, phone_sealed FROM persons
             WHERE (id_sealed IS NOT NULL AND id_sealed NOT LIKE $1) OR (phone_sealed IS NOT NULL AND phone_sealed NOT LIKE $1)
             ORDER BY id LIMIT 1000"
        )
        .bind(&current)
        .fetch_all(c)
        .await
        })?;
        if rows.is_empty() {
            break;
        }
        let mut tx = db.begin().await?;
        for (id, sealed_id, sealed_phone) in &rows {
            let id_plain = sealed_id.as_deref().map(|s| keys.open_text(s)).transpose()?;
            let phone_plain = sealed_phone.as_deref().map(|s| keys.open_text(s)).transpose()?;
            write!(&mut tx, |c| sqlx::query(
                "UPDATE persons SET id_sealed = $1, id_hash = $2, phone_sealed = $3, phone_hash = $4 WHERE id = $5"
            )
            .bind(id_plain.as_deref().map(|p| keys.seal(p.as_bytes())))
            .bind(id_plain.as_deref().map(|p| keys.blind("id", p)))
            .bind(phone_plain.as_deref().map(|p| keys.seal(p.as_bytes())))
            .bind(phone_plain.as_deref().map(|p| keys.blind("phone", p)))
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        people += rows.len();
    }
    let users: Vec<(Uuid, String)> = read!(db, |c| sqlx::query_as(
        "SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL AND totp_secret NOT LIKE $1"
    )
    .bind(&current)
    .fetch_all(c)
    .await)?;
    let mut tx = db.begin().await?;
    for (id, sealed) in &users {
        let plain = keys.open(sealed)?;
        write!(&mut tx, |c| sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2")
            .bind(keys.seal(&plain))
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    // Keyed with the new key, this row covers every link before it: once it is written the
    // old key may leave the ring and `linli check` still verifies the whole chain.
    let entry = crate::audit::Entry {
        action: "keys.rotate",
        entity: "keyring",
        entity_id: Some(keys.current_id().to_string()),
        detail: serde_json::json!({ "people": people, "second_factors": users.len() }),
    };
    crate::audit::record_alone(db, &crate::audit::Actor::system("linli keys rotate"), entry).await?;
    Ok((people, users.len()))
}

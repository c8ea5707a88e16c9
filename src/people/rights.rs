//! One person, one record, and the person's own rights over it: merging two records of the
//! same person (keeping all history), the full record for the person (PIPL access right), and
//! anonymisation on a deletion request while statutory case records stay intact.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Person, PersonTag};
use super::store;
use crate::audit::{self, Actor, Entry};
use crate::auth::{Caller, Scope};
use crate::crypto::Keyring;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id};
use crate::{read, write};

fn reason_of(text: &str) -> Result<String, AppError> {
    let mut errors = FieldErrors::default();
    let r = crate::web::form::clean_name(text, "reason", 500, &mut errors);
    errors.into_result()?;
    Ok(r)
}

/// Folds `from` into `into`: cases, tags, grants and search rows move; `from` stays as a
/// pointer (`merged_into`) so links and the audit trail still resolve.
pub async fn merge(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    from: Uuid,
    into: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    let reason = reason_of(reason)?;
    if from == into {
        return Err(AppError::field("into", "merge.same_record"));
    }
    let a = store::get(db, scope, from).await?.ok_or(AppError::NotFound)?;
    let b = store::get(db, scope, into).await?.ok_or_else(|| AppError::field("into", "merge.target_not_found"))?;
    if a.merged_into.is_some() || b.merged_into.is_some() {
        return Err(AppError::Conflict("merge.already_merged"));
    }
    type Ids = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
    let ids = |id: Uuid| async move {
        read!(db, |c| sqlx::query_as::<_, Ids>(
            "SELECT id_sealed, id_hash, id_masked, phone_sealed, phone_hash, phone_masked FROM persons WHERE id = $1"
        )
        .bind(id)
        .fetch_one(c)
        .await)
    };
    let (sa, sb) = (ids(from).await?, ids(into).await?);
    if sa.2.is_some() && sb.2.is_some() && sa.2 != sb.2 {
        return Err(AppError::field("into", "merge.different_id_numbers"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    // The unique index on id_hash: clear the old record's numbers before the new one takes them.
    write!(&mut tx, |c| sqlx::query(
        "UPDATE persons SET merged_into = $1, id_sealed = NULL, id_hash = NULL, phone_sealed = NULL, phone_hash = NULL,
                version = version + 1, updated_at = $2, updated_by = $3 WHERE id = $4"
    )
    .bind(into)
    .bind(now)
    .bind(actor.id)
    .bind(from)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if sb.0.is_none() && sa.0.is_some() {
        write!(&mut tx, |c| sqlx::query(
            "UPDATE persons SET id_sealed = $1, id_hash = $2, id_masked = $3 WHERE id = $4"
        )
        .bind(&sa.0)
        .bind(&sa.1)
        .bind(&sa.2)
        .bind(into)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    if sb.3.is_none() && sa.3.is_some() {
        write!(&mut tx, |c| sqlx::query(
            "UPDATE persons SET phone_sealed = $1, phone_hash = $2, phone_masked = $3 WHERE id = $4"
        )
        .bind(&sa.3)
        .bind(&sa.4)
        .bind(&sa.5)
        .bind(into)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    for sql in [
        "UPDATE cases SET person_id = $1 WHERE person_id = $2",
        "UPDATE person_tags SET person_id = $1 WHERE person_id = $2",
        "UPDATE child_access_grants SET person_id = $1 WHERE person_id = $2",
        "UPDATE search_terms SET person_id = $1 WHERE person_id = $2 AND entity <> 'person'",
    ] {
        write!(&mut tx, |c| sqlx::query(sql).bind(into).bind(from).execute(c).await.map(|r| r.rows_affected()))?;
    }
    crate::search::remove(&mut tx, from).await?;
    crate::cases::store::repath_client(&mut tx, into, &b.path).await?;
    if let Some(hid) = a.household_id {
        store::household_event(&mut tx, actor, hid, from, "merged", None, Some(&b.name), &a.path).await?;
    }
    write!(&mut tx, |c| sqlx::query(
        "UPDATE persons SET version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3"
    )
    .bind(now)
    .bind(actor.id)
    .bind(into)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.merge",
            entity: "person",
            entity_id: Some(into.to_string()),
            detail: serde_json::json!({ "merged": from, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct FullRecord {
    pub person: Person,
    /// The full numbers: this export is for the person themselves.
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub tags: Vec<PersonTag>,
    pub cases: Vec<crate::cases::model::Case>,
    pub records: Vec<crate::cases::model::ServiceRecord>,
}

/// Everything about a person, numbers included, for the person's access request; audited.
pub async fn full_record(
    db: &Db,
    keys: &Keyring,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<FullRecord, AppError> {
    let reason = reason_of(reason)?;
    let person = store::get(db, scope, id).await?.ok_or(AppError::NotFound)?;
    let (sealed_id, sealed_phone): (Option<String>, Option<String>) =
        read!(db, |c| sqlx::query_as("SELECT id_sealed, phone_sealed FROM persons WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)?;
    let open = |s: Option<String>| s.map(|s| keys.open_text(&s)).transpose();
    let cases: Vec<crate::cases::model::Case> = {
        let f = crate::cases::store::CaseFilter { person_id: Some(id), ..Default::default() };
        crate::cases::store::list(db, &crate::staff::store::everything(), &f, 1000, 0).await?.0
    };
    let case_ids: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    let records = crate::cases::store::records_of(db, &case_ids).await?;
    let out = FullRecord {
        id_number: open(sealed_id)?,
        phone: open(sealed_phone)?,
        tags: store::tags_of(db, id).await?,
        person,
        cases,
        records,
    };
    audit::record_alone(
        db,
        actor,
        Entry {
            action: "person.access_export",
            entity: "person",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "reason": reason }),
        },
    )
    .await?;
    Ok(out)
}

/// On a deletion request: the identifying facts go, the statutory case and service records
/// stay (now pointing at an anonymous person), and the person can no longer be found by name.
pub async fn anonymise(db: &Db, scope: &Scope, actor: &Actor, id: Uuid, reason: &str) -> Result<(), AppError> {
    let reason = reason_of(reason)?;
    let p = store::get(db, scope, id).await?.ok_or(AppError::NotFound)?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    crate::requests::publication::forget_person(&mut tx, id, &p.name).await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE persons SET name = $1, id_sealed = NULL, id_hash = NULL, id_masked = NULL, phone_sealed = NULL, phone_hash = NULL,
                phone_masked = NULL, birth_date = NULL, building = NULL, unit = NULL, room = NULL, anonymised_at = $2,
                version = version + 1, updated_at = $2, updated_by = $3 WHERE id = $4"
    )
    .bind("(已匿名)")
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    crate::search::remove(&mut tx, id).await?;
    // A move's detail holds the address; the rest of the household's history stays.
    write!(&mut tx, |c| sqlx::query(
        "UPDATE household_events SET detail = NULL WHERE person_id = $1 AND kind = 'moved'"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "person.anonymise",
            entity: "person",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "reason": reason, "had_name_len": p.name.chars().count() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The record that stays.
    pub into: Uuid,
    pub reason: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    pub reason: String,
}

/// Merge this record into another record of the same person (history kept).
#[utoipa::path(post, path = "/api/v1/people/{id}/merge", operation_id = "merge_person", tag = "people", request_body = MergeInput, params(("id" = Uuid, Path, description = "The record that is folded in")),
    responses((status = 200, body = Person), (status = 422, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn merge_api(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(m): ApiJson<MergeInput>,
) -> AppResult<Json<Person>> {
    merge(&st.db, &caller.scope, &caller.actor(), id, m.into, &m.reason).await?;
    Ok(Json(store::get(&st.db, &caller.scope, m.into).await?.ok_or(AppError::NotFound)?))
}

/// The person's full record, for their access request (PIPL); audited with the reason.
#[utoipa::path(post, path = "/api/v1/people/{id}/access-export", operation_id = "export_person_access", tag = "people", request_body = ReasonInput, params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = FullRecord), (status = 422, body = crate::error::ErrorBody)))]
pub async fn access_export_api(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(r): ApiJson<ReasonInput>,
) -> AppResult<Json<FullRecord>> {
    Ok(Json(full_record(&st.db, &st.keys, &caller.scope, &caller.actor(), id, &r.reason).await?))
}

/// Anonymise on a deletion request; case and service records stay.
#[utoipa::path(post, path = "/api/v1/people/{id}/anonymise", operation_id = "anonymise_person", tag = "people", request_body = ReasonInput, params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = Person), (status = 422, body = crate::error::ErrorBody)))]
pub async fn anonymise_api(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(r): ApiJson<ReasonInput>,
) -> AppResult<Json<Person>> {
    anonymise(&st.db, &caller.scope, &caller.actor(), id, &r.reason).await?;
    Ok(Json(store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?))
}

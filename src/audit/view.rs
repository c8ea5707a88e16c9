//! The audit screen in words: action and record names from the catalogues, the people behind
//! accounts, the records' own labels as the viewer may see them, and details as lines.

use std::collections::HashMap;

use uuid::Uuid;

use super::store::AuditRow;
use crate::auth::Caller;
use crate::i18n::Tr;
use crate::web::AppState;

/// Every action the code writes, for the filter's list (one string, so the catalogue test
/// does not take these codes for message keys). A unit test reads the sources and fails on an
/// action missing here or from the catalogues (`audit_action.*`).
const ACTION_LIST: &str = "access.denied access.not_found api_token.create api_token.revoke audit.keyed \
     backup.restore case.assess case.close case.close_refused case.close_request case.intake \
     case.reassign case.transfer case.transfer_accept case.transfer_offer \
     case.transfer_refuse case.transfer_withdraw child.denied child.grant child.grant_revoke child.open \
     demo.load estate.create estate.update export.approve export.refuse export.request \
     gen.load gen.staff holiday.replace_year instrument.publish keys.rotate ledger.export \
     login.failure login.locked login.lockout login.password_ok login.rate_limited \
     login.success login.totp_enrolled login.totp_failure logout metrics.export \
     organisation.create organisation.update password.change person.access_export \
     person.anonymise person.create person.export person.import person.merge \
     person.registered_elsewhere person.reveal person.tag person.tag_end person.update \
     place.activate place.create place.deactivate place.location place.move place.update plan.approve \
     plan.save record.create record.reveal request.note_withdrawn request.publication \
     request.reveal_phone request_category.create request_category.update \
     staff.bootstrap_admin staff.create staff.disable staff.enable staff.reset_password \
     staff.update station.create station.update tier.save";

pub fn actions() -> impl Iterator<Item = &'static str> {
    ACTION_LIST.split_ascii_whitespace()
}

/// The action in words; an action this build has no name for shows its code.
pub fn action_label(tr: Tr, action: &str) -> String {
    let key = format!("audit_action.{action}");
    let text = tr.t(&key);
    if text == key { action.to_string() } else { text }
}

pub fn entity_label(tr: Tr, entity: &str) -> String {
    let key = format!("audit_entity.{entity}");
    let text = tr.t(&key);
    if text == key { entity.to_string() } else { text }
}

/// A row's details as `key: value` lines: text without its quotes, other values as compact
/// JSON, each line cut at 200 characters (a detail can hold a long list).
pub fn detail_lines(detail: &str) -> Vec<String> {
    fn value(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "—".into(),
            other => other.to_string(),
        }
    }
    fn cut(s: String) -> String {
        if s.chars().count() > 200 { format!("{}…", s.chars().take(200).collect::<String>()) } else { s }
    }
    match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(serde_json::Value::Null) => Vec::new(),
        Ok(serde_json::Value::Object(map)) => map.iter().map(|(k, v)| cut(format!("{k}: {}", value(v)))).collect(),
        Ok(other) => vec![cut(value(&other))],
        Err(_) if detail.is_empty() => Vec::new(),
        Err(_) => vec![cut(detail.to_string())],
    }
}

/// What a record is called on screen, with its page.
#[derive(Debug, Clone)]
pub struct RecordLabel {
    pub text: String,
    pub href: Option<String>,
}

/// A person's name as lists outside their file show it: the surname, the rest starred.
fn masked_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Labels of the records the rows name, looked up through each domain's own scoped read, so a
/// record outside the viewer's scope (or gone) gets no label and the row shows its id, exactly
/// as for an id that never existed.
pub async fn record_labels(
    st: &AppState,
    caller: &Caller,
    rows: &[AuditRow],
) -> anyhow::Result<HashMap<(String, String), RecordLabel>> {
    let mut wanted: Vec<(String, String, Uuid)> = rows
        .iter()
        .filter_map(|r| {
            let id = r.entity_id.as_deref()?;
            Some((r.entity.clone(), id.to_string(), Uuid::parse_str(id).ok()?))
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    let db = &st.db;
    let scope = &caller.scope;
    let viewer = if wanted.iter().any(|w| w.0 == "request") {
        Some(crate::requests::store::viewer(db, caller).await?)
    } else {
        None
    };
    let mut out = HashMap::new();
    for (entity, raw, id) in wanted {
        let label = match entity.as_str() {
            "person" => crate::people::store::get(db, scope, id)
                .await?
                .map(|p| RecordLabel { text: masked_name(&p.name), href: Some(format!("/people/{id}")) }),
            "case" => crate::cases::store::get(db, scope, id)
                .await?
                .map(|c| RecordLabel { text: c.number, href: Some(format!("/cases/{id}")) }),
            "request" => match &viewer {
                Some(v) => crate::requests::store::get(db, v, id)
                    .await?
                    .map(|r| RecordLabel { text: r.number, href: Some(format!("/requests/{id}")) }),
                None => None,
            },
            "hazard" => crate::hazards::store::get(db, scope, id)
                .await?
                .map(|h| RecordLabel { text: h.number, href: Some(format!("/hazards/{id}")) }),
            "place" => crate::org::store::get_place(db, scope, id)
                .await?
                .map(|p| RecordLabel { text: p.name, href: Some(format!("/places/{id}")) }),
            "estate" => {
                crate::org::store::get_estate(db, scope, id).await?.map(|e| RecordLabel { text: e.name, href: None })
            }
            "organisation" => crate::org::store::get_organisation(db, scope, id)
                .await?
                .map(|o| RecordLabel { text: o.name, href: None }),
            "station" => {
                crate::org::store::get_station(db, scope, id).await?.map(|s| RecordLabel { text: s.name, href: None })
            }
            "user" => crate::staff::store::get(db, scope, id).await?.map(|u| RecordLabel {
                text: format!("{} ({})", u.display_name, u.account),
                href: Some(format!("/staff/{id}")),
            }),
            _ => None,
        };
        if let Some(label) = label {
            out.insert((entity, raw), label);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_as_lines() {
        assert_eq!(detail_lines("null"), Vec::<String>::new());
        assert_eq!(detail_lines(r#"{"count": 3, "reason": "核对低保"}"#), ["count: 3", "reason: 核对低保"]);
        assert_eq!(detail_lines(r#"{"ids": ["a", "b"]}"#), [r#"ids: ["a","b"]"#]);
        assert_eq!(detail_lines(r#""text""#), ["text"]);
        assert_eq!(detail_lines(&format!(r#"{{"k": "{}"}}"#, "长".repeat(500)))[0].chars().count(), 201);
    }

    #[test]
    fn names_are_masked_to_the_surname() {
        assert_eq!(masked_name("王芳"), "王*");
        assert_eq!(masked_name("欧阳明月"), "欧***");
        assert_eq!(masked_name(""), "");
    }

    /// Every action literal the code hands to `audit::record` is listed and named in both
    /// languages; a new action without a name fails here instead of showing its code.
    #[test]
    fn every_action_in_the_code_has_a_name_in_both_catalogues() {
        fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    files(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut paths = Vec::new();
        files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut paths);
        let mut found = std::collections::BTreeSet::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            for line in
                text.lines().filter(|l| l.trim_start().starts_with("action: ") || l.contains("Entry { action: "))
            {
                for lit in line.split('"').skip(1).step_by(2) {
                    let code_like = !lit.is_empty()
                        && lit.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
                        && (lit.contains('.') || lit == "logout");
                    if code_like {
                        found.insert(lit.to_string());
                    }
                }
            }
        }
        assert!(found.len() > 50, "the scan finds the actions: {found:?}");
        let unlisted: Vec<_> = found.iter().filter(|a| !actions().any(|x| x == a.as_str())).collect();
        assert!(unlisted.is_empty(), "actions missing from audit::view::ACTION_LIST: {unlisted:?}");
        let zh = crate::i18n::flatten(crate::i18n::ZH_SOURCE);
        let en = crate::i18n::flatten(crate::i18n::EN_SOURCE);
        for a in actions() {
            let key = format!("audit_action.{a}");
            assert!(zh.contains_key(&key) && en.contains_key(&key), "no name for {a}");
        }
    }
}

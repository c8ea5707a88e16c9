//! Edits that meet. A versioned form saved over a newer version is not saved: the page shows,
//! field by field and only where they differ, what the user typed beside what the other user
//! saved, and asks for a choice on each. The form then carries the version whose values it
//! showed, so the next save either goes through on exactly that version (each field as chosen)
//! or meets a third writer and is compared again: a stale value never overwrites a newer one
//! that nobody saw.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::error::AppError;
use super::extract::{encode_without_csrf, form_pairs, rejection_detail};
use super::form::Field;
use super::i18n::Tr;
use super::render::page_with_status;
use super::views::FormPage;

/// Which value a user chose for a field in conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Mine,
    Theirs,
}

/// The conflict a form was shown (`_conflict`, the field names) and the choices sent back
/// (`_pick.<field>` = `mine` | `theirs`).
#[derive(Debug, Default, Clone)]
pub struct Resolution {
    pub fields: Vec<String>,
    pub picks: Vec<(String, Pick)>,
}

impl Resolution {
    pub fn pick(&self, field: &str) -> Option<Pick> {
        self.picks.iter().find(|(f, _)| f == field).map(|(_, p)| *p)
    }
    /// True when the form answers a conflict it was shown.
    pub fn is_answer(&self) -> bool {
        !self.fields.is_empty()
    }
    /// True when every field of the conflict has a choice.
    pub fn is_complete(&self) -> bool {
        self.fields.iter().all(|f| self.pick(f).is_some())
    }
}

/// A page form (like `PageForm`) with the conflict choices taken out before `T` reads the
/// rest, so a form type that refuses unknown fields still does.
pub struct EditForm<T>(pub T, pub Resolution);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for EditForm<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = form_pairs(req, state).await?;
        let mut res = Resolution::default();
        let mut rest = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            if k == "_conflict" {
                // Field names are short identifiers; anything else is not a form of ours.
                res.fields = v
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .take(64)
                    .map(|f| f.chars().take(64).collect())
                    .collect();
            } else if let Some(field) = k.strip_prefix("_pick.") {
                let pick = match v.as_str() {
                    "mine" => Pick::Mine,
                    "theirs" => Pick::Theirs,
                    _ => {
                        return Err(AppError::BadRequest("error.bad_form", rejection_detail(format!("_pick.{field}"))));
                    }
                };
                res.picks.push((field.to_string(), pick));
            } else {
                rest.push((k, v));
            }
        }
        serde_html_form::from_str(&encode_without_csrf(rest))
            .map(|t| EditForm(t, res))
            .map_err(|e| AppError::BadRequest("error.bad_form", rejection_detail(e.to_string())))
    }
}

/// A versioned edit form as name → value pairs, to compare with the saved record's form and to
/// take the saved value where the user chose it.
pub trait EditValues {
    fn values(&self) -> Vec<(&'static str, String)>;
    fn set_value(&mut self, name: &str, value: String);
}

/// One field whose typed value differs from the one saved since the form was read.
pub struct Conflict {
    pub name: &'static str,
    pub label: String,
    /// What the user typed, as shown (a choice's label; a sealed number masked).
    pub mine: String,
    /// What is saved now, as shown.
    pub theirs: String,
    pub pick: Option<Pick>,
}

impl Conflict {
    pub fn picked_mine(&self) -> bool {
        self.pick == Some(Pick::Mine)
    }
    pub fn picked_theirs(&self) -> bool {
        self.pick == Some(Pick::Theirs)
    }
}

/// A sealed field (ID number, phone): the form leaves it blank to keep the saved value, so it is
/// in conflict only when the user typed one, and both sides are shown masked.
pub struct Sealed {
    pub name: &'static str,
    /// The saved value, masked as the record shows it.
    pub saved_masked: Option<String>,
}

/// The fields where `mine` and `theirs` differ, labelled as on `fields` (whose options give
/// choices their labels), with the choices of `res` kept. A blank in a field of `blank_keeps`
/// leaves the saved value as it is, so it differs from nothing.
pub fn compare(
    tr: Tr,
    fields: &[Field],
    mine: &impl EditValues,
    theirs: &impl EditValues,
    sealed: &[Sealed],
    blank_keeps: &[&str],
    res: &Resolution,
) -> Vec<Conflict> {
    let theirs = theirs.values();
    let empty = tr.t("conflict.empty");
    let shown = |name: &str, v: &str| -> String {
        let field = fields.iter().find(|f| f.name == name);
        if field.is_some_and(|f| f.kind() == "checkbox") {
            return tr.t(if v == "on" { "conflict.checked" } else { "conflict.unchecked" });
        }
        if v.trim().is_empty() {
            return empty.clone();
        }
        let options = field.map(|f| f.options()).unwrap_or(&[]);
        let label = |v: &str| options.iter().find(|(k, _)| k == v).map_or_else(|| v.to_string(), |(_, l)| l.clone());
        if options.is_empty() || options.iter().any(|(k, _)| k == v) {
            return label(v);
        }
        // A choice of several (a multi-select) is compared as its sorted values, joined by commas.
        v.split(',').map(label).collect::<Vec<_>>().join("、")
    };
    let mut out = Vec::new();
    for (name, m) in mine.values() {
        let label = fields.iter().find(|f| f.name == name).map_or_else(|| name.to_string(), |f| f.label.clone());
        let pick = res.pick(name);
        if let Some(s) = sealed.iter().find(|s| s.name == name) {
            if !m.trim().is_empty() {
                let theirs = s.saved_masked.clone().unwrap_or_else(|| empty.clone());
                out.push(Conflict { name, label, mine: mask(m.trim()), theirs, pick });
            }
            continue;
        }
        let t = theirs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("");
        if m.trim().is_empty() && blank_keeps.contains(&name) {
            continue;
        }
        if m.trim() != t.trim() {
            out.push(Conflict { name, label, mine: shown(name, &m), theirs: shown(name, t), pick });
        }
    }
    out
}

/// Applies the user's choices: each field chosen "theirs" takes the saved value (a sealed one is
/// left blank, which keeps what is saved).
pub fn apply(mine: &mut impl EditValues, theirs: &impl EditValues, sealed: &[Sealed], res: &Resolution) {
    let saved = theirs.values();
    for (field, pick) in &res.picks {
        if *pick != Pick::Theirs || !res.fields.contains(field) {
            continue;
        }
        let value = if sealed.iter().any(|s| s.name == field) {
            String::new()
        } else {
            saved.iter().find(|(n, _)| n == field).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        mine.set_value(field, value);
    }
}

/// An edit answering a conflict it was shown, on the version it was shown: true when a choice
/// is missing (the comparison is to be shown again); otherwise the choices are applied to
/// `mine`. After a third change the versions differ, the store refuses the save as stale and
/// the comparison starts again.
pub fn answer(
    mine: &mut impl EditValues,
    shown_version: &str,
    saved: &impl EditValues,
    saved_version: i64,
    res: &Resolution,
) -> bool {
    if !res.is_answer() || shown_version.trim() != saved_version.to_string() {
        return false;
    }
    if !res.is_complete() {
        return true;
    }
    apply(mine, saved, &[], res);
    false
}

/// The form again after a save met a newer version: what the user typed stays in the fields,
/// the fields saved differently since are compared above them for a choice, and the form now
/// carries the version it compares against (its hidden `version`).
pub fn page(
    mut view: FormPage,
    mine: &impl EditValues,
    saved: &impl EditValues,
    saved_version: i64,
    res: &Resolution,
    message: &str,
) -> Response {
    if let Some(v) = view.hidden.iter_mut().find(|(k, _)| k == "version") {
        v.1 = saved_version.to_string();
    }
    view.errors = vec![view.ctx.tr.t(message).to_string()];
    view.conflicts = compare(view.ctx.tr, &view.fields, mine, saved, &[], &[], res);
    page_with_status(&view, StatusCode::CONFLICT)
}

/// A typed number shown only by its ends, like the saved ones.
fn mask(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let (head, tail) = (&chars[..3], &chars[chars.len() - 4..]);
    format!("{}{}{}", head.iter().collect::<String>(), "*".repeat(chars.len() - 7), tail.iter().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn typed_numbers_are_masked() {
        assert_eq!(mask("110105195003078765"), "110***********8765");
        assert_eq!(mask("13812341234"), "138****1234");
        assert_eq!(mask("1234"), "****");
    }
}

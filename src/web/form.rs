//! Generic form and list views: most screens are a list of records and a form of fields, so
//! one pair of templates renders them all, with the user's input and field messages kept.

use super::error::FieldErrors;
use super::i18n::Tr;

pub enum Input {
    Text {
        max: usize,
    },
    Select(Vec<(String, String)>),
    Multi(Vec<(String, String)>),
    Checkbox,
    Password,
    File,
    /// Photos (and PDF documents) from a phone camera or gallery, several at once.
    Photos,
    TextArea,
    /// A calendar day: the browser's date picker, sent as `YYYY-MM-DD` (the server still
    /// checks what arrives, for browsers and clients without the picker).
    Date,
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub input: Input,
    pub value: String,
    /// For multi-selects: the chosen values.
    pub values: Vec<String>,
    pub error: Option<String>,
    pub required: bool,
    pub hint: Option<String>,
}

impl Field {
    pub fn text(tr: Tr, name: &'static str, label_key: &str, value: &str, max: usize, required: bool) -> Field {
        Field {
            name,
            label: tr.t(label_key).to_string(),
            input: Input::Text { max },
            value: value.to_string(),
            values: Vec::new(),
            error: None,
            required,
            hint: None,
        }
    }
    pub fn select(
        tr: Tr,
        name: &'static str,
        label_key: &str,
        value: &str,
        options: Vec<(String, String)>,
        required: bool,
    ) -> Field {
        Field { input: Input::Select(options), ..Field::text(tr, name, label_key, value, 0, required) }
    }
    pub fn multi(
        tr: Tr,
        name: &'static str,
        label_key: &str,
        values: Vec<String>,
        options: Vec<(String, String)>,
    ) -> Field {
        Field { input: Input::Multi(options), values, ..Field::text(tr, name, label_key, "", 0, false) }
    }
    pub fn checkbox(tr: Tr, name: &'static str, label_key: &str, checked: bool) -> Field {
        Field { input: Input::Checkbox, ..Field::text(tr, name, label_key, if checked { "on" } else { "" }, 0, false) }
    }
    pub fn password(tr: Tr, name: &'static str, label_key: &str) -> Field {
        Field { input: Input::Password, ..Field::text(tr, name, label_key, "", 128, true) }
    }
    pub fn textarea(tr: Tr, name: &'static str, label_key: &str, value: &str) -> Field {
        Field { input: Input::TextArea, ..Field::text(tr, name, label_key, value, 0, false) }
    }
    pub fn file(tr: Tr, name: &'static str, label_key: &str) -> Field {
        Field { input: Input::File, ..Field::text(tr, name, label_key, "", 0, true) }
    }
    pub fn photos(tr: Tr, name: &'static str, label_key: &str) -> Field {
        Field { input: Input::Photos, ..Field::text(tr, name, label_key, "", 0, false) }
    }
    pub fn date(tr: Tr, name: &'static str, label_key: &str, value: &str, required: bool) -> Field {
        Field { input: Input::Date, ..Field::text(tr, name, label_key, value, 10, required) }
    }
    pub fn hint(mut self, text: String) -> Field {
        self.hint = Some(text);
        self
    }
    pub fn is_checked(&self) -> bool {
        self.value == "on"
    }
    pub fn has(&self, v: &str) -> bool {
        self.values.iter().any(|x| x == v)
    }
    pub fn kind(&self) -> &'static str {
        match self.input {
            Input::Text { .. } => "text",
            Input::Select(_) => "select",
            Input::Multi(_) => "multi",
            Input::Checkbox => "checkbox",
            Input::Password => "password",
            Input::File => "file",
            Input::Photos => "photos",
            Input::TextArea => "textarea",
            Input::Date => "date",
        }
    }
    pub fn options(&self) -> &[(String, String)] {
        match &self.input {
            Input::Select(o) | Input::Multi(o) => o,
            _ => &[],
        }
    }
    pub fn max(&self) -> usize {
        match self.input {
            Input::Text { max } => max,
            _ => 0,
        }
    }
}

/// Attaches localised field messages.
pub fn apply_errors(fields: &mut [Field], errors: &FieldErrors, tr: Tr) {
    for f in fields.iter_mut() {
        if let Some(code) = errors.get(f.name) {
            f.error = Some(tr.t(code).to_string());
        }
    }
}

/// Messages for errors that belong to no field on the form (e.g. a stale version).
pub fn general_errors(fields: &[Field], errors: &FieldErrors, tr: Tr) -> Vec<String> {
    errors.0.iter().filter(|(f, _)| !fields.iter().any(|x| x.name == f)).map(|(_, c)| tr.t(c).to_string()).collect()
}

pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    /// Tree depth for indented first columns (0 = none).
    pub indent: u8,
    /// The text is several lines (`\n`), shown as such.
    pub lines: bool,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell { text: s.into(), href: None, indent: 0, lines: false }
    }
    pub fn link(s: impl Into<String>, href: String) -> Cell {
        Cell { text: s.into(), href: Some(href), indent: 0, lines: false }
    }
    pub fn lines(lines: Vec<String>) -> Cell {
        Cell { lines: true, ..Cell::text(lines.join("\n")) }
    }
    pub fn indented(mut self, depth: i32) -> Cell {
        self.indent = depth.clamp(0, 4) as u8;
        self
    }
}

/// Validation helpers shared by forms and the API.
pub fn clean_name(v: &str, field: &str, max: usize, errors: &mut FieldErrors) -> String {
    let v = v.trim();
    if v.is_empty() {
        errors.add(field, "error.required");
    } else if v.chars().count() > max {
        errors.add(field, if max <= 60 { "error.too_long_60" } else { "error.too_long" });
    } else if v.chars().any(char::is_control) {
        errors.add(field, "error.control_chars");
    }
    v.to_string()
}

/// A required text typed in a box of several lines: line breaks and tabs are the writer's,
/// other control characters are refused.
pub fn clean_text(v: &str, field: &str, max: usize, errors: &mut FieldErrors) -> String {
    let v = v.trim();
    if v.is_empty() {
        errors.add(field, "error.required");
    } else if v.chars().count() > max {
        errors.add(field, "error.too_long");
    } else if v.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        errors.add(field, "error.control_chars");
    }
    v.to_string()
}

pub fn clean_optional(v: Option<&str>, field: &str, max: usize, errors: &mut FieldErrors) -> Option<String> {
    let v = v.map(str::trim).filter(|s| !s.is_empty())?;
    if v.chars().count() > max {
        errors.add(field, "error.too_long");
    } else if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        errors.add(field, "error.control_chars");
    }
    Some(v.to_string())
}

/// The first non-empty file of a multipart form field: (file name, bytes).
pub async fn uploaded_file(
    mp: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
    field_name: &str,
) -> Result<Option<(String, Vec<u8>)>, super::error::AppError> {
    use super::error::AppError;
    let mut mp = mp.map_err(|_| AppError::BadRequest("error.form_content_type", serde_json::Value::Null))?;
    let mut file = None;
    while let Some(field) = mp.next_field().await.map_err(|_| AppError::bad("error.bad_form"))? {
        if field.name() == Some(field_name) {
            let name = field.file_name().unwrap_or("upload").to_string();
            let bytes = field.bytes().await.map_err(|_| AppError::TooLarge)?;
            file = Some((name, bytes.to_vec()));
        }
    }
    Ok(file.filter(|(_, b)| !b.is_empty()))
}

//! Open311 answers in both of the specification's formats from one description: a record is a
//! list of named values, rendered as a JSON object or an XML element. Also the specification's
//! error list, which is what every failure under `/open311/v2` returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Json,
    Xml,
}

/// `services.json` → ("services", Json); None for an unknown extension.
pub fn split(file: &str) -> Option<(&str, Fmt)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let fmt = match ext {
        "json" => Fmt::Json,
        "xml" => Fmt::Xml,
        _ => return None,
    };
    (!stem.is_empty()).then_some((stem, fmt))
}

pub enum V {
    S(String),
    N(f64),
    I(i64),
    B(bool),
    Null,
    /// A list of records: a JSON array, or `<key><tag>…</tag>…</key>` in XML.
    Items(&'static str, Vec<Rec>),
    /// A list of strings, likewise.
    Strs(&'static str, Vec<String>),
}

pub type Rec = Vec<(&'static str, V)>;

pub fn s(v: impl Into<String>) -> V {
    V::S(v.into())
}

pub fn opt(v: Option<impl Into<String>>) -> V {
    v.map_or(V::Null, |v| V::S(v.into()))
}

fn json_of(rec: &Rec) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in rec {
        m.insert((*k).to_string(), json_value(v));
    }
    serde_json::Value::Object(m)
}

fn json_value(v: &V) -> serde_json::Value {
    use serde_json::Value;
    match v {
        V::S(s) => Value::String(s.clone()),
        V::N(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        V::I(i) => Value::from(*i),
        V::B(b) => Value::Bool(*b),
        V::Null => Value::Null,
        V::Items(_, recs) => Value::Array(recs.iter().map(json_of).collect()),
        V::Strs(_, strs) => Value::Array(strs.iter().cloned().map(Value::String).collect()),
    }
}

/// Escapes text for XML content; characters XML 1.0 cannot carry at all are dropped.
fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn xml_rec(rec: &Rec, out: &mut String) {
    for (k, v) in rec {
        out.push('<');
        out.push_str(k);
        out.push('>');
        match v {
            V::S(s) => esc(s, out),
            V::N(n) => out.push_str(&n.to_string()),
            V::I(i) => out.push_str(&i.to_string()),
            V::B(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Null => {}
            V::Items(tag, recs) => {
                for r in recs {
                    out.push_str(&format!("<{tag}>"));
                    xml_rec(r, out);
                    out.push_str(&format!("</{tag}>"));
                }
            }
            V::Strs(tag, strs) => {
                for s in strs {
                    out.push_str(&format!("<{tag}>"));
                    esc(s, out);
                    out.push_str(&format!("</{tag}>"));
                }
            }
        }
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
}

fn respond(fmt: Fmt, status: StatusCode, body: String) -> Response {
    let ct = match fmt {
        Fmt::Json => "application/json; charset=utf-8",
        Fmt::Xml => "text/xml; charset=utf-8",
    };
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    res
}

/// A list: a JSON array of objects, or `<root><item>…</item>…</root>`.
pub fn list(fmt: Fmt, status: StatusCode, root: &str, item: &str, recs: &[Rec]) -> Response {
    let body = match fmt {
        Fmt::Json => serde_json::Value::Array(recs.iter().map(json_of).collect()).to_string(),
        Fmt::Xml => {
            let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><{root}>");
            for r in recs {
                out.push_str(&format!("<{item}>"));
                xml_rec(r, &mut out);
                out.push_str(&format!("</{item}>"));
            }
            out.push_str(&format!("</{root}>"));
            out
        }
    };
    respond(fmt, status, body)
}

/// One object: a JSON object, or `<root>…</root>`.
pub fn one(fmt: Fmt, root: &str, rec: &Rec) -> Response {
    let body = match fmt {
        Fmt::Json => json_of(rec).to_string(),
        Fmt::Xml => {
            let mut out = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><{root}>");
            xml_rec(rec, &mut out);
            out.push_str(&format!("</{root}>"));
            out
        }
    };
    respond(fmt, StatusCode::OK, body)
}

/// The specification's error answer: `[{"code": 400, "description": "…"}]`, the HTTP status
/// being the first error's code.
pub fn errors(fmt: Fmt, status: StatusCode, descriptions: &[String]) -> Response {
    let recs: Vec<Rec> = descriptions
        .iter()
        .map(|d| vec![("code", V::I(i64::from(status.as_u16()))), ("description", s(d.as_str()))])
        .collect();
    list(fmt, status, "errors", "error", &recs)
}

/// An error answered outside the handlers (a body over a limit, a bad Idempotency-Key, a
/// method the route lacks) in the specification's error list, in the format the path names.
pub fn error_at(path: &str, status: StatusCode, message: &str) -> Response {
    let fmt = path.rsplit('/').next().and_then(split).map_or(Fmt::Json, |(_, fmt)| fmt);
    errors(fmt, status, &[message.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_carry() {
        let mut out = String::new();
        esc("<a href=\"x\">&'\u{1}\n</a>", &mut out);
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\n&lt;/a&gt;");
    }

    #[test]
    fn formats_come_from_the_file_name() {
        assert_eq!(split("services.json"), Some(("services", Fmt::Json)));
        assert_eq!(split("2026-000001.xml"), Some(("2026-000001", Fmt::Xml)));
        assert_eq!(split("services.html"), None);
        assert_eq!(split(".json"), None);
        assert_eq!(split("services"), None);
    }
}

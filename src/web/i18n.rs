//! UI strings: one catalogue per locale (`locales/*.toml`), embedded in the binary.
//! A test checks both catalogues carry the same keys and that every key a template uses exists.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "zh-CN")]
    Zh,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh-CN" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    /// Picks from an `Accept-Language` header; Chinese unless English is asked for first.
    pub fn from_accept(header: Option<&str>) -> Lang {
        match header {
            Some(h) if h.trim_start().to_ascii_lowercase().starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }
}

pub const ZH_SOURCE: &str = include_str!("../../locales/zh-CN.toml");
pub const EN_SOURCE: &str = include_str!("../../locales/en.toml");

pub fn flatten(source: &str) -> HashMap<String, String> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut HashMap<String, String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            toml::Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => panic!("catalogue value for {prefix} must be a string, found {other}"),
        }
    }
    let value: toml::Value = toml::from_str(source).expect("locale catalogue is valid TOML");
    let mut out = HashMap::new();
    walk("", &value, &mut out);
    out
}

fn catalogue(lang: Lang) -> &'static HashMap<String, String> {
    static ZH: OnceLock<HashMap<String, String>> = OnceLock::new();
    static EN: OnceLock<HashMap<String, String>> = OnceLock::new();
    match lang {
        Lang::Zh => ZH.get_or_init(|| flatten(ZH_SOURCE)),
        Lang::En => EN.get_or_init(|| flatten(EN_SOURCE)),
    }
}

/// The translator handed to every template.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tr(pub Lang);

impl Tr {
    /// Looks a key up; a missing key shows itself (and fails the catalogue test).
    pub fn t(&self, key: &str) -> String {
        match catalogue(self.0).get(key) {
            Some(s) => s.clone(),
            None => key.to_string(),
        }
    }
    pub fn lang(&self) -> &'static str {
        self.0.code()
    }
    /// `t` with `{}` placeholders filled in order.
    pub fn f(&self, key: &str, args: &[&dyn std::fmt::Display]) -> String {
        let mut out = String::new();
        let text = self.t(key);
        let mut rest = text.as_str();
        for a in args {
            match rest.split_once("{}") {
                Some((head, tail)) => {
                    out.push_str(head);
                    out.push_str(&a.to_string());
                    rest = tail;
                }
                None => break,
            }
        }
        out.push_str(rest);
        out
    }
}

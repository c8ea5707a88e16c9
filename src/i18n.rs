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
    /// Picks from an `Accept-Language` header (RFC 9110 §12.5.4): the supported language with
    /// the highest q-value, the earlier one on a tie; `*` stands for each language not named,
    /// `q=0` refuses one. Chinese when nothing supported is asked for.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::Zh };
        // (q in thousandths, position) of the first entry naming each language, and of `*`,
        // which stands for every language not named.
        let (mut zh, mut en, mut any) = (None, None, None);
        // A header is at most a few entries; a hostile one is cut rather than walked.
        for (pos, entry) in header.split(',').take(32).enumerate() {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = Some(1000);
            for p in parts {
                let p = p.trim();
                if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                    q = quality(v);
                }
            }
            let Some(q) = q else { continue };
            let slot = match tag.split('-').next().unwrap_or("") {
                "zh" => &mut zh,
                "en" => &mut en,
                "*" => &mut any,
                _ => continue,
            };
            slot.get_or_insert((q, pos));
        }
        let (zh, en) = (zh.or(any), en.or(any));
        match (zh, en) {
            (Some((zq, zp)), Some((eq, ep))) if eq > 0 && (eq > zq || (eq == zq && ep < zp)) => Lang::En,
            (None, Some((eq, _))) if eq > 0 => Lang::En,
            _ => Lang::Zh,
        }
    }
}

/// A q-value in thousandths (`0`, `0.8`, `1.000`); None when malformed, which drops its entry.
fn quality(v: &str) -> Option<u16> {
    let v = v.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

pub const ZH_SOURCE: &str = include_str!("../locales/zh-CN.toml");
pub const EN_SOURCE: &str = include_str!("../locales/en.toml");

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_weighs_every_tag_by_its_q_value() {
        let pick = |h: &str| Lang::from_accept(Some(h));
        assert_eq!(pick("zh-CN;q=0.8, en;q=0.9"), Lang::En, "the higher q wins, not the first tag");
        assert_eq!(pick("en;q=0.8, zh-CN;q=0.9"), Lang::Zh);
        assert_eq!(pick("en-US,en;q=0.9"), Lang::En);
        assert_eq!(pick("fr-FR, en;q=0.5"), Lang::En, "unsupported languages are skipped");
        assert_eq!(pick("zh, en"), Lang::Zh, "a tie goes to the earlier tag");
        assert_eq!(pick("en;q=0, *"), Lang::Zh, "q=0 refuses English");
        assert_eq!(pick("zh;q=0, en;q=0.1"), Lang::En);
        assert_eq!(pick("zh;q=0, fr"), Lang::Zh, "nothing we have: the default");
        assert_eq!(pick("en;q=2, zh;q=0.5"), Lang::Zh, "a malformed q drops its entry");
        assert_eq!(pick("en;q=0.500"), Lang::En);
        assert_eq!(pick("de"), Lang::Zh);
        assert_eq!(pick(""), Lang::Zh);
        assert_eq!(Lang::from_accept(None), Lang::Zh);
        assert_eq!(pick(&"de;q=0.1, ".repeat(10_000)), Lang::Zh, "a huge header is cut, not walked");
    }

    fn files(dir: &std::path::Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }

    #[test]
    fn catalogues_have_the_same_keys_and_cover_every_key_in_use() {
        let zh = flatten(ZH_SOURCE);
        let en = flatten(EN_SOURCE);
        let mut only: Vec<_> =
            zh.keys().filter(|k| !en.contains_key(*k)).chain(en.keys().filter(|k| !zh.contains_key(*k))).collect();
        only.sort();
        assert!(only.is_empty(), "keys in one catalogue only: {only:?}");
        for (k, v) in &zh {
            assert_eq!(v.matches("{}").count(), en[k].matches("{}").count(), "placeholders of {k}");
        }
        // Every literal key handed to t()/f() or used as a message code must exist.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("templates"), "html", &mut paths);
        files(&root.join("src"), "rs", &mut paths);
        let prefixes = [
            "error.",
            "place.",
            "staff.",
            "import.",
            "estate.",
            "station.",
            "org.",
            "password.",
            "login.",
            "totp.",
            "person.",
            "tag.",
            "case.",
            "plan.",
            "record.",
            "assessment.",
            "reveal.",
            "grant.",
            "transfer.",
            "offer.",
            "conflict.",
            "export.",
            "people_import.",
            "ledger.",
            "merge.",
            "tier.",
            "instrument.",
            "request.",
            "holiday.",
            "category.",
            "hazard.",
            "patrol.",
            "file.",
            "metrics.",
        ];
        let mut missing = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, _) in text.match_indices(".t(\"") {
                let rest = &text[i + 4..];
                let key = &rest[..rest.find('"').unwrap()];
                if key.contains('.') && !zh.contains_key(key) {
                    missing.push(format!("{}: {key}", p.display()));
                }
            }
            // Message codes returned by validation ("place.wrong_parent_kind" …).
            for (i, _) in text.match_indices('"') {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('"') else { continue };
                let lit = &rest[..end];
                let is_code = prefixes.iter().any(|pre| lit.starts_with(pre))
                    && lit.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.' || c.is_ascii_digit())
                    && lit.matches('.').count() == 1;
                // Audit action names share the shape; they are not shown through the catalogue.
                let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
                let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let audit_action = text[line_start..line_end].contains("action");
                // Source file names ("error.rs", in the floors test) share it too.
                let file_name = lit.ends_with(".rs");
                if is_code && !audit_action && !file_name && !zh.contains_key(lit) && !lit.ends_with('.') {
                    missing.push(format!("{}: {lit}", p.display()));
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "keys missing from the catalogues:\n{}", missing.join("\n"));
    }
}

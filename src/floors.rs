//! The floors of the crate, checked from the source: a file may use what sits on its own floor
//! or below, never above. Domains are peers on one floor and may use each other; everything
//! they share (state, routes, errors, the caller, the scope, the database) sits under them, and
//! `app` and `cli` assemble them on top. Before this check, `web` used `auth` and `auth` used
//! `web`, `db` used `auth` and three domains, and every domain used `app` while `app` used
//! every domain: read from its imports, the crate was one cycle.
//!
//! A path `crate::a::b::c` is resolved to the deepest source file it names (`src/a/b.rs`,
//! `src/a/b/mod.rs`, `src/a.rs`, …); macros (`crate::read!`) belong to no file and are skipped.
//! Test modules are left out: they may reach anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Floors from the bottom. The longest matching prefix of a file's path (relative to `src/`)
/// decides its floor.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "fsperm.rs",
            "crypto.rs",
            "config.rs",
            "codes.rs",
            "redact.rs",
            "tabular.rs",
            "ledger_xlsx.rs",
            "scope.rs",
            "roles.rs",
            "i18n.rs",
        ],
    ),
    ("db", &["db/"]),
    (
        "services",
        &["error.rs", "ratelimit.rs", "audit/mod.rs", "audit/store.rs", "audit/not_found.rs", "files/store.rs"],
    ),
    ("state", &["state.rs"]),
    ("auth", &["auth/"]),
    ("web", &["web/"]),
    (
        "domains",
        &[
            "auth/pages.rs",
            "auth/api.rs",
            "audit/",
            "org/",
            "staff/",
            "people/",
            "cases/",
            "search/",
            "requests/",
            "hazards/",
            "files/",
            "open311/",
            "map.rs",
            "home/",
            "ops.rs",
            "ops/",
        ],
    ),
    ("assembly", &["app/", "app.rs", "openapi.rs", "demo/", "cli/", "main.rs", "lib.rs", "floors.rs"]),
];

fn floor_of(rel: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (i, (name, prefixes)) in FLOORS.iter().enumerate() {
        for p in prefixes.iter() {
            let hit = if p.ends_with('/') { rel.starts_with(p) } else { rel == *p };
            if hit && best.is_none_or(|(len, _, _)| p.len() > len) {
                best = Some((p.len(), i, name));
            }
        }
    }
    best.map(|(_, i, name)| (i, name))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file a `crate::…` path names: the deepest prefix of its segments that is a file.
fn resolve(src: &Path, segments: &[&str]) -> Option<String> {
    for n in (1..=segments.len()).rev() {
        let stem = segments[..n].join("/");
        for cand in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if src.join(&cand).is_file() {
                return Some(cand);
            }
        }
    }
    None
}

/// Every `crate::…` path in a file's non-test code, use trees (`crate::{a, b::{c, d}}`) expanded.
fn crate_paths(text: &str) -> BTreeSet<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    let code: Vec<&str> = code.lines().map(|l| l.split("//").next().unwrap_or("")).collect();
    let code = code.join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        expand(use_tree(rest), &mut Vec::new(), &mut out);
    }
    out
}

/// The text of the path or use tree at the start of `s`: identifiers and `::`, then at most one
/// balanced `{…}`.
fn use_tree(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return &s[..i],
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..=i];
                }
            }
            c if depth > 0 || c.is_ascii_alphanumeric() || c == '_' || c == ':' => {}
            _ => return &s[..i],
        }
    }
    s
}

/// Adds every module path a use tree names: a segment that is not a lower-case identifier (a
/// type, a constant, `self`) or that is a macro (`read!`) ends the path.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], prefix, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], prefix, out);
        return;
    }
    let (head, tail) = match tree.split_once("::") {
        Some((h, t)) => (h.trim(), Some(t)),
        None => (tree, None),
    };
    let module = head.starts_with(|c: char| c.is_ascii_lowercase())
        && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && head != "self";
    if !module {
        if !prefix.is_empty() {
            out.insert(prefix.clone());
        }
        return;
    }
    prefix.push(head.to_string());
    match tail {
        Some(t) => expand(t, prefix, out),
        None => {
            out.insert(prefix.clone());
        }
    }
    prefix.pop();
}

#[test]
fn no_file_uses_a_floor_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unplaced = Vec::new();
    let mut upward = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        let Some((mine, my_name)) = floor_of(&rel) else {
            unplaced.push(rel);
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for path in crate_paths(&text) {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            let Some(target) = resolve(&src, &segs) else { continue };
            if target == rel {
                continue;
            }
            let Some((theirs, their_name)) = floor_of(&target) else { continue };
            if theirs > mine {
                upward.push(format!("{rel} ({my_name}) uses crate::{} in {target} ({their_name})", segs.join("::")));
            }
        }
    }
    assert!(unplaced.is_empty(), "files on no floor (add them to FLOORS): {unplaced:?}");
    assert!(upward.is_empty(), "{} uses of a floor above:\n{}", upward.len(), upward.join("\n"));
}

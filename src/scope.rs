//! The data scope (district > street > community > grid) and the SQL that enforces it. Both the
//! database layer and authentication sit above this file: a scope is the materialised paths of
//! the places an account is bound to, and every list and fetch of place-bound data filters by
//! them inside its SQL.
//!
//! Builds the `path` range filter that confines a query to a caller's data scope.

use crate::roles::Role;

/// The data scope: the materialised paths of the places a user is bound to. Every list and
/// fetch of place-bound data filters by these inside its SQL.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub roots: Vec<String>,
    /// Sees people as a station does (station managers and social workers): a person with a
    /// case is seen by the station holding it, wherever they live, and not by the one serving
    /// their address while another station holds an open case of theirs
    /// (`people::store::visible`). Everyone else sees the people living in their places.
    pub casework: bool,
}

impl Scope {
    /// The scope of an account of `role` bound to places with these paths.
    pub fn of(roots: Vec<String>, role: Role) -> Scope {
        Scope { roots, casework: matches!(role, Role::StationManager | Role::SocialWorker) }
    }
    pub fn covers(&self, path: &str) -> bool {
        self.roots.iter().any(|r| path.starts_with(r.as_str()))
    }
    /// Every root is a district or above (a city; paths of at most two segments): the scope
    /// holds nearly every record, which some queries plan for.
    pub fn is_district_wide(&self) -> bool {
        !self.roots.is_empty() && self.roots.iter().all(|r| r.trim_matches('/').split('/').count() <= 2)
    }
    /// SQL fragment restricting `col` (a place path) to the scope, placeholders from `$first`.
    pub fn filter(&self, col: &str, first: usize) -> (String, Vec<String>) {
        path_filter(col, &self.roots, first)
    }
    /// As `filter`, plus the places above the scope (for shared records such as departments).
    pub fn filter_visible(&self, col: &str, first: usize) -> (String, Vec<String>) {
        path_or_ancestor_filter(col, &self.roots, first)
    }
}

/// `(col >= $n AND col < $n+1) OR …` for each place the caller is bound to; `1=0` when none.
/// Returns the SQL fragment and the values to bind, in order, starting at placeholder `first`.
pub fn path_filter(col: &str, roots: &[String], first: usize) -> (String, Vec<String>) {
    if roots.is_empty() {
        return ("1=0".into(), Vec::new());
    }
    let mut parts = Vec::with_capacity(roots.len());
    let mut binds = Vec::with_capacity(roots.len() * 2);
    for (i, root) in roots.iter().enumerate() {
        let n = first + 2 * i;
        parts.push(format!("({col} >= ${n} AND {col} < ${})", n + 1));
        binds.push(root.clone());
        binds.push(subtree_end(root));
    }
    (format!("({})", parts.join(" OR ")), binds)
}

/// Like `path_filter`, but also admits the ancestors of each root: records anchored above the
/// caller (a city-level department seen from a street) are visible, not editable.
pub fn path_or_ancestor_filter(col: &str, roots: &[String], first: usize) -> (String, Vec<String>) {
    if roots.is_empty() {
        return ("1=0".into(), Vec::new());
    }
    let mut parts = Vec::with_capacity(roots.len());
    let mut binds = Vec::with_capacity(roots.len() * 2);
    for (i, root) in roots.iter().enumerate() {
        let n = first + 2 * i;
        parts.push(format!("({col} >= ${n} AND {col} < ${}) OR (${n} LIKE {col} || '%')", n + 1));
        binds.push(root.clone());
        binds.push(subtree_end(root));
    }
    (format!("({})", parts.join(" OR ")), binds)
}

/// The district a path lies in: its first two segments (city, district), or the path itself when
/// it is the city or a district. Case work does not leave its district.
pub fn district_of(path: &str) -> &str {
    match path.match_indices('/').nth(2) {
        Some((i, _)) => &path[..=i],
        None => path,
    }
}

/// The first path after every descendant of `path`. Paths are `/seg/seg/` with segments of
/// `[0-9a-z]`, all above `/`, so replacing the trailing `/` by `0` bounds the subtree.
pub fn subtree_end(path: &str) -> String {
    let mut end = path.trim_end_matches('/').to_string();
    end.push('0');
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_bounds_hold_descendants_only() {
        let root = "/aaaaaa/bbbbbb/";
        let end = subtree_end(root);
        assert!("/aaaaaa/bbbbbb/cccccc/" < end.as_str());
        assert!("/aaaaaa/bbbbbb/zzzzzz/zzzzzz/" < end.as_str());
        assert!("/aaaaaa/bbbbbc/" >= end.as_str());
        assert!("/aaaaaa/bbbbbb0/" >= end.as_str());
        assert!("/aaaaaa/" < root);
    }

    proptest::proptest! {
        /// For any two paths built from segments, `b` lies in `a`'s range exactly when it is
        /// `a` or below it.
        #[test]
        fn range_holds_exactly_the_subtree(a in proptest::collection::vec(0u64..50, 1..5), b in proptest::collection::vec(0u64..50, 1..6)) {
            let path = |segs: &[u64]| format!("/{}/", segs.iter().map(|n| crate::org::model::segment_of(*n)).collect::<Vec<_>>().join("/"));
            let (pa, pb) = (path(&a), path(&b));
            let inside = pb.as_str() >= pa.as_str() && pb.as_str() < subtree_end(&pa).as_str();
            proptest::prop_assert_eq!(inside, b.starts_with(&a));
        }

        #[test]
        fn segments_sort_like_their_numbers(x in 0u64..2_000_000_000, y in 0u64..2_000_000_000) {
            use crate::org::model::segment_of;
            proptest::prop_assert_eq!(segment_of(x).cmp(&segment_of(y)), x.cmp(&y));
        }
    }

    #[test]
    fn the_district_of_a_path_is_its_first_two_segments() {
        assert_eq!(district_of("/000001/000002/000003/000004/"), "/000001/000002/");
        assert_eq!(district_of("/000001/000002/"), "/000001/000002/");
        assert_eq!(district_of("/000001/"), "/000001/");
    }

    #[test]
    fn filter_numbers_placeholders_from_first() {
        let (sql, binds) = path_filter("p.path", &["/a/".into(), "/b/".into()], 3);
        assert_eq!(sql, "((p.path >= $3 AND p.path < $4) OR (p.path >= $5 AND p.path < $6))");
        assert_eq!(binds, vec!["/a/", "/a0", "/b/", "/b0"]);
        assert_eq!(path_filter("x", &[], 1).0, "1=0");
    }
}

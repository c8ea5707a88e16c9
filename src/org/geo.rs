//! Which place a point falls in. Places carry a centroid (and, rarely, their own radius), not a
//! boundary: the district has no surveyed grid boundaries to hand, and a centroid is what staff
//! can set by clicking a map. The rule: among the places whose centroid lies within their
//! kind's maximum distance of the point, the finest kind wins, then the nearest centroid. A
//! point near no place is outside the jurisdiction — unless no place has coordinates yet, in
//! which case nothing can be said and intake goes on as before (the desk places the request).
//! No I/O here; `store::places_near` reads the candidates.

use uuid::Uuid;

use super::model::PlaceKind;

/// How far from its centroid a place of `kind` still reaches, in metres, unless the place sets
/// its own radius. Grids in the demo's old town are ~0.5 km across, communities ~1–2 km,
/// streets ~5 km; a district reaches ~25 km (平城区 is ~230 km²).
pub fn reach_m(kind: PlaceKind) -> f64 {
    match kind {
        PlaceKind::Grid => 800.0,
        PlaceKind::Community => 2_000.0,
        PlaceKind::Street => 6_000.0,
        PlaceKind::District => 25_000.0,
        PlaceKind::City => 80_000.0,
    }
}

/// The widest reach of any place, in degrees of latitude: the box the store reads candidates
/// from (one degree of latitude is ~111 km).
pub const SEARCH_DEGREES: f64 = 1.0;

/// A place with a centroid, as the store reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlacePoint {
    pub id: Uuid,
    pub path: String,
    pub name: String,
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: Option<i32>,
}

impl PlacePoint {
    fn kind(&self) -> PlaceKind {
        PlaceKind::parse(&self.kind).unwrap_or(PlaceKind::Grid)
    }
    fn reach(&self) -> f64 {
        self.radius_m.map_or_else(|| reach_m(self.kind()), f64::from)
    }
    /// Finer kinds first: a grid is more useful to the desk than its community.
    fn fineness(&self) -> u8 {
        match self.kind() {
            PlaceKind::Grid => 4,
            PlaceKind::Community => 3,
            PlaceKind::Street => 2,
            PlaceKind::District => 1,
            PlaceKind::City => 0,
        }
    }
}

/// Where a point lands.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// No place has coordinates: the point cannot be judged.
    Unknown,
    /// Near no place: outside the jurisdiction.
    Outside,
    /// The place it falls in (a grid, community, street or, failing those, the district).
    In { id: Uuid, path: String, name: String, kind: PlaceKind },
}

/// Great-circle distance in metres.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_M: f64 = 6_371_000.0;
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let (dla, dlo) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_M * h.sqrt().min(1.0).asin()
}

/// The place `point` falls in among `candidates` (the places near it); `any_placed` says
/// whether any place at all has coordinates (when none has, the answer is `Unknown`).
pub fn locate(point: (f64, f64), candidates: &[PlacePoint], any_placed: bool) -> Located {
    if !any_placed {
        return Located::Unknown;
    }
    let best = candidates
        .iter()
        .filter_map(|p| {
            let d = distance_m(point, (p.lat, p.lon));
            (d <= p.reach()).then_some((p, d))
        })
        .max_by(|(a, da), (b, db)| a.fineness().cmp(&b.fineness()).then(db.total_cmp(da)));
    match best {
        Some((p, _)) => Located::In { id: p.id, path: p.path.clone(), name: p.name.clone(), kind: p.kind() },
        None => Located::Outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: &str, name: &str, lat: f64, lon: f64) -> PlacePoint {
        PlacePoint {
            id: Uuid::now_v7(),
            path: format!("/{name}/"),
            name: name.into(),
            kind: kind.into(),
            lat,
            lon,
            radius_m: None,
        }
    }

    fn name(l: &Located) -> &str {
        match l {
            Located::In { name, .. } => name,
            _ => "",
        }
    }

    #[test]
    fn the_finest_place_in_reach_wins_then_the_nearest() {
        let places = [
            at("district", "平城区", 40.08, 113.30),
            at("community", "大齿社区", 40.090, 113.300),
            at("grid", "一", 40.091, 113.300),
            at("grid", "二", 40.095, 113.300),
        ];
        assert_eq!(name(&locate((40.0915, 113.3001), &places, true)), "一");
        assert_eq!(name(&locate((40.0945, 113.3001), &places, true)), "二");
        // Beyond every grid's reach but inside the community's.
        assert_eq!(name(&locate((40.090, 113.315), &places, true)), "大齿社区");
        // Inside the district only.
        assert_eq!(name(&locate((40.00, 113.30), &places, true)), "平城区");
        // Beijing, ~280 km away.
        assert_eq!(locate((39.90, 116.40), &places, true), Located::Outside);
        assert_eq!(locate((39.90, 116.40), &[], false), Located::Unknown);
    }

    #[test]
    fn a_place_may_reach_further_than_its_kind() {
        let mut wide = at("grid", "大网格", 40.0, 113.0);
        wide.radius_m = Some(5_000);
        assert_eq!(name(&locate((40.03, 113.0), &[wide], true)), "大网格");
    }

    #[test]
    fn distances_are_great_circle_metres() {
        let d = distance_m((40.08, 113.30), (39.90, 116.40));
        assert!((260_000.0..300_000.0).contains(&d), "{d}");
        assert!(distance_m((40.0, 113.0), (40.0, 113.0)) < 1e-6);
    }
}

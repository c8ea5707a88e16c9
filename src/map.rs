//! The map of open requests and hazards that have coordinates, drawn on the server as one SVG:
//! points in Web Mercator, fitted to what is shown, with map tiles behind them when a tile
//! source is configured. No script is needed, so it works on any phone, and without tiles (or
//! when they fail to load) the points, their links and the list below still stand.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::hazards;
use crate::requests::store::{self as requests, Queue};
use crate::web::extract::Q;
use crate::web::render::{Ctx, page};
use crate::web::{Access, AppState, RouteDef, r};

pub use crate::roles::MAP_READERS;

/// Points drawn per layer; beyond this the page says how many were left out.
const MAX_POINTS: i64 = 1000;
/// The drawing's size in map pixels (it scales to the screen).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 600.0;
const TILE: f64 = 256.0;

pub fn routes() -> Vec<RouteDef> {
    vec![r(axum::http::Method::GET, "/map", Access::Roles(MAP_READERS), show)]
}

#[derive(Deserialize, Default)]
pub struct MapQuery {
    /// all (default), requests or hazards.
    pub layer: Option<String>,
}

pub struct Point {
    pub x: f64,
    pub y: f64,
    pub href: String,
    pub label: String,
    /// CSS class: the layer and, for hazards, the risk level.
    pub class: String,
    pub number: String,
    pub kind: String,
    pub address: String,
    pub status: String,
}

pub struct TileView {
    pub href: String,
    pub x: f64,
    pub y: f64,
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    ctx: Ctx,
    layer: String,
    points: Vec<Point>,
    tiles: Vec<TileView>,
    attribution: String,
    /// Open items in the layers shown that have no coordinates, and those left out over the cap.
    unplaced: i64,
    omitted: i64,
    width: f64,
    height: f64,
}

/// Web Mercator pixel position at zoom 0 (multiply by 2^z).
fn project(lat: f64, lon: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.0511, 85.0511).to_radians();
    let x = (lon + 180.0) / 360.0 * TILE;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * TILE;
    (x, y)
}

/// The smallest box around the points: (x0, y0, x1, y1) at zoom 0.
fn bounds(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    points.iter().fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |(x0, y0, x1, y1), (x, y)| {
        (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y))
    })
}

/// The deepest zoom (3–17) at which the points fit the drawing with a margin.
fn fit_zoom(points: &[(f64, f64)]) -> u32 {
    let (x0, y0, x1, y1) = bounds(points);
    (3..=17)
        .rev()
        .find(|z| {
            let s = f64::from(1u32 << z);
            (x1 - x0) * s <= WIDTH * 0.85 && (y1 - y0) * s <= HEIGHT * 0.85
        })
        .unwrap_or(3)
}

struct Raw {
    lat: f64,
    lon: f64,
    point: Point,
}

pub async fn show(State(st): State<AppState>, caller: Caller, Q(q): Q<MapQuery>) -> AppResult<Response> {
    let layer = q.layer.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| "all".into());
    if !matches!(layer.as_str(), "all" | "requests" | "hazards") {
        return Err(AppError::bad("error.bad_query"));
    }
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/map", "map.title");
    let tr = ctx.tr;
    let mut raw: Vec<Raw> = Vec::new();
    let (mut unplaced, mut omitted) = (0, 0);
    if layer != "hazards" {
        let viewer = requests::viewer(&st.db, &caller).await?;
        let located = requests::ListFilter { open: true, located: true, ..Default::default() };
        let (rows, total) = requests::list(&st.db, &viewer, Queue::Area, &located, MAX_POINTS, 0).await?;
        let open = requests::ListFilter { open: true, ..Default::default() };
        let (_, all) = requests::list(&st.db, &viewer, Queue::Area, &open, 1, 0).await?;
        unplaced += all - total;
        omitted += total - rows.len() as i64;
        raw.extend(rows.into_iter().filter_map(|r| {
            Some(Raw {
                lat: r.lat?,
                lon: r.lon?,
                point: Point {
                    x: 0.0,
                    y: 0.0,
                    href: format!("/requests/{}", r.id),
                    label: format!("{} · {}", r.number, r.category_name),
                    class: "pin request".into(),
                    kind: r.category_name,
                    status: tr.t(&crate::requests::model::Status::parse(&r.status)
                        .map(|s| s.label_key())
                        .unwrap_or_default()),
                    number: r.number,
                    address: r.address,
                },
            })
        }));
    }
    if layer != "requests" && caller.is(hazards::pages::HAZARD_STAFF) {
        let located = hazards::store::ListFilter { open: true, located: true, ..Default::default() };
        let (rows, total) = hazards::store::list(&st.db, &caller.scope, &located, MAX_POINTS, 0).await?;
        let open = hazards::store::ListFilter { open: true, ..Default::default() };
        let (_, all) = hazards::store::list(&st.db, &caller.scope, &open, 1, 0).await?;
        unplaced += all - total;
        omitted += total - rows.len() as i64;
        raw.extend(rows.into_iter().filter_map(|h| {
            let kind = tr.t(&format!("hazard_category.{}", h.category));
            Some(Raw {
                lat: h.lat?,
                lon: h.lon?,
                point: Point {
                    x: 0.0,
                    y: 0.0,
                    href: format!("/hazards/{}", h.id),
                    label: format!("{} · {} · {}", h.number, kind, tr.t(&h.risk().label_key())),
                    class: format!("pin hazard risk-{}", h.risk_level),
                    status: tr.t(&h.status().label_key()),
                    kind,
                    number: h.number,
                    address: h.address,
                },
            })
        }));
    }

    // Fit the points, then place them (and the tiles) relative to the drawing's top left.
    let projected: Vec<(f64, f64)> = raw.iter().map(|r| project(r.lat, r.lon)).collect();
    let z = if projected.is_empty() { 11 } else { fit_zoom(&projected) };
    let scale = f64::from(1u32 << z);
    let (cx, cy) = if projected.is_empty() {
        // Nothing to show: centre on Datong, where the demo district lies.
        let (x, y) = project(40.08, 113.30);
        (x * scale, y * scale)
    } else {
        let (x0, y0, x1, y1) = bounds(&projected);
        ((x0 + x1) / 2.0 * scale, (y0 + y1) / 2.0 * scale)
    };
    let (left, top) = (cx - WIDTH / 2.0, cy - HEIGHT / 2.0);
    let points = raw
        .into_iter()
        .zip(projected)
        .map(|(r, (x, y))| Point { x: (x * scale - left).round(), y: (y * scale - top).round(), ..r.point })
        .collect();
    let mut tiles = Vec::new();
    if let Some(src) = &st.cfg.map_tiles {
        let last = (1i64 << z) - 1;
        let (tx0, ty0) = ((left / TILE).floor() as i64, (top / TILE).floor() as i64);
        let (tx1, ty1) = (((left + WIDTH) / TILE).floor() as i64, ((top + HEIGHT) / TILE).floor() as i64);
        for ty in ty0.max(0)..=ty1.min(last) {
            for tx in tx0..=tx1 {
                // Wraps across the antimeridian; tiles beyond the poles do not exist.
                let wrapped = tx.rem_euclid(last + 1);
                tiles.push(TileView {
                    href: src.tile(z, wrapped, ty),
                    x: tx as f64 * TILE - left,
                    y: ty as f64 * TILE - top,
                });
            }
        }
    }
    let view = MapPage {
        ctx,
        layer,
        points,
        tiles,
        attribution: st.cfg.map_tiles.as_ref().map(|t| t.attribution.clone()).unwrap_or_default(),
        unplaced,
        omitted,
        width: WIDTH,
        height: HEIGHT,
    };
    let mut res = page(&view).into_response();
    if let Some(src) = &st.cfg.map_tiles {
        // The page's own policy: the site's, plus images from the tile server.
        let csp = format!(
            "default-src 'self'; img-src 'self' data: {}; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
            src.origin
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_mercator_matches_the_tile_scheme() {
        // Datong (40.08 N, 113.30 E) lies in tile x 3337, y 1549 at zoom 12 (the OSM slippy-map
        // formula, worked by hand).
        let (x, y) = project(40.08, 113.30);
        let s = f64::from(1u32 << 12);
        assert_eq!(((x * s / TILE) as i64, (y * s / TILE) as i64), (3337, 1549));
        // The equator and the prime meridian are the middle of the world.
        assert_eq!(project(0.0, 0.0), (128.0, 128.0));
    }

    #[test]
    fn the_zoom_fits_the_points() {
        let one = [project(40.08, 113.30)];
        assert_eq!(fit_zoom(&one), 17);
        // Two communities 3 km apart fit at street level; Datong to Beijing needs a region.
        let near = [project(40.08, 113.30), project(40.10, 113.32)];
        assert!((13..=15).contains(&fit_zoom(&near)), "{}", fit_zoom(&near));
        let far = [project(40.08, 113.30), project(39.90, 116.40)];
        assert!((6..=8).contains(&fit_zoom(&far)), "{}", fit_zoom(&far));
    }
}

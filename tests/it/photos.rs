//! Image bombs against the photo uploads (a hazard's photos, Open311 `media`): a file that
//! declares far more pixels than its size suggests is refused from its header with 422, and a
//! large phone photo is still stored, decoded at the size we keep and turned upright.

use axum::http::StatusCode;
use linli::files::samples::{jpeg_flat, png_zeros, webp_flat};

use crate::harness::TestApp;

#[tokio::test]
async fn image_bombs_are_refused_and_a_48_megapixel_photo_is_kept() {
    let app = TestApp::new().await;
    let grid = app.login("yongtai.grid").await;
    let place: (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT g.id FROM places g JOIN places c ON c.id = g.parent_id WHERE g.name = '第一网格' AND c.name = '柳航里社区'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let place = place.0.to_string();
    let hazard = [
        ("category", "fire"),
        ("risk_level", "general"),
        ("description", "楼道堆放杂物"),
        ("place_id", place.as_str()),
    ];
    let key = linli::open311::clients::register(&app.st.db, "测试应用", "", None).await.unwrap().1;
    let request = [
        ("api_key", key.as_str()),
        ("service_code", "street_light"),
        ("lat", "40.09"),
        ("long", "113.30"),
        ("description", "路灯不亮，见照片"),
    ];
    let bombs: [(&str, Vec<u8>); 3] = [
        ("zeros.png", png_zeros(12_000, 12_000, 1)),
        ("flat.jpg", jpeg_flat(12_000, 12_000, true, None, |_, _| 0)),
        ("flat.webp", webp_flat(9_000, 9_000)),
    ];
    for (name, bytes) in &bombs {
        let r = grid.post_multipart("/api/v1/hazards", &hazard, &[("photos", name, bytes)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {}", r.body);
        assert_eq!(r.json()["details"][0]["code"], "file.too_many_pixels", "{name}");
        let r = app.anon().post_multipart("/open311/v2/requests.json", &request, &[("media", name, bytes)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {}", r.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await + app.count("SELECT COUNT(*) FROM requests").await, 0);

    // A 48 MP portrait phone photo (stored landscape with EXIF orientation 6).
    let photo = jpeg_flat(8000, 6000, true, Some(6), |x, y| ((x * 3 + y * 2) % 400) as i32 - 200);
    let r = grid.post_multipart("/api/v1/hazards", &hazard, &[("photos", "IMG_0931.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r =
        app.anon().post_multipart("/open311/v2/requests.json", &request, &[("media", "IMG_0931.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let sizes: Vec<(Option<i64>, Option<i64>)> =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT width, height FROM files").fetch_all(c).await).unwrap();
    assert_eq!(sizes, vec![(Some(3000), Some(4000)); 2]);
}

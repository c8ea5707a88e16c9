//! Item 7 on a 360 px phone in headless Chromium: the patrol checklist folds a finding's fields
//! away for items marked 正常, and dispatch units are chips a thumb can tap.

use fantoccini::{Client, Locator};

use crate::browser::{browser, click, login, serve, start_driver, text_of};
use crate::harness::TestApp;

async fn height(c: &Client, css: &str) -> f64 {
    let js = format!("return document.querySelector('{css}').getBoundingClientRect().height;");
    c.execute(&js, vec![]).await.unwrap().as_f64().unwrap()
}

async fn visible(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.unwrap().is_displayed().await.unwrap()
}

async fn mark_all(c: &Client, items: usize, value: &str) {
    for i in 0..items {
        let radio = c.find(Locator::Css(&format!("input[name=result_{i}][value={value}]"))).await.unwrap();
        c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![serde_json::to_value(&radio).unwrap()])
            .await
            .unwrap();
        radio.click().await.unwrap();
    }
}

/// The flood checklist at 360 px: before, every item showed its note, risk and photo fields
/// whatever was chosen (the form was as tall as with every item 异常, measured below). Now an
/// item marked 正常 (or not applicable, or not yet marked) is one line of choices, and choosing
/// 异常 brings its fields back, with CSS alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patrol_checklist_folds_items_marked_normal_on_a_phone_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    let (patrol,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM patrols").fetch_one(c).await).unwrap();
    let base = serve(&app).await;
    let c = browser(&driver).await;
    c.set_window_size(360, 740).await.unwrap();
    login(&c, &base, "yongtai.grid", &app.password).await;
    c.goto(&format!("{base}/patrols/{patrol}")).await.unwrap();
    text_of(&c, "#patrol-form").await;
    let items = c.find_all(Locator::Css("fieldset.patrol-item")).await.unwrap().len();
    assert!(items >= 5, "the flood checklist has {items} items");
    let unmarked = height(&c, "#patrol-form").await;
    mark_all(&c, items, "hazard").await;
    let all_findings = height(&c, "#patrol-form").await;
    assert!(visible(&c, "#f-note-0").await && visible(&c, "#f-risk-0").await && visible(&c, "#f-photos-0").await);
    mark_all(&c, items, "ok").await;
    let all_normal = height(&c, "#patrol-form").await;
    assert!(!visible(&c, "#f-note-0").await, "a normal item's note is folded away");
    assert!(!visible(&c, "#f-photos-0").await);
    eprintln!(
        "patrol form at 360 px, {items} items: {unmarked:.0} px unmarked, {all_normal:.0} px all 正常, \
         {all_findings:.0} px all 异常 (every field shown, as before)"
    );
    assert!(all_normal * 2.0 < all_findings, "{all_normal} px folded against {all_findings} px");
    // One finding among normal items: only its fields come back.
    let radio = c.find(Locator::Css("input[name=result_1][value=hazard]")).await.unwrap();
    c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![serde_json::to_value(&radio).unwrap()])
        .await
        .unwrap();
    radio.click().await.unwrap();
    assert!(visible(&c, "#f-note-1").await && !visible(&c, "#f-note-0").await);
    let width = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap();
    assert!(width <= 360, "patrol form is {width} px wide");
}

/// Dispatch at 360 px: the units are chips, each tall enough to tap, ticked by a tap, and the
/// request is dispatched to the ticked ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_units_are_chips_on_a_phone_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    let (id,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM requests WHERE status = 'accepted'")
            .fetch_one(c)
            .await)
        .unwrap();
    let base = serve(&app).await;
    let c = browser(&driver).await;
    c.set_window_size(360, 740).await.unwrap();
    let mut totp = None;
    crate::browser_requests::desk_login(&c, &base, &app, &mut totp).await;
    c.goto(&format!("{base}/requests/{id}")).await.unwrap();
    let chips = c.find_all(Locator::Css("#f-units label.chip")).await.unwrap();
    assert!(chips.len() > 3, "{} chips", chips.len());
    for chip in &chips {
        let h = c
            .execute("return arguments[0].getBoundingClientRect().height;", vec![serde_json::to_value(chip).unwrap()])
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(h >= 44.0, "a chip is {h} px tall");
    }
    let checked = c.find_all(Locator::Css("#f-units input:checked")).await.unwrap().len();
    assert_eq!(checked, 1, "the suggested unit comes ticked");
    // Tap a second unit.
    let second = c.find(Locator::Css("#f-units label.chip:has(input:not(:checked))")).await.unwrap();
    c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![serde_json::to_value(&second).unwrap()])
        .await
        .unwrap();
    second.click().await.unwrap();
    assert_eq!(c.find_all(Locator::Css("#f-units input:checked")).await.unwrap().len(), 2);
    let width = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap();
    assert!(width <= 360, "request page is {width} px wide");
    click(&c, "#dispatch-form button.primary").await;
    assert_eq!(c.find_all(Locator::Css(".part")).await.unwrap().len(), 2, "two parts");
}

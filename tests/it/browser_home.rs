//! The homes of a grid worker, a social worker and a station manager on a 360 px phone in
//! headless Chromium: a list with one item per row (title, one line of detail, due on the
//! right), no wider than the screen, and a tap on an item lands on its page.

use fantoccini::{Client, Locator};

use crate::browser::{browser, click, login, serve, start_driver};
use crate::browser_requests::{logout, path};
use crate::home::{demo_with_stories, follow_up_due_days_ago, new_client};

/// The rows of a section as the phone lays them out: (height, title, due text, due's right
/// edge, list's right edge, title's left edge < due's left edge).
async fn rows(c: &Client, key: &str) -> Vec<serde_json::Value> {
    let js = format!(
        "return Array.from(document.querySelectorAll('#home-{key} li a')).map(a => {{
            const t = a.querySelector('.what b'), d = a.querySelector('.due'), r = a.getBoundingClientRect();
            const tr = t.getBoundingClientRect(), dr = d ? d.getBoundingClientRect() : null;
            return {{ height: r.height, title: t.textContent, due: d ? d.textContent : '',
                      due_on_right: dr ? (dr.left > tr.right - 1 && r.right - dr.right < 24) : true }};
        }});"
    );
    c.execute(&js, vec![]).await.unwrap().as_array().unwrap().clone()
}

async fn page_width(c: &Client) -> u64 {
    c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap()
}

/// Signs in on a phone, checks the home's `key` list reads as a messaging list holding `title`,
/// taps that row and returns the path it lands on.
async fn tap(c: &Client, base: &str, account: &str, password: &str, key: &str, title: &str) -> String {
    login(c, base, account, password).await;
    c.goto(&format!("{base}/")).await.unwrap();
    assert!(page_width(c).await <= 360, "{account}'s home is {} px wide on a phone", page_width(c).await);
    let list = rows(c, key).await;
    assert!(!list.is_empty(), "{account}: {key} has items");
    for row in &list {
        // Title and one line of detail: two lines of text, not a table row or a card.
        assert!(row["height"].as_f64().unwrap() < 80.0, "{account}: one compact row per item: {row}");
        assert!(row["due_on_right"].as_bool().unwrap(), "{account}: the due time sits on the right: {row}");
    }
    let n = list.iter().position(|r| r["title"].as_str().unwrap().contains(title));
    let n = n.unwrap_or_else(|| panic!("{account}: {title} in {key}: {list:?}"));
    click(c, &format!("#home-{key} li:nth-child({}) a", n + 1)).await;
    path(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_worker_social_worker_and_manager_homes_on_a_phone_lead_to_their_work_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = demo_with_stories().await;
    let worker = app.login("wenbichen").await;
    new_client(&app, &worker, "钱大爷", true).await;
    follow_up_due_days_ago(&app, "王鹏", 2).await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    c.set_window_size(360, 740).await.unwrap();

    // The grid worker: today's flood patrol, one tap to its checklist.
    let to = tap(&c, &base, "yongtai.grid", &app.password, "patrols", "汛期巡查").await;
    assert!(to.starts_with("/patrols/"), "{to}");
    assert!(c.source().await.unwrap().contains("小南门西街一带"));
    logout(&c).await;

    // The social worker: 王鹏's follow-up, two days late in red, one tap to the case.
    login(&c, &base, "wenbichen", &app.password).await;
    c.goto(&format!("{base}/")).await.unwrap();
    let late = c.find(Locator::Css("#home-follow_ups .due.late")).await.unwrap();
    assert_eq!(late.text().await.unwrap(), "逾期 2 天");
    let color = c
        .execute("return getComputedStyle(document.querySelector('#home-follow_ups .due.late')).color;", vec![])
        .await
        .unwrap();
    assert_eq!(color.as_str().unwrap(), "rgb(180, 35, 42)", "overdue reads in red");
    logout(&c).await;
    let to = tap(&c, &base, "wenbichen", &app.password, "follow_ups", "王鹏").await;
    assert!(to.starts_with("/cases/"), "{to}");
    assert!(c.source().await.unwrap().contains("王鹏"));
    logout(&c).await;

    // The station manager: 钱大爷's plan waiting for approval, one tap to the case to approve.
    let to = tap(&c, &base, "zhenhua.mgr", &app.password, "approvals", "钱大爷").await;
    assert!(to.starts_with("/cases/"), "{to}");
    assert!(c.source().await.unwrap().contains("钱大爷"));
    c.close().await.unwrap();
}

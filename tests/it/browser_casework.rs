//! Case-work stories end to end in headless Chromium, clicked through the real pages the way a
//! social worker and a station manager use them: registering a resident, intake, assessment,
//! the support plan and its approval, service records, closure and its approval, tags, the
//! follow-up list, and the record form at phone width. The database is read only to check.

use std::time::Instant;

use chrono::{Datelike, Duration};
use fantoccini::{Client, Locator};
use uuid::Uuid;

use crate::browser::{browser, click, fill, login, serve, start_driver, text_of};
use crate::harness::TestApp;

/// A valid 18-digit ID number: region, birth date, sequence, and the computed check character.
fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    format!("{first17}{}", linli::people::identity::check_char(&first17))
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("{css} has no option {value}: {e}"));
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

/// The id at the end of the current /people/{id} or /cases/{id} address.
async fn id_in_path(c: &Client, prefix: &str) -> Uuid {
    let p = path(c).await;
    let rest = p.strip_prefix(prefix).unwrap_or_else(|| panic!("expected {prefix}…, on {p}"));
    Uuid::parse_str(rest).unwrap_or_else(|_| panic!("no id in {p}"))
}

async fn value_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

async fn present(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

async fn logout(c: &Client) {
    click(c, "#logout").await;
    assert_eq!(path(c).await, "/login");
}

/// The widest thing on the page must fit the window: no sideways scrolling.
async fn page_width(c: &Client) -> u64 {
    c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap()
}

/// Fills the register form at /people/new and saves it; returns the new person's id.
async fn register(c: &Client, base: &str, fields: &[(&str, &str)], place: Uuid) -> Uuid {
    c.goto(&format!("{base}/people/new")).await.unwrap();
    for (name, value) in fields {
        if *name == "sex" {
            select(c, "#f-sex", value).await;
        } else {
            fill(c, &format!("#f-{name}"), value).await;
        }
    }
    select(c, "#f-place_id", &place.to_string()).await;
    click(c, "form.card.form button.primary").await;
    id_in_path(c, "/people/").await
}

/// Opens a case from the intake form on the person page; returns the case id.
async fn open_case(c: &Client, domain: &str, source: &str, summary: &str) -> Uuid {
    select(c, "#f-domain", domain).await;
    select(c, "#f-case-source", source).await;
    fill(c, "#f-summary", summary).await;
    click(c, "#intake-form button[type=submit]").await;
    id_in_path(c, "/cases/").await
}

/// Saves a service record with the form on the case page.
async fn record(c: &Client, kind: &str, minutes: &str, notes: &str) {
    select(c, "#f-kind", kind).await;
    fill(c, "#f-minutes", minutes).await;
    fill(c, "#f-notes", notes).await;
    click(c, "#record-form button[type=submit]").await;
    assert!(path(c).await.starts_with("/cases/"), "record saved and back on the case");
    assert!(!present(c, "#record-form .has-error").await, "record {kind} refused: {}", c.source().await.unwrap());
}

async fn case_of(app: &TestApp, id: Uuid) -> linli::cases::model::Case {
    linli::cases::store::get(&app.st.db, &linli::staff::store::everything(), id).await.unwrap().expect("case stored")
}

/// Story 2: 振华街道. A man with uremia walks in; the worker registers him, opens a
/// social-assistance case, writes a plan the station manager approves, links him to a job and
/// phones him later. His timeline shows it all; the case number comes from the station.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_2_zhenhua_walk_in_plan_approved_and_services_recorded_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let started = Instant::now();
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let today = linli::people::store::today();
    let year = today.year();

    login(&c, &base, "wenbichen", &app.password).await;
    assert_eq!(path(&c).await, "/", "the worker is signed in");

    // Register 王鹏, a man born 1986 (odd 17th digit), with his phone number.
    let id = id_number("140202", "19860302", "131");
    let yongning = app.place_id("永宁社区").await;
    let pid = register(&c, &base, &[("name", "王鹏"), ("id_number", &id), ("phone", "13800131234")], yongning).await;
    assert_eq!(text_of(&c, "h1").await, "王鹏");
    let shown = text_of(&c, "#id-number").await;
    assert_eq!(shown, format!("{}********{}", &id[..6], &id[14..]), "the number is masked");
    assert!(!c.source().await.unwrap().contains(&id), "the full number is not on the page");
    assert_eq!(text_of(&c, "#phone").await, "138****1234");
    assert!(text_of(&c, "#person-facts").await.contains("1986-03-02"), "birth date read from the number");

    // Intake on his page.
    let case_id = open_case(&c, "social_assistance", "walk_in", "尿毒症，每周透析三次，无力工作，家庭困难").await;
    let number = format!("振华-{year}-0001");
    assert_eq!(text_of(&c, "h1").await, format!("{number} · 王鹏"));
    assert_eq!(text_of(&c, "#case-status").await, "接案");
    assert!(text_of(&c, "#case-facts").await.contains("温碧晨"), "the worker who opened it is the case worker");

    // The plan: an action without an owner is refused and nothing typed is lost.
    let due = (today + Duration::days(30)).to_string();
    let review = (today + Duration::days(90)).to_string();
    fill(&c, "#f-goals", "稳定透析治疗，恢复部分就业，申请低保").await;
    fill(&c, "#f-action-0", "链接社区公益岗位").await;
    fill(&c, "#f-due-0", &due).await;
    fill(&c, "#f-review_on", &review).await;
    click(&c, "#plan-form button[type=submit]").await;
    assert!(text_of(&c, "#plan-form").await.contains("每项措施须有负责人"));
    assert_eq!(value_of(&c, "#f-goals").await, "稳定透析治疗，恢复部分就业，申请低保");
    assert_eq!(value_of(&c, "#f-action-0").await, "链接社区公益岗位");
    assert_eq!(value_of(&c, "#f-due-0").await, due);
    assert_eq!(value_of(&c, "#f-review_on").await, review);
    fill(&c, "#f-owner-0", "温碧晨").await;
    click(&c, "#plan-form button[type=submit]").await;
    assert!(text_of(&c, "#plan-draft").await.contains("待站长批准"));
    assert!(!present(&c, "#approve-plan").await, "a worker cannot approve");
    assert!(!present(&c, "#plan-in-force").await);

    // The station manager signs in and approves.
    logout(&c).await;
    login(&c, &base, "zhenhua.mgr", &app.password).await;
    assert_eq!(path(&c).await, "/", "the manager is signed in without a second factor");
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    click(&c, "#approve-plan button[type=submit]").await;
    let in_force = text_of(&c, "#plan-in-force").await;
    assert!(in_force.contains("稳定透析治疗") && in_force.contains("链接社区公益岗位 — 温碧晨"), "{in_force}");
    assert!(in_force.contains(&review), "{in_force}");
    assert!(!present(&c, "#plan-draft").await);
    logout(&c).await;

    // Back as the worker: a job found through the community, then a phone follow-up.
    login(&c, &base, "wenbichen", &app.password).await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(text_of(&c, "#case-status").await, "服务中");
    record(&c, "resource_linking", "60", "经社区联系到一份门卫工作，可兼顾透析时间").await;
    record(&c, "phone_follow_up", "15", "电话回访：透析规律，情绪稳定，已上岗一周").await;
    let records = text_of(&c, "#record-list").await;
    assert!(records.contains("链接资源") && records.contains("电话回访"), "{records}");
    assert!(records.contains("门卫工作") && records.contains("温碧晨"), "{records}");
    assert_eq!(text_of(&c, "#next-follow-up").await, (today + Duration::days(30)).to_string());

    // His timeline: registration, intake, approved plan and both records, newest first.
    c.goto(&format!("{base}/people/{pid}")).await.unwrap();
    let cases = text_of(&c, "#cases").await;
    assert!(cases.contains(&number) && cases.contains("社会救助") && cases.contains("服务中"), "{cases}");
    let timeline = text_of(&c, "#timeline").await;
    for shown in ["登记", "接案", &number, "计划批准", "链接资源", "电话回访", "门卫工作", "60 分钟", "15 分钟"]
    {
        assert!(timeline.contains(shown), "{shown} on the timeline:\n{timeline}");
    }
    let last = c.find(Locator::Css("#timeline > li:last-child")).await.unwrap().text().await.unwrap();
    assert!(last.contains("登记"), "registration is the oldest entry: {last}");

    // What the clicks stored.
    let case = case_of(&app, case_id).await;
    assert_eq!(
        (case.number.as_str(), case.status.as_str(), case.domain.as_str()),
        (number.as_str(), "planned", "social_assistance")
    );
    assert_eq!((case.source.as_str(), case.person_id), ("walk_in", pid));
    assert_eq!(case.plan_approved_on, Some(today));
    let plans = linli::cases::store::plans(&app.st.db, case_id).await.unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].status, "approved");
    let actions = plans[0].action_list();
    assert_eq!((actions[0].action.as_str(), actions[0].owner.as_str()), ("链接社区公益岗位", "温碧晨"));
    assert_eq!(actions[0].due_on.map(|d| d.to_string()), Some(due));
    let approvals =
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'plan.approve' AND actor = 'zhenhua.mgr'").await;
    assert_eq!(approvals, 1, "the manager approved the plan");
    let kinds: Vec<String> =
        linli::cases::store::records(&app.st.db, case_id).await.unwrap().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"resource_linking".into()) && kinds.contains(&"phone_follow_up".into()), "{kinds:?}");
    c.close().await.unwrap();
    eprintln!("story 2 took {:.1} s", started.elapsed().as_secs_f64());
}

/// The demo has no station manager at 清远街道; the story needs one to approve the closure.
async fn qingyuan_manager(app: &TestApp) {
    use linli::staff::store::{StaffInput, create, everything};
    let input = StaffInput {
        account: "qingyuan.mgr".into(),
        display_name: "清远街道社工站 周站长".into(),
        role: linli::auth::Role::StationManager,
        place_ids: vec![app.place_id("清远街道").await],
        organisation_id: None,
        version: None,
    };
    let actor = linli::audit::Actor::system("browser test");
    create(&app.st.db, &everything(), &actor, None, &input, Some(&app.password)).await.unwrap();
    // Signed in as if the first password had already been changed.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE users SET must_change_password = $1 WHERE account = $2")
        .bind(false)
        .bind("qingyuan.mgr")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
}

/// Story 3: 清远街道. A ten-year-old boy whose father died is referred; the worker registers
/// him, opens a child-welfare case, screens him, counsels him, takes him to a group, and asks to
/// close; the station manager approves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_3_qingyuan_child_welfare_from_registration_to_approved_closure_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let started = Instant::now();
    let app = TestApp::new().await;
    qingyuan_manager(&app).await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let today = linli::people::store::today();

    login(&c, &base, "leizeyu", &app.password).await;
    assert_eq!(path(&c).await, "/");
    let birth = today.with_year(today.year() - 10).unwrap_or(today - Duration::days(3653)) - Duration::days(40);
    let dachi = app.place_id("大齿社区").await;
    let pid =
        register(&c, &base, &[("name", "小阳"), ("sex", "male"), ("birth_date", &birth.to_string())], dachi).await;
    // A child's record opens to the case team only: before the case, the worker sees the intake
    // form and nothing else of the record.
    assert_eq!(text_of(&c, "h1").await, "小阳");
    assert!(text_of(&c, "#child-restricted").await.contains("儿童档案"));
    for hidden in ["#person-facts", "#tags", "#timeline", "#reveal-form"] {
        assert!(!present(&c, hidden).await, "{hidden} is not shown before the case");
    }
    let case_id = open_case(&c, "child_welfare", "referral", "父亲去世，母亲患病，孩子孤僻不愿上学").await;
    assert!(text_of(&c, "h1").await.ends_with("· 小阳"));
    c.goto(&format!("{base}/people/{pid}")).await.unwrap();
    assert!(!present(&c, "#child-restricted").await, "the case worker now opens the whole record");
    assert!(text_of(&c, "#person-facts").await.contains("10 岁"));
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();

    // Screening: the form sits in a closed <details>; open it, answer every item.
    click_summary(&c, "assess-child_screening").await;
    let answers = [
        ("guardianship", "2"),
        ("living", "1"),
        ("health", "0"),
        ("schooling", "1"),
        ("emotion", "3"),
        ("safety", "1"),
        ("family", "2"),
    ];
    for (key, option) in answers {
        select(&c, &format!("form#assess-child_screening select[name=item_{key}]"), option).await;
    }
    fill(&c, "#f-child_screening-notes", "情绪低落，回避同伴；母亲住院期间由祖母照看").await;
    click(&c, "#assess-child_screening button[type=submit]").await;
    let assessed = text_of(&c, "#assessments + section").await;
    // 2+1+0+1+3+1+2 = 10: the medium band, shown by its label.
    assert!(assessed.contains("儿童福利需求评估 v1: 10 (中风险)"), "{assessed}");
    assert!(assessed.contains(&(today + Duration::days(90)).to_string()), "reassess in 90 days: {assessed}");
    assert_eq!(text_of(&c, "#case-status").await, "已评估");

    record(&c, "counselling", "50", "个别辅导：谈父亲离世，绘画表达，约定每周一次").await;
    record(&c, "group_activity", "90", "参加社区四点半课堂小组，与两名同龄人结伴").await;
    let records = text_of(&c, "#record-list").await;
    assert!(records.contains("心理疏导") && records.contains("小组活动"), "{records}");
    assert!(records.contains("绘画表达"), "the station's own worker reads counselling notes: {records}");

    // The worker asks to close with a reason.
    let reason = "情绪好转，已恢复上学，母亲出院可以照护";
    fill(&c, "#close-form #f-reason", reason).await;
    click(&c, "#close-form button[type=submit]").await;
    assert_eq!(text_of(&c, "#case-status").await, "待结案审批");
    assert!(!present(&c, "#closure-decision").await, "a worker cannot decide");
    logout(&c).await;

    // The station manager approves.
    login(&c, &base, "qingyuan.mgr", &app.password).await;
    assert_eq!(path(&c).await, "/", "the manager is signed in");
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(text_of(&c, "#closure-reason").await, reason);
    click(&c, "#closure-decision button[value=approve]").await;
    assert_eq!(text_of(&c, "#case-status").await, "已结案");
    assert_eq!(text_of(&c, "#next-follow-up").await, "—", "nothing more is due");
    assert!(!present(&c, "#record-form").await && !present(&c, "#close-form").await, "a closed case takes no more");
    c.goto(&format!("{base}/people/{pid}")).await.unwrap();
    let cases = text_of(&c, "#cases").await;
    assert!(cases.contains("儿童福利") && cases.contains("已结案"), "{cases}");
    assert!(text_of(&c, "#timeline").await.contains(reason), "the closure is on the timeline");

    let case = case_of(&app, case_id).await;
    assert_eq!(
        (case.status.as_str(), case.domain.as_str(), case.source.as_str()),
        ("closed", "child_welfare", "referral")
    );
    assert_eq!(case.closure_reason.as_deref(), Some(reason));
    assert_eq!(case.closed_on, Some(today));
    assert_eq!(case.worker_id, app.user_id("leizeyu").await);
    let a = linli::cases::store::assessments(&app.st.db, case_id).await.unwrap();
    assert_eq!((a.len(), a[0].score, a[0].band.as_str()), (1, 10, "medium"));
    let mut kinds: Vec<String> =
        linli::cases::store::records(&app.st.db, case_id).await.unwrap().into_iter().map(|r| r.kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["counselling", "group_activity"]);
    let closed_by_manager =
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'case.close' AND actor = 'qingyuan.mgr'").await;
    assert_eq!(closed_by_manager, 1);
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.denied'").await >= 1);
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.open'").await >= 1);
    c.close().await.unwrap();
    eprintln!("story 3 took {:.1} s", started.elapsed().as_secs_f64());
}

/// Opens the <details> around a form by clicking its summary, as a person would.
async fn click_summary(c: &Client, form_id: &str) {
    let summary = c
        .find(Locator::XPath(&format!("//form[@id='{form_id}']/parent::details/summary")))
        .await
        .unwrap_or_else(|_| panic!("the summary of form#{form_id}"));
    summary.click().await.unwrap();
}

/// Story 4: 开源街道. An elder of 80 living alone; the tag puts her case on a weekly follow-up,
/// the due list shows her, and the home-visit form works on a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_4_kaiyuan_elder_living_alone_weekly_follow_up_and_phone_width_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let started = Instant::now();
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let today = linli::people::store::today();
    let week = (today + Duration::days(7)).to_string();

    login(&c, &base, "zhengjiangbo", &app.password).await;
    assert_eq!(path(&c).await, "/");
    let minhe = app.place_id("民和社区").await;
    let pid = register(
        &c,
        &base,
        &[("name", "王芳"), ("sex", "female"), ("birth_date", "1944-03-15"), ("room", "3号楼102")],
        minhe,
    )
    .await;
    assert_eq!(text_of(&c, "h1").await, "王芳");
    assert!(text_of(&c, "#person-facts").await.contains("1944-03-15"));

    // The tag, with where it was learned.
    select(&c, "#f-tag", "living_alone").await;
    fill(&c, "#tag-form #f-source", "入户走访核实，子女在外地").await;
    click(&c, "#tag-form button[type=submit]").await;
    let tags = text_of(&c, "#tags").await;
    assert!(tags.contains("独居") && tags.contains("入户走访核实") && tags.contains(&today.to_string()), "{tags}");

    // Elderly-care case with the suggested tier: a visit every week.
    let case_id = open_case(&c, "elderly_care", "visit", "独居高龄，不会用智能手机，子女希望能视频通话").await;
    assert!(text_of(&c, "h1").await.ends_with("· 王芳"));
    assert_eq!(text_of(&c, "#next-follow-up").await, week);
    assert_eq!(value_of(&c, "#f-plan-tier").await, "elder_80_alone");

    // The follow-up list has her.
    c.goto(&format!("{base}/cases/due")).await.unwrap();
    let due = text_of(&c, "#due-list").await;
    assert!(due.contains("王芳") && due.contains(&week) && !due.contains("已超期"), "{due}");
    click(&c, "#due-list a[href^='/cases/']").await;
    assert_eq!(id_in_path(&c, "/cases/").await, case_id, "the due list links to the case");

    // On a phone: the record form fits, a home visit is saved, and no page scrolls sideways.
    c.set_window_size(360, 740).await.unwrap();
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert!(page_width(&c).await <= 360, "case page is {} px wide on a phone", page_width(&c).await);
    let widest: f64 = c
        .execute(
            "return Math.max(...Array.from(document.querySelectorAll('#record-form input, #record-form select, #record-form textarea, #record-form button')).map(e => e.getBoundingClientRect().right));",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(widest <= 360.0, "a record form control reaches {widest} px");
    record(&c, "home_visit", "45", "入户走访：教会用微信视频通话，血压平稳，冰箱食物充足").await;
    assert_eq!(path(&c).await, format!("/cases/{case_id}"));
    let records = text_of(&c, "#record-list").await;
    assert!(records.contains("入户走访") && records.contains("45 分钟") && records.contains("视频通话"), "{records}");
    assert_eq!(text_of(&c, "#next-follow-up").await, week, "a visit today: the next is a week out");
    for page in [format!("/cases/{case_id}"), format!("/people/{pid}")] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        let width = page_width(&c).await;
        assert!(width <= 360, "{page} is {width} px wide on a phone");
    }
    assert!(text_of(&c, "#timeline").await.contains("入户走访"));

    let case = case_of(&app, case_id).await;
    assert_eq!((case.domain.as_str(), case.source.as_str()), ("elderly_care", "visit"));
    assert_eq!(case.tier.as_deref(), Some("elder_80_alone"));
    assert_eq!(case.next_follow_up_on, Some(today + Duration::days(7)));
    let records = linli::cases::store::records(&app.st.db, case_id).await.unwrap();
    assert_eq!((records.len(), records[0].kind.as_str(), records[0].minutes), (1, "home_visit", 45));
    assert_eq!(records[0].occurred_on, today, "a blank date is today");
    assert_eq!(app.count("SELECT COUNT(*) FROM person_tags WHERE tag = 'living_alone'").await, 1);
    c.close().await.unwrap();
    eprintln!("story 4 took {:.1} s", started.elapsed().as_secs_f64());
}

/// A client moves from 振华街道 to 开源街道: 振华's manager offers the case with a reason and
/// 开源's manager accepts it; at 开源 the case is on the manager's list, opens with its history and
/// the reason, and its client opens too and takes a new phone number. 振华 finds neither while
/// 开源 holds the case open; once 开源 closes it, 振华 opens her record again, not the case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transferred_client_opens_at_the_receiving_station_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let started = Instant::now();
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;

    // 振华's worker registers her and opens a case on the person page.
    login(&c, &base, "wenbichen", &app.password).await;
    let yongning = app.place_id("永宁社区").await;
    let pid = register(&c, &base, &[("name", "赵桂芬"), ("birth_date", "1949-04-04")], yongning).await;
    let case_id = open_case(&c, "elderly_care", "visit", "女儿在开源街道，准备搬去同住").await;
    record(&c, "home_visit", "30", "振华站走访：行李已打包，约定下周搬家").await;
    logout(&c).await;

    // The manager transfers it, accepting the confirmation.
    login(&c, &base, "zhenhua.mgr", &app.password).await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    let kaiyuan: (Uuid,) =
        linli::read!(&app.st.db, |db| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(db)
            .await)
        .unwrap();
    select(&c, "#f-station_id", &kaiyuan.0.to_string()).await;
    fill(&c, "#f-transfer-reason", "随女儿迁居开源街道").await;
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css("#transfer-form button[type=submit]")).await.unwrap().click().await.unwrap();
    c.accept_alert().await.unwrap();
    crate::browser::wait_gone(&c, old).await;
    // An offer: the case stays, marked as offered to 开源.
    assert_eq!(path(&c).await, format!("/cases/{case_id}"));
    let pending = text_of(&c, "#offer-pending").await;
    assert!(pending.contains("开源街道社工站"), "{pending}");
    logout(&c).await;

    // 开源's manager accepts it on the offers page.
    login(&c, &base, "kaiyuan.mgr", &app.password).await;
    crate::browser_conflicts::accept_offer(&c, &base, &app, case_id).await;
    logout(&c).await;

    // At 开源: on the list, with its history, the reason, and the client.
    login(&c, &base, "kaiyuan.mgr", &app.password).await;
    c.goto(&format!("{base}/cases")).await.unwrap();
    click(&c, &format!("a[href='/cases/{case_id}']")).await;
    assert!(text_of(&c, "#case-facts").await.contains("开源街道社工站"));
    let moves = text_of(&c, "#transfer-list").await;
    assert!(moves.contains("振华街道社工站 → 开源街道社工站") && moves.contains("随女儿迁居开源街道"), "{moves}");
    let records = text_of(&c, "#record-list").await;
    assert!(records.contains("行李已打包") && records.contains("温碧晨 (振华街道社工站)"), "{records}");
    click(&c, &format!("#case-facts a[href='/people/{pid}']")).await;
    assert_eq!(text_of(&c, "h1").await, "赵桂芬");
    let timeline = text_of(&c, "#timeline").await;
    assert!(timeline.contains("转站") && timeline.contains("随女儿迁居开源街道"), "{timeline}");
    // Her new phone number is saved; she still lives in 永宁社区, outside 开源's places.
    click(&c, "#edit-person").await;
    fill(&c, "#f-phone", "13900139000").await;
    click(&c, "form.card.form button.primary").await;
    assert_eq!(path(&c).await, format!("/people/{pid}"), "saved: {}", c.source().await.unwrap());
    assert_eq!(text_of(&c, "#phone").await, "139****9000");
    assert!(text_of(&c, "#person-facts").await.contains("永宁社区"));
    logout(&c).await;

    // 振华 finds neither while 开源 holds the case open.
    login(&c, &base, "wenbichen", &app.password).await;
    for page in [format!("/people/{pid}"), format!("/cases/{case_id}")] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        assert_eq!(text_of(&c, ".error-page .status").await, "404", "{page}");
    }
    logout(&c).await;

    // 开源 closes it; 振华 serves her again, without reading 开源's case.
    login(&c, &base, "kaiyuan.mgr", &app.password).await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    fill(&c, "#close-form #f-reason", "已在女儿家安顿，服务目标达成").await;
    click(&c, "#close-form button[type=submit]").await;
    click(&c, "#closure-decision button[value=approve]").await;
    assert_eq!(text_of(&c, "#case-status").await, "已结案");
    logout(&c).await;
    login(&c, &base, "wenbichen", &app.password).await;
    c.goto(&format!("{base}/people/{pid}")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "赵桂芬");
    assert_eq!(text_of(&c, "#phone").await, "139****9000");
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    assert_eq!(text_of(&c, ".error-page .status").await, "404");
    c.close().await.unwrap();
    eprintln!("the transfer story took {:.1} s", started.elapsed().as_secs_f64());
}

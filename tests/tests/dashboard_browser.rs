//! The web dashboard in headless Chromium (Debian `chromium` + `chromium-driver`, driven
//! over WebDriver by `fantoccini`): a clinician logs in, sees the alerting patient first,
//! opens them, sees one chart point per day of data, acknowledges the alert and logs out;
//! the patient themself and a clinician outside the care team get "Not found".
//! Screenshots of the patient page and the visit summary go to `target/screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Duration as Days;
use fantoccini::{Client, ClientBuilder, Locator};
use paindiary_server::clock::Clock;
use paindiary_server::domain::Role;
use paindiary_server::entity::{alert_events, alerts};
use paindiary_sync::schema::Entry;
use paindiary_tests::dashboard::{
    AlertFigures, CarePlanItem, endpoint, insert_alert, insert_alert_with, intake, pain, phone,
    screenshot_dir, write_care_plan,
};
use paindiary_tests::{PASSWORD, TestApp, story};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install the Debian packages `chromium` and `chromium-driver` (.ci/run does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    // Wait (bounded) until it answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2600"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session")
}

async fn log_in(c: &Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/dashboard/")).await.unwrap();
    // Not signed in: the list sends us to the login form.
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard/login")
    );
    c.find(Locator::Css("#email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "//h1[normalize-space(.)!='Sign in']").await;
}

/// Waits (bounded) until an element matching `xpath` is on the page: a click navigates
/// asynchronously, so the old page may still be there right after it.
async fn wait_for(c: &Client, xpath: &str) {
    if c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(xpath))
        .await
        .is_err()
    {
        let seen = match c.find(Locator::Css("h1")).await {
            Ok(h) => h.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        panic!("waited for {xpath}; the page's heading is {seen:?}");
    }
}

async fn expect_heading(c: &Client, text: &str) {
    wait_for(c, &format!("//h1[normalize-space(.)='{text}']")).await;
}

async fn dashboard_in_a_browser(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let outsider = app.create_staff(clinic, Role::Physician).await;
    let quiet = app.enrolled_patient(clinic, "PD-0001").await;
    let alerting = app.enrolled_patient(clinic, "PD-0009").await;
    let pid = alerting.patient_id.unwrap();
    for p in [&quiet, &alerting] {
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
    }
    // Ten days with pain data in the last 30 (two entries on some days), synced by the phone.
    let now = app.clock.now();
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid);
    let days_with_data = [1, 2, 3, 5, 8, 9, 12, 15, 20, 25];
    for (i, d) in days_with_data.iter().enumerate() {
        for h in [9, 18].iter().take(1 + i % 2) {
            let t = (today - Days::days(*d))
                .and_hms_opt(*h, 0, 0)
                .unwrap()
                .and_local_timezone(chrono_tz::Europe::Berlin)
                .single()
                .unwrap()
                .with_timezone(&chrono::Utc);
            ph.record(&pain(t, "Europe/Berlin", 4.0 + (*d % 5) as f64), now)
                .unwrap();
        }
    }
    ph.sync(&endpoint(&app, &alerting.token)).await.unwrap();
    let alert = insert_alert(&app, pid, clinic, "severe", "urgent").await;

    let driver = start_driver().await;
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();

    // The clinician.
    let c = browser(&driver).await;
    log_in(&c, &app, &nurse.email).await;
    expect_heading(&c, "Your patients").await;
    let rows = c
        .find_all(Locator::Css("#patients tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].attr("data-patient").await.unwrap().as_deref(),
        Some("PD-0009")
    );
    // The row names the alert in words (it used to show only "1 (urgent)").
    let first = rows[0].text().await.unwrap();
    assert!(first.contains("Severe pain"), "{first}");
    assert!(first.contains("new"), "{first}");
    assert_eq!(
        rows[1].attr("data-patient").await.unwrap().as_deref(),
        Some("PD-0001")
    );
    c.find(Locator::LinkText("PD-0009"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(&c, "Patient PD-0009").await;
    let points = c
        .find_all(Locator::Css("#pain-chart svg circle"))
        .await
        .unwrap();
    assert_eq!(
        points.len(),
        days_with_data.len(),
        "one point per day of data"
    );
    let label = c
        .find(Locator::Css("#pain-chart svg"))
        .await
        .unwrap()
        .attr("aria-labelledby")
        .await
        .unwrap();
    assert_eq!(label.as_deref(), Some("pain-chart-caption"));
    std::fs::write(
        shots.join("patient-page.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Acknowledge from the patient page.
    c.find(Locator::Css("button[aria-label^='Acknowledge']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Back on the patient page, the alert now shows as acknowledged, with no button.
    wait_for(
        &c,
        &format!(
            "//tr[@data-alert='{alert}']/td[@class='status' and normalize-space(.)='acknowledged']"
        ),
    )
    .await;
    expect_heading(&c, "Patient PD-0009").await;
    assert!(
        c.find_all(Locator::Css("button[aria-label^='Acknowledge']"))
            .await
            .unwrap()
            .is_empty()
    );
    let row = alerts::Entity::find_by_id(alert)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "acknowledged");
    assert_eq!(row.acknowledged_by, Some(nurse.user_id.uuid()));
    // Acknowledged in the browser, it neither repeats nor escalates any more.
    assert_eq!(row.next_repeat_at, None);
    assert_eq!(row.escalate_at, None);
    let events = alert_events::Entity::find()
        .filter(alert_events::Column::AlertId.eq(alert))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "acknowledged");

    // The printable visit summary.
    c.find(Locator::LinkText("Printable 30-day visit summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(&c, "Visit summary: patient PD-0009").await;
    let logged = c
        .find(Locator::Css("#summary-figures"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(logged.contains("10 of 30"), "{logged}");
    std::fs::write(
        shots.join("visit-summary.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Log out: the session is gone, the page sends us to the login form again.
    c.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(&c, "Sign in").await;
    c.goto(&app.url(&format!("/dashboard/patients/{pid}")))
        .await
        .unwrap();
    expect_heading(&c, "Sign in").await;
    c.close().await.unwrap();

    // The patient and an outside clinician cannot open the page.
    for who in [&alerting.email, &outsider.email] {
        let c = browser(&driver).await;
        log_in(&c, &app, who).await;
        c.goto(&app.url(&format!("/dashboard/patients/{pid}")))
            .await
            .unwrap();
        expect_heading(&c, "Not found").await;
        let page = c.source().await.unwrap();
        assert!(!page.contains("PD-0009"), "{who}");
        c.close().await.unwrap();
    }
}
story!(dashboard_in_a_browser);

/// Texts of the `data-patient` attributes of the patient list's rows, in order.
async fn listed(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for row in c
        .find_all(Locator::Css("#patients tbody tr[data-patient]"))
        .await
        .unwrap()
    {
        out.push(row.attr("data-patient").await.unwrap().unwrap_or_default());
    }
    out
}

/// Switches the page between screen and print rendering (Chromium's DevTools command,
/// reached through chromedriver), so a screenshot shows the printed layout.
async fn emulate_print(c: &Client, driver: &Driver, print: bool) {
    let sid = c.session_id().await.unwrap().unwrap();
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/session/{sid}/goog/cdp/execute",
            driver.port
        ))
        .json(&serde_json::json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": {"media": if print { "print" } else { "" }}
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

fn local(day: chrono::NaiveDate, hour: u32) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(hour, 0, 0)
        .unwrap()
        .and_local_timezone(chrono_tz::Europe::Berlin)
        .single()
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn triage_inbox_and_causes_in_a_browser(app: Arc<TestApp>) {
    let clinic = app.create_clinic("South").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let physio = app.create_staff(clinic, Role::PhysicalTherapist).await;
    let mut ids = std::collections::HashMap::new();
    for code in ["PD-0101", "PD-0102", "PD-0103", "PD-0104", "PD-0105"] {
        let p = app.enrolled_patient(clinic, code).await;
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
        ids.insert(code, p);
    }
    let pid = |code: &str| ids[code].patient_id.unwrap();
    app.add_to_care_team(pid("PD-0101"), physio.user_id).await;
    let now = app.clock.now();
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();

    // PD-0102 worsens after duloxetine was stopped 5 days ago: 3-4 before, 6-7 after.
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid("PD-0102"));
    for d in 0..21i64 {
        let day = today - Days::days(d);
        let base = if d <= 4 { 6.0 } else { 3.0 };
        ph.record(&pain(local(day, 9), "Europe/Berlin", base), now)
            .unwrap();
        ph.record(&pain(local(day, 19), "Europe/Berlin", base + 1.0), now)
            .unwrap();
    }
    ph.sync(&endpoint(&app, &ids["PD-0102"].token))
        .await
        .unwrap();
    write_care_plan(
        &app,
        &nurse.token,
        pid("PD-0102"),
        0,
        &[CarePlanItem::StoppedMedication {
            drug: "Duloxetine",
            times_per_day: 1.0,
            start: (today - Days::days(60)).to_string(),
            end: (today - Days::days(5)).to_string(),
        }],
    )
    .await;

    let figures = |magnitude, current, usual, cleared: Option<i64>, late| AlertFigures {
        magnitude,
        current,
        usual,
        spread: 0.9,
        first_day: today - Days::days(3),
        cleared_since: cleared.map(|d| today - Days::days(d)),
        late,
    };
    let small = insert_alert_with(
        &app,
        pid("PD-0101"),
        clinic,
        "worsening",
        "warning",
        figures(1.0, 5.0, 4.0, None, false),
    )
    .await;
    let large = insert_alert_with(
        &app,
        pid("PD-0102"),
        clinic,
        "worsening",
        "warning",
        figures(2.3, 6.1, 3.8, None, true),
    )
    .await;
    insert_alert_with(
        &app,
        pid("PD-0103"),
        clinic,
        "severe",
        "urgent",
        figures(1.5, 9.0, 5.0, None, false),
    )
    .await;
    insert_alert_with(
        &app,
        pid("PD-0105"),
        clinic,
        "severe",
        "urgent",
        figures(5.0, 9.5, 4.0, Some(2), false),
    )
    .await;

    let driver = start_driver().await;
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let c = browser(&driver).await;

    // A link from an email, opened signed out, survives the login.
    c.goto(&app.url("/dashboard/alerts?rule=worsening"))
        .await
        .unwrap();
    expect_heading(&c, "Sign in").await;
    c.find(Locator::Css("#email"))
        .await
        .unwrap()
        .send_keys(&nurse.email)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(&c, "Alert inbox").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/dashboard/alerts");
    assert_eq!(url.query(), Some("rule=worsening"));
    // Only the worsening alerts, the larger change first; late data shown once, as a badge.
    let rows = c
        .find_all(Locator::Css("#alerts-table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].attr("data-alert").await.unwrap(),
        Some(large.to_string())
    );
    assert_eq!(
        rows[1].attr("data-alert").await.unwrap(),
        Some(small.to_string())
    );
    let first = rows[0].text().await.unwrap();
    assert!(first.contains("Pain worsening"), "{first}");
    assert!(first.contains("pain 6.1 vs usual 3.8"), "{first}");
    assert_eq!(
        c.find_all(Locator::Css(".badge.late")).await.unwrap().len(),
        1
    );
    std::fs::write(shots.join("inbox.png"), c.screenshot().await.unwrap()).unwrap();

    // Select both and acknowledge them at once.
    for id in [large, small] {
        c.find(Locator::Css(&format!("#sel-{id}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    c.find(Locator::Css("#bulk button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        &format!(
            "//tr[@data-alert='{small}']/td[@class='status' and normalize-space(.)='acknowledged']"
        ),
    )
    .await;
    for id in [large, small] {
        let row = alerts::Entity::find_by_id(id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "acknowledged");
        assert_eq!(row.acknowledged_by, Some(nurse.user_id.uuid()));
    }

    // The list: urgent first, then the larger change, then the smaller; a cleared alert
    // after the active ones; patients without alerts last.
    c.goto(&app.url("/dashboard/")).await.unwrap();
    expect_heading(&c, "Your patients").await;
    assert_eq!(
        listed(&c).await,
        ["PD-0103", "PD-0102", "PD-0101", "PD-0105", "PD-0104"]
    );
    let row = c
        .find(Locator::Css("tr[data-patient='PD-0102']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("pain 6.1 vs usual 3.8, day-to-day spread 0.9"),
        "{row}"
    );
    assert!(row.contains(&(today - Days::days(3)).to_string()), "{row}");
    let cleared = c
        .find(Locator::Css("tr[data-patient='PD-0105'] td.status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cleared, format!("cleared since {}", today - Days::days(2)));
    std::fs::write(
        shots.join("patient-list.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Filters: severity, care-team member, search.
    c.find(Locator::Css("#f-severity option[value='warning']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "//p[@id='patients-count' and starts-with(normalize-space(.), '2 of 5')]",
    )
    .await;
    assert_eq!(listed(&c).await, ["PD-0102", "PD-0101"]);
    c.goto(&app.url(&format!("/dashboard/?member={}", physio.user_id.uuid())))
        .await
        .unwrap();
    wait_for(
        &c,
        "//p[@id='patients-count' and starts-with(normalize-space(.), '1 of 5')]",
    )
    .await;
    assert_eq!(listed(&c).await, ["PD-0101"]);
    c.goto(&app.url("/dashboard/?q=0104")).await.unwrap();
    wait_for(
        &c,
        "//p[@id='patients-count' and starts-with(normalize-space(.), '1 of 5')]",
    )
    .await;
    assert_eq!(listed(&c).await, ["PD-0104"]);

    // The worsening patient's chart marks when duloxetine was stopped.
    c.goto(&app.url(&format!("/dashboard/patients/{}", pid("PD-0102"))))
        .await
        .unwrap();
    expect_heading(&c, "Patient PD-0102").await;
    let stop = c
        .find(Locator::Css("#timeline li[data-kind='drug_stopped']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(stop.contains("Duloxetine stopped"), "{stop}");
    assert!(
        stop.contains(&(today - Days::days(5)).to_string()),
        "{stop}"
    );
    let labels = c
        .find_all(Locator::Css("#pain-chart svg text"))
        .await
        .unwrap();
    let mut marked = false;
    for l in labels {
        marked |= l.text().await.unwrap().contains("Duloxetine stopped");
    }
    assert!(marked, "the pain chart labels the stop");
    std::fs::write(
        shots.join("worsening-patient.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // The visit summary as printed: a screenshot in print rendering, and the PDF's page
    // count (30 days on at most two A4 pages).
    c.goto(&app.url(&format!("/dashboard/patients/{}/summary", pid("PD-0102"))))
        .await
        .unwrap();
    expect_heading(&c, "Visit summary: patient PD-0102").await;
    c.set_window_size(794, 1123).await.unwrap();
    emulate_print(&c, &driver, true).await;
    std::fs::write(
        shots.join("visit-summary-print.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    emulate_print(&c, &driver, false).await;
    let pdf = c
        .print(fantoccini::wd::PrintConfiguration::default())
        .await
        .unwrap();
    std::fs::write(shots.join("visit-summary.pdf"), &pdf).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    let pages = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    assert!((1..=2).contains(&pages), "{pages} printed pages");
    c.close().await.unwrap();
}
story!(triage_inbox_and_causes_in_a_browser);

/// A PRN intake as the phone logs it (the helper's intakes are scheduled doses).
fn prn_intake(recorded_at: chrono::DateTime<chrono::Utc>, drug: &str, mg: f64) -> Entry {
    match intake(recorded_at, drug, mg, "taken") {
        Entry::Medication(mut m) => {
            m.prn = true;
            m.prn_reason = Some("breakthrough pain".into());
            Entry::Medication(m)
        }
        other => other,
    }
}

/// A pain entry naming `regions`.
fn pain_at(recorded_at: chrono::DateTime<chrono::Utc>, score: f64, regions: &[&str]) -> Entry {
    match pain(recorded_at, "Europe/Berlin", score) {
        Entry::Pain(mut p) => {
            p.locations = regions.iter().map(|r| (*r).to_owned()).collect();
            Entry::Pain(p)
        }
        other => other,
    }
}

/// The medication chart has a panel per drug (scheduled doses as bars, PRN doses apart,
/// the opioid's MME on its own axis), the body map shades the regions the patient named
/// by how often, and the care-plan history names who added the medication.
async fn medication_chart_body_map_and_plan_history_in_a_browser(app: Arc<TestApp>) {
    let clinic = app.create_clinic("West").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-0301").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let now = app.clock.now();
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();

    // Six days: oxycodone 10 mg twice a day on schedule, one PRN dose on three days;
    // lower back every day, the left knee on two.
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid);
    for d in 1..=6i64 {
        let day = today - Days::days(d);
        for h in [8, 20] {
            ph.record(&intake(local(day, h), "oxycodone", 10.0, "taken"), now)
                .unwrap();
        }
        if d % 2 == 0 {
            ph.record(&prn_intake(local(day, 14), "oxycodone", 5.0), now)
                .unwrap();
        }
        let regions: &[&str] = if d <= 2 {
            &["lower_back", "knee_left"]
        } else {
            &["lower_back"]
        };
        ph.record(&pain_at(local(day, 10), 5.0, regions), now)
            .unwrap();
    }
    ph.sync(&endpoint(&app, &patient.token)).await.unwrap();

    let driver = start_driver().await;
    let c = browser(&driver).await;
    log_in(&c, &app, &nurse.email).await;

    // The nurse prescribes the oxycodone in the editor: twice a day, PRN up to 2 a day.
    c.goto(&app.url(&format!("/dashboard/patients/{pid}/care-plan")))
        .await
        .unwrap();
    expect_heading(&c, "Care plan: patient PD-0301").await;
    // Before any override the clinic's values are in effect, labelled as such.
    let thresholds = c
        .find(Locator::Css("#thresholds-in-effect"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        thresholds.contains("90 MME/day (clinic setting)"),
        "{thresholds}"
    );
    for (field, value) in [
        ("drug", "Oxycodone"),
        ("dose_amount", "10"),
        ("times_per_day", "2"),
        ("prn_max_per_day", "2"),
    ] {
        c.find(Locator::Css(&format!("#medications-new-{field}")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    c.find(Locator::Css(
        "#medications-new-dose_unit option[value='mg']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    for check in ["prn", "opioid"] {
        c.find(Locator::Css(&format!("#medications-new-{check}")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    c.find(Locator::Css("#medications-new-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "//p[@role='status' and normalize-space(.)='Saved.']").await;
    // An override is shown against the clinic's value.
    c.find(Locator::Css("#thresholds-new-mme_warning"))
        .await
        .unwrap()
        .send_keys("60")
        .await
        .unwrap();
    c.find(Locator::Css("#thresholds-new-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        &c,
        "//table[@id='thresholds-in-effect']//tr[contains(., 'Opioid load: warning') and contains(., '60 MME/day (this patient')]",
    )
    .await;
    let row = c
        .find(Locator::XPath(
            "//table[@id='thresholds-in-effect']//tr[contains(., 'Opioid load: warning')]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("90 MME/day"), "the clinic's value: {row}");

    // The history page lists both changes with their author.
    c.find(Locator::LinkText("Change history (who changed what, when)"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(&c, "Care-plan history: patient PD-0301").await;
    let rows = c
        .find_all(Locator::Css("#plan-history tbody tr"))
        .await
        .unwrap();
    let mut texts = Vec::new();
    for r in &rows {
        texts.push(r.text().await.unwrap());
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Oxycodone") && t.contains(&nurse.email)),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("60") && t.contains(&nurse.email)),
        "{texts:?}"
    );

    // The patient page over the last 7 days.
    c.goto(&app.url(&format!("/dashboard/patients/{pid}")))
        .await
        .unwrap();
    expect_heading(&c, "Patient PD-0301").await;
    let chart = c.find(Locator::Css("#medication-chart svg")).await.unwrap();
    let svg = chart.html(false).await.unwrap();
    assert!(svg.contains("Oxycodone (opioid)"), "panel title");
    assert!(svg.contains("MME (mg/day)"), "the MME axis");
    assert!(svg.contains("Doses per day"), "the doses axis");
    // Six days of scheduled bars (blue) and three PRN bars (orange).
    assert_eq!(svg.matches(r##"fill="#0B5394""##).count(), 6, "{svg}");
    assert_eq!(svg.matches(r##"fill="#C45A00""##).count(), 3, "{svg}");
    let legend = c
        .find(Locator::Css("#medication-chart figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for words in ["taken as needed", "scheduled doses", "right axis"] {
        assert!(legend.contains(words), "{legend}");
    }

    let back = c
        .find(Locator::Css("#body-map svg [data-region='lower_back']"))
        .await
        .unwrap();
    assert_eq!(back.attr("data-count").await.unwrap().as_deref(), Some("6"));
    assert_eq!(back.attr("fill").await.unwrap().as_deref(), Some("#8c1111"));
    let knees = c
        .find_all(Locator::Css("#body-map svg [data-region='knee_left']"))
        .await
        .unwrap();
    assert_eq!(knees.len(), 2, "front and back view");
    assert_eq!(
        knees[0].attr("data-count").await.unwrap().as_deref(),
        Some("2")
    );
    let unnamed = c
        .find(Locator::Css("#body-map svg [data-region='neck']"))
        .await
        .unwrap();
    assert_eq!(
        unnamed.attr("fill").await.unwrap().as_deref(),
        Some("#ffffff")
    );
    // The same counts as text, for screen readers and print.
    for (region, count, share) in [("lower back", "6", "100%"), ("knee (left)", "2", "33%")] {
        wait_for(
            &c,
            &format!(
                "//table[@id='regions']//tr[th='{region}' and td[1]='{count}' and td[2]='{share}']"
            ),
        )
        .await;
    }
    let shots = screenshot_dir();
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(
        shots.join("medication-and-body-map.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.close().await.unwrap();
}
story!(medication_chart_body_map_and_plan_history_in_a_browser);

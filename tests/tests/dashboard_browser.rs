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
use paindiary_tests::dashboard::{endpoint, insert_alert, pain, phone, screenshot_dir};
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
    assert!(rows[0].text().await.unwrap().contains("1 (urgent)"));
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

//! Questionnaires end to end, on SQLite and PostgreSQL: a nurse assigns PHQ-9 in the
//! dashboard's care-plan editor (session + CSRF), the patient's phone (the sync crate's
//! replica) sees it due offline, answers it offline and syncs; the server validates,
//! scores and projects the response, shows the score in the trends API, on the patient
//! page and in the CSV and FHIR R4 exports (validated with `fhir.resources`); item 9
//! answered above 0 opens an urgent alert at once whose email reaches a real SMTP server
//! on loopback; a PHQ-9 total 5 points worse than the previous one is a warning.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use paindiary_server::Config;
use paindiary_server::clock::Clock;
use paindiary_server::domain::{PatientId, Role};
use paindiary_server::entity::{
    alerts as alert_rows, notification_outbox, questionnaire_responses,
};
use paindiary_server::outbox::config::{MailTransportKind, SmtpTls};
use paindiary_server::reminders::due::questionnaires_due;
use paindiary_sync::questionnaire::PHQ9;
use paindiary_sync::schema::{Entry, EntryMeta, QuestionnaireResponse};
use paindiary_tests::dashboard::{endpoint, phone, validate_fhir_r4};
use paindiary_tests::smtp::SmtpServer;
use paindiary_tests::{Backend, PASSWORD, TestApp, run_story_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

const TZ: &str = "Europe/Berlin";
const WAIT: Duration = Duration::from_secs(20);

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn urlencode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            let (k, v) = line.split(';').next()?.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

/// A signed-in dashboard session.
struct Web {
    http: reqwest::Client,
    cookie: String,
    /// This session's CSRF token (the session cookie's, as every form carries it).
    csrf: String,
}

impl Web {
    async fn login(app: &TestApp, email: &str) -> Web {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = http.get(app.url("/dashboard/login")).send().await.unwrap();
        let login_csrf = cookie_of(&form, "pd_login_csrf");
        let ok = http
            .post(app.url("/dashboard/login"))
            .header("cookie", format!("pd_login_csrf={login_csrf}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(&[
                ("email", email),
                ("password", PASSWORD),
                ("csrf", &login_csrf),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        let session = cookie_of(&ok, "pd_session");
        // The token every form of this session carries (derived from the session secret).
        let csrf = paindiary_server::auth::token::hash_secret(&format!(
            "paindiary-dashboard-csrf:{session}"
        ));
        Web {
            http,
            cookie: format!("pd_session={session}"),
            csrf,
        }
    }

    async fn get(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form; returns status, `Location` and body.
    async fn post(
        &self,
        app: &TestApp,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
        let r = self
            .http
            .post(app.url(path))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(pairs))
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status(), location, r.text().await.unwrap())
    }
}

fn smtp_config(c: &mut Config, port: u16) {
    c.public_url = "https://clinic.example".to_owned();
    c.delivery.mail.transport = MailTransportKind::Smtp;
    c.delivery.mail.host = "127.0.0.1".to_owned();
    c.delivery.mail.port = Some(port);
    c.delivery.mail.tls = SmtpTls::None;
    c.delivery.mail.timeout_secs = 5;
}

/// Moves the clock to the next local noon of the patient's zone (so a story's entries
/// fall on the intended local days whenever the suite runs).
fn to_local_noon(app: &TestApp) {
    let tz: chrono_tz::Tz = TZ.parse().unwrap();
    let tomorrow = app
        .clock
        .now()
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .unwrap();
    let noon = tz
        .from_local_datetime(&tomorrow.and_hms_opt(12, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    app.clock.advance(noon - app.clock.now());
}

fn local_day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&TZ.parse::<chrono_tz::Tz>().unwrap())
        .date_naive()
}

/// A PHQ-9 response answered at `at` with the nine answers in the form's order.
fn phq9(at: DateTime<Utc>, answers: [f64; 9]) -> Entry {
    Entry::Questionnaire(QuestionnaireResponse {
        meta: EntryMeta {
            recorded_at: at,
            tz: TZ.into(),
            deleted_at: None,
            updated_at: None,
        },
        instrument: "phq9".into(),
        version: "1".into(),
        answers: PHQ9
            .items
            .iter()
            .zip(answers)
            .map(|(item, v)| (item.link_id.to_owned(), v))
            .collect(),
        note: None,
    })
}

async fn alerts_of(app: &TestApp, patient: PatientId) -> Vec<alert_rows::Model> {
    alert_rows::Entity::find()
        .filter(alert_rows::Column::PatientId.eq(patient.uuid()))
        .order_by_asc(alert_rows::Column::OpenedAt)
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn outbox(app: &TestApp, kind: &str) -> Vec<notification_outbox::Model> {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Kind.eq(kind))
        .all(&app.state.db)
        .await
        .unwrap()
}

async fn care_team_assigns_phq9_and_a_phone_answers_it_offline(
    app: Arc<TestApp>,
    smtp: Arc<SmtpServer>,
) {
    to_local_noon(&app);
    let clinic = app.create_clinic("Pain clinic").await;
    let patient = app.enrolled_patient(clinic, "PD-9001").await;
    let pid = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(pid, nurse.user_id).await;
    let today = local_day(app.clock.now());

    // The nurse assigns PHQ-9 every 4 weeks from today in the care-plan editor.
    let web = Web::login(&app, &nurse.email).await;
    let page = format!("/dashboard/patients/{pid}/care-plan");
    let (status, html) = web.get(&app, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Assign a questionnaire"), "{html}");
    // A period of 0 days is refused on the form and writes nothing.
    let (status, _, html) = web
        .post(
            &app,
            &format!("{page}/questionnaires"),
            &[
                ("csrf", &web.csrf),
                ("instrument", "phq9"),
                ("every_days", "0"),
                ("start_date", &today.to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("The change was not saved"));
    let (status, location, _) = web
        .post(
            &app,
            &format!("{page}/questionnaires"),
            &[
                ("csrf", &web.csrf),
                ("instrument", "phq9"),
                ("every_days", "28"),
                ("start_date", &today.to_string()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let (_, html) = web.get(&app, &page).await;
    assert!(html.contains("PHQ-9"), "{html}");

    // The phone syncs, then (offline) sees PHQ-9 due and answers it: item 9 is 1.
    let dir = tempfile::tempdir().unwrap();
    let mut phone = phone(dir.path(), pid);
    let ep = endpoint(&app, &patient.token);
    phone.sync(&ep).await.unwrap();
    assert_eq!(phone.due_questionnaires(today).unwrap(), ["phq9"]);
    // The server's reminder decision agrees: PHQ-9 as assigned, and the weekly PEG
    // check-in (not assigned, none logged this week).
    let server_due = |app: &TestApp| {
        let db = app.state.db.clone();
        let patient = pid.uuid();
        async move { questionnaires_due(&db, patient, today).await.unwrap() }
    };
    assert_eq!(server_due(&app).await, ["phq9", "peg"]);
    let answered_at = app.clock.now() - TimeDelta::minutes(5);
    // 1+1+2+2+1+1+1+2+1 = 12: moderate.
    phone
        .record(
            &phq9(answered_at, [1., 1., 2., 2., 1., 1., 1., 2., 1.]),
            answered_at,
        )
        .unwrap();
    assert!(phone.due_questionnaires(today).unwrap().is_empty());
    // An answer off the scale is refused on the phone, with the item named.
    let err = phone
        .record(
            &phq9(answered_at, [4., 0., 0., 0., 0., 0., 0., 0., 0.]),
            answered_at,
        )
        .unwrap_err();
    assert!(err.to_string().contains("44250-9"), "{err}");
    phone.sync(&ep).await.unwrap();

    // Projected and scored.
    let rows = questionnaire_responses::Entity::find()
        .filter(questionnaire_responses::Column::PatientId.eq(pid.uuid()))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert!(row.valid);
    assert_eq!(row.total, Some(12.0));
    assert_eq!(row.band.as_deref(), Some("moderate"));
    assert!(row.safety_positive);
    assert_eq!(row.local_date, today);
    // Answered in its period: no longer due for the reminder either.
    assert_eq!(server_due(&app).await, ["peg"]);

    // Item 9 opened an urgent alert at once, with the clinic's escalation set.
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].rule.as_str(), found[0].severity.as_str()),
        ("questionnaire_safety", "urgent")
    );
    assert!(found[0].escalate_at.is_some());
    let opened = outbox(&app, "alert_opened").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let report = paindiary_server::outbox::drain_once(&app.state, app.clock.now())
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let mail = smtp.wait_for(1, WAIT).await;
    assert_eq!(mail[0].to, [nurse.email.to_lowercase()]);
    let text = mail[0].text();
    assert!(text.contains("PD-9001"), "{text}");
    // Minimum necessary: the rule and the patient's code, no score, band or answers.
    assert!(text.contains("Questionnaire safety answer"), "{text}");
    assert!(
        !text.contains("moderate") && !text.contains("44260-8") && !text.contains("self-harm"),
        "{text}"
    );

    // The score in the trends API, on the patient page and in the exports.
    let (status, trends) = app
        .get(
            &format!("/api/v1/patients/{pid}/trends?from={today}&to={today}"),
            &nurse.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{trends}");
    let q = &trends["questionnaires"][0];
    assert_eq!(q["instrument"], "phq9");
    assert_eq!(q["total"], 12.0);
    assert_eq!(q["band"], "moderate");
    let (status, html) = web
        .get(
            &app,
            &format!("/dashboard/patients/{pid}?from={today}&to={today}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("12 of 27"), "{html}");
    assert!(html.contains("self-harm item answered above 0"));

    let csv = app
        .client
        .get(app.url(&format!("/api/v1/patients/{pid}/export/questionnaires.csv")))
        .bearer_auth(&nurse.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].ends_with(
        ",instrument,version,answers,answered,total,prorated,band,safety_item_positive,note"
    ));
    assert!(lines[1].contains(",\"phq9\",\"1\","), "{}", lines[1]);
    assert!(
        lines[1].contains(",9,12,false,\"moderate\",true,"),
        "{}",
        lines[1]
    );

    let bundle: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/patients/{pid}/export/fhir")))
        .bearer_auth(&nurse.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let summary = validate_fhir_r4(&bundle);
    assert_eq!(
        summary["questionnaire_totals"]["44261-6"],
        serde_json::json!([12.0])
    );
    let response = &summary["QuestionnaireResponse"][0];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["answers"]["44260-8"], 1);
    assert_eq!(response["answers"].as_object().unwrap().len(), 9);

    // Four weeks later: PHQ-9 is due again; the answer is 5 points worse with item 9 at
    // 0: a warning (one more email), and the safety alert gets no second email.
    app.clock.advance(TimeDelta::days(28));
    let later = local_day(app.clock.now());
    assert_eq!(phone.due_questionnaires(later).unwrap(), ["phq9"]);
    let at = app.clock.now() - TimeDelta::minutes(5);
    // 17: moderately severe.
    phone
        .record(&phq9(at, [2., 2., 2., 2., 2., 2., 2., 3., 0.]), at)
        .unwrap();
    phone.sync(&ep).await.unwrap();
    let found = alerts_of(&app, pid).await;
    let rules: Vec<(&str, &str)> = found
        .iter()
        .map(|a| (a.rule.as_str(), a.severity.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("questionnaire_safety", "urgent"),
            ("questionnaire_worsening", "warning")
        ]
    );
    assert_eq!(found[1].magnitude, Some(5.0));
    assert_eq!(outbox(&app, "alert_opened").await.len(), 2);
}

mod care_team_assigns_phq9_and_a_phone_answers_it_offline {
    use super::*;

    async fn run(backend: Backend) {
        let smtp = Arc::new(SmtpServer::start().await);
        let port = smtp.port();
        run_story_with(
            backend,
            move |c| smtp_config(c, port),
            move |app| super::care_team_assigns_phq9_and_a_phone_answers_it_offline(app, smtp),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await
    }
}

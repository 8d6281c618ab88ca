//! The dashboard's care-plan editor end to end, on SQLite and PostgreSQL: a care-team
//! nurse signs in over real HTTP (session cookie + CSRF), edits the care plan with form
//! posts, and the patient's phones receive the change by sync: one connected before the
//! edit (without reconnecting), one that connects after. Invalid input comes back on the
//! form and writes nothing; outsiders get 404; a threshold override changes alerts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use automerge::AutoCommit;
use automerge::sync::{Message as SyncMessage, State as SyncState, SyncDoc};
use paindiary_server::clock::Clock;
use paindiary_server::domain::{PatientId, Role};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::protocol::{Message, PeerId};
use paindiary_sync::replica::{Connection, SyncTarget};
use paindiary_sync::schema::DocKind;
use paindiary_sync::schema::care_plan::{CarePlan, read_care_plan};
use paindiary_tests::dashboard::{endpoint, pain, phone};
use paindiary_tests::{PASSWORD, TestApp, story};
use reqwest::StatusCode;

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

/// The server's stored care plan of `patient`.
async fn stored_plan(app: &TestApp, patient: PatientId) -> CarePlan {
    paindiary_server::trends::care_plan(&app.state.db, patient.uuid())
        .await
        .unwrap()
}

fn care_plan_id(patient: PatientId) -> paindiary_sync::ids::DocumentId {
    DocKind::CarePlan {
        patient: DocPatientId::from_uuid(patient.uuid()),
    }
    .document_id()
}

/// A phone that stays connected: it fetched the care plan and keeps listening.
struct LivePhone {
    conn: Connection,
    doc: AutoCommit,
    state: SyncState,
    id: paindiary_sync::ids::DocumentId,
}

impl LivePhone {
    async fn connect(app: &TestApp, token: &str, patient: PatientId) -> LivePhone {
        let id = care_plan_id(patient);
        let mut conn = Connection::connect(
            &endpoint(app, token),
            PeerId::new(format!("live-{}", uuid::Uuid::new_v4().simple())).unwrap(),
            None,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let mut doc = AutoCommit::new();
        let mut state = SyncState::new();
        let outcome = conn
            .sync_documents(
                &mut [SyncTarget {
                    id,
                    doc: &mut doc,
                    state: &mut state,
                }],
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert!(!outcome[0].unavailable, "the patient reads their care plan");
        LivePhone {
            conn,
            doc,
            state,
            id,
        }
    }

    /// Applies what the server pushes until `done` holds for the care plan (deadline 10 s).
    async fn wait_for(&mut self, done: impl Fn(&CarePlan) -> bool) -> CarePlan {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let plan = read_care_plan(&self.doc);
            if done(&plan) {
                return plan;
            }
            let message = tokio::time::timeout_at(deadline, self.conn.recv())
                .await
                .expect("the change reached the connected phone in time")
                .unwrap();
            if let Message::Sync {
                document_id, data, ..
            } = message
                && document_id == self.id
            {
                self.doc
                    .sync()
                    .receive_sync_message(&mut self.state, SyncMessage::decode(&data).unwrap())
                    .unwrap();
            }
        }
    }
}

async fn nurse_adds_a_medication_and_phones_receive_it(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-3001").await;
    let pid = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(pid, nurse.user_id).await;
    let web = Web::login(&app, &nurse.email).await;
    let page = format!("/dashboard/patients/{pid}/care-plan");

    // The phone is connected before the edit.
    let mut live = LivePhone::connect(&app, &patient.token, pid).await;
    assert!(read_care_plan(&live.doc).medications.is_empty());

    let (status, html) = web.get(&app, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<label for="medications-new-drug">Drug</label>"#));
    assert!(html.contains(&format!(r#"name="csrf" value="{}""#, web.csrf)));

    let (status, location, _) = web
        .post(
            &app,
            &format!("{page}/medications"),
            &[
                ("csrf", &web.csrf),
                ("drug", "Oxycodone"),
                ("dose_amount", "5"),
                ("dose_unit", "mg"),
                ("route", "oral"),
                ("times_per_day", ""),
                ("prn", "on"),
                ("prn_max_per_day", "3"),
                ("opioid", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with(&page), "{location}");

    // Pushed to the connected phone without reconnecting.
    let plan = live.wait_for(|p| !p.medications.is_empty()).await;
    let med = &plan.medications[0];
    assert_eq!(med.drug, "Oxycodone");
    assert_eq!(med.dose_amount, Some(5.0));
    assert_eq!(med.dose_unit.as_deref(), Some("mg"));
    assert!(med.prn && med.opioid);
    assert_eq!(med.prn_max_per_day, Some(3.0));
    assert_eq!(med.times_per_day, None);

    // A phone that connects afterwards gets it too.
    let tmp = tempfile::tempdir().unwrap();
    let mut later = phone(tmp.path(), pid);
    later.sync(&endpoint(&app, &patient.token)).await.unwrap();
    let on_later = later.care_plan().unwrap().expect("care plan synced");
    assert_eq!(on_later.medications, plan.medications);

    // Stored, shown, and audited against the patient with the nurse as the writer.
    assert_eq!(stored_plan(&app, pid).await.medications, plan.medications);
    let (_, html) = web.get(&app, &format!("{page}?saved=1")).await;
    assert!(html.contains("Oxycodone") && html.contains("Saved."));
    assert_eq!(
        app.count_with(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'care_plan.edit' AND actor_user_id = $1 AND patient_id = $2",
            vec![nurse.user_id.uuid().into(), pid.uuid().into()],
        )
        .await,
        1
    );

    // Edit it (dose, and clear the PRN flag and limit) and then remove it: the live phone
    // follows each step.
    let item = med.id.clone();
    let (status, _, _) = web
        .post(
            &app,
            &format!("{page}/medications"),
            &[
                ("csrf", &web.csrf),
                ("item", &item),
                ("drug", "Oxycodone"),
                ("dose_amount", "10"),
                ("dose_unit", "mg"),
                ("times_per_day", "2"),
                ("opioid", "on"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let plan = live
        .wait_for(|p| {
            p.medications
                .first()
                .is_some_and(|m| m.dose_amount == Some(10.0))
        })
        .await;
    assert_eq!(plan.medications.len(), 1);
    assert!(!plan.medications[0].prn);
    assert_eq!(plan.medications[0].prn_max_per_day, None);
    assert_eq!(plan.medications[0].times_per_day, Some(2.0));

    let (status, _, _) = web
        .post(
            &app,
            &format!("{page}/medications/remove"),
            &[("csrf", &web.csrf), ("item", &item)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    live.wait_for(|p| p.medications.is_empty()).await;

    // Exercises and interventions go the same way.
    let (status, _, _) = web
        .post(
            &app,
            &format!("{page}/exercises"),
            &[
                ("csrf", &web.csrf),
                ("activity", "walking"),
                ("minutes_per_session", "30"),
                ("sessions_per_week", "5"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = web
        .post(
            &app,
            &format!("{page}/interventions"),
            &[
                ("csrf", &web.csrf),
                ("kind", "epidural_steroid_injection"),
                ("date", "2026-11-02"),
                ("region", "L4-L5 left"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let plan = live
        .wait_for(|p| !p.exercises.is_empty() && !p.interventions.is_empty())
        .await;
    assert_eq!(plan.exercises[0].minutes_per_session, Some(30.0));
    assert_eq!(plan.interventions[0].region.as_deref(), Some("L4-L5 left"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'care_plan.edit'")
            .await,
        5
    );
    live.conn.close().await;
}
story!(nurse_adds_a_medication_and_phones_receive_it);

async fn invalid_input_is_shown_on_the_form_and_writes_nothing(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-3002").await;
    let pid = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(pid, nurse.user_id).await;
    let web = Web::login(&app, &nurse.email).await;
    let page = format!("/dashboard/patients/{pid}/care-plan");
    let chunks = || {
        app.count_with(
            "SELECT COUNT(*) FROM document_chunks WHERE document_id = $1",
            vec![care_plan_id(pid).to_string().into()],
        )
    };
    let before = chunks().await;

    let (status, _, html) = web
        .post(
            &app,
            &format!("{page}/medications"),
            &[
                ("csrf", &web.csrf),
                ("drug", "Ibuprofen <b>"),
                ("dose_amount", "-5"),
                ("dose_unit", "bucket"),
                ("prn", "on"),
                ("prn_max_per_day", "0"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Each message next to its field, linked from the summary; the input kept, escaped.
    for (field, message) in [
        ("dose_amount", "Must be more than 0."),
        ("dose_unit", "Choose one of the listed values."),
        ("prn_max_per_day", "Must be at least 1."),
    ] {
        let id = format!("medications-new-{field}");
        assert!(
            html.contains(&format!(
                r#"<span class="error" id="{id}-error">{message}</span>"#
            )),
            "{field}: {html}"
        );
        assert!(html.contains(&format!(r##"href="#{id}""##)), "{field}");
    }
    // Escaped by the template engine, which writes numeric references (&#60; for <).
    assert!(html.contains(r#"value="Ibuprofen &#60;b&#62;""#));
    assert!(html.contains(r#"aria-invalid="true""#));

    let (status, _, html) = web
        .post(
            &app,
            &format!("{page}/exercises"),
            &[
                ("csrf", &web.csrf),
                ("activity", ""),
                ("minutes_per_session", "ten"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Enter the activity."));
    assert!(html.contains("Enter a number."));

    // Nothing was written: no chunk, no edit audited, the plan empty.
    assert_eq!(chunks().await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'care_plan.edit'")
            .await,
        0
    );
    assert_eq!(stored_plan(&app, pid).await, CarePlan::default());
}
story!(invalid_input_is_shown_on_the_form_and_writes_nothing);

async fn csrf_and_care_team_are_enforced(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-3003").await;
    let pid = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(pid, nurse.user_id).await;
    let outsider = app.create_staff(clinic, Role::Physician).await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let page = format!("/dashboard/patients/{pid}/care-plan");
    let add = format!("{page}/medications");
    let medication = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("drug".to_owned(), "Tramadol".to_owned()),
        ]
    };

    let web = Web::login(&app, &nurse.email).await;
    for csrf in ["", "0000"] {
        let form = medication(csrf);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, _, _) = web.post(&app, &add, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    let (status, _, _) = web.post(&app, &add, &[("drug", "Tramadol")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no csrf field");

    // The patient, a clinician outside the care team and an admin outside it: 404, with
    // their own valid CSRF token too.
    for who in [&patient.email, &outsider.email, &admin.email] {
        let other = Web::login(&app, who).await;
        let (status, html) = other.get(&app, &page).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
        assert!(!html.contains("PD-3003"));
        let form = medication(&other.csrf);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, _, _) = other.post(&app, &add, &form).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
        let (status, _, _) = other
            .post(
                &app,
                &format!("{page}/medications/remove"),
                &[("csrf", &other.csrf), ("item", "x")],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
    }
    assert_eq!(stored_plan(&app, pid).await, CarePlan::default());
    assert!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'care_plan.submit' AND outcome = 'denied'")
            .await
            >= 6
    );
}
story!(csrf_and_care_team_are_enforced);

async fn threshold_override_changes_alert_evaluation(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-3004").await;
    let pid = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(pid, nurse.user_id).await;

    // Daily maxima of 7 on the last two days: not severe at the clinic's default (8).
    let now = app.clock.now();
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid);
    for days_ago in [1, 0] {
        let when = now - chrono::Duration::days(days_ago) - chrono::Duration::hours(1);
        ph.record(&pain(when, "Europe/Berlin", 7.0), now).unwrap();
    }
    ph.sync(&endpoint(&app, &patient.token)).await.unwrap();
    let severe = || {
        app.count_with(
            "SELECT COUNT(*) FROM alerts WHERE patient_id = $1 AND rule = 'severe'",
            vec![pid.uuid().into()],
        )
    };
    assert_eq!(severe().await, 0);

    // The nurse lowers this patient's severe score to 7: the recent days are evaluated
    // again at once.
    let web = Web::login(&app, &nurse.email).await;
    let (status, _, _) = web
        .post(
            &app,
            &format!("/dashboard/patients/{pid}/care-plan/thresholds"),
            &[("csrf", &web.csrf), ("severe_score", "7"), ("mme_info", "")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        stored_plan(&app, pid).await.thresholds.severe_score,
        Some(7.0)
    );
    assert_eq!(severe().await, 1);
}
story!(threshold_override_changes_alert_evaluation);

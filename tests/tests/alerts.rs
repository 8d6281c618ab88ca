//! End-to-end stories for alerts: a phone syncs its diary over the real WebSocket hub,
//! the rules run inside the projection transaction, alerts go through their lifecycle
//! over the REST API, and the timers (repeat, escalation, digest) fire once, driven by
//! the manual clock. Deliveries are checked as outbox rows (the delivery worker's input).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use paindiary_server::alerts;
use paindiary_server::clock::Clock;
use paindiary_server::domain::{PatientId, Role};
use paindiary_server::entity::{alerts as alert_rows, notification_outbox};
use paindiary_sync::ids::PatientId as DocPatientId;
use paindiary_sync::replica::{Durability, Replica, ServerEndpoint};
use paindiary_sync::schema::care_plan;
use paindiary_sync::schema::month::FieldValue;
use paindiary_sync::schema::{Entry, EntryMeta, MedicationIntake, PainEntry};
use paindiary_tests::{Actor, TestApp, story};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

const TZ: &str = "Europe/Berlin";

fn meta(at: DateTime<Utc>) -> EntryMeta {
    EntryMeta {
        recorded_at: at,
        tz: TZ.into(),
        deleted_at: None,
        updated_at: None,
    }
}

fn pain(score: f64, at: DateTime<Utc>) -> Entry {
    Entry::Pain(PainEntry {
        meta: meta(at),
        score,
        worst: None,
        least: None,
        locations: vec!["lower_back".into()],
        location_note: None,
        qualities: vec![],
        note: None,
    })
}

fn morphine(mg: f64, at: DateTime<Utc>) -> Entry {
    Entry::Medication(MedicationIntake {
        meta: meta(at),
        drug: "morphine".into(),
        rxnorm: None,
        amount: mg,
        unit: "mg".into(),
        route: Some("oral".into()),
        status: "taken".into(),
        prn: false,
        prn_reason: None,
        note: None,
    })
}

/// A patient's phone: a real replica syncing over the real WebSocket endpoint.
struct Phone {
    replica: Replica,
    endpoint: ServerEndpoint,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn new(app: &TestApp, patient: &Actor) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let doc_patient = DocPatientId::from_uuid(patient.patient_id.unwrap().uuid());
        Phone {
            replica: Replica::open(dir.path(), doc_patient, Durability::Buffered).unwrap(),
            endpoint: ServerEndpoint {
                url: format!("{}/sync", app.base_url.replace("http://", "ws://")),
                token: Some(patient.token.clone()),
            },
            _dir: dir,
        }
    }

    fn log(&mut self, entry: Entry, now: DateTime<Utc>) {
        self.replica.record(&entry, now).unwrap();
    }

    async fn sync(&mut self) {
        self.replica.sync(&self.endpoint).await.unwrap();
    }
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
        .order_by_asc(notification_outbox::Column::Recipient)
        .all(&app.state.db)
        .await
        .unwrap()
}

fn recipients(rows: &[notification_outbox::Model]) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|r| (r.channel.clone(), r.recipient.clone()))
        .collect()
}

fn local_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&TZ.parse::<chrono_tz::Tz>().unwrap())
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// Moves the clock to the next local noon of the patient's zone, so that a story's
/// entries minutes apart fall on one local day whenever the suite runs (run near
/// midnight in Berlin, "30 minutes ago" was yesterday there).
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

async fn put_settings(app: &TestApp, admin: &Actor, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        "/api/v1/admin/notification-settings",
        Some(&admin.token),
        Some(body),
    )
    .await
}

async fn worsening_alert_notifies_once_and_goes_through_its_lifecycle(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let outsider = app.create_staff(clinic, Role::Physician).await;
    let patient = app.enrolled_patient(clinic, "PD-2001").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    app.add_to_care_team(pid, physician.user_id).await;

    // The clinic sends webhooks too; the secret is write-only.
    let hook = "https://hooks.example.org/paindiary";
    let (status, body) = put_settings(
        &app,
        &admin,
        json!({"webhook_url": hook, "webhook_secret": "a-very-secret-key-123",
               "secondary_recipients": ["oncall@example.org"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["webhook_secret_set"], true);
    assert!(!body.to_string().contains("a-very-secret-key-123"));
    let (status, _) = put_settings(
        &app,
        &admin,
        json!({"thresholds": {"severe_threshold": 11}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = put_settings(&app, &nurse, json!({"include_details": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Ten weeks at 3, synced in one go three days ago: the patient's usual.
    let mut phone = Phone::new(&app, &patient);
    app.clock.advance(TimeDelta::days(-3));
    let start = app.clock.now();
    for back in 1..=70 {
        phone.log(pain(3.0, start - TimeDelta::days(back)), start);
    }
    phone.sync().await;
    assert!(
        alerts_of(&app, pid).await.is_empty(),
        "a stable baseline raises nothing"
    );

    // Then days at 5, each synced the day it is logged: one bad day is not a rise, the
    // second is (2 points above a steady usual of 3).
    let now = app.clock.now();
    phone.log(pain(5.0, now), now);
    phone.sync().await;
    assert!(
        alerts_of(&app, pid).await.is_empty(),
        "one day is not a rise"
    );
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    phone.log(pain(5.0, now), now);
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1, "exactly one alert: {found:?}");
    let alert = &found[0];
    assert_eq!(
        (
            alert.rule.as_str(),
            alert.severity.as_str(),
            alert.status.as_str()
        ),
        ("worsening", "warning", "open")
    );
    assert!(!alert.reported_late);
    assert_eq!(alert.local_day.to_string(), local_day(app.clock.now()));
    assert_eq!(alert.latest_day, Some(alert.local_day));
    assert_eq!(
        (alert.current_value, alert.usual_value),
        (Some(5.0), Some(3.0))
    );
    assert!(
        alert
            .explanation
            .starts_with("Pain averaged 5.0 over the last 2 days with entries"),
        "{}",
        alert.explanation
    );
    let opened = outbox(&app, "alert_opened").await;
    assert_eq!(
        recipients(&opened),
        BTreeSet::from([
            ("email".to_owned(), nurse.email.clone()),
            ("email".to_owned(), physician.email.clone()),
            ("webhook".to_owned(), hook.to_owned()),
        ])
    );
    for row in &opened {
        let payload: Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(payload["alert_id"], json!(alert.id));
        assert_eq!(payload["patient_display_code"], "PD-2001");
        assert_eq!(payload["rule"], "worsening");
        assert_eq!(payload["severity"], "warning");
        assert_eq!(
            payload["dashboard_path"],
            format!("/dashboard/patients/{}", pid.uuid())
        );
        assert_eq!(payload["include_details"], false);
        assert_eq!(payload["explanation"], Value::Null);
        // Minimum necessary: exactly these fields, none of them a score, a baseline or
        // explanation text. (Searching the text for "3.0" would also match a timestamp
        // such as 09:15:33.05.)
        let fields: BTreeSet<&str> = payload
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "alert_id",
                "dashboard_path",
                "explanation",
                "include_details",
                "local_day",
                "opened_at",
                "patient_display_code",
                "patient_id",
                "reported_late",
                "rule",
                "rule_title",
                "severity",
                "trigger_count",
            ])
        );
        let text = row.payload.as_str();
        assert!(
            !text.contains("score") && !text.contains("baseline") && !text.contains("mean"),
            "{text}"
        );
        assert!(
            row.idempotency_key
                .starts_with(&format!("alert:{}:alert_opened:", alert.id))
        );
    }

    // A third bad day attaches a trigger and sends nothing new; the first trigger day
    // stays, the latest moves.
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    phone.log(pain(5.0, now), now);
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trigger_count, alert.trigger_count + 1);
    assert_eq!(
        found[0].local_day, alert.local_day,
        "the first trigger day never moves"
    );
    assert_eq!(
        found[0].latest_day.map(|d| d.to_string()),
        Some(local_day(now))
    );
    assert_eq!(outbox(&app, "alert_opened").await.len(), 3);

    // The care team lists it; an outsider sees nothing and gets 404 on the alert.
    let id = alert.id;
    let (status, body) = app
        .get("/api/v1/alerts?status=open&severity=warning", &nurse.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["alerts"][0]["patient_display_code"], "PD-2001");
    let (_, body) = app
        .get("/api/v1/alerts?status=resolved", &nurse.token)
        .await;
    assert!(body["alerts"].as_array().unwrap().is_empty());
    let (_, body) = app.get("/api/v1/alerts", &outsider.token).await;
    assert!(body["alerts"].as_array().unwrap().is_empty(), "{body}");
    let path = format!("/api/v1/alerts/{id}");
    assert_eq!(
        app.get(&path, &outsider.token).await.0,
        StatusCode::NOT_FOUND
    );
    let ack = format!("/api/v1/alerts/{id}/acknowledge");
    let (status, body) = app.post(&ack, Some(&outsider.token), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        app.get(&format!("/api/v1/alerts/{}", Uuid::now_v7()), &nurse.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/alerts", &patient.token).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, body) = app.get("/api/v1/alerts", &admin.token).await;
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    // The admin runs the clinic, not the patient's care: no explanation, no figures.
    let seen_by_admin = &body["alerts"][0];
    assert_eq!(seen_by_admin["rule"], "worsening");
    assert!(
        seen_by_admin.get("explanation").is_none(),
        "{seen_by_admin}"
    );
    assert!(seen_by_admin.get("figures").is_none(), "{seen_by_admin}");
    let (_, body) = app.get(&path, &admin.token).await;
    assert!(body.get("explanation").is_none(), "{body}");
    let (_, body) = app.get("/api/v1/alerts", &nurse.token).await;
    let seen_by_nurse = &body["alerts"][0];
    assert_eq!(seen_by_nurse["figures"]["usual"], 3.0);
    assert_eq!(seen_by_nurse["currency"], "active");

    // Unacknowledged after the repeat interval (24 h by default): re-notified once.
    app.clock.advance(TimeDelta::hours(24));
    let report = alerts::tick(&app.state, app.clock.now()).await.unwrap();
    assert_eq!(report.repeated, 1);
    assert_eq!(report.escalated, 0, "a warning never escalates");
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .repeated,
        0
    );
    assert_eq!(
        recipients(&outbox(&app, "alert_repeat").await),
        recipients(&opened)
    );

    // Acknowledge, then resolve, through the API.
    let (status, body) = app.post(&ack, Some(&nurse.token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "acknowledged");
    assert_eq!(body["acknowledged_by"], json!(nurse.user_id));
    let (status, _) = app.post(&ack, Some(&physician.token), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "acknowledged once");
    app.clock.advance(TimeDelta::hours(25));
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .repeated,
        0,
        "no reminder once acknowledged"
    );
    let (status, _) = app
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&admin.token),
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "admins see alerts but do not handle them"
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&physician.token),
            json!({"note": "Flare after gardening; plan adjusted."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(
        body["resolution_note"],
        "Flare after gardening; plan adjusted."
    );
    let (status, body) = app.get(&path, &nurse.token).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "notified",
            "triggered",
            "repeated",
            "acknowledged",
            "resolved"
        ]
    );
    let resolved = &body["history"][5];
    assert_eq!(resolved["actor_user_id"], json!(physician.user_id));
    assert_eq!(resolved["detail"], "Flare after gardening; plan adjusted.");

    // Resolved frees the slot: the worsening, still present on the next day, opens a new alert.
    app.clock.advance(TimeDelta::hours(1));
    let now = app.clock.now();
    phone.log(pain(6.0, now), now);
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(
        found.iter().filter(|a| a.status == "open").count(),
        1,
        "{found:?}"
    );
    assert_eq!(found.len(), 2);
}
story!(worsening_alert_notifies_once_and_goes_through_its_lifecycle);

async fn severe_pain_escalates_once_to_secondary_recipients(app: Arc<TestApp>) {
    let clinic = app.create_clinic("South").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-3001").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let (status, body) = put_settings(
        &app,
        &admin,
        json!({"secondary_recipients": ["oncall@example.org", "Chief@Example.org"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A single 8 does not alert; an 8 on the next day too does, urgently.
    let mut phone = Phone::new(&app, &patient);
    app.clock.advance(TimeDelta::days(-1));
    let now = app.clock.now();
    phone.log(pain(8.0, now), now);
    phone.sync().await;
    assert!(alerts_of(&app, pid).await.is_empty());
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    phone.log(pain(8.0, now), now);
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].rule.as_str(), found[0].severity.as_str()),
        ("severe", "urgent")
    );
    assert_eq!(recipients(&outbox(&app, "alert_opened").await).len(), 1);

    // Not yet at 3 h 59 min; at 4 h it escalates, once, even with two timers racing.
    app.clock.advance(TimeDelta::minutes(239));
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .escalated,
        0
    );
    app.clock.advance(TimeDelta::minutes(1));
    let now = app.clock.now();
    let (a, b) = tokio::join!(alerts::tick(&app.state, now), alerts::tick(&app.state, now));
    assert_eq!(a.unwrap().escalated + b.unwrap().escalated, 1);
    assert_eq!(alerts::tick(&app.state, now).await.unwrap().escalated, 0);
    let escalated = outbox(&app, "alert_escalated").await;
    assert_eq!(
        recipients(&escalated),
        BTreeSet::from([
            ("email".to_owned(), "chief@example.org".to_owned()),
            ("email".to_owned(), "oncall@example.org".to_owned()),
        ])
    );
    let alert = &alerts_of(&app, pid).await[0];
    assert_eq!(alert.escalated_at, Some(now));
    app.clock.advance(TimeDelta::hours(8));
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .escalated,
        0
    );
    assert_eq!(outbox(&app, "alert_escalated").await.len(), 2);
}
story!(severe_pain_escalates_once_to_secondary_recipients);

async fn late_entry_is_evaluated_on_its_own_day(app: Arc<TestApp>) {
    let clinic = app.create_clinic("East").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-4001").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let mut phone = Phone::new(&app, &patient);

    // Six days ago an 8, synced at once.
    app.clock.advance(TimeDelta::days(-6));
    let six_ago = app.clock.now();
    phone.log(pain(8.0, six_ago), six_ago);
    phone.sync().await;
    // Today an entry for five days ago arrives: a 9, the day after the 8.
    app.clock.advance(TimeDelta::days(6));
    let now = app.clock.now();
    let five_ago = now - TimeDelta::days(5);
    phone.log(pain(9.0, five_ago), now);
    phone.sync().await;

    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let alert = &found[0];
    assert_eq!(alert.rule, "severe");
    assert_eq!(
        alert.local_day.to_string(),
        local_day(five_ago),
        "its own day, not today"
    );
    assert!(alert.reported_late);
    let opened = outbox(&app, "alert_opened").await;
    assert_eq!(opened.len(), 1);
    let payload: Value = serde_json::from_str(&opened[0].payload).unwrap();
    assert_eq!(payload["reported_late"], true);
    assert_eq!(payload["local_day"], local_day(five_ago));
    let (_, body) = app
        .get(&format!("/api/v1/alerts/{}", alert.id), &nurse.token)
        .await;
    assert_eq!(body["reported_late"], true);
    // Lateness is the flag (shown once as a badge), not words repeated in the sentence.
    assert!(
        !body["explanation"].as_str().unwrap().contains("late"),
        "{body}"
    );
}
story!(late_entry_is_evaluated_on_its_own_day);

async fn info_alerts_go_to_one_daily_digest(app: Arc<TestApp>) {
    let clinic = app.create_clinic("West").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let first = app.enrolled_patient(clinic, "PD-5001").await;
    let second = app.enrolled_patient(clinic, "PD-5002").await;
    for p in [&first, &second] {
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
    }
    app.add_to_care_team(first.patient_id.unwrap(), physician.user_id)
        .await;

    // 50 MME of morphine today: an info alert for each patient, not emailed one by one.
    let now = app.clock.now();
    for p in [&first, &second] {
        let mut phone = Phone::new(&app, p);
        phone.log(morphine(50.0, now - TimeDelta::minutes(5)), now);
        phone.sync().await;
        let found = alerts_of(&app, p.patient_id.unwrap()).await;
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].rule.as_str(), found[0].severity.as_str()),
            ("opioid_load", "info")
        );
        assert_eq!(found[0].next_repeat_at, None);
    }
    assert!(outbox(&app, "alert_opened").await.is_empty());

    // The digest goes out at the first tick after 07:00 UTC, once per clinician and day.
    let next_day = now.date_naive() + TimeDelta::days(1);
    let at = next_day
        .and_time(NaiveTime::from_hms_opt(6, 30, 0).unwrap())
        .and_utc();
    app.clock.advance(at - now);
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .digests,
        0
    );
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .digests,
        2
    );
    assert_eq!(
        alerts::tick(&app.state, app.clock.now())
            .await
            .unwrap()
            .digests,
        0
    );
    let digests = outbox(&app, "digest").await;
    assert_eq!(
        recipients(&digests),
        BTreeSet::from([
            ("email".to_owned(), nurse.email.clone()),
            ("email".to_owned(), physician.email.clone()),
        ])
    );
    for row in &digests {
        let payload: Value = serde_json::from_str(&row.payload).unwrap();
        let codes: BTreeSet<&str> = payload["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["patient_display_code"].as_str().unwrap())
            .collect();
        if row.recipient == nurse.email {
            assert_eq!(codes, BTreeSet::from(["PD-5001", "PD-5002"]));
        } else {
            assert_eq!(codes, BTreeSet::from(["PD-5001"]));
        }
        assert_eq!(payload["day"], next_day.format("%Y-%m-%d").to_string());
        assert_eq!(payload["include_details"], false);
        assert!(
            !row.payload.contains("MME") && !row.payload.contains("morphine"),
            "{}",
            row.payload
        );
    }
}
story!(info_alerts_go_to_one_daily_digest);

fn oxycodone_prn(at: DateTime<Utc>) -> Entry {
    Entry::Medication(MedicationIntake {
        meta: meta(at),
        drug: "oxycodone".into(),
        rxnorm: None,
        amount: 5.0,
        unit: "mg".into(),
        route: Some("oral".into()),
        status: "taken".into(),
        prn: true,
        prn_reason: Some("breakthrough pain".into()),
        note: None,
    })
}

async fn care_plan_limits_and_overrides_apply(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Care").await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let patient = app.enrolled_patient(clinic, "PD-6001").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, physician.user_id).await;

    // Yesterday and today a 7, and three as-needed oxycodone doses today: nothing by default.
    // The doses minutes apart must fall on one local day.
    to_local_noon(&app);
    let mut phone = Phone::new(&app, &patient);
    app.clock.advance(TimeDelta::days(-1));
    let now = app.clock.now();
    phone.log(pain(7.0, now), now);
    phone.sync().await;
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    phone.log(pain(7.0, now), now);
    for minutes in [30, 20, 10] {
        phone.log(oxycodone_prn(now - TimeDelta::minutes(minutes)), now);
    }
    phone.sync().await;
    assert!(alerts_of(&app, pid).await.is_empty());

    // The care plan allows two PRN doses a day and treats 7 as severe for this patient:
    // its change re-evaluates the last days at once.
    app.sync_care_plan(&physician.token, pid, |doc| {
        care_plan::put_item(
            doc,
            care_plan::Section::Medications,
            "oxy-prn",
            &[
                ("drug", FieldValue::Text("Oxycodone".into())),
                ("prn", FieldValue::Bool(true)),
                ("prn_max_per_day", FieldValue::Float(2.0)),
                ("opioid", FieldValue::Bool(true)),
            ],
            now,
        )
        .unwrap();
        care_plan::set_threshold(doc, "severe_score", Some(7.0), now).unwrap();
    })
    .await;
    let found = alerts_of(&app, pid).await;
    let rules: BTreeSet<(&str, &str)> = found
        .iter()
        .map(|a| (a.rule.as_str(), a.severity.as_str()))
        .collect();
    assert_eq!(
        rules,
        BTreeSet::from([("prn_overuse", "warning"), ("severe", "urgent")]),
        "{found:?}"
    );
    assert_eq!(outbox(&app, "alert_opened").await.len(), 2);

    // A fourth dose later today attaches to the open PRN alert, sending nothing.
    app.clock.advance(TimeDelta::minutes(5));
    let now = app.clock.now();
    phone.log(oxycodone_prn(now), now);
    phone.sync().await;
    assert_eq!(alerts_of(&app, pid).await.len(), 2);
    assert_eq!(outbox(&app, "alert_opened").await.len(), 2);
}
story!(care_plan_limits_and_overrides_apply);

async fn info_alert_raised_to_warning_is_emailed_once(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Rise").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-6001").await;
    let id = patient.patient_id.unwrap();
    app.add_to_care_team(id, nurse.user_id).await;
    // Both doses must fall on one local day of the patient.
    to_local_noon(&app);
    let now = app.clock.now();
    let mut phone = Phone::new(&app, &patient);

    // 60 MME: info, digest only.
    phone.log(morphine(60.0, now - TimeDelta::minutes(30)), now);
    phone.sync().await;
    let found = alerts_of(&app, id).await;
    assert_eq!(
        (found.len(), found[0].severity.as_str()),
        (1, "info"),
        "{found:?}"
    );
    assert!(outbox(&app, "alert_opened").await.is_empty());

    // 40 mg more the same day: 100 MME, past the warning threshold. The open alert is
    // raised and now emailed like any warning, once.
    app.clock.advance(TimeDelta::minutes(10));
    let now = app.clock.now();
    phone.log(morphine(40.0, now - TimeDelta::minutes(5)), now);
    phone.sync().await;
    let found = alerts_of(&app, id).await;
    assert_eq!(found.len(), 1, "still one alert for the rule: {found:?}");
    assert_eq!(found[0].severity, "warning");
    assert!(found[0].next_repeat_at.is_some());
    let opened = outbox(&app, "alert_opened").await;
    assert_eq!(
        recipients(&opened),
        BTreeSet::from([("email".to_owned(), nurse.email.clone())])
    );

    // More the same day: the alert stays a warning and nothing new is sent.
    app.clock.advance(TimeDelta::minutes(10));
    let now = app.clock.now();
    phone.log(morphine(10.0, now - TimeDelta::minutes(5)), now);
    phone.sync().await;
    assert_eq!(outbox(&app, "alert_opened").await.len(), 1);
    assert_eq!(alerts_of(&app, id).await[0].severity, "warning");
}
story!(info_alert_raised_to_warning_is_emailed_once);

/// A 10 synced and then deleted by the patient: the urgent alert it opened is marked
/// "evidence withdrawn" and neither repeats nor escalates; the care team still sees it
/// and resolves it.
async fn a_deleted_ten_withdraws_its_alert(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Withdrawn").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-7001").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let (status, body) = put_settings(
        &app,
        &admin,
        json!({"secondary_recipients": ["oncall@example.org"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut phone = Phone::new(&app, &patient);
    let now = app.clock.now();
    for back in 1..=30 {
        phone.log(pain(3.0, now - TimeDelta::days(back)), now);
    }
    let ten = pain(10.0, now - TimeDelta::minutes(10));
    let month = paindiary_sync::replica::month_of(&ten).unwrap();
    let id = phone.replica.record(&ten, now).unwrap();
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].rule.as_str(), found[0].severity.as_str()),
        ("severe", "urgent")
    );
    assert!(found[0].escalate_at.is_some());
    assert!(
        found[0].explanation.contains("pain score of 10"),
        "{}",
        found[0].explanation
    );

    // The patient mis-tapped: the 10 is deleted a few minutes later.
    app.clock.advance(TimeDelta::minutes(5));
    let now = app.clock.now();
    phone
        .replica
        .delete(month, paindiary_sync::schema::EntryKind::Pain, &id, now)
        .unwrap();
    phone.sync().await;
    let found = alerts_of(&app, pid).await;
    assert_eq!(found.len(), 1);
    let alert = &found[0];
    assert_eq!(alert.evidence_withdrawn_at, Some(now));
    assert_eq!((alert.escalate_at, alert.next_repeat_at), (None, None));
    assert_eq!(alert.status, "open", "a clinician still resolves it");

    // Four hours on, nothing escalates and nothing repeats.
    app.clock.advance(TimeDelta::hours(25));
    let report = alerts::tick(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.escalated, report.repeated), (0, 0));
    assert!(outbox(&app, "alert_escalated").await.is_empty());

    let (_, body) = app
        .get(&format!("/api/v1/alerts/{}", alert.id), &nurse.token)
        .await;
    assert_eq!(body["currency"], "evidence_withdrawn", "{body}");
    assert_eq!(body["currency_label"], "evidence withdrawn");
    let kinds: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"evidence_withdrawn"), "{kinds:?}");
}
story!(a_deleted_ten_withdraws_its_alert);

/// A rise that passes: once the rule has been quiet on three days with entries, the
/// alert is "cleared since" the day after its last trigger and ranks below an active
/// alert of the same severity, which the list puts first.
async fn a_passed_rise_is_cleared_and_ranks_below_active_ones(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Cleared").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let passing = app.enrolled_patient(clinic, "PD-8001").await;
    let lasting = app.enrolled_patient(clinic, "PD-8002").await;
    for p in [&passing, &lasting] {
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
    }
    let mut phones = [Phone::new(&app, &passing), Phone::new(&app, &lasting)];
    app.clock.advance(TimeDelta::days(-6));
    let start = app.clock.now();
    for phone in &mut phones {
        for back in 1..=70 {
            phone.log(pain(3.0, start - TimeDelta::days(back)), start);
        }
        phone.sync().await;
    }
    // Two days at 6 for both: each gets a worsening alert. Then the first patient is back
    // at 3 for four days while the second stays at 6.
    for day in 0..6 {
        if day > 0 {
            app.clock.advance(TimeDelta::days(1));
        }
        let now = app.clock.now();
        for (i, phone) in phones.iter_mut().enumerate() {
            let score = if day >= 2 && i == 0 { 3.0 } else { 6.0 };
            phone.log(pain(score, now), now);
            phone.sync().await;
        }
    }
    let passing_alert = alerts_of(&app, passing.patient_id.unwrap()).await.remove(0);
    let lasting_alert = alerts_of(&app, lasting.patient_id.unwrap()).await.remove(0);
    assert_eq!(lasting_alert.cleared_since, None);
    let latest = passing_alert.latest_day.unwrap();
    assert_eq!(
        passing_alert.cleared_since,
        latest.succ_opt(),
        "cleared since the day after its last trigger: {passing_alert:?}"
    );
    let (_, body) = app.get("/api/v1/alerts?status=open", &nurse.token).await;
    let order: Vec<&str> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["patient_display_code"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["PD-8002", "PD-8001"], "{body}");
    assert_eq!(body["alerts"][1]["currency"], "cleared");

    // A new rise of the first patient makes its alert active again.
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    for _ in 0..3 {
        phones[0].log(pain(7.0, now), now);
    }
    phones[0].sync().await;
    app.clock.advance(TimeDelta::days(1));
    let now = app.clock.now();
    phones[0].log(pain(7.0, now), now);
    phones[0].sync().await;
    let again = alerts_of(&app, passing.patient_id.unwrap()).await.remove(0);
    assert_eq!(again.cleared_since, None, "{again:?}");
}
story!(a_passed_rise_is_cleared_and_ranks_below_active_ones);

//! Trends, the clinician patient list and exports, end to end: diaries synced by the
//! phone replica client into the spawned server, read back over HTTP, on SQLite and
//! PostgreSQL. Helpers shared with the browser test live in `paindiary_tests::dashboard`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use paindiary_server::clock::Clock;
use paindiary_server::domain::Role;
use paindiary_server::entity::{care_plan_medications, care_plan_projections};
use paindiary_sync::schema::EntryKind;
use paindiary_sync::schema::care_plan::{Section, put_item};
use paindiary_sync::schema::month::FieldValue;
use paindiary_tests::dashboard::{
    CarePlanItem, at, endpoint, exercise, insert_alert, intake, pain, peg, phone, wellbeing,
    write_care_plan,
};
use paindiary_tests::{TestApp, story};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn day_of<'a>(trends: &'a Value, d: &str) -> &'a Value {
    trends["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["date"] == d)
        .unwrap_or_else(|| panic!("no day {d} in {trends}"))
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

/// The fixture: a Berlin patient across the spring DST change (29 March 2026, 02:00 CET
/// -> 03:00 CEST), with one evening logged while travelling in New York, one deleted
/// entry and one invalid entry (score 12).
async fn fixture_patient(app: &TestApp) -> (paindiary_tests::Actor, paindiary_tests::Actor) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-2001").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid);
    let now = app.clock.now();
    let berlin = "Europe/Berlin";
    // 27 March (CET, UTC+1): 09:00 -> 4, 23:30 -> 6.
    ph.record(&pain(at("2026-03-27T08:00:00Z"), berlin, 4.0), now)
        .unwrap();
    ph.record(&pain(at("2026-03-27T22:30:00Z"), berlin, 6.0), now)
        .unwrap();
    // 28 March: a 10 that is then deleted, and an invalid 12: the day stays empty.
    let doomed = ph
        .record(&pain(at("2026-03-28T10:00:00Z"), berlin, 10.0), now)
        .unwrap();
    ph.delete(
        paindiary_sync::ids::Month::new(2026, 3).unwrap(),
        EntryKind::Pain,
        &doomed,
        now,
    )
    .unwrap();
    let march = ph
        .month_document(paindiary_sync::ids::Month::new(2026, 3).unwrap())
        .unwrap();
    paindiary_sync::schema::month::add_entry_unchecked(
        march,
        paindiary_sync::ids::EntryId::new(),
        &pain(at("2026-03-28T11:00:00Z"), berlin, 12.0),
        now,
    )
    .unwrap();
    // 23:30 UTC on 28 March is 00:30 CET on 29 March; 12:00 UTC is 14:00 CEST.
    ph.record(&pain(at("2026-03-28T23:30:00Z"), berlin, 7.0), now)
        .unwrap();
    ph.record(&pain(at("2026-03-29T12:00:00Z"), berlin, 5.0), now)
        .unwrap();
    // 22:30 UTC on 29 March is 00:30 CEST on 30 March (it would be 23:30 on the 29th at
    // the winter offset), and 02:00 UTC on 31 March is 22:00 on 30 March in New York.
    ph.record(&pain(at("2026-03-29T22:30:00Z"), berlin, 3.0), now)
        .unwrap();
    ph.record(
        &pain(at("2026-03-31T02:00:00Z"), "America/New_York", 2.0),
        now,
    )
    .unwrap();
    ph.record(&pain(at("2026-03-31T08:00:00Z"), berlin, 8.0), now)
        .unwrap();
    // Oxycodone 10 mg twice on 29 March (local): 30 MME; one skipped dose on the 30th.
    ph.record(
        &intake(at("2026-03-29T07:00:00Z"), "Oxycodone", 10.0, "taken"),
        now,
    )
    .unwrap();
    ph.record(
        &intake(at("2026-03-29T19:00:00Z"), "oxycodone", 10.0, "taken"),
        now,
    )
    .unwrap();
    ph.record(
        &intake(at("2026-03-30T07:00:00Z"), "Oxycodone", 10.0, "skipped"),
        now,
    )
    .unwrap();
    ph.record(&exercise(at("2026-03-30T16:00:00Z"), "walking", 30.0), now)
        .unwrap();
    ph.record(&wellbeing(at("2026-03-30T06:00:00Z"), 6.5, 5.0, 7.0), now)
        .unwrap();
    ph.record(&peg(at("2026-03-31T09:00:00Z"), 6.0, 5.0, 4.0), now)
        .unwrap();
    ph.sync(&endpoint(app, &patient.token)).await.unwrap();
    write_care_plan(
        app,
        &nurse.token,
        pid,
        0,
        &[
            CarePlanItem::Medication {
                drug: "Oxycodone",
                times_per_day: 2.0,
                start: "2026-03-29",
            },
            CarePlanItem::Exercise {
                activity: "walking",
                minutes: 20.0,
                per_week: 3.0,
            },
            CarePlanItem::Intervention {
                kind: "epidural_steroid_injection",
                date: "2026-03-29",
            },
        ],
    )
    .await;
    (patient, nurse)
}

async fn trends_match_hand_computed_values(app: Arc<TestApp>) {
    let (patient, nurse) = fixture_patient(&app).await;
    let pid = patient.patient_id.unwrap();
    // The invalid entry reached the server (so leaving it out is a decision, not luck).
    let (s, issues) = app
        .get(
            &format!("/api/v1/patients/{pid}/trends?from=2026-03-27&to=2026-03-31"),
            &nurse.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{issues}");
    let t = issues;
    let backend = app.state.db.get_database_backend();
    let invalid: i64 = sea_orm::ConnectionTrait::query_one_raw(
        &app.state.db,
        sea_orm::Statement::from_string(
            backend,
            "SELECT COUNT(*) FROM pain_entries WHERE NOT valid",
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap();
    assert_eq!(invalid, 1);

    assert_eq!(t["days"].as_array().unwrap().len(), 5);
    let d27 = day_of(&t, "2026-03-27");
    assert!(
        close(&d27["pain_mean"], 5.0) && close(&d27["pain_max"], 6.0),
        "{d27}"
    );
    assert_eq!(d27["pain_count"], 2);
    let d28 = day_of(&t, "2026-03-28");
    assert!(
        d28["pain_mean"].is_null(),
        "deleted and invalid entries excluded: {d28}"
    );
    assert_eq!(d28["pain_count"], 0);
    assert!(close(&d28["pain_rolling_mean_7d"], 5.0));
    let d29 = day_of(&t, "2026-03-29");
    assert!(
        close(&d29["pain_mean"], 6.0) && close(&d29["pain_max"], 7.0),
        "{d29}"
    );
    assert_eq!(d29["pain_count"], 2);
    assert!(close(&d29["pain_rolling_mean_7d"], 5.5));
    assert!(close(&d29["mme"], 30.0), "{d29}");
    let d30 = day_of(&t, "2026-03-30");
    assert!(
        close(&d30["pain_mean"], 2.5) && close(&d30["pain_max"], 3.0),
        "{d30}"
    );
    assert!(close(&d30["pain_rolling_mean_7d"], 4.5));
    assert!(close(&d30["mme"], 0.0));
    assert!(close(&d30["exercise_minutes"], 30.0));
    assert!(
        close(&d30["sleep_hours"], 6.5) && close(&d30["mood"], 5.0) && close(&d30["stress"], 7.0)
    );
    let d31 = day_of(&t, "2026-03-31");
    assert!(close(&d31["pain_mean"], 8.0));
    assert!(close(&d31["pain_rolling_mean_7d"], 21.5 / 4.0), "{d31}");

    // Medication per drug per day, and adherence: 2 of 6 scheduled doses (29-31 March).
    let meds = t["medications"].as_array().unwrap();
    assert_eq!(meds.len(), 2, "{meds:?}");
    assert_eq!(meds[0]["date"], "2026-03-29");
    assert_eq!(meds[0]["drug"], "oxycodone");
    assert_eq!(meds[0]["taken"], 2);
    assert_eq!(meds[1]["skipped"], 1);
    let adh = &t["adherence"][0];
    assert!(
        close(&adh["expected"], 6.0) && close(&adh["taken"], 2.0),
        "{adh}"
    );
    assert!(close(&adh["ratio"], 1.0 / 3.0));

    // Exercise per week (27 March is a Friday) against 3 x 20 minutes.
    let weeks = t["exercise_weekly"].as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[0]["week_start"], "2026-03-23");
    assert!(close(&weeks[0]["minutes"], 0.0));
    assert_eq!(weeks[1]["week_start"], "2026-03-30");
    assert!(close(&weeks[1]["minutes"], 30.0) && close(&weeks[1]["prescribed_minutes"], 60.0));

    // PEG: (6 + 5 + 4) / 3.
    let peg = &t["peg_weekly"][0];
    assert_eq!(peg["week_start"], "2026-03-30");
    assert!(
        close(&peg["score"], 5.0) && close(&peg["pain"], 6.0),
        "{peg}"
    );

    // The injection on 29 March: before = 27 March only (5.0), after = 30 and 31 March
    // ((2.5 + 8) / 2 = 5.25): +5%.
    let i = &t["interventions"][0];
    assert_eq!(i["date"], "2026-03-29");
    assert!(
        close(&i["before_mean"], 5.0) && close(&i["after_mean"], 5.25),
        "{i}"
    );
    assert!(close(&i["change_percent"], 5.0), "{i}");

    // The patient reads their own trends; an outside clinician and the clinic admin get
    // 404 like for a patient that does not exist; a bad range is a 400.
    let path = format!("/api/v1/patients/{pid}/trends?from=2026-03-27&to=2026-03-31");
    let (s, own) = app.get(&path, &patient.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(own["days"], t["days"]);
    let clinic = app.state.db.clone();
    drop(clinic);
    let other_clinic = app.create_clinic("South").await;
    let outsider = app.create_staff(other_clinic, Role::Physician).await;
    let (s, body) = app.get(&path, &outsider.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    let missing = format!(
        "/api/v1/patients/{}/trends?from=2026-03-27&to=2026-03-31",
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        app.get(&missing, &outsider.token).await,
        (StatusCode::NOT_FOUND, body)
    );
    let (s, _) = app
        .get(
            &format!("/api/v1/patients/{pid}/trends?from=2026-03-31&to=2026-03-01"),
            &nurse.token,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Audited, denials included.
    let count = |action: &'static str, outcome: &'static str| {
        let app = app.clone();
        async move {
            let backend = app.state.db.get_database_backend();
            let row = sea_orm::ConnectionTrait::query_one_raw(
                &app.state.db,
                sea_orm::Statement::from_string(
                    backend,
                    format!(
                        "SELECT COUNT(*) FROM audit_events WHERE action = '{action}' AND outcome = '{outcome}' AND patient_id IS NOT NULL"
                    ),
                ),
            )
            .await
            .unwrap()
            .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    // Nurse twice (the bad range was still an authorised read attempt), patient once.
    assert_eq!(count("trends.read", "success").await, 3);
    assert!(count("trends.read", "denied").await >= 2);
    let _ = day("2026-03-27");
}
story!(trends_match_hand_computed_values);

async fn exports_csv_and_fhir_round_trip(app: Arc<TestApp>) {
    let (patient, nurse) = fixture_patient(&app).await;
    let pid = patient.patient_id.unwrap();
    let client = &app.client;

    // CSV: header, one row per live entry (the invalid one kept and marked), quoted text.
    let resp = client
        .get(app.url(&format!("/api/v1/patients/{pid}/export/pain.csv")))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "entry_id,recorded_at,time_zone,local_date,valid,late,score,worst,least,locations,qualities,location_note,note"
    );
    assert_eq!(lines.len(), 1 + 8, "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2026-03-28T23:30:00Z,\"Europe/Berlin\",2026-03-29,true")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"America/New_York\",2026-03-30,true") && l.contains(",2,")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",false,") && l.contains(",12,")),
        "invalid kept, marked: {csv}"
    );
    assert!(!csv.contains(",10,"), "deleted entry left out: {csv}");
    let meds = client
        .get(app.url(&format!("/api/v1/patients/{pid}/export/medications.csv")))
        .bearer_auth(&nurse.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        meds.matches("\"Oxycodone\"").count() + meds.matches("\"oxycodone\"").count(),
        3
    );
    assert!(meds.contains("\"skipped\""));

    // FHIR: validated as R4 by fhir.resources, and the values come back.
    let resp = client
        .get(app.url(&format!("/api/v1/patients/{pid}/export/fhir")))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bundle: Value = resp.json().await.unwrap();
    let summary = paindiary_tests::dashboard::validate_fhir_r4(&bundle);
    assert_eq!(summary["type"], "collection");
    assert_eq!(summary["Patient"], 1);
    let mut pain: Vec<f64> = summary["pain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    pain.sort_by(f64::total_cmp);
    assert_eq!(
        pain,
        vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "valid, live scores only"
    );
    assert_eq!(summary["pain_unit"], "{score}");
    assert_eq!(summary["peg"], serde_json::json!([5.0]));
    assert_eq!(summary["exercise_minutes"], serde_json::json!([30.0]));
    assert_eq!(summary["MedicationAdministration"], 3);
    assert_eq!(summary["administered"], 2);

    // Outsiders get 404; unknown kinds too.
    let other = app.create_clinic("South").await;
    let outsider = app.create_staff(other, Role::Physician).await;
    let (s, _) = app
        .get(
            &format!("/api/v1/patients/{pid}/export/fhir"),
            &outsider.token,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .get(
            &format!("/api/v1/patients/{pid}/export/secrets.csv"),
            &nurse.token,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
story!(exports_csv_and_fhir_round_trip);

async fn patient_list_puts_alerting_patients_first(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let quiet = app.enrolled_patient(clinic, "PD-0001").await;
    let alerting = app.enrolled_patient(clinic, "PD-0009").await;
    let stranger = app.enrolled_patient(clinic, "PD-0005").await;
    for p in [&quiet, &alerting] {
        app.add_to_care_team(p.patient_id.unwrap(), nurse.user_id)
            .await;
    }
    let _ = stranger;
    let now = app.clock.now();
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), quiet.patient_id.unwrap());
    // Last week 3/day, this week 5/day: mean 5.0, change +2.0. Local noon of each day.
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    for d in 0..14 {
        let score = if d < 7 { 5.0 } else { 3.0 };
        let noon = (today - Duration::days(d)).and_hms_opt(12, 0, 0).unwrap();
        let t = noon
            .and_local_timezone(chrono_tz::Europe::Berlin)
            .single()
            .unwrap()
            .with_timezone(&chrono::Utc);
        ph.record(&pain(t, "Europe/Berlin", score), now).unwrap();
    }
    ph.sync(&endpoint(&app, &quiet.token)).await.unwrap();
    insert_alert(
        &app,
        alerting.patient_id.unwrap(),
        clinic,
        "severe",
        "urgent",
    )
    .await;

    let (s, body) = app.get("/api/v1/clinician/patients", &nurse.token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list = body["patients"].as_array().unwrap();
    assert_eq!(list.len(), 2, "only the care team's patients: {body}");
    assert_eq!(list[0]["display_code"], "PD-0009");
    assert_eq!(list[0]["open_alerts"], 1);
    assert_eq!(list[0]["top_severity"], "urgent");
    assert_eq!(list[1]["display_code"], "PD-0001");
    assert!(close(&list[1]["pain_mean_7d"], 5.0), "{body}");
    assert!(close(&list[1]["pain_change"], 2.0), "{body}");
    assert!(list[1]["last_entry_at"].is_string());
    let (s, _) = app.get("/api/v1/clinician/patients", &quiet.token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
story!(patient_list_puts_alerting_patients_first);

/// Adherence of PD-0042 in the nurse's patient list.
async fn listed_adherence(app: &TestApp, token: &str) -> Value {
    let (s, body) = app.get("/api/v1/clinician/patients", token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list = body["patients"].as_array().unwrap();
    let row = list
        .iter()
        .find(|p| p["display_code"] == "PD-0042")
        .unwrap_or_else(|| panic!("PD-0042 not listed: {body}"));
    row["adherence_7d"].clone()
}

/// The patient list reads prescriptions from the care-plan projection (issue #5): every
/// way a plan is written (a clinician's sync, the editor) shows in the next render;
/// `paindiary reproject` rebuilds the same rows, and a database whose plans were stored
/// before the projection existed gets them at the next start (migration).
async fn patient_list_adherence_follows_every_care_plan_write(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-0042").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let now = app.clock.now();
    let tmp = tempfile::tempdir().unwrap();
    let mut ph = phone(tmp.path(), pid);
    // Oxycodone twice a day on each of the 6 days before today (local 08:00 and 18:00):
    // 12 of the 14 doses a twice-daily prescription expects over the last 7 days.
    let today = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    for d in 1..=6 {
        for hour in [8, 18] {
            let t = (today - Duration::days(d))
                .and_hms_opt(hour, 0, 0)
                .unwrap()
                .and_local_timezone(chrono_tz::Europe::Berlin)
                .single()
                .unwrap()
                .with_timezone(&chrono::Utc);
            // Logged by its brand name in the mornings.
            let drug = if hour == 8 { "OxyContin" } else { "Oxycodone" };
            ph.record(&intake(t, drug, 10.0, "taken"), now).unwrap();
        }
    }
    ph.sync(&endpoint(&app, &patient.token)).await.unwrap();

    // Nothing prescribed yet: no adherence.
    assert!(listed_adherence(&app, &nurse.token).await.is_null());

    // The nurse prescribes oxycodone over sync: the doses logged as "OxyContin" count
    // for it as well as those logged as "Oxycodone", 12 of 14.
    write_care_plan(
        &app,
        &nurse.token,
        pid,
        0,
        &[CarePlanItem::Medication {
            drug: "Oxycodone",
            times_per_day: 2.0,
            start: "2020-01-01",
        }],
    )
    .await;
    let adherence = listed_adherence(&app, &nurse.token).await;
    assert!(close(&adherence, 12.0 / 14.0), "{adherence}");

    // The care-plan editor adds gabapentin three times a day, never taken: the mean of
    // 12/14 and 0/21.
    let changed = app
        .hub
        .edit_care_plan(pid, nurse.user_id, |doc, now| {
            put_item(
                doc,
                Section::Medications,
                "item-gabapentin",
                &[
                    ("drug", FieldValue::Text("Gabapentin".into())),
                    ("times_per_day", FieldValue::Float(3.0)),
                    ("start_date", FieldValue::Text("2020-01-01".into())),
                    ("opioid", FieldValue::Bool(false)),
                    ("prn", FieldValue::Bool(false)),
                ],
                now,
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    assert!(changed);
    let adherence = listed_adherence(&app, &nurse.token).await;
    assert!(close(&adherence, 6.0 / 14.0), "{adherence}");

    // The projected prescriptions, and the same after a full reprojection.
    let prescriptions = || async {
        care_plan_medications::Entity::find()
            .filter(care_plan_medications::Column::PatientId.eq(pid.uuid()))
            .order_by_asc(care_plan_medications::Column::ItemId)
            .all(&app.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.item_id, m.drug_normalized, m.times_per_day, m.start_date))
            .collect::<Vec<_>>()
    };
    let start = NaiveDate::from_ymd_opt(2020, 1, 1);
    let projected = prescriptions().await;
    assert_eq!(
        projected,
        [
            (
                "item-0".to_owned(),
                "oxycodone".to_owned(),
                Some(2.0),
                start
            ),
            (
                "item-gabapentin".to_owned(),
                "gabapentin".to_owned(),
                Some(3.0),
                start
            ),
        ]
    );
    let report = paindiary_server::projection::reproject_all(&app.state.db, now)
        .await
        .unwrap();
    assert_eq!(report.care_plans, 1);
    assert_eq!(prescriptions().await, projected);

    // A database from before the projection: its plans are projected when it migrates.
    care_plan_medications::Entity::delete_many()
        .exec(&app.state.db)
        .await
        .unwrap();
    care_plan_projections::Entity::delete_many()
        .exec(&app.state.db)
        .await
        .unwrap();
    assert!(listed_adherence(&app, &nurse.token).await.is_null());
    paindiary_server::db::migrate(&app.state.db).await.unwrap();
    assert_eq!(prescriptions().await, projected);
    let adherence = listed_adherence(&app, &nurse.token).await;
    assert!(close(&adherence, 6.0 / 14.0), "{adherence}");
}
story!(patient_list_adherence_follows_every_care_plan_write);

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

/// The value of cookie `name` set by `resp`, and the whole `Set-Cookie` line.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            let first = line.split(';').next()?;
            let (k, v) = first.split_once('=')?;
            (k == name).then(|| (v.to_owned(), line.to_owned()))
        })
}

async fn web_session_cookie_csrf_and_idle_timeout(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-0042").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let alert = insert_alert(&app, pid, clinic, "severe", "urgent").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Login form: a double-submit CSRF cookie; a post without it is refused.
    let form = http.get(app.url("/dashboard/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (login_csrf, line) = set_cookie(&form, "pd_login_csrf").unwrap();
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    let creds = [
        ("email", nurse.email.as_str()),
        ("password", paindiary_tests::PASSWORD),
        ("csrf", login_csrf.as_str()),
    ];
    let refused = http
        .post(app.url("/dashboard/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(&creds))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let ok = http
        .post(app.url("/dashboard/login"))
        .header("cookie", format!("pd_login_csrf={login_csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(&creds))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let (session, line) = set_cookie(&ok, "pd_session").unwrap();
    assert!(
        line.contains("HttpOnly")
            && line.contains("SameSite=Strict")
            && line.contains("Path=/dashboard"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain http test server: {line}");
    let cookie = format!("pd_session={session}");
    let list = http
        .get(app.url("/dashboard/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    assert!(
        list.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = list.text().await.unwrap();
    assert!(html.contains("PD-0042"));

    // A form post with a wrong CSRF token changes nothing.
    let forged = http
        .post(app.url(&format!("/dashboard/alerts/{alert}/acknowledge")))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(&[
            ("csrf", "0".repeat(64).as_str()),
            ("back", "/dashboard/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let row = paindiary_server::entity::alerts::Entity::find_by_id(alert)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "open");

    // Idle for longer than the timeout: the session is over.
    app.clock.advance(Duration::minutes(
        app.config().auth.web_idle_timeout_minutes + 1,
    ));
    let expired = http
        .get(app.url("/dashboard/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::SEE_OTHER);
    // The login form is told where to return (the list asked for), as a local path.
    assert_eq!(
        expired.headers()["location"],
        "/dashboard/login?next=%2Fdashboard%2F"
    );
}
story!(web_session_cookie_csrf_and_idle_timeout);

/// Signs `email` in to the dashboard (following `next`, if given); the session cookie
/// and where the login sent the browser.
async fn web_login(
    app: &TestApp,
    http: &reqwest::Client,
    email: &str,
    next: Option<&str>,
) -> (String, String) {
    let form = http.get(app.url("/dashboard/login")).send().await.unwrap();
    let (login_csrf, _) = set_cookie(&form, "pd_login_csrf").unwrap();
    let mut fields = vec![
        ("email", email),
        ("password", paindiary_tests::PASSWORD),
        ("csrf", login_csrf.as_str()),
    ];
    if let Some(n) = next {
        fields.push(("next", n));
    }
    let ok = http
        .post(app.url("/dashboard/login"))
        .header("cookie", format!("pd_login_csrf={login_csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(&fields))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let (session, _) = set_cookie(&ok, "pd_session").unwrap();
    let location = ok.headers()["location"].to_str().unwrap().to_owned();
    (format!("pd_session={session}"), location)
}

async fn dashboard_refuses_bad_redirects_dates_and_far_plan_dates(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let patient = app.enrolled_patient(clinic, "PD-0042").await;
    let pid = patient.patient_id.unwrap();
    app.add_to_care_team(pid, nurse.user_id).await;
    let alert = insert_alert(&app, pid, clinic, "severe", "urgent").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // `next` after login: a local path is followed, anything else lands on the list.
    let page = format!("/dashboard/patients/{pid}?from=2026-11-01");
    let (_, to) = web_login(&app, &http, &nurse.email, Some(&page)).await;
    assert_eq!(to, page);
    for hostile in [
        "https://evil.example/dashboard/",
        "//evil.example/dashboard/",
        "/dashboard/\r\nSet-Cookie: x=y",
        "/\\evil.example",
    ] {
        let (_, to) = web_login(&app, &http, &nurse.email, Some(hostile)).await;
        assert_eq!(to, "/dashboard/", "{hostile:?}");
    }
    let (cookie, _) = web_login(&app, &http, &nurse.email, None).await;

    // `back` with CR/LF or pointing elsewhere: 400, and the alert is left as it was.
    let form = http
        .get(app.url("/dashboard/alerts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    for back in [
        "/dashboard/\r\nX-Injected: 1",
        "https://evil.example/",
        "//x",
    ] {
        let r = http
            .post(app.url(&format!("/dashboard/alerts/{alert}/acknowledge")))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(&[("csrf", &csrf), ("back", back)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{back:?}");
        assert!(r.headers().get("x-injected").is_none());
    }
    let row = paindiary_server::entity::alerts::Entity::find_by_id(alert)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "open");

    // Dates far outside any diary: 400 before any arithmetic (was a panic, 500).
    for q in [
        "to=-262143-01-05",
        "from=%2B262142-12-31",
        "from=1899-12-31",
    ] {
        let r = http
            .get(app.url(&format!("/dashboard/patients/{pid}?{q}")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
    // Unknown filter values: 400, not an empty list.
    let r = http
        .get(app.url("/dashboard/?rule=nonsense"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The editor refuses an intervention in year +262142 and writes nothing.
    let r = http
        .post(app.url(&format!(
            "/dashboard/patients/{pid}/care-plan/interventions"
        )))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(&[
            ("csrf", &csrf),
            ("kind", "nerve_block"),
            ("date", "+262142-12-31"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("between 1900 and 2200"));
    let editor = http
        .get(app.url(&format!("/dashboard/patients/{pid}/care-plan")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!editor.contains("262142"), "nothing was written");

    // One stored anyway (by an older server or another client) breaks nothing: the
    // pages render and say the date is invalid.
    write_care_plan(
        &app,
        &nurse.token,
        pid,
        0,
        &[CarePlanItem::Intervention {
            kind: "nerve_block",
            date: "+262142-12-31",
        }],
    )
    .await;
    for path in [
        format!("/dashboard/patients/{pid}"),
        format!("/dashboard/patients/{pid}/summary"),
        format!("/dashboard/patients/{pid}/care-plan"),
    ] {
        let r = http
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body = r.text().await.unwrap();
        if !path.ends_with("summary") {
            assert!(body.contains("invalid"), "{path}");
        }
    }
    let (s, body) = app
        .get(&format!("/api/v1/patients/{pid}/trends"), &nurse.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["interventions"][0]["date_valid"], false);
}
story!(dashboard_refuses_bad_redirects_dates_and_far_plan_dates);

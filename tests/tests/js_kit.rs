//! The TypeScript client kit (clients/js, `@paindiary/client`) against the real server on
//! SQLite and PostgreSQL, run on Node by clients/js/test/scenarios.mjs: two devices
//! logging offline then merging, a new month started from the served genesis at the local
//! midnight roll-over, a revoked token surfacing as the typed `session-expired` event with
//! no uncaught exception, invalid entries refused locally and (written raw) reported back
//! by `GET /patients/{id}/entry-issues`, writes to the care plan and index refused
//! locally; and the kit's vocabularies, limits and validation compared with the Rust
//! schema's so they cannot drift.
//!
//! Needs `node` (20+) and `npm ci && npm run build` in clients/js (./scripts/test does it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeDelta, TimeZone, Utc};
use paindiary_server::domain::Role;
use paindiary_sync::ids::{Month, PatientId as DocPatientId};
use paindiary_sync::schema::entry::{
    MAX_FUTURE_SKEW, MAX_LOCATIONS, MAX_NOTE_CHARS, MAX_QUALITIES, MAX_SHORT_TEXT_CHARS,
};
use paindiary_sync::schema::month::{MAX_ENTRIES_PER_KIND, fields_of};
use paindiary_sync::schema::vocab::{
    BodyRegion, DoseUnit, IntakeStatus, InterventionKind, PainQuality, Route,
};
use paindiary_sync::schema::{
    DocKind, Entry, EntryKind, EntryMeta, ExerciseSession, MedicationIntake, PainEntry, PegCheckin,
    QuestionnaireResponse, WellbeingEntry,
};
use paindiary_tests::{PASSWORD, TestApp, story};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn kit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/js")
}

/// Runs `node clients/js/test/scenarios.mjs NAME ARGS`; returns its JSON line, after
/// checking that it succeeded and that nothing was thrown uncaught.
async fn kit(name: &str, args: Value) -> Value {
    let dir = kit_dir();
    assert!(
        dir.join("dist/index.js").is_file()
            && dir.join("node_modules/@automerge/automerge-repo").is_dir(),
        "the client kit is not built: run `npm ci && npm run build` in clients/js"
    );
    let name = name.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(dir.join("test/scenarios.mjs"))
            .arg(&name)
            .arg(args.to_string())
            .output()
            .expect("node must be installed")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "scenarios.mjs printed nothing; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("scenarios.mjs printed non-JSON: {stdout}"));
    assert_eq!(value["ok"], json!(true), "scenario failed: {value}");
    assert_eq!(value["uncaught"], json!([]), "uncaught exceptions: {value}");
    assert!(output.status.success(), "{value}");
    value
}

fn port_of(app: &TestApp) -> u16 {
    app.base_url.rsplit(':').next().unwrap().parse().unwrap()
}

/// The patient's live projected pain rows as (score, valid), ordered by score.
async fn projected_pain(app: &TestApp, patient: uuid::Uuid) -> Vec<(f64, bool)> {
    use paindiary_server::entity::pain_entries;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut out: Vec<(f64, bool)> = pain_entries::Entity::find()
        .filter(pain_entries::Column::PatientId.eq(patient))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| !r.deleted)
        .map(|r| (r.score, r.valid))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

async fn month_rows(app: &TestApp, patient: uuid::Uuid, month: Month) -> i64 {
    let id = DocKind::DiaryMonth {
        patient: DocPatientId::from_uuid(patient),
        month,
    }
    .document_id();
    app.count_with(
        "SELECT COUNT(*) FROM documents WHERE id = $1",
        vec![id.to_string().into()],
    )
    .await
}

fn berlin_month(at: DateTime<Utc>) -> Month {
    Month::of(at.with_timezone(&chrono_tz::Europe::Berlin).date_naive()).unwrap()
}

fn pain_ids(entries: &Value) -> Vec<(String, f64, String)> {
    let mut out: Vec<_> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == json!("pain"))
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["score"].as_f64().unwrap(),
                e["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

async fn two_offline_devices_merge(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8001").await;
    let patient_id = patient.patient_id.unwrap().uuid();
    let tmp = tempfile::tempdir().unwrap();
    let out = kit(
        "two-devices",
        json!({"port": port_of(&app), "email": patient.email, "password": PASSWORD,
               "dir": tmp.path()}),
    )
    .await;

    // The month was new: both devices started it offline from the served genesis.
    let month: Month = out["month"].as_str().unwrap().parse().unwrap();
    assert_eq!(out["storedBefore"], json!(false), "{out}");

    // Device A, restarted offline, still has what it logged (from its NodeFS storage).
    let restarted = out["afterRestart"].as_array().unwrap();
    assert_eq!(restarted.len(), 2, "{out}");
    assert!(
        restarted
            .iter()
            .any(|e| e["kind"] == json!("medication") && e["drug"] == json!("ibuprofen"))
    );

    // Both devices converged on both pain entries, B's offline edit included.
    let a_id = out["refs"]["painA"]["id"].as_str().unwrap().to_owned();
    let b_id = out["refs"]["painB"]["id"].as_str().unwrap().to_owned();
    let want = vec![
        (a_id, 3.0, "written on A offline".to_owned()),
        (b_id, 5.0, "written on B offline, edited".to_owned()),
    ];
    assert_eq!(pain_ids(&out["seen"]["a"]), want, "{out}");
    assert_eq!(pain_ids(&out["seen"]["b"]), want, "{out}");
    assert!(
        out["indexMonths"]
            .as_array()
            .unwrap()
            .contains(&json!(month.to_string()))
    );

    // While the network was gone, B retried with exponential backoff under the cap.
    let statuses = out["offlineStatuses"].as_array().unwrap();
    assert!(statuses.len() >= 3, "{out}");
    let (initial, max) = (
        out["retry"]["initialMs"].as_f64().unwrap(),
        out["retry"]["maxMs"].as_f64().unwrap(),
    );
    for s in statuses {
        let attempt = s["attempt"].as_f64().unwrap();
        let delay = s["retryInMs"].as_f64().unwrap();
        let base = (initial * 2f64.powf(attempt - 1.0)).min(max);
        assert!(
            delay >= base / 2.0 - 1.0 && delay <= base + 1.0,
            "{s} of {out}"
        );
    }
    assert!(
        statuses
            .iter()
            .any(|s| s["retryInMs"].as_f64().unwrap() > initial),
        "the delay grows: {out}"
    );

    // The server stored the month once and projected both devices' entries as valid.
    assert_eq!(month_rows(&app, patient_id, month).await, 1);
    assert_eq!(
        projected_pain(&app, patient_id).await,
        [(3.0, true), (5.0, true)]
    );
    let meds = app
        .count_with(
            "SELECT COUNT(*) FROM medication_intakes WHERE patient_id = $1 AND valid",
            vec![patient_id.into()],
        )
        .await;
    assert_eq!(meds, 1);
}

story!(two_offline_devices_merge);

/// The first instant of the month after `now`'s, in Berlin.
fn next_berlin_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    let first = NaiveDate::from_ymd_opt(y, m, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    chrono_tz::Europe::Berlin
        .from_local_datetime(&first)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

async fn new_month_from_genesis_at_local_midnight(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8002").await;
    let patient_id = patient.patient_id.unwrap().uuid();
    // Server and kit both stand three seconds before the patient's next month begins.
    let start = next_berlin_month_start(Utc::now());
    let fake_now = start - TimeDelta::seconds(3);
    app.clock
        .advance(fake_now - paindiary_server::clock::Clock::now(&app.clock));
    let current = berlin_month(fake_now);
    let next = berlin_month(start);
    assert_ne!(current, next);

    let out = kit(
        "new-month",
        json!({"baseUrl": app.base_url, "email": patient.email, "password": PASSWORD,
               "fakeNowMs": fake_now.timestamp_millis()}),
    )
    .await;
    assert_eq!(out["before"], json!(current.to_string()), "{out}");
    assert!(
        out["listed"]
            .as_array()
            .unwrap()
            .contains(&json!({"month": next.to_string(), "stored": false})),
        "{out}"
    );
    assert_eq!(
        out["changed"],
        json!({"month": next.to_string(), "previous": current.to_string()})
    );
    assert_eq!(out["after"], json!(next.to_string()));
    assert_eq!(out["ref"]["month"], json!(next.to_string()));
    assert!(
        out["documentsAfter"]
            .as_array()
            .unwrap()
            .contains(&json!({"month": next.to_string(), "stored": true})),
        "{out}"
    );
    assert!(
        out["indexMonths"]
            .as_array()
            .unwrap()
            .contains(&json!(next.to_string()))
    );
    assert_eq!(month_rows(&app, patient_id, next).await, 1);
    assert_eq!(month_rows(&app, patient_id, current).await, 0);
    assert_eq!(projected_pain(&app, patient_id).await, [(2.0, true)]);
}

story!(new_month_from_genesis_at_local_midnight);

async fn revoked_token_is_a_typed_event_not_a_crash(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let (patient_id, code) = app.create_patient(clinic, "PD-8003").await;
    let email = format!("new-{}@example.org", uuid::Uuid::new_v4().simple());
    let out = kit(
        "session-expiry",
        json!({"baseUrl": app.base_url, "code": code, "email": email, "password": PASSWORD}),
    )
    .await;
    // The kit enrolled the patient with the invitation code.
    assert_eq!(out["enrolled"], json!(patient_id.to_string()), "{out}");
    assert_eq!(out["logoutStatus"], json!(204), "{out}");
    assert_eq!(out["event"]["reason"], json!("unauthorized"), "{out}");
    // The server's own words before it closed the socket reach the app.
    assert!(
        out["event"]["serverMessage"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{out}"
    );
    // The kit stopped reconnecting, forgot the token, and says why a sync cannot happen.
    assert_eq!(
        out["statuses"].as_array().unwrap().last(),
        Some(&json!("stopped")),
        "{out}"
    );
    assert_eq!(out["storeCleared"], json!(true));
    assert_eq!(out["syncError"], json!("session_expired"));
    assert_eq!(
        out["connectError"],
        json!({"code": "session_expired", "name": "SessionExpiredError"})
    );
}

story!(revoked_token_is_a_typed_event_not_a_crash);

async fn invalid_entries_refused_locally_and_reported_by_the_server(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8004").await;
    let patient_id = patient.patient_id.unwrap();
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    app.add_to_care_team(patient_id, nurse.user_id).await;
    let stranger = app.enrolled_patient(clinic, "PD-8005").await;

    let out = kit(
        "invalid-and-read-only",
        json!({"baseUrl": app.base_url, "email": patient.email, "password": PASSWORD}),
    )
    .await;
    let refused = &out["refused"];
    let codes = |label: &str| refused[label]["errors"].clone();
    assert_eq!(codes("score12"), json!(["out_of_scale"]), "{out}");
    assert_eq!(
        refused["score12"]["message"],
        json!("score must be between 0 and 10, got 12")
    );
    assert_eq!(codes("spoonful"), json!(["unknown_term"]));
    assert_eq!(codes("stringScore"), json!(["required"]));
    assert_eq!(codes("nothing"), json!(["nothing_recorded"]));
    assert_eq!(codes("badEdit"), json!(["out_of_scale"]));
    assert_eq!(refused["unknownField"]["code"], json!("unknown_field"));
    for doc in ["carePlan", "index"] {
        assert_eq!(refused[doc]["code"], json!("read_only_document"), "{out}");
        assert_eq!(refused[doc]["name"], json!("ReadOnlyDocumentError"));
    }
    // Nothing refused was written: only the one valid entry is there.
    let local = out["localAfterRefusals"].as_array().unwrap();
    assert_eq!(local.len(), 1, "{out}");
    assert_eq!(local[0]["score"], json!(6));

    // The raw writes: the kit reads the unreadable ones as the server does...
    let ids = &out["ids"];
    let unreadable: Vec<&str> = out["localUnreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["key"].as_str().unwrap())
        .collect();
    for label in ["stringScore", "noTz", "badKey"] {
        assert!(unreadable.contains(&ids[label].as_str().unwrap()), "{out}");
    }

    // ...and the server reports all four, with reasons, to the patient.
    let issues = out["issues"].as_array().unwrap();
    let issue = |label: &str| {
        let key = ids[label].as_str().unwrap();
        issues
            .iter()
            .find(|i| i["entry_key"] == json!(key))
            .unwrap_or_else(|| panic!("no issue for {label}: {out}"))
            .clone()
    };
    let score12 = issue("score12");
    assert_eq!(score12["readable"], json!(true));
    assert_eq!(score12["problems"][0]["code"], json!("out_of_scale"));
    assert_eq!(score12["kind"], json!("pain"));
    assert_eq!(score12["month"], out["month"]);
    for (label, needle) in [
        ("stringScore", "score"),
        ("noTz", "tz"),
        ("badKey", "not a UUID"),
    ] {
        let found = issue(label);
        assert_eq!(found["readable"], json!(false), "{found}");
        assert_eq!(found["problems"][0]["code"], json!("unreadable"), "{found}");
        assert!(
            found["problems"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{found}"
        );
    }
    assert_eq!(issues.len(), 4, "{out}");

    // The app fixed the two unreadable entries by editing them: the server reads them now,
    // and only the score of 12 and the bad key are left to fix.
    let mut left: Vec<&str> = out["issuesAfterFix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entry_key"].as_str().unwrap())
        .collect();
    left.sort_unstable();
    let mut want = vec![
        ids["score12"].as_str().unwrap(),
        ids["badKey"].as_str().unwrap(),
    ];
    want.sort_unstable();
    assert_eq!(left, want, "{out}");
    let fixed: Vec<f64> = out["liveAfterFix"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["score"].as_f64())
        .collect();
    assert!(fixed.contains(&7.0) && fixed.contains(&4.0), "{out}");

    // The care team sees the same list; another patient and the clinic admin do not.
    let path = format!("/api/v1/patients/{patient_id}/entry-issues");
    let (status, body) = app.get(&path, &nurse.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issues"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["truncated"], json!(false));
    let (status, body) = app.get(&path, &stranger.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let admin = app.create_staff(clinic, Role::Admin).await;
    let (status, _) = app.get(&path, &admin.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&path, "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Every read is audited, the refused ones as denied.
    let audited = app
        .count_with(
            "SELECT COUNT(*) FROM audit_events WHERE patient_id = $1 \
             AND target = 'GET /api/v1/patients/{id}/entry-issues'",
            vec![patient_id.uuid().into()],
        )
        .await;
    assert!(audited >= 4, "{audited}");
    // The valid and the fixed entries are projected; the invalid one too, marked invalid.
    assert_eq!(
        projected_pain(&app, patient_id.uuid()).await,
        [(4.0, true), (6.0, true), (7.0, true), (12.0, false)]
    );
}

story!(invalid_entries_refused_locally_and_reported_by_the_server);

fn meta(recorded_at: DateTime<Utc>, tz: &str) -> EntryMeta {
    EntryMeta {
        recorded_at,
        tz: tz.into(),
        deleted_at: None,
        updated_at: None,
    }
}

fn pain(score: f64, worst: Option<f64>, least: Option<f64>, locations: &[&str]) -> PainEntry {
    PainEntry {
        meta: meta(Utc::now(), "Europe/Berlin"),
        score,
        worst,
        least,
        locations: locations.iter().map(|s| (*s).to_owned()).collect(),
        location_note: None,
        qualities: vec![],
        note: None,
    }
}

fn medication(amount: f64, unit: &str, route: Option<&str>, status: &str) -> MedicationIntake {
    MedicationIntake {
        meta: meta(Utc::now(), "Europe/Berlin"),
        drug: "oxycodone".into(),
        rxnorm: None,
        amount,
        unit: unit.into(),
        route: route.map(str::to_owned),
        status: status.into(),
        prn: true,
        prn_reason: None,
        note: None,
    }
}

/// Entries that exercise every rule; the kit must find exactly what `Entry::validate`
/// finds in each, code, fields and message.
fn validation_cases(now: DateTime<Utc>) -> Vec<Entry> {
    let mut cases = vec![
        Entry::Pain(pain(6.0, Some(8.0), Some(2.0), &["lower_back", " neck "])),
        Entry::Pain(pain(12.0, Some(1.0), Some(3.0), &["spine"])),
        Entry::Pain(pain(7.5, None, None, &[])),
        Entry::Pain(pain(-1.0, None, None, &["head"; 13])),
        Entry::Medication(medication(5.0, "mg", Some("oral"), "taken")),
        Entry::Medication(medication(50_000.0, "mg", None, "taken")),
        Entry::Medication(medication(0.0, "spoonful", Some("by mouth"), "forgot")),
        Entry::Medication(medication(-2.0, "tablet", None, "skipped")),
        Entry::Checkin(PegCheckin {
            meta: meta(now, "Europe/Berlin"),
            pain: 11.0,
            enjoyment: 5.5,
            activity: 3.0,
            note: Some("x".repeat(MAX_NOTE_CHARS + 1)),
        }),
        Entry::Exercise(ExerciseSession {
            meta: meta(now, "Mars/Olympus_Mons"),
            activity: "  ".into(),
            minutes: 0.0,
            sets: Some(2.5),
            reps: Some(1001.0),
            exertion: Some(10.0),
            note: None,
        }),
        Entry::Exercise(ExerciseSession {
            meta: meta(now + TimeDelta::hours(49), "America/New_York"),
            activity: "walking ".repeat(30),
            minutes: 30.0,
            sets: None,
            reps: None,
            exertion: None,
            note: None,
        }),
        Entry::Wellbeing(WellbeingEntry {
            meta: meta(now + TimeDelta::hours(47), "UTC"),
            sleep_hours: None,
            sleep_quality: None,
            mood: None,
            stress: None,
            note: Some("ok".into()),
        }),
        Entry::Wellbeing(WellbeingEntry {
            meta: meta(now, "Asia/Kolkata"),
            sleep_hours: Some(25.0),
            sleep_quality: Some(10.0),
            mood: Some(0.0),
            stress: Some(3.5),
            note: None,
        }),
    ];
    let mut long = medication(1.0, "mcg_per_hour", Some("transdermal"), "taken");
    long.drug = "é".repeat(MAX_SHORT_TEXT_CHARS + 1);
    long.rxnorm = Some("12345678901234567".into());
    long.prn_reason = Some("p".repeat(201));
    cases.push(Entry::Medication(long));
    let mut qualities = pain(3.0, None, None, &[]);
    qualities.qualities = vec!["burning".into(), "itchy".into()];
    qualities.location_note = Some("l".repeat(201));
    cases.push(Entry::Pain(qualities));
    // Questionnaire responses: valid, answers off the scale or unknown (in link-ID order),
    // no answers with a long note, an unknown instrument, empty and too-long texts.
    let questionnaire = |instrument: &str, version: &str, answers: &[(&str, f64)]| {
        Entry::Questionnaire(QuestionnaireResponse {
            meta: meta(now, "Europe/Berlin"),
            instrument: instrument.to_owned(),
            version: version.to_owned(),
            answers: answers.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            note: None,
        })
    };
    cases.push(questionnaire(
        "phq9",
        "1",
        &[("44250-9", 2.0), ("44260-8", 1.0)],
    ));
    cases.push(questionnaire(
        "phq9",
        "1",
        &[
            ("nine", 1.0),
            ("44259-0", -1.0),
            ("44250-9", 4.0),
            ("44255-8", 1.5),
        ],
    ));
    let mut no_answers = questionnaire("gad7", "1", &[]);
    if let Entry::Questionnaire(q) = &mut no_answers {
        q.note = Some("n".repeat(MAX_NOTE_CHARS + 1));
    }
    cases.push(no_answers);
    cases.push(questionnaire("bpi", "1", &[("1", 1.0)]));
    cases.push(questionnaire(" ", "v2.0.0-prerelease.1", &[("pain", 3.0)]));
    cases
}

/// A JSON value with every number as a float, so 12 and 12.0 compare equal.
fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(floats).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        other => other.clone(),
    }
}

fn codes<T: std::fmt::Display>(all: &[T]) -> Value {
    json!(all.iter().map(ToString::to_string).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vocabularies_limits_and_validation_match_the_rust_schema() {
    let now = Utc::now();
    let cases = validation_cases(now);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cases.json");
    std::fs::write(&file, serde_json::to_string(&cases).unwrap()).unwrap();
    let out = kit(
        "vocab",
        json!({"cases": file, "now": now.to_rfc3339_opts(SecondsFormat::Millis, true)}),
    )
    .await;

    let vocab = &out["vocab"];
    assert_eq!(vocab["body_regions"], codes(BodyRegion::ALL));
    assert_eq!(vocab["pain_qualities"], codes(PainQuality::ALL));
    assert_eq!(vocab["routes"], codes(Route::ALL));
    assert_eq!(vocab["intake_statuses"], codes(IntakeStatus::ALL));
    assert_eq!(vocab["intervention_kinds"], codes(InterventionKind::ALL));
    let units: serde_json::Map<String, Value> = DoseUnit::ALL
        .iter()
        .map(|u| (u.as_str().to_owned(), json!(u.max_single_dose())))
        .collect();
    assert_eq!(floats(&vocab["dose_units"]), Value::Object(units));
    // Same order too: the kit lists units in schema order.
    assert_eq!(vocab["dose_unit_order"], codes(DoseUnit::ALL));
    assert_eq!(vocab["entry_kinds"], codes(&EntryKind::ALL));
    for kind in EntryKind::ALL {
        assert_eq!(
            vocab["map_keys"][kind.as_str()],
            json!(kind.map_key()),
            "{kind}"
        );
        assert_eq!(
            vocab["fields_of"][kind.as_str()],
            json!(fields_of(kind)),
            "{kind}"
        );
    }
    let limits = &vocab["limits"];
    assert_eq!(limits["maxNoteChars"], json!(MAX_NOTE_CHARS));
    assert_eq!(limits["maxShortTextChars"], json!(MAX_SHORT_TEXT_CHARS));
    assert_eq!(limits["maxLocations"], json!(MAX_LOCATIONS));
    assert_eq!(limits["maxQualities"], json!(MAX_QUALITIES));
    assert_eq!(
        limits["maxFutureSkewMs"],
        json!(MAX_FUTURE_SKEW.num_milliseconds())
    );
    assert_eq!(limits["maxEntriesPerKind"], json!(MAX_ENTRIES_PER_KIND));

    // Every case: the same problems, in the same order, with the same fields and words.
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    let mut problems = 0;
    for (case, found) in cases.iter().zip(results) {
        let want: Vec<Value> = case
            .validate(now)
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap();
                v["message"] = json!(e.to_string());
                if v["code"] == json!("in_future") {
                    // The kit writes the instant as JS does (millisecond ISO 8601).
                    v["recorded_at"] = json!(
                        case.meta()
                            .recorded_at
                            .to_rfc3339_opts(SecondsFormat::Millis, true)
                    );
                    v["message"] = Value::Null;
                }
                floats(&v)
            })
            .collect();
        let got: Vec<Value> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut v = floats(e);
                if v["code"] == json!("in_future") {
                    v["message"] = Value::Null;
                }
                v
            })
            .collect();
        assert_eq!(got, want, "case {}", serde_json::to_string(case).unwrap());
        problems += want.len();
    }
    assert!(
        problems > 25,
        "the cases must exercise the rules: {problems}"
    );
}

async fn schema_md_js_examples_run(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8006").await;
    let tmp = tempfile::tempdir().unwrap();
    let markdown = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.md");
    let out = kit(
        "doc-examples",
        json!({"markdown": markdown, "env": {
            "PAINDIARY_URL": app.base_url, "PAINDIARY_EMAIL": patient.email,
            "PAINDIARY_PASSWORD": PASSWORD, "PAINDIARY_DIR": tmp.path(),
        }}),
    )
    .await;
    let blocks = out["blocks"].as_array().unwrap();
    assert!(blocks.len() >= 4, "{out}");
    for block in blocks {
        assert_eq!(block["exit"], json!(0), "{block}");
        assert!(!block["expected"].as_array().unwrap().is_empty(), "{block}");
        assert_eq!(block["printed"], block["expected"], "{block}");
    }
    // The example's entry reached the server: edited, then deleted.
    let rows = app
        .count_with(
            "SELECT COUNT(*) FROM pain_entries WHERE patient_id = $1 AND deleted AND score = 5",
            vec![patient.patient_id.unwrap().uuid().into()],
        )
        .await;
    assert_eq!(rows, 1);
}

story!(schema_md_js_examples_run);

// ---------------------------------------------------------------------------------------
// The kit in headless Chromium, with automerge-repo's IndexedDB storage: log in online,
// log an entry offline, reload the page offline and find it still there, then sync.

mod browser {
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::http::header;
    use axum::routing::get;
    use fantoccini::{Client, ClientBuilder};
    use paindiary_tests::{Backend, PASSWORD, spawn_app_with};
    use serde_json::{Value, json};
    use tokio::net::{TcpListener, TcpStream};

    use super::{kit_dir, projected_pain};

    const CHROMIUM: &str = "/usr/bin/chromium";
    const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
    const STATIC_PREFIX: &str = "GET /kit-test/";

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
                "{path} is missing: install the Debian packages `chromium` and `chromium-driver`"
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
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("WebDriver session")
    }

    /// The page's origin: a TCP proxy in front of the server that always passes the test
    /// page's own files (served with `connection: close`), and passes the API and the
    /// WebSocket only while `online` (going offline cuts what is open): the network gone
    /// for the app, while the page can still be reloaded, as an installed app would be.
    struct Network {
        port: u16,
        online: Arc<AtomicBool>,
        open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    }

    impl Network {
        async fn start(upstream: u16) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let online = Arc::new(AtomicBool::new(true));
            let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
            let (on, tasks) = (online.clone(), open.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let (on, tasks2) = (on.clone(), tasks.clone());
                    let task = tokio::spawn(async move {
                        let mut first = [0u8; 64];
                        let Ok(n) = client.peek(&mut first).await else {
                            return;
                        };
                        let is_static = first[..n].starts_with(STATIC_PREFIX.as_bytes());
                        if !is_static && !on.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                    tasks2.lock().unwrap().push(task.abort_handle());
                }
            });
            Self { port, online, open }
        }

        fn url(&self, path: &str) -> String {
            format!("http://127.0.0.1:{}{path}", self.port)
        }

        fn set_online(&self, online: bool) {
            self.online.store(online, Ordering::SeqCst);
            if !online {
                for task in self.open.lock().unwrap().drain(..) {
                    task.abort();
                }
            }
        }
    }

    fn static_routes() -> axum::Router<paindiary_server::state::AppState> {
        let dir = kit_dir().join("test/browser");
        let serve = |path: std::path::PathBuf, kind: &'static str| {
            get(move || {
                let path = path.clone();
                async move {
                    let body = std::fs::read(&path).unwrap_or_default();
                    (
                        [(header::CONTENT_TYPE, kind), (header::CONNECTION, "close")],
                        body,
                    )
                }
            })
        };
        axum::Router::new()
            .route(
                "/kit-test/page.html",
                serve(dir.join("page.html"), "text/html; charset=utf-8"),
            )
            .route(
                "/kit-test/page.js",
                serve(dir.join("dist/page.js"), "text/javascript"),
            )
    }

    async fn step(c: &Client, name: &str, args: Value) -> Value {
        let out = c
            .execute_async(
                "const [name, args, done] = arguments; window.kitStep(name, args).then(done);",
                vec![json!(name), args],
            )
            .await
            .unwrap_or_else(|e| panic!("step {name}: {e}"));
        let out: Value = serde_json::from_str(out.as_str().unwrap()).unwrap();
        assert_eq!(out["ok"], json!(true), "step {name}: {out}");
        out
    }

    async fn load(c: &Client, net: &Network) {
        c.goto(&net.url("/kit-test/page.html")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while c
            .execute("return window.kitReady === true", vec![])
            .await
            .unwrap()
            != json!(true)
        {
            assert!(Instant::now() < deadline, "the kit's page did not load");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn offline_in_chromium_with_indexeddb(backend: Backend) {
        if !backend.selected() {
            return;
        }
        assert!(
            kit_dir().join("test/browser/dist/page.js").is_file(),
            "run `npm run build:browser` in clients/js"
        );
        let app = spawn_app_with(backend, |_| {}, static_routes()).await;
        let clinic = app.create_clinic("North").await;
        let patient = app.enrolled_patient(clinic, "PD-8101").await;
        let patient_id = patient.patient_id.unwrap().uuid();
        let net = Network::start(super::port_of(&app)).await;
        let driver = start_driver().await;
        let c = browser(&driver).await;

        load(&c, &net).await;
        let login = step(
            &c,
            "login",
            json!({"email": patient.email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(login["stored"], json!(false), "{login}");
        step(&c, "close", json!({})).await;

        // Offline: the app opens from localStorage and IndexedDB and logs an entry.
        net.set_online(false);
        load(&c, &net).await;
        step(&c, "open", json!({})).await;
        let added = step(
            &c,
            "add",
            json!({"score": 7, "note": "offline in the browser"}),
        )
        .await;
        assert_eq!(added["live"].as_array().unwrap().len(), 1, "{added}");
        step(&c, "close", json!({})).await;

        // Reloaded, still offline: the entry is still there.
        load(&c, &net).await;
        step(&c, "open", json!({})).await;
        let read = step(&c, "read", json!({})).await;
        assert_eq!(read["live"], added["live"], "{read}");
        assert!(projected_pain(&app, patient_id).await.is_empty());

        // Back online: the open page reconnects by itself and the server gets the entry.
        net.set_online(true);
        let synced = step(&c, "sync", json!({})).await;
        assert_eq!(synced["status"], json!("online"), "{synced}");
        assert_eq!(projected_pain(&app, patient_id).await, [(7.0, true)]);
        step(&c, "close", json!({})).await;
        c.close().await.unwrap();
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        offline_in_chromium_with_indexeddb(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        offline_in_chromium_with_indexeddb(Backend::Postgres).await;
    }
}

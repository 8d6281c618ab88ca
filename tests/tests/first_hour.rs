//! The first hour: `paindiary-tools demo` seeds a believable clinic through the real sync path,
//! and the phone CLI records offline and syncs later. Stories run on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use paindiary_server::clock::Clock;
use paindiary_server::domain::Role;
use paindiary_server::entity::alerts;
use paindiary_server::{AppState, server};
use paindiary_tests::{TestApp, story};
use paindiary_tools::demo::{self, DemoArgs, Story};
use paindiary_tools::phone::{self, EditArgs, LogArgs, LogCommand, PhoneArgs, PhoneCommand};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::Value;

fn sync_url(app: &TestApp) -> String {
    format!("{}/sync", app.base_url.replacen("http", "ws", 1))
}

/// Seeds the full demo (25 patients x 90 days) into `app`; returns the summary.
async fn seed_demo(app: &TestApp, phones: &std::path::Path) -> demo::DemoSummary {
    demo::seed(&app.state, &sync_url(app), phones, &DemoArgs::default())
        .await
        .expect("demo seeds")
}

async fn demo_seeds_a_clinic_through_the_sync_path(app: Arc<TestApp>) {
    let tmp = tempfile::tempdir().unwrap();
    let summary = seed_demo(&app, &tmp.path().join("phones")).await;
    assert!(!summary.already_seeded);
    assert_eq!(summary.patients.len(), 25);
    assert!(
        summary.entries > 25 * 90 * 5,
        "about eight entries a day per patient, got {}",
        summary.entries
    );
    // The simulated phones' stores are gone; what remains is on the server.
    assert!(!tmp.path().join("phones").exists());

    // Both clinicians log in with the printed credentials and see every patient.
    let physician = app
        .login_ok(demo::PHYSICIAN_EMAIL, demo::DEMO_PASSWORD, None)
        .await;
    let nurse = app
        .login_ok(demo::NURSE_EMAIL, demo::DEMO_PASSWORD, None)
        .await;
    for token in [&physician, &nurse] {
        let (status, body) = app.get("/api/v1/patients", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let listed = body["patients"].as_array().unwrap();
        assert_eq!(listed.len(), 25);
        assert!(listed.iter().all(|p| p["enrolled"] == true));
    }

    // Every entry a phone recorded arrived, was projected and is valid.
    let today = app.clock.now().date_naive();
    let from = today - TimeDelta::days(91);
    let mut total = 0;
    for patient in &summary.patients {
        let (status, body) = app
            .get(
                &format!(
                    "/api/v1/patients/{}/entries?from={from}&to={today}",
                    patient.id
                ),
                &physician,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let counts = &body["counts"];
        let sum: u64 = ["pain", "medication", "exercise", "wellbeing", "checkin"]
            .iter()
            .map(|k| counts[*k].as_u64().unwrap())
            .sum();
        assert_eq!(sum as usize, patient.entries, "{}", patient.display_code);
        for kind in ["pain", "medication", "wellbeing", "checkin"] {
            assert!(
                counts[kind].as_u64().unwrap() > 0,
                "{kind} for {}",
                patient.display_code
            );
        }
        let entries = body["entries"].as_array().unwrap();
        assert!(entries.iter().all(|e| e["valid"] == true));
        // Missed doses are in the diary as skipped intakes.
        total += sum as usize;

        // The stories show in the numbers a clinician would look at.
        let pain_mean = |from_days: i64, to_days: i64| {
            let scores: Vec<f64> = entries
                .iter()
                .filter(|e| e["kind"] == "pain")
                .filter(|e| {
                    let date: chrono::NaiveDate =
                        e["local_date"].as_str().unwrap().parse().unwrap();
                    let ago = (today - date).num_days();
                    ago >= from_days && ago < to_days
                })
                .map(|e| e["score"].as_f64().unwrap())
                .collect();
            scores.iter().sum::<f64>() / scores.len().max(1) as f64
        };
        match patient.story {
            // The drug is stopped 9 days before the end; the last three days against
            // the two weeks before the stop.
            Story::WorseningAfterChange => assert!(
                pain_mean(1, 4) - pain_mean(10, 24) >= 2.0,
                "{} worsens after the drug was stopped",
                patient.display_code
            ),
            Story::InterventionHelped => assert!(
                pain_mean(60, 76) - pain_mean(1, 21) >= 2.0,
                "{} is better after the injection",
                patient.display_code
            ),
            Story::Stable => {}
        }
    }
    assert_eq!(total, summary.entries);
    assert_eq!(
        summary
            .patients
            .iter()
            .filter(|p| p.story == Story::WorseningAfterChange)
            .count(),
        4
    );
    let skipped = medication_statuses(&app, &physician, &summary, today).await;
    assert!(skipped > 0, "some doses are logged as skipped");

    // The care plans arrived through the physician's sync client: the injection that
    // helped, and the drug stopped before the worsening.
    let helped = summary
        .patients
        .iter()
        .find(|p| p.story == Story::InterventionHelped)
        .unwrap();
    let plan = care_plan(&app, &physician, helped.id).await;
    assert_eq!(plan.interventions.len(), 1);
    assert_eq!(plan.interventions[0].kind, "epidural_steroid_injection");
    assert!(plan.interventions[0].date < today - TimeDelta::days(30));
    for worse in summary
        .patients
        .iter()
        .filter(|p| p.story == Story::WorseningAfterChange)
    {
        let plan = care_plan(&app, &physician, worse.id).await;
        let stopped: Vec<_> = plan
            .medications
            .iter()
            .filter(|m| m.end_date.is_some())
            .collect();
        assert_eq!(stopped.len(), 1, "{}", worse.display_code);
        // Stopped a week and a bit before the end (the demo stops it 9 days before).
        assert!(stopped[0].end_date.unwrap() >= today - TimeDelta::days(11));
    }

    // Running the demo again on the same database adds nothing.
    let again = seed_demo(&app, &tmp.path().join("phones")).await;
    assert!(again.already_seeded);
    let (_, body) = app.get("/api/v1/patients", &physician).await;
    assert_eq!(body["patients"].as_array().unwrap().len(), 25);
}
story!(demo_seeds_a_clinic_through_the_sync_path);

/// The patient's care plan as the care team's sync client receives it.
async fn care_plan(
    app: &TestApp,
    token: &str,
    patient: paindiary_server::domain::PatientId,
) -> paindiary_sync::schema::care_plan::CarePlan {
    use paindiary_sync::replica::{Connection, ServerEndpoint, SyncTarget};
    let endpoint = ServerEndpoint {
        url: sync_url(app),
        token: Some(token.to_owned()),
    };
    let timeout = Duration::from_secs(30);
    let peer = paindiary_sync::protocol::PeerId::new("test-clinician").unwrap();
    let mut conn = Connection::connect(&endpoint, peer, None, timeout)
        .await
        .unwrap();
    let mut doc = automerge::AutoCommit::new();
    let mut state = automerge::sync::State::new();
    let id = paindiary_sync::schema::DocKind::CarePlan {
        patient: paindiary_sync::ids::PatientId::from_uuid(patient.uuid()),
    }
    .document_id();
    let outcomes = conn
        .sync_documents(
            &mut [SyncTarget {
                id,
                doc: &mut doc,
                state: &mut state,
            }],
            timeout,
        )
        .await
        .unwrap();
    conn.close().await;
    assert!(!outcomes[0].unavailable);
    paindiary_sync::schema::care_plan::read_care_plan(&doc)
}

async fn medication_statuses(
    app: &TestApp,
    token: &str,
    summary: &demo::DemoSummary,
    today: chrono::NaiveDate,
) -> usize {
    let mut skipped = 0;
    for patient in summary.patients.iter().take(5) {
        let (_, body) = app
            .get(
                &format!(
                    "/api/v1/patients/{}/entries?from={}&to={today}",
                    patient.id,
                    today - TimeDelta::days(91)
                ),
                token,
            )
            .await;
        skipped += body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "medication" && e["status"] == "skipped")
            .count();
    }
    skipped
}

async fn demo_raises_a_worsening_alert(app: Arc<TestApp>) {
    let tmp = tempfile::tempdir().unwrap();
    seed_demo(&app, &tmp.path().join("phones")).await;
    let worsening = alerts::Entity::find()
        .filter(alerts::Column::Rule.eq("worsening"))
        .count(&app.state.db)
        .await
        .unwrap();
    assert!(worsening >= 1, "no worsening alert after seeding the demo");
}
story!(demo_raises_a_worsening_alert);

/// Runs one phone command; returns its output lines or the error's message.
async fn phone(dir: &std::path::Path, command: PhoneCommand) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let mut out = |line: &str| lines.push(line.to_owned());
    let result = phone::run(
        PhoneArgs {
            dir: dir.to_owned(),
            command,
        },
        &mut out,
    )
    .await;
    result.map(|()| lines).map_err(|e| e.to_string())
}

async fn phone_cli_logs_offline_and_syncs_later(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Phone Clinic").await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let (patient_id, code) = app.create_patient(clinic, "PH-1").await;
    app.add_to_care_team(patient_id, physician.user_id).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("phone");

    // Not logged in yet: a sentence saying what to do.
    let err = phone(&dir, PhoneCommand::List { limit: 10 })
        .await
        .unwrap_err();
    assert!(err.contains("paindiary-tools phone login"), "{err}");

    let out = phone(
        &dir,
        PhoneCommand::Enrol {
            server: app.base_url.clone(),
            code,
            email: "phone-patient@example.org".into(),
            password: "a long phone passphrase".into(),
        },
    )
    .await
    .unwrap();
    assert!(out[0].contains(&patient_id.to_string()), "{out:?}");

    // The server goes down; the phone keeps recording.
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    app.trigger_shutdown();
    assert!(app.wait_stopped(Duration::from_secs(30)).await.is_some());
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());

    let bad = phone(
        &dir,
        PhoneCommand::Log(LogArgs {
            at: None,
            entry: LogCommand::Pain {
                score: 12.0,
                worst: None,
                least: None,
                locations: vec![],
                qualities: vec![],
                note: None,
            },
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(bad, "score must be between 0 and 10, got 12");

    phone(
        &dir,
        PhoneCommand::Log(LogArgs {
            at: None,
            entry: LogCommand::Pain {
                score: 6.0,
                worst: Some(8.0),
                least: None,
                locations: vec!["lower_back".into()],
                qualities: vec!["aching".into()],
                note: Some("after the long drive".into()),
            },
        }),
    )
    .await
    .unwrap();
    phone(
        &dir,
        PhoneCommand::Log(LogArgs {
            at: None,
            entry: LogCommand::Med {
                drug: "oxycodone".into(),
                dose_mg: Some(5.0),
                amount: None,
                unit: None,
                route: "oral".into(),
                prn: true,
                skipped: false,
                note: None,
            },
        }),
    )
    .await
    .unwrap();
    let out = phone(
        &dir,
        PhoneCommand::Log(LogArgs {
            at: None,
            entry: LogCommand::Exercise {
                minutes: 20.0,
                kind: "walking".into(),
                exertion: Some(4.0),
                note: None,
            },
        }),
    )
    .await
    .unwrap();
    assert!(out[0].contains("3 not yet synced"), "{out:?}");
    let listed = phone(&dir, PhoneCommand::List { limit: 10 }).await.unwrap();
    assert_eq!(
        listed[0],
        "3 entries on this phone, 3 not yet synced (marked *)"
    );
    assert!(
        listed
            .iter()
            .any(|l| l.contains("medication oxycodone 5 mg (taken)"))
    );

    // Syncing while the server is down fails with a sentence, and loses nothing.
    let down = phone(&dir, PhoneCommand::Sync { all: false })
        .await
        .unwrap_err();
    assert_eq!(
        down,
        "offline: 3 entries kept on this phone; they will sync next time"
    );

    // The server comes back on the same address and database; the phone syncs.
    let state = AppState::open_with_clock(app.config().clone(), Arc::new(app.clock.clone()))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let restarted = tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let out = phone(&dir, PhoneCommand::Sync { all: false })
        .await
        .unwrap();
    assert!(out[0].starts_with("syncing with ws://"), "{out:?}");
    assert!(out[1].contains("3 entries sent"), "{out:?}");
    assert!(out[1].contains("bytes sent"), "{out:?}");

    // The care team finds the three entries through the REST API.
    let (status, body) = app
        .get(
            &format!("/api/v1/patients/{patient_id}/entries{}", around_today()),
            &physician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{body}");
    let find = |kind: &str| -> &Value { entries.iter().find(|e| e["kind"] == kind).unwrap() };
    assert_eq!(find("pain")["score"], 6.0);
    assert_eq!(find("pain")["note"], "after the long drive");
    assert_eq!(find("medication")["drug"], "oxycodone");
    assert_eq!(find("medication")["amount"], 5.0);
    assert_eq!(find("exercise")["minutes"], 20.0);

    // Outsiders get 404 exactly as for a missing patient; the patient sees their own.
    let other_clinic = app.create_clinic("Other Clinic").await;
    let outsider = app.create_staff(other_clinic, Role::Physician).await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    for token in [&outsider.token, &admin.token] {
        let (status, body) = app
            .get(
                &format!("/api/v1/patients/{patient_id}/entries{}", around_today()),
                token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["code"], "not_found");
    }
    let own = app
        .login_ok("phone-patient@example.org", "a long phone passphrase", None)
        .await;
    let (status, body) = app
        .get(
            &format!("/api/v1/patients/{patient_id}/entries{}", around_today()),
            &own,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"].as_array().unwrap().len(), 3);

    // A second sync has nothing left to send.
    let out = phone(&dir, PhoneCommand::Sync { all: false })
        .await
        .unwrap();
    assert!(out[1].contains("0 entries sent"), "{out:?}");

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), restarted).await;
    state.db.close().await.ok();
}
story!(phone_cli_logs_offline_and_syncs_later);

fn pain(at: &str, score: f64) -> PhoneCommand {
    PhoneCommand::Log(LogArgs {
        at: Some(at.to_owned()),
        entry: LogCommand::Pain {
            score,
            worst: None,
            least: None,
            locations: vec![],
            qualities: vec![],
            note: None,
        },
    })
}

/// The entry ID in `recorded pain entry <id> at ...`.
fn recorded_id(out: &[String]) -> String {
    let words: Vec<&str> = out[0].split_whitespace().collect();
    assert_eq!(words[0], "recorded", "{out:?}");
    words[3].to_owned()
}

/// The phone records what really happened: `--at` in the patient's zone lands on the
/// right local day, `list` shows local times and marks what is not yet synced (before the
/// first sync too), and an edit and a delete made on the phone reach the care team's view.
async fn phone_cli_records_real_life(app: Arc<TestApp>) {
    let clinic = app.create_clinic("Real Life Clinic").await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    // The patient lives in Europe/Berlin (the harness's zone).
    let (patient_id, code) = app.create_patient(clinic, "PH-2").await;
    app.add_to_care_team(patient_id, physician.user_id).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("phone");
    phone(
        &dir,
        PhoneCommand::Enrol {
            server: app.base_url.clone(),
            code,
            email: "real-life@example.org".into(),
            password: "a long phone passphrase".into(),
        },
    )
    .await
    .unwrap();

    let berlin = chrono_tz::Europe::Berlin;
    let now = chrono::Utc::now();
    let yesterday = now.with_timezone(&berlin).date_naive() - TimeDelta::days(1);
    // 00:30 in Berlin is the previous day in UTC: the entry belongs to the local day.
    let last_night = format!("{yesterday} 00:30");
    let seven = recorded_id(&phone(&dir, pain(&last_night, 7.0)).await.unwrap());
    let ten = recorded_id(&phone(&dir, pain("yesterday 12:00", 10.0)).await.unwrap());
    let recent = recorded_id(&phone(&dir, pain("-1h", 4.0)).await.unwrap());
    // Within the first hour after local midnight, "an hour ago" is yesterday too.
    let recent_is_yesterday = u64::from(
        (now - TimeDelta::hours(1))
            .with_timezone(&berlin)
            .date_naive()
            == yesterday,
    );
    let checkin = phone(
        &dir,
        PhoneCommand::Checkin {
            at: Some("yesterday 20:00".into()),
            pain: 5.0,
            enjoyment: 4.0,
            activity: 6.0,
            note: None,
        },
    )
    .await
    .unwrap();
    let checkin = recorded_id(&checkin);
    let far = phone(&dir, pain("+3d", 3.0)).await.unwrap_err();
    assert!(far.contains("more than 48 hours in the future"), "{far}");
    let garbled = phone(&dir, pain("last night", 3.0)).await.unwrap_err();
    assert!(garbled.starts_with("cannot read --at"), "{garbled}");

    // Before any sync: the list is there, in local time, everything marked.
    let listed = phone(&dir, PhoneCommand::List { limit: 10 }).await.unwrap();
    assert_eq!(
        listed[0], "4 entries on this phone, 4 not yet synced (marked *)",
        "{listed:?}"
    );
    let seven_line = listed.iter().find(|l| l.contains(&seven)).unwrap();
    assert!(
        seven_line.starts_with(&format!("* {yesterday} 00:30 CE")),
        "{seven_line}"
    );
    assert!(seven_line.contains("pain 7"), "{seven_line}");

    let out = phone(&dir, PhoneCommand::Sync { all: false })
        .await
        .unwrap();
    assert!(out[1].contains("4 entries sent"), "{out:?}");
    let listed = phone(&dir, PhoneCommand::List { limit: 10 }).await.unwrap();
    assert_eq!(
        listed[0],
        "4 entries on this phone, 0 not yet synced (marked *)"
    );
    assert!(
        listed[1..].iter().all(|l| l.starts_with("  ")),
        "{listed:?}"
    );

    let entries = |body: &Value| body["entries"].as_array().unwrap().clone();
    let by_id = |list: &[Value], id: &str| -> Value {
        list.iter()
            .find(|e| e["entry_id"] == id)
            .unwrap_or_else(|| panic!("no entry {id} in {list:?}"))
            .clone()
    };
    let (status, body) = app
        .get(
            &format!("/api/v1/patients/{patient_id}/entries{}", around_today()),
            &physician.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = entries(&body);
    let seven_row = by_id(&listed, &seven);
    assert_eq!(seven_row["local_date"], yesterday.to_string());
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(seven_row["recorded_at"].clone()).unwrap();
    assert_eq!(
        at.with_timezone(&berlin)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        last_night
    );
    assert_ne!(
        at.date_naive(),
        yesterday,
        "00:30 in Berlin is the day before in UTC"
    );
    assert_eq!(by_id(&listed, &ten)["local_date"], yesterday.to_string());
    assert_eq!(
        by_id(&listed, &checkin)["local_date"],
        yesterday.to_string()
    );
    let recent_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(by_id(&listed, &recent)["recorded_at"].clone()).unwrap();
    let hour_ago = now - TimeDelta::hours(1);
    assert!(
        (recent_at - hour_ago).num_seconds().abs() < 120,
        "{recent_at} vs {hour_ago}"
    );

    let trends_of_yesterday = || async {
        let (status, body) = app
            .get(
                &format!("/api/v1/patients/{patient_id}/trends?from={yesterday}&to={yesterday}"),
                &physician.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["days"][0].clone()
    };
    let day = trends_of_yesterday().await;
    assert_eq!(day["pain_max"], 10.0, "{day}");
    assert_eq!(day["pain_count"], 2 + recent_is_yesterday, "{day}");

    // Edit the 7 to a 5 by the end of the ID `list` shows; delete the 10.
    let out = phone(
        &dir,
        PhoneCommand::Edit(Box::new(EditArgs {
            id: seven[seven.len() - 8..].to_owned(),
            score: Some(5.0),
            note: Some("it was less, thinking back".into()),
            ..EditArgs::default()
        })),
    )
    .await
    .unwrap();
    assert!(
        out[0].starts_with(&format!("edited pain entry {seven}")),
        "{out:?}"
    );
    // Options of another kind are refused, and so is an edit with nothing in it.
    let wrong = phone(
        &dir,
        PhoneCommand::Edit(Box::new(EditArgs {
            id: seven.clone(),
            drug: Some("ibuprofen".into()),
            ..EditArgs::default()
        })),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong, "pain entries have no --drug");
    let invalid = phone(
        &dir,
        PhoneCommand::Edit(Box::new(EditArgs {
            id: seven.clone(),
            score: Some(11.0),
            ..EditArgs::default()
        })),
    )
    .await
    .unwrap_err();
    assert!(
        invalid.contains("score must be between 0 and 10"),
        "{invalid}"
    );
    let out = phone(&dir, PhoneCommand::Delete { id: ten.clone() })
        .await
        .unwrap();
    assert!(
        out[0].starts_with(&format!("deleted pain entry {ten}")),
        "{out:?}"
    );
    let gone = phone(&dir, PhoneCommand::Delete { id: ten.clone() })
        .await
        .unwrap_err();
    assert!(gone.starts_with("no entry"), "{gone}");

    // The deleted 10 is no longer listed, but its deletion waits for the sync.
    let listed = phone(&dir, PhoneCommand::List { limit: 10 }).await.unwrap();
    assert_eq!(
        listed[0],
        "3 entries on this phone, 1 not yet synced (marked *), 1 deletion not yet synced"
    );
    let seven_line = listed.iter().find(|l| l.contains(&seven)).unwrap();
    assert!(seven_line.starts_with("* "), "{seven_line}");
    assert!(seven_line.contains("pain 5"), "{seven_line}");

    let out = phone(&dir, PhoneCommand::Sync { all: false })
        .await
        .unwrap();
    assert!(out[1].contains("2 entries sent"), "{out:?}");

    let (_, body) = app
        .get(
            &format!("/api/v1/patients/{patient_id}/entries{}", around_today()),
            &physician.token,
        )
        .await;
    let listed = entries(&body);
    let seven_row = by_id(&listed, &seven);
    assert_eq!(seven_row["score"], 5.0, "{seven_row}");
    assert_eq!(seven_row["note"], "it was less, thinking back");
    assert!(
        listed
            .iter()
            .all(|e| e["entry_id"] != ten.as_str() || e["deleted"] == true),
        "{listed:?}"
    );
    let day = trends_of_yesterday().await;
    assert_eq!(
        day["pain_max"], 5.0,
        "the deleted 10 is gone from the trends: {day}"
    );
    assert_eq!(day["pain_count"], 1 + recent_is_yesterday, "{day}");
}
story!(phone_cli_records_real_life);

/// A range of local days around today wherever the suite runs: the phone records in
/// Europe/Berlin with the real clock, so between 23:00 and 00:00 UTC its entries belong to
/// a local day after the UTC date (the default range ends at the patient's today).
fn around_today() -> String {
    let today = chrono::Utc::now().date_naive();
    format!(
        "?from={}&to={}",
        today - TimeDelta::days(3),
        today + TimeDelta::days(1)
    )
}

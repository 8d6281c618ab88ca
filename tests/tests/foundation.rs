//! End-to-end stories for the server foundation: accounts, auth, access, audit, errors,
//! health and shutdown. Each story runs on SQLite and on PostgreSQL.

// Stories are tests written as plain async functions; failing means panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use paindiary_server::domain::Role;
use paindiary_tests::{Backend, PASSWORD, TestApp, story};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// An error body has exactly `code` and `message`, and no internals.
fn assert_error(body: &Value, code: &str) {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert_eq!(obj.len(), 2, "error body has extra fields: {body}");
    assert_eq!(obj["code"], code, "{body}");
    let message = obj["message"].as_str().expect("message");
    for leak in [
        "sqlx", "sqlite", "postgres", "SELECT", "INSERT", "database", "panicked", "DbErr",
    ] {
        assert!(
            !message.contains(leak),
            "error message leaks {leak}: {message}"
        );
    }
}

async fn login_logout_me(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let doc = app.create_staff(clinic, Role::Physician).await;

    // Web login (no device name), email case-insensitive.
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": doc.email.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].is_string());
    assert_eq!(body["user"]["role"], "physician");
    assert!(body["user"].get("password_hash").is_none());

    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], doc.email);
    assert_eq!(me["id"], doc.user_id.to_string());

    let (status, _) = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, revoked) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&revoked, "unauthorized");

    // Unknown token, missing header and wrong scheme: the same answer as a revoked token.
    let (status, unknown) = app.get("/api/v1/me", "pdt_0000").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, revoked);
    let (status, missing) = app.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing, revoked);
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("Basic {}", doc.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // `?token=` is accepted only by handlers that opt in; /me does not.
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/me?token={}", doc.token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
story!(login_logout_me);

async fn tokens_expire(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let nurse = app.create_staff(clinic, Role::Nurse).await;
    let web = app.login_ok(&nurse.email, PASSWORD, None).await;
    assert_eq!(app.get("/api/v1/me", &web).await.0, StatusCode::OK);

    // A web session idle past the timeout (default 30 min) is refused; a device token is not.
    app.clock.advance(ChronoDuration::minutes(31));
    let (status, body) = app.get("/api/v1/me", &web).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    assert_eq!(app.get("/api/v1/me", &nurse.token).await.0, StatusCode::OK);

    // Device tokens expire after 90 days.
    app.clock.advance(ChronoDuration::days(90));
    assert_eq!(
        app.get("/api/v1/me", &nurse.token).await.0,
        StatusCode::UNAUTHORIZED
    );
}
story!(tokens_expire);

async fn wrong_password_then_rate_limited(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let doc = app.create_staff(clinic, Role::Psychologist).await;

    // Unknown email and wrong password look the same.
    let (status, unknown) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "nobody@example.org", "password": "whatever it is"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&unknown, "invalid_credentials");

    for _ in 0..5 {
        let (status, body) = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": doc.email, "password": "not the password"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, unknown);
    }
    // The sixth attempt is refused even with the right password.
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": doc.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "retry-after {retry}");
    assert_error(&res.json::<Value>().await.unwrap(), "rate_limited");

    // Another email is not affected; the limited one recovers after the window.
    let other = app.create_staff(clinic, Role::Nurse).await;
    app.login_ok(&other.email, PASSWORD, None).await;
    app.clock.advance(ChronoDuration::seconds(901));
    app.login_ok(&doc.email, PASSWORD, None).await;
}
story!(wrong_password_then_rate_limited);

/// Wrong passwords from one address block that address, not the account's owner
/// elsewhere; failures from many addresses together reach the per-email ceiling.
async fn a_stranger_cannot_lock_the_owner_out(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let doc = app.create_staff(clinic, Role::Physician).await;
    let attempt = |from: &'static str, password: &str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("10.0.0.1, {from}"))
            .json(&json!({"email": doc.email, "password": password}))
            .send()
    };
    for _ in 0..5 {
        let res = attempt("203.0.113.9", "not the password").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt("203.0.113.9", PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, from their own address, still gets in.
    let res = attempt("198.51.100.7", PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Three more addresses guess once each: 8 failures for this email in the window is
    // the configured ceiling, and now nobody gets in until the window passes.
    for from in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let res = attempt(from, "not the password").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt("198.51.100.7", PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(ChronoDuration::seconds(901));
    let res = attempt("198.51.100.7", PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

story!(a_stranger_cannot_lock_the_owner_out, |config| {
    config.auth.trust_forwarded_for = true;
    config.auth.login_max_failures_per_email = 8;
});

/// The login limit lives in the database, so failures spread over two replicas add up.
async fn rate_limit_holds_across_replicas(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let doc = app.create_staff(clinic, Role::Physician).await;
    let replica = app.spawn_replica().await;
    let wrong = json!({"email": doc.email, "password": "not the password"});
    for i in 0..5 {
        let url = if i % 2 == 0 {
            app.url("/api/v1/auth/login")
        } else {
            replica.url("/api/v1/auth/login")
        };
        let res = app.client.post(url).json(&wrong).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    for url in [
        app.url("/api/v1/auth/login"),
        replica.url("/api/v1/auth/login"),
    ] {
        let res = app
            .client
            .post(url)
            .json(&json!({"email": doc.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // A token issued by one replica works on the other.
    let res = app
        .client
        .get(replica.url("/api/v1/me"))
        .bearer_auth(&doc.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    replica.stop().await;
}
story!(rate_limit_holds_across_replicas);

async fn enrolment_code_single_use_and_expiring(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let (patient_id, code) = app.create_patient(clinic, "PD-1001").await;

    // Weak password is refused before the code is spent.
    let (status, body) = app
        .post("/api/v1/enrol", None, json!({"code": code, "email": "p1@example.org", "password": "short", "device_name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_input");

    // Codes are case- and dash-insensitive.
    let typed = code.to_lowercase().replace('-', "");
    let (status, body) = app
        .post("/api/v1/enrol", None, json!({"code": typed, "email": "p1@example.org", "password": PASSWORD, "device_name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["role"], "patient");
    assert_eq!(body["user"]["patient_id"], patient_id.to_string());
    let token = body["token"].as_str().unwrap();
    let (status, me) = app.get("/api/v1/me", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["patient_id"], patient_id.to_string());

    // Used code.
    let (status, used) = app
        .post("/api/v1/enrol", None, json!({"code": code, "email": "p2@example.org", "password": PASSWORD, "device_name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&used, "invalid_invitation");

    // Unknown code: the same answer.
    let (_, unknown) = app
        .post("/api/v1/enrol", None, json!({"code": "AAAA-BBBB-CCCC", "email": "p3@example.org", "password": PASSWORD, "device_name": "phone"}))
        .await;
    assert_eq!(unknown, used);

    // Expired code (default lifetime 14 days).
    let (_, code2) = app.create_patient(clinic, "PD-1002").await;
    app.clock.advance(ChronoDuration::days(15));
    let (status, expired) = app
        .post("/api/v1/enrol", None, json!({"code": code2, "email": "p4@example.org", "password": PASSWORD, "device_name": "phone"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(expired, used);
}
story!(enrolment_code_single_use_and_expiring);

/// Several clients redeem one code at once: exactly one wins, the rest get the
/// invalid-invitation answer (never a 500 from a lock or a unique violation).
async fn concurrent_enrolment_single_winner(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let (_, code) = app.create_patient(clinic, "PD-7001").await;
    let attempts: Vec<_> = (0..6)
        .map(|i| {
            let app = app.clone();
            let code = code.clone();
            tokio::spawn(async move {
                app.post(
                    "/api/v1/enrol",
                    None,
                    json!({"code": code, "email": format!("racer{i}@example.org"), "password": PASSWORD, "device_name": "phone"}),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    for a in attempts {
        let (status, body) = a.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => assert_error(&body, "invalid_invitation"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1);
}
story!(concurrent_enrolment_single_winner);

async fn patient_lists_and_revokes_device(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-2001").await;
    let tablet = app.login_ok(&patient.email, PASSWORD, Some("tablet")).await;

    let (status, body) = app.get("/api/v1/me/devices", &patient.token).await;
    assert_eq!(status, StatusCode::OK);
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{body}");
    let current: Vec<_> = devices.iter().filter(|d| d["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device_name"], "phone");
    let tablet_id = devices
        .iter()
        .find(|d| d["device_name"] == "tablet")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        devices
            .iter()
            .all(|d| d.get("token").is_none() && d.get("token_hash").is_none())
    );

    // Someone else cannot revoke it (404, as if it did not exist).
    let other = app.enrolled_patient(clinic, "PD-2002").await;
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/devices/{tablet_id}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");

    assert_eq!(app.get("/api/v1/me", &tablet).await.0, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/me/devices/{tablet_id}"),
            Some(&patient.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/me", &tablet).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    assert_eq!(
        app.get("/api/v1/me", &patient.token).await.0,
        StatusCode::OK
    );

    let (_, body) = app.get("/api/v1/me/devices", &patient.token).await;
    assert_eq!(body["devices"].as_array().unwrap().len(), 1);

    // last_used_at moves at most once a minute.
    let last_used = |body: &Value| {
        body["devices"][0]["last_used_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = last_used(&body);
    app.clock.advance(ChronoDuration::seconds(30));
    let (_, body) = app.get("/api/v1/me/devices", &patient.token).await;
    assert_eq!(last_used(&body), first);
    app.clock.advance(ChronoDuration::seconds(31));
    let (_, body) = app.get("/api/v1/me/devices", &patient.token).await;
    assert_ne!(last_used(&body), first);
}
story!(patient_lists_and_revokes_device);

async fn access_rules_hide_patients(app: Arc<TestApp>) {
    let north = app.create_clinic("North").await;
    let south = app.create_clinic("South").await;
    let p1 = app.enrolled_patient(north, "PD-3001").await;
    let p2 = app.enrolled_patient(north, "PD-3002").await;
    let carer = app.create_staff(north, Role::Physician).await;
    let outsider = app.create_staff(north, Role::Nurse).await;
    let admin = app.create_staff(north, Role::Admin).await;
    let foreign_admin = app.create_staff(south, Role::Admin).await;
    let p1_id = p1.patient_id.unwrap();
    app.add_to_care_team(p1_id, carer.user_id).await;

    let path = format!("/api/v1/patients/{p1_id}");
    let (status, missing) = app
        .get(
            &format!("/api/v1/patients/{}", uuid::Uuid::new_v4()),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&missing, "not_found");

    for (who, token) in [
        ("patient", &p1.token),
        ("care team", &carer.token),
        ("admin", &admin.token),
    ] {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["display_code"], "PD-3001");
        assert_eq!(body["enrolled"], true);
    }
    for (who, token) in [
        ("other patient", &p2.token),
        ("outside clinician", &outsider.token),
        ("other clinic admin", &foreign_admin.token),
    ] {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who}");
        assert_eq!(
            body, missing,
            "{who} must get exactly the missing-patient answer"
        );
    }
    // A malformed id is also just not found.
    assert_eq!(
        app.get("/api/v1/patients/not-a-uuid", &admin.token).await.0,
        StatusCode::NOT_FOUND
    );

    let codes = |body: &Value| -> Vec<String> {
        body["patients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["display_code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        codes(&app.get("/api/v1/patients", &p1.token).await.1),
        ["PD-3001"]
    );
    assert_eq!(
        codes(&app.get("/api/v1/patients", &carer.token).await.1),
        ["PD-3001"]
    );
    assert_eq!(
        codes(&app.get("/api/v1/patients", &outsider.token).await.1),
        Vec::<String>::new()
    );
    assert_eq!(
        codes(&app.get("/api/v1/patients", &admin.token).await.1),
        ["PD-3001", "PD-3002"]
    );
    assert_eq!(
        codes(&app.get("/api/v1/patients", &foreign_admin.token).await.1),
        Vec::<String>::new()
    );
}
story!(access_rules_hide_patients);

async fn admin_api_builds_care_teams(app: Arc<TestApp>) {
    let north = app.create_clinic("North").await;
    let south = app.create_clinic("South").await;
    let admin = app.create_staff(north, Role::Admin).await;
    let foreign_admin = app.create_staff(south, Role::Admin).await;

    let (status, user) = app
        .post("/api/v1/admin/users", Some(&admin.token), json!({"email": "Pt@North.example", "display_name": "Pat Therapist", "role": "physical_therapist", "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "pt@north.example");
    let pt_id = user["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post("/api/v1/admin/users", Some(&admin.token), json!({"email": "pt@north.example", "display_name": "Again", "role": "nurse", "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&body, "conflict");
    let (status, body) = app
        .post("/api/v1/admin/users", Some(&admin.token), json!({"email": "x@north.example", "display_name": "X", "role": "surgeon", "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_input");

    let (status, created) = app
        .post(
            "/api/v1/admin/patients",
            Some(&admin.token),
            json!({"display_code": "pd-4821", "timezone": "America/New_York"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["patient"]["display_code"], "PD-4821");
    assert_eq!(created["patient"]["enrolled"], false);
    assert!(created["invitation"]["code"].as_str().unwrap().len() >= 12);
    let patient_id = created["patient"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            "/api/v1/admin/patients",
            Some(&admin.token),
            json!({"display_code": "PD-4821", "timezone": "Mars/Base"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_input");

    let pt_token = app.login_ok("pt@north.example", PASSWORD, None).await;
    let team_path = format!("/api/v1/admin/patients/{patient_id}/care-team/{pt_id}");
    assert_eq!(
        app.get(&format!("/api/v1/patients/{patient_id}"), &pt_token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Only admins, and only of the patient's clinic.
    let (status, body) = app
        .call(Method::PUT, &team_path, Some(&pt_token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert_eq!(
        app.call(Method::PUT, &team_path, Some(&foreign_admin.token), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        app.call(Method::PUT, &team_path, Some(&admin.token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(Method::PUT, &team_path, Some(&admin.token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/patients/{patient_id}"), &pt_token)
            .await
            .0,
        StatusCode::OK
    );

    // An admin is not a clinician and cannot join a care team.
    let admin_path = format!(
        "/api/v1/admin/patients/{patient_id}/care-team/{}",
        admin.user_id
    );
    assert_eq!(
        app.call(Method::PUT, &admin_path, Some(&admin.token), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        app.call(Method::DELETE, &team_path, Some(&admin.token), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/patients/{patient_id}"), &pt_token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
story!(admin_api_builds_care_teams);

async fn audit_rows_for_reads(app: Arc<TestApp>) {
    let north = app.create_clinic("North").await;
    let south = app.create_clinic("South").await;
    let p1 = app.enrolled_patient(north, "PD-5001").await;
    let carer = app.create_staff(north, Role::Physician).await;
    let outsider = app.create_staff(north, Role::Nurse).await;
    let admin = app.create_staff(north, Role::Admin).await;
    let foreign_admin = app.create_staff(south, Role::Admin).await;
    let p1_id = p1.patient_id.unwrap();
    app.add_to_care_team(p1_id, carer.user_id).await;

    assert_eq!(
        app.get(&format!("/api/v1/patients/{p1_id}"), &carer.token)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/patients/{p1_id}"), &outsider.token)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/patients", &carer.token).await.0,
        StatusCode::OK
    );

    let (status, body) = app
        .get(
            &format!("/api/v1/admin/audit?patient={p1_id}"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    let has = |action: &str, actor: &str, outcome: &str| {
        events.iter().any(|e| {
            e["action"] == action && e["actor_user_id"] == actor && e["outcome"] == outcome
        })
    };
    let carer_id = carer.user_id.to_string();
    let outsider_id = outsider.user_id.to_string();
    assert!(has("patient.read", &carer_id, "success"), "{body}");
    assert!(has("patient.list", &carer_id, "success"), "{body}");
    assert!(has("patient.read", &outsider_id, "denied"), "{body}");
    assert!(
        has("patient.enrol", &p1.user_id.to_string(), "success"),
        "{body}"
    );
    assert!(events.iter().all(|e| e["patient_id"] == p1_id.to_string()));
    // Newest first.
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times.len(), sorted.len());

    let (status, body) = app
        .get(
            &format!("/api/v1/admin/audit?user={carer_id}&limit=1"),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor_user_id"], carer_id);

    // Admin reads are audited too, and the audit query itself is recorded.
    let (_, body) = app
        .get(
            &format!("/api/v1/admin/audit?user={}", admin.user_id),
            &admin.token,
        )
        .await;
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "audit.query"),
        "{body}"
    );

    // Not for clinicians; not across clinics.
    let (status, body) = app.get("/api/v1/admin/audit", &carer.token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    assert_eq!(
        app.get(
            &format!("/api/v1/admin/audit?patient={p1_id}"),
            &foreign_admin.token
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = app.get("/api/v1/admin/audit", &foreign_admin.token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["patient_id"] != p1_id.to_string()),
        "another clinic's admin sees nothing about our patient: {body}"
    );
    let (status, body) = app.get("/api/v1/admin/audit?limit=abc", &admin.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
}
story!(audit_rows_for_reads);

async fn error_bodies_use_one_format(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;

    let send_raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/v1/auth/login")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let res = send_raw(
        "{\"email\": \"a@b.cd\", \"password\": ",
        Some("application/json"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_error(&res.json::<Value>().await.unwrap(), "bad_request");

    let res = send_raw(
        "{\"email\": 5, \"password\": \"my secret value\"}",
        Some("application/json"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.json::<Value>().await.unwrap();
    assert_error(&body, "bad_request");
    assert!(!body.to_string().contains("my secret value"));

    let res = send_raw("{}", None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(
        &res.json::<Value>().await.unwrap(),
        "unsupported_media_type",
    );

    let (status, body) = app
        .call(Method::GET, "/api/v1/no-such-thing", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let (status, body) = app
        .call(Method::GET, "/api/v1/auth/login", None, None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");

    // Too large a body.
    let big = format!(
        "{{\"email\": \"{}\", \"password\": \"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&res.json::<Value>().await.unwrap(), "payload_too_large");

    // An internal failure (a table gone) is a bare 500 without details.
    app.state
        .db
        .execute_unprepared("DROP TABLE audit_events")
        .await
        .unwrap();
    let (status, body) = app
        .get(
            &format!("/api/v1/patients/{}", uuid::Uuid::new_v4()),
            &admin.token,
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_error(&body, "internal");
    assert_eq!(body["message"], "internal server error");
}
story!(error_bodies_use_one_format);

async fn health_and_readiness(app: Arc<TestApp>) {
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");

    if app.backend == Backend::Sqlite {
        use sea_orm::{DbBackend, Statement};
        let pragma = |name: &'static str| {
            let db = app.state.db.clone();
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        format!("PRAGMA {name}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<String>(0)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                    .unwrap()
            }
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("foreign_keys").await, "1");
        assert_eq!(pragma("busy_timeout").await, "5000");
    }

    // Migrations are idempotent: running them again at a restart changes nothing.
    paindiary_server::db::migrate(&app.state.db).await.unwrap();

    // With the database gone, the process is alive but not ready.
    app.state.db.clone().close().await.unwrap();
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&body, "unavailable");
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
}
story!(health_and_readiness);

/// `?token=` works only on handlers that opt in with `AuthUserOrQueryToken` (the sync
/// hub's WebSocket upgrade will); `AuthUser` handlers ignore it.
async fn query_token_only_where_opted_in(backend: Backend) {
    use paindiary_server::auth::AuthUserOrQueryToken;
    if !backend.selected() {
        return;
    }
    let opted_in =
        axum::Router::new().route(
            "/test/ws-like",
            axum::routing::get(
                |AuthUserOrQueryToken(user): AuthUserOrQueryToken| async move {
                    user.user_id.to_string()
                },
            ),
        );
    let app = paindiary_tests::spawn_app_with(backend, |_| {}, opted_in).await;
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-6001").await;

    let res = app
        .client
        .get(app.url(&format!("/test/ws-like?token={}", patient.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), patient.user_id.to_string());
    let res = app
        .client
        .get(app.url("/test/ws-like"))
        .bearer_auth(&patient.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/test/ws-like?token=pdt_nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_error(&res.json::<Value>().await.unwrap(), "unauthorized");
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/me?token={}", patient.token),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

mod query_token_only_where_opted_in {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::query_token_only_where_opted_in(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::query_token_only_where_opted_in(super::Backend::Postgres).await
    }
}

/// Graceful shutdown: an in-flight request completes, new connections are refused,
/// and the server future returns.
async fn graceful_shutdown(backend: Backend) {
    if !backend.selected() {
        return;
    }
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let release_in_handler = release.clone();
    let slow = axum::Router::new().route(
        "/test/slow",
        axum::routing::get(move || {
            let entered = entered_tx.clone();
            let release = release_in_handler.clone();
            async move {
                let _ = entered.send(());
                release.notified().await;
                "done"
            }
        }),
    );
    let app = paindiary_tests::spawn_app_with(backend, |_| {}, slow).await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();

    let in_flight = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/test/slow");
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    });
    entered_rx.recv().await.unwrap();
    app.trigger_shutdown();

    // Still serving the in-flight request.
    assert!(app.wait_stopped(Duration::from_millis(200)).await.is_none());
    // No longer accepting: poll (bounded) until a fresh connection is refused.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still accepting after shutdown signal");

    release.notify_one();
    assert_eq!(in_flight.await.unwrap(), "done");
    let stopped = app.wait_stopped(Duration::from_secs(10)).await;
    assert!(
        matches!(stopped, Some(Ok(()))),
        "server did not stop cleanly"
    );
    app.stop().await;
}

mod graceful_shutdown {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::graceful_shutdown(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::graceful_shutdown(super::Backend::Postgres).await
    }
}

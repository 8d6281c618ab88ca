//! A property test over every `/api/v1` route's path, query and body parameters: random
//! dates (years far outside any diary, signed, malformed), numbers (huge, negative,
//! fractional), strings (control characters, CR/LF, non-ASCII, percent signs) and ids
//! (existing, random, malformed), sent as an admin, a clinician, a patient or nobody, to
//! the spawned server. No request may get a 5xx or a dropped connection, every error is
//! the JSON error format `{code, message}`, and every response carries
//! `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`. On SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use paindiary_server::domain::Role;
use paindiary_tests::{TestApp, story};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};

/// What fills a parameter slot; `Id` is one of the story's real ids.
#[derive(Debug, Clone)]
enum Param {
    Id(usize),
    Text(String),
}

/// Dates as a request might carry them: in range, at the bounds, far outside (chrono
/// parses years -262143..=262142 with a sign), impossible days, junk.
fn date() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (1990i32..2100, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        2 => (-262_144i32..=262_143, 0u32..=13, 0u32..=32).prop_map(|(y, m, d)| {
            if (0..=9999).contains(&y) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:+}-{m:02}-{d:02}")
            }
        }),
        // The first and last months chrono can represent, where a day's arithmetic
        // overflows.
        2 => (1u32..=31).prop_map(|d| format!("-262143-01-{d:02}")),
        2 => (1u32..=31).prop_map(|d| format!("+262142-12-{d:02}")),
        1 => prop_oneof![
            Just("1899-12-31".to_owned()),
            Just("1900-01-01".to_owned()),
            Just("2200-12-31".to_owned()),
            Just("2201-01-01".to_owned()),
        ],
        1 => "[0-9+-]{0,12}",
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("-0".to_owned()),
        Just("1e309".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[a-z\r\n%/.\\\\]{0,20}",
        Just(String::new()),
        Just("\r\nSet-Cookie: x=1".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("a".repeat(5000)),
    ]
}

fn param() -> impl Strategy<Value = Param> {
    prop_oneof![
        3 => (0usize..6).prop_map(Param::Id),
        2 => any::<u128>().prop_map(|n| Param::Text(uuid::Uuid::from_u128(n).to_string())),
        1 => date().prop_map(Param::Text),
        1 => number().prop_map(Param::Text),
        2 => text().prop_map(Param::Text),
    ]
}

/// A path slot: mostly the story's real ids, so requests get past "not found".
fn path_param() -> impl Strategy<Value = Param> {
    prop_oneof![3 => (0usize..6).prop_map(Param::Id), 2 => param()]
}

/// A query parameter: mostly dates for a date parameter, anything otherwise.
fn query_param(name: &str) -> BoxedStrategy<Param> {
    if matches!(name, "from" | "to") {
        prop_oneof![4 => date().prop_map(Param::Text), 1 => param()].boxed()
    } else {
        param().boxed()
    }
}

/// A JSON value for a body field.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        param().prop_map(|p| match p {
            Param::Id(_) => Value::String(uuid::Uuid::new_v4().to_string()),
            Param::Text(t) => Value::String(t),
        }),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One route: method, path template (`{}` slots), query names, body field names.
struct Route {
    method: Method,
    path: &'static str,
    query: &'static [&'static str],
    body: &'static [&'static str],
    /// Changes that would end the story's own data (erasing its patient, revoking its
    /// tokens) get random ids only.
    destructive: bool,
}

const fn route(
    method: Method,
    path: &'static str,
    query: &'static [&'static str],
    body: &'static [&'static str],
) -> Route {
    Route {
        method,
        path,
        query,
        body,
        destructive: false,
    }
}

/// The fields of a reminder body.
const REMINDER_BODY: &[&str] = &["kind", "times", "days", "channels", "timezone", "enabled"];

fn routes() -> Vec<Route> {
    let destructive = |mut r: Route| {
        r.destructive = true;
        r
    };
    vec![
        route(
            Method::POST,
            "/api/v1/auth/login",
            &[],
            &["email", "password", "device_name"],
        ),
        destructive(route(Method::POST, "/api/v1/auth/logout", &[], &[])),
        route(
            Method::POST,
            "/api/v1/enrol",
            &[],
            &["code", "email", "password", "device_name"],
        ),
        route(Method::GET, "/api/v1/me", &[], &[]),
        route(Method::GET, "/api/v1/me/devices", &[], &[]),
        destructive(route(Method::DELETE, "/api/v1/me/devices/{}", &[], &[])),
        route(
            Method::POST,
            "/api/v1/admin/users",
            &[],
            &["email", "display_name", "role", "password"],
        ),
        route(
            Method::POST,
            "/api/v1/admin/patients",
            &[],
            &["display_code", "timezone"],
        ),
        destructive(route(Method::DELETE, "/api/v1/admin/patients/{}", &[], &[])),
        route(
            Method::PUT,
            "/api/v1/admin/patients/{}/care-team/{}",
            &[],
            &[],
        ),
        destructive(route(
            Method::DELETE,
            "/api/v1/admin/patients/{}/care-team/{}",
            &[],
            &[],
        )),
        route(
            Method::GET,
            "/api/v1/admin/audit",
            &["patient", "user", "limit"],
            &[],
        ),
        route(
            Method::GET,
            "/api/v1/admin/deliveries",
            &["status", "limit"],
            &[],
        ),
        route(Method::POST, "/api/v1/admin/deliveries/{}/retry", &[], &[]),
        route(Method::GET, "/api/v1/patients", &[], &[]),
        route(Method::GET, "/api/v1/patients/{}", &[], &[]),
        route(Method::GET, "/api/v1/patients/{}/documents", &[], &[]),
        route(
            Method::GET,
            "/api/v1/alerts",
            &["status", "severity", "patient"],
            &[],
        ),
        route(Method::GET, "/api/v1/alerts/{}", &[], &[]),
        route(Method::POST, "/api/v1/alerts/{}/acknowledge", &[], &[]),
        route(Method::POST, "/api/v1/alerts/{}/resolve", &[], &["note"]),
        route(Method::GET, "/api/v1/admin/notification-settings", &[], &[]),
        route(
            Method::PUT,
            "/api/v1/admin/notification-settings",
            &[],
            &[
                "thresholds",
                "secondary_recipients",
                "webhook_url",
                "webhook_secret",
                "include_details",
                "repeat_interval_minutes",
                "escalation_minutes",
                "timezone",
            ],
        ),
        route(
            Method::GET,
            "/api/v1/patients/{}/trends",
            &["from", "to"],
            &[],
        ),
        route(Method::GET, "/api/v1/patients/{}/export/{}", &[], &[]),
        route(Method::GET, "/api/v1/clinician/patients", &[], &[]),
        route(
            Method::GET,
            "/api/v1/patients/{}/entries",
            &["from", "to"],
            &[],
        ),
        route(Method::GET, "/api/v1/me/reminders", &[], &[]),
        route(Method::POST, "/api/v1/me/reminders", &[], REMINDER_BODY),
        route(Method::GET, "/api/v1/me/reminders/{}", &[], &[]),
        route(Method::PUT, "/api/v1/me/reminders/{}", &[], REMINDER_BODY),
        destructive(route(Method::DELETE, "/api/v1/me/reminders/{}", &[], &[])),
        route(
            Method::POST,
            "/api/v1/me/reminders/{}/snooze",
            &[],
            &["minutes"],
        ),
        route(Method::GET, "/api/v1/me/reminder-settings", &[], &[]),
        route(
            Method::PUT,
            "/api/v1/me/reminder-settings",
            &[],
            &["quiet_hours", "paused_until", "use_clinic_defaults"],
        ),
        route(Method::GET, "/api/v1/patients/{}/reminders", &[], &[]),
        route(Method::GET, "/api/v1/push/vapid-public-key", &[], &[]),
        route(Method::GET, "/api/v1/me/push-subscriptions", &[], &[]),
        route(
            Method::POST,
            "/api/v1/me/push-subscriptions",
            &[],
            &["endpoint", "expirationTime", "keys"],
        ),
        destructive(route(
            Method::DELETE,
            "/api/v1/me/push-subscriptions/{}",
            &[],
            &[],
        )),
        route(Method::GET, "/api/v1/me/device-tokens", &[], &[]),
        route(
            Method::POST,
            "/api/v1/me/device-tokens",
            &[],
            &["platform", "token"],
        ),
        destructive(route(
            Method::DELETE,
            "/api/v1/me/device-tokens/{}",
            &[],
            &[],
        )),
        route(
            Method::GET,
            "/api/v1/clinics/{}/reminder-defaults",
            &[],
            &[],
        ),
        route(
            Method::PUT,
            "/api/v1/clinics/{}/reminder-defaults",
            &[],
            &["reminders"],
        ),
    ]
}

/// One generated request for a route.
#[derive(Debug, Clone)]
struct Case {
    /// 0 admin, 1 clinician, 2 patient, 3 nobody.
    caller: usize,
    path: Vec<Param>,
    query: Vec<Option<Param>>,
    body: Vec<Option<Value>>,
    /// Send a body that is not JSON at all.
    raw_body: Option<String>,
}

fn case(route: &Route) -> impl Strategy<Value = Case> + use<> {
    let slots = route.path.matches("{}").count();
    (
        0usize..4,
        prop::collection::vec(path_param(), slots),
        route
            .query
            .iter()
            .map(|name| prop::option::weighted(0.6, query_param(name)))
            .collect::<Vec<_>>(),
        prop::collection::vec(prop::option::of(json_value()), route.body.len()),
        prop::option::weighted(0.1, text()),
    )
        .prop_map(|(caller, path, query, body, raw_body)| Case {
            caller,
            path,
            query,
            body,
            raw_body,
        })
}

/// The story's real ids a `Param::Id` may name: patient, physician, admin, a file
/// name of the export route, the clinic and the patient's reminder.
struct Known {
    ids: [String; 6],
    tokens: [String; 3],
}

fn value(param: &Param, known: &Known, destructive: bool) -> String {
    match param {
        Param::Id(_) if destructive => uuid::Uuid::new_v4().to_string(),
        Param::Id(n) => known.ids[*n].clone(),
        Param::Text(t) => t.clone(),
    }
}

async fn send(app: &TestApp, known: &Known, route: &Route, case: &Case) -> Result<(), String> {
    let mut parts = route.path.split("{}");
    let mut path = parts.next().unwrap_or_default().to_owned();
    for (slot, rest) in case.path.iter().zip(parts) {
        let raw = value(slot, known, route.destructive);
        path.push_str(&urlencode(&raw));
        path.push_str(rest);
    }
    let mut url = reqwest::Url::parse(&app.url(&path)).map_err(|e| format!("bad url {e}"))?;
    {
        let mut pairs = url.query_pairs_mut();
        for (name, param) in route.query.iter().zip(&case.query) {
            if let Some(param) = param {
                pairs.append_pair(name, &value(param, known, route.destructive));
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut request = app.client.request(route.method.clone(), url.clone());
    // Logging out would revoke the story's own tokens: it gets a made-up one.
    if route.path.ends_with("/logout") {
        request = request.bearer_auth("pdt_made_up");
    } else if let Some(token) = known.tokens.get(case.caller) {
        request = request.bearer_auth(token);
    }
    if !route.body.is_empty() {
        request = match &case.raw_body {
            Some(raw) => request
                .header("content-type", "application/json")
                .body(raw.clone()),
            None => {
                let body: serde_json::Map<String, Value> = route
                    .body
                    .iter()
                    .zip(&case.body)
                    .filter_map(|(name, v)| v.clone().map(|v| ((*name).to_owned(), v)))
                    .collect();
                request.json(&body)
            }
        };
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{} {url}: no response ({e})", route.method))?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if header("cache-control").as_deref() != Some("no-store")
        || header("x-content-type-options").as_deref() != Some("nosniff")
    {
        return Err(format!(
            "{} {url} -> {status} without Cache-Control: no-store and nosniff",
            route.method
        ));
    }
    let body = response
        .text()
        .await
        .map_err(|e| format!("{} {url}: body cut off ({e})", route.method))?;
    if status.is_server_error() {
        return Err(format!("{} {url} -> {status}: {body}", route.method));
    }
    if status.is_client_error() {
        let error: Value = serde_json::from_str(&body)
            .map_err(|_| format!("{} {url} -> {status}, not JSON: {body}", route.method))?;
        if !(error["code"].is_string() && error["message"].is_string()) {
            return Err(format!(
                "{} {url} -> {status}, not {{code, message}}: {body}",
                route.method
            ));
        }
    }
    Ok(())
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn urlencode(raw: &str) -> String {
    let mut out = String::new();
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn no_parameter_gives_a_5xx_or_a_dropped_connection(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8801").await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let patient_id = patient.patient_id.unwrap();
    app.add_to_care_team(patient_id, physician.user_id).await;
    let (status, reminder) = app
        .call(
            Method::POST,
            "/api/v1/me/reminders",
            Some(&patient.token),
            Some(json!({"kind": "log_pain", "times": ["21:00"], "channels": ["email"]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{reminder}");
    let known = Known {
        ids: [
            patient_id.to_string(),
            physician.user_id.to_string(),
            admin.user_id.to_string(),
            "pain.csv".to_owned(),
            clinic.uuid().to_string(),
            reminder["id"].as_str().unwrap().to_owned(),
        ],
        tokens: [admin.token, physician.token, patient.token],
    };
    let cases: u32 = std::env::var("PAINDIARY_ROUTE_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let handle = tokio::runtime::Handle::current();
    for route in routes() {
        let mut runner = TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = tokio::task::block_in_place(|| {
            runner
                .run(&case(&route), |case| {
                    handle
                        .block_on(send(&app, &known, &route, &case))
                        .map_err(TestCaseError::fail)
                })
                .map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            panic!("{} {}: {e}", route.method, route.path);
        }
    }
}
story!(no_parameter_gives_a_5xx_or_a_dropped_connection);

/// The dates of the reproductions: chrono parses them, and date arithmetic on
/// them overflowed (a panic, so a dropped connection and no audit row); now each is a
/// 400 in the JSON error format, naming the rule.
async fn out_of_range_dates_are_a_400(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8802").await;
    let physician = app.create_staff(clinic, Role::Physician).await;
    let id = patient.patient_id.unwrap();
    app.add_to_care_team(id, physician.user_id).await;
    for query in [
        "to=-262143-01-05",
        "from=%2B262142-12-31",
        "from=%2B262142-12-31&to=%2B262142-12-31",
        "to=1899-12-31",
        "from=2201-01-01",
    ] {
        for route in ["entries", "trends"] {
            let path = format!("/api/v1/patients/{id}/{route}?{query}");
            let (status, body) = app.get(&path, &physician.token).await;
            assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{path}: {body}");
            assert_eq!(body["code"], json!("bad_request"), "{path}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("1900-01-01 and 2200-12-31"),
                "{path}: {message}"
            );
        }
    }
    let (status, _) = app
        .get(
            &format!("/api/v1/patients/{id}/entries?from=1900-01-01&to=1900-12-31"),
            &physician.token,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);
}
story!(out_of_range_dates_are_a_400);

/// Patient data (entries JSON, trends, CSV and FHIR exports) and every other `/api/v1`
/// answer, errors included, is marked `no-store` and `nosniff`; the dashboard is not
/// affected by this layer.
async fn api_responses_are_not_cached_or_sniffed(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let patient = app.enrolled_patient(clinic, "PD-8803").await;
    let id = patient.patient_id.unwrap();
    for path in [
        format!("/api/v1/patients/{id}/entries"),
        format!("/api/v1/patients/{id}/trends"),
        format!("/api/v1/patients/{id}/export/pain.csv"),
        format!("/api/v1/patients/{id}/export/fhir"),
        "/api/v1/no-such-route".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&patient.token)
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
}
story!(api_responses_are_not_cached_or_sniffed);

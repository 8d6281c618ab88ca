//! Webhook SSRF guard: a clinic admin cannot point the webhook at loopback, private,
//! link-local (cloud metadata) or other non-public addresses, nor at plain http, unless
//! the operator allows it in `[delivery]`; the check runs when the URL is saved and again
//! at send time, where nothing reaches a refused target. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use paindiary_server::domain::Role;
use paindiary_server::outbox::channels::Outcome;
use paindiary_tests::webhook::WebhookReceiver;
use paindiary_tests::{TestApp, story};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn put_settings(app: &TestApp, token: &str, url: &str) -> (StatusCode, serde_json::Value) {
    app.call(
        Method::PUT,
        "/api/v1/admin/notification-settings",
        Some(token),
        Some(json!({"webhook_url": url, "webhook_secret": "a-very-secret-key-123"})),
    )
    .await
}

async fn internal_webhook_targets_are_refused(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    for (url, rule) in [
        ("http://169.254.169.254/latest/meta-data/", "https"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "public address",
        ),
        ("https://127.0.0.1:8443/hook", "public address"),
        ("https://[::1]/hook", "public address"),
        ("https://10.0.0.7/hook", "public address"),
        ("https://192.168.1.20/hook", "public address"),
        ("https://[fd00:ec2::254]/", "public address"),
        ("https://localhost/hook", "public address"),
        ("http://hooks.example.org/hook", "https"),
    ] {
        let (status, body) = put_settings(&app, &admin.token, url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["code"], json!("invalid_input"), "{url}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("webhook_url: ") && message.contains(rule),
            "{url}: {message}"
        );
    }
    let (_, settings) = app
        .get("/api/v1/admin/notification-settings", &admin.token)
        .await;
    assert_eq!(settings["webhook_url"], json!(null), "{settings}");

    // At send time too (a URL stored before this check, or a policy tightened since):
    // the listener on loopback receives nothing, and the reason names the rule, not
    // anything about the target.
    let receiver = WebhookReceiver::start().await;
    let outcome = app
        .state
        .outbox
        .send_webhook(
            &receiver.url,
            b"a-very-secret-key-123",
            "key-1",
            b"{}".to_vec(),
            chrono::Utc::now(),
        )
        .await;
    match outcome {
        Outcome::Permanent(reason) => assert!(reason.contains("refused"), "{reason}"),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    assert!(receiver.received().is_empty());
}
story!(internal_webhook_targets_are_refused);

/// With the operator's opt-in (a receiver on the clinic's own network) the same loopback
/// listener is saved and gets the webhook.
async fn the_operator_may_allow_private_http_targets(app: Arc<TestApp>) {
    let clinic = app.create_clinic("North").await;
    let admin = app.create_staff(clinic, Role::Admin).await;
    let receiver = WebhookReceiver::start().await;
    let (status, body) = put_settings(&app, &admin.token, &receiver.url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcome = app
        .state
        .outbox
        .send_webhook(
            &receiver.url,
            b"a-very-secret-key-123",
            "key-2",
            b"{}".to_vec(),
            chrono::Utc::now(),
        )
        .await;
    assert_eq!(outcome, Outcome::Sent);
    assert_eq!(receiver.received().len(), 1);
}
story!(the_operator_may_allow_private_http_targets, |config| {
    config.delivery.webhook_allow_http = true;
    config.delivery.webhook_allow_private_targets = true;
});

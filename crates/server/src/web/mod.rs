//! The web dashboard under `/dashboard`: server-rendered HTML for care teams that works
//! without JavaScript. Owns the routes, the page frame (landmarks, skip link, security
//! headers) and HTML escaping; sessions, pages, charts and alert actions live in the
//! submodules.

mod alert_actions;
mod care_plan;
mod charts;
mod pages;
pub mod session;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// Whether session cookies must be `Secure`: the server is reached over https.
pub fn secure_cookies(config: &crate::config::Config) -> bool {
    config
        .public_url
        .to_ascii_lowercase()
        .starts_with("https://")
}

/// The dashboard's routes, all under `/dashboard` (merged into the app router, so that
/// both `/dashboard` and `/dashboard/` reach the patient list).
/// The care-plan editor writes through `hub` (so phones receive its changes by sync); it
/// reaches the handlers as an extension.
pub fn router(hub: crate::hub::Hub) -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(pages::patient_list))
        .route("/dashboard/", get(pages::patient_list))
        .route(
            "/dashboard/login",
            get(session::login_form).post(session::login_submit),
        )
        .route("/dashboard/logout", post(session::logout))
        .route("/dashboard/dashboard.css", get(stylesheet))
        .route("/dashboard/patients/{id}", get(pages::patient_page))
        .route(
            "/dashboard/patients/{id}/summary",
            get(pages::visit_summary),
        )
        .route("/dashboard/patients/{id}/export/{file}", get(pages::export))
        .route("/dashboard/patients/{id}/care-plan", get(care_plan::editor))
        .route(
            "/dashboard/patients/{id}/care-plan/{part}",
            post(care_plan::submit),
        )
        .route(
            "/dashboard/patients/{id}/care-plan/{part}/remove",
            post(care_plan::remove),
        )
        .route("/dashboard/alerts", get(alert_actions::inbox))
        .route(
            "/dashboard/alerts/{id}/acknowledge",
            post(alert_actions::acknowledge),
        )
        .route(
            "/dashboard/alerts/{id}/resolve",
            post(alert_actions::resolve),
        )
        .layer(axum::Extension(hub))
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Headers every dashboard response carries: no caching of health data, no framing, no
/// scripts at all (the dashboard has none), nothing leaked in the referrer.
fn security_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, v: &'static str| {
        h.insert(name, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
}

/// Who is signed in, for the page header.
pub struct Nav<'a> {
    /// The user's email.
    pub email: &'a str,
    /// The CSRF token for the logout form.
    pub csrf: &'a str,
}

/// A complete HTML page.
pub fn page(status: StatusCode, title: &str, nav: Option<Nav<'_>>, body: &str) -> Response {
    let nav_html = match nav {
        Some(n) => format!(
            r#"<nav aria-label="Main"><ul>
<li><a href="/dashboard/">Patients</a></li>
<li><a href="/dashboard/alerts">Alert inbox</a></li>
</ul>
<form method="post" action="/dashboard/logout" class="logout">
<input type="hidden" name="csrf" value="{csrf}">
<span>Signed in as {email}</span> <button type="submit">Log out</button>
</form></nav>"#,
            csrf = esc(n.csrf),
            email = esc(n.email)
        ),
        None => String::new(),
    };
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Paindiary</title>
<link rel="stylesheet" href="/dashboard/dashboard.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><p class="brand">Paindiary</p>{nav_html}</header>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>
"##,
        title = esc(title)
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    security_headers(&mut resp);
    resp
}

/// A failure shown as an HTML page with the same status and safe message as the API.
#[derive(Debug)]
pub struct WebError(pub ApiError);

impl<E: Into<ApiError>> From<E> for WebError {
    fn from(e: E) -> Self {
        WebError(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if let ApiError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "internal error");
        }
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::BAD_REQUEST => "Bad request",
            _ => "Error",
        };
        let body = format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/dashboard/\">Back to the patient list</a></p>",
            esc(title),
            esc(&self.0.public_message())
        );
        page(status, title, None, &body)
    }
}

async fn stylesheet() -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("dashboard.css"),
    )
        .into_response();
    security_headers(&mut resp);
    resp
}

//! The web dashboard under `/dashboard`: server-rendered HTML for care teams that works
//! without JavaScript. Owns the routes, the page frame (landmarks, skip link, security
//! headers), HTML escaping by the template engine (askama), redirect
//! targets and date bounds; sessions, pages, charts and alert actions live in the
//! submodules.

mod alert_actions;
mod body_map;
mod care_plan;
mod charts;
mod pages;
mod patient;
mod plan_changes;
pub mod session;
mod triage;

use askama::Template;
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
        .route("/dashboard/patients/{id}", get(patient::patient_page))
        .route(
            "/dashboard/patients/{id}/summary",
            get(patient::visit_summary),
        )
        .route("/dashboard/patients/{id}/export/{file}", get(pages::export))
        .route("/dashboard/patients/{id}/care-plan", get(care_plan::editor))
        .route(
            "/dashboard/patients/{id}/care-plan/history",
            get(plan_changes::history_page),
        )
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
            "/dashboard/alerts/acknowledge",
            post(alert_actions::acknowledge_many),
        )
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

/// Escapes text for HTML element content and attribute values, with the template
/// engine's own escaper (the one escaping path of the dashboard; for the few fragments
/// still assembled in code, such as form fields built from their descriptions).
pub fn esc(s: &str) -> String {
    match askama::filters::escape(s, askama::filters::Html) {
        Ok(safe) => safe.to_string(),
        Err(never) => match never {},
    }
}

/// Renders a template to a string; a failure (a formatting error) becomes a 500 without
/// details for the client.
pub fn render(t: &impl askama::Template) -> Result<String, ApiError> {
    t.render().map_err(ApiError::internal)
}

/// A dashboard date parameter (`from`, `to`): 400 unless in the plausible years of
/// [`crate::trends::plausible_day`] (1900..=2200), before any date arithmetic.
/// (The REST API bounds its own date parameters the same way.)
pub fn bounded_day(day: Option<chrono::NaiveDate>) -> Result<Option<chrono::NaiveDate>, WebError> {
    match day {
        Some(d) if !crate::trends::plausible_day(d) => {
            Err(WebError(ApiError::BadRequest(format!(
                "dates must lie in the years {}..={}",
                crate::trends::EARLIEST_YEAR,
                crate::trends::LATEST_YEAR
            ))))
        }
        d => Ok(d),
    }
}

/// A redirect target taken from a form or query (`back`, `next`): only a local path of
/// the dashboard, no scheme or host, no `//`, no backslash, no control characters (a CR
/// or LF would split the `Location` header). `None` when it is not one.
pub fn local_path(target: &str) -> Option<&str> {
    let ok = target.starts_with("/dashboard")
        && target.len() <= 2000
        && !target.contains("//")
        && !target.contains('\\')
        && !target.chars().any(|c| c.is_control() || c == ' ');
    ok.then_some(target)
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

#[derive(askama::Template)]
#[template(path = "dashboard/layout.html")]
struct Layout<'a> {
    title: &'a str,
    nav: Option<Nav<'a>>,
    body: &'a str,
}

/// A complete HTML page around `body` (already rendered HTML).
pub fn page(status: StatusCode, title: &str, nav: Option<Nav<'_>>, body: &str) -> Response {
    let html = Layout { title, nav, body }.render();
    let mut resp = match html {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page template");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    security_headers(&mut resp);
    resp
}

/// A page whose body is the template `body`.
pub fn templated(
    status: StatusCode,
    title: &str,
    nav: Option<Nav<'_>>,
    body: &impl askama::Template,
) -> Result<Response, WebError> {
    Ok(page(status, title, nav, &render(body)?))
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
        let message = self.0.public_message();
        match render(&ErrorPage {
            title,
            message: &message,
        }) {
            Ok(body) => page(status, title, None, &body),
            Err(_) => page(status, title, None, ""),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
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

//! Dashboard sessions: the login form, the session cookie and CSRF protection.
//!
//! The cookie holds an opaque random token; `web_sessions` stores only its SHA-256. The
//! cookie is `HttpOnly`, `SameSite=Strict`, scoped to `/dashboard`, and `Secure` when the
//! public URL is https. A session ends at logout, after the configured idle timeout or at
//! its absolute expiry. Every form carries a CSRF token derived from the session secret
//! (so it needs no storage and is unknowable without the cookie); the login form, which
//! has no session yet, uses a double-submit cookie.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use cookie::{Cookie, SameSite};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{Nav, WebError, page};
use crate::accounts;
use crate::audit::{self, AuditEvent, action};
use crate::auth::AuthUser;
use crate::auth::token::hash_secret;
use crate::domain::{ClinicId, Email, Password, Role, TokenId, UserId};
use crate::entity::{users, web_sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// Session cookie name.
pub const SESSION_COOKIE: &str = "pd_session";
/// Login-form CSRF cookie name.
pub const LOGIN_CSRF_COOKIE: &str = "pd_login_csrf";
/// `last_seen_at` is written at most this often per session.
const TOUCH_GRANULARITY_SECS: i64 = 60;

/// A signed-in dashboard user.
#[derive(Clone, Debug)]
pub struct WebUser {
    /// The caller, in the form the access rules take (`token_id` is the session id).
    pub auth: AuthUser,
    /// Their email, for the header.
    pub email: String,
    /// The CSRF token forms must echo.
    pub csrf: String,
}

impl WebUser {
    /// The page-header view.
    pub fn nav(&self) -> Nav<'_> {
        Nav {
            email: &self.email,
            csrf: &self.csrf,
        }
    }

    /// Fails unless `presented` is this session's CSRF token.
    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        if constant_time_eq(self.csrf.as_bytes(), presented.as_bytes()) {
            Ok(())
        } else {
            Err(WebError(ApiError::Forbidden))
        }
    }
}

/// Token comparison whose time does not depend on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

fn csrf_for(secret: &str) -> String {
    hash_secret(&format!("paindiary-dashboard-csrf:{secret}"))
}

/// The value of cookie `name` in the request, if present.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

fn set_cookie(state: &AppState, name: &str, value: &str, clear: bool) -> Option<HeaderValue> {
    let mut built = Cookie::build((name, value))
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(super::secure_cookies(&state.config));
    if clear {
        built = built.max_age(cookie::time::Duration::ZERO);
    }
    HeaderValue::from_str(&built.build().to_string()).ok()
}

/// Not signed in: to the login form, carrying the page asked for (`next`, a local path
/// only) so that a link from an email lands where it pointed after signing in.
pub struct ToLogin(pub Option<String>);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        match self.0.as_deref().and_then(super::local_path) {
            Some(next) => {
                let query: String = url_query_value(next);
                Redirect::to(&format!("/dashboard/login?next={query}")).into_response()
            }
            None => Redirect::to("/dashboard/login").into_response(),
        }
    }
}

/// `value` percent-encoded for a query string (everything but unreserved characters).
fn url_query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The page a signed-out request asked for, if it is one worth returning to (a GET of
/// a dashboard page other than the login form itself).
fn wanted_page(parts: &Parts) -> Option<String> {
    if parts.method != axum::http::Method::GET {
        return None;
    }
    let pq = parts.uri.path_and_query()?.as_str();
    (!pq.starts_with("/dashboard/login")).then(|| pq.to_owned())
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(ToLogin(wanted_page(parts)).into_response());
        };
        match resolve(state, &secret).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(ToLogin(wanted_page(parts)).into_response()),
            Err(e) => Err(WebError(e).into_response()),
        }
    }
}

/// The session of a cookie value, if live; refreshes its idle timer.
async fn resolve(state: &AppState, secret: &str) -> Result<Option<WebUser>, ApiError> {
    let now = state.clock.now();
    let Some(row) = web_sessions::Entity::find()
        .filter(web_sessions::Column::TokenHash.eq(hash_secret(secret)))
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if row.revoked_at.is_some()
        || row.expires_at <= now
        || row.last_seen_at + state.config.auth.web_idle_timeout() <= now
    {
        return Ok(None);
    }
    let Some(user) = users::Entity::find_by_id(row.user_id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    let role = Role::parse(&user.role).map_err(ApiError::internal)?;
    if row.last_seen_at + Duration::seconds(TOUCH_GRANULARITY_SECS) <= now {
        web_sessions::Entity::update_many()
            .col_expr(web_sessions::Column::LastSeenAt, Expr::value(now))
            .filter(web_sessions::Column::Id.eq(row.id))
            .exec(&state.db)
            .await?;
    }
    Ok(Some(WebUser {
        auth: AuthUser {
            user_id: UserId(user.id),
            clinic_id: ClinicId(user.clinic_id),
            role,
            token_id: TokenId(row.id),
        },
        email: user.email,
        csrf: csrf_for(secret),
    }))
}

#[derive(askama::Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    token: &'a str,
    next: Option<&'a str>,
}

fn login_page(
    state: &AppState,
    error: Option<&str>,
    next: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = hex::encode(rand::random::<[u8; 24]>());
    let next = next.and_then(super::local_path);
    let body = match super::render(&LoginPage {
        error,
        token: &token,
        next,
    }) {
        Ok(body) => body,
        Err(e) => return WebError(e).into_response(),
    };
    let mut resp = page(status, "Sign in", None, &body);
    if let Some(v) = set_cookie(state, LOGIN_CSRF_COOKIE, &token, false) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `?next=` on the login form: where to go after signing in.
#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /dashboard/login`.
pub async fn login_form(
    State(state): State<AppState>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<LoginQuery>,
) -> Response {
    login_page(&state, None, query.next.as_deref(), StatusCode::OK)
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /dashboard/login`: verifies the credentials, starts a session, sets the cookie.
pub async fn login_submit(
    State(state): State<AppState>,
    crate::auth::ClientAddr(client): crate::auth::ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Ok(login_page(
            &state,
            Some("The form expired. Please sign in again."),
            form.next.as_deref(),
            StatusCode::FORBIDDEN,
        ));
    }
    let user = match Email::parse(&form.email) {
        Ok(email) => {
            accounts::check_credentials(&state, email, Password::for_login(&form.password), client)
                .await
        }
        Err(_) => Err(ApiError::InvalidCredentials),
    };
    let user = match user {
        Ok(u) => u,
        Err(ApiError::InvalidCredentials) => {
            return Ok(login_page(
                &state,
                Some("Email or password is wrong."),
                form.next.as_deref(),
                StatusCode::UNAUTHORIZED,
            ));
        }
        Err(ApiError::RateLimited { .. }) => {
            return Ok(login_page(
                &state,
                Some("Too many attempts. Try again later."),
                form.next.as_deref(),
                StatusCode::TOO_MANY_REQUESTS,
            ));
        }
        Err(e) => return Err(WebError(e)),
    };
    let now = state.clock.now();
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let id = Uuid::now_v7();
    let txn = crate::db::begin_write(&state.db).await?;
    web_sessions::ActiveModel {
        id: Set(id),
        user_id: Set(user.id),
        token_hash: Set(hash_secret(&secret)),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + state.config.auth.web_token_ttl()),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        AuditEvent::new(now, Some(UserId(user.id)), action::LOGIN)
            .target(format!("web_session {id}")),
    )
    .await?;
    txn.commit().await?;
    let to = form
        .next
        .as_deref()
        .and_then(super::local_path)
        .unwrap_or("/dashboard/");
    let mut resp = Redirect::to(to).into_response();
    if let Some(v) = set_cookie(&state, SESSION_COOKIE, &secret, false) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Some(v) = set_cookie(&state, LOGIN_CSRF_COOKIE, "", true) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// The token.
    pub csrf: String,
}

/// `POST /dashboard/logout`: revokes the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let now = state.clock.now();
    web_sessions::Entity::update_many()
        .col_expr(web_sessions::Column::RevokedAt, Expr::value(now))
        .filter(web_sessions::Column::Id.eq(user.auth.token_id.0))
        .exec(&state.db)
        .await?;
    audit::record(
        &state.db,
        AuditEvent::new(now, Some(user.auth.user_id), action::TOKEN_REVOKE)
            .target(format!("web_session {}", user.auth.token_id.0)),
    )
    .await?;
    let mut resp = Redirect::to("/dashboard/login").into_response();
    if let Some(v) = set_cookie(&state, SESSION_COOKIE, "", true) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

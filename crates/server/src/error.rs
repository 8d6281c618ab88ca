//! The one error type of the HTTP API and the services behind it.
//!
//! Every failure leaves the server as `{"code": "...", "message": "..."}` with a stable,
//! machine-readable `code`. Internal details (database errors, I/O) go to the log with
//! a correlation-free summary and never into a response body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ParseError;

/// An API failure. The variant decides status and `code`; see [`ApiError::code`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `bad_request`: the body is not the JSON we expect.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 `invalid_input`: a field broke a rule (the message names field and rule).
    #[error("invalid input: {0}")]
    InvalidInput(#[from] ParseError),
    /// 400 `invalid_invitation`: unknown, used or expired invitation code (one answer for all).
    #[error("invalid invitation")]
    InvalidInvitation,
    /// 401 `unauthorized`: missing, unknown, expired or revoked token (one answer for all).
    #[error("unauthorized")]
    Unauthorized,
    /// 401 `invalid_credentials`: wrong email or password (one answer for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 403 `forbidden`: authenticated but the role may not use this endpoint.
    #[error("forbidden")]
    Forbidden,
    /// 404 `not_found`: missing, or exists but not visible to the caller.
    #[error("not found")]
    NotFound,
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `conflict`: a unique value is taken (the message says which kind).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 400 with a rule-specific `code` (e.g. `reminder_time_invalid`): a field broke a
    /// rule that clients switch on. The message is our own text, never the input.
    #[error("rejected: {code}")]
    Rejected {
        /// The stable code.
        code: &'static str,
        /// What the rule is.
        message: &'static str,
    },
    /// 409 with a rule-specific `code` (e.g. `reminder_limit_reached`): a per-account
    /// limit is reached.
    #[error("limit reached: {code}")]
    LimitReached {
        /// The stable code.
        code: &'static str,
        /// What the limit is.
        message: &'static str,
    },
    /// 413 `payload_too_large`.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`: the body is not declared as JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429 `rate_limited`, with `Retry-After` in seconds.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// 503 `unavailable`: a dependency (the database) is not reachable.
    #[error("service unavailable")]
    Unavailable,
    /// 503 `busy`: the server is at its bound for this kind of work (password hashing),
    /// with `Retry-After` in seconds.
    #[error("busy")]
    Busy {
        /// Seconds after which a retry is likely to be served.
        retry_after_secs: u64,
    },
    /// 500 `internal`: anything unexpected. The source is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable, safe-to-show message.
    pub message: String,
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidInput(_) | ApiError::InvalidInvitation => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::LimitReached { .. } => StatusCode::CONFLICT,
            ApiError::Rejected { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `code` string clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::InvalidInvitation => "invalid_invitation",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Rejected { code, .. } | ApiError::LimitReached { code, .. } => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The client-facing message: fixed text, or a rule/kind description we wrote ourselves.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::BadRequest(m) => m.clone(),
            ApiError::InvalidInput(e) => e.to_string(),
            ApiError::InvalidInvitation => "the invitation code is invalid, used or expired".into(),
            ApiError::Unauthorized => "authentication required".into(),
            ApiError::InvalidCredentials => "email or password is wrong".into(),
            ApiError::Forbidden => "not allowed for this account".into(),
            ApiError::NotFound => "not found".into(),
            ApiError::MethodNotAllowed => "method not allowed".into(),
            ApiError::Conflict(what) => format!("{what} already exists"),
            ApiError::Rejected { message, .. } | ApiError::LimitReached { message, .. } => {
                (*message).to_owned()
            }
            ApiError::PayloadTooLarge => "request body too large".into(),
            ApiError::UnsupportedMediaType => "expected Content-Type: application/json".into(),
            ApiError::RateLimited { .. } => "too many attempts, try again later".into(),
            ApiError::Unavailable => "service unavailable".into(),
            ApiError::Busy { .. } => "the server is busy, try again shortly".into(),
            ApiError::Internal(_) => "internal server error".into(),
        }
    }

    /// Wraps an unexpected error; only its text goes to the log.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        // Connection problems are transient and worth a distinct status for load balancers.
        match e {
            sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(api) => api,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            // The detail comes from our code or the database driver (statement errors do not
            // include bound values), so it holds no tokens or health data.
            tracing::error!(error = %detail, "internal error");
        }
        let body = ErrorBody {
            code: self.code(),
            message: self.public_message(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } | ApiError::Busy { retry_after_secs } =
            self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// A JSON body extractor whose rejections use our error format.
///
/// Serde's messages can quote the offending value (a password, a note), so they go
/// neither into the response nor into the log: the client gets a fixed message.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonDataError(_) => {
            ApiError::BadRequest("JSON body does not match the expected fields and types".into())
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("malformed JSON".into()),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("could not read request body".into())
            }
        }
        _ => ApiError::BadRequest("invalid JSON body".into()),
    }
}

/// `Json(...)` for success responses, re-exported so handlers import one place.
pub use axum::Json;

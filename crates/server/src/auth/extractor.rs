//! The bearer-token extractor.
//!
//! `AuthUser` reads only `Authorization: Bearer`. `AuthUserOrQueryToken` also accepts
//! `?token=`, for browser WebSockets that cannot set headers; a handler must opt in by
//! naming that type, because query strings end up in proxies' access logs.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter};

use crate::auth::token::hash_secret;
use crate::domain::{ClinicId, Role, TokenId, UserId};
use crate::entity::{auth_tokens, users};
use crate::error::ApiError;
use crate::state::AppState;

/// `last_used_at` is written at most this often per token, so a busy phone does not turn
/// every request into a database write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct AuthUser {
    /// The user.
    pub user_id: UserId,
    /// Their clinic.
    pub clinic_id: ClinicId,
    /// Their role.
    pub role: Role,
    /// The token used for this request (what logout revokes).
    pub token_id: TokenId,
}

impl AuthUser {
    /// Fails with 403 unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// An authenticated caller who may have presented the token as `?token=`.
#[derive(Clone, Debug)]
pub struct AuthUserOrQueryToken(pub AuthUser);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        authenticate(state, &token).await
    }
}

impl FromRequestParts<AppState> for AuthUserOrQueryToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)
            .or_else(|| query_token(parts))
            .ok_or(ApiError::Unauthorized)?;
        authenticate(state, &token).await.map(AuthUserOrQueryToken)
    }
}

fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        // Our tokens are [a-z0-9_], so no percent-decoding is needed; anything else is unknown.
        (k == "token" && !v.is_empty()).then(|| v.to_owned())
    })
}

/// Whether the token behind a live session still authenticates its user: not revoked,
/// not expired, the user not disabled. Live sync sessions call this periodically.
pub async fn token_still_valid(state: &AppState, token: TokenId) -> Result<bool, DbErr> {
    let now = state.clock.now();
    let Some(row) = auth_tokens::Entity::find_by_id(token.uuid())
        .one(&state.db)
        .await?
    else {
        return Ok(false);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Ok(false);
    }
    Ok(users::Entity::find_by_id(row.user_id)
        .one(&state.db)
        .await?
        .is_some_and(|u| u.disabled_at.is_none()))
}

/// Resolves a presented token to its user. Unknown, expired, idle, revoked and
/// disabled-user tokens all give the same `Unauthorized`, so a client learns nothing
/// about which it was.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let now = state.clock.now();
    let Some(row) = auth_tokens::Entity::find()
        .filter(auth_tokens::Column::TokenHash.eq(hash_secret(token)))
        .one(&state.db)
        .await?
    else {
        return Err(ApiError::Unauthorized);
    };
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(ApiError::Unauthorized);
    }
    if row.kind == "web" {
        let last = row.last_used_at.unwrap_or(row.created_at);
        if last + state.config.auth.web_idle_timeout() <= now {
            return Err(ApiError::Unauthorized);
        }
    }
    let Some(user) = users::Entity::find_by_id(row.user_id)
        .one(&state.db)
        .await?
    else {
        return Err(ApiError::Unauthorized);
    };
    if user.disabled_at.is_some() {
        return Err(ApiError::Unauthorized);
    }
    let role = Role::parse(&user.role).map_err(ApiError::internal)?;

    let stale_before = now - Duration::seconds(LAST_USED_GRANULARITY_SECS);
    if row.last_used_at.is_none_or(|t| t < stale_before) {
        // Conditional, so concurrent requests on several replicas write at most once.
        auth_tokens::Entity::update_many()
            .col_expr(auth_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(auth_tokens::Column::Id.eq(row.id))
            .filter(
                Condition::any()
                    .add(auth_tokens::Column::LastUsedAt.is_null())
                    .add(auth_tokens::Column::LastUsedAt.lt(stale_before)),
            )
            .exec(&state.db)
            .await?;
    }

    Ok(AuthUser {
        user_id: UserId(user.id),
        clinic_id: ClinicId(user.clinic_id),
        role,
        token_id: TokenId(row.id),
    })
}

/// The client's IP address, for rate limiting: the TCP peer, or the last
/// `X-Forwarded-For` entry when `auth.trust_forwarded_for` says a proxy appends it.
/// `None` when neither is known (a router driven without a socket); never rejects.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.auth.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|entry| entry.trim().parse::<std::net::IpAddr>().ok())
                .next_back();
            if forwarded.is_some() {
                return Ok(Self(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(peer))
    }
}

//! Login rate limiting, stored in the database so it holds across replicas.
//!
//! Rule: after `login_max_failures` failures for one email from one client address within
//! the window, further attempts from that address get 429 until the oldest of those
//! failures leaves the window; after `login_max_failures_per_email` failures from any
//! addresses, every attempt does. The per-address key keeps a stranger from locking the
//! account's owner out with a few wrong passwords; the per-email ceiling stops guessing
//! spread over many addresses. Attempts refused by the limit are not counted, so a blocked
//! client is not blocked forever.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::auth::token::hash_secret;
use crate::config::AuthConfig;
use crate::domain::Email;
use crate::entity::login_failures;

/// The two counters a login attempt touches, as hashes so that neither emails nor
/// addresses are stored in clear.
#[derive(Clone, Debug)]
pub struct LoginKeys {
    /// This email from this client address.
    pub client: String,
    /// This email from anywhere.
    pub email: String,
}

impl LoginKeys {
    /// Keys for `email` tried from `client` (`None` when the address is unknown: such
    /// attempts share one per-address counter).
    pub fn new(email: &Email, client: Option<IpAddr>) -> Self {
        let client = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        Self {
            client: hash_secret(&format!("{}|{client}", email.as_str())),
            email: hash_secret(email.as_str()),
        }
    }
}

/// `Some(seconds)` to wait if this client, or the email as a whole, is currently blocked.
pub async fn blocked_for(
    conn: &impl ConnectionTrait,
    cfg: &AuthConfig,
    keys: &LoginKeys,
    now: DateTime<Utc>,
) -> Result<Option<u64>, DbErr> {
    let client = blocked_key(conn, cfg, &keys.client, cfg.login_max_failures, now).await?;
    let email = blocked_key(
        conn,
        cfg,
        &keys.email,
        cfg.login_max_failures_per_email,
        now,
    )
    .await?;
    Ok(client.max(email))
}

async fn blocked_key(
    conn: &impl ConnectionTrait,
    cfg: &AuthConfig,
    key: &str,
    max: u64,
    now: DateTime<Utc>,
) -> Result<Option<u64>, DbErr> {
    if max == 0 {
        return Ok(None);
    }
    let window = cfg.login_failure_window();
    let recent: Vec<DateTime<Utc>> = login_failures::Entity::find()
        .select_only()
        .column(login_failures::Column::At)
        .filter(login_failures::Column::EmailHash.eq(key))
        .filter(login_failures::Column::At.gt(now - window))
        .order_by_desc(login_failures::Column::At)
        .limit(max)
        .into_tuple()
        .all(conn)
        .await?;
    if (recent.len() as u64) < max {
        return Ok(None);
    }
    // The max-th newest failure is the one whose expiry lifts the block.
    let lifting = recent.last().copied().unwrap_or(now) + window;
    let secs = (lifting - now).num_seconds().max(1);
    Ok(Some(u64::try_from(secs).unwrap_or(1)))
}

/// Counts a failure on both counters, and drops their failures that have left the window.
pub async fn record_failure(
    conn: &impl ConnectionTrait,
    cfg: &AuthConfig,
    keys: &LoginKeys,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for key in [&keys.client, &keys.email] {
        login_failures::ActiveModel {
            id: Set(Uuid::new_v4()),
            email_hash: Set(key.clone()),
            at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::EmailHash.is_in([&keys.client, &keys.email]))
        .filter(login_failures::Column::At.lte(now - cfg.login_failure_window()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forgets this client's failures after a successful login. The per-email counter keeps
/// its failures: other addresses' guesses still count towards the ceiling.
pub async fn clear(conn: &impl ConnectionTrait, keys: &LoginKeys) -> Result<(), DbErr> {
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::EmailHash.eq(&keys.client))
        .exec(conn)
        .await
        .map(|_| ())
}

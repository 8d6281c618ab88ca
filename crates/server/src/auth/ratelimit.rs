//! Login rate limiting, stored in the database so it holds across replicas.
//!
//! Rule: after `login_max_failures` failures for one email within the window, further
//! attempts get 429 until the oldest of those failures leaves the window. Attempts that
//! are refused by the limit are not counted, so a blocked client is not blocked forever.

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

/// Key for an email: the hash, so unknown addresses are not stored in clear.
pub fn email_key(email: &Email) -> String {
    hash_secret(email.as_str())
}

/// `Some(seconds)` to wait if the email is currently blocked.
pub async fn blocked_for(
    conn: &impl ConnectionTrait,
    cfg: &AuthConfig,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<u64>, DbErr> {
    let max = cfg.login_max_failures;
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

/// Counts a failure, and drops this email's failures that have left the window.
pub async fn record_failure(
    conn: &impl ConnectionTrait,
    cfg: &AuthConfig,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    login_failures::ActiveModel {
        id: Set(Uuid::new_v4()),
        email_hash: Set(key.to_owned()),
        at: Set(now),
    }
    .insert(conn)
    .await?;
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::EmailHash.eq(key))
        .filter(login_failures::Column::At.lte(now - cfg.login_failure_window()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forgets an email's failures after a successful login.
pub async fn clear(conn: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    login_failures::Entity::delete_many()
        .filter(login_failures::Column::EmailHash.eq(key))
        .exec(conn)
        .await
        .map(|_| ())
}

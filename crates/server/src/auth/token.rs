//! Opaque bearer tokens: 32 random bytes shown once to the client, stored as SHA-256.
//!
//! A plain hash (not argon2) is right here: the token has 256 bits of entropy, so it
//! cannot be brute-forced from its hash, and lookups must be a cheap indexed equality.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use sha2::{Digest, Sha256};

use crate::domain::{TokenId, UserId};
use crate::entity::auth_tokens;

/// Prefix of every token, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "pdt_";

/// Device tokens are long-lived (a phone); web tokens are short and expire when idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A phone or tablet.
    Device,
    /// A browser session.
    Web,
}

impl TokenKind {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Device => "device",
            TokenKind::Web => "web",
        }
    }
}

/// A freshly issued token. `secret` is the only copy; it is never stored or logged.
#[derive(Clone)]
pub struct IssuedToken {
    /// Row id (what the device list shows).
    pub id: TokenId,
    /// The bearer secret to hand to the client once.
    pub secret: String,
    /// Hard expiry.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Hex SHA-256 of a presented token (or any other secret we index by hash).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates and stores a token for `user`.
pub async fn issue(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    user: UserId,
    kind: TokenKind,
    device_name: Option<String>,
    ttl: Duration,
) -> Result<IssuedToken, DbErr> {
    let bytes: [u8; 32] = rand::random();
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let id = TokenId::new_random();
    let expires_at = now + ttl;
    auth_tokens::ActiveModel {
        id: Set(id.uuid()),
        user_id: Set(user.uuid()),
        token_hash: Set(hash_secret(&secret)),
        kind: Set(kind.as_str().to_owned()),
        device_name: Set(device_name),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(IssuedToken {
        id,
        secret,
        expires_at,
    })
}

//! Native app device tokens for reminders (`/me/device-tokens`): an iOS app registers its
//! APNs token, an Android app its FCM registration token. Only registration is built:
//! the APNs and FCM senders (each would implement a sender like [`super::push::PushChannel`]
//! over its provider's HTTP API) are not, so a registered token receives nothing yet.
//!
//! Validation is by shape only (a provider is the one to say a token is stale): APNs
//! tokens are hex (32 bytes today; Apple says the length may grow, so 32 to 100 bytes),
//! FCM tokens are 32 to 512 characters of `A-Z a-z 0-9 - _ :`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rejected;
use crate::entity::device_tokens;
use crate::error::ApiError;

/// Most device tokens one patient may register.
pub const MAX_DEVICE_TOKENS_PER_PATIENT: u64 = 10;

/// A native push platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
}

impl Platform {
    /// The API and stored code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code {
            "apns" => Some(Self::Apns),
            "fcm" => Some(Self::Fcm),
            _ => None,
        }
    }

    /// Whether `token` has this platform's shape; APNs tokens are normalised to lower case.
    fn check(self, token: &str) -> Option<String> {
        match self {
            Self::Apns => {
                let ok = (64..=200).contains(&token.len())
                    && token.len().is_multiple_of(2)
                    && token.bytes().all(|b| b.is_ascii_hexdigit());
                ok.then(|| token.to_ascii_lowercase())
            }
            Self::Fcm => {
                let ok = (32..=512).contains(&token.len())
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b));
                ok.then(|| token.to_owned())
            }
        }
    }
}

/// The body of `POST /me/device-tokens`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTokenInput {
    /// `apns` or `fcm`.
    pub platform: String,
    /// The token the platform gave the app.
    pub token: String,
}

/// A device token as the API shows it: the token itself is not echoed, only its last
/// six characters to tell devices apart.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceTokenView {
    /// Id.
    pub id: Uuid,
    /// `apns` or `fcm`.
    pub platform: String,
    /// The token's last six characters.
    pub token_suffix: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
}

impl From<device_tokens::Model> for DeviceTokenView {
    fn from(row: device_tokens::Model) -> Self {
        let start = row.token.len().saturating_sub(6);
        Self {
            id: row.id,
            platform: row.platform,
            token_suffix: row.token.get(start..).unwrap_or_default().to_owned(),
            created_at: row.created_at,
        }
    }
}

/// Registers a token for `patient`: `(view, true)` when new, `(view, false)` when the
/// patient had registered it already.
pub async fn register(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    input: &DeviceTokenInput,
    now: DateTime<Utc>,
) -> Result<(DeviceTokenView, bool), ApiError> {
    let platform = Platform::parse(&input.platform).ok_or(rejected(
        "device_platform_invalid",
        "platform must be apns or fcm",
    ))?;
    let token = platform.check(&input.token).ok_or(rejected(
        "device_token_invalid",
        "token must be an APNs token (64 to 200 hex digits) or an FCM registration token (32 to 512 of A-Z a-z 0-9 - _ :)",
    ))?;
    let existing = device_tokens::Entity::find()
        .filter(device_tokens::Column::PatientId.eq(patient))
        .filter(device_tokens::Column::Platform.eq(platform.code()))
        .filter(device_tokens::Column::Token.eq(token.clone()))
        .one(conn)
        .await?;
    if let Some(row) = existing {
        return Ok((row.into(), false));
    }
    let count = device_tokens::Entity::find()
        .filter(device_tokens::Column::PatientId.eq(patient))
        .count(conn)
        .await?;
    if count >= MAX_DEVICE_TOKENS_PER_PATIENT {
        return Err(ApiError::LimitReached {
            code: "device_token_limit_reached",
            message: "a patient may register at most 10 device tokens; delete one first",
        });
    }
    let row = device_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        platform: Set(platform.code().to_owned()),
        token: Set(token),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok((row.into(), true))
}

/// The patient's device tokens, oldest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<DeviceTokenView>, ApiError> {
    Ok(device_tokens::Entity::find()
        .filter(device_tokens::Column::PatientId.eq(patient))
        .order_by_asc(device_tokens::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(DeviceTokenView::from)
        .collect())
}

/// Deletes the patient's token `id`; `NotFound` if it is not theirs.
pub async fn unregister(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let done = device_tokens::Entity::delete_many()
        .filter(device_tokens::Column::Id.eq(id))
        .filter(device_tokens::Column::PatientId.eq(patient))
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_shape() {
        let apns = "A1".repeat(32);
        assert_eq!(Platform::Apns.check(&apns), Some("a1".repeat(32)));
        assert_eq!(Platform::Apns.check(&"a".repeat(63)), None);
        assert_eq!(Platform::Apns.check(&"g".repeat(64)), None);
        let fcm = format!("cX1:APA91b{}", "x_-9".repeat(35));
        assert!(Platform::Fcm.check(&fcm).is_some());
        assert_eq!(Platform::Fcm.check("short"), None);
        assert_eq!(Platform::Fcm.check(&format!("{fcm} ")), None);
        assert_eq!(Platform::Fcm.check(&"a".repeat(513)), None);
    }
}

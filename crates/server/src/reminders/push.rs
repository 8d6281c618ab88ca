//! Web Push for reminders: patients' push subscriptions, the server's VAPID key pair
//! (RFC 8292), payload encryption (RFC 8291, `aes128gcm` of RFC 8188) and the POST to
//! the push service (RFC 8030) through the outbox's shared HTTP client.
//!
//! The crypto is `ring`'s (ECDH P-256, HKDF-SHA256, AES-128-GCM, ECDSA P-256), already
//! in the build through rustls and lettre: the `web-push` crate would add `ece` with an
//! OpenSSL backend, a JWT crate and its own HTTP client for ~80 lines of framing that
//! RFC 8291 spells out byte by byte. The story test `tests/tests/reminders.rs` decrypts
//! what this sends with the subscription's private key, as a browser would.
//!
//! Other push providers (APNs, FCM) fit behind [`PushChannel`]; they are not
//! implemented.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use ring::{aead, agreement, hkdf};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::RemindersConfig;
use crate::entity::push_subscriptions;
use crate::error::ApiError;
use crate::outbox::Outcome;

/// Most push subscriptions one patient may register (browsers, devices).
pub const MAX_SUBSCRIPTIONS_PER_PATIENT: u64 = 10;
/// Longest accepted endpoint URL.
pub const MAX_ENDPOINT_LEN: usize = 1024;
/// The record size announced in the `aes128gcm` header; one record holds the payload.
const RECORD_SIZE: u32 = 4096;

/// Why the VAPID key could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The key file could not be read or written.
    #[error("VAPID key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold a PKCS#8 P-256 key.
    #[error("VAPID key file {0} does not hold a PKCS#8 ECDSA P-256 key")]
    Invalid(PathBuf),
}

/// The server's VAPID identity: a P-256 key pair and the contact (`sub`) it signs with.
pub struct Vapid {
    pkcs8: SecretSlice<u8>,
    public: Vec<u8>,
    subject: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// Loads the key from `reminders.vapid_private_key_file` (default
    /// `<data_dir>/vapid_private_key.p8`), generating and saving one (mode 0600) if the
    /// default file does not exist yet.
    pub fn load_or_generate(config: &RemindersConfig, data_dir: &Path) -> Result<Self, VapidError> {
        let (path, may_create) = match &config.vapid_private_key_file {
            Some(p) => (p.clone(), false),
            None => (data_dir.join("vapid_private_key.p8"), true),
        };
        let io = |source| VapidError::Io {
            path: path.clone(),
            source,
        };
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                let rng = SystemRandom::new();
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| VapidError::Invalid(path.clone()))?;
                std::fs::create_dir_all(data_dir).map_err(io)?;
                write_private(&path, doc.as_ref()).map_err(io)?;
                tracing::info!(path = %path.display(), "generated a VAPID key pair for Web Push");
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        Self::from_pkcs8(pkcs8, config.vapid_subject.clone())
            .ok_or(VapidError::Invalid(path.clone()))
    }

    /// From a PKCS#8 DER P-256 key.
    pub fn from_pkcs8(pkcs8: Vec<u8>, subject: String) -> Option<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .ok()?;
        Some(Self {
            public: pair.public_key().as_ref().to_vec(),
            pkcs8: SecretSlice::from(pkcs8),
            subject,
        })
    }

    /// The public key, base64url: the `applicationServerKey` browsers subscribe with.
    pub fn public_key(&self) -> String {
        B64.encode(&self.public)
    }

    /// The `Authorization: vapid t=<JWT>, k=<key>` value for a push to `endpoint`:
    /// an ES256 JWT whose `aud` is the endpoint's origin, valid 12 hours.
    pub fn authorization(&self, endpoint: &reqwest::Url, now: DateTime<Utc>) -> Option<String> {
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": (now + Duration::hours(12)).timestamp(),
            "sub": self.subject,
        });
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            self.pkcs8.expose_secret(),
            &rng,
        )
        .ok()?;
        let signature = pair.sign(&rng, signing_input.as_bytes()).ok()?;
        Some(format!(
            "vapid t={signing_input}.{}, k={}",
            B64.encode(signature.as_ref()),
            self.public_key()
        ))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]], out: &mut [u8]) -> Option<()> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    prk.expand(info, Len(out.len())).ok()?.fill(out).ok()
}

/// Encrypts `plaintext` for a subscription (RFC 8291): `ua_public` is its `p256dh`
/// (65 bytes), `auth` its 16-byte secret. `ephemeral` and `salt` are fresh per message.
fn encrypt_with(
    ua_public: &[u8],
    auth: &[u8],
    plaintext: &[u8],
    ephemeral: agreement::EphemeralPrivateKey,
    salt: [u8; 16],
) -> Option<Vec<u8>> {
    if plaintext.len() + 17 > RECORD_SIZE as usize {
        return None;
    }
    let as_public = ephemeral.compute_public_key().ok()?.as_ref().to_vec();
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, ua_public);
    let mut ikm = [0u8; 32];
    agreement::agree_ephemeral(ephemeral, &peer, |ecdh| {
        hkdf_sha256(
            auth,
            ecdh,
            &[&b"WebPush: info\0"[..], ua_public, &as_public[..]],
            &mut ikm,
        )
    })
    .ok()??;
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    hkdf_sha256(
        &salt,
        &ikm,
        &[&b"Content-Encoding: aes128gcm\0"[..]],
        &mut cek,
    )?;
    hkdf_sha256(
        &salt,
        &ikm,
        &[&b"Content-Encoding: nonce\0"[..]],
        &mut nonce,
    )?;
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).ok()?);
    let mut record = plaintext.to_vec();
    // The padding delimiter of the last (only) record.
    record.push(2);
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::empty(),
        &mut record,
    )
    .ok()?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(u8::try_from(as_public.len()).ok()?);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Some(body)
}

/// Encrypts `plaintext` for the subscription with keys `p256dh` and `auth` (raw bytes).
pub fn encrypt(p256dh: &[u8], auth: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
    let rng = SystemRandom::new();
    let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).ok()?;
    let salt: [u8; 16] = rand::random();
    encrypt_with(p256dh, auth, plaintext, ephemeral, salt)
}

/// The JSON a service worker receives in its `push` event (`event.data.json()`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    /// Always `reminder`.
    #[serde(rename = "type")]
    pub kind_of_message: String,
    /// `log_pain`, `take_medication` or `exercise`.
    pub kind: String,
    /// The reminder.
    pub reminder_id: Uuid,
    /// The occurrence (UTC).
    pub due_at: DateTime<Utc>,
    /// For `questionnaire_due`: the instrument id (e.g. `peg`), nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// A notification title to show.
    pub title: String,
    /// A notification body to show.
    pub body: String,
    /// Where a click on the notification should lead.
    pub url: String,
}

/// How a push attempt ended, as a provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The push service accepted it.
    Accepted,
    /// The subscription is gone (404/410): delete it.
    Gone,
    /// Worth retrying with backoff (429, 5xx, network).
    Retry(String),
    /// Retrying cannot help.
    Failed(String),
}

/// Where a push goes: a Web Push subscription today; an APNs or FCM device token would
/// be another variant of the target with its own [`PushChannel`].
#[derive(Clone, Debug)]
pub struct PushTarget {
    /// The push service URL.
    pub endpoint: String,
    /// The subscription's public key (raw).
    pub p256dh: Vec<u8>,
    /// The subscription's auth secret (raw).
    pub auth: Vec<u8>,
}

/// A push provider. Web Push ([`WebPush`]) is the one implemented; APNs and FCM would
/// implement this with their own HTTP APIs and credentials (not done).
pub trait PushChannel: Send + Sync {
    /// Sends `message` to `target`.
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, PushOutcome>;
}

/// Web Push over the outbox's shared HTTP client.
pub struct WebPush<'a> {
    /// The shared client.
    pub http: &'a reqwest::Client,
    /// The server's VAPID identity.
    pub vapid: &'a Vapid,
    /// The reminder settings (TTL, loopback opt-in).
    pub config: &'a RemindersConfig,
}

impl PushChannel for WebPush<'_> {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            // Checked again at send time: the operator may have withdrawn the loopback
            // opt-in since the subscription was saved.
            let Ok(url) = check_endpoint(&target.endpoint, self.config.push_allow_loopback) else {
                return PushOutcome::Failed("push endpoint refused".to_owned());
            };
            let Ok(plain) = serde_json::to_vec(message) else {
                return PushOutcome::Failed("cannot encode the push message".to_owned());
            };
            let Some(body) = encrypt(&target.p256dh, &target.auth, &plain) else {
                return PushOutcome::Failed("cannot encrypt for this subscription".to_owned());
            };
            let Some(authorization) = self.vapid.authorization(&url, now) else {
                return PushOutcome::Failed("cannot sign the VAPID token".to_owned());
            };
            let sent = self
                .http
                .post(url)
                .timeout(std::time::Duration::from_secs(
                    self.config.push_timeout_secs.max(1),
                ))
                .header(reqwest::header::AUTHORIZATION, authorization)
                .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header("TTL", self.config.push_ttl_secs.to_string())
                .header("Urgency", "normal")
                .body(body)
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status();
                    match status.as_u16() {
                        200..=299 => PushOutcome::Accepted,
                        404 | 410 => PushOutcome::Gone,
                        408 | 429 | 500..=599 => {
                            PushOutcome::Retry(format!("push service answered {}", status.as_u16()))
                        }
                        _ => PushOutcome::Failed(format!(
                            "push service answered {}",
                            status.as_u16()
                        )),
                    }
                }
                Err(e) if e.is_timeout() => PushOutcome::Retry("push service timed out".to_owned()),
                Err(_) => PushOutcome::Retry("push service unreachable".to_owned()),
            }
        })
    }
}

/// Sends one web-push delivery of the outbox: loads the subscription, pushes, deletes the
/// subscription when the push service says it is gone.
pub async fn deliver(
    state: &crate::state::AppState,
    subscription_id: &str,
    message: &PushMessage,
    now: DateTime<Utc>,
) -> Outcome {
    let Ok(id) = Uuid::parse_str(subscription_id) else {
        return Outcome::Permanent("invalid subscription id".to_owned());
    };
    let sub = match push_subscriptions::Entity::find_by_id(id)
        .one(&state.db)
        .await
    {
        Ok(Some(sub)) => sub,
        Ok(None) => return Outcome::Permanent("push subscription removed".to_owned()),
        Err(_) => return Outcome::Transient("database unavailable".to_owned()),
    };
    let (Ok(p256dh), Ok(auth)) = (B64.decode(&sub.p256dh), B64.decode(&sub.auth)) else {
        return Outcome::Permanent("push subscription keys unreadable".to_owned());
    };
    let target = PushTarget {
        endpoint: sub.endpoint.clone(),
        p256dh,
        auth,
    };
    let channel = WebPush {
        http: state.outbox.http(),
        vapid: &state.vapid,
        config: &state.config.reminders,
    };
    match channel.send(&target, message, now).await {
        PushOutcome::Accepted => Outcome::Sent,
        PushOutcome::Gone => {
            if push_subscriptions::Entity::delete_by_id(sub.id)
                .exec(&state.db)
                .await
                .is_err()
            {
                return Outcome::Transient("database unavailable".to_owned());
            }
            tracing::info!(subscription = %sub.id, "push subscription gone; removed");
            Outcome::Permanent("push subscription gone (404/410); removed".to_owned())
        }
        PushOutcome::Retry(reason) => Outcome::Transient(reason),
        PushOutcome::Failed(reason) => Outcome::Permanent(reason),
    }
}

/// Checks a push endpoint: `https` with a host, or `http` to a loopback address when
/// `allow_loopback` (tests). At most [`MAX_ENDPOINT_LEN`] characters, no credentials.
pub fn check_endpoint(raw: &str, allow_loopback: bool) -> Result<reqwest::Url, ApiError> {
    let refused = ApiError::Rejected {
        code: "push_endpoint_invalid",
        message: "endpoint must be an https URL of a push service",
    };
    if raw.len() > MAX_ENDPOINT_LEN {
        return Err(refused);
    }
    let url = reqwest::Url::parse(raw).map_err(|_| ApiError::Rejected {
        code: "push_endpoint_invalid",
        message: "endpoint must be an https URL of a push service",
    })?;
    let Some(host) = url.host_str() else {
        return Err(refused);
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused);
    }
    if loopback && !allow_loopback {
        return Err(ApiError::Rejected {
            code: "push_endpoint_loopback",
            message: "loopback push endpoints are refused unless the operator allows them",
        });
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(refused),
    }
}

/// The body of `POST /me/push-subscriptions`: what `PushSubscription.toJSON()` gives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// The push service URL.
    pub endpoint: String,
    /// The keys.
    pub keys: SubscriptionKeys,
    /// Browsers send it; ignored (push services expire subscriptions with 404/410).
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<serde_json::Value>,
}

/// The subscription's keys, base64url.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// P-256 public key, 65 bytes uncompressed.
    pub p256dh: String,
    /// Authentication secret, 16 bytes.
    pub auth: String,
}

/// A subscription as the API shows it (the keys are not echoed).
#[derive(Clone, Debug, Serialize)]
pub struct SubscriptionView {
    /// Id.
    pub id: Uuid,
    /// The push service URL.
    pub endpoint: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
}

impl From<push_subscriptions::Model> for SubscriptionView {
    fn from(row: push_subscriptions::Model) -> Self {
        Self {
            id: row.id,
            endpoint: row.endpoint,
            created_at: row.created_at,
        }
    }
}

/// Decodes base64url with or without padding.
fn b64(raw: &str) -> Option<Vec<u8>> {
    if raw.len() > 200 {
        return None;
    }
    B64.decode(raw.trim_end_matches('=')).ok()
}

/// Validates and stores a subscription; registering an endpoint again replaces its keys.
pub async fn register(
    conn: &impl ConnectionTrait,
    config: &RemindersConfig,
    patient: Uuid,
    input: &SubscriptionInput,
    now: DateTime<Utc>,
) -> Result<(SubscriptionView, bool), ApiError> {
    let url = check_endpoint(&input.endpoint, config.push_allow_loopback)?;
    let p256dh = b64(&input.keys.p256dh)
        .filter(|k| k.len() == 65 && k[0] == 4)
        .ok_or(ApiError::Rejected {
            code: "push_key_invalid",
            message: "keys.p256dh must be a base64url uncompressed P-256 point (65 bytes)",
        })?;
    // A point not on the curve would only fail at the first push.
    let rng = SystemRandom::new();
    let probe = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| ApiError::internal("cannot generate a key"))?;
    agreement::agree_ephemeral(
        probe,
        &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &p256dh),
        |_| (),
    )
    .map_err(|_| ApiError::Rejected {
        code: "push_key_invalid",
        message: "keys.p256dh must be a base64url uncompressed P-256 point (65 bytes)",
    })?;
    let auth = b64(&input.keys.auth)
        .filter(|k| k.len() == 16)
        .ok_or(ApiError::Rejected {
            code: "push_auth_invalid",
            message: "keys.auth must be a base64url 16-byte secret",
        })?;
    let endpoint = url.to_string();
    let existing = push_subscriptions::Entity::find()
        .filter(push_subscriptions::Column::PatientId.eq(patient))
        .filter(push_subscriptions::Column::Endpoint.eq(endpoint.clone()))
        .one(conn)
        .await?;
    if let Some(row) = existing {
        let mut active: push_subscriptions::ActiveModel = row.into();
        active.p256dh = Set(B64.encode(&p256dh));
        active.auth = Set(B64.encode(&auth));
        return Ok((active.update(conn).await?.into(), false));
    }
    let count = push_subscriptions::Entity::find()
        .filter(push_subscriptions::Column::PatientId.eq(patient))
        .count(conn)
        .await?;
    if count >= MAX_SUBSCRIPTIONS_PER_PATIENT {
        return Err(ApiError::LimitReached {
            code: "push_subscription_limit_reached",
            message: "a patient may register at most 10 push subscriptions; delete one first",
        });
    }
    let row = push_subscriptions::ActiveModel {
        id: Set(Uuid::now_v7()),
        patient_id: Set(patient),
        endpoint: Set(endpoint),
        p256dh: Set(B64.encode(&p256dh)),
        auth: Set(B64.encode(&auth)),
        created_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok((row.into(), true))
}

/// A patient's subscriptions, oldest first.
pub async fn list(
    conn: &impl ConnectionTrait,
    patient: Uuid,
) -> Result<Vec<SubscriptionView>, ApiError> {
    Ok(push_subscriptions::Entity::find()
        .filter(push_subscriptions::Column::PatientId.eq(patient))
        .order_by_asc(push_subscriptions::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(SubscriptionView::from)
        .collect())
}

/// Deletes the patient's subscription `id`; `NotFound` if it is not theirs.
pub async fn unregister(
    conn: &impl ConnectionTrait,
    patient: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let done = push_subscriptions::Entity::delete_many()
        .filter(push_subscriptions::Column::Id.eq(id))
        .filter(push_subscriptions::Column::PatientId.eq(patient))
        .exec(conn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_is_allowed() {
        assert!(check_endpoint("https://push.example.com/send/abc", false).is_ok());
        assert_eq!(
            check_endpoint("http://push.example.com/send/abc", true)
                .unwrap_err()
                .code(),
            "push_endpoint_invalid"
        );
        assert_eq!(
            check_endpoint("http://127.0.0.1:9/push", false)
                .unwrap_err()
                .code(),
            "push_endpoint_loopback"
        );
        assert!(check_endpoint("http://127.0.0.1:9/push", true).is_ok());
        assert!(check_endpoint("ftp://x/y", false).is_err());
        assert!(check_endpoint(&format!("https://a/{}", "x".repeat(2000)), false).is_err());
    }

    #[test]
    fn vapid_token_verifies_with_the_public_key() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let vapid = Vapid::from_pkcs8(doc.as_ref().to_vec(), "mailto:a@b.c".into()).unwrap();
        let url = reqwest::Url::parse("https://push.example.com:8443/x").unwrap();
        let header = vapid.authorization(&url, Utc::now()).unwrap();
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (jwt, k) = rest.split_once(", k=").unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let key = B64.decode(k).unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &key)
            .verify(input.as_bytes(), &B64.decode(sig).unwrap())
            .unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.com:8443");
    }
}

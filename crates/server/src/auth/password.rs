//! argon2id password hashing, run on the blocking pool so a login never stalls the
//! async worker threads (one hash takes tens of milliseconds by design).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::domain::Password;
use crate::error::ApiError;

/// Hashes `password` with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the
/// OWASP baseline) and a fresh random salt; returns the PHC string.
pub async fn hash(password: Password) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(ApiError::internal)?
}

/// Synchronous variant for callers already off the async threads.
pub fn hash_blocking(password: &Password) -> Result<String, ApiError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(ApiError::internal)?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks `password` against a PHC string. A malformed stored hash is an internal error,
/// not a wrong password, so it shows up in the logs.
pub async fn verify(password: Password, phc: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc).map_err(ApiError::internal)?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(ApiError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(Password::for_login("correct horse battery"), h.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify(Password::for_login("wrong horse battery"), h)
                .await
                .unwrap()
        );
    }
}

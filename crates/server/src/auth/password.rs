//! argon2id password hashing, run on the blocking pool so a login never stalls the
//! async worker threads (one hash takes tens of milliseconds by design), and bounded by
//! [`HashGate`] so that parallel logins cannot take more memory than the budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::config::AuthConfig;
use crate::domain::Password;
use crate::error::ApiError;

/// Memory one argon2id hash or verification takes (the crate's default `m_cost`,
/// 19,456 KiB).
pub const HASH_MEMORY_BYTES: usize = argon2::Params::DEFAULT_M_COST as usize * 1024;

/// The slots for password hashing: at most `auth.hash_memory_budget_bytes` /
/// [`HASH_MEMORY_BYTES`] hashes run at once; a request waits up to
/// `auth.hash_queue_wait_ms` for a slot and is then answered 503 with `Retry-After`.
///
/// Every login verifies inside it, an unknown email against the dummy hash too, so an
/// unknown email costs the same time as a known one without costing extra memory, and
/// a flood of bogus logins queues instead of allocating 19 MiB each.
#[derive(Debug)]
pub struct HashGate {
    slots: Semaphore,
    wait: Duration,
    running: AtomicUsize,
    most_running: AtomicUsize,
    total: AtomicUsize,
}

impl HashGate {
    /// Slots from the configured memory budget (at least one).
    pub fn new(config: &AuthConfig) -> Self {
        let slots = (config.hash_memory_budget_bytes / HASH_MEMORY_BYTES).max(1);
        Self {
            slots: Semaphore::new(slots),
            wait: Duration::from_millis(config.hash_queue_wait_ms),
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    /// The most hashes that ever ran at once (for tests and operators).
    pub fn most_running(&self) -> usize {
        self.most_running.load(Ordering::Relaxed)
    }

    /// Hashes and verifications run so far.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = ApiError::Busy {
            retry_after_secs: self.wait.as_secs().max(1),
        };
        let waiting = crate::metrics::PasswordHashWaiting::enter();
        let _slot = match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) | Err(_) => return Err(busy),
        };
        drop(waiting);
        let now = self.running.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_running.fetch_max(now, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        let result = tokio::task::spawn_blocking(work).await;
        self.running.fetch_sub(1, Ordering::Relaxed);
        result.map_err(ApiError::internal)
    }
}

/// Hashes `password` with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, the
/// OWASP baseline) and a fresh random salt, in a slot of `gate`; returns the PHC string.
pub async fn hash(gate: &HashGate, password: Password) -> Result<String, ApiError> {
    gate.run(move || hash_blocking(&password)).await?
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
pub async fn verify(gate: &HashGate, password: Password, phc: String) -> Result<bool, ApiError> {
    gate.run(move || {
        let parsed = PasswordHash::new(&phc).map_err(ApiError::internal)?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let gate = HashGate::new(&AuthConfig::default());
        let h = hash(&gate, Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(
                &gate,
                Password::for_login("correct horse battery"),
                h.clone()
            )
            .await
            .unwrap()
        );
        assert!(
            !verify(&gate, Password::for_login("wrong horse battery"), h)
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_bounds_concurrent_hashes_and_answers_busy() {
        let config = AuthConfig {
            hash_memory_budget_bytes: 2 * HASH_MEMORY_BYTES,
            hash_queue_wait_ms: 50,
            ..AuthConfig::default()
        };
        let gate = std::sync::Arc::new(HashGate::new(&config));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    gate.run(|| std::thread::sleep(Duration::from_millis(200)))
                        .await
                })
            })
            .collect();
        let mut busy = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => {}
                Err(ApiError::Busy { retry_after_secs }) => {
                    assert!(retry_after_secs >= 1);
                    busy += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(gate.most_running(), 2);
        assert_eq!(
            busy, 6,
            "two ran, the others waited 50 ms and were told to retry"
        );
    }
}

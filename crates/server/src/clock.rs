//! The time source, injected so expiry and rate-limit rules can be tested without sleeping.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// Something that tells the time.
pub trait Clock: Send + Sync + Debug {
    /// Now, truncated to microseconds: PostgreSQL keeps microseconds, so a value read back
    /// from the database compares equal to the value written.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// Starts at the current real time.
    pub fn starting_now() -> Self {
        Self(Arc::new(Mutex::new(SystemClock.now())))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `tick` every `every_secs` seconds (never when zero) until `stop` resolves. A tick
/// that overruns delays the next one instead of bunching the missed ones together. The
/// server's periodic timers (alert repeats and digests, patient reminders) share this.
pub async fn run_every<F, Fut>(
    every_secs: u64,
    stop: impl std::future::Future<Output = ()>,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if every_secs == 0 {
        return;
    }
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(every_secs));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = interval.tick() => tick().await,
        }
    }
}

//! Access changes that live sync sessions must act on at once: a revoked token, a user
//! whose care teams or account changed, an erased patient.
//!
//! REST handlers publish after their transaction commits; every WebSocket session of this
//! process subscribes. Other replicas do not hear this broadcast: their sessions catch the
//! same change at their next periodic recheck (`sync.session_recheck_secs`), so the
//! broadcast is the fast path, never the only one.

use tokio::sync::broadcast;

use crate::domain::{PatientId, TokenId, UserId};

/// One change to who may see what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessChange {
    /// This token no longer authenticates anyone.
    TokenRevoked(TokenId),
    /// This user's rights changed (care team membership, account disabled): recheck.
    UserChanged(UserId),
    /// This patient was erased: nobody may see their documents any more.
    PatientErased(PatientId),
}

/// The sending half kept in `AppState`.
#[derive(Clone, Debug)]
pub struct AccessChanges {
    sender: broadcast::Sender<AccessChange>,
}

impl Default for AccessChanges {
    fn default() -> Self {
        // A session that falls this far behind rechecks everything (see `Lagged`).
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }
}

impl AccessChanges {
    /// Tells every subscribed session; nobody listening is fine.
    pub fn publish(&self, change: AccessChange) {
        let _ = self.sender.send(change);
    }

    /// A new subscription, for one session.
    pub fn subscribe(&self) -> broadcast::Receiver<AccessChange> {
        self.sender.subscribe()
    }
}

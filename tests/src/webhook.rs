//! A real HTTP listener (axum on 127.0.0.1:0) that receives webhooks for tests: it
//! records each request's headers and body and answers with a status the test chooses.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::{Notify, oneshot};

/// One received request.
#[derive(Clone, Debug)]
pub struct ReceivedHook {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl ReceivedHook {
    /// A header as a string (panics if absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing"))
            .to_str()
            .expect("ascii header")
            .to_owned()
    }
}

#[derive(Default)]
struct Shared {
    status: AtomicU16,
    hooks: Mutex<Vec<ReceivedHook>>,
    arrived: Notify,
}

/// The running receiver; stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl WebhookReceiver {
    /// Starts a receiver answering 204.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        shared.status.store(204, Ordering::SeqCst);
        let router = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            shared,
            _stop: stop,
        }
    }

    /// The status the next requests get.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<ReceivedHook> {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits (at most `limit`) until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<ReceivedHook> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let hooks = self.received();
            if hooks.len() >= n {
                return hooks;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} of {n} webhooks arrived within {limit:?}", hooks.len());
            }
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared
        .hooks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ReceivedHook { headers, body });
    shared.arrived.notify_waiters();
    StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

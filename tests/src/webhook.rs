//! A real HTTP listener (axum on 127.0.0.1:0, plain or https with a certificate from
//! [`crate::tls::TestPki`]) that receives webhooks for tests: it records each request's
//! headers and body and answers with a status the test chooses.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

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
    failed_handshakes: Mutex<usize>,
    arrived: Notify,
}

/// The running receiver; stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook` (or `https://`).
    pub url: String,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

impl WebhookReceiver {
    /// Starts a plain-HTTP receiver answering 204.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("addr");
        Self::serve(listener, format!("http://{addr}/hook"), Arc::default())
    }

    /// Starts an https receiver answering 204, presenting `acceptor`'s certificate.
    pub async fn start_tls(acceptor: TlsAcceptor) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("addr");
        let shared: Arc<Shared> = Arc::default();
        let tls = TlsListener {
            listener,
            acceptor,
            shared: shared.clone(),
        };
        Self::serve(tls, format!("https://{addr}/hook"), shared)
    }

    fn serve<L: axum::serve::Listener>(listener: L, url: String, shared: Arc<Shared>) -> Self
    where
        L::Addr: std::fmt::Debug,
    {
        shared.status.store(204, Ordering::SeqCst);
        let router = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            shared,
            _stop: stop,
        }
    }

    /// TLS handshakes that failed (e.g. the client did not trust the certificate).
    pub fn failed_handshakes(&self) -> usize {
        *self
            .shared
            .failed_handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

/// Accepts TCP connections and completes the TLS handshake before axum sees them; a
/// failed handshake is counted and the connection dropped.
struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            // One handshake at a time is plenty for a test receiver.
            match self.acceptor.accept(tcp).await {
                Ok(tls) => return (tls, addr),
                Err(_) => {
                    *self
                        .shared
                        .failed_handshakes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) += 1;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

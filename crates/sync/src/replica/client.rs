//! The client side of automerge-repo protocol v1 over WebSocket: connect with a bearer
//! token, handshake, and run the Automerge sync exchange for a set of documents until the
//! server's replies cover everything on both sides.

use std::collections::HashMap;
use std::time::Duration;

use automerge::AutoCommit;
use automerge::ChangeHash;
use automerge::sync::{Message as SyncMessage, State as SyncState, SyncDoc};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ids::DocumentId;
use crate::protocol::{DecodeError, Limits, Message, PeerId, PeerMetadata, StorageId};

/// Where to sync, and with which credentials.
#[derive(Clone)]
pub struct ServerEndpoint {
    /// `ws://host:port/path` (or `wss://` where TLS support is compiled in).
    pub url: String,
    /// The bearer token, sent as `Authorization: Bearer <token>` on the upgrade request.
    /// `None` for unauthenticated servers such as the JS reference sync server.
    pub token: Option<String>,
}

impl std::fmt::Debug for ServerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never print it.
        f.debug_struct("ServerEndpoint")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The URL is not a WebSocket URL we can connect to.
    #[error("invalid server URL: {0}")]
    BadUrl(String),
    /// The server refused the upgrade (401 for a bad token, 403, ...).
    #[error("server refused the connection with HTTP status {0}")]
    Refused(u16),
    /// The connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The server sent an `error` message.
    #[error("server reported an error: {0}")]
    Server(String),
    /// The server closed the connection.
    #[error("server closed the connection{}", .0.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed(Option<String>),
    /// The server sent a frame we cannot decode.
    #[error("server sent an invalid message: {0}")]
    Protocol(#[from] DecodeError),
    /// The server sent a `data` payload that is not an Automerge sync message.
    #[error("server sent an invalid Automerge sync message for {0}")]
    BadSyncMessage(DocumentId),
    /// The changes the server sent could not be applied.
    #[error("changes from the server for {0} could not be applied")]
    Apply(DocumentId),
    /// No progress within the deadline.
    #[error("sync timed out after {0:?}")]
    Timeout(Duration),
}

/// One document to sync in [`Connection::sync_documents`].
pub struct SyncTarget<'a> {
    /// The document's ID.
    pub id: DocumentId,
    /// The local document (empty when asking the server for a document we lack).
    pub doc: &'a mut AutoCommit,
    /// The sync state with this server (persisted between connections).
    pub state: &'a mut SyncState,
}

/// What happened to one document in a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentOutcome {
    /// Changes received from the server and applied.
    pub changes_received: usize,
    /// Sync messages sent.
    pub messages_sent: usize,
    /// The server answered `doc-unavailable` (it does not have it, or we may not see it).
    pub unavailable: bool,
}

/// A handshaken connection to an automerge-repo v1 server.
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    our_id: PeerId,
    server_id: PeerId,
    server_metadata: Option<PeerMetadata>,
    limits: Limits,
    bytes_sent: u64,
    bytes_received: u64,
}

impl Connection {
    /// Connects, sends `join` and waits for the server's `peer` (or `error`).
    pub async fn connect(
        endpoint: &ServerEndpoint,
        our_id: PeerId,
        storage_id: Option<StorageId>,
        timeout: Duration,
    ) -> Result<Self, SyncError> {
        tokio::time::timeout(timeout, Self::connect_inner(endpoint, our_id, storage_id))
            .await
            .map_err(|_| SyncError::Timeout(timeout))?
    }

    async fn connect_inner(
        endpoint: &ServerEndpoint,
        our_id: PeerId,
        storage_id: Option<StorageId>,
    ) -> Result<Self, SyncError> {
        let mut request = endpoint
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| SyncError::BadUrl(e.to_string()))?;
        if let Some(token) = &endpoint.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| SyncError::BadUrl("token is not a valid header value".into()))?;
            request.headers_mut().insert("authorization", value);
        }
        let limits = Limits::default();
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(limits.max_frame_bytes);
        config.max_frame_size = Some(limits.max_frame_bytes);
        let (ws, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        SyncError::Refused(response.status().as_u16())
                    }
                    tungstenite::Error::Url(e) => SyncError::BadUrl(e.to_string()),
                    other => SyncError::Connection(other.to_string()),
                })?;
        let mut conn = Self {
            ws,
            server_id: our_id.clone(),
            our_id,
            server_metadata: None,
            limits,
            bytes_sent: 0,
            bytes_received: 0,
        };
        conn.send(&Message::Join {
            sender_id: conn.our_id.clone(),
            peer_metadata: Some(PeerMetadata {
                storage_id,
                is_ephemeral: false,
            }),
            supported_protocol_versions: vec!["1".to_owned()],
        })
        .await?;
        loop {
            match conn.recv().await? {
                Message::Peer {
                    sender_id,
                    peer_metadata,
                    ..
                } => {
                    conn.server_id = sender_id;
                    conn.server_metadata = peer_metadata;
                    return Ok(conn);
                }
                Message::Error { message } => return Err(SyncError::Server(message)),
                // Nothing else is meaningful before the handshake completes.
                _ => continue,
            }
        }
    }

    /// Our peer ID.
    pub fn our_id(&self) -> &PeerId {
        &self.our_id
    }

    /// The server's peer ID.
    pub fn server_id(&self) -> &PeerId {
        &self.server_id
    }

    /// The server's storage ID, if it announced one (a stable key for sync states).
    pub fn server_storage_id(&self) -> Option<&StorageId> {
        self.server_metadata
            .as_ref()
            .and_then(|m| m.storage_id.as_ref())
    }

    /// Bytes of WebSocket payload sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes of WebSocket payload received so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Sends one protocol message as one binary frame.
    pub async fn send(&mut self, message: &Message) -> Result<(), SyncError> {
        let frame = message.encode();
        self.bytes_sent += frame.len() as u64;
        self.ws
            .send(WsMessage::Binary(frame.into()))
            .await
            .map_err(|e| SyncError::Connection(e.to_string()))
    }

    /// Sends raw bytes as one binary frame (for tests of how a server treats garbage).
    pub async fn send_raw(&mut self, frame: Vec<u8>) -> Result<(), SyncError> {
        self.bytes_sent += frame.len() as u64;
        self.ws
            .send(WsMessage::Binary(frame.into()))
            .await
            .map_err(|e| SyncError::Connection(e.to_string()))
    }

    /// Receives the next protocol message (pings are answered by the WebSocket layer).
    pub async fn recv(&mut self) -> Result<Message, SyncError> {
        loop {
            let frame = match self.ws.next().await {
                None => return Err(SyncError::Closed(None)),
                Some(Err(e)) => return Err(SyncError::Connection(e.to_string())),
                Some(Ok(frame)) => frame,
            };
            match frame {
                WsMessage::Binary(bytes) => {
                    self.bytes_received += bytes.len() as u64;
                    return Ok(Message::decode(&bytes, &self.limits)?);
                }
                WsMessage::Close(frame) => {
                    return Err(SyncError::Closed(
                        frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)),
                    ));
                }
                WsMessage::Text(_)
                | WsMessage::Ping(_)
                | WsMessage::Pong(_)
                | WsMessage::Frame(_) => continue,
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Runs the sync exchange for `targets` until, for every document, the server has
    /// confirmed our heads and we hold its heads (or it said the document is unavailable).
    /// A document we hold nothing of is asked for with `request`, the others with `sync`.
    pub async fn sync_documents(
        &mut self,
        targets: &mut [SyncTarget<'_>],
        timeout: Duration,
    ) -> Result<Vec<DocumentOutcome>, SyncError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut outcomes = vec![DocumentOutcome::default(); targets.len()];
        let index: HashMap<DocumentId, usize> =
            targets.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let mut heard = vec![false; targets.len()];
        for (i, target) in targets.iter_mut().enumerate() {
            // A reconnect must re-announce what we have: the in-flight flag of a persisted
            // state belongs to the previous connection.
            target.state.in_flight = false;
            let request = target.doc.get_heads().is_empty();
            self.send_sync(target, request, &mut outcomes[i]).await?;
        }
        loop {
            if targets
                .iter_mut()
                .zip(&outcomes)
                .zip(&heard)
                .all(|((t, o), h)| o.unavailable || (*h && settled(t)))
            {
                return Ok(outcomes);
            }
            let message = tokio::time::timeout_at(deadline, self.recv())
                .await
                .map_err(|_| SyncError::Timeout(timeout))??;
            match message {
                Message::Sync {
                    document_id, data, ..
                }
                | Message::Request {
                    document_id, data, ..
                } => {
                    let Some(&i) = index.get(&document_id) else {
                        continue;
                    };
                    let target = &mut targets[i];
                    let sync_message = SyncMessage::decode(&data)
                        .map_err(|_| SyncError::BadSyncMessage(document_id))?;
                    let received = sync_message.changes.len();
                    target
                        .doc
                        .sync()
                        .receive_sync_message(target.state, sync_message)
                        .map_err(|_| SyncError::Apply(document_id))?;
                    outcomes[i].changes_received += received;
                    heard[i] = true;
                    self.send_sync(target, false, &mut outcomes[i]).await?;
                }
                Message::DocUnavailable { document_id, .. } => {
                    if let Some(&i) = index.get(&document_id) {
                        outcomes[i].unavailable = true;
                    }
                }
                Message::Error { message } => return Err(SyncError::Server(message)),
                _ => {}
            }
        }
    }

    async fn send_sync(
        &mut self,
        target: &mut SyncTarget<'_>,
        request: bool,
        outcome: &mut DocumentOutcome,
    ) -> Result<(), SyncError> {
        let Some(message) = target.doc.sync().generate_sync_message(target.state) else {
            return Ok(());
        };
        let data = message.encode();
        let (document_id, sender_id, target_id) =
            (target.id, self.our_id.clone(), self.server_id.clone());
        let message = if request {
            Message::Request {
                document_id,
                sender_id,
                target_id,
                data,
                doc_type: None,
            }
        } else {
            Message::Sync {
                document_id,
                sender_id,
                target_id,
                data,
                doc_type: None,
            }
        };
        outcome.messages_sent += 1;
        self.send(&message).await
    }
}

/// Both sides hold the same heads: the server's last message named exactly our heads.
fn settled(target: &mut SyncTarget<'_>) -> bool {
    let mut ours: Vec<ChangeHash> = target.doc.get_heads();
    if ours.is_empty() {
        // We asked for a document we lack: an empty reply means "not here (yet)"; only
        // content or `doc-unavailable` settles it (the JS server sends both in turn).
        return false;
    }
    ours.sort();
    match &target.state.their_heads {
        Some(theirs) => {
            let mut theirs = theirs.clone();
            theirs.sort();
            theirs == ours
        }
        None => false,
    }
}

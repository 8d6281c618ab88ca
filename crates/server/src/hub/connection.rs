//! One WebSocket connection of the sync hub: authentication at upgrade, the `join`/`peer`
//! handshake, the peer bound to its user, the message loop with precise errors and
//! close codes for anything malformed, and the liveness check (ping/pong deadline, send
//! timeout) that closes a peer which stopped reading.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use paindiary_sync::ids::DocumentId;
use paindiary_sync::protocol::{Limits, Message, PeerId, PeerMetadata};
use tokio::sync::{Notify, mpsc};

use super::access::{self, DocAccess};
use super::{ConnId, Hub, HubError, Outbound};
use crate::access_changes::AccessChange;
use crate::auth::{AuthUser, AuthUserOrQueryToken};
use crate::domain::UserId;
use crate::error::ApiError;

/// WebSocket close codes we use (RFC 6455).
mod close {
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame type the protocol does not use (text).
    pub const UNSUPPORTED: u16 = 1003;
    /// A frame that is not a valid protocol message.
    pub const INVALID: u16 = 1007;
    /// A rule was broken (forged sender, stalled reader, unsupported version).
    pub const POLICY: u16 = 1008;
    /// A frame larger than `sync.max_frame_bytes`.
    pub const TOO_BIG: u16 = 1009;
    /// Something failed on our side (storage); the client should retry later.
    pub const SERVER_ERROR: u16 = 1011;
}

/// Initial read buffer of one WebSocket (tungstenite's default is 128 KiB, allocated per
/// connection: 12.5 MiB of a 100-phone run's peak heap). A phone's frames are a few hundred
/// bytes; a larger frame grows the buffer to its announced length, so nothing is refused.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long a connection closed for an oversized frame keeps its socket (see `run`).
const OVERSIZE_LINGER: Duration = Duration::from_secs(1);

/// The routes of the sync endpoint (`GET /sync`, upgraded to a WebSocket).
pub fn router(hub: Hub) -> Router {
    Router::new().route("/sync", get(upgrade)).with_state(hub)
}

/// What the hub needs to know about a connected peer.
pub(crate) struct PeerHandle {
    pub(crate) conn_id: ConnId,
    pub(crate) user_id: UserId,
    pub(crate) peer_id: PeerId,
    pub(crate) peer_key: Option<String>,
    pub(crate) out: mpsc::Sender<Outbound>,
    pub(crate) stalled: Arc<Notify>,
}

async fn upgrade(State(hub): State<Hub>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    // Browsers cannot set headers on a WebSocket, so `?token=` is accepted here.
    let user = match AuthUserOrQueryToken::from_request_parts(&mut parts, &hub.inner.state).await {
        Ok(AuthUserOrQueryToken(user)) => user,
        Err(e) => return e.into_response(),
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(_) => {
            return ApiError::BadRequest("expected a WebSocket upgrade".into()).into_response();
        }
    };
    let max = hub.config().max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| run(hub, user, socket))
}

struct Conn {
    hub: Hub,
    user: AuthUser,
    handle: PeerHandle,
    access: HashMap<DocumentId, DocAccess>,
    open: BTreeSet<DocumentId>,
    /// Documents whose refused changes the peer was told about on this connection.
    refused: BTreeSet<DocumentId>,
    pending: usize,
    limits: Limits,
}

/// Why the loop ends.
enum End {
    /// The peer went away or left.
    Quiet,
    /// We close with this code and reason (after an `error` message when `tell`).
    Close {
        code: u16,
        reason: String,
        tell: bool,
    },
}

async fn run(hub: Hub, user: AuthUser, socket: WebSocket) {
    let conn_id = hub.next_conn_id();
    let mut shutdown = hub.connection_started();
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<Outbound>(hub.config().outbound_queue.max(1));
    let stalled = Arc::new(Notify::new());
    let send_timeout = Duration::from_secs(hub.config().send_timeout_secs.max(1));
    let writer_stalled = stalled.clone();
    let mut writer = tokio::spawn(async move {
        while let Some(item) = queue.recv().await {
            let sent = match item {
                // A peer that stopped reading blocks this write once its socket buffers
                // are full: give up on it after the timeout (the reader loop then closes
                // the connection), so its queue and the frames in it are freed.
                Outbound::Frame(frame) => {
                    crate::metrics::sync_frame_sent(frame.len());
                    match tokio::time::timeout(
                        send_timeout,
                        sink.send(WsMessage::Binary(frame.into())),
                    )
                    .await
                    {
                        Ok(sent) => sent,
                        Err(_) => {
                            writer_stalled.notify_one();
                            break;
                        }
                    }
                }
                Outbound::Ping(payload) => {
                    match tokio::time::timeout(
                        send_timeout,
                        sink.send(WsMessage::Ping(payload.into())),
                    )
                    .await
                    {
                        Ok(sent) => sent,
                        Err(_) => {
                            writer_stalled.notify_one();
                            break;
                        }
                    }
                }
                Outbound::Close(code, reason) => {
                    let close = sink.send(WsMessage::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })));
                    let _ = tokio::time::timeout(send_timeout, close).await;
                    break;
                }
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = tokio::time::timeout(send_timeout, sink.close()).await;
    });

    let limits = Limits {
        max_frame_bytes: hub.config().max_frame_bytes,
        ..Limits::default()
    };
    let handshake = Duration::from_secs(hub.config().handshake_timeout_secs);
    let joined = match tokio::time::timeout(handshake, next_frame(&mut stream)).await {
        Ok(Ok(Some(bytes))) => Message::decode(crate::metrics::join_received(&bytes), &limits)
            .map_err(|e| invalid(e.to_string())),
        Ok(Ok(None)) => Err(invalid("connection closed before join".to_owned())),
        Ok(Err(e)) => Err(read_failed(e, limits.max_frame_bytes)),
        Err(_) => Err(invalid(
            "no join message within the handshake timeout".to_owned(),
        )),
    };
    let end = match joined {
        Ok(Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions,
        }) => {
            if supported_protocol_versions.iter().any(|v| v == "1") {
                let peer_key = peer_metadata
                    .filter(|m| !m.is_ephemeral)
                    .and_then(|m| m.storage_id)
                    .map(|storage| format!("{}/{}", user.user_id, storage));
                let _ = out
                    .send(Outbound::Frame(
                        Message::Peer {
                            sender_id: hub.server_id().clone(),
                            target_id: sender_id.clone(),
                            selected_protocol_version: "1".to_owned(),
                            peer_metadata: Some(PeerMetadata {
                                storage_id: hub.inner.storage_id.clone(),
                                is_ephemeral: false,
                            }),
                        }
                        .encode(),
                    ))
                    .await;
                let mut conn = Conn {
                    handle: PeerHandle {
                        conn_id,
                        user_id: user.user_id,
                        peer_id: sender_id,
                        peer_key,
                        out: out.clone(),
                        stalled: stalled.clone(),
                    },
                    hub: hub.clone(),
                    user,
                    access: HashMap::new(),
                    open: BTreeSet::new(),
                    refused: BTreeSet::new(),
                    pending: 0,
                    limits,
                };
                let end = conn.serve(&mut stream, &mut shutdown).await;
                hub.detach(&conn.handle, &conn.open).await;
                end
            } else {
                End::Close {
                    code: close::POLICY,
                    reason: "unsupported protocol version".to_owned(),
                    tell: true,
                }
            }
        }
        Ok(other) => End::Close {
            code: close::POLICY,
            reason: format!("expected join, got {}", other.type_name()),
            tell: true,
        },
        Err(end) => end,
    };
    // After an oversized frame its unread payload is still in our socket buffer, and
    // closing a socket with unread data sends a TCP reset that may overtake our `error`
    // and close frames: the socket is kept open a moment so the peer can read them.
    let linger = matches!(end, End::Close { code, .. } if code == close::TOO_BIG);
    if let End::Close { code, reason, tell } = end {
        if tell {
            let _ = out
                .send(Outbound::Frame(
                    Message::Error {
                        message: reason.clone(),
                    }
                    .encode(),
                ))
                .await;
        }
        let _ = out
            .send(Outbound::Close(code, truncate(&reason, 120)))
            .await;
    }
    drop(out);
    // The writer stops by itself once its queue is drained; a peer that is not reading can
    // block it on a write, and its socket and queue are not kept for longer than one send
    // timeout on that account.
    if tokio::time::timeout(send_timeout, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    if linger {
        tokio::time::sleep(OVERSIZE_LINGER).await;
    }
    drop(stream);
    hub.connection_ended();
}

/// The next binary frame's bytes; `None` when the peer closed or the socket failed.
/// Text frames are reported as an empty frame (which fails to decode, precisely).
async fn next_frame(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<Option<Vec<u8>>, axum::Error> {
    loop {
        match stream.next().await {
            Some(Ok(WsMessage::Binary(bytes))) => return Ok(Some(bytes.to_vec())),
            Some(Ok(WsMessage::Text(_))) => return Ok(Some(Vec::new())),
            Some(Ok(WsMessage::Close(_))) | None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
        }
    }
}

/// How a failed read ends the connection: a frame over the size limit is answered with an
/// `error` message and close code 1009 (the socket still writes; only the frame was
/// refused); anything else means the socket is gone.
fn read_failed(error: axum::Error, max_frame_bytes: usize) -> End {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => End::Close {
            code: close::TOO_BIG,
            reason: format!("frame larger than the limit of {max_frame_bytes} bytes"),
            tell: true,
        },
        _ => End::Quiet,
    }
}

/// Paces the messages read from one peer to `sync.max_messages_per_sec` on average, in
/// bursts of up to one second's worth: beyond that the connection reads no further until
/// the budget refills, so a peer flooding messages (a buggy client in a loop, or a hostile
/// one) is slowed by TCP back-pressure to the CPU of a busy honest peer. One clock read
/// and a little arithmetic per message.
struct Pace {
    /// Messages a second; zero means unpaced.
    rate: f64,
    /// Messages that may be read at once (at most one second's worth).
    tokens: f64,
    last: tokio::time::Instant,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second);
        Self {
            rate,
            tokens: rate,
            last: tokio::time::Instant::now(),
        }
    }

    /// Takes one message from the budget; how long to wait first when it is exhausted.
    fn take(&mut self) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let now = tokio::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64(-self.tokens / self.rate))
        }
    }
}

impl Conn {
    async fn serve(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> End {
        let stalled = self.handle.stalled.clone();
        let mut changes = Some(self.hub.inner.state.access_changes.subscribe());
        let period = Duration::from_secs(self.hub.config().session_recheck_secs.max(1));
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut liveness = Liveness::new(self.hub.config());
        let mut pace = Pace::new(self.hub.config().max_messages_per_sec);
        loop {
            let pong_due = liveness.deadline;
            let frame = tokio::select! {
                // Biased so that a pong already received is read before its deadline is
                // judged (the loop may have been busy with a commit when it arrived).
                biased;
                _ = shutdown.changed() => {
                    return End::Close { code: close::GOING_AWAY, reason: "server shutting down".into(), tell: false };
                }
                () = stalled.notified() => {
                    return End::Close { code: close::POLICY, reason: "peer is not reading its messages".into(), tell: false };
                }
                change = next_change(&mut changes) => {
                    if let Some(end) = self.on_access_change(change).await {
                        return end;
                    }
                    continue;
                }
                _ = recheck.tick() => {
                    if let Some(end) = self.recheck().await {
                        return end;
                    }
                    continue;
                }
                frame = stream.next() => frame,
                _ = liveness.ping.tick() => {
                    if let Some(end) = liveness.send_ping(&self.handle.out) {
                        return end;
                    }
                    continue;
                }
                () = overdue(pong_due) => {
                    return End::Close { code: close::POLICY, reason: "peer is not reading its messages".into(), tell: false };
                }
            };
            let bytes = match frame {
                Some(Err(e)) => return read_failed(e, self.limits.max_frame_bytes),
                None | Some(Ok(WsMessage::Close(_))) => return End::Quiet,
                Some(Ok(WsMessage::Pong(payload))) => {
                    liveness.pong(&payload);
                    continue;
                }
                Some(Ok(WsMessage::Ping(_))) => continue,
                Some(Ok(WsMessage::Text(_))) => {
                    return End::Close {
                        code: close::UNSUPPORTED,
                        reason: "text frames are not part of the protocol; send binary CBOR".into(),
                        tell: true,
                    };
                }
                Some(Ok(WsMessage::Binary(bytes))) => bytes,
            };
            crate::metrics::sync_frame_received(bytes.len());
            if let Some(wait) = pace.take() {
                tokio::time::sleep(wait).await;
            }
            let message = match Message::decode(&bytes, &self.limits) {
                Ok(message) => message,
                Err(e) => {
                    return End::Close {
                        code: close::INVALID,
                        reason: format!("invalid message: {e}"),
                        tell: true,
                    };
                }
            };
            if let Some(sender) = message.sender_id()
                && *sender != self.handle.peer_id
            {
                return End::Close {
                    code: close::POLICY,
                    reason: "senderId does not match the peer that joined".into(),
                    tell: true,
                };
            }
            match message {
                Message::Sync {
                    document_id, data, ..
                } => {
                    if let Some(end) = self.on_sync(document_id, &data, false).await {
                        return end;
                    }
                }
                Message::Request {
                    document_id, data, ..
                } => {
                    if let Some(end) = self.on_sync(document_id, &data, true).await {
                        return end;
                    }
                }
                Message::Leave { .. } => return End::Quiet,
                Message::Join { .. } => {
                    return End::Close {
                        code: close::POLICY,
                        reason: "join sent twice".into(),
                        tell: true,
                    };
                }
                // Presence and heads gossip are not served; a client's doc-unavailable
                // needs no answer.
                Message::Ephemeral { .. }
                | Message::RemoteSubscriptionChange { .. }
                | Message::RemoteHeadsChanged { .. }
                | Message::DocUnavailable { .. }
                | Message::Peer { .. }
                | Message::Error { .. } => {}
            }
        }
    }

    /// Acts on a change published on this replica; `None` (lagged) means "recheck all".
    async fn on_access_change(&mut self, change: Option<AccessChange>) -> Option<End> {
        match change {
            Some(AccessChange::TokenRevoked(token)) if token == self.user.token_id => {
                Some(revoked())
            }
            Some(AccessChange::UserChanged(user)) if user == self.user.user_id => {
                self.recheck().await
            }
            Some(AccessChange::PatientErased(_)) | None => self.recheck().await,
            Some(_) => None,
        }
    }

    /// Checks that the session's token still authenticates and that every open document
    /// is still visible; otherwise the session ends (the client reconnects and learns
    /// which documents it lost as `doc-unavailable`). Cached decisions for documents not
    /// open are dropped so they are decided afresh.
    async fn recheck(&mut self) -> Option<End> {
        let state = &self.hub.inner.state;
        match crate::auth::token_still_valid(state, self.user.token_id).await {
            Ok(true) => {}
            Ok(false) => return Some(revoked()),
            Err(e) => {
                // A database hiccup must not drop healthy sessions: try at the next tick.
                tracing::warn!(error = %e, "session recheck failed");
                return None;
            }
        }
        for id in &self.open {
            match access::resolve(&state.db, &self.user, id).await {
                Ok(DocAccess::Unavailable) => {
                    return Some(End::Close {
                        code: close::POLICY,
                        reason: "access to an open document was withdrawn; reconnect".into(),
                        tell: true,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "session recheck failed");
                    return None;
                }
            }
        }
        let open = &self.open;
        self.access
            .retain(|id, access| open.contains(id) || matches!(access, DocAccess::NewMonth(_)));
        None
    }

    async fn unavailable(&self, id: DocumentId) {
        let message = Message::DocUnavailable {
            sender_id: self.hub.server_id().clone(),
            target_id: self.handle.peer_id.clone(),
            document_id: id,
        };
        let _ = self
            .handle
            .out
            .send(Outbound::Frame(message.encode()))
            .await;
    }

    /// Tells the peer, once per document and connection, that its changes to a document
    /// it may only read are not accepted (the stock client logs it; reads go on).
    async fn refuse_changes(&self, id: DocumentId) {
        let message = Message::Error {
            message: format!(
                "document {id}: changes refused, this user may only read this document"
            ),
        };
        let _ = self
            .handle
            .out
            .send(Outbound::Frame(message.encode()))
            .await;
    }

    async fn on_sync(&mut self, id: DocumentId, data: &[u8], request: bool) -> Option<End> {
        let access = match self.access.get(&id) {
            Some(access) => *access,
            None => {
                let resolved =
                    match access::resolve(&self.hub.inner.state.db, &self.user, &id).await {
                        Ok(access) => access,
                        Err(e) => {
                            tracing::error!(error = %e, "document access check failed");
                            return Some(storage_failure());
                        }
                    };
                self.hub.audit_open(self.user.user_id, id, &resolved).await;
                if matches!(resolved, DocAccess::NewMonth(_)) {
                    if self.pending >= self.hub.config().max_pending_documents {
                        return Some(End::Close {
                            code: close::POLICY,
                            reason: HubError::TooManyPending.to_string(),
                            tell: true,
                        });
                    }
                    self.pending += 1;
                }
                self.access.insert(id, resolved);
                resolved
            }
        };
        match access {
            DocAccess::Unavailable => {
                self.unavailable(id).await;
                return None;
            }
            // Neither side has it: the peer asked for a document that does not exist.
            DocAccess::NewMonth(_) if request => {
                self.access.remove(&id);
                self.pending = self.pending.saturating_sub(1);
                self.unavailable(id).await;
                return None;
            }
            _ => {}
        }
        self.open.insert(id);
        match self.hub.receive(&self.handle, id, access, data).await {
            Ok(received) => {
                if received.refused && self.refused.insert(id) {
                    self.refuse_changes(id).await;
                }
                if let (DocAccess::NewMonth(_), Some(meta)) = (access, received.stored) {
                    // Stored, it is the patient's own month like any other: what resolving
                    // it now would say, without a second lookup or a second audit row for
                    // the same open.
                    self.access.insert(id, DocAccess::ReadWrite(meta));
                    self.pending = self.pending.saturating_sub(1);
                }
                None
            }
            Err(HubError::WrongDocument(_)) => {
                tracing::info!("refused a document whose content does not match its ID");
                self.access.insert(id, DocAccess::Unavailable);
                self.unavailable(id).await;
                None
            }
            Err(e @ HubError::BadSyncMessage(_)) => Some(End::Close {
                code: close::INVALID,
                reason: e.to_string(),
                tell: true,
            }),
            Err(e @ (HubError::TooLarge(_) | HubError::TooManyPending)) => Some(End::Close {
                code: close::POLICY,
                reason: e.to_string(),
                tell: true,
            }),
            Err(HubError::Storage(e)) => {
                tracing::error!(error = %e, "storing a change failed; nothing was acknowledged");
                Some(storage_failure())
            }
        }
    }
}

/// The liveness check of a joined peer: a ping every `ping_interval_secs`, queued behind
/// the frames already sent, whose pong must come back within `pong_timeout_secs`.
///
/// A peer that stops reading is harmless while nothing is sent to it, but it still holds
/// sync states, a queue and kernel buffers, and once the hub has something for it the
/// kernel may absorb megabytes before any write blocks (so the send timeout alone can take
/// arbitrarily long to notice). The pong deadline bounds how long such a peer, or one that
/// vanished without closing its TCP connection, is kept: it is closed and its resources
/// are freed. Clients answer pings in their WebSocket layer (browsers, `ws`, tungstenite)
/// whenever they read, so a healthy client needs no code for this.
struct Liveness {
    ping: tokio::time::Interval,
    timeout: Duration,
    /// Sequence number of the last ping sent.
    sent: u64,
    /// The outstanding ping's deadline, until its pong arrives.
    deadline: Option<tokio::time::Instant>,
}

impl Liveness {
    fn new(config: &super::SyncConfig) -> Self {
        let period = Duration::from_secs(config.ping_interval_secs.max(1));
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            ping,
            timeout: Duration::from_secs(config.pong_timeout_secs.max(1)),
            sent: 0,
            deadline: None,
        }
    }

    /// Queues the next ping unless one is still outstanding (its deadline then decides).
    fn send_ping(&mut self, out: &mpsc::Sender<Outbound>) -> Option<End> {
        if self.deadline.is_some() {
            return None;
        }
        self.sent += 1;
        match out.try_send(Outbound::Ping(self.sent.to_be_bytes().to_vec())) {
            Ok(()) => {
                self.deadline = Some(tokio::time::Instant::now() + self.timeout);
                None
            }
            // Its queue is full: the hub is about to drop it as stalled anyway.
            Err(mpsc::error::TrySendError::Full(_)) => Some(End::Close {
                code: close::POLICY,
                reason: "peer is not reading its messages".into(),
                tell: false,
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Some(End::Quiet),
        }
    }

    /// A pong from the peer; only the outstanding ping's own payload counts (peers may
    /// send unsolicited pongs).
    fn pong(&mut self, payload: &[u8]) {
        if payload == self.sent.to_be_bytes() {
            self.deadline = None;
        }
    }
}

/// Resolves at a ping's pong deadline; never when no ping is outstanding.
async fn overdue(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next access change for this session; `None` when it fell behind (recheck all).
/// Never resolves once the channel is gone, so a closed channel cannot spin the loop.
async fn next_change(
    changes: &mut Option<tokio::sync::broadcast::Receiver<AccessChange>>,
) -> Option<AccessChange> {
    use tokio::sync::broadcast::error::RecvError;
    let Some(receiver) = changes else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(change) => Some(change),
        Err(RecvError::Lagged(_)) => None,
        Err(RecvError::Closed) => {
            *changes = None;
            std::future::pending().await
        }
    }
}

/// Closes as invalid input, after telling the peer why.
fn invalid(reason: String) -> End {
    End::Close {
        code: close::INVALID,
        reason,
        tell: true,
    }
}

fn revoked() -> End {
    End::Close {
        code: close::POLICY,
        reason: "token revoked or expired; log in again".into(),
        tell: true,
    }
}

fn storage_failure() -> End {
    End::Close {
        code: close::SERVER_ERROR,
        reason: "storage unavailable; nothing was acknowledged, retry later".into(),
        tell: true,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

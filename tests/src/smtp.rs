//! A small real SMTP server for tests, on tokio and loopback: it speaks enough ESMTP
//! for lettre (EHLO/HELO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT), in the clear, with STARTTLS or with implicit TLS (certificates from
//! [`crate::tls::TestPki`]), records every accepted message and every AUTH it saw (with
//! whether the connection was encrypted), can answer RCPT with a chosen 4xx/5xx reply,
//! and can go down (refusing connections) and come back on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How the server secures its connections.
#[derive(Clone)]
pub enum Security {
    /// No TLS; STARTTLS is not offered.
    Plain,
    /// Plain greeting, STARTTLS offered (and AUTH only after it, as real relays do).
    Starttls(TlsAcceptor),
    /// TLS from the first byte (port 465 style).
    Implicit(TlsAcceptor),
}

/// Credentials a client sent with AUTH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenAuth {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
    /// Whether the connection was encrypted when they were sent.
    pub tls: bool,
}

/// How the server answers `RCPT TO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `250`: accept.
    Accept,
    /// Reject with this code and text, e.g. `451 4.3.0 try later` or `550 5.1.1 no such user`.
    Reject(u16, String),
}

/// One message as the server received it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message (headers and body, CRLF line ends, dot-unstuffed).
    pub data: String,
    /// Whether it came over an encrypted connection.
    pub tls: bool,
    /// The credentials the session authenticated with, if any.
    pub auth: Option<SeenAuth>,
}

impl ReceivedMail {
    /// A top-level header's value (folded lines joined), case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = found.as_mut() {
                    v.push_str(line.trim_start());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                found = Some(v.trim().to_owned());
            }
        }
        found
    }

    /// The decoded body of the first MIME part of type `content_type` (e.g. `text/plain`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let lower = self.data.to_ascii_lowercase();
        let start = lower.find(&format!("content-type: {content_type}"))?;
        let rest = &self.data[start..];
        let head_end = rest.find("\r\n\r\n")?;
        let headers = rest[..head_end].to_ascii_lowercase();
        let body = &rest[head_end + 4..];
        let body = &body[..body.find("\r\n--").unwrap_or(body.len())];
        let encoding = headers
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-transfer-encoding:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        Some(match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => {
                let joined: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64 body");
                String::from_utf8(bytes).expect("utf-8 body")
            }
            _ => body.to_owned(),
        })
    }

    /// The `text/plain` body, decoded.
    pub fn text(&self) -> String {
        self.part("text/plain").expect("text/plain part")
    }

    /// The `text/html` body, decoded.
    pub fn html(&self) -> String {
        self.part("text/html").expect("text/html part")
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf-8 body")
}

struct Shared {
    security: Security,
    reply: Mutex<Option<Reply>>,
    mail: Mutex<Vec<ReceivedMail>>,
    auths: Mutex<Vec<SeenAuth>>,
    failed_handshakes: Mutex<usize>,
    arrived: Notify,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The running test SMTP server.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SmtpServer {
    /// Starts on 127.0.0.1 with a free port, in the clear, accepting everything.
    pub async fn start() -> Self {
        Self::start_with(Security::Plain).await
    }

    /// Starts on 127.0.0.1 with a free port, secured as `security` says.
    pub async fn start_with(security: Security) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("smtp addr");
        let server = Self {
            addr,
            shared: Arc::new(Shared {
                security,
                reply: Mutex::default(),
                mail: Mutex::default(),
                auths: Mutex::default(),
                failed_handshakes: Mutex::default(),
                arrived: Notify::new(),
                tasks: Mutex::default(),
            }),
        };
        server.accept_on(listener);
        server
    }

    /// Every AUTH a client completed, in order.
    pub fn auths(&self) -> Vec<SeenAuth> {
        lock(&self.shared.auths).clone()
    }

    /// TLS handshakes that failed (e.g. the client did not trust the certificate).
    pub fn failed_handshakes(&self) -> usize {
        *lock(&self.shared.failed_handshakes)
    }

    /// The port lettre should connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Sets how `RCPT TO` is answered from now on.
    pub fn set_reply(&self, reply: Reply) {
        *lock(&self.shared.reply) = Some(reply);
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.mail).clone()
    }

    /// Waits (at most `limit`) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let mail = self.messages();
            if mail.len() >= n {
                return mail;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} of {n} messages arrived within {limit:?}", mail.len());
            }
        }
    }

    /// Stops listening and drops open connections: connecting is refused until
    /// [`SmtpServer::come_back`].
    pub fn go_down(&self) {
        for task in lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn come_back(&self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("rebind smtp port");
        let listener = socket.listen(64).expect("listen");
        self.accept_on(listener);
    }

    fn accept_on(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = tokio::spawn(session(stream, shared.clone()));
                lock(&shared.tasks).push(conn);
            }
        });
        lock(&self.shared.tasks).push(task);
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.go_down();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection, plain or encrypted.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Conn = BufReader<Box<dyn Io>>;

async fn handshake(acceptor: &TlsAcceptor, io: Box<dyn Io>, shared: &Shared) -> Option<Conn> {
    match acceptor.accept(io).await {
        Ok(tls) => Some(BufReader::new(Box::new(tls))),
        Err(_) => {
            *lock(&shared.failed_handshakes) += 1;
            None
        }
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let plain: Box<dyn Io> = Box::new(stream);
    let (mut conn, mut tls) = match &shared.security {
        Security::Implicit(acceptor) => match handshake(acceptor, plain, &shared).await {
            Some(conn) => (conn, true),
            None => return,
        },
        _ => (BufReader::new(plain), false),
    };
    if !say(&mut conn, "220 catcher ESMTP ready").await {
        return;
    }
    let mut from = String::new();
    let mut to = Vec::new();
    let mut auth: Option<SeenAuth> = None;
    let mut line = String::new();
    loop {
        line.clear();
        match conn.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let ok = if upper.starts_with("EHLO") {
            let starttls = matches!(shared.security, Security::Starttls(_)) && !tls;
            let mut reply = "250-catcher\r\n250-8BITMIME\r\n".to_owned();
            if starttls {
                reply.push_str("250 STARTTLS");
            } else {
                reply.push_str("250 AUTH PLAIN LOGIN");
            }
            say(&mut conn, &reply).await
        } else if upper == "STARTTLS" {
            let Security::Starttls(acceptor) = &shared.security else {
                if !say(&mut conn, "502 command not implemented").await {
                    return;
                }
                continue;
            };
            if tls {
                say(&mut conn, "503 already encrypted").await
            } else {
                if !say(&mut conn, "220 2.0.0 ready to start TLS").await {
                    return;
                }
                // RFC 3207: the client must not pipeline past STARTTLS, so the buffer
                // is empty here; everything before it is forgotten.
                match handshake(acceptor, conn.into_inner(), &shared).await {
                    Some(upgraded) => conn = upgraded,
                    None => return,
                }
                tls = true;
                from.clear();
                to.clear();
                auth = None;
                true
            }
        } else if upper.starts_with("AUTH ") {
            match authenticate(&mut conn, &command, tls).await {
                Some(seen) => {
                    lock(&shared.auths).push(seen.clone());
                    auth = Some(seen);
                    say(&mut conn, "235 2.7.0 authenticated").await
                }
                None => say(&mut conn, "535 5.7.8 bad credentials").await,
            }
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            say(&mut conn, "250 ok").await
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            say(&mut conn, "250 ok").await
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command);
            say(&mut conn, "250 ok").await
        } else if upper.starts_with("RCPT TO:") {
            let reply = lock(&shared.reply).clone().unwrap_or(Reply::Accept);
            match reply {
                Reply::Accept => {
                    to.push(address(&command));
                    say(&mut conn, "250 ok").await
                }
                Reply::Reject(code, text) => say(&mut conn, &format!("{code} {text}")).await,
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                say(&mut conn, "554 no valid recipients").await
            } else {
                if !say(&mut conn, "354 end with <CRLF>.<CRLF>").await {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match conn.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(unstuffed);
                }
                lock(&shared.mail).push(ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                    tls,
                    auth: auth.clone(),
                });
                shared.arrived.notify_waiters();
                say(&mut conn, "250 2.0.0 queued").await
            }
        } else if upper.starts_with("QUIT") {
            let _ = say(&mut conn, "221 bye").await;
            return;
        } else {
            say(&mut conn, "502 command not implemented").await
        };
        if !ok {
            return;
        }
    }
}

/// Runs an `AUTH PLAIN` or `AUTH LOGIN` exchange (with or without an initial response)
/// and returns what the client sent; `None` for another mechanism or a malformed one.
async fn authenticate(conn: &mut Conn, command: &str, tls: bool) -> Option<SeenAuth> {
    let mut words = command.split_whitespace().skip(1);
    let mechanism = words.next()?.to_ascii_uppercase();
    let initial = words.next().map(str::to_owned);
    let decode = |b64: &str| -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        String::from_utf8(bytes).ok()
    };
    let (username, password) = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(r) => r,
                None => challenge(conn, "334 ").await?,
            };
            let decoded = decode(&response)?;
            let mut parts = decoded.split('\0').skip(1);
            (parts.next()?.to_owned(), parts.next()?.to_owned())
        }
        "LOGIN" => {
            let user = match initial {
                Some(r) => r,
                // "Username:" and "Password:", base64.
                None => challenge(conn, "334 VXNlcm5hbWU6").await?,
            };
            let password = challenge(conn, "334 UGFzc3dvcmQ6").await?;
            (decode(&user)?, decode(&password)?)
        }
        _ => return None,
    };
    Some(SeenAuth {
        mechanism,
        username,
        password,
        tls,
    })
}

/// Sends a 334 challenge and reads the client's one-line answer.
async fn challenge(conn: &mut Conn, prompt: &str) -> Option<String> {
    if !say(conn, prompt).await {
        return None;
    }
    let mut answer = String::new();
    match conn.read_line(&mut answer).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(answer.trim_end().to_owned()),
    }
}

/// Writes one reply line and flushes it (TLS buffers); `false` when the client is gone.
async fn say(conn: &mut Conn, text: &str) -> bool {
    let w = conn.get_mut();
    w.write_all(format!("{text}\r\n").as_bytes()).await.is_ok() && w.flush().await.is_ok()
}

/// `MAIL FROM:<a@b> SIZE=1` -> `a@b`.
fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}

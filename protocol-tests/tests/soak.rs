//! Soak and fault tests over loopback TCP, against in-process `SockJs` endpoints this file
//! builds itself (short disconnect delay, a handle to read `session_count()` and `stats()`,
//! and handlers that record why each session ended).
//!
//! * `soak_many_sessions`: thousands of sessions open, exchange sequence-numbered messages and
//!   close, over websocket, xhr_streaming, xhr polling and eventsource; afterwards no session
//!   is left, every handler has ended with the close cause its client's behaviour implies,
//!   no message is lost, duplicated or reordered, and the process's memory has not run away.
//!   The short version (20 s and at least 2,000 sessions) runs in `cargo test`;
//!   `SOAK_SECS=<n>` keeps opening sessions for `n` seconds instead (`scripts/soak.sh`). The
//!   figures are printed with `eprintln!` (see them with `--nocapture`).
//! * Faults: clients vanishing mid-stream (xhr_streaming, websocket, a pending xhr poll), a
//!   streaming response cut by a "proxy" after N bytes, a second receiver, and server-sent
//!   messages queued while a polling client is between requests.
//!
//! Nothing here asserts that anything is fast: every wait has a generous upper bound that only
//! turns a hang into a failure.
mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sockjs_hyper::{CloseCause, Config, Connection, SockJs};

// ---------------------------------------------------------------------------------------------
// The in-process server
// ---------------------------------------------------------------------------------------------

/// Why each session ended, as the handlers saw it.
///
/// Soak sessions carry the close cause their client expects in their id (`soak<n>x<r>_<tag>`,
/// see [`expected_cause`]); they are checked as they end and only counted, so the
/// bookkeeping does not grow with the length of the soak. Other sessions are remembered by
/// id for the fault tests to look up.
#[derive(Default)]
struct Causes {
    by_sid: Mutex<HashMap<String, String>>,
    /// Soak sessions by close cause.
    histogram: Mutex<HashMap<String, usize>>,
    /// Soak sessions that ended with another cause than their client expects.
    mismatches: Mutex<Vec<String>>,
    started: AtomicUsize,
    ended: AtomicUsize,
}

impl Causes {
    fn record(&self, sid: String, cause: Option<CloseCause>) {
        let label = match cause {
            Some(CloseCause::Server { code, reason }) => format!("server {code} {reason}"),
            Some(other) => other.label().to_string(),
            None => "none".to_string(),
        };
        let soak_tag = sid
            .strip_prefix("soak")
            .and_then(|rest| rest.rsplit_once('_'))
            .map(|(_, tag)| tag);
        match soak_tag {
            Some(tag) => {
                let want = if tag == "server" {
                    "server 3000 bye"
                } else {
                    tag
                };
                if label != want {
                    self.mismatches
                        .lock()
                        .expect("causes lock")
                        .push(format!("{sid}: expected {want}, the handler saw {label}"));
                }
                *self
                    .histogram
                    .lock()
                    .expect("causes lock")
                    .entry(label)
                    .or_default() += 1;
            }
            None => {
                self.by_sid.lock().expect("causes lock").insert(sid, label);
            }
        }
        self.ended.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self, sid: &str) -> Option<String> {
        self.by_sid.lock().expect("causes lock").get(sid).cloned()
    }

    fn histogram(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self
            .histogram
            .lock()
            .expect("causes lock")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        v.sort();
        v
    }
}

/// A query parameter of the session's opening request.
fn query_param(conn: &Connection, name: &str) -> Option<String> {
    conn.request().uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The session's tag: the application never sees the session id (the protocol keeps it from
/// the application), so every receiving request of these tests carries the id again as the
/// query parameter `t`, and the application reads it from the opening request's query.
fn tag_of(conn: &Connection) -> String {
    query_param(conn, "t").unwrap_or_default()
}

/// Echo; the message `close` makes the application close the session with `3000 "bye"`.
async fn echo(causes: Arc<Causes>, mut conn: Connection) {
    causes.started.fetch_add(1, Ordering::SeqCst);
    let sid = tag_of(&conn);
    while let Some(message) = conn.recv().await {
        if message == "close" {
            conn.close(3000, "bye");
        } else if conn.send(message).await.is_err() {
            break;
        }
    }
    causes.record(sid, conn.close_cause());
}

/// Sends `0`, `1`, ... on its own, one every `every_ms` milliseconds (query parameter, default
/// 5), `n` of them (default: until the session closes), then closes with `3000 "done"`.
async fn sequence(causes: Arc<Causes>, mut conn: Connection) {
    causes.started.fetch_add(1, Ordering::SeqCst);
    let sid = tag_of(&conn);
    let param = |name: &str| -> Option<u64> { query_param(&conn, name)?.parse().ok() };
    let n = param("n").unwrap_or(u64::MAX);
    let every = Duration::from_millis(param("every_ms").unwrap_or(5));
    let mut i = 0;
    while i < n {
        if conn.send(i.to_string()).await.is_err() {
            break;
        }
        i += 1;
        tokio::time::sleep(every).await;
    }
    conn.close(3000, "done");
    while conn.recv().await.is_some() {}
    causes.record(sid, conn.close_cause());
}

struct TestServer {
    host: String,
    echo: SockJs,
    seq: SockJs,
    causes: Arc<Causes>,
}

impl TestServer {
    /// Serve `/echo` and `/seq` on a loopback port, on the current runtime.
    async fn start(config: Config) -> TestServer {
        let causes = Arc::new(Causes::default());
        let c = Arc::clone(&causes);
        let echo = SockJs::new("/echo", config.clone(), move |conn| {
            echo(Arc::clone(&c), conn)
        })
        .expect("the echo endpoint");
        let c = Arc::clone(&causes);
        let seq = SockJs::new("/seq", config, move |conn| sequence(Arc::clone(&c), conn))
            .expect("the sequence endpoint");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let endpoints = Arc::new([echo.clone(), seq.clone()]);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let endpoints = Arc::clone(&endpoints);
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let endpoint = endpoints
                            .iter()
                            .find(|e| e.matches(req.uri().path()))
                            .unwrap_or(&endpoints[0])
                            .with_peer_addr(peer);
                        async move { Ok::<_, Infallible>(endpoint.handle(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        TestServer {
            host: addr.to_string(),
            echo,
            seq,
            causes,
        }
    }

    fn session_count(&self) -> usize {
        self.echo.session_count() + self.seq.session_count()
    }

    /// Wait (at most `limit`) until no session is live; returns how long it took.
    async fn wait_no_sessions(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        while self.session_count() > 0 {
            assert!(
                start.elapsed() < limit,
                "{} sessions still live after {limit:?} (echo {:?}, seq {:?})",
                self.session_count(),
                self.echo.stats().sessions_open,
                self.seq.stats().sessions_open,
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        start.elapsed()
    }

    /// Wait (at most `limit`) until the handler of session `sid` has ended; its close cause.
    async fn wait_cause(&self, sid: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(cause) = self.causes.get(sid) {
                return cause;
            }
            assert!(
                start.elapsed() < limit,
                "the handler of session {sid} did not end within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The websocket URL of session `sid`, tagged (see [`tag_of`]), with more `query`.
    fn ws_url(&self, endpoint: &str, sid: &str, query: &str) -> String {
        format!(
            "ws://{}{}",
            self.host,
            tagged(&format!("{endpoint}/000/{sid}/websocket"), sid, query)
        )
    }
}

/// Short timings so that sessions end quickly once their clients are gone.
fn fast_config(disconnect_ms: u64) -> Config {
    let mut c = Config::default();
    c.disconnect_delay = Duration::from_millis(disconnect_ms);
    c.heartbeat_interval = Duration::from_secs(2);
    c
}

/// Resident memory of this process in KiB, from `/proc/self/status` (0 if unavailable).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// `path?t=<sid>`, then `&<query>` if any: a receiving request tagged with its session id
/// (see [`tag_of`]).
fn tagged(path: &str, sid: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{path}?t={sid}")
    } else {
        format!("{path}?t={sid}&{query}")
    }
}

fn unique_sid(tag: &str) -> String {
    format!("{tag}{:016x}", rand::random::<u64>())
}

// ---------------------------------------------------------------------------------------------
// A SockJS client for four transports
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Frame {
    Open,
    Heartbeat,
    Messages(Vec<String>),
    Close(u16, String),
}

fn parse_frame(text: &str) -> Result<Frame, String> {
    let bad = |e: serde_json::Error| format!("bad frame {text:?}: {e}");
    match text.as_bytes().first() {
        Some(b'o') if text == "o" => Ok(Frame::Open),
        Some(b'h') if text == "h" => Ok(Frame::Heartbeat),
        Some(b'a') => serde_json::from_str(&text[1..])
            .map(Frame::Messages)
            .map_err(bad),
        Some(b'c') => serde_json::from_str::<(u16, String)>(&text[1..])
            .map(|(code, reason)| Frame::Close(code, reason))
            .map_err(bad),
        _ => Err(format!("unknown frame {text:?}")),
    }
}

/// Undo eventsource's escaping of one `data:` payload.
fn eventsource_unescape(data: &str) -> String {
    data.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%00", "\0")
        .replace("%25", "%")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    WebSocket,
    XhrStreaming,
    XhrPolling,
    EventSource,
}

const KINDS: [Kind; 4] = [
    Kind::WebSocket,
    Kind::XhrStreaming,
    Kind::XhrPolling,
    Kind::EventSource,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::WebSocket => "websocket",
            Kind::XhrStreaming => "xhr_streaming",
            Kind::XhrPolling => "xhr",
            Kind::EventSource => "eventsource",
        }
    }
}

/// One client session over one transport.
struct Client {
    kind: Kind,
    host: String,
    sid: String,
    base: String,
    ws: Option<Ws>,
    /// The receiving connection (streaming response, or polls and sends for xhr polling).
    recv: Option<HttpConn>,
    /// The sending connection of the streaming transports (keep-alive).
    send: Option<HttpConn>,
    /// Frames received but not yet handed out.
    pending: std::collections::VecDeque<Frame>,
    /// Receivers opened (streaming responses, polls).
    receivers: u64,
}

impl Client {
    async fn open(server: &TestServer, endpoint: &str, sid: &str, kind: Kind) -> Client {
        let mut client = Client {
            kind,
            host: server.host.clone(),
            sid: sid.to_string(),
            base: format!("{endpoint}/000/{sid}"),
            ws: None,
            recv: None,
            send: None,
            pending: Default::default(),
            receivers: 0,
        };
        if kind == Kind::WebSocket {
            client.ws = Some(ws_connect_url(&server.ws_url(endpoint, sid, "")).await);
        }
        client
    }

    /// A request to `transport`; receiving ones are tagged (see [`tag_of`]).
    fn request(&self, method: &str, transport: &str) -> Request {
        let path = format!("{}/{transport}", self.base);
        let target = if transport == "xhr_send" {
            path
        } else {
            tagged(&path, &self.sid, "")
        };
        Request::to_host(&self.host, method, &target)
    }

    /// Start a streaming response on the receiving connection and consume its prelude.
    async fn open_stream(&mut self) -> Result<(), String> {
        let req = match self.kind {
            Kind::XhrStreaming => self.request("POST", "xhr_streaming"),
            _ => self.request("GET", "eventsource"),
        };
        if self.recv.is_none() {
            self.recv = Some(HttpConn::connect_to(&self.host).await);
        }
        let conn = self.recv.as_mut().ok_or("no connection")?;
        let head = conn.send(&req).await;
        if head.status != 200 {
            return Err(format!("{} answered {}", self.kind.label(), head.status));
        }
        let prelude = conn.next_chunk().await.ok_or("no prelude")?;
        let expected: &[u8] = match self.kind {
            Kind::XhrStreaming => &[b'h'; 2048],
            _ => b"\r\n",
        };
        if !prelude.starts_with(expected) {
            return Err(format!("bad prelude of {} bytes", prelude.len()));
        }
        self.receivers += 1;
        Ok(())
    }

    /// The next frame, opening receivers as the transport needs.
    async fn next_frame(&mut self) -> Result<Frame, String> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        match self.kind {
            Kind::WebSocket => {
                let ws = self.ws.as_mut().ok_or("no websocket")?;
                match ws_next(ws).await {
                    WsEvent::Text(t) => parse_frame(&t),
                    other => Err(format!("websocket: expected a frame, got {other:?}")),
                }
            }
            Kind::XhrPolling => {
                if self.recv.is_none() {
                    self.recv = Some(HttpConn::connect_to(&self.host).await);
                }
                let req = self.request("POST", "xhr");
                let conn = self.recv.as_mut().ok_or("no connection")?;
                let r = conn.request(&req).await;
                self.receivers += 1;
                if r.status != 200 {
                    return Err(format!("xhr poll answered {}: {:?}", r.status, r.text()));
                }
                let text = r.text();
                let frame = text
                    .strip_suffix('\n')
                    .ok_or_else(|| format!("xhr frame without a newline: {text:?}"))?;
                parse_frame(frame)
            }
            Kind::XhrStreaming | Kind::EventSource => loop {
                if self.recv.is_none() || self.receivers == 0 {
                    self.open_stream().await?;
                }
                let conn = self.recv.as_mut().ok_or("no connection")?;
                let Some(chunk) = conn.next_chunk().await else {
                    // The response ended at the response limit: open the next one.
                    self.open_stream().await?;
                    continue;
                };
                let text = String::from_utf8(chunk).map_err(|e| e.to_string())?;
                if self.kind == Kind::XhrStreaming {
                    for line in text.split_terminator('\n') {
                        self.pending.push_back(parse_frame(line)?);
                    }
                } else {
                    for event in text.split_terminator("\r\n\r\n") {
                        let data = event
                            .strip_prefix("data: ")
                            .ok_or_else(|| format!("not a data event: {event:?}"))?;
                        self.pending
                            .push_back(parse_frame(&eventsource_unescape(data))?);
                    }
                }
                if let Some(f) = self.pending.pop_front() {
                    return Ok(f);
                }
            },
        }
    }

    /// Send messages to the server.
    async fn send(&mut self, messages: &[String]) -> Result<(), String> {
        let body = serde_json::to_string(messages).map_err(|e| e.to_string())?;
        match self.kind {
            Kind::WebSocket => {
                let ws = self.ws.as_mut().ok_or("no websocket")?;
                ws_send(ws, &body).await;
                Ok(())
            }
            _ => {
                let req = self.request("POST", "xhr_send").body(body);
                let slot = if self.kind == Kind::XhrPolling {
                    &mut self.recv
                } else {
                    &mut self.send
                };
                if slot.is_none() {
                    *slot = Some(HttpConn::connect_to(&self.host).await);
                }
                let conn = slot.as_mut().ok_or("no connection")?;
                let r = conn.request(&req).await;
                if r.status == 204 {
                    Ok(())
                } else {
                    Err(format!("xhr_send answered {}: {:?}", r.status, r.text()))
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The soak
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
    receivers: AtomicU64,
}

/// How a soak session ends, and the close cause its handler must then report.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// The client asks the application to close (`3000 "bye"`).
    AppClose,
    /// The client goes away its own way: websocket close handshake (`client`), streaming
    /// connection dropped (`interrupted`), polling stopped (`timeout`).
    ClientGone,
}

/// The tag of the close cause the handler must report (`server` is `server 3000 bye`).
fn expected_cause(kind: Kind, ending: Ending) -> &'static str {
    match (ending, kind) {
        (Ending::AppClose, _) => "server",
        (Ending::ClientGone, Kind::WebSocket) => "client",
        (Ending::ClientGone, Kind::XhrPolling) => "timeout",
        (Ending::ClientGone, _) => "interrupted",
    }
}

/// A message of session `sid` with sequence number `seq`, some of them holding characters
/// that every framing must escape and restore.
fn message(sid: &str, seq: usize) -> String {
    let pad = "p".repeat((seq * 37) % 200);
    if seq % 5 == 3 {
        format!("{sid}:{seq}:{pad} é\u{2028}\"\\<%\n\r\u{0}😀")
    } else {
        format!("{sid}:{seq}:{pad}")
    }
}

/// Run one soak session: open, bursts of messages each verified on the way back, then end.
async fn soak_session(
    server: Arc<TestServer>,
    totals: Arc<Totals>,
    index: usize,
    kind: Kind,
    ending: Ending,
) -> Result<(), String> {
    let sid = format!(
        "soak{index}x{:08x}_{}",
        rand::random::<u32>(),
        expected_cause(kind, ending)
    );
    let mut client = Client::open(&server, "/echo", &sid, kind).await;
    match client.next_frame().await? {
        Frame::Open => {}
        other => return Err(format!("{sid}: expected o, got {other:?}")),
    }
    let total = 8 + index % 17;
    let mut next_sent = 0;
    let mut next_expected = 0;
    while next_sent < total {
        let burst = 1 + (index + next_sent) % 4;
        let batch: Vec<String> = (next_sent..(next_sent + burst).min(total))
            .map(|seq| message(&sid, seq))
            .collect();
        next_sent += batch.len();
        client.send(&batch).await?;
        totals.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
        while next_expected < next_sent {
            match client.next_frame().await? {
                Frame::Heartbeat => {}
                Frame::Messages(ms) => {
                    for m in ms {
                        if m != message(&sid, next_expected) {
                            return Err(format!(
                                "{sid} over {}: expected message {next_expected}, got {m:?}",
                                kind.label()
                            ));
                        }
                        next_expected += 1;
                        totals.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                other => return Err(format!("{sid}: unexpected {other:?}")),
            }
        }
        if next_expected > next_sent {
            return Err(format!("{sid}: more echoes than messages sent"));
        }
    }
    match ending {
        Ending::AppClose => {
            client.send(&["close".to_string()]).await?;
            loop {
                match client.next_frame().await? {
                    Frame::Heartbeat => {}
                    Frame::Close(3000, reason) if reason == "bye" => break,
                    other => return Err(format!("{sid}: expected c[3000,\"bye\"], got {other:?}")),
                }
            }
            if let Some(mut ws) = client.ws.take() {
                // The server closes the websocket after the close frame.
                let _ = ws_next(&mut ws).await;
            }
        }
        Ending::ClientGone => {
            if let Some(ws) = client.ws.take() {
                ws_close(ws).await;
            }
        }
    }
    totals
        .receivers
        .fetch_add(client.receivers, Ordering::Relaxed);
    drop(client);
    Ok(())
}

/// File a finished soak session: count it, or keep its error.
fn collect(
    r: Result<Result<(), String>, tokio::task::JoinError>,
    ok: &mut usize,
    errors: &mut Vec<String>,
) {
    match r {
        Ok(Ok(())) => *ok += 1,
        Ok(Err(e)) => errors.push(e),
        Err(e) => errors.push(panic_text(e)),
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".to_string()),
        Err(e) => e.to_string(),
    }
}

/// A number from the environment, or `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Keeps opening sessions for `SOAK_SECS` seconds (default 20) and at least 2,000 sessions,
/// `SOAK_CONCURRENCY` (default 100) at a time, a quarter on each transport; half end with an
/// application close, half with the client going away its own way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_many_sessions() {
    let secs = env_or("SOAK_SECS", 20);
    let min_sessions = env_or("SOAK_MIN_SESSIONS", 2000) as usize;
    let concurrency = env_or("SOAK_CONCURRENCY", 100) as usize;
    let disconnect = Duration::from_millis(3000);
    let mut config = fast_config(disconnect.as_millis() as u64);
    // Streaming responses end every few frames, so receivers are replaced all the time.
    config.response_limit = 4096;
    let server = Arc::new(TestServer::start(config).await);
    let totals = Arc::new(Totals::default());
    let rss_before = rss_kib();
    let start = Instant::now();
    let run_for = Duration::from_secs(secs);

    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ok = 0;
    let mut errors: Vec<String> = Vec::new();
    let mut rss_warm = 0;
    let mut rss_peak = 0;
    let mut peak_sessions = 0;
    let mut index = 0;
    let mut next_report = Duration::from_secs(30);
    while start.elapsed() < run_for || index < min_sessions {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("semaphore open");
        let kind = KINDS[index % KINDS.len()];
        let ending = if (index / KINDS.len()) % 2 == 0 {
            Ending::AppClose
        } else {
            Ending::ClientGone
        };
        let (server2, totals2) = (Arc::clone(&server), Arc::clone(&totals));
        tasks.spawn(async move {
            let _permit = permit;
            let run = soak_session(server2, totals2, index, kind, ending);
            match tokio::time::timeout(Duration::from_secs(60), run).await {
                Ok(r) => r,
                Err(_) => Err(format!("session {index} ({kind:?}) hung for 60 s")),
            }
        });
        index += 1;
        peak_sessions = peak_sessions.max(server.session_count());
        if index == 500 {
            rss_warm = rss_kib();
        }
        if index % 100 == 0 {
            rss_peak = rss_peak.max(rss_kib());
        }
        if start.elapsed() >= next_report {
            next_report += Duration::from_secs(30);
            eprintln!(
                "soak: {:>4} s: {index} sessions started, {} live, VmRSS {} KiB",
                start.elapsed().as_secs(),
                server.session_count(),
                rss_kib()
            );
        }
        while let Some(r) = tasks.try_join_next() {
            collect(r, &mut ok, &mut errors);
        }
    }
    while let Some(r) = tasks.join_next().await {
        collect(r, &mut ok, &mut errors);
    }
    let exchange = start.elapsed();
    let drained = server
        .wait_no_sessions(disconnect + Duration::from_secs(20))
        .await;
    // The handlers end right after their sessions; give the last ones a moment.
    let handlers_deadline = Instant::now() + Duration::from_secs(10);
    while server.causes.ended.load(Ordering::SeqCst) < server.causes.started.load(Ordering::SeqCst)
        && Instant::now() < handlers_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_after = rss_kib();

    let sent = totals.sent.load(Ordering::Relaxed);
    let received = totals.received.load(Ordering::Relaxed);
    let stats = server.echo.stats();
    let mismatches = server
        .causes
        .mismatches
        .lock()
        .expect("causes lock")
        .clone();
    eprintln!(
        "soak: {index} sessions ({ok} ok, {} failed) over websocket, xhr_streaming, xhr, eventsource; concurrency {concurrency}",
        errors.len()
    );
    eprintln!(
        "soak: exchange {:.1} s ({:.0} sessions/s), sessions drained {:.1} s later (disconnect delay {disconnect:?}); peak live sessions {peak_sessions}",
        exchange.as_secs_f64(),
        index as f64 / exchange.as_secs_f64(),
        drained.as_secs_f64()
    );
    eprintln!(
        "soak: messages sent {sent}, echoed and verified in order {received}, lost {}; receivers opened by HTTP clients {}",
        sent.saturating_sub(received),
        totals.receivers.load(Ordering::Relaxed)
    );
    eprintln!(
        "soak: server stats: opened {:?}, closed {:?}, messages in {} out {}",
        stats
            .sessions_opened
            .iter()
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>(),
        stats
            .sessions_closed
            .iter()
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>(),
        stats.messages_in,
        stats.messages_out
    );
    eprintln!(
        "soak: handlers started {}, ended {}; causes {:?}; unexpected causes {}",
        server.causes.started.load(Ordering::SeqCst),
        server.causes.ended.load(Ordering::SeqCst),
        server.causes.histogram(),
        mismatches.len()
    );
    eprintln!(
        "soak: VmRSS before {rss_before} KiB, after 500 sessions {rss_warm} KiB, peak {rss_peak} KiB, after all {rss_after} KiB"
    );

    assert!(
        errors.is_empty(),
        "{} sessions failed, first: {:#?}",
        errors.len(),
        &errors[..errors.len().min(10)]
    );
    assert_eq!(sent, received, "messages lost");
    assert_eq!(server.session_count(), 0);
    assert_eq!(
        server.causes.ended.load(Ordering::SeqCst),
        server.causes.started.load(Ordering::SeqCst),
        "every handler ends"
    );
    assert!(
        mismatches.is_empty(),
        "{} sessions ended with an unexpected cause, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)]
    );
    let checked: usize = server.causes.histogram().iter().map(|(_, n)| n).sum();
    assert_eq!(
        checked, index,
        "every soak session's close cause was checked"
    );
    let opened: u64 = stats.sessions_opened.iter().map(|(_, n)| n).sum();
    let closed: u64 = stats.sessions_closed.iter().map(|(_, n)| n).sum();
    assert_eq!(
        opened, index as u64,
        "one server session per client session"
    );
    assert_eq!(closed, opened, "every session retired");
    assert_eq!(
        stats.messages_in,
        sent + count_app_closes(index),
        "the server received every message (and one `close` per application close)"
    );
    assert_eq!(
        stats.messages_out, sent,
        "the server echoed every message once"
    );
    assert!(
        rss_after < 2 * rss_before.max(rss_warm) + 50 * 1024,
        "memory grew from {rss_before} KiB ({rss_warm} KiB after 500 sessions) to {rss_after} KiB"
    );
}

/// How many of the first `n` soak sessions end with an application close (each sends one
/// extra `close` message).
fn count_app_closes(n: usize) -> u64 {
    (0..n).filter(|i| (i / KINDS.len()) % 2 == 0).count() as u64
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

/// Disconnect delay of the fault tests' endpoints.
const FAULT_DISCONNECT_MS: u64 = 1000;

/// Upper bound for a session to end once its client has gone: detection (at worst the next
/// heartbeat write, 2 s) plus the disconnect delay, with a wide margin.
const GONE_LIMIT: Duration = Duration::from_secs(20);

/// Open a streaming receiver (`xhr_streaming` or `eventsource`) and check its prelude.
async fn open_streaming(server: &TestServer, path: &str, kind: Kind) -> HttpConn {
    let method = if kind == Kind::XhrStreaming {
        "POST"
    } else {
        "GET"
    };
    let (head, mut conn) = Request::to_host(&server.host, method, path).open().await;
    assert_eq!(head.status, 200, "{method} {path}: {head:?}");
    let prelude = conn.next_chunk().await.expect("a prelude chunk");
    match kind {
        Kind::XhrStreaming => assert_eq!(prelude, xhr_streaming_prelude().into_bytes()),
        _ => assert_eq!(prelude, b"\r\n"),
    }
    conn
}

/// The next frame of a streaming response, as text without its framing.
async fn stream_frame(conn: &mut HttpConn, kind: Kind) -> Option<String> {
    let chunk = String::from_utf8(conn.next_chunk().await?).expect("a UTF-8 chunk");
    Some(match kind {
        Kind::XhrStreaming => chunk
            .strip_suffix('\n')
            .expect("frame + newline")
            .to_string(),
        _ => eventsource_unescape(
            chunk
                .strip_prefix("data: ")
                .and_then(|c| c.strip_suffix("\r\n\r\n"))
                .expect("data: <frame>\\r\\n\\r\\n"),
        ),
    })
}

/// One xhr poll of session `sid` on `endpoint`, on a fresh connection: the frame, without
/// its newline.
async fn xhr_poll(server: &TestServer, endpoint: &str, sid: &str) -> String {
    let path = tagged(&format!("{endpoint}/000/{sid}/xhr"), sid, "");
    let r = Request::to_host(&server.host, "POST", &path).send().await;
    assert_eq!(r.status, 200, "xhr poll on {path}: {r:?}");
    r.text()
        .strip_suffix('\n')
        .expect("an xhr frame ends with a newline")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_mid_stream_ends_the_session() {
    let server = TestServer::start(fast_config(FAULT_DISCONNECT_MS)).await;

    // xhr_streaming while the application is sending (a message every 5 ms).
    let sid = unique_sid("gone-xs");
    let mut conn = open_streaming(
        &server,
        &tagged(&format!("/seq/000/{sid}/xhr_streaming"), &sid, "every_ms=5"),
        Kind::XhrStreaming,
    )
    .await;
    assert_eq!(
        stream_frame(&mut conn, Kind::XhrStreaming).await.as_deref(),
        Some("o")
    );
    let mut got = 0;
    while got < 5 {
        let frame = stream_frame(&mut conn, Kind::XhrStreaming)
            .await
            .expect("a frame");
        if let Frame::Messages(ms) = parse_frame(&frame).expect("a frame") {
            got += ms.len();
        }
    }
    let gone = Instant::now();
    drop(conn); // no shutdown, no goodbye: the socket just closes
    let cause = server.wait_cause(&sid, GONE_LIMIT).await;
    let detected = gone.elapsed();
    assert_eq!(cause, "interrupted", "xhr_streaming client gone");

    // A websocket while the application is sending.
    let ws_sid = unique_sid("gone-ws");
    let mut ws = ws_connect_url(&server.ws_url("/seq", &ws_sid, "every_ms=5")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    let first = ws_recv(&mut ws).await;
    assert!(first.starts_with("a[\"0\""), "{first}");
    let ws_gone = Instant::now();
    drop(ws); // the TCP connection closes without a websocket close frame
    let ws_cause = server.wait_cause(&ws_sid, GONE_LIMIT).await;
    let ws_detected = ws_gone.elapsed();
    assert_eq!(ws_cause, "interrupted", "websocket client gone");

    // An idle websocket on the echo endpoint.
    let idle_sid = unique_sid("gone-idle");
    let mut ws = ws_connect_url(&server.ws_url("/echo", &idle_sid, "")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, "[\"x\"]").await;
    assert_eq!(ws_recv(&mut ws).await, "a[\"x\"]");
    drop(ws);
    assert_eq!(
        server.wait_cause(&idle_sid, GONE_LIMIT).await,
        "interrupted"
    );

    let drained = server
        .wait_no_sessions(Duration::from_millis(FAULT_DISCONNECT_MS) + GONE_LIMIT)
        .await;
    eprintln!(
        "vanish: xhr_streaming client gone -> handler saw {cause:?} after {:.0} ms; websocket -> {ws_cause:?} after {:.0} ms; sessions 0 {:.0} ms later",
        detected.as_secs_f64() * 1000.0,
        ws_detected.as_secs_f64() * 1000.0,
        drained.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_vanishing_during_a_pending_poll_ends_the_session() {
    let server = TestServer::start(fast_config(FAULT_DISCONNECT_MS)).await;
    let sid = unique_sid("gone-poll");
    assert_eq!(xhr_poll(&server, "/echo", &sid).await, "o");
    // A poll with nothing to deliver stays pending; the client goes away.
    let conn = Request::to_host(&server.host, "POST", &format!("/echo/000/{sid}/xhr"))
        .start()
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gone = Instant::now();
    drop(conn);
    let cause = server.wait_cause(&sid, GONE_LIMIT).await;
    let detected = gone.elapsed();
    server
        .wait_no_sessions(Duration::from_millis(FAULT_DISCONNECT_MS) + GONE_LIMIT)
        .await;
    eprintln!(
        "vanish: pending xhr poll dropped -> handler saw {cause:?} after {:.0} ms",
        detected.as_secs_f64() * 1000.0
    );
    // `interrupted` when the server notices the dead request; `timeout` when it only finds
    // out by answering the poll (a heartbeat) and then waiting out the disconnect delay.
    assert!(
        cause == "interrupted" || cause == "timeout",
        "unexpected cause {cause:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_response_cut_by_a_proxy() {
    let server = TestServer::start(fast_config(FAULT_DISCONNECT_MS)).await;
    let mut report = Vec::new();
    // Cut inside the prelude, right after it, inside the open frame's chunk, and at several
    // points of the message chunks.
    for (kind, transport) in [
        (Kind::XhrStreaming, "xhr_streaming"),
        (Kind::EventSource, "eventsource"),
    ] {
        for cut in [10, 2055, 2062, 2100, 2345, 3000, 5001] {
            let sid = unique_sid("cut");
            let base = format!("/seq/000/{sid}");
            let method = if kind == Kind::XhrStreaming {
                "POST"
            } else {
                "GET"
            };
            let (head, mut conn) = Request::to_host(
                &server.host,
                method,
                &tagged(&format!("{base}/{transport}"), &sid, "every_ms=2"),
            )
            .open()
            .await;
            assert_eq!(head.status, 200);
            // The proxy forwards `cut` bytes of the body (chunk framing included), then
            // closes the client's connection and its own to the server.
            let _ = conn.read_raw(cut).await;
            drop(conn);
            let cut_at = Instant::now();
            // The next receiver: `c[1002,...]` once the server has noticed, `o` if the
            // session is already gone; `c[2010,...]` only while the cut receiver is still
            // attached (not noticed yet), so poll again.
            let mut refused = 0;
            let answer = loop {
                let frame = xhr_poll(&server, "/seq", &sid).await;
                if frame == "c[2010,\"Another connection still open\"]" {
                    refused += 1;
                    assert!(
                        cut_at.elapsed() < GONE_LIMIT,
                        "{transport} cut at {cut}: still refused with 2010 after {GONE_LIMIT:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                break frame;
            };
            assert!(
                answer == "c[1002,\"Connection interrupted\"]" || answer == "o",
                "{transport} cut at {cut}: the next receiver got {answer:?}"
            );
            let cause = server.wait_cause(&sid, GONE_LIMIT).await;
            assert_eq!(cause, "interrupted", "{transport} cut at {cut}");
            report.push(format!(
                "{transport}@{cut}: {answer} after {refused} x 2010, {:.0} ms",
                cut_at.elapsed().as_secs_f64() * 1000.0
            ));
        }
    }
    server
        .wait_no_sessions(Duration::from_millis(FAULT_DISCONNECT_MS) + GONE_LIMIT)
        .await;
    eprintln!("proxy cut: {report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_receiver_is_refused_and_the_first_keeps_working() {
    let server = TestServer::start(fast_config(FAULT_DISCONNECT_MS)).await;
    for first in [Kind::XhrStreaming, Kind::EventSource] {
        let sid = unique_sid("second");
        let base = format!("/echo/000/{sid}");
        let first_path = match first {
            Kind::XhrStreaming => tagged(&format!("{base}/xhr_streaming"), &sid, ""),
            _ => tagged(&format!("{base}/eventsource"), &sid, ""),
        };
        let mut one = open_streaming(&server, &first_path, first).await;
        assert_eq!(stream_frame(&mut one, first).await.as_deref(), Some("o"));

        let refused = "c[2010,\"Another connection still open\"]";
        assert_eq!(xhr_poll(&server, "/echo", &sid).await, refused, "xhr poll");
        for second in [Kind::XhrStreaming, Kind::EventSource] {
            let path = match second {
                Kind::XhrStreaming => format!("{base}/xhr_streaming"),
                _ => format!("{base}/eventsource"),
            };
            let mut two = open_streaming(&server, &path, second).await;
            assert_eq!(
                stream_frame(&mut two, second).await.as_deref(),
                Some(refused)
            );
            assert_eq!(
                stream_frame(&mut two, second).await,
                None,
                "the refused response ends"
            );
        }
        let r = Request::to_host(&server.host, "GET", &format!("{base}/jsonp?c=cb"))
            .send()
            .await;
        assert_eq!(
            r.text(),
            "/**/cb(\"c[2010,\\\"Another connection still open\\\"]\");\r\n",
            "jsonp poll"
        );

        // The first receiver still carries the session both ways.
        for i in 0..3 {
            let body = format!("[\"after {i}\"]");
            let r = Request::to_host(&server.host, "POST", &format!("{base}/xhr_send"))
                .body(body.clone())
                .send()
                .await;
            assert_eq!(r.status, 204, "{r:?}");
            assert_eq!(
                stream_frame(&mut one, first).await.as_deref(),
                Some(format!("a{body}").as_str())
            );
        }
        let r = Request::to_host(&server.host, "POST", &format!("{base}/xhr_send"))
            .body("[\"close\"]")
            .send()
            .await;
        assert_eq!(r.status, 204);
        assert_eq!(
            stream_frame(&mut one, first).await.as_deref(),
            Some("c[3000,\"bye\"]")
        );
        assert_eq!(stream_frame(&mut one, first).await, None);
        assert_eq!(server.wait_cause(&sid, GONE_LIMIT).await, "server 3000 bye");
    }
    server
        .wait_no_sessions(Duration::from_millis(FAULT_DISCONNECT_MS) + GONE_LIMIT)
        .await;
}

/// A poll of `<base>/xhr` or `<base>/jsonp` on `conn`: the frame, unwrapped.
async fn poll_frame(conn: &mut HttpConn, server: &TestServer, base: &str, jsonp: bool) -> Frame {
    let req = if jsonp {
        Request::to_host(&server.host, "GET", &format!("{base}/jsonp?c=cb"))
    } else {
        Request::to_host(&server.host, "POST", &format!("{base}/xhr"))
    };
    let r = conn.request(&req).await;
    assert_eq!(r.status, 200, "{r:?}");
    let text = r.text();
    let frame = if jsonp {
        let literal = text
            .strip_prefix("/**/cb(")
            .and_then(|t| t.strip_suffix(");\r\n"))
            .unwrap_or_else(|| panic!("not a jsonp answer: {text:?}"));
        serde_json::from_str::<String>(literal).expect("a JSON string literal")
    } else {
        text.strip_suffix('\n')
            .expect("frame + newline")
            .to_string()
    };
    parse_frame(&frame).expect("a frame")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_between_polls_arrive_once_and_in_order() {
    let server = Arc::new(TestServer::start(fast_config(FAULT_DISCONNECT_MS)).await);
    let n: u64 = 400;
    let clients = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let server = Arc::clone(&server);
        tasks.spawn(async move {
            let jsonp = c % 2 == 1;
            let sid = unique_sid("poll");
            let base = format!("/seq/000/{sid}");
            let mut conn = HttpConn::connect_to(&server.host).await;
            // The query string of the opening request sets the pace: one message every
            // 2 ms, `n` of them, then `c[3000,"done"]`.
            let open = if jsonp {
                Request::to_host(
                    &server.host,
                    "GET",
                    &format!("{base}/jsonp?c=cb&n={n}&every_ms=2"),
                )
            } else {
                Request::to_host(
                    &server.host,
                    "POST",
                    &format!("{base}/xhr?n={n}&every_ms=2"),
                )
            };
            let r = conn.request(&open).await;
            assert_eq!(r.status, 200);
            let opened = if jsonp { "/**/cb(\"o\");\r\n" } else { "o\n" };
            assert_eq!(r.text(), opened, "{sid}: the open frame");
            let mut next = 0u64;
            let mut polls = 0u64;
            let mut heartbeats = 0u64;
            loop {
                // Stay away for a while (well within the disconnect delay): the application
                // keeps sending and the session queues.
                let pause = rand::random::<u64>() % 40;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                polls += 1;
                match poll_frame(&mut conn, &server, &base, jsonp).await {
                    Frame::Messages(ms) => {
                        for m in ms {
                            assert_eq!(m, next.to_string(), "{sid}: gap, duplicate or reorder");
                            next += 1;
                        }
                    }
                    Frame::Heartbeat => heartbeats += 1,
                    Frame::Close(3000, reason) if reason == "done" => break,
                    other => panic!("{sid}: unexpected {other:?}"),
                }
            }
            assert_eq!(next, n, "{sid}: every message before the close");
            (polls, heartbeats)
        });
    }
    let mut polls = 0;
    let mut heartbeats = 0;
    while let Some(r) = tasks.join_next().await {
        let (p, h) = r.unwrap_or_else(|e| panic!("{}", panic_text(e)));
        polls += p;
        heartbeats += h;
    }
    server
        .wait_no_sessions(Duration::from_millis(FAULT_DISCONNECT_MS) + GONE_LIMIT)
        .await;
    eprintln!(
        "polling: {clients} clients (xhr and jsonp) x {n} server messages each, all once and in order, in {polls} polls ({:.1} messages per poll, {heartbeats} heartbeats)",
        (clients as u64 * n) as f64 / polls as f64
    );
}

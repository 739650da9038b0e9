//! Websocket clients: connecting (SockJS or plain), and the echo / round-trip workloads.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::config::LoadConfig;
use crate::framing::{EchoFraming, Framing};
use crate::payload;
use crate::stats::{self, measure, Outcome, Stats, Window};

/// A client websocket.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// At most this many already-arrived messages are answered with one flush.
const MAX_BATCH: usize = 256;

/// How long a close handshake may take at the end of a run before the socket is dropped.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// A session's base path: `<prefix>/<server>/<session>` with a fresh session id.
pub(crate) fn session_base(prefix: &str, index: usize) -> String {
    format!(
        "{prefix}/{:03}/{index:x}-{:08x}",
        index % 1000,
        rand::random::<u32>()
    )
}

/// A session URL path: `<prefix>/<server>/<session>/<transport>` with a fresh session id.
pub(crate) fn session_path(prefix: &str, index: usize, transport: &str) -> String {
    format!("{}/{transport}", session_base(prefix, index))
}

/// The websocket path of connection `index`: a SockJS session URL, or for the plain websocket
/// workloads `--ws-path` (default `<prefix>/websocket`: the bare server answers at any path,
/// a SockJS endpoint there with its raw websocket).
pub(crate) fn ws_path(config: &LoadConfig, index: usize) -> String {
    if config.workload.is_raw() {
        config
            .ws_path
            .clone()
            .unwrap_or_else(|| format!("{}/websocket", config.prefix))
    } else {
        session_path(&config.prefix, index, "websocket")
    }
}

/// Open a websocket to `path` on `addr`, asking for `subprotocol` if given; for SockJS
/// (`sockjs`), also wait for the `o` frame.
pub(crate) async fn connect(
    addr: SocketAddr,
    path: &str,
    sockjs: bool,
    read_buffer: usize,
    subprotocol: Option<&str>,
) -> Result<Ws, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    // Writes are batched by `feed` + `flush`: keep tungstenite's write buffer.
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(read_buffer);
    let url = format!("ws://{addr}{path}");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("websocket request {path}: {e}"))?;
    if let Some(p) = subprotocol {
        let value = p.parse().map_err(|e| format!("subprotocol {p:?}: {e}"))?;
        request
            .headers_mut()
            .insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let (mut ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| format!("websocket handshake {path}: {e}"))?;
    if sockjs {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "o" => {}
            Some(Ok(other)) => return Err(format!("expected the open frame, got {other:?}")),
            Some(Err(e)) => return Err(format!("waiting for the open frame: {e}")),
            None => return Err("closed before the open frame".into()),
        }
    }
    Ok(ws)
}

/// Open `config.connections` websockets, `config.connect_concurrency` at a time. Failures
/// are counted; the connections that opened are returned.
pub(crate) async fn connect_all(config: &LoadConfig, stats: &Stats, read_buffer: usize) -> Vec<Ws> {
    let sockjs = !config.workload.is_raw();
    let addr = config.target;
    let subprotocol = config.subprotocol.as_deref();
    stats::open_all(config, stats, |i| {
        let path = ws_path(config, i);
        async move { connect(addr, &path, sockjs, read_buffer, subprotocol).await }
    })
    .await
}

/// Close `ws` politely, without waiting long for the server's answer.
pub(crate) async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// What each echo connection needs to know.
#[derive(Clone, Copy)]
pub(crate) struct EchoParams {
    pub(crate) in_flight: usize,
    pub(crate) size: usize,
    pub(crate) window: Window,
    pub(crate) drain: Duration,
}

impl EchoParams {
    /// The parameters of `config`'s run, measured in `window`.
    pub(crate) fn new(config: &LoadConfig, window: Window) -> EchoParams {
        EchoParams {
            in_flight: config.effective_in_flight(),
            size: config.message_size,
            window,
            drain: config.drain,
        }
    }
}

/// [`connect_all`], each connection with the workload's framing: SockJS, or plain for the
/// raw workloads.
pub(crate) async fn connect_framed(
    config: &LoadConfig,
    stats: &Stats,
    read_buffer: usize,
) -> Vec<(Ws, EchoFraming)> {
    let framing = EchoFraming::new(config.workload.is_raw());
    let conns = connect_all(config, stats, read_buffer).await;
    conns.into_iter().map(|ws| (ws, framing)).collect()
}

/// `ws-echo`, `raw-ws-echo`, `ws-rtt`, `raw-ws-rtt`.
pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let conns = connect_framed(config, stats, 16 * 1024).await;
    run_echo(config, stats, conns).await
}

/// Echo on every connection of `conns`, each with its framing, and measure.
pub(crate) async fn run_echo<F>(
    config: &LoadConfig,
    stats: &Arc<Stats>,
    conns: Vec<(Ws, F)>,
) -> Outcome
where
    F: Framing + Send + 'static,
{
    let sessions = conns.len();
    let window = Window::starting_now(config);
    let params = EchoParams::new(config, window);
    let mut tasks = JoinSet::new();
    for (ws, framing) in conns {
        tasks.spawn(echo_connection(ws, framing, params, Arc::clone(stats)));
    }
    let measured = measure(config, stats, window).await;
    while tasks.join_next().await.is_some() {}
    Outcome {
        measured: Some(measured),
        sessions,
        ..Outcome::default()
    }
}

/// One connection's count of what it sent and received.
struct Tally {
    params: EchoParams,
    next_send: u64,
    next_recv: u64,
    sent_at: VecDeque<Instant>,
    latencies: Vec<u64>,
}

impl Tally {
    /// Check one echoed payload; `Err` ends the connection.
    fn received(&mut self, message: &str, stats: &Stats) -> Result<(), String> {
        let seq = self.next_recv;
        if let Err(m) = payload::check(seq, self.params.size, message) {
            return Err(payload::describe(seq, &m, message));
        }
        self.next_recv += 1;
        stats.received.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if let Some(sent) = self.sent_at.pop_front() {
            if self.params.window.contains(now) {
                self.latencies
                    .push(u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX));
            }
        }
        Ok(())
    }

    fn outstanding(&self) -> u64 {
        self.next_send - self.next_recv
    }
}

/// One connection's state while echoing.
struct Echo<F> {
    framing: F,
    tally: Tally,
    out: String,
}

impl<F: Framing> Echo<F> {
    /// The next message to send, framed for the server.
    fn next_message(&mut self) -> Message {
        self.out.clear();
        let seq = self.tally.next_send;
        self.framing
            .write(seq, self.tally.params.size, &mut self.out);
        self.tally.next_send += 1;
        self.tally.sent_at.push_back(Instant::now());
        Message::text(self.out.as_str())
    }
}

async fn echo_connection<F: Framing>(
    mut ws: Ws,
    framing: F,
    params: EchoParams,
    stats: Arc<Stats>,
) {
    let mut echo = Echo {
        framing,
        tally: Tally {
            params,
            next_send: 0,
            next_recv: 0,
            sent_at: VecDeque::with_capacity(params.in_flight),
            latencies: Vec::new(),
        },
        out: String::new(),
    };
    let result = echo_loop(&mut ws, &mut echo, &stats).await;
    if let Err(e) = result {
        stats.error(e);
    }
    stats.add_latencies(std::mem::take(&mut echo.tally.latencies));
    close(ws).await;
}

async fn echo_loop<F: Framing>(
    ws: &mut Ws,
    echo: &mut Echo<F>,
    stats: &Stats,
) -> Result<(), String> {
    let window = echo.tally.params.window;
    for _ in 0..echo.tally.params.in_flight {
        let m = echo.next_message();
        ws.feed(m).await.map_err(|e| format!("send: {e}"))?;
        stats.sent.fetch_add(1, Ordering::Relaxed);
    }
    ws.flush().await.map_err(|e| format!("send: {e}"))?;
    let drain_until = window.to + echo.tally.params.drain;
    loop {
        let loading = Instant::now() < window.to;
        if !loading && echo.tally.outstanding() == 0 {
            return Ok(());
        }
        let deadline = if loading { window.to } else { drain_until };
        let incoming = match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Ok(incoming) => incoming,
            Err(_) if loading => continue,
            Err(_) => {
                let lost = echo.tally.outstanding();
                stats.errors_n(lost, "echo not received before the end of the drain");
                return Ok(());
            }
        };
        let before = echo.tally.next_recv;
        handle_incoming(incoming, echo, stats)?;
        // Take whatever else has already arrived, so that one flush answers all of it.
        for _ in 0..MAX_BATCH {
            match ws.next().now_or_never() {
                Some(incoming) => handle_incoming(incoming, echo, stats)?,
                None => break,
            }
        }
        let answered = echo.tally.next_recv - before;
        if Instant::now() < window.to && answered > 0 {
            for _ in 0..answered {
                let m = echo.next_message();
                ws.feed(m).await.map_err(|e| format!("send: {e}"))?;
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            ws.flush().await.map_err(|e| format!("send: {e}"))?;
        }
    }
}

/// Check one incoming websocket message: its payloads go to the tally.
fn handle_incoming<F: Framing>(
    incoming: Option<Result<Message, WsError>>,
    echo: &mut Echo<F>,
    stats: &Stats,
) -> Result<(), String> {
    let text = text_of(incoming)?;
    match text {
        Some(t) => {
            let tally = &mut echo.tally;
            echo.framing.read(t.as_str(), |m| tally.received(m, stats))
        }
        None => Ok(()),
    }
}

/// The text of an incoming websocket message; `None` for control frames, which carry nothing
/// for the workloads; an error for binary messages, closes and failures.
pub(crate) fn text_of(
    incoming: Option<Result<Message, WsError>>,
) -> Result<Option<tokio_tungstenite::tungstenite::Utf8Bytes>, String> {
    match incoming {
        Some(Ok(Message::Text(t))) => Ok(Some(t)),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(None),
        Some(Ok(Message::Binary(_))) => Err("unexpected binary message".into()),
        Some(Ok(Message::Close(c))) => Err(format!("the server closed: {c:?}")),
        Some(Err(e)) => Err(format!("receive: {e}")),
        None => Err("the connection ended".into()),
    }
}

//! The Rust servers under test: sockjs-rs (`/echo`, `/broadcast`, `/room`, `/all`, `/stomp`) and the bare reference
//! (plain websocket echo at any path, plain websocket broadcast under `/broadcast`, `POST`
//! echo), each an accept loop over hyper's HTTP/1.1 server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sockjs_hyper::{Config, Connection, ConnectionSender, SockJs};
use sockjs_stomp::broker::StompBroker;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The largest `POST` body the bare server echoes.
const BARE_MAX_BODY: usize = 1024 * 1024;

/// The sockjs-rs endpoints of the benchmark, default configuration: `/echo`, `/broadcast` (the
/// application's own room, as the sockjs-node server has it), `/room` (the hub's room) and
/// `/all` (`SockJs::broadcast` to the endpoint's sessions) and `/stomp` (a [`StompBroker`]
/// with Spring's conventions, as the conformance server's).
#[derive(Clone, Debug)]
pub struct SockJsApp {
    echo: SockJs,
    broadcast: SockJs,
    room: SockJs,
    all: SockJs,
    stomp: StompBroker,
}

/// The members of the broadcast endpoint (application state, not the library's).
#[derive(Default)]
struct Room {
    next: AtomicU64,
    members: Mutex<HashMap<u64, ConnectionSender>>,
}

async fn echo(mut conn: Connection) {
    while let Some(message) = conn.recv().await {
        if conn.send(message).await.is_err() {
            break;
        }
    }
}

async fn broadcast(room: Arc<Room>, mut conn: Connection) {
    let id = room.next.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut m) = room.members.lock() {
        m.insert(id, conn.sender());
    }
    while let Some(message) = conn.recv().await {
        if let Ok(members) = room.members.lock() {
            for member in members.values() {
                // A slow member is skipped rather than stalling the room.
                let _ = member.try_send(&message);
            }
        }
    }
    if let Ok(mut m) = room.members.lock() {
        m.remove(&id);
    }
}

/// The hub room of `/room`.
const ROOM: &str = "bench";

/// Every session joins the hub room; each message goes to the room (encoded once, sent to
/// every member, the sender included; a member with a full queue is skipped).
async fn hub_room(mut conn: Connection) {
    if conn.join(ROOM).is_err() {
        return;
    }
    let hub = conn.hub().clone();
    while let Some(message) = conn.recv().await {
        let _ = hub.send_to_room(ROOM, &message);
    }
}

/// Each message goes to every session of the endpoint, the sender included
/// (`SockJs::broadcast`: encoded once; a session with a full queue is skipped).
async fn endpoint_broadcast(mut conn: Connection) {
    let endpoint = conn.endpoint();
    while let Some(message) = conn.recv().await {
        let _ = endpoint.broadcast(&message);
    }
}

/// `/stomp`: the broker's defaults (application prefix `/app`, broker prefixes `/topic` and
/// `/queue`, user prefix `/user`, server heart-beat 10000,10000) over the default SockJS
/// [`Config`]; a `CONNECT`'s `login` names the user, as on the conformance server. The
/// benchmark publishes to `/topic/...` directly (what RabbitMQ, with no application
/// handlers, also serves).
fn stomp_broker() -> Result<StompBroker, sockjs_stomp::broker::BuildError> {
    StompBroker::builder("/stomp")
        .sockjs_config(Config::default())
        .authenticator(|info| {
            let user = info.login().filter(|l| !l.is_empty()).map(str::to_owned);
            async move { Ok(user) }
        })
        .build()
}

impl SockJsApp {
    /// Build the endpoints with [`Config::default`].
    pub fn new() -> Result<SockJsApp, Box<dyn std::error::Error + Send + Sync>> {
        let room = Arc::new(Room::default());
        Ok(SockJsApp {
            echo: SockJs::new("/echo", Config::default(), echo)?,
            broadcast: SockJs::new("/broadcast", Config::default(), move |conn| {
                broadcast(Arc::clone(&room), conn)
            })?,
            room: SockJs::new("/room", Config::default(), hub_room)?,
            all: SockJs::new("/all", Config::default(), endpoint_broadcast)?,
            stomp: stomp_broker()?,
        })
    }

    /// Answer one request: the endpoint whose prefix matches, else 404.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<sockjs_hyper::ResponseBody> {
        let path = req.uri().path();
        if self.echo.matches(path) {
            self.echo.handle(req).await
        } else if self.broadcast.matches(path) {
            self.broadcast.handle(req).await
        } else if self.room.matches(path) {
            self.room.handle(req).await
        } else if self.all.matches(path) {
            self.all.handle(req).await
        } else if self.stomp.endpoint().matches(path) {
            self.stomp.endpoint().handle(req).await
        } else {
            text(StatusCode::NOT_FOUND, "404 Not Found\n")
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync());
    *r.status_mut() = status;
    r
}

/// A response with `status` and no body.
fn empty(status: StatusCode) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let mut r = Response::new(http_body_util::Empty::new().boxed_unsync());
    *r.status_mut() = status;
    r
}

/// Which HTTP versions a server speaks on its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// hyper's HTTP/1.1 connection (with upgrades), as the benchmark's reference figures.
    Http1,
    /// hyper-util's `auto` builder: HTTP/1.1 (with upgrades) or HTTP/2 with prior knowledge,
    /// told apart by the first bytes, as a server offering both would run.
    Auto,
}

/// Accept connections on `listener` forever, serving each with `handle` (HTTP/1.1 with
/// upgrades, or what `protocols` says).
async fn accept_loop<H, F>(listener: TcpListener, handle: H) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<UnsyncBoxBody<Bytes, Infallible>>> + Send + 'static,
{
    accept_loop_with(listener, handle, Protocols::Http1).await
}

async fn accept_loop_with<H, F>(
    listener: TcpListener,
    handle: H,
    protocols: Protocols,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<UnsyncBoxBody<Bytes, Infallible>>> + Send + 'static,
{
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let response = handle(req);
                async move { Ok::<_, Infallible>(response.await) }
            });
            let served: Result<(), Box<dyn std::error::Error + Send + Sync>> = match protocols {
                Protocols::Http1 => http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await
                    .map_err(Into::into),
                Protocols::Auto => {
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}

/// Serve the sockjs-rs benchmark endpoints on `listener`.
pub async fn serve_sockjs(listener: TcpListener) -> std::io::Result<()> {
    serve_sockjs_with(listener, Protocols::Http1).await
}

/// Serve the sockjs-rs benchmark endpoints on `listener`, speaking `protocols`.
pub async fn serve_sockjs_with(listener: TcpListener, protocols: Protocols) -> std::io::Result<()> {
    let app = SockJsApp::new().map_err(std::io::Error::other)?;
    accept_loop_with(
        listener,
        move |req| {
            let app = app.clone();
            // Boxed, as `SockJs`'s own `Service::call` does: hyper keeps a slot the size of the
            // request future in every connection for the connection's whole life (an idle
            // `xhr_streaming` session's included), so a large future stored inline costs kilobytes
            // per connection, a boxed one a pointer while no request is being answered.
            let response: Pin<Box<dyn Future<Output = _> + Send>> =
                Box::pin(async move { app.handle(req).await });
            response
        },
        protocols,
    )
    .await
}

/// Serve the bare reference on `listener`: a websocket upgrade under `/broadcast` joins one
/// room where every text message goes to every member; at any other path it echoes text and
/// binary messages. `POST /stream/<id>` holds a plain streaming response open (first line
/// `open`), into which `POST /stream/<id>/send` puts its body as one line; any other `POST`
/// answers 200 with its body; anything else 200 `bare`.
pub async fn serve_bare(listener: TcpListener) -> std::io::Result<()> {
    let state = Arc::new(Bare::default());
    accept_loop(listener, move |req| {
        // Boxed like the sockjs-rs server's, so that both keep the same slot per connection.
        let response: Pin<Box<dyn Future<Output = _> + Send>> =
            Box::pin(bare(Arc::clone(&state), req));
        response
    })
    .await
}

/// The bare server's state.
#[derive(Default)]
struct Bare {
    room: BareRoom,
    streams: BareStreams,
}

/// The bare server's held streaming responses by id, each with the queue of lines to write
/// into it: what a hyper application without SockJS keeps to push data into open responses.
#[derive(Default)]
struct BareStreams {
    next: AtomicU64,
    open: Mutex<HashMap<String, (u64, tokio::sync::mpsc::Sender<Bytes>)>>,
}

/// Lines a held stream may have waiting; a send beyond that waits for room.
const BARE_STREAM_QUEUE: usize = 16;

/// Held streams the bare server keeps at most; more are refused with 503.
const BARE_MAX_STREAMS: usize = 100_000;

/// Removes its stream from [`BareStreams`] when the response is dropped (finished or its
/// client gone), unless a newer stream took the id meanwhile.
struct Unregister {
    state: Arc<Bare>,
    id: String,
    generation: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        if let Ok(mut open) = self.state.streams.open.lock() {
            if open
                .get(&self.id)
                .is_some_and(|(g, _)| *g == self.generation)
            {
                open.remove(&self.id);
            }
        }
    }
}

/// `POST /stream/<id>`: hold a streaming response open under `id` (replacing an older one).
fn bare_stream_open(state: Arc<Bare>, id: &str) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::channel(BARE_STREAM_QUEUE);
    let generation = state.streams.next.fetch_add(1, Ordering::Relaxed);
    {
        let Ok(mut open) = state.streams.open.lock() else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "poisoned\n");
        };
        if open.len() >= BARE_MAX_STREAMS && !open.contains_key(id) {
            return text(StatusCode::SERVICE_UNAVAILABLE, "too many streams\n");
        }
        open.insert(id.to_string(), (generation, tx));
    }
    let held = (
        rx,
        Unregister {
            state,
            id: id.to_string(),
            generation,
        },
    );
    let lines = futures::stream::unfold(held, |(mut rx, unregister)| async move {
        let line = rx.recv().await?;
        Some((Ok(Frame::data(line)), (rx, unregister)))
    });
    let first = futures::stream::once(async { Ok(Frame::data(Bytes::from_static(b"open\n"))) });
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(first.chain(lines))));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

/// `POST /stream/<id>/send`: put the body, as one line, into the stream `id`; 204 once it is
/// queued, 404 without such a stream.
async fn bare_stream_send(
    state: Arc<Bare>,
    id: &str,
    body: Incoming,
) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let Ok(body) = Limited::new(body, BARE_MAX_BODY).collect().await else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n");
    };
    let mut line = BytesMut::from(body.to_bytes());
    line.extend_from_slice(b"\n");
    let stream = state
        .streams
        .open
        .lock()
        .ok()
        .and_then(|open| open.get(id).map(|(_, tx)| tx.clone()));
    match stream {
        Some(tx) if tx.send(line.freeze()).await.is_ok() => empty(StatusCode::NO_CONTENT),
        _ => text(StatusCode::NOT_FOUND, "no such stream\n"),
    }
}

/// The bare broadcast room: each member's queue of outgoing messages (what a plain
/// tokio-tungstenite server without SockJS would do).
#[derive(Default)]
struct BareRoom {
    next: AtomicU64,
    members: Mutex<HashMap<u64, tokio::sync::mpsc::Sender<Message>>>,
}

/// Messages a bare broadcast member may have waiting before it misses some.
const BARE_MEMBER_QUEUE: usize = 1024;

/// One member of the bare room: send what it receives to everyone, write what the room sends
/// it (a burst with one flush).
async fn bare_member<S>(state: Arc<Bare>, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let room = &state.room;
    let id = room.next.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::channel(BARE_MEMBER_QUEUE);
    if let Ok(mut m) = room.members.lock() {
        m.insert(id, tx);
    }
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(mut message) = out else { break };
                loop {
                    if ws.feed(message).await.is_err() {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(next) => message = next,
                        Err(_) => break,
                    }
                }
                if ws.flush().await.is_err() {
                    break;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(message @ Message::Text(_))) => {
                    if let Ok(members) = room.members.lock() {
                        for member in members.values() {
                            // A slow member is skipped rather than stalling the room.
                            let _ = member.try_send(message.clone());
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Ok(mut m) = room.members.lock() {
        m.remove(&id);
    }
    let _ = ws.flush().await;
}

/// The bare server's websocket settings: the read buffer sockjs-rs uses, so the comparison
/// is about the protocol work rather than buffer tuning; writes are batched until a flush.
fn bare_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(8 * 1024 * 1024)
        .max_message_size(Some(4 * 1024 * 1024))
        .max_frame_size(Some(4 * 1024 * 1024))
}

async fn bare(
    state: Arc<Bare>,
    mut req: Request<Incoming>,
) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let broadcast = req.uri().path().starts_with("/broadcast");
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    return;
                }
            };
            let mut ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(bare_ws_config()),
            )
            .await;
            if broadcast {
                return bare_member(state, ws).await;
            }
            // Echo every message; flush when nothing more has arrived, so that a burst is
            // answered with one write.
            'read: while let Some(Ok(mut message)) = ws.next().await {
                loop {
                    if message.is_close() {
                        break 'read;
                    }
                    // Pings are answered by tungstenite itself; pongs are ignored.
                    let echo = message.is_text() || message.is_binary();
                    if echo && ws.feed(message).await.is_err() {
                        break 'read;
                    }
                    match ws.next().now_or_never() {
                        Some(Some(Ok(next))) => message = next,
                        Some(_) => break 'read,
                        None => break,
                    }
                }
                if ws.flush().await.is_err() {
                    break;
                }
            }
            // tungstenite has queued the close reply; send it.
            let _ = ws.flush().await;
        });
        let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
        let h = r.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        return r;
    }
    if req.method() != Method::POST {
        return text(StatusCode::OK, "bare\n");
    }
    if let Some(rest) = req.uri().path().strip_prefix("/stream/") {
        return match rest.strip_suffix("/send") {
            Some(id) => {
                let id = id.to_string();
                bare_stream_send(state, &id, req.into_body()).await
            }
            None if !rest.is_empty() => bare_stream_open(state, rest),
            None => text(StatusCode::NOT_FOUND, "no such stream\n"),
        };
    }
    match Limited::new(req.into_body(), BARE_MAX_BODY).collect().await {
        Ok(body) => {
            let mut r = Response::new(Full::new(body.to_bytes()).boxed_unsync());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            );
            r
        }
        Err(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "too large\n"),
    }
}

/// Start a server (`serve_sockjs` or `serve_bare`) on `127.0.0.1:0` on a background thread
/// with its own runtime; returns its address. The server lives as long as the process.
pub fn spawn_background<S, F>(serve: S) -> std::io::Result<std::net::SocketAddr>
where
    S: FnOnce(TcpListener) -> F + Send + 'static,
    F: Future<Output = std::io::Result<()>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        runtime.block_on(async move {
            let listener = match TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(listener.local_addr());
            if let Err(e) = serve(listener).await {
                tracing::error!(error = %e, "server stopped");
            }
        });
    });
    rx.recv()
        .map_err(|_| std::io::Error::other("the server thread died before binding"))?
}

/// Log to stderr with `RUST_LOG` as the filter (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// The body of the server binaries' `main`: a multi-threaded runtime (one worker per CPU
/// the process may use), bind `listen`, call `on_bound` with the address, serve until Ctrl-C
/// or SIGTERM.
pub fn run_server<S, F>(
    listen: std::net::SocketAddr,
    serve: S,
    on_bound: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()>
where
    S: FnOnce(TcpListener) -> F,
    F: Future<Output = std::io::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen).await?;
        on_bound(listener.local_addr()?);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = serve(listener) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
        }
    })
}

//! The SockJS conformance test server.
//!
//! It serves the endpoints the sockjs-protocol 0.3.3 suite and sockjs-client's own tests
//! expect, each a [`SockJs`] endpoint mounted in one hyper server:
//!
//! | prefix                      | behaviour                                                |
//! |-----------------------------|----------------------------------------------------------|
//! | `/echo`                     | echo; response limit 4096 so streaming limits are testable |
//! | `/disabled_websocket_echo`  | echo with websockets off                                 |
//! | `/cookie_needed_echo`       | echo with JSESSIONID cookies                             |
//! | `/close`                    | closes every new session with `3000 "Go away!"`          |
//! | `/ticker`                   | `tick!` one second after open, then every second         |
//! | `/broadcast`                | every message to every open session, the sender's too    |
//! | `/amplify`                  | message `m` answers `2^n` `x` characters, see below      |
//! | `/stomp`                    | a STOMP 1.0–1.2 broker with Spring's defaults, see below |
//!
//! The endpoints answer as sockjs-node's test server does, since sockjs-client's own tests
//! are written against it. `/amplify` reads `n` as JavaScript's `Math.floor(Number(m))`
//! ([`js_number`]) and uses 1 when `n` is outside 1..=18 (so `19` answers `xx`).
//!
//! `/stomp` is a [`StompBroker`] with Spring's default conventions, so that any STOMP client
//! (stompjs over sockjs-client, a benchmark) can test against it: application prefix `/app`,
//! broker prefixes `/topic` and `/queue`, user prefix `/user`, server heart-beat
//! `10000,10000`. It accepts any `CONNECT` and takes its `login` header as the user name
//! (none: anonymous). A `SEND` to `/app/echo` publishes the same body and `content-type` to
//! `/topic/echo` ([`stomp_echo`]). Everything else is the broker's own behaviour: `/topic/..`
//! and `/queue/..` fan out to their subscribers, `/user/NAME/queue/..` reaches NAME's
//! sessions.
//!
//! [`spawn_background`] starts it in-process on a loopback port; the black-box tests in
//! `tests/` talk to it over TCP exactly as an external client would (or to any server given
//! by `SOCKJS_URL`). [`spawn_endpoints`] serves a test's own endpoints (other limits, other
//! applications) the same way.
//!
//! # Cluster mode (`--redis`)
//!
//! With [`ServerOptions::cluster`] (the binary's `--redis redis://HOST:PORT`), the server is
//! one node of a cluster sharing that Redis (see the `sockjs-redis` crate), and only
//! `/broadcast` changes:
//!
//! - it is **cluster-wide**: a message sent on any node reaches every `/broadcast` session on
//!   every node, once, in order per sender node (the endpoint's hub has the Redis backend;
//!   the other endpoints keep their own in-process hubs);
//! - a session opened with `?user=NAME` in its URL (sockjs-client keeps a query string of its
//!   base URL, e.g. `new SockJS("http://node/broadcast?user=alice")`) is logged in as `NAME`,
//!   so it counts in the cluster's presence;
//! - `GET /metrics` answers the Prometheus text of `/broadcast`'s endpoint, its hub (cluster
//!   presence, cross-node traffic, gaps and duplicates per origin node) and the Redis backend
//!   (`sockjs_redis_up`, outbox, reconnects, ...).
//!
//! - `/stomp` uses the same hub, so its topics and user destinations span the nodes too, and
//!   `/metrics` includes its statistics.
//!
//! Without it, nothing differs from the single-process server.
#![deny(missing_docs)]

pub mod js_number;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sockjs_hyper::hub::Hub;
use sockjs_hyper::{Config, Connection, ResponseBody, SockJs};
use sockjs_redis::{RedisBackend, RedisConfig, RedisError};
use sockjs_stomp::broker::{AppMessage, BuildError, Message, StompBroker};

/// Options of the conformance server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Heartbeat interval of every endpoint (protocol default 25 s).
    pub heartbeat: Duration,
    /// Client library URL written into the iframe page.
    pub sockjs_url: String,
    /// How long a client may take to send a request head before its connection is dropped
    /// (slow-client protection, a hyper server setting).
    pub header_read_timeout: Duration,
    /// Cluster mode: `/broadcast` spans every node of the cluster (see the crate docs).
    pub cluster: Option<Cluster>,
}

/// A node's place in a cluster: the hub `/broadcast` uses, with its Redis backend.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The hub, with the backend.
    pub hub: Hub,
    /// The backend (for `/metrics` and a clean shutdown).
    pub redis: RedisBackend,
}

impl Cluster {
    /// Connect to Redis with `config` and build the hub; waits (at most the connect timeout
    /// again) until the node is registered, so that `/broadcast` spans the cluster from its
    /// first session on.
    pub async fn connect(config: RedisConfig) -> Result<Cluster, RedisError> {
        let wait = config.connect_timeout;
        let redis = RedisBackend::connect(config).await?;
        let hub = Hub::with_backend(redis.clone());
        if !redis.wait_until_up(wait).await {
            tracing::warn!("not registered in the cluster yet; /broadcast is local until it is");
        }
        Ok(Cluster { hub, redis })
    }

    /// The Prometheus text of `endpoint` (the `/broadcast` endpoint), its hub and the backend.
    pub fn metrics(&self, endpoint: &SockJs) -> String {
        let mut out = endpoint.stats().to_prometheus(endpoint.prefix());
        out.push_str(&self.hub.stats().to_prometheus(endpoint.prefix()));
        out.push_str(&self.redis.stats().to_prometheus(endpoint.prefix()));
        out
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            heartbeat: Duration::from_secs(25),
            sockjs_url: sockjs_hyper::core::DEFAULT_SOCKJS_URL.into(),
            header_read_timeout: Duration::from_secs(30),
            cluster: None,
        }
    }
}

/// The conformance endpoints.
#[derive(Clone, Debug)]
pub struct ConformanceApp {
    endpoints: Arc<Vec<SockJs>>,
    cluster: Option<(Cluster, SockJs)>,
    stomp: Option<StompBroker>,
}

/// `/stomp`'s handler of `/app/echo`: the same body and `content-type` to `/topic/echo`.
pub async fn stomp_echo(message: AppMessage) {
    let broker = message.broker().clone();
    let mut echo = Message::new(message.body);
    echo.content_type = message.content_type;
    if let Err(e) = broker.publish("/topic/echo", echo) {
        tracing::warn!(error = %e, "echo not published");
    }
}

/// The `/stomp` broker (see the crate docs) on `hub` (its own when `None`), with the SockJS
/// settings `sockjs`.
pub fn stomp_broker(sockjs: Config, hub: Option<Hub>) -> Result<StompBroker, BuildError> {
    let mut builder = StompBroker::builder("/stomp")
        .sockjs_config(sockjs)
        .authenticator(|info| {
            let user = info.login().filter(|l| !l.is_empty()).map(str::to_owned);
            async move { Ok(user) }
        })
        .route("/echo", stomp_echo);
    if let Some(hub) = hub {
        builder = builder.hub(hub);
    }
    builder.build()
}

async fn echo(mut conn: Connection) {
    while let Some(message) = conn.recv().await {
        if conn.send(message).await.is_err() {
            break;
        }
    }
}

async fn close(conn: Connection) {
    conn.close(3000, "Go away!");
}

/// `tick!` a second after the session opens and every second after that, until it closes;
/// the client's messages are read and ignored. A late tick is not made up for with a burst
/// (as a JavaScript interval timer does not).
async fn ticker(mut conn: Connection) {
    let period = Duration::from_secs(1);
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = conn.recv() => if message.is_none() { break },
            _ = interval.tick() => if conn.send("tick!").await.is_err() { break },
        }
    }
}

/// `2^n` `x` characters for each message, `n` as sockjs-node's test server computes it.
async fn amplify(mut conn: Connection) {
    while let Some(message) = conn.recv().await {
        let n = js_number::amplify_exponent(&message);
        if conn.send("x".repeat(1 << n)).await.is_err() {
            break;
        }
    }
}

/// Every message to every open session of the endpoint, through the endpoint's hub (its own
/// here; with a cluster backend, every `/broadcast` session of every node): a hub broadcast
/// goes through the endpoint's session table, where a session is before its client receives
/// `o`, so no early message is missed.
async fn broadcast(mut conn: Connection) {
    let hub = conn.hub().clone();
    while let Some(message) = conn.recv().await {
        // Never waits: a slow member is skipped rather than stalling the others.
        let _ = hub.broadcast(&message);
    }
}

/// `/broadcast` in cluster mode: as [`broadcast`], after logging the session in as the
/// `user` of its URL's query string, if any.
async fn cluster_broadcast(conn: Connection) {
    let user = conn.request().uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(user) = user {
        if let Err(e) = conn.login(&user).await {
            tracing::debug!(error = %e, "login refused");
        }
    }
    broadcast(conn).await
}

impl ConformanceApp {
    /// Build the endpoints.
    pub fn new(opts: &ServerOptions) -> Result<Self, BuildError> {
        let base = {
            let mut c = Config::default();
            c.heartbeat_interval = opts.heartbeat;
            c.sockjs_url = opts.sockjs_url.clone();
            // The suite's Websocket.test_haproxy performs the legacy handshake.
            c.hixie76 = true;
            c
        };
        let mut echo_cfg = base.clone();
        echo_cfg.response_limit = 4096;
        let mut no_ws = base.clone();
        no_ws.websocket = false;
        let mut cookie = base.clone();
        cookie.cookie_needed = true;
        let mut endpoints = vec![
            SockJs::new("/echo", echo_cfg, echo)?,
            SockJs::new("/disabled_websocket_echo", no_ws, echo)?,
            SockJs::new("/cookie_needed_echo", cookie, echo)?,
            SockJs::new("/close", base.clone(), close)?,
            SockJs::new("/ticker", base.clone(), ticker)?,
            SockJs::new("/amplify", base.clone(), amplify)?,
        ];
        let stomp = stomp_broker(base.clone(), opts.cluster.as_ref().map(|c| c.hub.clone()))?;
        endpoints.push(stomp.endpoint().clone());
        let cluster = match &opts.cluster {
            None => {
                endpoints.push(SockJs::new("/broadcast", base, broadcast)?);
                None
            }
            Some(cluster) => {
                let endpoint = SockJs::builder("/broadcast")
                    .config(base)
                    .hub(cluster.hub.clone())
                    .build(cluster_broadcast)?;
                endpoints.push(endpoint.clone());
                Some((cluster.clone(), endpoint))
            }
        };
        Ok(ConformanceApp {
            endpoints: Arc::new(endpoints),
            cluster,
            stomp: Some(stomp),
        })
    }

    /// An app serving `endpoints` instead of the conformance ones.
    pub fn with_endpoints(endpoints: Vec<SockJs>) -> Self {
        ConformanceApp {
            endpoints: Arc::new(endpoints),
            cluster: None,
            stomp: None,
        }
    }

    /// Answer one request: the endpoint whose prefix matches, else 404.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<ResponseBody> {
        let path = req.uri().path();
        if let (Some((cluster, endpoint)), "/metrics") = (&self.cluster, path) {
            let mut text = cluster.metrics(endpoint);
            if let Some(stomp) = &self.stomp {
                text.push_str(&stomp.stats().to_prometheus(stomp.endpoint().prefix()));
            }
            let mut r = Response::new(Full::new(Bytes::from(text)).boxed_unsync());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return r;
        }
        match self.endpoints.iter().find(|e| e.matches(path)) {
            Some(endpoint) => endpoint.with_peer_addr(peer).handle(req).await,
            None => {
                let mut r =
                    Response::new(Full::new(Bytes::from_static(b"404 Not Found\n")).boxed_unsync());
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

/// Serve the conformance endpoints on `listener` until the future is dropped.
///
/// Every connection may speak HTTP/1.1 (websocket upgrades included) or HTTP/2 with prior
/// knowledge (h2c), told apart by hyper-util's `auto` builder from the first bytes. Over
/// HTTP/2 the websocket transport is served as RFC 8441 extended `CONNECT`.
pub async fn serve(listener: tokio::net::TcpListener, opts: ServerOptions) -> std::io::Result<()> {
    let app = ConformanceApp::new(&opts).map_err(std::io::Error::other)?;
    serve_app(listener, app, opts).await
}

/// Serve `app` on `listener` (with `opts.header_read_timeout`) until the future is dropped.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: ConformanceApp,
    opts: ServerOptions,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of file descriptors must not end the server: back off.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = Arc::clone(&builder);
        let first_request_within = opts.header_read_timeout;
        tokio::spawn(async move {
            let first_request = Arc::new(AtomicBool::new(false));
            let seen = Arc::clone(&first_request);
            let service = service_fn(move |req| {
                seen.store(true, Ordering::Relaxed);
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = first_request_or_drop(conn, first_request_within, &first_request).await
            {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}

/// Drive `conn`, but drop it if no request arrived within `limit`. hyper's
/// `header_read_timeout` bounds an HTTP/1.1 request head only once hyper knows the connection
/// is HTTP/1.1; before that, the `auto` builder waits for the first bytes (to tell the HTTP/2
/// preface apart) for as long as the client likes. This bounds that wait, and the HTTP/2
/// handshake, like an unfinished request head.
async fn first_request_or_drop<F, E>(
    conn: F,
    limit: Duration,
    first_request: &AtomicBool,
) -> Result<(), E>
where
    F: std::future::Future<Output = Result<(), E>>,
{
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => return done,
        () = tokio::time::sleep(limit) => {}
    }
    if !first_request.load(Ordering::Relaxed) {
        tracing::debug!("no request within the header read timeout; connection dropped");
        return Ok(());
    }
    conn.await
}

/// Start the server on `127.0.0.1:0` on a background thread with its own runtime; returns its
/// address. The server lives as long as the process.
pub fn spawn_background(opts: ServerOptions) -> SocketAddr {
    spawn_app(opts, ConformanceApp::new)
}

/// Serve `endpoints` (the one whose prefix matches a request; 404 elsewhere) on `127.0.0.1:0`
/// on a background thread with its own runtime, like [`spawn_background`]; returns the
/// address. Keep clones of the endpoints to read their statistics.
pub fn spawn_endpoints(endpoints: Vec<SockJs>) -> SocketAddr {
    spawn_app(ServerOptions::default(), move |_| {
        Ok(ConformanceApp::with_endpoints(endpoints))
    })
}

fn spawn_app(
    opts: ServerOptions,
    app: impl FnOnce(&ServerOptions) -> Result<ConformanceApp, BuildError> + Send + 'static,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
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
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let app = match app(&opts) {
                Ok(app) => app,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e)));
                    return;
                }
            };
            let addr = listener.local_addr();
            let _ = tx.send(addr);
            if let Err(e) = serve_app(listener, app, opts).await {
                tracing::error!(error = %e, "conformance server stopped");
            }
        });
    });
    match rx.recv() {
        Ok(Ok(addr)) => addr,
        Ok(Err(e)) => panic!("conformance server failed to start: {e}"),
        Err(_) => panic!("conformance server thread died before binding"),
    }
}

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
//!   (`sockjs_redis_up`, outbox, reconnects, ...);
//! - [`Cluster::login_policy`] (the binary's `--login-policy allow|replace|refuse`) is
//!   `/broadcast`'s duplicate-login policy, cluster-wide (default `allow`);
//! - two small **admin routes** let an external suite look at a node and act on the cluster
//!   (unauthenticated, like the rest of this test server: never expose it):
//!   - `GET /cluster` answers JSON: this node's id, whether it is up, its `/broadcast`
//!     sessions, its logged-in users with their session counts (`local`), and the cluster's
//!     presence as this node sees it (`presence`):
//!     `{"node":"000000000000000a","up":true,"sessions":3,"local":{"alice":1},"presence":{"alice":2,"bob":1}}`;
//!   - `POST /cluster/kick?user=NAME[&code=4001][&reason=Kicked]` closes every session of
//!     `NAME` on every node with that code (4000–4999, default 4001) and reason (default
//!     `Kicked`), through [`Hub::kick_user`]; it answers JSON
//!     `{"local":N,"published":true}` (the sessions closed on this node, and whether the kick
//!     went to the other nodes), or 503 with the error when it did not reach them.
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
use sockjs_hyper::hub::{Hub, HubError, LoginPolicy};
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
    /// `/broadcast`'s duplicate-login policy (default [`LoginPolicy::Allow`]).
    pub login_policy: LoginPolicy,
}

impl Cluster {
    /// Connect to Redis with `config` and build the hub with a random node id; see
    /// [`Cluster::connect_as`].
    pub async fn connect(config: RedisConfig) -> Result<Cluster, RedisError> {
        Cluster::connect_as(config, None).await
    }

    /// Connect to Redis with `config` and build the hub, as node `node` when given (else a
    /// random id); waits until the node is registered, so that `/broadcast` spans the
    /// cluster from its first session on: at most the connect timeout when Redis is slow to
    /// answer, and up to the liveness TTL more when the id's previous process died without
    /// leaving (its key must expire first). Fails with [`RedisError::NodeIdInUse`] when
    /// another live process holds the id.
    pub async fn connect_as(
        config: RedisConfig,
        node: Option<sockjs_hyper::hub::NodeId>,
    ) -> Result<Cluster, RedisError> {
        let wait = config.connect_timeout + config.liveness_ttl;
        let redis = RedisBackend::connect(config).await?;
        let mut builder = Hub::builder().backend(redis.clone());
        if let Some(node) = node {
            builder = builder.node(node);
        }
        let hub = builder
            .build()
            .unwrap_or_else(|_| unreachable!("the default hub configuration is valid"));
        match redis.joined(wait).await {
            Ok(()) => {}
            Err(e @ RedisError::NodeIdInUse { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "not registered in the cluster yet; /broadcast is local until it is");
            }
        }
        Ok(Cluster {
            hub,
            redis,
            login_policy: LoginPolicy::Allow,
        })
    }

    /// `GET /cluster`: this node as JSON (see the crate docs).
    pub fn describe(&self, endpoint: &SockJs) -> String {
        let stats = self.hub.stats();
        let local: serde_json::Map<String, serde_json::Value> = self
            .hub
            .presence()
            .iter()
            .filter_map(|(user, _)| {
                let here = self.hub.sessions_of(user).len();
                (here > 0).then(|| (user.to_string(), here.into()))
            })
            .collect();
        let presence: serde_json::Map<String, serde_json::Value> = self
            .hub
            .presence()
            .iter()
            .map(|(user, n)| (user.to_string(), n.into()))
            .collect();
        serde_json::json!({
            "node": stats.node.to_string(),
            "up": self.redis.is_up(),
            "sessions": endpoint.sessions().len(),
            "local": local,
            "presence": presence,
        })
        .to_string()
    }

    /// `POST /cluster/kick?user=NAME[&code=4001][&reason=Kicked]` (see the crate docs).
    pub fn kick(&self, query: Option<&str>) -> (StatusCode, String) {
        let (mut user, mut code, mut reason) = (None, 4001u16, "Kicked".to_string());
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "user" => user = Some(v.into_owned()),
                "code" => match v.parse() {
                    Ok(c @ 4000..=4999) => code = c,
                    _ => return (StatusCode::BAD_REQUEST, "code: 4000 to 4999\n".into()),
                },
                "reason" => reason = v.into_owned(),
                _ => {}
            }
        }
        let Some(user) = user else {
            return (StatusCode::BAD_REQUEST, "user= is required\n".into());
        };
        match self.hub.kick_user(&user, code, &reason) {
            Ok(d) => (
                StatusCode::OK,
                serde_json::json!({"local": d.sent, "published": d.published}).to_string(),
            ),
            Err(HubError::Cluster { local, cause }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"local": local.sent, "published": false, "error": cause.to_string()})
                    .to_string(),
            ),
            Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
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
                    .login_policy(cluster.login_policy)
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
        if let Some((cluster, endpoint)) = &self.cluster {
            let answer = match (req.method(), path) {
                (_, "/metrics") => {
                    let mut text = cluster.metrics(endpoint);
                    if let Some(stomp) = &self.stomp {
                        text.push_str(&stomp.stats().to_prometheus(stomp.endpoint().prefix()));
                    }
                    Some((StatusCode::OK, "text/plain; version=0.0.4", text))
                }
                (&http::Method::GET, "/cluster") => Some((
                    StatusCode::OK,
                    "application/json",
                    cluster.describe(endpoint),
                )),
                (&http::Method::POST, "/cluster/kick") => {
                    let (status, body) = cluster.kick(req.uri().query());
                    Some((status, "application/json", body))
                }
                _ => None,
            };
            if let Some((status, content_type, body)) = answer {
                let mut r = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
                *r.status_mut() = status;
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(content_type),
                );
                return r;
            }
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

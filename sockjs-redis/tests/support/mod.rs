//! Shared by the Redis integration tests: a node (a hub with a `RedisBackend` and a SockJS
//! endpoint served over real TCP on a loopback port), a SockJS websocket client, and polling
//! with a deadline (never a timing assertion).

#![allow(dead_code)] // each test file uses part of it
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sockjs_hyper::hub::{Hub, LoginPolicy, NodeId};
use sockjs_hyper::{Connection, SockJs};
use sockjs_redis::testing::RedisServer;
use sockjs_redis::{RedisBackend, RedisConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any condition may take before a test gives up (generous: the machine is shared).
pub const PATIENCE: Duration = Duration::from_secs(40);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sockjs_redis=info".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn redis() -> RedisServer {
    init_tracing();
    RedisServer::start().expect("start redis-server (Debian package redis-server)")
}

/// Short TTL and intervals so that failure tests finish quickly; the logic is the same.
pub fn config(url: &str) -> RedisConfig {
    let mut c = RedisConfig::new(url);
    c.cluster = "test".into();
    c.liveness_ttl = Duration::from_millis(2000);
    c.refresh_interval = Duration::from_millis(400);
    c.connect_timeout = Duration::from_millis(1000);
    c.command_timeout = Duration::from_millis(1000);
    c.reconnect_min = Duration::from_millis(50);
    c.reconnect_max = Duration::from_millis(400);
    c
}

/// Subscribers of a channel of the test cluster (`PUBSUB NUMSUB sockjs:{test}:<channel>`).
pub fn subscribers(redis: &RedisServer, channel: &str) -> usize {
    let out = redis
        .cli(&["PUBSUB", "NUMSUB", &format!("sockjs:{{test}}:{channel}")])
        .unwrap();
    out.lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Poll `check` until it is true; fail with `what` after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not true after {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One node: a hub with a Redis backend, and a `/s` endpoint with [`handler`] on a loopback
/// port.
pub struct Node {
    pub hub: Hub,
    pub redis: RedisBackend,
    pub sockjs: SockJs,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Node {
    pub async fn start(config: RedisConfig, policy: LoginPolicy) -> Node {
        let redis = RedisBackend::connect(config).await.expect("connect");
        Node::with_backend(redis, policy).await
    }

    pub async fn with_backend(redis: RedisBackend, policy: LoginPolicy) -> Node {
        let hub = Hub::with_backend(redis.clone());
        Node::with_hub(hub, redis, policy).await
    }

    /// A node with a chosen node id.
    pub async fn start_as(config: RedisConfig, node: NodeId, policy: LoginPolicy) -> Node {
        let redis = RedisBackend::connect(config).await.expect("connect");
        let hub = Hub::builder()
            .node(node)
            .backend(redis.clone())
            .build()
            .unwrap();
        Node::with_hub(hub, redis, policy).await
    }

    pub async fn with_hub(hub: Hub, redis: RedisBackend, policy: LoginPolicy) -> Node {
        let sockjs = SockJs::builder("/s")
            .hub(hub.clone())
            .login_policy(policy)
            .build(handler)
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, sockjs.clone()));
        Node {
            hub,
            redis,
            sockjs,
            addr,
            server,
        }
    }

    pub async fn up(&self) {
        assert!(
            self.redis.wait_until_up(PATIENCE).await,
            "node never came up"
        );
    }

    pub async fn client(&self) -> Client {
        Client::open(self.addr).await
    }

    pub fn presence(&self) -> Vec<(String, usize)> {
        self.hub
            .presence()
            .iter()
            .map(|(u, n)| (u.to_string(), n))
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: tokio::net::TcpListener, sockjs: SockJs) {
    while let Ok((stream, peer)) = listener.accept().await {
        let sockjs = sockjs.with_peer_addr(peer);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let sockjs = sockjs.clone();
                async move { Ok::<_, Infallible>(sockjs.handle(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The test endpoint's handler. A message starting with `!` is a command, answered with
/// `=<answer>`; the session's other output is what the hub delivers to it.
///
/// `!login NAME`, `!join ROOM`, `!say ROOM TEXT` (hub.send_to_room).
pub async fn handler(mut conn: Connection) {
    while let Some(m) = conn.recv().await {
        let Some(command) = m.strip_prefix('!') else {
            continue;
        };
        let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
        let answer = match verb {
            "login" => match conn.login(rest).await {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("refused: {e}"),
            },
            "join" => format!("{:?}", conn.join(rest).map(|_| ())),
            "say" => {
                let (room, text) = rest.split_once(' ').unwrap_or((rest, ""));
                match conn.hub().send_to_room(room, text) {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("error: {e}"),
                }
            }
            other => format!("no such command {other}"),
        };
        if conn.send(format!("={answer}")).await.is_err() {
            break;
        }
    }
}

/// What a client saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Message(String),
    Closed(u16, String),
}

/// A SockJS client over a real websocket.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages received while waiting for a command's answer.
    backlog: std::collections::VecDeque<Seen>,
}

static SESSION: AtomicU64 = AtomicU64::new(0);

impl Client {
    pub async fn open(addr: SocketAddr) -> Client {
        let n = SESSION.fetch_add(1, Ordering::Relaxed);
        let url = format!("ws://{addr}/s/000/t{}x{n}/websocket", std::process::id());
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Client {
            ws,
            backlog: Default::default(),
        };
        match client.frame().await {
            Some(f) if f == "o" => {}
            other => panic!("expected the open frame, got {other:?}"),
        }
        client
    }

    async fn frame(&mut self) -> Option<String> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Err(_) => panic!("nothing received for {PATIENCE:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Text(t)))) => return Some(t.to_string()),
                Ok(Some(Ok(Message::Close(_)))) => return None,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn send(&mut self, text: &str) {
        let frame = serde_json::to_string(&[text]).unwrap();
        self.ws.send(Message::text(frame)).await.unwrap();
    }

    /// The next thing seen (messages one by one), `None` once the connection ended.
    pub async fn next(&mut self) -> Option<Seen> {
        if let Some(s) = self.backlog.pop_front() {
            return Some(s);
        }
        loop {
            let frame = self.frame().await?;
            match frame.as_bytes().first() {
                Some(b'a') => {
                    let messages: Vec<String> = serde_json::from_str(&frame[1..]).unwrap();
                    self.backlog.extend(messages.into_iter().map(Seen::Message));
                    if let Some(s) = self.backlog.pop_front() {
                        return Some(s);
                    }
                }
                Some(b'c') => {
                    let (code, reason): (u16, String) = serde_json::from_str(&frame[1..]).unwrap();
                    return Some(Seen::Closed(code, reason));
                }
                _ => {} // heartbeat
            }
        }
    }

    /// Run a command and return its answer (`closed <code>` when the session is closed
    /// instead); what arrives meanwhile stays for [`Client::next`].
    pub async fn cmd(&mut self, command: &str) -> String {
        self.send(&format!("!{command}")).await;
        let mut kept = std::collections::VecDeque::new();
        loop {
            match self.next().await {
                Some(Seen::Message(m)) if m.starts_with('=') => {
                    kept.extend(self.backlog.drain(..));
                    self.backlog = kept;
                    return m[1..].to_string();
                }
                Some(Seen::Closed(code, reason)) => {
                    kept.push_back(Seen::Closed(code, reason));
                    self.backlog = kept;
                    return format!("closed {code}");
                }
                Some(other) => kept.push_back(other),
                None => panic!("connection ended while waiting for the answer to {command}"),
            }
        }
    }

    /// The next `n` messages (panics on a close or after [`PATIENCE`]).
    pub async fn messages(&mut self, n: usize) -> Vec<String> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            match self.next().await {
                Some(Seen::Message(m)) => v.push(m),
                other => panic!("after {} of {n} messages: {other:?}", v.len()),
            }
        }
        v
    }

    /// Wait for the close frame; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next().await {
                Some(Seen::Closed(code, reason)) => return (code, reason),
                Some(Seen::Message(_)) => {}
                None => panic!("the connection ended without a close frame"),
            }
        }
    }

    /// Close from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Run futures concurrently and collect their results (for racing logins).
pub async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

//! The conformance server's cluster mode (`--redis`), black-box: separate server processes
//! sharing one real redis-server, real websocket clients, and SIGKILL of a node.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{decode_messages, session_id, ws_connect_url, ws_next, ws_send, Ws, WsEvent};
use sockjs_hyper::hub::Hub;
use sockjs_redis::testing::RedisServer;
use sockjs_redis::{RedisBackend, RedisConfig};

/// Generous bound on any condition (the machine is shared); never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(40);
const CLUSTER: &str = "conformance-test";
/// The nodes' liveness TTL (short, so the SIGKILL test is quick; the logic is the default's).
const TTL_SECS: f64 = 1.5;

/// A `sockjs-conformance-server --redis` child process; SIGKILLed when dropped.
struct NodeProcess {
    child: Child,
    addr: SocketAddr,
}

fn command(redis: &RedisServer, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockjs-conformance-server"));
    command
        .args(["--listen", "127.0.0.1:0", "--redis", &redis.url()])
        .args(["--cluster", CLUSTER])
        .args(["--liveness-ttl-secs", &TTL_SECS.to_string()])
        .args(extra);
    command
}

/// A cluster-mode server with its log (stderr) piped.
fn spawn(redis: &RedisServer, extra: &[&str]) -> Child {
    command(redis, extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

impl NodeProcess {
    fn start(redis: &RedisServer) -> NodeProcess {
        NodeProcess::start_with(redis, &[])
    }

    fn start_with(redis: &RedisServer, extra: &[&str]) -> NodeProcess {
        let mut child = spawn(redis, extra);
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the log: the listening address, then keep draining (a full pipe would block
        // the server).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    if let Some(addr) = line.split("addr=").nth(1) {
                        let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                    }
                }
            }
        });
        let addr = rx
            .recv_timeout(PATIENCE)
            .expect("the server logs its address")
            .parse()
            .unwrap();
        let node = NodeProcess { child, addr };
        let deadline = Instant::now() + PATIENCE;
        while metric(&node.metrics(), "sockjs_redis_up") != 1 {
            assert!(Instant::now() < deadline, "node never joined the cluster");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    fn metrics(&self) -> String {
        let (status, body) = self.http("GET", "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// One request without a body: the status and the body.
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_string())
    }

    /// `GET /cluster`, parsed.
    fn describe(&self) -> serde_json::Value {
        let (status, body) = self.http("GET", "/cluster");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn session(&self, query: &str) -> Ws {
        let url = format!(
            "ws://{}/broadcast/000/{}/websocket{query}",
            self.addr,
            session_id()
        );
        let mut ws = ws_connect_url(&url).await;
        assert_eq!(text(&mut ws).await, "o");
        ws
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of a metric's samples in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn text(ws: &mut Ws) -> String {
    match ws_next(ws).await {
        WsEvent::Text(t) => t,
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// The next `n` messages (heartbeats skipped).
async fn messages(ws: &mut Ws, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let frame = text(ws).await;
        if frame.starts_with('a') {
            got.extend(decode_messages(&frame));
        }
    }
    got
}

/// The close frame, after whatever comes before it.
async fn close_frame(ws: &mut Ws) -> String {
    loop {
        match ws_next(ws).await {
            WsEvent::Text(t) if t.starts_with('c') => return t,
            WsEvent::Text(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

fn redis() -> RedisServer {
    RedisServer::start().expect("start redis-server (Debian package redis-server)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_session_of_both_nodes_once_in_order_per_sender() {
    let redis = redis();
    let nodes = [NodeProcess::start(&redis), NodeProcess::start(&redis)];
    let mut sessions = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            sessions.push(node.session("").await);
        }
    }
    // One sender per node, interleaved.
    const PER_SENDER: usize = 30;
    for i in 0..PER_SENDER {
        for (s, sender) in [0usize, 2].into_iter().enumerate() {
            let message = format!("[\"n{s}-{i}\"]");
            ws_send(&mut sessions[sender], &message).await;
        }
    }
    for (k, ws) in sessions.iter_mut().enumerate() {
        let got = messages(ws, 2 * PER_SENDER).await;
        for s in ["n0", "n1"] {
            let seq: Vec<usize> = got
                .iter()
                .filter_map(|m| m.strip_prefix(&format!("{s}-")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(
                seq,
                (0..PER_SENDER).collect::<Vec<_>>(),
                "session {k}: all of {s}'s messages, once, in order"
            );
        }
    }
    // Nothing more: a last marker is the next message everywhere.
    ws_send(&mut sessions[1], "[\"end\"]").await;
    for ws in &mut sessions {
        assert_eq!(messages(ws, 1).await, ["end"]);
    }
    for node in &nodes {
        let m = node.metrics();
        assert_eq!(metric(&m, "sockjs_hub_gaps_total"), 0, "{m}");
        assert_eq!(metric(&m, "sockjs_hub_duplicates_total"), 0, "{m}");
        assert_eq!(metric(&m, "sockjs_redis_dropped_total"), 0, "{m}");
        assert!(
            metric(&m, "sockjs_redis_received_total") >= PER_SENDER as u64,
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_with_sigkill_leaves_presence_within_the_documented_bound() {
    let redis = redis();
    let mut doomed = NodeProcess::start(&redis);
    let survivor = NodeProcess::start(&redis);
    // An observer node in this process, with the same cluster.
    let mut config = RedisConfig::new(redis.url());
    config.cluster = CLUSTER.into();
    config.liveness_ttl = Duration::from_secs_f64(TTL_SECS);
    config.refresh_interval = Duration::from_secs_f64(TTL_SECS / 3.0);
    let observer = RedisBackend::connect(config.clone()).await.unwrap();
    let hub = Hub::with_backend(observer.clone());
    assert!(observer.wait_until_up(PATIENCE).await);

    let mut kim = doomed.session("?user=kim").await;
    let _lee = doomed.session("?user=lee").await;
    let _max = survivor.session("?user=max").await;
    let deadline = Instant::now() + PATIENCE;
    while hub.presence().len() < 3 {
        assert!(Instant::now() < deadline, "presence: {:?}", hub.presence());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.online("kim"), 1);

    doomed.child.kill().unwrap(); // SIGKILL: no goodbye
    doomed.child.wait().unwrap();
    let killed_at = Instant::now();
    // The documented bound (the dead node's TTL + a survivor's scan interval), plus a
    // generous margin for a loaded machine: a deadline, not a measurement.
    let deadline = killed_at + config.presence_bound() + PATIENCE;
    loop {
        let p = hub.presence();
        if p.iter().collect::<Vec<_>>() == [("max", 1)] {
            break;
        }
        assert!(Instant::now() < deadline, "still present: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "kim and lee left presence {:?} after the SIGKILL (bound {:?})",
        killed_at.elapsed(),
        config.presence_bound()
    );
    // the survivor process sees it too
    let deadline = Instant::now() + PATIENCE;
    while metric(&survivor.metrics(), "sockjs_hub_online_users") != 1 {
        assert!(Instant::now() < deadline, "{}", survivor.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
    // the dead node's keys were reaped
    let keys = redis
        .cli(&["KEYS", "sockjs:{conformance-test}:presence:*"])
        .unwrap();
    assert_eq!(
        keys.lines().count(),
        1,
        "only the survivor's hash (max): {keys}"
    );
    // its clients' connections are gone
    assert!(matches!(ws_next(&mut kim).await, WsEvent::End(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ids_admin_routes_and_the_login_policy_of_the_cluster_mode() {
    let redis = redis();
    let a = NodeProcess::start_with(&redis, &["--node-id", "0a", "--login-policy", "replace"]);
    let b = NodeProcess::start_with(&redis, &["--node-id", "0b", "--login-policy", "replace"]);
    // The chosen id names the node in its metrics, in Redis and in /cluster.
    assert!(a
        .metrics()
        .contains("sockjs_redis_up{hub=\"/broadcast\",node=\"000000000000000a\"} 1"));
    assert_eq!(
        redis
            .cli(&["EXISTS", "sockjs:{conformance-test}:node:000000000000000b"])
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(a.describe()["node"], "000000000000000a");
    assert_eq!(b.describe()["up"], true);

    // Sessions and presence as /cluster shows them.
    let mut kim_b = b.session("?user=kim").await;
    let _lee_a = a.session("?user=lee").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let d = a.describe();
        if d["presence"] == serde_json::json!({"kim": 1, "lee": 1}) {
            assert_eq!(d["local"], serde_json::json!({"lee": 1}));
            assert_eq!(d["sessions"], 1);
            break;
        }
        assert!(Instant::now() < deadline, "{d}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // --login-policy replace: kim's second login, on the other node, replaces the first.
    let mut kim_a = a.session("?user=kim").await;
    assert_eq!(
        close_frame(&mut kim_b).await,
        "c[4009,\"Replaced by a newer session\"]"
    );

    // A kick issued on node b closes kim's session on node a, with the code asked for.
    let (status, body) = b.http(
        "POST",
        "/cluster/kick?user=kim&code=4001&reason=Kicked%20by%20admin",
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer, serde_json::json!({"local": 0, "published": true}));
    assert_eq!(close_frame(&mut kim_a).await, "c[4001,\"Kicked by admin\"]");
    for (path, why) in [
        ("/cluster/kick", "user= is required"),
        ("/cluster/kick?user=kim&code=1000", "code"),
    ] {
        let (status, body) = b.http("POST", path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(why), "{path}: {body}");
    }
    // Another method is not the route.
    assert_eq!(b.http("GET", "/cluster/kick?user=kim").0, 404);

    // A second live process with node id 0a is refused: it exits with code 1, saying why,
    // and node a is untouched.
    let mut twin = spawn(&redis, &["--node-id", "0a"]);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = twin.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = twin.kill();
            panic!("the twin did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    twin.stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("node id 000000000000000a is in use"), "{log}");
    assert!(a
        .metrics()
        .contains("sockjs_redis_up{hub=\"/broadcast\",node=\"000000000000000a\"} 1"));
    assert!(a
        .metrics()
        .contains("sockjs_redis_node_id_conflict{hub=\"/broadcast\",node=\"000000000000000a\"} 0"));
}

#[test]
fn cluster_flags_without_redis_and_bad_values_are_usage_errors() {
    for args in [
        &["--node-id", "0a"][..],
        &["--login-policy", "replace"],
        &["--redis", "redis://127.0.0.1:1", "--node-id", "xyz"],
        &[
            "--redis",
            "redis://127.0.0.1:1",
            "--login-policy",
            "sometimes",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sockjs-conformance-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_broadcast_reaches_broadcast_sessions_only_not_stomp_ones() {
    // In cluster mode /broadcast and /stomp share one hub (so that STOMP destinations span
    // the nodes too). A /broadcast message is for /broadcast sessions: a STOMP client must
    // never get it as if it were a frame.
    let redis = redis();
    let node = NodeProcess::start(&redis);
    let url = format!("http://{}/stomp", node.addr);
    let mut stomp = common::stomp::Client::login(&url, "reader").await;
    let mut sender = node.session("").await;
    ws_send(&mut sender, r#"["not a STOMP frame"]"#).await;
    // The sender gets its own message back: the broadcast has been queued everywhere.
    assert_eq!(messages(&mut sender, 1).await, ["not a STOMP frame"]);
    stomp.expect_nothing_before_a_receipt().await;
}

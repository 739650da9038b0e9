//! The cluster benchmarks (issue 13): the hub over Redis against the hub in one process.
//!
//! ```text
//! sockjs-cluster-bench run [--runs 3] [--sessions 1000] [--rounds 200] [--users 100]
//!                          [--senders 10] [--window 1000] [--duration 5] [--idle 10000]
//!                          [--workloads broadcast,user,idle] [--server-cpu 0] [--out FILE]
//!                          [--quiet-wait SECS]
//! sockjs-cluster-bench node --listen ADDR [--redis URL --node-id HEX [--cluster NAME]]
//! ```
//!
//! `run` starts everything itself on loopback, a fresh set of processes for every measurement:
//! `redis-server` and the nodes (this binary's `node` mode, release build) pinned with
//! `taskset -c <server-cpu>`; the load is this process (pin it to another CPU:
//! `taskset -c 1 sockjs-cluster-bench run`, as `bench/cluster.sh` does). It prints one line per
//! measurement, a summary with the medians of the runs, and writes JSON lines to `--out`.
//!
//! | workload | setups | measures |
//! |---|---|---|
//! | `broadcast` | one node without Redis; one node with Redis; three nodes with Redis | `--sessions` websocket sessions in one hub room, spread round-robin over the nodes; one (on the first node) sends, time until the last session received it, p50/p99 over `--rounds` |
//! | `user` | one node without Redis; three nodes with Redis | `--users` users logged in (on the second and third node with three), `--senders` sessions on the first node sending `hub.send_to_user` to them round-robin with `--window` messages in flight: messages received per second |
//! | `idle` | no hub use; login + room without Redis; login + room with Redis | `--idle` idle websocket sessions on one node: server RSS per session (and Redis's `used_memory` per session) |
//!
//! A node serves `/room` (each session joins the room `bench`, each message goes to the room
//! with `Hub::send_to_room`), `/user` (a message `TARGET PAYLOAD` goes to `TARGET` with
//! `Hub::send_to_user`), `/idle` (the session logs in and joins a room, then waits) and
//! `/plain` (the session just waits), each logging the session in as the `user` of its query
//! string when there is one, and `/metrics` (the hub's and Redis's Prometheus text).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_hyper::hub::{Hub, NodeId};
use sockjs_hyper::{Config, Connection, SockJs};
use sockjs_redis::{RedisBackend, RedisConfig};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const USAGE: &str = "usage: sockjs-cluster-bench run [--runs N] [--sessions N] [--rounds N] \
[--users N] [--senders N] [--window N] [--duration SECS] [--idle N] [--workloads LIST] \
[--server-cpu N] [--out FILE] [--quiet-wait SECS]\n       sockjs-cluster-bench node --listen ADDR [--redis URL \
--node-id HEX [--cluster NAME]]";

const ROOM: &str = "bench";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("node") => node_main(&args[1..]),
        Some("run") => run_main(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs.
fn flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        out.insert(name.to_string(), value.clone());
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(
    f: &HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, String> {
    match f.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("--{name} {v}: not a number")),
    }
}

// ---------------------------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------------------------

fn node_main(args: &[String]) -> Result<(), String> {
    let f = flags(args)?;
    let listen: SocketAddr = f
        .get("listen")
        .ok_or("--listen is required")?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let redis = match f.get("redis") {
        None => None,
        Some(url) => {
            let mut config = RedisConfig::new(url.clone());
            config.cluster = f.get("cluster").cloned().unwrap_or_else(|| "bench".into());
            let node: NodeId = f
                .get("node-id")
                .ok_or("--redis needs --node-id")?
                .parse()
                .map_err(|e| format!("--node-id: {e}"))?;
            Some((config, node))
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let (hub, backend) = match redis {
            None => (Hub::new(), None),
            Some((config, node)) => {
                let wait = config.liveness_ttl + Duration::from_secs(5);
                let backend = RedisBackend::connect(config)
                    .await
                    .map_err(|e| e.to_string())?;
                let hub = Hub::builder()
                    .node(node)
                    .backend(backend.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                backend.joined(wait).await.map_err(|e| e.to_string())?;
                (hub, Some(backend))
            }
        };
        let endpoint = |prefix: &str, handler: fn(Connection) -> HandlerFuture| {
            SockJs::builder(prefix)
                .config(Config::default())
                .hub(hub.clone())
                .build(handler)
                .map_err(|e| e.to_string())
        };
        let endpoints = Arc::new(vec![
            endpoint("/room", |c| Box::pin(room(c)))?,
            endpoint("/user", |c| Box::pin(user(c)))?,
            endpoint("/idle", |c| Box::pin(idle(c)))?,
            endpoint("/plain", |c| Box::pin(plain(c)))?,
        ]);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            () = serve(listener, endpoints, hub, backend.clone()) => {}
            _ = term.recv() => {}
        }
        if let Some(backend) = backend {
            backend.shutdown().await;
        }
        Ok(())
    })
}

type HandlerFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn login_from_query(conn: &Connection) {
    let user = conn
        .request()
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("user=")))
        .map(str::to_string);
    if let Some(user) = user {
        let _ = conn.login(&user).await;
    }
}

async fn room(mut conn: Connection) {
    login_from_query(&conn).await;
    if conn.join(ROOM).is_err() {
        return;
    }
    let hub = conn.hub().clone();
    while let Some(m) = conn.recv().await {
        let _ = hub.send_to_room(ROOM, &m);
    }
}

async fn user(mut conn: Connection) {
    login_from_query(&conn).await;
    let hub = conn.hub().clone();
    while let Some(m) = conn.recv().await {
        if let Some((target, payload)) = m.split_once(' ') {
            let _ = hub.send_to_user(target, payload);
        }
    }
}

async fn idle(mut conn: Connection) {
    login_from_query(&conn).await;
    if conn.join("idle").is_err() {
        return;
    }
    while conn.recv().await.is_some() {}
}

async fn plain(mut conn: Connection) {
    while conn.recv().await.is_some() {}
}

async fn serve(
    listener: tokio::net::TcpListener,
    endpoints: Arc<Vec<SockJs>>,
    hub: Hub,
    backend: Option<RedisBackend>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (endpoints, hub, backend) = (Arc::clone(&endpoints), hub.clone(), backend.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (endpoints, hub, backend) =
                    (Arc::clone(&endpoints), hub.clone(), backend.clone());
                let response: HandlerResponse = Box::pin(async move {
                    let path = req.uri().path();
                    if path == "/metrics" {
                        let mut text = hub.stats().to_prometheus("bench");
                        if let Some(b) = &backend {
                            text.push_str(&b.stats().to_prometheus("bench"));
                        }
                        return Ok::<_, Infallible>(Response::new(
                            Full::new(Bytes::from(text)).boxed_unsync(),
                        ));
                    }
                    match endpoints.iter().find(|e| e.matches(path)) {
                        Some(e) => Ok(e.handle(req).await),
                        None => {
                            let mut r = Response::new(Full::new(Bytes::new()).boxed_unsync());
                            *r.status_mut() = StatusCode::NOT_FOUND;
                            Ok(r)
                        }
                    }
                });
                response
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

type HandlerResponse = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<Response<sockjs_hyper::ResponseBody>, Infallible>>
            + Send,
    >,
>;

// ---------------------------------------------------------------------------------------------
// Processes: redis-server and nodes, pinned, killed when dropped
// ---------------------------------------------------------------------------------------------

struct Proc {
    child: Child,
    what: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Every measurement starts from fresh processes and a fresh Redis: no clean leave
        // needed.
        if self.child.kill().is_err() {
            eprintln!("{} had already exited", self.what);
        }
        let _ = self.child.wait();
    }
}

/// `command` pinned to `cpu` with taskset when it is there.
fn pinned(cpu: Option<&str>, program: &str) -> Command {
    match cpu {
        Some(cpu) if Command::new("taskset").arg("--version").output().is_ok() => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu, program]);
            c
        }
        _ => Command::new(program),
    }
}

fn free_port() -> Result<u16, String> {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

struct Redis {
    /// Stopped when the setup is dropped.
    _proc: Proc,
    port: u16,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_redis(cpu: Option<&str>) -> Result<Redis, String> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!(
        "sockjs-cluster-bench-{}-{port}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let child = pinned(cpu, "redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server: {e} (install Debian's redis-server)"))?;
    let redis = Redis {
        _proc: Proc {
            child,
            what: "redis-server".into(),
        },
        port,
        _dir: TempDir(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while redis_command(port, "PING").map_or(true, |r| !r.contains("PONG")) {
        if Instant::now() > deadline {
            return Err("redis-server did not answer PING".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(redis)
}

/// One inline Redis command; the raw reply.
fn redis_command(port: u16, command: &str) -> Result<String, String> {
    let mut s = StdStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(s, "{command}\r\nQUIT\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Ok(out)
}

fn redis_used_memory(port: u16) -> Option<u64> {
    let info = redis_command(port, "INFO memory").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

struct Node {
    proc: Proc,
    addr: SocketAddr,
}

fn start_node(cpu: Option<&str>, redis: Option<(u16, &str)>) -> Result<Node, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let exe = exe.to_str().ok_or("the executable's path is not UTF-8")?;
    let mut cmd = pinned(cpu, exe);
    cmd.args(["node", "--listen", "127.0.0.1:0"]);
    if let Some((port, node)) = redis {
        cmd.args([
            "--redis",
            &format!("redis://127.0.0.1:{port}"),
            "--node-id",
            node,
        ]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc {
        child,
        what: format!("node {}", redis.map_or("-", |r| r.1)),
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("the node said {line:?}"))?
        .parse()
        .map_err(|e| format!("{e}"))?;
    Ok(Node { proc, addr })
}

/// A setup: nodes (with Redis when `redis`), fresh for each measurement.
struct Setup {
    nodes: Vec<Node>,
    redis: Option<Redis>,
}

fn setup(cpu: Option<&str>, nodes: usize, with_redis: bool) -> Result<Setup, String> {
    let redis = if with_redis {
        Some(start_redis(cpu)?)
    } else {
        None
    };
    let ids = ["0a", "0b", "0c", "0d", "0e", "0f"];
    let mut out = Vec::new();
    for i in 0..nodes {
        out.push(start_node(
            cpu,
            redis.as_ref().map(|r| (r.port, ids[i % ids.len()])),
        )?);
    }
    Ok(Setup { nodes: out, redis })
}

impl Setup {
    fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }
}

fn metric(addr: SocketAddr, name: &str) -> u64 {
    let Ok(mut s) = StdStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

static SESSION: AtomicU64 = AtomicU64::new(0);

async fn open(addr: SocketAddr, prefix: &str, user: Option<&str>) -> Result<Ws, String> {
    let n = SESSION.fetch_add(1, Ordering::Relaxed);
    let query = user.map(|u| format!("?user={u}")).unwrap_or_default();
    let url = format!(
        "ws://{addr}{prefix}/{:03}/s{n:x}x{:06x}/websocket{query}",
        n % 1000,
        rand::random::<u32>() & 0xff_ffff
    );
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.as_str() == "o" => Ok(ws),
        other => Err(format!("expected the open frame, got {other:?}")),
    }
}

/// Open `n` sessions, 64 at a time; session `i` goes to `addr_of(i)` as user `user_of(i)`.
async fn open_many(
    n: usize,
    prefix: &'static str,
    addr_of: impl Fn(usize) -> SocketAddr,
    user_of: impl Fn(usize) -> Option<String>,
) -> Result<Vec<Ws>, String> {
    let mut out = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let mut set = JoinSet::new();
        for i in next..(next + 64).min(n) {
            let (addr, user) = (addr_of(i), user_of(i));
            set.spawn(async move { (i, open(addr, prefix, user.as_deref()).await) });
        }
        let mut batch = Vec::new();
        while let Some(r) = set.join_next().await {
            let (i, ws) = r.map_err(|e| e.to_string())?;
            batch.push((i, ws?));
        }
        batch.sort_by_key(|(i, _)| *i);
        out.extend(batch.into_iter().map(|(_, ws)| ws));
        next = (next + 64).min(n);
    }
    Ok(out)
}

/// The messages of one SockJS frame (`a[...]`); none for `h`, `o`; an error for `c`.
fn messages(frame: &str) -> Result<Vec<String>, String> {
    match frame.as_bytes().first() {
        Some(b'a') => {
            serde_json::from_str(&frame[1..]).map_err(|e| format!("bad frame {frame}: {e}"))
        }
        Some(b'c') => Err(format!("closed by the server: {frame}")),
        _ => Ok(Vec::new()),
    }
}

/// Receipts of the broadcast under way.
struct Round {
    seq: AtomicU64,
    got: AtomicUsize,
    done: Mutex<Option<(u64, Instant)>>,
    wake: Notify,
    total: usize,
    errors: AtomicU64,
}

impl Round {
    fn receipt(&self, seq: u64) {
        if seq == self.seq.load(Ordering::Acquire)
            && self.got.fetch_add(1, Ordering::AcqRel) + 1 == self.total
        {
            if let Ok(mut d) = self.done.lock() {
                *d = Some((seq, Instant::now()));
            }
            self.wake.notify_one();
        }
    }

    async fn wait(&self, seq: u64, deadline: Instant) -> Option<Instant> {
        loop {
            let notified = self.wake.notified();
            if let Some((s, t)) = self.done.lock().ok().and_then(|d| *d) {
                if s == seq {
                    return Some(t);
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

/// Broadcast rounds over `sessions` sessions in the room, spread round-robin over `addrs`:
/// the time from the send to the last receipt of each round, in ns.
async fn broadcast(
    addrs: &[SocketAddr],
    sessions: usize,
    rounds: usize,
    duration: Duration,
) -> Result<(Vec<u64>, u64), String> {
    let addrs = addrs.to_vec();
    let conns = open_many(sessions, "/room", |i| addrs[i % addrs.len()], |_| None).await?;
    let round = Arc::new(Round {
        seq: AtomicU64::new(u64::MAX),
        got: AtomicUsize::new(0),
        done: Mutex::new(None),
        wake: Notify::new(),
        total: sessions,
        errors: AtomicU64::new(0),
    });
    let mut conns = conns.into_iter();
    let first = conns.next().ok_or("no session")?;
    let (mut sink, first_stream) = first.split();
    let mut readers = JoinSet::new();
    let streams = std::iter::once(first_stream).chain(conns.map(|c| c.split().1));
    for mut stream in streams {
        let round = Arc::clone(&round);
        readers.spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                match messages(t.as_str()) {
                    Ok(ms) => {
                        for m in ms {
                            match m
                                .split(' ')
                                .next()
                                .and_then(|s| s.strip_prefix('b'))
                                .and_then(|s| s.parse().ok())
                            {
                                Some(seq) => round.receipt(seq),
                                None => {
                                    round.errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    Err(_) => {
                        round.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        });
    }
    let pad = "x".repeat(48);
    let send = |seq: u64| {
        round.got.store(0, Ordering::Release);
        round.seq.store(seq, Ordering::Release);
        Message::text(format!("[\"b{seq} {pad}\"]"))
    };
    // Warm up until three rounds reach everyone (every node subscribed, every session joined).
    let mut warm = 0;
    for k in 0..100u64 {
        let seq = 1_000_000 + k;
        sink.send(send(seq)).await.map_err(|e| e.to_string())?;
        if round
            .wait(seq, Instant::now() + Duration::from_millis(500))
            .await
            .is_some()
        {
            warm += 1;
            if warm == 3 {
                break;
            }
        }
    }
    if warm < 3 {
        return Err(format!(
            "warm-up broadcasts did not reach all {sessions} sessions"
        ));
    }
    let mut samples = Vec::new();
    let mut lost = 0;
    let end = Instant::now() + duration;
    for seq in 0..rounds as u64 {
        if Instant::now() > end {
            break;
        }
        let t0 = Instant::now();
        sink.send(send(seq)).await.map_err(|e| e.to_string())?;
        match round.wait(seq, t0 + Duration::from_secs(5)).await {
            Some(t) => samples.push(u64::try_from((t - t0).as_nanos()).unwrap_or(u64::MAX)),
            None => lost += 1,
        }
    }
    readers.abort_all();
    Ok((samples, lost + round.errors.load(Ordering::Relaxed)))
}

/// Send-to-user throughput: `users` receivers on `receivers`, `senders` senders on `sender`,
/// `window` messages in flight. Messages received per second over `duration`, and the
/// messages never received.
async fn user_throughput(
    sender: SocketAddr,
    receivers: &[SocketAddr],
    users: usize,
    senders: usize,
    window: usize,
    duration: Duration,
) -> Result<(f64, u64), String> {
    let receivers = receivers.to_vec();
    let rx = open_many(
        users,
        "/user",
        |i| receivers[i % receivers.len()],
        |i| Some(format!("u{i}")),
    )
    .await?;
    let tx = open_many(senders, "/user", |_| sender, |_| None).await?;
    let received = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(0));
    let mut tasks = JoinSet::new();
    for mut ws in rx {
        let (received, permits) = (Arc::clone(&received), Arc::clone(&permits));
        tasks.spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(t) = m else { continue };
                let n = messages(t.as_str()).map(|m| m.len()).unwrap_or(0);
                received.fetch_add(n as u64, Ordering::Relaxed);
                permits.add_permits(n);
            }
        });
    }
    // Warm-up: one message to each user until every one of them answers (logins done).
    let mut sinks = Vec::new();
    for ws in tx {
        let (sink, mut stream) = ws.split();
        tasks.spawn(async move { while stream.next().await.is_some() {} });
        sinks.push(sink);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = received.load(Ordering::Relaxed);
        for u in 0..users {
            sinks[0]
                .send(Message::text(format!("[\"u{u} w\"]")))
                .await
                .map_err(|e| e.to_string())?;
        }
        let round_end = Instant::now() + Duration::from_secs(2);
        while received.load(Ordering::Relaxed) < before + users as u64 && Instant::now() < round_end
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if received.load(Ordering::Relaxed) >= before + users as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err("the users never all received a message".into());
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = Arc::new(AtomicU64::new(0));
    received.store(0, Ordering::Relaxed);
    // Drain leftover permits of the warm-up, then open the window.
    while permits.try_acquire().map(|p| p.forget()).is_ok() {}
    permits.add_permits(window);
    let pad = "x".repeat(48);
    let mut send_tasks = JoinSet::new();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for (k, mut sink) in sinks.into_iter().enumerate() {
        let (permits, sent, stop, pad) = (
            Arc::clone(&permits),
            Arc::clone(&sent),
            Arc::clone(&stop),
            pad.clone(),
        );
        send_tasks.spawn(async move {
            let mut target = k;
            while !stop.load(Ordering::Relaxed) {
                let Ok(p) = permits.acquire().await else {
                    break;
                };
                p.forget();
                let text = format!("[\"u{} {target} {pad}\"]", target % users);
                target += senders;
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
                // Counted once written (a task stopped in the middle of a send sent nothing).
                sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let r0 = received.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(duration).await;
    let r1 = received.load(Ordering::Relaxed);
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    permits.close();
    send_tasks.abort_all();
    // What was sent and never arrived (after a grace period for the ones in flight).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lost = sent
        .load(Ordering::Relaxed)
        .saturating_sub(received.load(Ordering::Relaxed));
    tasks.abort_all();
    Ok(((r1 - r0) as f64 / elapsed.as_secs_f64(), lost))
}

/// RSS per idle session (bytes) on `node`, sessions on `prefix` logged in as distinct users
/// when `login`; and Redis's `used_memory` per session when there is a Redis.
async fn idle_memory(
    setup: &Setup,
    prefix: &'static str,
    sessions: usize,
    login: bool,
) -> Result<(f64, Option<f64>), String> {
    let node = &setup.nodes[0];
    let pid = node.proc.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = sockjs_bench::procfs::rss_kb(pid).ok_or("no RSS")?;
    let redis0 = setup.redis.as_ref().and_then(|r| redis_used_memory(r.port));
    let addr = node.addr;
    let conns = open_many(
        sessions,
        prefix,
        |_| addr,
        |i| login.then(|| format!("i{i}")),
    )
    .await?;
    if login {
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(addr, "sockjs_hub_user_sessions") < sessions as u64 {
            if Instant::now() > deadline {
                return Err("not every idle session logged in".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if let Some(r) = &setup.redis {
        // Presence written to Redis: the node's hash has every user.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = redis_command(r.port, "HLEN sockjs:{bench}:presence:000000000000000a")?;
            let n: usize = n
                .lines()
                .next()
                .and_then(|l| l.trim_start_matches(':').parse().ok())
                .unwrap_or(0);
            if n >= sessions {
                break;
            }
            if Instant::now() > deadline {
                return Err("presence never reached Redis".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = sockjs_bench::procfs::rss_kb(pid).ok_or("no RSS")?;
    let redis1 = setup.redis.as_ref().and_then(|r| redis_used_memory(r.port));
    drop(conns);
    let per = (rss1.saturating_sub(rss0) as f64) * 1024.0 / sessions as f64;
    let redis_per = match (redis0, redis1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / sessions as f64),
        _ => None,
    };
    Ok((per, redis_per))
}

// ---------------------------------------------------------------------------------------------
// The runs
// ---------------------------------------------------------------------------------------------

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds used by the rest of the machine (not `pids`, not this process) so far.
fn others_cpu(pids: &[u32]) -> f64 {
    let ours: f64 = pids
        .iter()
        .chain(std::iter::once(&std::process::id()))
        .filter_map(|p| sockjs_bench::procfs::cpu_seconds(*p))
        .sum();
    sockjs_bench::procfs::machine_busy_seconds().unwrap_or(0.0) - ours
}

/// Wait (at most `limit`) until the rest of the machine uses under 15% of a core.
fn wait_quiet(limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let before = others_cpu(&[]);
        std::thread::sleep(Duration::from_secs(1));
        let busy = others_cpu(&[]) - before;
        if busy < 0.15 {
            return;
        }
    }
}

impl Setup {
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.nodes.iter().map(|n| n.proc.child.id()).collect();
        if let Some(r) = &self.redis {
            pids.push(r._proc.child.id());
        }
        pids
    }

    /// Run `f`, and the percentage of a core the rest of the machine used meanwhile.
    fn measured<T>(&self, f: impl FnOnce() -> T) -> (T, f64) {
        let pids = self.pids();
        let (c0, t0) = (others_cpu(&pids), Instant::now());
        let out = f();
        let others = (others_cpu(&pids) - c0) / t0.elapsed().as_secs_f64() * 100.0;
        (out, others.max(0.0))
    }
}

/// A measurement is *disturbed* when the rest of the machine used more than this much of a
/// core meanwhile (percent); the medians use the undisturbed measurements when there are any.
const DISTURBED_PCT: f64 = 15.0;

/// What one measurement is of.
struct Key<'a> {
    run: usize,
    workload: &'a str,
    setup: &'a str,
    metric: &'a str,
}

struct Row {
    key: String,
    metric: String,
    value: f64,
    others: f64,
}

struct Results {
    out: Option<std::fs::File>,
    rows: Vec<Row>,
}

impl Results {
    /// One measurement; `others`: percent of a core the rest of the machine used meanwhile.
    fn record(&mut self, k: Key<'_>, value: f64, others: f64, extra: &str) {
        let Key {
            run,
            workload,
            setup,
            metric,
        } = k;
        println!("run {run} {workload:9} {setup:26} {metric:22} {value:12.3} {extra}");
        if let Some(f) = &mut self.out {
            let _ = writeln!(
                f,
                "{{\"run\":{run},\"workload\":\"{workload}\",\"setup\":\"{setup}\",\"metric\":\"{metric}\",\"value\":{value},\"others_pct\":{others:.1}}}"
            );
        }
        self.rows.push(Row {
            key: format!("{workload} {setup}"),
            metric: metric.to_string(),
            value,
            others,
        });
    }
}

fn run_main(args: &[String]) -> Result<(), String> {
    let f = flags(args)?;
    let runs: usize = num(&f, "runs", 3)?;
    let sessions: usize = num(&f, "sessions", 1000)?;
    let rounds: usize = num(&f, "rounds", 200)?;
    let users: usize = num(&f, "users", 100)?;
    let senders: usize = num(&f, "senders", 10)?;
    let window: usize = num(&f, "window", 1000)?;
    let idle_n: usize = num(&f, "idle", 10_000)?;
    let duration = Duration::from_secs_f64(num(&f, "duration", 5.0)?);
    let quiet = Duration::from_secs_f64(num(&f, "quiet-wait", 0.0)?);
    let cpu = f.get("server-cpu").cloned().or_else(|| Some("0".into()));
    let cpu = cpu.as_deref().filter(|c| !c.is_empty() && *c != "none");
    let workloads: Vec<String> = f
        .get("workloads")
        .map_or("broadcast,user,idle", String::as_str)
        .split(',')
        .map(str::to_string)
        .collect();
    let out = match f.get("out") {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{p}: {e}"))?,
        ),
        None => None,
    };
    let mut results = Results {
        out,
        rows: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut errors = 0u64;
    for run in 1..=runs {
        if workloads.iter().any(|w| w == "broadcast") {
            for (name, nodes, redis) in [
                ("1 node", 1, false),
                ("1 node + redis", 1, true),
                ("3 nodes + redis", 3, true),
            ] {
                wait_quiet(quiet);
                let s = setup(cpu, nodes, redis)?;
                let (r, others) = s.measured(|| {
                    runtime.block_on(broadcast(&s.addrs(), sessions, rounds, duration))
                });
                let (mut samples, lost) = r?;
                samples.sort_unstable();
                errors += lost;
                let extra = format!(
                    "({} rounds, {lost} incomplete, others {others:.0}% of a core)",
                    samples.len()
                );
                let key = |metric| Key {
                    run,
                    workload: "broadcast",
                    setup: name,
                    metric,
                };
                let p50 = percentile(&samples, 0.5) / 1e6;
                results.record(key("p50_ms"), p50, others, &extra);
                let p99 = percentile(&samples, 0.99) / 1e6;
                results.record(key("p99_ms"), p99, others, "");
            }
        }
        if workloads.iter().any(|w| w == "user") {
            for (name, nodes, redis) in [("1 node", 1, false), ("3 nodes + redis", 3, true)] {
                wait_quiet(quiet);
                let s = setup(cpu, nodes, redis)?;
                let addrs = s.addrs();
                let receivers = if nodes == 1 { &addrs[..] } else { &addrs[1..] };
                let (r, others) = s.measured(|| {
                    runtime.block_on(user_throughput(
                        addrs[0], receivers, users, senders, window, duration,
                    ))
                });
                let (rate, lost) = r?;
                errors += lost;
                let key = Key {
                    run,
                    workload: "user",
                    setup: name,
                    metric: "msgs_per_s",
                };
                let extra = format!("({lost} lost, others {others:.0}% of a core)");
                results.record(key, rate, others, &extra);
            }
        }
        if workloads.iter().any(|w| w == "idle") {
            for (name, prefix, login, redis) in [
                ("plain session", "/plain", false, false),
                ("login + room", "/idle", true, false),
                ("login + room + redis", "/idle", true, true),
            ] {
                wait_quiet(quiet);
                let s = setup(cpu, 1, redis)?;
                let (per, redis_per) = runtime.block_on(idle_memory(&s, prefix, idle_n, login))?;
                let extra = redis_per
                    .map(|r| format!("(redis used_memory {r:.0} B/session)"))
                    .unwrap_or_default();
                let key = |metric| Key {
                    run,
                    workload: "idle",
                    setup: name,
                    metric,
                };
                // Memory does not depend on the rest of the machine's CPU use.
                results.record(key("rss_bytes_per_session"), per, 0.0, &extra);
                if let Some(r) = redis_per {
                    results.record(key("redis_bytes_per_session"), r, 0.0, "");
                }
            }
        }
    }
    // Medians of the runs.
    println!(
        "\nmedians of {runs} run(s), of the undisturbed measurements when there are any (the rest of the machine under {DISTURBED_PCT}% of a core):"
    );
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in &results.rows {
        if !keys.contains(&(r.key.clone(), r.metric.clone())) {
            keys.push((r.key.clone(), r.metric.clone()));
        }
    }
    let mut medians = HashMap::new();
    for (k, m) in &keys {
        let all: Vec<&Row> = results
            .rows
            .iter()
            .filter(|r| &r.key == k && &r.metric == m)
            .collect();
        let quiet: Vec<&Row> = all
            .iter()
            .copied()
            .filter(|r| r.others <= DISTURBED_PCT)
            .collect();
        let used = if quiet.is_empty() { &all } else { &quiet };
        let values: Vec<f64> = used.iter().map(|r| r.value).collect();
        let med = median(values.clone());
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(*v), b.max(*v))
            });
        println!(
            "  {k:36} {m:24} {med:12.3}   (min {lo:.3}, max {hi:.3}; {} of {} undisturbed)",
            quiet.len(),
            all.len()
        );
        medians.insert((k.clone(), m.clone()), med);
    }
    let get = |k: &str, m: &str| medians.get(&(k.to_string(), m.to_string())).copied();
    if let (Some(single), Some(cluster)) = (
        get("broadcast 1 node", "p50_ms"),
        get("broadcast 3 nodes + redis", "p50_ms"),
    ) {
        let bound = 2.0 * single + 1.0;
        println!(
            "\ntarget: broadcast p50 over 3 nodes {cluster:.3} ms <= 2 x {single:.3} + 1 = {bound:.3} ms: {}",
            if cluster <= bound { "met" } else { "NOT met" }
        );
    }
    if let (Some(off), Some(on)) = (
        get("idle login + room", "rss_bytes_per_session"),
        get("idle login + room + redis", "rss_bytes_per_session"),
    ) {
        let diff = on - off;
        println!(
            "target: idle session with the cluster layer on costs {diff:+.0} B (<= +1024 B): {}",
            if diff <= 1024.0 { "met" } else { "NOT met" }
        );
    }
    println!("errors (incomplete rounds, lost user messages): {errors}");
    Ok(())
}

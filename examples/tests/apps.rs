//! The example applications over real TCP: several endpoints in plain hyper with the
//! application's own routes and Prometheus metrics, the same nested in axum, the client
//! address reaching the handler, and the chat demo's presence and kick.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sockjs_examples::{axum_router, chat, multi_endpoints, serve_hyper};
use sockjs_hyper::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const LIMIT: Duration = Duration::from_secs(10);

async fn start_multi() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (endpoints, fallback) = multi_endpoints(&Config::default()).unwrap();
    tokio::spawn(serve_hyper(listener, endpoints, fallback));
    addr
}

async fn start_axum() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum_router(&Config::default()).unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// A plain HTTP/1.1 GET; returns the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    // The bodies asked for here are small; undo chunked framing if present.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(addr: SocketAddr, prefix: &str) -> Ws {
    let id: u32 = rand_id();
    let url = format!("ws://{addr}{prefix}/000/{id}/websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(recv(&mut ws).await, "o");
    ws
}

fn rand_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(1);
    N.fetch_add(1, Ordering::Relaxed) * 7919 + std::process::id()
}

async fn recv(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(LIMIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match m {
            Message::Text(t) if t.as_str() == "h" => continue,
            Message::Text(t) => return t.as_str().to_string(),
            Message::Close(f) => return format!("close {f:?}"),
            _ => continue,
        }
    }
}

async fn send(ws: &mut Ws, message: &str) {
    let frame = serde_json::to_string(&[message]).unwrap();
    ws.send(Message::text(frame)).await.unwrap();
}

/// Decode an `a[...]` frame.
fn messages(frame: &str) -> Vec<String> {
    let body = frame
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not a message frame: {frame}"));
    serde_json::from_str(body).unwrap()
}

async fn check_app(addr: SocketAddr) {
    let (status, body) = get(addr, "/").await;
    assert!(status.contains("200"), "{status}");
    assert!(
        body.contains("/echo"),
        "the application's own route: {body}"
    );
    for prefix in ["/echo", "/broadcast", "/whoami"] {
        let (status, body) = get(addr, &format!("{prefix}/info")).await;
        assert!(status.contains("200"), "{prefix}: {status}");
        assert!(body.contains("\"websocket\":true"), "{prefix}: {body}");
    }
    let (_, body) = get(addr, "/echo").await;
    assert_eq!(body, "Welcome to SockJS!\n");

    // echo
    let mut a = ws(addr, "/echo").await;
    send(&mut a, "hello").await;
    assert_eq!(messages(&recv(&mut a).await), ["hello"]);

    // the handler sees the client's address and transport
    let mut w = ws(addr, "/whoami").await;
    assert_eq!(messages(&recv(&mut w).await), ["127.0.0.1 websocket"]);

    // broadcast to two sessions
    let mut b1 = ws(addr, "/broadcast").await;
    let mut b2 = ws(addr, "/broadcast").await;
    send(&mut b1, "to all").await;
    assert_eq!(messages(&recv(&mut b1).await), ["to all"]);
    assert_eq!(messages(&recv(&mut b2).await), ["to all"]);

    // the metrics count what happened
    let (status, metrics) = get(addr, "/metrics").await;
    assert!(status.contains("200"));
    assert!(
        metrics.contains("sockjs_sessions_open{endpoint=\"/broadcast\",transport=\"websocket\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sockjs_messages_in_total{endpoint=\"/echo\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn several_endpoints_in_plain_hyper() {
    check_app(start_multi().await).await;
}

#[tokio::test]
async fn several_endpoints_nested_in_axum() {
    check_app(start_axum().await).await;
}

#[tokio::test]
async fn chat_presence_messages_and_kick() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let endpoint = chat::endpoint("/chat", Config::default(), "secret".into()).unwrap();
    let fallback: sockjs_examples::Fallback = std::sync::Arc::new(|_req| {
        Box::pin(async { sockjs_examples::respond(hyper::StatusCode::NOT_FOUND, "text/plain", "") })
    });
    tokio::spawn(serve_hyper(listener, vec![endpoint], fallback));

    // read until a message matching `pred` arrives
    async fn until(ws: &mut Ws, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        loop {
            let frame = recv(ws).await;
            assert!(frame.starts_with('a'), "unexpected frame {frame}");
            for v in messages(&frame) {
                let v: serde_json::Value = serde_json::from_str(&v).unwrap();
                if pred(&v) {
                    return v;
                }
            }
        }
    }

    let mut admin = ws(addr, "/chat").await;
    send(
        &mut admin,
        r#"{"type":"join","name":"admin","token":"secret"}"#,
    )
    .await;
    until(&mut admin, |v| {
        v["type"] == "presence" && v["users"] == serde_json::json!(["admin"])
    })
    .await;

    let mut alice = ws(addr, "/chat").await;
    send(&mut alice, r#"{"type":"join","name":"alice"}"#).await;
    until(&mut admin, |v| {
        v["type"] == "presence" && v["users"] == serde_json::json!(["admin", "alice"])
    })
    .await;

    send(&mut alice, r#"{"type":"say","text":"hi all"}"#).await;
    let m = until(&mut admin, |v| v["type"] == "message").await;
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("alice"), Some("hi all"))
    );

    // a non-admin cannot kick
    send(&mut alice, r#"{"type":"say","text":"/kick admin"}"#).await;
    until(&mut alice, |v| v["type"] == "error").await;

    send(&mut admin, r#"{"type":"say","text":"/kick alice"}"#).await;
    // alice gets the application close frame with the 4000-range code
    loop {
        let frame = recv(&mut alice).await;
        if frame.starts_with('c') {
            assert_eq!(frame, "c[4001,\"Kicked by admin\"]");
            break;
        }
    }
    until(&mut admin, |v| {
        v["type"] == "presence" && v["users"] == serde_json::json!(["admin"])
    })
    .await;

    // an impostor admin is refused
    let mut fake = ws(addr, "/chat").await;
    send(
        &mut fake,
        r#"{"type":"join","name":"admin","token":"guess"}"#,
    )
    .await;
    assert_eq!(recv(&mut fake).await, "c[4003,\"Admin token required\"]");
}

#[tokio::test]
async fn the_handler_learns_why_each_session_ended() {
    use sockjs_hyper::{CloseCause, Connection, SockJs};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut config = Config::default();
    config.max_message_size = 1024;
    let endpoint = SockJs::new("/causes", config, move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            while let Some(m) = conn.recv().await {
                if m == "close me" {
                    conn.close(4002, "as you wish");
                }
            }
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fallback: sockjs_examples::Fallback = std::sync::Arc::new(|_req| {
        Box::pin(async { sockjs_examples::respond(hyper::StatusCode::NOT_FOUND, "text/plain", "") })
    });
    tokio::spawn(serve_hyper(listener, vec![endpoint], fallback));
    // the client closes the websocket
    let mut ws1 = ws(addr, "/causes").await;
    ws1.close(None).await.unwrap();
    assert_eq!(next_cause(&mut rx).await, Some(CloseCause::ClientClosed));

    // the client breaks the framing
    let mut ws2 = ws(addr, "/causes").await;
    ws2.send(Message::text("[\"broken")).await.unwrap();
    assert_eq!(next_cause(&mut rx).await, Some(CloseCause::ProtocolError));

    // the client exceeds the message limit
    let mut ws3 = ws(addr, "/causes").await;
    send(&mut ws3, &"x".repeat(2000)).await;
    assert_eq!(next_cause(&mut rx).await, Some(CloseCause::LimitExceeded));

    // the connection is cut without a close handshake
    let ws4 = ws(addr, "/causes").await;
    drop(ws4);
    assert_eq!(next_cause(&mut rx).await, Some(CloseCause::Interrupted));

    // the application closes with its own code, and the client sees it
    let mut ws5 = ws(addr, "/causes").await;
    send(&mut ws5, "close me").await;
    assert_eq!(recv(&mut ws5).await, "c[4002,\"as you wish\"]");
    assert_eq!(
        next_cause(&mut rx).await,
        Some(CloseCause::Server {
            code: 4002,
            reason: "as you wish".into()
        })
    );
}

async fn next_cause(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Option<sockjs_hyper::CloseCause>>,
) -> Option<sockjs_hyper::CloseCause> {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
}

/// A server with `config`, whose handler reports each session's close cause; `flood` makes the
/// handler send 64 KiB messages without pause.
async fn cause_server(
    config: Config,
    flood: bool,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Option<sockjs_hyper::CloseCause>>,
) {
    use sockjs_hyper::{Connection, SockJs};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = SockJs::new("/dead", config, move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            if flood {
                let chunk = "y".repeat(64 * 1024);
                while conn.send(&chunk).await.is_ok() {}
            } else {
                while conn.recv().await.is_some() {}
            }
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fallback: sockjs_examples::Fallback = std::sync::Arc::new(|_req| {
        Box::pin(async { sockjs_examples::respond(hyper::StatusCode::NOT_FOUND, "text/plain", "") })
    });
    tokio::spawn(serve_hyper(listener, vec![endpoint], fallback));
    (addr, rx)
}

#[tokio::test]
async fn websocket_ping_drops_a_peer_that_stopped_answering() {
    let mut config = Config::default();
    // Intervals far above the scheduling delays of a busy 2-core CI machine: a responsive
    // client must never look silent because its task ran late.
    config.websocket_ping_interval = Some(Duration::from_millis(500));
    let (addr, mut rx) = cause_server(config, false).await;
    // The client reads `o`, then is never polled again: it answers no ping.
    let silent = ws(addr, "/dead").await;
    assert_eq!(
        next_cause(&mut rx).await,
        Some(sockjs_hyper::CloseCause::Interrupted)
    );
    drop(silent);
    // A client that keeps reading answers the pings and stays: counted in pings, not time.
    let mut alive = ws(addr, "/dead").await;
    let mut pings = 0;
    while pings < 4 {
        match tokio::time::timeout(LIMIT, alive.next()).await.unwrap() {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(f))) => panic!("a responsive client was closed: {f:?}"),
            Some(Ok(_)) => {}
            other => panic!("a responsive client lost its connection: {other:?}"),
        }
    }
    assert!(
        rx.try_recv().is_err(),
        "the responsive session is still open"
    );
}

#[tokio::test]
async fn websocket_write_timeout_drops_a_client_that_stopped_reading() {
    let mut config = Config::default();
    config.write_timeout = Duration::from_millis(500);
    config.max_message_size = 128 * 1024;
    let (addr, mut rx) = cause_server(config, true).await;
    // The client reads `o` and then nothing: the socket buffers fill and the server's write
    // blocks past the write timeout.
    let stalled = ws(addr, "/dead").await;
    assert_eq!(
        next_cause(&mut rx).await,
        Some(sockjs_hyper::CloseCause::Interrupted)
    );
    drop(stalled);
}

#[tokio::test]
async fn websocket_ping_keeps_a_responsive_client_while_the_application_is_slow() {
    // The application does not read for a while, so the server stops reading the socket
    // (the inbound queue is full): the client's pongs wait unread behind its messages. That is
    // not the client's fault and must not count as a missing pong.
    let mut config = Config::default();
    config.websocket_ping_interval = Some(Duration::from_millis(300));
    config.max_inbound_queue = 1;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = sockjs_hyper::SockJs::new(
        "/slow",
        config,
        move |mut conn: sockjs_hyper::Connection| {
            let tx = tx.clone();
            async move {
                // busy elsewhere for ten ping intervals
                tokio::time::sleep(Duration::from_secs(3)).await;
                while let Some(m) = conn.recv().await {
                    if conn.send(m).await.is_err() {
                        break;
                    }
                }
                let _ = tx.send(conn.close_cause());
            }
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fallback: sockjs_examples::Fallback = std::sync::Arc::new(|_req| {
        Box::pin(async { sockjs_examples::respond(hyper::StatusCode::NOT_FOUND, "text/plain", "") })
    });
    tokio::spawn(serve_hyper(listener, vec![endpoint], fallback));
    let mut client = ws(addr, "/slow").await;
    client
        .send(Message::text(r#"["1","2","3","4","5"]"#))
        .await
        .unwrap();
    // Reading answers the pings; every message comes back once the application reads.
    let mut echoed = Vec::new();
    while echoed.len() < 5 {
        let frame = recv(&mut client).await;
        assert!(frame.starts_with('a'), "unexpected frame {frame}");
        echoed.extend(messages(&frame));
    }
    assert_eq!(echoed, ["1", "2", "3", "4", "5"]);
    assert!(rx.try_recv().is_err(), "the session is still open");
    client.close(None).await.unwrap();
    assert_eq!(
        next_cause(&mut rx).await,
        Some(sockjs_hyper::CloseCause::ClientClosed)
    );
}

/// A GET with extra headers; the status line and the body (not de-chunked).
async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut raw))
        .await
        .expect("no answer")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The production example's server on a free port, stopped when `stop` fires.
async fn start_production(
    stop: tokio::sync::oneshot::Receiver<()>,
) -> (SocketAddr, tokio::task::JoinHandle<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = sockjs_examples::production::config(["http://app.example"]).unwrap();
    let echo = sockjs_hyper::SockJs::new("/echo", config, sockjs_examples::echo).unwrap();
    let shutdown = async {
        let _ = stop.await;
    };
    let server = tokio::spawn(sockjs_examples::production::serve(
        listener,
        echo,
        shutdown,
        Duration::from_secs(10),
    ));
    (addr, server)
}

#[tokio::test]
async fn production_refuses_cross_site_reads_and_serves_its_own_pages() {
    let (_stop, stop) = tokio::sync::oneshot::channel();
    let (addr, _server) = start_production(stop).await;
    let evil_script = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Dest", "script"),
        ("Referer", "http://evil.example/"),
    ];
    // Another site's page loading the transports as a script or a frame: refused.
    for path in [
        "/echo/000/steal1/jsonp?c=steal",
        "/echo/000/steal2/htmlfile?c=steal",
        "/echo/000/steal3/eventsource",
        "/echo/iframe.html",
        "/echo/info",
    ] {
        let (status, body) = get_with(addr, path, &evil_script).await;
        assert!(status.contains("403"), "{path}: {status} {body}");
    }
    // The same without any of the browser's headers: refused too (allow_unlabeled is off).
    let (status, _) = get_with(addr, "/echo/000/steal4/jsonp?c=steal", &[]).await;
    assert!(status.contains("403"), "{status}");
    // The allowed page loading it as a script, and a client sending an allowed Origin: served.
    let app_script = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Dest", "script"),
        ("Referer", "http://app.example/chat"),
    ];
    let (status, body) = get_with(addr, "/echo/000/ok1/jsonp?c=cb", &app_script).await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("/**/cb(\"o\");"), "{body}");
    let (status, _) = get_with(addr, "/echo/info", &[("Origin", "http://app.example")]).await;
    assert!(status.contains("200"), "{status}");
    // Request headers a session would keep are bounded.
    let padding = "p".repeat(20_000);
    let (status, _) = get_with(
        addr,
        "/echo/000/big/jsonp?c=cb",
        &[("Origin", "http://app.example"), ("X-Padding", &padding)],
    )
    .await;
    assert!(status.contains("431"), "{status}");
}

#[tokio::test]
async fn production_answers_new_connections_during_the_shutdown_drain() {
    let (stop_tx, stop) = tokio::sync::oneshot::channel();
    let (addr, server) = start_production(stop).await;
    let origin = [("Origin", "http://app.example")];
    // A polling session holds the drain open until its client comes back for the close.
    let post = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://app.example\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(LIMIT, s.read_to_end(&mut raw))
            .await
            .expect("no answer")
            .unwrap();
        String::from_utf8_lossy(&raw).to_string()
    };
    assert!(post("/echo/000/held/xhr").await.ends_with("o\n"));
    stop_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // During the drain a new connection is answered at once: 503 for a new session.
    let answer = post("/echo/000/late/xhr").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (status, _) = get_with(addr, "/echo/000/late2/jsonp?c=cb", &origin).await;
    assert!(status.contains("503"), "{status}");
    // The held session's client comes back and is told to go away, which ends the drain.
    let answer = post("/echo/000/held/xhr").await;
    assert!(
        answer.ends_with("c[1001,\"Server shutting down\"]\n"),
        "{answer}"
    );
    assert!(tokio::time::timeout(LIMIT, server).await.unwrap().unwrap());
    // Then the listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The chat demo in cluster mode: two nodes (each its own hub with a Redis backend, as two
/// processes started with `REDIS_URL` would be) sharing a real redis-server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_across_two_nodes_over_redis() {
    use sockjs_hyper::hub::{Hub, LoginPolicy};
    use sockjs_redis::{testing::RedisServer, RedisBackend, RedisConfig};

    let redis = RedisServer::start().expect("redis-server (Debian package redis-server)");
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut config = RedisConfig::new(redis.url());
        config.cluster = "chat-test".into();
        let backend = RedisBackend::connect(config).await.unwrap();
        let hub = Hub::with_backend(backend.clone());
        assert!(backend.wait_until_up(Duration::from_secs(30)).await);
        let endpoint = chat::endpoint_with_policy(
            "/chat",
            Config::default(),
            "secret".into(),
            hub.clone(),
            LoginPolicy::ReplaceOlder,
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fallback: sockjs_examples::Fallback = std::sync::Arc::new(|_req| {
            Box::pin(async {
                sockjs_examples::respond(hyper::StatusCode::NOT_FOUND, "text/plain", "")
            })
        });
        tokio::spawn(serve_hyper(listener, vec![endpoint], fallback));
        nodes.push((addr, hub));
    }
    async fn wait_for(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn until(ws: &mut Ws, pred: impl Fn(&serde_json::Value) -> bool) {
        loop {
            let frame = recv(ws).await;
            assert!(frame.starts_with('a'), "unexpected frame {frame}");
            for v in messages(&frame) {
                if pred(&serde_json::from_str(&v).unwrap()) {
                    return;
                }
            }
        }
    }
    let ((a, hub_a), (b, hub_b)) = (nodes[0].clone(), nodes[1].clone());

    let mut admin = ws(a, "/chat").await;
    send(
        &mut admin,
        r#"{"type":"join","name":"admin","token":"secret"}"#,
    )
    .await;
    wait_for("node b sees the admin", || hub_b.online("admin") == 1).await;
    let mut alice = ws(b, "/chat").await;
    send(&mut alice, r#"{"type":"join","name":"alice"}"#).await;
    // the online list spans both nodes
    until(&mut alice, |v| {
        v["type"] == "presence" && v["users"] == serde_json::json!(["admin", "alice"])
    })
    .await;
    // a message on node b reaches node a
    send(&mut alice, r#"{"type":"say","text":"hi from b"}"#).await;
    until(&mut admin, |v| {
        v["type"] == "message" && v["text"] == "hi from b"
    })
    .await;

    // a second tab of alice on node a replaces the one on node b (4009)
    let mut alice2 = ws(a, "/chat").await;
    send(&mut alice2, r#"{"type":"join","name":"alice"}"#).await;
    loop {
        let frame = recv(&mut alice).await;
        if frame.starts_with('c') {
            assert_eq!(frame, "c[4009,\"Replaced by a newer session\"]");
            break;
        }
    }
    wait_for("one alice in the cluster", || {
        hub_a.online("alice") == 1 && hub_b.online("alice") == 1
    })
    .await;

    // the admin on node a kicks alice wherever she is
    let mut alice3 = ws(b, "/chat").await;
    send(&mut alice3, r#"{"type":"join","name":"alice"}"#).await;
    loop {
        let frame = recv(&mut alice2).await;
        if frame.starts_with('c') {
            assert_eq!(frame, "c[4009,\"Replaced by a newer session\"]");
            break;
        }
    }
    wait_for("node a sees alice's session on node b", || {
        hub_a.online("alice") == 1 && hub_a.sessions_of("alice").is_empty()
    })
    .await;
    send(&mut admin, r#"{"type":"say","text":"/kick alice"}"#).await;
    loop {
        let frame = recv(&mut alice3).await;
        if frame.starts_with('c') {
            assert_eq!(frame, "c[4001,\"Kicked by admin\"]");
            break;
        }
    }
    wait_for("alice offline everywhere", || {
        hub_a.online("alice") == 0 && hub_b.online("alice") == 0
    })
    .await;
}

//! SockJS over TLS, served by the TLS example's own code (`sockjs_examples::tls`: rustls,
//! ALPN `h2` and `http/1.1`, hyper-util's `auto` builder) with a self-signed certificate made
//! by the test: every transport over HTTP/2 on one TLS connection, websockets over HTTP/2
//! (RFC 8441) and over an HTTP/1.1 upgrade on the same port, clients without ALPN, the
//! bound on connections that never send a request, and loading PEM files.
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::h2::{open_xhr_streaming, ws_next, ws_over_h2, Stream, H2};
use common::{session, session_id, TIMEOUT};
use futures::SinkExt;
use http::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sockjs_examples::tls::{self, Identity};
use sockjs_hyper::{Config, SockJs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

/// How long the test server waits for a connection's first request.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

struct Server {
    addr: SocketAddr,
    /// The server's self-signed certificate, for the clients to trust.
    cert_pem: String,
}

/// The TLS server (started once per test binary, on its own runtime): `/echo` with the
/// conformance server's response limit (4096) and a 300 ms heartbeat.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let made = Identity::self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("self-signed certificate");
        let cert_pem = made.cert_pem;
        let config = tls::server_config(made.identity).expect("rustls configuration");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("address"))
                    .expect("report the address");
                let mut echo_config = Config::default();
                echo_config.response_limit = 4096;
                echo_config.heartbeat_interval = Duration::from_millis(300);
                let echo =
                    SockJs::new("/echo", echo_config, sockjs_examples::echo).expect("endpoint");
                let fallback: sockjs_examples::Fallback = Arc::new(|_req| {
                    Box::pin(async {
                        sockjs_examples::respond(StatusCode::NOT_FOUND, "text/plain", "no\n")
                    })
                });
                let served = tls::serve_tls(
                    listener,
                    config,
                    vec![echo],
                    fallback,
                    FIRST_REQUEST_TIMEOUT,
                )
                .await;
                if let Err(e) = served {
                    eprintln!("TLS test server stopped: {e}");
                }
            });
        });
        let addr = rx.recv().expect("the server thread reports its address");
        Server { addr, cert_pem }
    })
}

/// A TLS connection to the server offering `alpn`, trusting only its certificate.
async fn tls_connect(alpn: &[&[u8]]) -> TlsStream<tokio::net::TcpStream> {
    let server = server();
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_slice(server.cert_pem.as_bytes()).expect("PEM");
    roots.add(cert).expect("trust the certificate");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(
        TIMEOUT,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake in time")
    .expect("TLS handshake")
}

/// The next `xhr_streaming` frame that is not a heartbeat (they come every 300 ms here).
async fn data_line(stream: &mut Stream) -> String {
    loop {
        let line = stream.line().await;
        if line != "h\n" {
            return line;
        }
    }
}

/// The next websocket message that is not a heartbeat frame.
async fn ws_data<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = ws_next(ws).await;
        if message != Message::text("h") {
            return message;
        }
    }
}

/// HTTP/2 over TLS (ALPN `h2`).
async fn h2_over_tls() -> H2 {
    let tls = tls_connect(&[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN");
    let port = server().addr.port();
    H2::handshake(tls, format!("https://localhost:{port}")).await
}

#[tokio::test]
async fn every_http_transport_over_h2_on_one_tls_connection() {
    let h2 = h2_over_tls().await;
    let (status, content_type, body) = h2.fetch(Method::GET, "/echo/info", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json; charset=UTF-8");
    assert!(body.contains("\"websocket\":true"), "{body}");

    // xhr_streaming, with sends on the same connection, up to the response limit.
    let url = session("/echo");
    let (mut stream, open) = open_xhr_streaming(&h2, &url).await;
    assert_eq!(open, "o\n");
    let message = "y".repeat(128);
    let mut frames = 0;
    loop {
        h2.xhr_send(&url, &[&message]).await;
        assert_eq!(data_line(&mut stream).await, format!("a[\"{message}\"]\n"));
        frames += 1;
        if frames == 31 {
            break;
        }
    }
    assert!(stream.ends().await, "the stream ends at the response limit");

    // eventsource and polling sessions beside it.
    let es_url = session("/echo");
    let resp = h2
        .request(Method::GET, &format!("{es_url}/eventsource"), "")
        .await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut es = Stream::new(resp);
    assert_eq!(es.until(b"\r\n").await.as_deref(), Some("\r\n"));
    assert_eq!(es.event().await, "data: o\r\n\r\n");
    h2.xhr_send(&es_url, &["over TLS"]).await;
    loop {
        let event = es.event().await;
        if event != "data: h\r\n\r\n" {
            assert_eq!(event, "data: a[\"over TLS\"]\r\n\r\n");
            break;
        }
    }

    let poll_url = session("/echo");
    let (_, _, opened) = h2.fetch(Method::POST, &format!("{poll_url}/xhr"), "").await;
    assert_eq!(opened, "o\n");
    h2.xhr_send(&poll_url, &["polled"]).await;
    let (_, _, polled) = h2.fetch(Method::POST, &format!("{poll_url}/xhr"), "").await;
    assert_eq!(polled, "a[\"polled\"]\n");

    let (_, content_type, jsonp) = h2
        .fetch(Method::GET, &format!("{}/jsonp?c=cb", session("/echo")), "")
        .await;
    assert_eq!(content_type, "application/javascript; charset=UTF-8");
    assert_eq!(jsonp, "/**/cb(\"o\");\r\n");
}

#[tokio::test]
async fn heartbeats_over_h2_and_tls() {
    let h2 = h2_over_tls().await;
    let (mut stream, open) = open_xhr_streaming(&h2, &session("/echo")).await;
    assert_eq!(open, "o\n");
    for i in 1..=2 {
        assert_eq!(stream.line().await, "h\n", "heartbeat #{i}");
    }
}

#[tokio::test]
async fn many_sessions_on_one_tls_connection() {
    const SESSIONS: usize = 20;
    let h2 = h2_over_tls().await;
    let mut opened = Vec::new();
    for _ in 0..SESSIONS {
        let url = session("/echo");
        let (stream, open) = open_xhr_streaming(&h2, &url).await;
        assert_eq!(open, "o\n");
        opened.push((url, stream));
    }
    futures::future::join_all(
        opened
            .iter()
            .enumerate()
            .map(|(i, (url, _))| {
                let h2 = &h2;
                async move { h2.xhr_send(url, &[&format!("to {i}")]).await }
            })
            .collect::<Vec<_>>(),
    )
    .await;
    for (i, (_, stream)) in opened.iter_mut().enumerate() {
        assert_eq!(
            data_line(stream).await,
            format!("a[\"to {i}\"]\n"),
            "session {i}"
        );
    }
}

#[tokio::test]
async fn websocket_over_h2_and_tls() {
    let h2 = h2_over_tls().await;
    let mut ws = ws_over_h2(&h2, &format!("{}/websocket", session("/echo"))).await;
    assert_eq!(ws_next(&mut ws).await, Message::text("o"));
    ws.send(Message::text("[\"secure\"]")).await.expect("send");
    assert_eq!(ws_data(&mut ws).await, Message::text("a[\"secure\"]"));
}

#[tokio::test]
async fn websocket_over_http11_on_the_same_port() {
    // A client that offers only HTTP/1.1 upgrades as usual.
    let tls = tls_connect(&[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let port = server().addr.port();
    let url = format!("wss://localhost:{port}/echo/000/{}/websocket", session_id());
    let (mut ws, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(url, tls))
        .await
        .expect("handshake in time")
        .expect("websocket handshake");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(ws_next(&mut ws).await, Message::text("o"));
    ws.send(Message::text("\"upgraded\"")).await.expect("send");
    assert_eq!(ws_data(&mut ws).await, Message::text("a[\"upgraded\"]"));
}

#[tokio::test]
async fn a_client_without_alpn_speaks_http11() {
    let mut tls = tls_connect(&[]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    tls.write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut raw))
        .await
        .expect("the answer in time")
        .ok();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("Welcome to SockJS!\n"), "{text}");
}

/// Whether the server ends the connection (end of stream, a reset, or a failed TLS read)
/// within the bound.
async fn dropped<S: tokio::io::AsyncRead + Unpin>(conn: &mut S) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(n)) => n == 0,
        Ok(Err(_)) => true,
    }
}

#[tokio::test]
async fn connections_without_a_request_are_dropped() {
    // No TLS handshake at all.
    let mut silent = tokio::net::TcpStream::connect(server().addr)
        .await
        .expect("connect");
    assert!(dropped(&mut silent).await, "a silent TCP connection");
    // A TLS handshake, then no request, on either protocol.
    for alpn in [&b"h2"[..], &b"http/1.1"[..]] {
        let mut idle = tls_connect(&[alpn]).await;
        assert!(
            dropped(&mut idle).await,
            "a TLS connection ({}) without a request",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[test]
fn identities_load_from_pem_files_or_fail_clearly() {
    let made = Identity::self_signed(vec!["localhost".into()]).expect("generate");
    let dir = std::env::temp_dir().join(format!("sockjs-tls-test-{}", session_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = |name: &str| -> PathBuf { dir.join(name) };
    std::fs::write(path("cert.pem"), &made.cert_pem).expect("write");
    std::fs::write(path("key.pem"), &made.key_pem).expect("write");
    std::fs::write(path("empty.pem"), "").expect("write");

    let loaded = Identity::from_pem_files(&path("cert.pem"), &path("key.pem")).expect("load");
    assert_eq!(loaded.certs, made.identity.certs);
    assert!(tls::server_config(loaded).is_ok());

    let no_cert = Identity::from_pem_files(&path("empty.pem"), &path("key.pem"));
    assert!(
        matches!(no_cert, Err(tls::TlsError::NoCertificate(_))),
        "{no_cert:?}"
    );
    let missing = Identity::from_pem_files(&path("nowhere.pem"), &path("key.pem"));
    assert!(
        matches!(missing, Err(tls::TlsError::Pem(..))),
        "{missing:?}"
    );
    let no_key = Identity::from_pem_files(&path("cert.pem"), &path("empty.pem"));
    assert!(matches!(no_key, Err(tls::TlsError::Pem(..))), "{no_key:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

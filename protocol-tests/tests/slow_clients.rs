//! Slow-client protection of the conformance server: a client that never finishes its request
//! head is disconnected after the header read timeout, and the server keeps serving others.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use sockjs_protocol_tests::{spawn_background, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server of its own (per test) with a 500 ms header read timeout.
fn impatient_server() -> std::net::SocketAddr {
    spawn_background(ServerOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    })
}

#[tokio::test]
async fn an_unfinished_request_head_is_dropped_after_the_timeout() {
    let addr = impatient_server();
    // A slowloris: a request line and one header, then nothing.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf))
        .await
        .expect("the server must drop a client that never finishes its request head");
    // End of stream (or a reset, or a 408 answer before closing): the connection is over.
    if let Ok(n) = read {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.contains("408"), "unexpected answer: {text}");
    }
    // Other clients are served as usual.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), ok.read_to_end(&mut body))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&body).ends_with("Welcome to SockJS!\n"));
}

/// Whether the server ends `conn` (end of stream or reset) within the bound.
async fn dropped_by_server(conn: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(n)) => n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
        Ok(Err(_)) => true,
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_dropped_after_the_timeout() {
    // The server tells HTTP/1.1 from HTTP/2 by the first bytes; waiting for them is bounded
    // like a request head.
    let addr = impatient_server();
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        dropped_by_server(&mut silent).await,
        "the server must drop a connection that never sends a byte"
    );
}

#[tokio::test]
async fn an_unfinished_http2_preface_is_dropped_after_the_timeout() {
    let addr = impatient_server();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The first half of the 24-byte HTTP/2 preface, then nothing.
    slow.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        dropped_by_server(&mut slow).await,
        "the server must drop a client that never finishes the HTTP/2 preface"
    );
}

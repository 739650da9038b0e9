//! Slow-client protection of the conformance server: a client that never finishes its request
//! head is disconnected after the header read timeout, and the server keeps serving others.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use sockjs_protocol_tests::{spawn_background, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn an_unfinished_request_head_is_dropped_after_the_timeout() {
    let addr = spawn_background(ServerOptions {
        header_read_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
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

//! Heartbeats: an idle receiving transport gets `h` frames, framed like any other frame.
//!
//! These tests always run against a SECOND in-process conformance server whose heartbeat
//! interval is 300 ms (the protocol default of 25 s is far too slow for a test), even when
//! `SOCKJS_URL` points the other tests elsewhere. No test measures time: each read is only
//! bounded by [`TIMEOUT`], so a server that never sends a heartbeat fails instead of hanging.
mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::*;

const HEARTBEAT: Duration = Duration::from_millis(300);

/// `host:port` of the fast-heartbeat server (started once per test binary).
fn server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        sockjs_protocol_tests::spawn_background(sockjs_protocol_tests::ServerOptions {
            heartbeat: HEARTBEAT,
            ..Default::default()
        })
        .to_string()
    })
}

/// A fresh session path on the fast-heartbeat server.
fn hb_session(endpoint: &str) -> String {
    format!("{endpoint}/000/{}", session_id())
}

fn request(method: &str, target: &str) -> Request {
    Request::to_host(server(), method, target)
}

#[tokio::test]
async fn xhr_streaming_idle_receiver_gets_heartbeats() {
    let url = hb_session("/echo");
    let (head, mut conn) = request("POST", &format!("{url}/xhr_streaming"))
        .open()
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(conn.next_chunk_text().await, xhr_streaming_prelude());
    assert_eq!(conn.next_chunk_text().await, "o\n");
    for i in 1..=2 {
        assert_eq!(
            conn.next_chunk_text().await,
            "h\n",
            "heartbeat #{i} of an idle xhr_streaming response, as its own chunk"
        );
    }
    conn.abort().await;
}

#[tokio::test]
async fn xhr_idle_poll_returns_heartbeat() {
    let url = hb_session("/echo");
    let r = request("POST", &format!("{url}/xhr")).send().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
    // Nothing queued: the poll waits, and the heartbeat ends it.
    let r = request("POST", &format!("{url}/xhr")).send().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "h\n", "an idle poll is answered by a heartbeat");
    // The session is alive and well afterwards.
    let r = request("POST", &format!("{url}/xhr_send"))
        .body(r#"["x"]"#)
        .send()
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = request("POST", &format!("{url}/xhr")).send().await;
    assert_eq!(r.text(), "a[\"x\"]\n");
}

#[tokio::test]
async fn websocket_idle_connection_gets_heartbeats() {
    let url = hb_session("/echo");
    let mut ws = ws_connect_url(&format!("ws://{}{url}/websocket", server())).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    for i in 1..=2 {
        assert_eq!(
            ws_recv(&mut ws).await,
            "h",
            "heartbeat #{i} of an idle websocket is an `h` text message"
        );
    }
    // Messages still flow between heartbeats.
    ws_send(&mut ws, r#"["a"]"#).await;
    loop {
        let m = ws_recv(&mut ws).await;
        if m != "h" {
            assert_eq!(m, r#"a["a"]"#);
            break;
        }
    }
    ws_close(ws).await;
}

#[tokio::test]
async fn eventsource_idle_receiver_gets_heartbeats() {
    let url = hb_session("/echo");
    let (head, mut conn) = request("GET", &format!("{url}/eventsource")).open().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(conn.next_chunk_text().await, "\r\n");
    assert_eq!(conn.next_chunk_text().await, "data: o\r\n\r\n");
    for i in 1..=2 {
        assert_eq!(
            conn.next_chunk_text().await,
            "data: h\r\n\r\n",
            "heartbeat #{i} of an idle eventsource response"
        );
    }
    conn.abort().await;
}

#[tokio::test]
async fn htmlfile_idle_receiver_gets_heartbeats() {
    let url = hb_session("/echo");
    let (head, mut conn) = request("GET", &format!("{url}/htmlfile?c=callback"))
        .open()
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    let page = conn.next_chunk_text().await;
    assert!(page.len() > 1024, "the padded page first: {page:?}");
    assert_eq!(
        conn.next_chunk_text().await,
        "<script>\np(\"o\");\n</script>\r\n"
    );
    for i in 1..=2 {
        assert_eq!(
            conn.next_chunk_text().await,
            "<script>\np(\"h\");\n</script>\r\n",
            "heartbeat #{i} of an idle htmlfile response"
        );
    }
    conn.abort().await;
}

#[tokio::test]
async fn jsonp_idle_poll_returns_heartbeat() {
    let url = hb_session("/echo");
    let r = request("GET", &format!("{url}/jsonp?c=x")).send().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"o\");\r\n");
    let r = request("GET", &format!("{url}/jsonp?c=x")).send().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "/**/x(\"h\");\r\n",
        "an idle poll is answered by a heartbeat"
    );
}

/// The raw `/websocket` endpoint carries no SockJS framing, heartbeats included.
#[tokio::test]
async fn raw_websocket_gets_no_heartbeats() {
    let mut ws = ws_connect_url(&format!("ws://{}/echo/websocket", server())).await;
    // Stay idle for several heartbeat intervals; then the first message must be our echo.
    tokio::time::sleep(HEARTBEAT * 4).await;
    ws_send(&mut ws, "ping-through").await;
    assert_eq!(
        ws_recv(&mut ws).await,
        "ping-through",
        "no `h` (or any other frame) on the raw websocket endpoint"
    );
    ws_close(ws).await;
}

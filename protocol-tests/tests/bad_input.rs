//! The server's answers to hostile or malformed input, and that it keeps serving afterwards.
//!
//! sockjs-node 0.3.24 fails these by design (it has no such limits; our server must pass):
//! * `oversized_xhr_send_is_413`: node reads any body size and answers 204.
//! * `oversized_websocket_message_closes_the_connection`: node's websocket accepts messages up
//!   to 64 MiB and echoes the 5 MiB message back.
//! * `deeply_nested_json_is_broken_json`: V8's JSON.parse accepts 100,000 levels of nesting;
//!   handling the parsed value then throws, and node answers its generic 500
//!   "500 - Internal Server Error" instead of "Broken JSON encoding.".
mod common;

use std::time::Duration;

use common::*;

/// 5 MiB: above the server's default maximum request body (4 MiB).
const TOO_BIG: usize = 5 * 1024 * 1024;

/// The server still answers the greeting (used after each hostile input).
async fn assert_still_serving() {
    let r = get("/echo").await;
    assert_eq!(r.status, 200, "the server must keep serving: {r:?}");
    assert_eq!(r.text(), "Welcome to SockJS!\n");
}

#[tokio::test]
async fn oversized_xhr_send_is_413() {
    let url = session("/echo");
    open_xhr_session(&url).await;

    let body = format!("[\"{}\"]", "x".repeat(TOO_BIG));
    let mut conn = HttpConn::connect().await;
    let head = conn
        .send(&Request::post(&format!("{url}/xhr_send")).body(body))
        .await;
    assert_eq!(
        head.status, 413,
        "a 5 MiB xhr_send body is over the 4 MiB default limit: {head:?}"
    );
    conn.abort().await;

    assert_still_serving().await;
    // The session survives, and the oversized message was not delivered.
    xhr_send_ok(&url, r#"["ok"]"#).await;
    let r = xhr(&url).await;
    let text = r.text();
    assert_eq!(
        text.len(),
        "a[\"ok\"]\n".len(),
        "only the small message is delivered, not the oversized one"
    );
    assert_eq!(text, "a[\"ok\"]\n");
}

#[tokio::test]
async fn send_to_unknown_session_is_404() {
    assert_404(
        &xhr_send(&session("/echo"), r#"["a"]"#).await,
        "xhr_send to an unknown session",
    );
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let url = session("/echo");
    for (method, path, allowed) in [
        ("GET", format!("{url}/xhr"), "POST"),
        ("GET", format!("{url}/xhr_send"), "POST"),
        ("GET", format!("{url}/xhr_streaming"), "POST"),
        ("DELETE", format!("{url}/xhr_send"), "POST"),
        ("PUT", "/echo/info".to_string(), "GET"),
        ("POST", "/echo/info".to_string(), "GET"),
        ("DELETE", "/echo/iframe.html".to_string(), "GET"),
    ] {
        let r = Request::new(method, &path).send().await;
        let what = format!("{method} {path}");
        assert_405(&r, &what);
        let allow = r.header("allow").unwrap_or("");
        assert!(
            allow.contains(allowed),
            "{what}: Allow {allow:?} must list {allowed}"
        );
    }
}

#[tokio::test]
async fn invalid_upgrades_are_400() {
    let path = format!("{}/websocket", session("/echo"));
    let r = get_with(&path, &[("Upgrade", "h2c"), ("Connection", "Upgrade")]).await;
    assert_eq!(
        r.status, 400,
        "an upgrade to something else than websocket: {r:?}"
    );

    let r = get_with(
        &path,
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    .await;
    assert_eq!(r.status, 400, "a websocket upgrade without a key: {r:?}");
    assert_still_serving().await;
}

#[tokio::test]
async fn oversized_websocket_message_closes_the_connection() {
    let path = format!("{}/websocket", session("/echo"));
    let mut ws = ws_connect(&path).await;
    assert_eq!(ws_recv(&mut ws).await, "o");

    let message = format!("[\"{}\"]", "x".repeat(TOO_BIG));
    // The server may close while the message is still being written: that is fine.
    let _ = tokio::time::timeout(
        TIMEOUT,
        futures::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text(message),
        ),
    )
    .await;
    match ws_next(&mut ws).await {
        WsEvent::End(WsEnd::Close(Some((code, reason)))) => assert_eq!(
            code, 1009,
            "a close frame for a too big message carries 1009 (reason {reason:?})"
        ),
        WsEvent::End(_) => {}
        other => panic!(
            "a 5 MiB websocket message must close the connection, got {}",
            match other {
                WsEvent::Text(t) => format!("a text message of {} bytes", t.len()),
                WsEvent::Binary(b) => format!("a binary message of {} bytes", b.len()),
                WsEvent::End(e) => format!("{e:?}"),
            }
        ),
    }

    assert_still_serving().await;
    let mut ws = ws_connect(&format!("{}/websocket", session("/echo"))).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, r#"["after"]"#).await;
    assert_eq!(ws_recv(&mut ws).await, r#"a["after"]"#);
    ws_close(ws).await;
}

/// The status of the first response in `bytes`, if there is a parsable one.
fn first_status(bytes: &[u8]) -> Option<u16> {
    let mut headers = vec![httparse::EMPTY_HEADER; 256];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(bytes) {
        Ok(_) => resp.code,
        Err(_) => None,
    }
}

#[tokio::test]
async fn garbage_and_floods_do_not_take_the_server_down() {
    let many_headers: String = (0..10_000).map(|i| format!("X-Flood-{i}: v\r\n")).collect();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("a garbage request line", b"GARBAGE\r\n\r\n".to_vec()),
        ("binary junk", b"\x00\x01\x02\xff\xfe\xfd\r\n\r\n".to_vec()),
        ("an unknown HTTP version", b"GET /echo HTTP/9.9\r\n\r\n".to_vec()),
        (
            "a header line without a colon",
            b"GET /echo HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n".to_vec(),
        ),
        (
            "a non-numeric Content-Length",
            b"POST /echo/a/b/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec(),
        ),
        (
            "a broken chunked body",
            b"POST /echo/a/b/xhr_send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
                .to_vec(),
        ),
        (
            "10,000 headers",
            format!("GET /echo HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
        ),
        (
            "a 1 MiB header",
            format!("GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20))
                .into_bytes(),
        ),
        (
            "a 1 MiB request target",
            format!("GET /echo/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20)).into_bytes(),
        ),
    ];

    let attempts = inputs.into_iter().map(|(what, bytes)| async move {
        let mut conn = HttpConn::connect().await;
        // The server may reset the connection before reading everything.
        let _ = conn.write_raw(&bytes).await;
        let answer = conn.drain(Duration::from_secs(5)).await;
        (what, first_status(&answer))
    });
    for (what, status) in futures::future::join_all(attempts).await {
        if let Some(status) = status {
            assert!(
                status >= 400,
                "{what} must be rejected (or the connection closed), got status {status}"
            );
        }
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn deeply_nested_json_is_broken_json() {
    let url = session("/echo");
    open_xhr_session(&url).await;
    let depth = 100_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let r = xhr_send(&url, &body).await;
    assert_eq!(r.status, 500, "100,000 levels of nesting: {r:?}");
    assert!(
        r.text().contains("Broken JSON encoding."),
        "100,000 levels of nesting: {r:?}"
    );

    // The session survives.
    xhr_send_ok(&url, r#"["a"]"#).await;
    assert_eq!(xhr(&url).await.text(), "a[\"a\"]\n");
}

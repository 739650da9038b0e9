//! The WebSocket transport `/*/*/websocket`: HTTP errors, framing, close, handshake headers,
//! ignored empty frames, both message forms, session id reuse, broken JSON.
//!
//! Not covered: the suite's `test_haproxy` (the obsolete hixie-76 handshake with
//! `Sec-WebSocket-Key1/Key2`); it is optional, off by default, and a later issue.
mod common;

use common::*;

fn ws_path(endpoint: &str) -> String {
    format!("{}/websocket", session(endpoint))
}

// ----- WebsocketHttpErrors -----

#[tokio::test]
async fn plain_get_is_400() {
    let r = get("/echo/0/0/websocket").await;
    assert_eq!(r.status, 400, "a GET without upgrade: {r:?}");
}

#[tokio::test]
async fn connection_close_with_upgrade_is_400() {
    let r = get_with(
        "/echo/0/0/websocket",
        &[("Upgrade", "WebSocket"), ("Connection", "close")],
    )
    .await;
    assert_eq!(r.status, 400, "Upgrade with Connection: close: {r:?}");
}

#[tokio::test]
async fn post_is_405() {
    let r = post("/echo/0/0/websocket", "").await;
    assert_405(&r, "POST websocket");
    let r = post_with(
        "/echo/0/0/websocket",
        &[("Upgrade", "WebSocket"), ("Connection", "Upgrade")],
        "",
    )
    .await;
    assert_405(&r, "POST websocket with upgrade headers");
}

#[tokio::test]
async fn disabled_websocket_is_404() {
    let (head, conn) = ws_handshake_request(&ws_path("/disabled_websocket_echo"))
        .open()
        .await;
    assert_eq!(
        head.status, 404,
        "the websocket URL of an endpoint without websocket: {head:?}"
    );
    conn.abort().await;
}

// ----- Websocket -----

#[tokio::test]
async fn transport() {
    let mut ws = ws_connect(&ws_path("/echo")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, r#"["a"]"#).await;
    assert_eq!(ws_recv(&mut ws).await, r#"a["a"]"#);
    ws_close(ws).await;
}

#[tokio::test]
async fn close() {
    let mut ws = ws_connect(&ws_path("/close")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    assert_eq!(ws_recv(&mut ws).await, r#"c[3000,"Go away!"]"#);
    // Then the connection ends (a close frame, or just the end of the stream).
    ws_expect_end(&mut ws).await;
}

#[tokio::test]
async fn headers_sanity() {
    let (head, conn) = ws_handshake_request(&ws_path("/echo")).open().await;
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(
        head.headers.single("sec-websocket-accept"),
        Some(WS_ACCEPT),
        "Sec-WebSocket-Accept for the known key: {head:?}"
    );
    assert_eq!(
        head.headers
            .single("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("upgrade"),
        "{head:?}"
    );
    assert_eq!(
        head.headers
            .single("upgrade")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("websocket"),
        "{head:?}"
    );
    assert!(
        !head.headers.has_value("content-length"),
        "a 101 carries no Content-Length: {head:?}"
    );
    conn.abort().await;
}

#[tokio::test]
async fn empty_frame_and_empty_array_are_ignored() {
    let mut ws = ws_connect(&ws_path("/echo")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, "").await;
    ws_send(&mut ws, "[]").await;
    ws_send(&mut ws, r#"["a"]"#).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        r#"a["a"]"#,
        "an empty message and [] produce nothing; the next message comes through"
    );
    ws_close(ws).await;
}

#[tokio::test]
async fn single_string_message_accepted() {
    let mut ws = ws_connect(&ws_path("/echo")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, r#""a""#).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        r#"a["a"]"#,
        "a bare JSON string is one message"
    );
    ws_send(&mut ws, r#"["b","c"]"#).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(decode_messages(&ws_recv(&mut ws).await));
    }
    assert_eq!(
        got,
        ["b", "c"],
        "an array carries several messages in order"
    );
    ws_close(ws).await;
}

#[tokio::test]
async fn reuse_session_id() {
    let path = ws_path("/echo");
    let mut ws1 = ws_connect(&path).await;
    assert_eq!(ws_recv(&mut ws1).await, "o");
    let mut ws2 = ws_connect(&path).await;
    assert_eq!(
        ws_recv(&mut ws2).await,
        "o",
        "a second live connection on the same id"
    );

    ws_send(&mut ws1, r#"["a"]"#).await;
    assert_eq!(ws_recv(&mut ws1).await, r#"a["a"]"#);
    ws_send(&mut ws2, r#"["b"]"#).await;
    assert_eq!(ws_recv(&mut ws2).await, r#"a["b"]"#);

    ws_close(ws1).await;
    ws_close(ws2).await;

    // The id may be used again after both closed.
    let mut ws = ws_connect(&path).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, r#"["a"]"#).await;
    assert_eq!(ws_recv(&mut ws).await, r#"a["a"]"#);
    ws_close(ws).await;
}

#[tokio::test]
async fn broken_json_drops_the_connection() {
    let mut ws = ws_connect(&ws_path("/echo")).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    ws_send(&mut ws, r#"["a"#).await;
    ws_expect_end(&mut ws).await;
}

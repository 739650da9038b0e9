//! The raw WebSocket endpoint `/<prefix>/websocket`: plain websocket messages both ways with
//! no SockJS framing (no `o`, `h`, `a[...]`, `c[...]`); a server close is a websocket close
//! frame carrying the code and reason.
mod common;

use common::*;

#[tokio::test]
async fn transport() {
    let mut ws = ws_connect("/echo/websocket").await;
    // No open frame: the first thing we read is the echo of what we send.
    let message = "Hello world!\u{ffff}";
    ws_send(&mut ws, message).await;
    assert_eq!(
        ws_recv(&mut ws).await,
        message,
        "the message comes back verbatim, without a[...] framing"
    );

    // A message that looks like SockJS framing is still just a message.
    for message in [r#"["a"]"#, "o", "h", "c[3000,\"x\"]"] {
        ws_send(&mut ws, message).await;
        assert_eq!(ws_recv(&mut ws).await, message);
    }
    ws_close(ws).await;
}

#[tokio::test]
async fn close() {
    let mut ws = ws_connect("/close/websocket").await;
    match ws_next(&mut ws).await {
        WsEvent::End(WsEnd::Close(Some((code, reason)))) => {
            assert_eq!(code, 3000, "close code");
            assert_eq!(reason, "Go away!", "close reason");
        }
        other => panic!(
            "expected a websocket close frame 3000 \"Go away!\" (no c[...] message), got {other:?}"
        ),
    }
}

#[tokio::test]
async fn disabled_websocket_is_404() {
    let (head, conn) = ws_handshake_request("/disabled_websocket_echo/websocket")
        .open()
        .await;
    assert_eq!(
        head.status, 404,
        "the raw websocket URL of an endpoint without websocket: {head:?}"
    );
    conn.abort().await;
}

#[tokio::test]
async fn plain_get_is_400() {
    let r = get("/echo/websocket").await;
    assert_eq!(r.status, 400, "a GET without upgrade: {r:?}");
}

#[tokio::test]
async fn handshake_headers() {
    let (head, conn) = ws_handshake_request("/echo/websocket").open().await;
    assert_eq!(head.status, 101, "{head:?}");
    assert_eq!(
        head.headers.single("sec-websocket-accept"),
        Some(WS_ACCEPT),
        "Sec-WebSocket-Accept for the known key: {head:?}"
    );
    assert!(
        !head.headers.has_value("content-length"),
        "a 101 carries no Content-Length: {head:?}"
    );
    conn.abort().await;
}

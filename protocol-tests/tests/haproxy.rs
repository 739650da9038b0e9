//! The suite's `Websocket.test_haproxy`: the obsolete hixie-76 websocket handshake
//! (`Sec-WebSocket-Key1/Key2` and an 8-byte key sent after the headers), which the
//! conformance server enables. HAProxy forwards the client's 8-byte key only after it saw the
//! response headers, so the server must write its `101` head *before* it reads that key.
//! Then the SockJS session runs over hixie-76 framing: `0x00 <UTF-8 text> 0xFF`.
mod common;

use common::*;

const KEY1: &str = "4 @1  46546xW%0l 1 5";
const KEY2: &str = "12998 5 Y3 1  .P00";
/// The client's 8-byte key, sent after the response head arrived.
const KEY3: &[u8; 8] = b"aaaaaaaa";
/// MD5 of key1's number, key2's number (both big-endian u32) and KEY3.
const CHALLENGE_ANSWER: &[u8; 16] = b"\xca4\x00\xd8\xa5\x08G\x97,\xd5qZ\xba\xbfC{";

/// Send the hixie-76 request for `path` (no 8-byte key yet) and read the response head.
async fn handshake(path: &str, origin: &str) -> (Head, HttpConn) {
    let mut conn = Request::get(path)
        .headers(&[
            ("Connection", "Upgrade"),
            ("Upgrade", "WebSocket"),
            ("Origin", origin),
            ("Sec-WebSocket-Key1", KEY1),
            ("Sec-WebSocket-Key2", KEY2),
        ])
        .start()
        .await;
    // A server that waits for the 8-byte key before answering times out here.
    let head = conn.read_head().await;
    (head, conn)
}

/// Complete the handshake: send the 8-byte key, check the 16-byte answer.
async fn send_key(conn: &mut HttpConn) {
    conn.write_raw(KEY3).await.expect("writing the 8-byte key");
    assert_eq!(
        conn.read_raw(16).await,
        CHALLENGE_ANSWER,
        "the 16-byte answer to the hixie-76 challenge"
    );
}

/// The next hixie-76 text frame (`0x00 <text> 0xFF`), as text.
async fn read_frame(conn: &mut HttpConn) -> String {
    let frame = conn.read_raw_until(0xFF).await;
    let text = frame
        .strip_prefix(&[0x00])
        .and_then(|f| f.strip_suffix(&[0xFF]))
        .unwrap_or_else(|| panic!("not a hixie-76 text frame: {frame:?}"));
    String::from_utf8(text.to_vec()).expect("hixie-76 text frame is UTF-8")
}

/// Send one hixie-76 text frame.
async fn send_frame(conn: &mut HttpConn, text: &str) {
    let mut frame = vec![0x00];
    frame.extend_from_slice(text.as_bytes());
    frame.push(0xFF);
    conn.write_raw(&frame)
        .await
        .expect("writing a hixie-76 frame");
}

fn origin() -> String {
    format!("http://{}", host())
}

#[tokio::test]
async fn haproxy_handshake_head_before_key() {
    let path = format!("{}/websocket", session("/echo"));
    let origin = origin();
    let (head, mut conn) = handshake(&path, &origin).await;

    assert_eq!(head.status, 101, "{head:?}");
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
    assert_eq!(
        head.headers.single("sec-websocket-location"),
        Some(ws_url(&path).as_str()),
        "Sec-WebSocket-Location is the ws:// URL of the request: {head:?}"
    );
    assert_eq!(
        head.headers.single("sec-websocket-origin"),
        Some(origin.as_str()),
        "Sec-WebSocket-Origin echoes the Origin: {head:?}"
    );
    assert!(
        head.headers.get("content-length").is_none(),
        "no Content-Length on a hixie-76 101: {head:?}"
    );
    assert_eq!(
        conn.buffered(),
        0,
        "nothing may follow the head before the client's key arrived"
    );

    send_key(&mut conn).await;
    conn.abort().await;
}

#[tokio::test]
async fn haproxy_session_over_hixie_framing() {
    let path = format!("{}/websocket", session("/echo"));
    let (head, mut conn) = handshake(&path, &origin()).await;
    assert_eq!(head.status, 101, "{head:?}");
    send_key(&mut conn).await;

    assert_eq!(read_frame(&mut conn).await, "o");
    send_frame(&mut conn, r#"["a"]"#).await;
    assert_eq!(read_frame(&mut conn).await, r#"a["a"]"#);
    // Non-ASCII text crosses the hixie framing intact.
    send_frame(&mut conn, r#"["zażółć ☃ 😀"]"#).await;
    assert_eq!(
        decode_messages(&read_frame(&mut conn).await),
        ["zażółć ☃ 😀"]
    );
    conn.abort().await;
}

#[tokio::test]
async fn haproxy_close() {
    let path = format!("{}/websocket", session("/close"));
    let (head, mut conn) = handshake(&path, &origin()).await;
    assert_eq!(head.status, 101, "{head:?}");
    send_key(&mut conn).await;

    assert_eq!(read_frame(&mut conn).await, "o");
    assert_eq!(read_frame(&mut conn).await, r#"c[3000,"Go away!"]"#);
    // Then the connection ends: at most the hixie-76 closing handshake (0xFF 0x00), then EOF.
    // Our half of the closing handshake, so a server waiting for it need not time out (the
    // server may already be gone: errors are fine).
    let _ = conn.write_raw(&[0xFF, 0x00]).await;
    let rest = conn.drain(TIMEOUT).await;
    assert!(
        rest.is_empty() || rest == [0xFF, 0x00],
        "after the close frame only 0xFF 0x00 may follow, got {rest:?}"
    );
    assert!(
        conn.is_closed().await,
        "the server closes the connection after the close frame"
    );
}

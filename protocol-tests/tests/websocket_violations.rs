//! RFC 6455 violations by the client, written as raw bytes: the server fails the connection
//! with the close frame the RFC asks for (1002 protocol error, 1007 for text that is not UTF-8)
//! before it closes the TCP connection, so the client sees why instead of an abnormal 1006.
//! Also the handshake's `Sec-WebSocket-Key`, which must be 16 bytes in base64.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use common::*;

/// A masked client frame: `first` is the FIN/RSV/opcode byte.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let mask = [0x1f, 0x2e, 0x3d, 0x4c];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// An unmasked frame, as only a server may send.
fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

/// One server frame: (opcode, payload). Servers do not mask.
async fn read_frame(conn: &mut HttpConn) -> (u8, Vec<u8>) {
    let head = conn.read_raw(2).await;
    assert_eq!(head[1] & 0x80, 0, "a server frame is never masked");
    let len = match head[1] & 0x7f {
        126 => {
            let b = conn.read_raw(2).await;
            u16::from_be_bytes([b[0], b[1]]) as usize
        }
        127 => {
            let b = conn.read_raw(8).await;
            u64::from_be_bytes(b.try_into().unwrap()) as usize
        }
        n => n as usize,
    };
    (head[0] & 0x0f, conn.read_raw(len).await)
}

/// Open a websocket session on `path` by hand, past its open frame (if `sockjs`).
async fn open(path: &str, sockjs: bool) -> HttpConn {
    let (head, mut conn) = ws_handshake_request(path).open().await;
    assert_eq!(head.status, 101, "{head:?}");
    if sockjs {
        assert_eq!(read_frame(&mut conn).await, (0x1, b"o".to_vec()));
    }
    conn
}

/// Send `bytes` on a fresh session and expect a close frame with `code` before the end.
async fn expect_close(what: &str, path: &str, sockjs: bool, bytes: &[u8], code: u16) {
    let mut conn = open(path, sockjs).await;
    conn.write_raw(bytes).await.unwrap();
    loop {
        if conn.is_closed().await && conn.buffered() == 0 {
            panic!("{what}: the connection ended without a close frame");
        }
        let (opcode, payload) = read_frame(&mut conn).await;
        match opcode {
            0x8 => {
                assert!(payload.len() >= 2, "{what}: close frame without a code");
                let got = u16::from_be_bytes([payload[0], payload[1]]);
                assert_eq!(got, code, "{what}: close code");
                break;
            }
            // heartbeats, pings
            0x1 | 0x9 | 0xA => continue,
            other => panic!("{what}: unexpected opcode {other:#x}"),
        }
    }
    conn.abort().await;
}

fn violations() -> Vec<(&'static str, Vec<u8>, u16)> {
    let text = br#"["x"]"#;
    vec![
        ("invalid UTF-8 text", frame(0x81, &[b'"', 0xC3, 0x28]), 1007),
        (
            "invalid UTF-8 across fragments",
            [frame(0x01, b"[\"\xE2\x82"), frame(0x80, b"\xFF\"]")].concat(),
            1007,
        ),
        ("RSV1 bit without an extension", frame(0xC1, text), 1002),
        ("RSV3 bit", frame(0x91, text), 1002),
        ("unmasked client frame", unmasked(0x81, text), 1002),
        ("ping of 126 bytes", frame(0x89, &[0u8; 126]), 1002),
        ("fragmented ping", frame(0x09, b"p"), 1002),
        ("continuation without a start", frame(0x80, text), 1002),
        ("reserved data opcode 3", frame(0x83, text), 1002),
        ("reserved control opcode 0xB", frame(0x8B, b""), 1002),
        (
            "new message inside a fragmented one",
            [frame(0x01, b"[\"a"), frame(0x81, text)].concat(),
            1002,
        ),
    ]
}

#[tokio::test]
async fn protocol_violations_get_a_close_frame_before_the_end() {
    for (what, bytes, code) in violations() {
        let path = format!("{}/websocket", session("/echo"));
        expect_close(what, &path, true, &bytes, code).await;
    }
}

#[tokio::test]
async fn the_raw_endpoint_answers_violations_the_same_way() {
    for (what, bytes, code) in violations() {
        expect_close(what, "/echo/websocket", false, &bytes, code).await;
    }
}

#[tokio::test]
async fn a_valid_session_still_works_after_the_checks() {
    let mut conn = open(&format!("{}/websocket", session("/echo")), true).await;
    conn.write_raw(&frame(0x81, br#"["hi"]"#)).await.unwrap();
    assert_eq!(read_frame(&mut conn).await, (0x1, br#"a["hi"]"#.to_vec()));
    conn.abort().await;
}

#[tokio::test]
async fn a_key_that_is_not_16_bytes_of_base64_is_400() {
    let path = format!("{}/websocket", session("/echo"));
    for key in [
        "abc",
        "AAAAAAAAAAAAAAAAAAAA",         // 15 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAA",     // 18 bytes
        "AAAAAAAAAAAAAAAAAAAAAAA=",     // 17 bytes
        "AAAAAAAAAAAAAAAAAAAAAAAAAA==", // 19 bytes
        "!!!!!!!!!!!!!!!!!!!!!!==",     // not base64
        "AAAAAAAAAAAAAAAAAA AAA==",
    ] {
        let r = Request::get(&path)
            .headers(&[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", key),
            ])
            .send()
            .await;
        assert_eq!(r.status, 400, "key {key:?}: {r:?}");
    }
    // 16 bytes, including ones whose base64 uses + and /
    for key in [
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "+/+/+/+/+/+/+/+/+/+/+w==",
        WS_KEY,
    ] {
        let (head, conn) = Request::get(&path)
            .headers(&[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", key),
            ])
            .open()
            .await;
        assert_eq!(head.status, 101, "key {key:?}: {head:?}");
        conn.abort().await;
    }
}

//! The shapes in which real client libraries send frames over SockJS, fed to a session.
//!
//! Facts from the client sources (read from the npm packages):
//!
//! * @stomp/stompjs 7 writes `SEND` as `SEND\n`, `destination:..\n`, the caller's headers,
//!   `content-length:<UTF-8 bytes>\n` (when the body is not empty), `\n`, body, NUL; and
//!   with `splitLargeFrames` sends it in pieces of `maxWebSocketChunkSize` (8192) UTF-16 code
//!   units (`String.substring`), one SockJS message each. It sends `\n` as a heart-beat.
//! * stompjs 2.3.3 writes the same frame shape (accept-version `1.1,1.0`, no header escaping)
//!   and always cuts a frame longer than 16384 UTF-16 code units the same way.
//!
//! A SockJS message is a JavaScript string: a piece ending or starting inside a surrogate pair
//! reaches the server as a lone surrogate, which SockJS decoding turns into U+FFFD.
//! `String::from_utf16_lossy` does exactly that here.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Instant;

use sockjs_stomp::{Config, Output, Route, Session};

/// Cuts `frame` the way `String.prototype.substring` in a loop does, and decodes each piece
/// as SockJS would.
fn js_chunks(frame: &str, units: usize) -> Vec<String> {
    let utf16: Vec<u16> = frame.encode_utf16().collect();
    utf16.chunks(units).map(String::from_utf16_lossy).collect()
}

/// The `SEND` frame both libraries produce for `destination` and `body`.
fn client_send(destination: &str, body: &str) -> String {
    format!(
        "SEND\ndestination:{destination}\ncontent-length:{}\n\n{body}\0",
        body.len()
    )
}

/// Bytes (and code units: the head is ASCII) before the body of `client_send`.
fn head_len(destination: &str, body_len: usize) -> usize {
    client_send(destination, &"x".repeat(body_len)).len() - body_len - 1
}

fn connected(accept_version: &str) -> (Session, Instant) {
    let now = Instant::now();
    let mut session = Session::new(now, Arc::new(Config::default()));
    session.handle_message(
        now,
        &format!("CONNECT\naccept-version:{accept_version}\nheart-beat:10000,10000\n\n\0"),
    );
    assert!(matches!(
        session.poll_output(),
        Some(Output::Authenticate(_))
    ));
    session.accept(now, Some("u".into())).unwrap();
    assert!(matches!(session.poll_output(), Some(Output::Transmit(_))));
    (session, now)
}

fn drain(session: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| session.poll_output()).collect()
}

/// A 40 KiB body of ASCII, two-byte and three-byte characters (no surrogate pairs).
fn large_bmp_body() -> String {
    let mut body = String::new();
    let mut i = 0u32;
    while body.len() < 40 * 1024 {
        body.push(match i % 7 {
            0 => 'é',
            1 => '中',
            2 => '\0',
            _ => char::from(b'a' + (i % 26) as u8),
        });
        i += 1;
    }
    body
}

fn published_bodies(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Publish(p) => Some(p.body.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn stompjs_7_split_large_frames() {
    let (mut session, now) = connected("1.2,1.1,1.0");
    let body = large_bmp_body();
    let frame = client_send("/app/big", &body);
    let chunks = js_chunks(&frame, 8 * 1024);
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        session.handle_message(now, chunk);
        let out = drain(&mut session);
        if i + 1 < chunks.len() {
            assert!(out.is_empty(), "nothing before the last piece: {out:?}");
        } else {
            assert_eq!(published_bodies(&out), std::slice::from_ref(&body));
        }
    }
    assert!(session.is_connected());
}

#[test]
fn legacy_stompjs_splits_at_16_kib() {
    let (mut session, now) = connected("1.1,1.0");
    let body = large_bmp_body();
    let frame = client_send("/topic/big", &body);
    let chunks = js_chunks(&frame, 16 * 1024);
    assert!(chunks.len() >= 2);
    let mut outputs = Vec::new();
    for chunk in &chunks {
        session.handle_message(now, chunk);
        outputs.extend(drain(&mut session));
    }
    assert_eq!(published_bodies(&outputs), [body]);
    assert!(matches!(&outputs[0], Output::Publish(p) if p.route == Route::Broker));
}

#[test]
fn pieces_batched_into_one_xhr_send_are_the_same_messages() {
    // sockjs-client batches queued messages into one xhr_send body; the driver still hands
    // them to the session one by one, in order. Several frames and heart-beats may also
    // share one message when a client pipelines.
    let (mut session, now) = connected("1.2");
    let small = format!(
        "\n{}\n{}",
        client_send("/app/a", "1"),
        client_send("/app/b", "2")
    );
    session.handle_message(now, &small);
    assert_eq!(published_bodies(&drain(&mut session)), ["1", "2"]);
}

#[test]
fn a_piece_holding_only_the_final_nul() {
    // A frame one code unit longer than stompjs 2.3.3's chunk size: the second message is
    // the frame's NUL alone.
    let (mut session, now) = connected("1.1,1.0");
    // Frame length = head + body + NUL = 16385.
    let n = (0..16 * 1024)
        .find(|&n| head_len("/app/a", n) + n + 1 == 16 * 1024 + 1)
        .unwrap();
    let body = "x".repeat(n);
    let frame = client_send("/app/a", &body);
    let chunks = js_chunks(&frame, 16 * 1024);
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1], "\0");
    session.handle_message(now, &chunks[0]);
    assert!(drain(&mut session).is_empty());
    session.handle_message(now, &chunks[1]);
    assert_eq!(published_bodies(&drain(&mut session)), [body]);
}

#[test]
fn a_surrogate_pair_cut_in_half_fails_loudly() {
    // The documented limitation (shared with Spring): an emoji straddling a piece boundary
    // arrives as two U+FFFD, the content-length no longer matches, the session answers ERROR.
    let (mut session, now) = connected("1.2");
    // The emoji's high surrogate is the last code unit of the first piece.
    let a = (0..8 * 1024)
        .find(|&a| head_len("/app/x", a + 8) + a == 8 * 1024 - 1)
        .unwrap();
    let mut body = "a".repeat(a);
    body.push('😀');
    body.push_str("tail");
    let frame = client_send("/app/x", &body);
    let chunks = js_chunks(&frame, 8 * 1024);
    assert!(chunks[0].ends_with('\u{FFFD}') && chunks[1].starts_with('\u{FFFD}'));
    let mut outputs = Vec::new();
    for chunk in &chunks {
        session.handle_message(now, chunk);
        outputs.extend(drain(&mut session));
    }
    assert!(published_bodies(&outputs).is_empty());
    assert!(matches!(outputs.last(), Some(Output::Close(_))));
    let error = outputs
        .iter()
        .find_map(|o| match o {
            Output::Transmit(t) if t.starts_with("ERROR\n") => Some(t.clone()),
            _ => None,
        })
        .expect("an ERROR frame");
    assert!(error.contains("content-length"), "{error}");
}

#[test]
fn the_same_emoji_inside_a_piece_is_fine() {
    let (mut session, now) = connected("1.2");
    let body = format!("{}😀{}", "a".repeat(100), "b".repeat(20_000));
    let frame = client_send("/app/x", &body);
    let chunks = js_chunks(&frame, 8 * 1024);
    let mut outputs = Vec::new();
    for chunk in &chunks {
        session.handle_message(now, chunk);
        outputs.extend(drain(&mut session));
    }
    assert_eq!(published_bodies(&outputs), [body]);
}

#[test]
fn frames_over_the_limit_are_refused_while_arriving() {
    let (mut session, now) = connected("1.2");
    let body = "z".repeat(70 * 1024);
    let frame = client_send("/app/x", &body);
    let mut outputs = Vec::new();
    for chunk in js_chunks(&frame, 8 * 1024) {
        session.handle_message(now, &chunk);
        outputs.extend(drain(&mut session));
        // Never more than one frame's limit buffered, plus the piece just pushed.
        assert!(session.buffered() <= 64 * 1024 + 8 * 1024);
    }
    assert!(matches!(outputs.last(), Some(Output::Close(_))));
    assert!(session.is_closed());
}

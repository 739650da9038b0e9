//! What hostile uploads cost the server, measured over loopback TCP with a counting global
//! allocator: the server runs in this process (on its own runtime thread) and the client
//! writes bodies built before each measurement, so what is allocated during a case is the
//! server's doing (plus a few bytes of the client's bookkeeping).
//!
//! * 40 concurrent 4 MiB `xhr_send` bodies to one session: the session's permit and byte
//!   budget are taken before a body is read, so one body is read and the others are refused
//!   unread (once, all 40 were read: 162 MiB).
//! * a 4 MiB `xhr_send` body, and a 4 MiB websocket message, of a million one-character
//!   messages: decoding stops at the batch limit (once, a million strings: +58 MB).
//!
//! One test in this binary, so that nothing else allocates while it measures. The allocator
//! only knows the peak since the process started: each case measures from the bytes allocated
//! before it, so a peak left by an earlier case can only make a later figure larger, never
//! smaller (the cases run smallest first).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use cap::Cap;
use common::{echo_app, never_reads};
use sockjs_hyper::{Config, SockJs};
use sockjs_protocol_tests::spawn_endpoints;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MIB: usize = 1024 * 1024;

/// What a case may allocate: one request body's worth and its buffers, far below what
/// reading every body (160 MiB) or decoding every message (26 MiB of strings) costs.
const BOUND: usize = 16 * MIB;

/// `["a","a",...]` filling at most `size` bytes, in one allocation.
fn one_char_messages(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    while out.len() + 5 <= size {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"a\"");
    }
    out.push(b']');
    out
}

/// A POST of `body` to `path`, head and body in one buffer.
fn post(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Write `request` and read the answer's status; the server may answer before reading the
/// body and close, so write errors are expected.
async fn status_of(host: &str, request: Arc<Vec<u8>>) -> u16 {
    let stream = TcpStream::connect(host).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        wr
    });
    let mut head = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(30), rd.read_exact(&mut head)).await;
    writer.abort();
    assert!(matches!(read, Ok(Ok(_))), "no answer: {read:?}");
    let status = std::str::from_utf8(&head[9..12]).unwrap();
    status.parse().unwrap()
}

async fn open_session(host: &str, session: &str) {
    let request = Arc::new(post(host, &format!("{session}/xhr"), b""));
    assert_eq!(status_of(host, request).await, 200);
}

/// A websocket handshake for `path`, then one masked text frame carrying `payload` (mask key
/// zero, so the payload goes as it is).
fn websocket_upload(host: &str, path: &str, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let handshake = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        common::WS_KEY
    )
    .into_bytes();
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x81);
    frame.push(0x80 | 127);
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    (handshake, frame)
}

/// Peak bytes allocated while `f` runs, above what was allocated before it.
async fn peak_during<F: std::future::Future>(f: F) -> (F::Output, usize) {
    let before = ALLOCATOR.allocated();
    let r = f.await;
    (r, ALLOCATOR.max_allocated().saturating_sub(before))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_cost_at_most_one_body() {
    let config = Config::default();
    let body_limit = config.max_request_body;
    let unread = SockJs::new("/n", config.clone(), never_reads).unwrap();
    let echoing = SockJs::new("/e", config, echo_app).unwrap();
    let host = spawn_endpoints(vec![unread.clone(), echoing.clone()]).to_string();
    // Warm up what every request allocates once (the runtime, hyper, tracing's callsites).
    open_session(&host, "/e/0/warm").await;
    let r = status_of(
        &host,
        Arc::new(post(&host, "/e/0/warm/xhr_send", b"[\"x\"]")),
    )
    .await;
    assert_eq!(r, 204);

    // A 4 MiB body of a million one-character messages: 413, decoded up to the batch limit.
    let million = one_char_messages(body_limit);
    let request = Arc::new(post(&host, "/e/0/m/xhr_send", &million));
    open_session(&host, "/e/0/m").await;
    let (status, peak) = peak_during(status_of(&host, Arc::clone(&request))).await;
    eprintln!("xhr_send of ~1M one-character messages: {status}, peak +{peak} B");
    assert_eq!(status, 413);
    assert!(peak < BOUND, "the server allocated {peak} B");
    drop(request);

    // The same as one websocket message: closed with 1009.
    let (handshake, frame) = websocket_upload(&host, "/e/0/ws/websocket", &million);
    drop(million);
    let (answer, peak) = peak_during(async {
        let mut ws = TcpStream::connect(&host).await.unwrap();
        ws.write_all(&handshake).await.unwrap();
        let _ = ws.write_all(&frame).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), ws.read_to_end(&mut answer)).await;
        answer
    })
    .await;
    // A close frame (0x88, its length) with code 1009 (0x03F1).
    let closed_for_size = answer
        .windows(4)
        .any(|w| w[0] == 0x88 && w[1] < 126 && w[2..] == [0x03, 0xF1]);
    eprintln!(
        "websocket message of ~1M one-character messages: {} B answered, peak +{peak} B",
        answer.len()
    );
    assert!(closed_for_size, "the message is refused for its size");
    assert!(peak < BOUND, "the server allocated {peak} B");
    drop(frame);

    // 40 concurrent bodies just under 4 MiB (three messages under max_message_size each) to
    // one session whose application does not read: one is read and waits for the
    // application; the others are refused (503) without being read.
    let part = "x".repeat(body_limit / 3 - 16);
    let body = format!("[\"{part}\",\"{part}\",\"{part}\"]");
    drop(part);
    let request = Arc::new(post(&host, "/n/0/s/xhr_send", body.as_bytes()));
    drop(body);
    open_session(&host, "/n/0/s").await;
    let (statuses, peak) = peak_during(async {
        let sends: Vec<_> = (0..40)
            .map(|_| {
                let host = host.clone();
                let request = Arc::clone(&request);
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_secs(3), status_of(&host, request)).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for send in sends {
            statuses.push(send.await.unwrap().ok());
        }
        statuses
    })
    .await;
    let refused = statuses.iter().filter(|s| **s == Some(503)).count();
    let waiting = statuses.iter().filter(|s| s.is_none()).count();
    eprintln!("40 concurrent 4 MiB sends: {refused} refused, {waiting} waiting, peak +{peak} B");
    assert_eq!((refused, waiting), (39, 1), "{statuses:?}");
    assert_eq!(unread.stats().sends_refused, 39);
    assert!(peak < BOUND, "the server allocated {peak} B");
}

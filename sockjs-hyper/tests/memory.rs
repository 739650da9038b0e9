//! What a session keeps of its opening request's headers, measured with a counting allocator:
//! bounded by `max_request_headers` (431 beyond it, nothing kept), and given back when the
//! session ends. The one test of this binary, so nothing else allocates meanwhile.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::alloc::System;

use bytes::Bytes;
use cap::Cap;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use sockjs_hyper::{Config, Connection, SockJs};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const KIB: usize = 1024;

/// A request whose headers add up to about `size` bytes, in 4000-byte values.
fn with_headers(uri: &str, size: usize) -> Request<Full<Bytes>> {
    let mut b = Request::post(uri).header("cookie", "session=abc");
    let value = "v".repeat(4000);
    for i in 0..size / 4000 {
        b = b.header(format!("x-pad-{i}"), value.as_str());
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

async fn echo(mut conn: Connection) {
    while let Some(m) = conn.recv().await {
        if conn.send(m).await.is_err() {
            break;
        }
    }
}

/// Bytes allocated now, in KiB, after letting every task run.
async fn allocated_kib() -> usize {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    ALLOCATOR.allocated() / KIB
}

#[tokio::test(start_paused = true)]
async fn session_headers_are_bounded_and_given_back() {
    let config = Config::default();
    let cap = config.max_request_headers;
    assert_eq!(cap, 16 * KIB);
    let disconnect = config.disconnect_delay;
    let sockjs = SockJs::new("/s", config, echo).unwrap();
    let open = |id: String, size: usize| {
        let sockjs = sockjs.clone();
        async move {
            let r = sockjs
                .handle(with_headers(&format!("/s/0/{id}/xhr"), size))
                .await;
            let status = r.status();
            let _ = r.into_body().collect().await.unwrap();
            status
        }
    };
    // Warm up: one session opened and expired, so that what lives as long as the endpoint
    // (tables, timers) exists before the measure.
    assert_eq!(open("warm".into(), 0).await, StatusCode::OK);
    tokio::time::sleep(disconnect * 2).await;
    assert_eq!(sockjs.session_count(), 0);
    let before = allocated_kib().await;

    // 64 KB of headers, as an attacker's abandoned sessions had: refused, nothing kept.
    for i in 0..200 {
        assert_eq!(
            open(format!("big{i}"), 64_000).await,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
    assert_eq!(sockjs.session_count(), 0);
    let after_refused = allocated_kib().await;
    assert!(
        after_refused <= before + 64,
        "refused requests left {} KiB allocated",
        after_refused.saturating_sub(before)
    );

    // Just under the limit: kept, and a session costs at most the limit and a few KiB more.
    let sessions = 200;
    for i in 0..sessions {
        assert_eq!(open(format!("ok{i}"), cap - 1024).await, StatusCode::OK);
    }
    assert_eq!(sockjs.session_count(), sessions);
    let live = allocated_kib().await.saturating_sub(before);
    let per_session = live / sessions;
    eprintln!(
        "{sessions} sessions with {} KiB of headers: {live} KiB, {per_session} KiB each",
        (cap - 1024) / KIB
    );
    assert!(
        per_session <= cap / KIB + 8,
        "a session with headers of {} KiB costs {per_session} KiB",
        (cap - 1024) / KIB
    );

    // The sessions expire: everything they held is given back.
    tokio::time::sleep(disconnect * 2).await;
    assert_eq!(sockjs.session_count(), 0);
    let after = allocated_kib().await;
    eprintln!(
        "after expiry: {} KiB more than before",
        after.saturating_sub(before)
    );
    assert!(
        after <= before + 64,
        "{} KiB still allocated after every session ended",
        after.saturating_sub(before)
    );
}

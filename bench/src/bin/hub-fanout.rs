//! In-process fan-out of the hub, without sockets: what a room join and a room send cost on
//! the server, next to `SockJs::broadcast`, with the sessions in memory.
//!
//! ```text
//! cargo run --release -p sockjs-bench --bin hub-fanout [-- SESSIONS [SENDS]]
//! ```
//!
//! Opens SESSIONS (default 10 000) xhr sessions on one endpoint, in memory, then for rooms of
//! 100, 1 000, … up to SESSIONS members: the time per join (`ConnectionSender::join`), per
//! `Hub::send_to_room` call and per member reached; then `SockJs::broadcast` to all SESSIONS.
//! A send queues one shared encoded buffer per member (nobody reads: each session's queue
//! holds the messages, well below its bound). Numbers vary between machines and runs; they
//! show the shape: a join costs the same whatever the room's size, a room send is
//! proportional to the room's members, not to the endpoint's sessions.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use sockjs_hyper::{Config, Connection, SockJs};

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n.max(1) as f64
}

fn main() {
    let sessions = arg(1, 10_000).max(1);
    let sends = arg(2, 20).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(run(sessions, sends));
}

async fn run(sessions: usize, sends: usize) {
    let mut config = Config::default();
    // Nobody polls: keep the sessions alive for the whole run.
    config.disconnect_delay = Duration::from_secs(3600);
    let endpoint = SockJs::new("/f", config, |mut conn: Connection| async move {
        while conn.recv().await.is_some() {}
    })
    .expect("an endpoint");
    let opened = Instant::now();
    for i in 0..sessions {
        let req = http::Request::post(format!("/f/0/s{i}/xhr"))
            .body(Empty::<Bytes>::new())
            .expect("a request");
        let r = endpoint.handle(req).await;
        assert_eq!(r.status(), 200, "session {i} opens");
    }
    println!(
        "{sessions} in-memory xhr sessions opened in {:.0} ms; {sends} sends per measurement, 64 B messages",
        opened.elapsed().as_secs_f64() * 1e3
    );
    let all = endpoint.sessions();
    let hub = endpoint.hub().clone();
    let message = "x".repeat(64);
    println!(
        "{:>8} {:>14} {:>18} {:>18} {:>10}",
        "members", "join ns/member", "send_to_room µs", "send ns/member", "skipped"
    );
    let mut size = 100;
    loop {
        let size_now = size.min(sessions);
        let room = format!("room-{size_now}");
        let t = Instant::now();
        for s in &all[..size_now] {
            let _ = s.join(&room);
        }
        let join = t.elapsed();
        assert_eq!(hub.room_len(&room), size_now);
        let mut skipped = 0;
        let t = Instant::now();
        for _ in 0..sends {
            let d = hub.send_to_room(&room, &message).expect("a room send");
            skipped += d.full + d.closed;
        }
        let send = t.elapsed();
        println!(
            "{:>8} {:>14.0} {:>18.1} {:>18.1} {:>10}",
            size_now,
            per(join, size_now),
            per(send, sends) / 1e3,
            per(send, sends * size_now),
            skipped
        );
        if size_now == sessions {
            break;
        }
        size *= 10;
    }
    let t = Instant::now();
    let mut skipped = 0;
    for _ in 0..sends {
        let r = endpoint.broadcast(&message).expect("a broadcast");
        skipped += r.full + r.closed;
    }
    let b = t.elapsed();
    println!(
        "SockJs::broadcast to all {sessions}: {:.1} µs per call, {:.1} ns per session, {skipped} skipped",
        per(b, sends) / 1e3,
        per(b, sends * sessions)
    );
}

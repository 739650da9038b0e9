//! Probes 4a and 4b: what a session keeps of its request's headers. 4a opens websocket
//! sessions with hundreds of kilobytes of headers and, as in the issue, 20,000 xhr sessions
//! with 64 KB of headers each (which hyper accepts: the server's own `max_request_headers`
//! must refuse them, 431); 4b opens thousands of xhr sessions with
//! headers within the limit and abandons them, twice, to see memory grow by what they keep and
//! be freed when they expire.

use std::time::Duration;

use tokio::task::JoinSet;

use super::{kind, Tally};
use crate::http::{session_url, Conn, ProbeError, Request};
use crate::ws::{Open, Ws};
use crate::{Outcome, Sizes, Target};

/// Padding headers whose values add up to `bytes` (at most 9,000 bytes each, well under
/// hyper's 100 headers for any size here).
fn padding(bytes: usize) -> Vec<(String, String)> {
    (0..bytes.div_ceil(9000))
        .map(|i| {
            let len = (bytes - i * 9000).min(9000);
            (format!("X-Probe-Pad-{i}"), "p".repeat(len))
        })
        .collect()
}

/// Open one websocket session with `bytes` of padding headers: the status (101 when a
/// session was opened).
async fn open_websocket_with_headers(target: &Target, bytes: usize) -> Result<u16, ProbeError> {
    let (_, path) = session_url(&target.prefix, "websocket");
    let open = Open {
        origin: target.origin.clone(),
        headers: padding(bytes),
        recv_buffer: None,
    };
    Ok(match Ws::handshake(target.addr, &path, &open).await? {
        Ok(_) => 101,
        Err(head) => head.status,
    })
}

/// 4a: `huge_header_attempts` websocket sessions for each size of `huge_headers`, ten at a
/// time, and `huge_header_sessions` xhr sessions with `huge_header_sessions_bytes` of headers
/// over keep-alive connections; none may open.
pub(crate) async fn huge(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let mut parts = Vec::new();
    let mut details = serde_json::Map::new();
    let mut refused = true;
    for &bytes in &sizes.huge_headers {
        let mut tally = Tally::default();
        let mut left = sizes.huge_header_attempts;
        while left > 0 {
            let wave = left.min(10);
            left -= wave;
            let mut tasks = JoinSet::new();
            for _ in 0..wave {
                let target = target.clone();
                tasks.spawn(async move { open_websocket_with_headers(&target, bytes).await });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(answer) => tally.add(kind(&answer)),
                    Err(e) => tally.add(format!("task failed: {e}")),
                }
            }
        }
        refused &= tally.count("431") == tally.total();
        let label = format!("websocket {} KB", bytes / 1000);
        parts.push(format!("{label}: {}", tally.summary()));
        details.insert(label, tally.json());
    }
    let (n, bytes) = (sizes.huge_header_sessions, sizes.huge_header_sessions_bytes);
    let xhr = open_many(target, n, bytes).await;
    refused &= xhr.count("431") == n;
    let label = format!("xhr {} KB", bytes / 1000);
    parts.push(format!("{label}: {}", xhr.summary()));
    details.insert(label, xhr.json());
    Ok(Outcome {
        summary: parts.join("; "),
        expected: refused,
        details: serde_json::Value::Object(details),
        settle: Duration::from_secs(1),
    })
}

/// Open `n` xhr sessions with `header_bytes` of padding headers each, over 16 keep-alive
/// connections, and never poll them again: `opened`, or each refusal's status. A connection
/// is reused after an answer unless the server asked to close it.
async fn open_many(target: &Target, n: usize, header_bytes: usize) -> Tally {
    const WORKERS: usize = 16;
    let mut tasks = JoinSet::new();
    for worker in 0..WORKERS {
        let target = target.clone();
        let count = n / WORKERS + usize::from(worker < n % WORKERS);
        let pad = padding(header_bytes);
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut conn: Option<Conn> = None;
            for _ in 0..count {
                let (_, path) = session_url(&target.prefix, "xhr");
                let mut req = Request::post(path).origin(target.origin());
                for (name, value) in &pad {
                    req = req.header(name.as_str(), value.as_str());
                }
                let mut c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::open(target.addr).await {
                        Ok(c) => c,
                        Err(e) => {
                            tally.add(e.to_string());
                            continue;
                        }
                    },
                };
                match c.exchange(target.addr, &req, Duration::from_secs(10)).await {
                    Ok((head, body)) if head.status == 200 && body.starts_with(b"o") => {
                        tally.add("opened");
                        conn = Some(c);
                    }
                    Ok((head, _)) => {
                        tally.add(head.status.to_string());
                        let closing = head
                            .header("Connection")
                            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                        if !closing {
                            conn = Some(c);
                        }
                    }
                    Err(e) => tally.add(e.to_string()),
                }
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(worker) => tally.merge(worker),
            Err(e) => tally.add(format!("task failed: {e}")),
        }
    }
    tally
}

/// The least growth of 4b's first round, in kB, at which reuse is judged: 8 MiB.
const JUDGED_KB: u64 = 8 * 1024;

fn mib(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// 4b: `abandoned` xhr sessions with `abandoned_header_bytes` of headers each, opened and
/// never polled again; once they have expired, as many again. Memory grows by what the
/// sessions keep (the headers, within `max_request_headers`, and the session itself); the
/// allocator may keep the freed memory rather than give it back to the system, so whether
/// it was freed shows in the second round, which must reuse it rather than grow as much
/// again. Reuse is judged only when the first round grew the server by [`JUDGED_KB`] or
/// more: below, what the sessions cost is lost in the noise of other allocations.
pub(crate) async fn abandoned(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let rss = || crate::procfs::rss_kb(target.pid).unwrap_or(0);
    let (n, bytes) = (sizes.abandoned, sizes.abandoned_header_bytes);
    let start = rss();
    let first = open_many(target, n, bytes).await;
    let after_first = rss();
    tokio::time::sleep(sizes.session_expiry + Duration::from_secs(2)).await;
    let expired = rss();
    let second = open_many(target, n, bytes).await;
    let after_second = rss();
    let grown = after_first.saturating_sub(start);
    let regrown = after_second.saturating_sub(after_first);
    let per_session = grown as f64 * 1024.0 / n.max(1) as f64 / 1000.0;
    let judged = grown >= JUDGED_KB;
    let reused = regrown < (grown / 4).max(4 * 1024);
    Ok(Outcome {
        summary: format!(
            "{n} sessions with {} KB of headers: {}; +{} MiB ({per_session:.1} KB a session); \
             once expired {} MiB; {n} more: +{} MiB ({})",
            bytes / 1000,
            first.summary(),
            mib(grown),
            mib(expired),
            mib(regrown),
            match (judged, reused) {
                (false, _) => "too little to judge reuse",
                (true, true) => "the freed memory reused",
                (true, false) => "grew again",
            },
        ),
        expected: first.count("opened") == n && second.count("opened") == n && (reused || !judged),
        details: serde_json::json!({
            "sessions_per_round": n,
            "header_bytes": bytes,
            "first_round": first.json(),
            "second_round": second.json(),
            "rss_start_kb": start,
            "rss_after_first_kb": after_first,
            "rss_after_expiry_kb": expired,
            "rss_after_second_kb": after_second,
            "kb_per_session": (per_session * 10.0).round() / 10.0,
            "reuse_judged": judged,
            "reused": reused,
        }),
        settle: sizes.session_expiry + Duration::from_secs(2),
    })
}

//! The probes, one file per issue item, and what several of them share: opening sessions,
//! uploading bodies at a chosen pace, and tallying answers.

mod batch;
mod drain;
mod headers;
mod hixie;
mod lost_send;
mod origin;
mod slow_reader;
mod uploads;
mod violations;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::http::{within, Conn, ProbeError, Request};
use crate::{Outcome, Sizes, Target};

type Running<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, ProbeError>> + Send + 'a>>;

/// Run probe `id`.
pub(crate) async fn run(id: &str, target: &Target, sizes: &Sizes) -> Outcome {
    // Each probe's future on the heap: together they would not fit a thread's stack.
    let probe: Running<'_> = match id {
        "1" => Box::pin(origin::run(target)),
        "2a" => Box::pin(uploads::one_session(target, sizes)),
        "2b" => Box::pin(uploads::many_sessions(target, sizes)),
        "2c" => Box::pin(uploads::trickle(target, sizes)),
        "3a" => Box::pin(batch::bodies(target, sizes, 1)),
        "3b" => Box::pin(batch::bodies(target, sizes, sizes.batches)),
        "3c" => Box::pin(batch::websocket(target, sizes)),
        "4a" => Box::pin(headers::huge(target, sizes)),
        "4b" => Box::pin(headers::abandoned(target, sizes)),
        "5" => Box::pin(hixie::run(target, sizes)),
        "6" => Box::pin(slow_reader::run(target, sizes)),
        "7" => Box::pin(lost_send::run(target, sizes)),
        "8" => Box::pin(drain::run(target)),
        "9" => Box::pin(violations::run(target)),
        other => {
            let unknown = ProbeError::Protocol(format!("no probe {other:?}"));
            Box::pin(async move { Err(unknown) })
        }
    };
    let result = probe.await;
    result.unwrap_or_else(|e| Outcome {
        summary: format!("could not run: {e}"),
        expected: false,
        details: serde_json::json!({ "error": e.to_string() }),
        settle: Duration::ZERO,
    })
}

/// How many answers of each kind (a status code, `reset`, `timeout`, ...).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally(BTreeMap<String, usize>);

impl Tally {
    pub(crate) fn add(&mut self, kind: impl Into<String>) {
        *self.0.entry(kind.into()).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        for (kind, n) in other.0 {
            *self.0.entry(kind).or_default() += n;
        }
    }

    pub(crate) fn count(&self, kind: &str) -> usize {
        self.0.get(kind).copied().unwrap_or(0)
    }

    pub(crate) fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Whether every answer is one of `kinds`.
    pub(crate) fn only(&self, kinds: &[&str]) -> bool {
        self.0.keys().all(|k| kinds.contains(&k.as_str()))
    }

    /// `3×413, 1×reset`.
    pub(crate) fn summary(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{n}×{k}")).collect();
        parts.join(", ")
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!(self.0)
    }
}

/// An answer's kind for a [`Tally`]: the status, or the error's short name.
pub(crate) fn kind(answer: &Result<u16, ProbeError>) -> String {
    match answer {
        Ok(status) => status.to_string(),
        Err(ProbeError::Timeout(_)) => "no answer".into(),
        Err(e) => e.to_string(),
    }
}

/// Open an xhr-polling session under the target's echo prefix (its `o` read); returns the
/// session's base path, `<prefix>/000/<id>`.
pub(crate) async fn open_xhr_session(target: &Target) -> Result<String, ProbeError> {
    let (base, path) = crate::http::session_url(&target.prefix, "xhr");
    let req = Request::post(path).origin(target.origin());
    let (head, body) = crate::http::fetch(target.addr, &req, Duration::from_secs(10)).await?;
    if head.status != 200 || !body.starts_with(b"o") {
        return Err(ProbeError::Protocol(format!(
            "opening an xhr session answered {} {:?}",
            head.status,
            String::from_utf8_lossy(&body)
        )));
    }
    Ok(base)
}

/// A JSON array of as many `message_len`-character strings as fit in `total` bytes: a send
/// body (or websocket message) of that size.
pub(crate) fn batch_of(total: usize, message_len: usize) -> Vec<u8> {
    let count = total.saturating_sub(1) / (message_len + 3);
    let mut out = Vec::with_capacity(total);
    out.push(b'[');
    for i in 0..count {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.resize(out.len() + message_len, b'x');
        out.push(b'"');
    }
    out.push(b']');
    out
}

/// The number of messages [`batch_of`] puts in `total` bytes.
pub(crate) fn batch_len(total: usize, message_len: usize) -> usize {
    total.saturating_sub(1) / (message_len + 3)
}

/// How an upload's body is written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pace {
    /// All at once, as fast as the server reads.
    AtOnce,
    /// In `pieces` equal pieces spread over `over`.
    Trickle { pieces: usize, over: Duration },
}

/// POST `body` to `path` declaring `Content-Length: declared` (which may be more than the
/// body: the rest never comes), written at `pace` while the answer is awaited; the status,
/// or why there was none within `limit`, and when it came.
pub(crate) async fn upload(
    target: &Target,
    path: &str,
    declared: usize,
    body: Arc<[u8]>,
    pace: Pace,
    limit: Duration,
) -> (Result<u16, ProbeError>, Duration) {
    let started = Instant::now();
    let head = Request::post(path)
        .origin(target.origin())
        .header("Content-Type", "text/plain")
        .header("Content-Length", declared.to_string())
        .to_bytes(target.addr);
    let answer = within(limit, "an answer", async {
        let Conn { mut reader, writer } = Conn::open(target.addr).await?;
        let write = write_paced(writer, head, body, pace);
        let read = reader.head();
        tokio::pin!(write, read);
        let mut writing = true;
        loop {
            tokio::select! {
                head = &mut read => return head.map(|h| h.status),
                // A write error (the server closed after answering) does not end the wait
                // for the answer it may already have sent.
                _ = &mut write, if writing => writing = false,
            }
        }
    })
    .await;
    (answer, started.elapsed())
}

/// Write `head` and `body` at `pace`, then hold the connection open: returns only on a
/// write error.
async fn write_paced(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    head: Vec<u8>,
    body: Arc<[u8]>,
    pace: Pace,
) -> std::io::Error {
    let written = async {
        writer.write_all(&head).await?;
        match pace {
            Pace::AtOnce => writer.write_all(&body).await?,
            Pace::Trickle { pieces, over } => {
                let pieces = pieces.max(1);
                let pause = over / pieces as u32;
                for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
                    writer.write_all(piece).await?;
                    tokio::time::sleep(pause).await;
                }
            }
        }
        std::future::pending::<std::io::Result<()>>().await
    };
    match written.await {
        Err(e) => e,
        Ok(()) => std::io::Error::other("unreachable: the writer holds the connection"),
    }
}

/// `x` as seconds with one decimal.
pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_their_size_and_are_json() {
        for (total, len) in [(4 * 1024 * 1024, 1), (1000, 7), (65_536, 1024)] {
            let body = batch_of(total, len);
            assert!(body.len() <= total);
            let parsed: Vec<String> = serde_json::from_slice(&body).unwrap();
            assert_eq!(parsed.len(), batch_len(total, len));
            assert!(
                total - body.len() < len + 3,
                "{total} {len}: {}",
                body.len()
            );
        }
        assert_eq!(batch_len(4 * 1024 * 1024, 1), 1_048_575);
    }

    #[test]
    fn tallies() {
        let mut t = Tally::default();
        t.add("503");
        t.add("410");
        t.add("503");
        assert_eq!(t.summary(), "1×410, 2×503");
        assert_eq!((t.count("503"), t.total()), (2, 3));
        assert!(t.only(&["410", "503"]) && !t.only(&["503"]));
    }
}

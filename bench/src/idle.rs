//! `idle`, `raw-idle` and `idle-xhr-streaming`: open N sessions and leave them idle; the
//! server's RSS before and after gives the memory one idle session costs. Afterwards every
//! session must still answer one echo (so none was silently dropped).
//!
//! The websocket workloads keep one websocket per session. `idle-xhr-streaming` keeps one
//! connection per session, its `xhr_streaming` response open after the prelude and the `o`
//! frame; the check at the end sends through a small pool of shared connections (at most
//! `--concurrency`, opened only then, so they are not in the measured RSS) and reads the echo
//! from the session's own stream. `raw-idle-streaming` does the same with the bare server's
//! plain streaming responses (`POST /stream/<id>`, first line `open`; a `POST` to
//! `/stream/<id>/send` comes out of that response as one line).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::config::{LoadConfig, Workload};
use crate::frame::{self, Kind};
use crate::framing::{EchoFraming, Framing};
use crate::http_client::HttpConn;
use crate::payload;
use crate::procfs;
use crate::stats::{self, Outcome, Stats};
use crate::ws::{self, session_base, Ws};
use crate::xhr::{self, Receiving};

/// How long each session may take to answer the final echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// Client buffers of the idle connections: ten thousand of them must fit in the client too.
pub(crate) const READ_BUFFER: usize = 4096;

pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let size = config.message_size;
    if matches!(
        config.workload,
        Workload::IdleXhrStreaming | Workload::RawIdleStreaming
    ) {
        let pool = SenderPool::new(config.target);
        let sockjs = !config.workload.is_raw();
        return hold(config, stats, open_streams(config, stats), |r| {
            echo_stream(r, &pool, sockjs, size)
        })
        .await;
    }
    let framing = EchoFraming::new(config.workload.is_raw());
    hold(
        config,
        stats,
        ws::connect_all(config, stats, READ_BUFFER),
        |mut c| async move {
            let r = echo_ws(&mut c, &mut framing.clone(), size).await;
            ws::close(c).await;
            r
        },
    )
    .await
}

/// The common course of the idle workloads: read the server's RSS, `open` the sessions, let
/// them settle for the warm-up time, read the RSS again, then `check` every session
/// (`connect_concurrency` at a time, each within [`ECHO_TIMEOUT`]) and count the results.
pub(crate) async fn hold<S, Open, Check, Checked>(
    config: &LoadConfig,
    stats: &Stats,
    open: Open,
    check: Check,
) -> Outcome
where
    Open: Future<Output = Vec<S>>,
    Check: Fn(S) -> Checked,
    Checked: Future<Output = Result<(), String>>,
{
    let before = config.server_pid.and_then(procfs::rss_kb);
    if config.server_pid.is_some() && before.is_none() {
        stats.error("cannot read the server's RSS from /proc");
    }
    let open_sessions = open.await;
    let sessions = open_sessions.len();
    tokio::time::sleep(config.warmup).await;
    let after = config.server_pid.and_then(procfs::rss_kb);

    let check = &check;
    futures::stream::iter(open_sessions)
        .map(|s| async move {
            tokio::time::timeout(ECHO_TIMEOUT, check(s))
                .await
                .unwrap_or_else(|_| Err("an idle session did not echo in time".into()))
        })
        .buffer_unordered(config.connect_concurrency.max(1))
        .for_each(|r| async {
            match r {
                Ok(()) => {
                    stats.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => stats.error(e),
            }
        })
        .await;
    Outcome {
        sessions,
        rss_kb: before.zip(after),
        ..Outcome::default()
    }
}

/// The one message each idle session must echo, as a SockJS client sends it: `["…"]`.
fn echo_request(size: usize) -> String {
    format!("[\"{}\"]", payload::make(0, size))
}

/// Check one SockJS frame while waiting for the echo of [`echo_request`]: `Ok(false)` for a
/// heartbeat (keep waiting), `Ok(true)` for the echo, intact; anything else is an error.
fn echo_frame(text: &str, size: usize) -> Result<bool, String> {
    let mut result = Err("no message".to_string());
    match frame::parse(text, |m| {
        result = payload::check(0, size, m).map_err(|e| payload::describe(0, &e, m));
    })? {
        Kind::Heartbeat => Ok(false),
        Kind::Messages(1) => result.map(|()| true),
        other => Err(format!("unexpected frame {other:?}")),
    }
}

/// Send payload 0 on a websocket with `framing` and wait for it to come back, intact and
/// alone (heartbeats and control frames are skipped).
pub(crate) async fn echo_ws<F: Framing>(
    ws: &mut Ws,
    framing: &mut F,
    size: usize,
) -> Result<(), String> {
    let mut text = String::new();
    framing.write(0, size, &mut text);
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let Some(t) = ws::text_of(ws.next().await)? else {
            continue;
        };
        let mut got = 0;
        framing.read(t.as_str(), |m| {
            got += 1;
            if got > 1 {
                return Err(format!("a second message: {}", frame::shorten(m)));
            }
            payload::check(0, size, m).map_err(|e| payload::describe(0, &e, m))
        })?;
        if got == 1 {
            return Ok(());
        }
    }
}

/// Open `config.connections` streaming responses, `config.connect_concurrency` at a time,
/// each kept open with its client buffers freed: `xhr_streaming` sessions, or for
/// `raw-idle-streaming` the bare server's plain streams. Failures are counted; the responses
/// that opened are returned.
async fn open_streams(config: &LoadConfig, stats: &Stats) -> Vec<Receiving> {
    let addr = config.target;
    let plain = config.workload.is_raw();
    stats::open_all(config, stats, |i| {
        let base = session_base(&config.prefix, i);
        async move {
            let mut r = if plain {
                Receiving::open_plain(addr, base, READ_BUFFER).await?
            } else {
                Receiving::open(addr, base, true, READ_BUFFER).await?
            };
            r.release_buffers();
            Ok(r)
        }
    })
    .await
}

/// Keep-alive connections for the sends of the final check, shared by the sessions being
/// checked.
struct SenderPool {
    addr: SocketAddr,
    idle: Mutex<Vec<HttpConn>>,
}

impl SenderPool {
    fn new(addr: SocketAddr) -> SenderPool {
        SenderPool {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A free connection, or a new one.
    async fn take(&self) -> Result<HttpConn, String> {
        let free = self.idle.lock().ok().and_then(|mut v| v.pop());
        match free {
            Some(c) => Ok(c),
            None => HttpConn::connect_with_read_chunk(self.addr, READ_BUFFER).await,
        }
    }

    /// Return a connection whose last exchange went well.
    fn give_back(&self, c: HttpConn) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(c);
        }
    }
}

/// Send one message into an idle streaming response (`xhr_send` to a SockJS session, or a
/// plain `send` to a bare stream) and read its echo from that response (skipping heartbeats).
async fn echo_stream(
    mut r: Receiving,
    pool: &SenderPool,
    sockjs: bool,
    size: usize,
) -> Result<(), String> {
    let (path, message) = if sockjs {
        (format!("{}/xhr_send", r.base), echo_request(size))
    } else {
        (format!("{}/send", r.base), payload::make(0, size))
    };
    let mut sender = pool.take().await?;
    xhr::post_accepted(&mut sender, &path, message.as_bytes()).await?;
    pool.give_back(sender);
    loop {
        let Some(line) = r.next_line().await? else {
            return Err("the streaming response ended".into());
        };
        if !sockjs {
            return payload::check(0, size, &line).map_err(|m| payload::describe(0, &m, &line));
        }
        if echo_frame(&line, size)? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_frames() {
        let size = 64;
        let request = echo_request(size);
        let p = payload::make(0, size);
        assert_eq!(request, format!("[\"{p}\"]"));
        assert_eq!(
            echo_frame("h", size),
            Ok(false),
            "a heartbeat: keep waiting"
        );
        assert_eq!(echo_frame(&format!("a{request}"), size), Ok(true));
        // Damaged, another message, two messages, a close, garbage: errors.
        assert!(echo_frame(&format!("a[\"{}\"]", &p[..63]), size).is_err());
        let other = payload::make(1, size);
        assert!(echo_frame(&format!("a[\"{other}\"]"), size).is_err());
        assert!(echo_frame(&format!("a[\"{p}\",\"{p}\"]"), size).is_err());
        assert!(echo_frame("a[]", size).is_err());
        assert!(echo_frame("c[3000,\"Go away!\"]", size).is_err());
        assert!(echo_frame("o", size).is_err());
        assert!(echo_frame("x", size).is_err());
    }
}

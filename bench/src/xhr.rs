//! `xhr-streaming` and `xhr-polling`: messages go in with `xhr_send` and come back on one
//! streaming response (renewed when it ends at the response limit) or on long polls.
//!
//! Each session uses two keep-alive connections, like a browser: one for receiving, one for
//! sending. At most `in_flight` messages are outstanding; the sender batches every free slot
//! into one `xhr_send` (as sockjs-client does while a send is in progress).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::StreamExt;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::config::{LoadConfig, Workload};
use crate::frame::{self, Kind};
use crate::http_client::{BodyReader, HttpConn, READ_CHUNK};
use crate::payload;
use crate::stats::{measure, Outcome, Stats, Window};
use crate::ws::session_base;

/// Length of the `xhr_streaming` prelude: 2048 `h` then `\n`.
const PRELUDE: usize = 2048;

#[derive(Clone, Copy)]
struct Params {
    streaming: bool,
    in_flight: usize,
    size: usize,
    window: Window,
    drain: Duration,
}

/// What the sending and the receiving half of a session share.
struct Shared {
    /// Free slots for messages in flight; closed when the receiver fails.
    credits: Semaphore,
    sent_at: Mutex<VecDeque<Instant>>,
    /// The sender is done (all answers in, or given up): the receiver stops.
    stop: Notify,
}

/// The receiving side of a session: its connection and the streaming response being read
/// (also what the `idle-xhr-streaming` workload keeps of each session).
pub(crate) struct Receiving {
    /// `<prefix>/<server>/<session>`.
    pub(crate) base: String,
    conn: HttpConn,
    /// The streaming response being read (`None` for polling).
    body: Option<BodyReader>,
    /// Bytes of the streaming response not yet forming a whole line.
    pending: BytesMut,
}

/// A session whose receiving request has been answered with `o`, and its sending connection.
struct Opened {
    receiving: Receiving,
    sender: HttpConn,
}

pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let streaming = config.workload == Workload::XhrStreaming;
    let addr = config.target;
    let bases: Vec<String> = (0..config.connections)
        .map(|i| session_base(&config.prefix, i))
        .collect();
    let opened: Vec<Result<Opened, String>> = futures::stream::iter(bases)
        .map(|base| open(addr, base, streaming))
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect()
        .await;
    let window = Window::starting_now(config);
    let params = Params {
        streaming,
        in_flight: config.effective_in_flight(),
        size: config.message_size,
        window,
        drain: config.drain,
    };
    let mut tasks = JoinSet::new();
    let mut sessions = 0;
    for o in opened {
        match o {
            Ok(o) => {
                sessions += 1;
                tasks.spawn(session(o, params, Arc::clone(stats)));
            }
            Err(e) => stats.error(e),
        }
    }
    let measured = measure(config, stats, window).await;
    while tasks.join_next().await.is_some() {}
    Outcome {
        measured: Some(measured),
        sessions,
        ..Outcome::default()
    }
}

/// Open a session (its receiving request, read up to the `o` frame) and its sending
/// connection.
async fn open(addr: SocketAddr, base: String, streaming: bool) -> Result<Opened, String> {
    let receiving = Receiving::open(addr, base, streaming, READ_CHUNK).await?;
    let sender = HttpConn::connect(addr).await?;
    Ok(Opened { receiving, sender })
}

impl Receiving {
    /// Connect to `addr` (reading `read_chunk` bytes at a time) and open session `base`
    /// with an `xhr_streaming` request (`streaming`) or an `xhr` poll, up to its `o` frame.
    pub(crate) async fn open(
        addr: SocketAddr,
        base: String,
        streaming: bool,
        read_chunk: usize,
    ) -> Result<Receiving, String> {
        let mut r = Receiving::connect(addr, base, read_chunk).await?;
        let first = if streaming {
            r.start_stream().await?;
            r.next_line()
                .await?
                .ok_or("streaming response ended before the open frame")?
        } else {
            r.poll().await?
        };
        if first != "o" {
            return Err(format!(
                "expected the open frame, got {}",
                frame::shorten(&first)
            ));
        }
        Ok(r)
    }

    /// Free the buffers that hold nothing between frames (they are allocated again by the
    /// next read).
    pub(crate) fn release_buffers(&mut self) {
        self.conn.release_buffers();
        if self.pending.is_empty() {
            self.pending = BytesMut::new();
        }
    }

    /// Connect to the bare server (reading `read_chunk` bytes at a time) and open the plain
    /// streaming response `path` (`/stream/<id>`), up to its first line, `open`.
    pub(crate) async fn open_plain(
        addr: SocketAddr,
        path: String,
        read_chunk: usize,
    ) -> Result<Receiving, String> {
        let mut r = Receiving::connect(addr, path.clone(), read_chunk).await?;
        r.request_stream(&path).await?;
        match r.next_line().await? {
            Some(l) if l == "open" => Ok(r),
            Some(l) => Err(format!("expected `open`, got {}", frame::shorten(&l))),
            None => Err("streaming response ended before its first line".into()),
        }
    }

    /// A fresh connection to `addr` for `base`, nothing requested yet.
    async fn connect(
        addr: SocketAddr,
        base: String,
        read_chunk: usize,
    ) -> Result<Receiving, String> {
        Ok(Receiving {
            base,
            conn: HttpConn::connect_with_read_chunk(addr, read_chunk).await?,
            body: None,
            pending: BytesMut::new(),
        })
    }

    /// `POST` to `path` and start reading its streaming response.
    async fn request_stream(&mut self, path: &str) -> Result<(), String> {
        self.conn.send("POST", path, b"").await?;
        let head = self.conn.head().await?;
        if head.status != 200 {
            return Err(format!("{path} answered {}", head.status));
        }
        self.body = Some(HttpConn::body_reader(&head));
        self.pending.clear();
        Ok(())
    }

    /// Send an `xhr_streaming` request and read its prelude.
    async fn start_stream(&mut self) -> Result<(), String> {
        let path = format!("{}/xhr_streaming", self.base);
        self.request_stream(&path).await?;
        match self.next_line().await? {
            Some(l) if l.len() == PRELUDE && l.bytes().all(|b| b == b'h') => Ok(()),
            Some(l) => Err(format!("expected the prelude, got {}", frame::shorten(&l))),
            None => Err("streaming response ended before its prelude".into()),
        }
    }

    /// The next `\n`-terminated frame of the streaming response (without `\n`); `None` when
    /// the response ended.
    pub(crate) async fn next_line(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line = self.pending.split_to(i + 1);
                return String::from_utf8(line[..i].to_vec())
                    .map(Some)
                    .map_err(|_| "a frame that is not UTF-8".into());
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            match self.conn.read_some(body).await? {
                Some(piece) => self.pending.extend_from_slice(&piece),
                None => {
                    self.body = None;
                    if !self.pending.is_empty() {
                        return Err("streaming response ended inside a frame".into());
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// One `xhr` poll: its single frame, without the `\n`.
    async fn poll(&mut self) -> Result<String, String> {
        let path = format!("{}/xhr", self.base);
        self.conn.send("POST", &path, b"").await?;
        let head = self.conn.head().await?;
        if head.status != 200 {
            return Err(format!("xhr answered {}", head.status));
        }
        let body = self.conn.body(&head).await?;
        let text = std::str::from_utf8(&body).map_err(|_| "a frame that is not UTF-8")?;
        text.strip_suffix('\n').map(str::to_string).ok_or_else(|| {
            format!(
                "a poll answer without its newline: {}",
                frame::shorten(text)
            )
        })
    }
}

async fn session(o: Opened, params: Params, stats: Arc<Stats>) {
    let shared = Shared {
        credits: Semaphore::new(params.in_flight),
        sent_at: Mutex::new(VecDeque::with_capacity(params.in_flight)),
        stop: Notify::new(),
    };
    let Opened { receiving, sender } = o;
    let base = receiving.base.clone();
    let latencies = tokio::join!(
        send_loop(sender, &base, params, &shared, &stats),
        receive_loop(receiving, params, &shared, &stats),
    )
    .1;
    stats.add_latencies(latencies);
}

async fn send_loop(mut conn: HttpConn, base: &str, params: Params, shared: &Shared, stats: &Stats) {
    let path = format!("{base}/xhr_send");
    let mut next_seq: u64 = 0;
    let mut body = String::new();
    let window = params.window;
    while Instant::now() < window.to {
        let first = match tokio::time::timeout_at(window.to.into(), shared.credits.acquire()).await
        {
            Err(_) => break,
            Ok(Err(_)) => {
                // The receiver failed (and said why).
                shared.stop.notify_one();
                return;
            }
            Ok(Ok(permit)) => permit,
        };
        first.forget();
        let mut n = 1;
        while n < params.in_flight {
            match shared.credits.try_acquire() {
                Ok(p) => {
                    p.forget();
                    n += 1;
                }
                Err(_) => break,
            }
        }
        body.clear();
        body.push('[');
        {
            let now = Instant::now();
            let mut sent_at = shared.sent_at.lock().unwrap_or_else(|p| p.into_inner());
            for i in 0..n {
                if i > 0 {
                    body.push(',');
                }
                body.push('"');
                payload::write(next_seq, params.size, &mut body);
                body.push('"');
                next_seq += 1;
                sent_at.push_back(now);
            }
        }
        body.push(']');
        if let Err(e) = post_accepted(&mut conn, &path, body.as_bytes()).await {
            stats.error(e);
            shared.credits.close();
            shared.stop.notify_one();
            return;
        }
        stats.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    // Drain: every slot free again means every answer arrived.
    let all = u32::try_from(params.in_flight).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout_at(
        (window.to + params.drain).into(),
        shared.credits.acquire_many(all),
    )
    .await;
    if drained.is_err() {
        let lost = params.in_flight - shared.credits.available_permits().min(params.in_flight);
        stats.errors_n(lost as u64, "echo not received before the end of the drain");
    }
    shared.stop.notify_one();
}

/// `POST` `body` to `path` (a session's `xhr_send` with a JSON array of strings, or the bare
/// server's `/stream/<id>/send`) and check that it was accepted (200 or 204).
pub(crate) async fn post_accepted(
    conn: &mut HttpConn,
    path: &str,
    body: &[u8],
) -> Result<(), String> {
    conn.send("POST", path, body).await?;
    let head = conn.head().await?;
    let answer = conn.body(&head).await?;
    if head.status != 204 && head.status != 200 {
        return Err(format!(
            "{path} answered {} {}",
            head.status,
            frame::shorten(&String::from_utf8_lossy(&answer))
        ));
    }
    Ok(())
}

/// Receive until the sender says stop; returns the latency samples.
async fn receive_loop(
    mut o: Receiving,
    params: Params,
    shared: &Shared,
    stats: &Stats,
) -> Vec<u64> {
    let mut state = Receiver {
        next_seq: 0,
        latencies: Vec::new(),
    };
    let result = tokio::select! {
        biased;
        _ = shared.stop.notified() => Ok(()),
        r = receive_frames(&mut o, &mut state, params, shared, stats) => r,
    };
    if let Err(e) = result {
        stats.error(e);
        shared.credits.close();
    }
    state.latencies
}

struct Receiver {
    next_seq: u64,
    latencies: Vec<u64>,
}

async fn receive_frames(
    o: &mut Receiving,
    state: &mut Receiver,
    params: Params,
    shared: &Shared,
    stats: &Stats,
) -> Result<(), String> {
    loop {
        let frame = if params.streaming {
            match o.next_line().await? {
                Some(line) => line,
                None => {
                    // The response limit was reached: renew the streaming request.
                    stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    o.start_stream().await?;
                    continue;
                }
            }
        } else {
            o.poll().await?
        };
        let mut bad = None;
        let kind = frame::parse(&frame, |m| {
            if bad.is_some() {
                return;
            }
            let seq = state.next_seq;
            if let Err(mismatch) = payload::check(seq, params.size, m) {
                bad = Some(payload::describe(seq, &mismatch, m));
                return;
            }
            state.next_seq += 1;
            stats.received.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let sent = shared
                .sent_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            if let Some(sent) = sent {
                if params.window.contains(now) {
                    state
                        .latencies
                        .push(u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX));
                }
            }
            shared.credits.add_permits(1);
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        match kind {
            Kind::Messages(_) | Kind::Heartbeat => {}
            Kind::Open => return Err("a second open frame".into()),
            Kind::Close(c) => return Err(format!("the server closed the session: {c}")),
        }
    }
}

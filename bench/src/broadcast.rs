//! `broadcast`: N websocket sessions on the broadcast endpoint; session 0 sends a message,
//! the time until the last of the N sessions (itself included) has received it is measured.
//! `raw-broadcast` does the same over plain websockets (the bare server's room): each
//! websocket message is one broadcast message, with no SockJS framing. `room-broadcast` does it
//! on sockjs-rs's `/room`, where the room is the hub's (`Connection::join`,
//! `Hub::send_to_room`: encoded once for all members) instead of the application's;
//! `endpoint-broadcast` on sockjs-rs's `/all`, where every message goes to every session of
//! the endpoint with `SockJs::broadcast`.
//!
//! First, warm-up broadcasts are repeated until one reaches every session (so every session
//! has joined the room); then up to `repetitions` measured broadcasts, one at a time, within
//! `duration`. Every session must receive every measured broadcast, intact and in order.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::LoadConfig;
use crate::framing::Framing;
use crate::payload;
use crate::stats::{CpuClock, Outcome, Stats};
use crate::ws::{self, Ws};

/// Warm-up broadcasts carry sequence numbers from here (measured ones count from 0).
const WARMUP_BASE: u64 = 9_000_000_000;
/// Warm-up broadcasts that must reach everyone before measuring.
const WARMUPS_NEEDED: usize = 3;
/// Warm-up attempts before giving up.
const WARMUP_ATTEMPTS: usize = 30;
/// How long one broadcast may take to reach everyone.
const BROADCAST_TIMEOUT: Duration = Duration::from_secs(5);

/// The broadcast in progress and its receipts.
struct Round {
    /// Sequence number of the broadcast being counted.
    current: AtomicU64,
    /// Sessions that received it.
    got: AtomicUsize,
    /// When the last session received it: `(sequence, time)`.
    done: Mutex<Option<(u64, Instant)>>,
    wake: Notify,
    sessions: usize,
}

impl Round {
    fn start(&self, seq: u64) {
        self.got.store(0, Ordering::Relaxed);
        self.current.store(seq, Ordering::Relaxed);
    }

    fn receipt(&self, seq: u64) {
        if seq != self.current.load(Ordering::Relaxed) {
            return; // a late warm-up
        }
        if self.got.fetch_add(1, Ordering::Relaxed) + 1 == self.sessions {
            if let Ok(mut d) = self.done.lock() {
                *d = Some((seq, Instant::now()));
            }
            self.wake.notify_one();
        }
    }

    fn done_for(&self, seq: u64) -> Option<Instant> {
        self.done
            .lock()
            .ok()
            .and_then(|d| d.filter(|(s, _)| *s == seq).map(|(_, t)| t))
    }

    /// Wait until broadcast `seq` reached every session, or `deadline`.
    async fn wait(&self, seq: u64, deadline: Instant) -> Option<Instant> {
        loop {
            if let Some(t) = self.done_for(seq) {
                return Some(t);
            }
            if tokio::time::timeout_at(deadline.into(), self.wake.notified())
                .await
                .is_err()
            {
                return self.done_for(seq);
            }
        }
    }
}

pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let conns = ws::connect_framed(config, stats, 16 * 1024).await;
    run_with(config, stats, conns).await
}

/// Broadcast through the first of `conns` to all of them, each reading with its framing.
pub(crate) async fn run_with<F>(
    config: &LoadConfig,
    stats: &Arc<Stats>,
    conns: Vec<(Ws, F)>,
) -> Outcome
where
    F: Framing + Clone + Send + 'static,
{
    let sessions = conns.len();
    let mut outcome = Outcome {
        sessions,
        ..Outcome::default()
    };
    let mut conns = conns.into_iter();
    let Some((first, mut framing)) = conns.next() else {
        return outcome;
    };
    let round = Arc::new(Round {
        current: AtomicU64::new(u64::MAX),
        got: AtomicUsize::new(0),
        done: Mutex::new(None),
        wake: Notify::new(),
        sessions,
    });
    let (mut sink, stream0) = first.split();
    let mut receivers = JoinSet::new();
    let size = config.message_size;
    let receiver = |framing| Receiver {
        size,
        framing,
        next_measured: 0,
        round: Arc::clone(&round),
        stats: Arc::clone(stats),
    };
    // The first connection's framing writes the broadcasts; its reader gets a copy.
    receivers.spawn(receive(stream0, receiver(framing.clone())));
    for (c, f) in conns {
        receivers.spawn(receive(c, receiver(f)));
    }

    let mut text = String::new();
    let mut send = |seq: u64| {
        text.clear();
        framing.write(seq, size, &mut text);
        stats.sent.fetch_add(1, Ordering::Relaxed);
        Message::text(text.as_str())
    };

    // Warm up until every session is in the room.
    let mut reached = 0;
    for attempt in 0..WARMUP_ATTEMPTS as u64 {
        let seq = WARMUP_BASE + attempt;
        round.start(seq);
        if let Err(e) = sink.send(send(seq)).await {
            stats.error(format_args!("broadcast send: {e}"));
            return outcome;
        }
        let wait = config.warmup.max(Duration::from_millis(200));
        if round.wait(seq, Instant::now() + wait).await.is_some() {
            reached += 1;
            if reached == WARMUPS_NEEDED {
                break;
            }
        }
    }
    if reached < WARMUPS_NEEDED {
        stats.error(format_args!(
            "warm-up broadcasts did not reach all {sessions} sessions"
        ));
        return outcome;
    }

    // Measure.
    let start = Instant::now();
    let end = start + config.duration;
    let cpu0 = CpuClock::read(config.server_pid);
    let received0 = stats.received();
    for seq in 0..config.repetitions as u64 {
        if Instant::now() >= end {
            break;
        }
        round.start(seq);
        let t0 = Instant::now();
        if let Err(e) = sink.send(send(seq)).await {
            stats.error(format_args!("broadcast send: {e}"));
            break;
        }
        match round.wait(seq, t0 + BROADCAST_TIMEOUT).await {
            Some(t) => outcome
                .broadcast_ns
                .push(u64::try_from((t - t0).as_nanos()).unwrap_or(u64::MAX)),
            None => {
                let missing = sessions - round.got.load(Ordering::Relaxed).min(sessions);
                stats.errors_n(missing as u64, "a broadcast did not reach a session");
                break;
            }
        }
    }
    let window = start.elapsed();
    let cpu1 = CpuClock::read(config.server_pid);
    outcome.measured = Some(cpu0.measured(cpu1, stats.received() - received0, window));
    receivers.abort_all();
    while receivers.join_next().await.is_some() {}
    drop(sink);
    outcome
}

/// What one session's receiving side knows.
struct Receiver<F> {
    size: usize,
    /// How broadcasts arrive.
    framing: F,
    /// The measured broadcast expected next.
    next_measured: u64,
    round: Arc<Round>,
    stats: Arc<Stats>,
}

/// Check and count one broadcast payload.
fn broadcast_payload(
    m: &str,
    size: usize,
    next_measured: &mut u64,
    round: &Round,
    stats: &Stats,
) -> Result<(), String> {
    let Some(seq) = payload::sequence(m) else {
        return Err(payload::describe(
            *next_measured,
            &payload::Mismatch::Garbled,
            m,
        ));
    };
    payload::check(seq, size, m).map_err(|e| payload::describe(seq, &e, m))?;
    if seq < WARMUP_BASE {
        if seq != *next_measured {
            return Err(payload::describe(
                *next_measured,
                &payload::Mismatch::OutOfOrder { got: seq },
                m,
            ));
        }
        *next_measured += 1;
        stats.received.fetch_add(1, Ordering::Relaxed);
    }
    round.receipt(seq);
    Ok(())
}

impl<F: Framing> Receiver<F> {
    /// Check and count what one websocket text message carries.
    fn text(&mut self, text: &str) -> Result<(), String> {
        let Receiver {
            size,
            framing,
            next_measured,
            round,
            stats,
        } = self;
        framing.read(text, |m| {
            broadcast_payload(m, *size, next_measured, round, stats)
        })
    }
}

/// One session's receiving side: count each broadcast, check measured ones arrive in order.
async fn receive<S, F>(mut stream: S, mut receiver: Receiver<F>)
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
    F: Framing,
{
    while let Some(incoming) = stream.next().await {
        let text = match incoming {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(c)) => {
                receiver
                    .stats
                    .error(format_args!("the server closed: {c:?}"));
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                receiver.stats.error(format_args!("receive: {e}"));
                return;
            }
        };
        if let Err(e) = receiver.text(text.as_str()) {
            receiver.stats.error(e);
            return;
        }
    }
    receiver
        .stats
        .error("a broadcast session's connection ended");
}

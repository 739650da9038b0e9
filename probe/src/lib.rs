//! A hostile client for sockjs-rs: the attacks of issue 15 ("hardening, round two"), run
//! against a live server on loopback, with the server process's memory measured before, at
//! peak and after each, and a check after each that the server still serves.
//!
//! Every probe is one item of the issue (several for the items that name several attacks):
//!
//! | probe | issue item | attack | what the issue asks |
//! |---|---|---|---|
//! | `1` | 1 | jsonp, htmlfile, eventsource and iframe reads labelled cross-site (`Sec-Fetch-Site`, a foreign `Referer`), no `Origin` | 403 from a server with an allow-list |
//! | `2a` | 2 | 40 concurrent 4 MiB `xhr_send` bodies to one session | bounded before the body is read |
//! | `2b` | 2 | 40 concurrent 4 MiB `xhr_send` bodies to 40 sessions | bounded per endpoint |
//! | `2c` | 2 | 100 uploads trickling one byte short of 256 KiB | answered within `body_read_timeout` |
//! | `3a` | 3 | one 4 MiB body of ~1 M one-character messages | 413 without decoding it all |
//! | `3b` | 3 | eight such bodies at once | the same |
//! | `3c` | 3 | the same batch as websocket messages, eight at once | close 1009 |
//! | `4a` | 4 | websocket sessions opened with 396 KB and 64 KB of headers; 20,000 xhr sessions with 64 KB | 431 |
//! | `4b` | 4 | thousands of abandoned xhr sessions with 12 KB of headers (within limits), twice | memory freed when they expire (reused by the second round) |
//! | `5` | 5 | a 4 MiB hixie-76 frame dripped in 2 KiB pieces (and, for scale, an RFC 6455 one) | CPU linear in its size |
//! | `6` | 6 | a websocket client reading `/amplify` steadily at ~8 KB/s for longer than `write_timeout` | still connected |
//! | `7` | 7 | a 10,000-message `xhr_send` to a session nobody receives from | not 204 |
//! | `8` | 8 | SIGINT to the server, then new connections during the drain | answered, not left hanging |
//! | `9` | 9 | each websocket protocol violation of the issue | a close frame 1002/1007 before the TCP close |
//!
//! [`run`] runs one probe against a [`Target`] and returns a [`ProbeReport`] (a Markdown
//! table row, a JSON line). Probe `8` sends SIGINT to the server: it runs only when
//! [`Target::allow_shutdown`] is set. The sizes are the ([`Sizes::default`]);
//! [`Sizes::smoke`] shrinks them for tests. Every probe is bounded in count and time: each
//! network step has a deadline, and each probe as a whole has [`Sizes::probe_limit`].
//!
//! Memory is read from `/proc/<pid>/status`: `VmRSS` before and after, and the peak from
//! `VmHWM` (reset before each probe through `/proc/<pid>/clear_refs` when the kernel allows
//! it) together with `VmRSS` sampled every 20 ms. A probe passes when what the issue asks
//! holds, the peak is less than 64 MiB above the memory before, and the server still answers
//! `GET <prefix>/info` with 200 and echoes a websocket message.
//!
//! `scripts/hostile-probe.sh` runs every probe against a fresh release server each and writes
//! `bench/report/PROBES.md`.
#![deny(missing_docs)]

pub mod http;
mod probes;
pub mod procfs;
pub mod report;
mod serving;
pub mod ws;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use report::{ProbeReport, Serving};

/// The bound the issue sets on each probe's memory growth.
pub const GROWTH_BOUND_KB: u64 = 64 * 1024;

/// The server under attack.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    /// Its process id, for `/proc` (the test's own process for an in-process server).
    pub pid: u32,
    /// The echo endpoint's prefix (`/echo` on the conformance server and the production
    /// example).
    pub prefix: String,
    /// The conformance server's `/amplify` endpoint (probe 6).
    pub amplify_prefix: String,
    /// An `Origin` the server allows, sent on every request that is not an attack (needed
    /// against a server with an allow-list that refuses unlabelled requests).
    pub origin: Option<String>,
    /// Whether probe 8 may send SIGINT to [`pid`](Target::pid).
    pub allow_shutdown: bool,
    /// A name for the server in reports (`conformance`, `production`), if any.
    pub label: Option<String>,
}

impl Target {
    /// The conformance server's endpoints at `addr`, in process `pid`.
    pub fn new(addr: SocketAddr, pid: u32) -> Target {
        Target {
            addr,
            pid,
            prefix: "/echo".into(),
            amplify_prefix: "/amplify".into(),
            origin: None,
            allow_shutdown: false,
            label: None,
        }
    }

    fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

/// How big and how long each probe is. [`Default`] is the attack.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Probe 2a/2b: the declared size of each upload body.
    pub upload_bytes: usize,
    /// Probe 2a/2b: concurrent uploads.
    pub uploads: usize,
    /// Probe 2c: trickling uploads, each to its own session.
    pub trickles: usize,
    /// Probe 2c: each trickle's declared body size (one byte more than it sends).
    pub trickle_bytes: usize,
    /// Probe 2c: how long the trickles keep sending (longer than the server's
    /// `body_read_timeout`); they are then awaited as long again at most.
    pub trickle_for: Duration,
    /// Probe 3: each body (and websocket message) of one-character messages.
    pub batch_bytes: usize,
    /// Probe 3b/3c: how many at once.
    pub batches: usize,
    /// Probe 4a: the header sizes tried, in bytes of padding headers.
    pub huge_headers: Vec<usize>,
    /// Probe 4a: websocket handshakes per size (ten at a time).
    pub huge_header_attempts: usize,
    /// Probe 4a: xhr session requests with
    /// [`huge_header_sessions_bytes`](Sizes::huge_header_sessions_bytes) of headers each, over
    /// 16 keep-alive connections: the 20,000 abandoned sessions.
    pub huge_header_sessions: usize,
    /// Probe 4a: header bytes of each of those xhr requests.
    pub huge_header_sessions_bytes: usize,
    /// Probe 4b: abandoned sessions in each of its two rounds. They are within the limits,
    /// so the server's memory grows with their number (about 17 KB each with 12 KB of
    /// headers): the default, 2,000, keeps the probe well inside the 64 MiB bound, which is
    /// about attacks the server refuses; 4b's verdict is about the memory being reused.
    pub abandoned: usize,
    /// Probe 4b: header bytes of each.
    pub abandoned_header_bytes: usize,
    /// Probe 5: the frame's size.
    pub drip_bytes: usize,
    /// Probe 5: the piece size.
    pub drip_piece: usize,
    /// Probe 5: the pause after each piece, so that the server reads them one by one.
    pub drip_pause: Duration,
    /// Probe 5: whether the server's CPU time must be linear (hixie-76 at most 4× RFC 6455's
    /// plus 0.3 s). Off in [`Sizes::smoke`]: at its size both are a few milliseconds, which
    /// tell nothing and vary with whatever else the process does.
    pub judge_cpu: bool,
    /// Probe 6: the client's reading rate, bytes per second.
    pub slow_rate: usize,
    /// Probe 6: how long it reads at that rate (longer than the server's `write_timeout`).
    pub slow_for: Duration,
    /// Probe 6: `/amplify` requests of 2^18 bytes queued at the start.
    pub slow_replies: usize,
    /// Probe 7: messages in the send.
    pub lost_messages: usize,
    /// The server's `disconnect_delay`: probes that leave sessions behind wait this long
    /// (and a little) before measuring memory "after".
    pub session_expiry: Duration,
    /// The most any one probe may take.
    pub probe_limit: Duration,
    /// Whether to wait, after a probe, for the sessions it left behind to expire before
    /// reading memory "after" (the settled growth). Off in [`Sizes::smoke`], which does not
    /// look at that figure.
    pub settle: bool,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            upload_bytes: 4 * 1024 * 1024,
            uploads: 40,
            trickles: 100,
            trickle_bytes: 256 * 1024,
            trickle_for: Duration::from_secs(40),
            batch_bytes: 4 * 1024 * 1024,
            batches: 8,
            huge_headers: vec![396_000, 64_000],
            huge_header_attempts: 25,
            huge_header_sessions: 20_000,
            huge_header_sessions_bytes: 64_000,
            abandoned: 2000,
            abandoned_header_bytes: 12_000,
            drip_bytes: 4 * 1024 * 1024,
            drip_piece: 2048,
            drip_pause: Duration::from_millis(1),
            judge_cpu: true,
            slow_rate: 8 * 1024,
            slow_for: Duration::from_secs(40),
            slow_replies: 16,
            lost_messages: 10_000,
            session_expiry: Duration::from_secs(5),
            probe_limit: Duration::from_secs(240),
            settle: true,
        }
    }
}

impl Sizes {
    /// Small and short, for tests: the same attacks at a fraction of the size, a few seconds
    /// each (probe 7 waits for the session to expire: the server's `disconnect_delay`, 5 s by
    /// default). Probe 2c needs a server whose `body_read_timeout` is under its 3 s of
    /// trickling.
    pub fn smoke() -> Sizes {
        Sizes {
            upload_bytes: 256 * 1024,
            uploads: 6,
            trickles: 4,
            trickle_bytes: 16 * 1024,
            trickle_for: Duration::from_secs(3),
            batch_bytes: 512 * 1024,
            batches: 2,
            huge_headers: vec![64_000],
            huge_header_attempts: 2,
            huge_header_sessions: 40,
            huge_header_sessions_bytes: 64_000,
            abandoned: 40,
            abandoned_header_bytes: 12_000,
            drip_bytes: 64 * 1024,
            drip_piece: 2048,
            drip_pause: Duration::ZERO,
            judge_cpu: false,
            slow_rate: 64 * 1024,
            slow_for: Duration::from_secs(2),
            slow_replies: 2,
            // More than the echo application can take without a receiver (its inbound
            // queue, 64, and its outbound queue, 4096): a smaller send succeeds, rightly.
            lost_messages: 5000,
            // The servers' default disconnect_delay: probe 4b waits for its sessions to
            // expire between its rounds.
            session_expiry: Duration::from_secs(5),
            probe_limit: Duration::from_secs(60),
            settle: false,
        }
    }
}

/// A probe's identity.
#[derive(Clone, Copy, Debug)]
pub struct ProbeInfo {
    /// Its id (`1`, `2a`, ...).
    pub id: &'static str,
    /// The issue item it attacks.
    pub item: u8,
    /// What it does, in a few words.
    pub title: &'static str,
    /// The answer the issue asks for, in a few words (`413`, `close 1009`, ...).
    pub expect: &'static str,
    /// Whether it needs a server with an origin allow-list (the production example).
    pub needs_allow_list: bool,
    /// Whether it ends the server (SIGINT).
    pub ends_server: bool,
}

/// Every probe, in the order.
pub const PROBES: &[ProbeInfo] = &[
    info(
        "1",
        1,
        "cross-site script/iframe reads",
        "403 (same-origin control: 200)",
        true,
        false,
    ),
    info(
        "2a",
        2,
        "40 × 4 MiB xhr_send, one session",
        "204/410/503, none held",
        false,
        false,
    ),
    info(
        "2b",
        2,
        "40 × 4 MiB xhr_send, 40 sessions",
        "204/410/503, none held",
        false,
        false,
    ),
    info(
        "2c",
        2,
        "100 uploads trickling 256 KiB − 1",
        "408",
        false,
        false,
    ),
    info("3a", 3, "4 MiB body of ~1 M messages", "413", false, false),
    info("3b", 3, "8 such bodies at once", "413", false, false),
    info(
        "3c",
        3,
        "8 such websocket messages",
        "close 1009",
        false,
        false,
    ),
    info(
        "4a",
        4,
        "20,000 xhr sessions with 64 KB headers; websockets with 396 / 64 KB",
        "431",
        false,
        false,
    ),
    info(
        "4b",
        4,
        "abandoned xhr sessions, 12 KB headers, twice",
        "200; memory reused after expiry",
        false,
        false,
    ),
    info(
        "5",
        5,
        "4 MiB hixie-76 frame in 2 KiB drips",
        "echoed; CPU linear",
        false,
        false,
    ),
    info(
        "6",
        6,
        "websocket reading /amplify at 8 KB/s",
        "not dropped",
        false,
        false,
    ),
    info(
        "7",
        7,
        "10,000-message xhr_send, no receiver",
        "410 (not 204)",
        false,
        false,
    ),
    info(
        "8",
        8,
        "SIGINT, then connect during the drain",
        "503, 1001, exit",
        true,
        true,
    ),
    info(
        "9",
        9,
        "websocket protocol violations",
        "close 1002 / 1007",
        false,
        false,
    ),
];

const fn info(
    id: &'static str,
    item: u8,
    title: &'static str,
    expect: &'static str,
    needs_allow_list: bool,
    ends_server: bool,
) -> ProbeInfo {
    ProbeInfo {
        id,
        item,
        title,
        expect,
        needs_allow_list,
        ends_server,
    }
}

/// The probe called `id`, if there is one.
pub fn probe(id: &str) -> Option<ProbeInfo> {
    PROBES.iter().copied().find(|p| p.id == id)
}

/// What a probe saw, before memory and liveness are added.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One line for the table.
    pub summary: String,
    /// Whether what the issue asks for held.
    pub expected: bool,
    /// Everything measured, for the JSON line.
    pub details: serde_json::Value,
    /// How long to wait after the probe before reading memory "after" (for sessions it left
    /// behind to expire).
    pub settle: Duration,
}

/// Run probe `info` against `target` with `sizes`: memory before, the attack, memory at
/// peak and after, and whether the server still serves. Never panics on what the server
/// does; a probe that cannot run says why in its outcome.
pub async fn run(info: ProbeInfo, target: &Target, sizes: &Sizes) -> ProbeReport {
    let pid = target.pid;
    let before = procfs::rss_kb(pid).unwrap_or(0);
    let hwm_reset = procfs::reset_peak(pid);
    let sampler = procfs::Sampler::start(pid, Duration::from_millis(20));
    let started = Instant::now();
    let outcome = if info.ends_server && !target.allow_shutdown {
        Outcome {
            summary: "skipped: sends SIGINT to the server (needs --allow-shutdown)".into(),
            expected: false,
            details: serde_json::json!({ "skipped": true }),
            settle: Duration::ZERO,
        }
    } else {
        match tokio::time::timeout(sizes.probe_limit, probes::run(info.id, target, sizes)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome {
                summary: format!(
                    "probe did not finish within {} s",
                    sizes.probe_limit.as_secs()
                ),
                expected: false,
                details: serde_json::Value::Null,
                settle: Duration::ZERO,
            },
        }
    };
    let elapsed = started.elapsed();
    if sizes.settle {
        tokio::time::sleep(outcome.settle).await;
    }
    let sampled = sampler.finish().await;
    let hwm = if hwm_reset {
        procfs::peak_kb(pid)
    } else {
        None
    };
    let peak = sampled.max(hwm.unwrap_or(0)).max(before);
    let after = procfs::rss_kb(pid);
    let serving = if procfs::is_running(pid) {
        match serving::check(target).await {
            Ok(()) => Serving::Yes,
            Err(why) => Serving::No(why),
        }
    } else {
        Serving::Exited
    };
    report::build(
        info,
        target.label.clone(),
        outcome,
        before,
        peak,
        after,
        hwm_reset,
        serving,
        elapsed,
    )
}

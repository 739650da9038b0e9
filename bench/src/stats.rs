//! Counters shared by a run's tasks, the measurement window, and what a workload hands back.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::config::LoadConfig;
use crate::procfs;

/// How many error messages a report keeps.
const MAX_SAMPLES: usize = 8;

/// Counters of one run. The load generator runs on one thread, so the atomics are
/// uncontended.
#[derive(Default)]
pub(crate) struct Stats {
    /// Messages received and verified (whole run).
    pub(crate) received: AtomicU64,
    /// Messages sent (whole run).
    pub(crate) sent: AtomicU64,
    /// Errors of any kind.
    errors: AtomicU64,
    /// Streaming responses renewed after the response limit, or reconnections.
    pub(crate) reconnects: AtomicU64,
    samples: Mutex<Vec<String>>,
    latencies_ns: Mutex<Vec<u64>>,
}

impl Stats {
    /// Count one error and keep its description if there is room.
    pub(crate) fn error(&self, what: impl fmt::Display) {
        self.errors_n(1, what);
    }

    /// Count `n` errors of one kind.
    pub(crate) fn errors_n(&self, n: u64, what: impl fmt::Display) {
        if n == 0 {
            return;
        }
        self.errors.fetch_add(n, Ordering::Relaxed);
        tracing::debug!(%what, n, "error");
        if let Ok(mut s) = self.samples.lock() {
            if s.len() < MAX_SAMPLES {
                s.push(if n == 1 {
                    what.to_string()
                } else {
                    format!("{what} (x{n})")
                });
            }
        }
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub(crate) fn samples(&self) -> Vec<String> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Add a task's latency samples.
    pub(crate) fn add_latencies(&self, mut samples: Vec<u64>) {
        if let Ok(mut l) = self.latencies_ns.lock() {
            l.append(&mut samples);
        }
    }

    pub(crate) fn take_latencies(&self) -> Vec<u64> {
        self.latencies_ns
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// The measured part of a run: after the warm-up, for the duration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) from: Instant,
    pub(crate) to: Instant,
}

impl Window {
    /// The window of a run whose load starts now.
    pub(crate) fn starting_now(config: &LoadConfig) -> Window {
        let from = Instant::now() + config.warmup;
        Window {
            from,
            to: from + config.duration,
        }
    }

    pub(crate) fn contains(&self, t: Instant) -> bool {
        t >= self.from && t < self.to
    }
}

/// What was counted inside the window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Measured {
    pub(crate) messages: u64,
    pub(crate) window: Duration,
    pub(crate) server_cpu_secs: Option<f64>,
    /// CPU time of the load generator itself (all threads of this process).
    pub(crate) client_cpu_secs: Option<f64>,
    /// CPU time of the whole machine.
    pub(crate) machine_cpu_secs: Option<f64>,
}

/// CPU-time counters at one instant: server, load generator, whole machine.
#[derive(Clone, Copy)]
pub(crate) struct CpuClock {
    server: Option<f64>,
    client: Option<f64>,
    machine: Option<f64>,
}

impl CpuClock {
    pub(crate) fn read(server_pid: Option<u32>) -> CpuClock {
        CpuClock {
            server: server_pid.and_then(procfs::cpu_seconds),
            client: procfs::cpu_seconds(std::process::id()),
            machine: procfs::machine_busy_seconds(),
        }
    }

    /// What was counted between `self` and `later`, `messages` in `window`.
    pub(crate) fn measured(self, later: CpuClock, messages: u64, window: Duration) -> Measured {
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        Measured {
            messages,
            window,
            server_cpu_secs: delta(self.server, later.server),
            client_cpu_secs: delta(self.client, later.client),
            machine_cpu_secs: delta(self.machine, later.machine),
        }
    }
}

/// Wait for the window and count the messages received and the server CPU time spent in it.
pub(crate) async fn measure(config: &LoadConfig, stats: &Stats, window: Window) -> Measured {
    tokio::time::sleep_until(window.from.into()).await;
    let r0 = stats.received();
    let c0 = CpuClock::read(config.server_pid);
    let t0 = Instant::now();
    tokio::time::sleep_until(window.to.into()).await;
    let r1 = stats.received();
    let c1 = CpuClock::read(config.server_pid);
    c0.measured(c1, r1 - r0, t0.elapsed())
}

/// What a workload hands back besides the shared counters.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Throughput workloads: the window's count.
    pub(crate) measured: Option<Measured>,
    /// Sessions that were open when the load started.
    pub(crate) sessions: usize,
    /// Broadcast: time from send to the last receipt, one per measured broadcast.
    pub(crate) broadcast_ns: Vec<u64>,
    /// Idle: server RSS before connecting and with every session open.
    pub(crate) rss_kb: Option<(u64, u64)>,
}

/// Open `config.connections` connections or sessions with `open(index)`,
/// `config.connect_concurrency` at a time. Failures are counted in `stats`; the ones that
/// opened are returned.
pub(crate) async fn open_all<T, Open, Opening>(
    config: &LoadConfig,
    stats: &Stats,
    open: Open,
) -> Vec<T>
where
    Open: Fn(usize) -> Opening,
    Opening: Future<Output = Result<T, String>>,
{
    let results: Vec<Result<T, String>> = futures::stream::iter(0..config.connections)
        .map(open)
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect()
        .await;
    let mut opened = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(t) => opened.push(t),
            Err(e) => stats.error(e),
        }
    }
    opened
}

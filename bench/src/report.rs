//! The result of one run: a JSON line for machines and a sentence for people.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{LoadConfig, Workload};
use crate::stats::{Outcome, Stats};

/// Percentiles of a set of samples, in the unit the field's name says.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub count: usize,
}

impl Latency {
    /// Percentiles of `samples` (nanoseconds), divided by `unit_ns`; `None` without samples.
    pub fn from_ns(mut samples: Vec<u64>, unit_ns: f64) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i] as f64 / unit_ns
        };
        Some(Latency {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
            count: samples.len(),
        })
    }
}

/// One run's result. Serialized as one JSON line by the `sockjs-load` binary.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RunReport {
    /// Workload name (`ws-echo`, ...).
    pub workload: String,
    /// Server label (`sockjs-rs`, `sockjs-node`, `bare`).
    pub label: String,
    /// Server address.
    pub target: String,
    /// The headline number: see `metric` and `unit`.
    pub value: f64,
    /// What `value` is (`throughput`, `rtt_p50`, `broadcast_p50`, `rss_per_session`).
    pub metric: &'static str,
    /// Unit of `value`.
    pub unit: &'static str,
    /// Whether a larger `value` is better.
    pub higher_is_better: bool,
    /// Connections (sessions) asked for.
    pub connections: usize,
    /// Connections (sessions) that were open when the load started.
    pub sessions: usize,
    /// Messages outstanding per connection.
    pub in_flight: usize,
    /// Message size in bytes.
    pub message_size: usize,
    /// Length of the measurement window in seconds.
    pub window_s: f64,
    /// Whole run, connecting and draining included, in seconds.
    pub elapsed_s: f64,
    /// Messages received and verified in the window.
    pub messages: u64,
    /// `messages` per second of window.
    pub msgs_per_sec: f64,
    /// Messages sent during the whole run.
    pub sent_total: u64,
    /// Messages received and verified during the whole run.
    pub received_total: u64,
    /// Errors: connection failures, unexpected frames or closes, lost, reordered or damaged
    /// messages, timeouts.
    pub errors: u64,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// Streaming responses renewed after the response limit (xhr-streaming).
    pub reconnects: u64,
    /// Round-trip time in microseconds (echo workloads), samples from the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Latency>,
    /// Broadcast: time from the send to the last session's receipt, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast_ms: Option<Latency>,
    /// Server CPU use during the window, percent of one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    /// The load generator's own CPU use during the window, percent of one core (near 100%
    /// means the client, not the server, limited the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cpu_pct: Option<f64>,
    /// CPU use of every other process on the machine during the window, percent of one
    /// core: well above zero means the run was disturbed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_cpu_pct: Option<f64>,
    /// 1-minute load average when the run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadavg_1m: Option<f64>,
    /// Messages per second of server CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_server_cpu_sec: Option<f64>,
    /// Idle: server RSS before connecting, kB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_kb: Option<u64>,
    /// Idle: server RSS with every session open, kB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_kb: Option<u64>,
    /// Idle: `(rss_after_kb - rss_before_kb) / sessions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kb_per_session: Option<f64>,
}

pub(crate) fn build(
    config: &LoadConfig,
    stats: &Stats,
    outcome: Outcome,
    elapsed: Duration,
) -> RunReport {
    let measured = outcome.measured.unwrap_or_default();
    let window_s = measured.window.as_secs_f64();
    let msgs_per_sec = if window_s > 0.0 {
        measured.messages as f64 / window_s
    } else {
        0.0
    };
    let server_cpu_pct = measured
        .server_cpu_secs
        .filter(|_| window_s > 0.0)
        .map(|c| 100.0 * c / window_s);
    let client_cpu_pct = measured
        .client_cpu_secs
        .filter(|_| window_s > 0.0)
        .map(|c| 100.0 * c / window_s);
    let other_cpu_pct = measured
        .machine_cpu_secs
        .filter(|_| window_s > 0.0)
        .map(|m| {
            let own =
                measured.server_cpu_secs.unwrap_or(0.0) + measured.client_cpu_secs.unwrap_or(0.0);
            (100.0 * (m - own) / window_s).max(0.0)
        });
    let msgs_per_server_cpu_sec = measured
        .server_cpu_secs
        .filter(|&c| c > 0.0)
        .map(|c| measured.messages as f64 / c);
    let latency_us = Latency::from_ns(stats.take_latencies(), 1e3);
    let broadcast_ms = Latency::from_ns(outcome.broadcast_ns, 1e6);
    let kb_per_session = outcome
        .rss_kb
        .filter(|_| outcome.sessions > 0)
        .map(|(before, after)| (after as f64 - before as f64) / outcome.sessions as f64);
    let (value, metric, unit, higher_is_better) = match config.workload {
        Workload::WsRtt | Workload::RawWsRtt => (
            latency_us.as_ref().map_or(0.0, |l| l.p50),
            "rtt_p50",
            "us",
            false,
        ),
        Workload::Broadcast
        | Workload::RawBroadcast
        | Workload::RoomBroadcast
        | Workload::EndpointBroadcast
        | Workload::StompFanout
        | Workload::RawStompFanout => (
            broadcast_ms.as_ref().map_or(0.0, |l| l.p50),
            "broadcast_p50",
            "ms",
            false,
        ),
        Workload::Idle
        | Workload::RawIdle
        | Workload::IdleXhrStreaming
        | Workload::RawIdleStreaming
        | Workload::StompIdle
        | Workload::RawStompIdle => (
            kb_per_session.unwrap_or(0.0),
            "rss_per_session",
            "kB",
            false,
        ),
        _ => (msgs_per_sec, "throughput", "msg/s", true),
    };
    RunReport {
        workload: config.workload.to_string(),
        label: config.label.clone(),
        target: config.target.to_string(),
        value,
        metric,
        unit,
        higher_is_better,
        connections: config.connections,
        sessions: outcome.sessions,
        in_flight: config.effective_in_flight(),
        message_size: config.message_size.max(crate::payload::MIN_SIZE),
        window_s,
        elapsed_s: elapsed.as_secs_f64(),
        messages: measured.messages,
        msgs_per_sec,
        sent_total: stats.sent.load(std::sync::atomic::Ordering::Relaxed),
        received_total: stats.received(),
        errors: stats.errors(),
        error_samples: stats.samples(),
        reconnects: stats.reconnects.load(std::sync::atomic::Ordering::Relaxed),
        latency_us,
        broadcast_ms,
        server_cpu_pct,
        client_cpu_pct,
        other_cpu_pct,
        loadavg_1m: crate::procfs::loadavg_1m(),
        msgs_per_server_cpu_sec,
        rss_before_kb: outcome.rss_kb.map(|r| r.0),
        rss_after_kb: outcome.rss_kb.map(|r| r.1),
        kb_per_session,
    }
}

impl RunReport {
    /// The report as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for RunReport {
    /// One line for people, e.g.
    /// `ws-echo sockjs-rs: 123456 msg/s, rtt p50 310 us p99 900 us, cpu 99%, 0 errors`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.workload, self.label)?;
        match self.metric {
            "throughput" => write!(f, "{:.0} msg/s", self.msgs_per_sec)?,
            "rtt_p50" => write!(f, "{:.0} round trips/s", self.msgs_per_sec)?,
            "broadcast_p50" => {
                if let Some(b) = &self.broadcast_ms {
                    write!(
                        f,
                        "{} sessions, send to last receipt p50 {:.2} ms p90 {:.2} ms ({} broadcasts)",
                        self.sessions, b.p50, b.p90, b.count
                    )?;
                } else {
                    write!(f, "{} sessions, no broadcast measured", self.sessions)?;
                }
            }
            _ => {
                if let (Some(kb), Some(a), Some(b)) =
                    (self.kb_per_session, self.rss_after_kb, self.rss_before_kb)
                {
                    write!(
                        f,
                        "{} sessions, RSS {b} kB -> {a} kB, {kb:.2} kB per session",
                        self.sessions
                    )?;
                } else {
                    write!(f, "{} sessions, RSS not read", self.sessions)?;
                }
            }
        }
        if let Some(l) = &self.latency_us {
            write!(
                f,
                ", rtt p50 {:.0} us p90 {:.0} us p99 {:.0} us",
                l.p50, l.p90, l.p99
            )?;
        }
        if let Some(c) = self.server_cpu_pct {
            write!(f, ", server cpu {c:.0}%")?;
        }
        if let Some(c) = self.client_cpu_pct {
            write!(f, ", client cpu {c:.0}%")?;
        }
        if let Some(c) = self.other_cpu_pct {
            if c >= 5.0 {
                write!(f, ", other processes {c:.0}% cpu")?;
            }
        }
        if self.reconnects > 0 {
            write!(f, ", {} renewals", self.reconnects)?;
        }
        write!(f, ", {} errors", self.errors)?;
        if let Some(first) = self.error_samples.first() {
            write!(f, " (first: {first})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let l =
            Latency::from_ns((1..=100).map(|i| i * 1000).collect(), 1e3).expect("samples given");
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Latency::from_ns(vec![], 1.0), None);
        let one = Latency::from_ns(vec![5], 1.0).expect("one sample");
        assert_eq!((one.p50, one.p99), (5.0, 5.0));
    }
}

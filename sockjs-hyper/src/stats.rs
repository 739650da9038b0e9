//! Endpoint statistics: sessions open by transport, opened and closed totals, traffic, and
//! failed client sends.
//!
//! Sessions count their own traffic (under their own lock or in their own atomics); the
//! endpoint's shared counters change only when a session opens or ends, or when a send
//! request fails, so the message path touches nothing shared between sessions.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use sockjs_core::{CloseCause, Transport};

use crate::session::Counters;
use crate::transport::send::SendFailure;

/// Transport labels: the eight SockJS transports, then the raw websocket endpoint.
const TRANSPORTS: usize = 9;
const RAW: usize = 8;
const CAUSES: [&str; 7] = [
    "server",
    "client",
    "interrupted",
    "timeout",
    "protocol_error",
    "limit",
    "shutdown",
];

fn transport_index(t: Option<Transport>) -> usize {
    match t {
        Some(t) => Transport::ALL.iter().position(|x| *x == t).unwrap_or(RAW),
        None => RAW,
    }
}

fn transport_label(i: usize) -> &'static str {
    Transport::ALL
        .get(i)
        .map_or("raw_websocket", |t| t.as_str())
}

#[derive(Default)]
pub(crate) struct EndpointCounters {
    opened: [AtomicU64; TRANSPORTS],
    closed: [AtomicU64; CAUSES.len()],
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    send_timeouts: AtomicU64,
    sends_refused: AtomicU64,
    messages_lost: AtomicU64,
}

impl EndpointCounters {
    pub(crate) fn opened(&self, t: Option<Transport>) {
        self.opened[transport_index(t)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retired(&self, _t: Option<Transport>, cause: &CloseCause, c: Counters) {
        let i = CAUSES.iter().position(|l| *l == cause.label()).unwrap_or(2);
        self.closed[i].fetch_add(1, Ordering::Relaxed);
        self.messages_in.fetch_add(c.messages_in, Ordering::Relaxed);
        self.bytes_in.fetch_add(c.bytes_in, Ordering::Relaxed);
        self.messages_out
            .fetch_add(c.messages_out, Ordering::Relaxed);
        self.bytes_out.fetch_add(c.bytes_out, Ordering::Relaxed);
    }

    /// `n` client messages were received but never reached the application (its session
    /// closed first).
    pub(crate) fn lost(&self, n: usize) {
        if n > 0 {
            self.messages_lost.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// A send request failed: count the failures operators need to see.
    pub(crate) fn send_failed(&self, failure: &SendFailure) {
        let (counter, n) = match failure {
            SendFailure::TimedOut => (&self.send_timeouts, 1),
            SendFailure::Busy | SendFailure::OverBudget => (&self.sends_refused, 1),
            SendFailure::Lost(n) => (&self.messages_lost, *n as u64),
            _ => return,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, open: &[Option<Transport>], live: Counters) -> Stats {
        let mut open_by = [0u64; TRANSPORTS];
        for t in open {
            open_by[transport_index(*t)] += 1;
        }
        Stats {
            sessions_open: (0..TRANSPORTS)
                .map(|i| (transport_label(i), open_by[i]))
                .collect(),
            sessions_opened: (0..TRANSPORTS)
                .map(|i| (transport_label(i), self.opened[i].load(Ordering::Relaxed)))
                .collect(),
            sessions_closed: CAUSES
                .iter()
                .zip(&self.closed)
                .map(|(l, n)| (*l, n.load(Ordering::Relaxed)))
                .collect(),
            messages_in: self.messages_in.load(Ordering::Relaxed) + live.messages_in,
            bytes_in: self.bytes_in.load(Ordering::Relaxed) + live.bytes_in,
            messages_out: self.messages_out.load(Ordering::Relaxed) + live.messages_out,
            bytes_out: self.bytes_out.load(Ordering::Relaxed) + live.bytes_out,
            send_timeouts: self.send_timeouts.load(Ordering::Relaxed),
            sends_refused: self.sends_refused.load(Ordering::Relaxed),
            messages_lost: self.messages_lost.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of an endpoint's statistics (see [`SockJs::stats`](crate::SockJs::stats)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live sessions by transport label (`websocket`, `xhr_streaming`, ..., `raw_websocket`).
    pub sessions_open: Vec<(&'static str, u64)>,
    /// Sessions opened since start, by transport label.
    pub sessions_opened: Vec<(&'static str, u64)>,
    /// Sessions ended since start, by [`CloseCause::label`].
    pub sessions_closed: Vec<(&'static str, u64)>,
    /// Messages received from clients.
    pub messages_in: u64,
    /// Decoded bytes of the messages received from clients.
    pub bytes_in: u64,
    /// Messages queued to clients.
    pub messages_out: u64,
    /// Encoded bytes of the messages queued to clients.
    pub bytes_out: u64,
    /// `xhr_send`/`jsonp_send` requests whose body did not arrive within
    /// `body_read_timeout` (answered 408).
    pub send_timeouts: u64,
    /// `xhr_send`/`jsonp_send` requests refused with 503 before their body was read: the
    /// session had `max_sends_in_flight` sends in progress, or the session's or endpoint's
    /// send byte budget was full.
    pub sends_refused: u64,
    /// Client messages that the application never received because the session closed
    /// first: those of `xhr_send`/`jsonp_send` requests (each such request was answered 410,
    /// never 204), and those a websocket session had read but not yet handed to the
    /// application's inbound queue (full, see `max_inbound_queue`) when it closed.
    pub messages_lost: u64,
}

impl Stats {
    /// The snapshot in the Prometheus text exposition format, every series labelled with
    /// `endpoint`.
    pub fn to_prometheus(&self, endpoint: &str) -> String {
        let ep = endpoint.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{{endpoint=\"{ep}\"{labels}}} {value}");
            }
        };
        let by = |key: &str, rows: &[(&'static str, u64)]| -> Vec<(String, u64)> {
            rows.iter()
                .map(|(l, v)| (format!(",{key}=\"{l}\""), *v))
                .collect()
        };
        family(
            "sockjs_sessions_open",
            "gauge",
            "Live SockJS sessions.",
            &by("transport", &self.sessions_open),
        );
        family(
            "sockjs_sessions_opened_total",
            "counter",
            "SockJS sessions opened.",
            &by("transport", &self.sessions_opened),
        );
        family(
            "sockjs_sessions_closed_total",
            "counter",
            "SockJS sessions ended, by cause.",
            &by("cause", &self.sessions_closed),
        );
        for (name, help, value) in [
            (
                "sockjs_messages_in_total",
                "Messages received from clients.",
                self.messages_in,
            ),
            (
                "sockjs_bytes_in_total",
                "Bytes of messages received from clients.",
                self.bytes_in,
            ),
            (
                "sockjs_messages_out_total",
                "Messages queued to clients.",
                self.messages_out,
            ),
            (
                "sockjs_bytes_out_total",
                "Bytes of messages queued to clients.",
                self.bytes_out,
            ),
            (
                "sockjs_send_timeouts_total",
                "Send requests whose body did not arrive within the body read timeout.",
                self.send_timeouts,
            ),
            (
                "sockjs_sends_refused_total",
                "Send requests refused before their body was read (too many sends or bytes in flight).",
                self.sends_refused,
            ),
            (
                "sockjs_messages_lost_total",
                "Sent messages the application never received because the session closed first.",
                self.messages_lost,
            ),
        ] {
            family(name, "counter", help, &[(String::new(), value)]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_prometheus() {
        let c = EndpointCounters::default();
        c.opened(Some(Transport::WebSocket));
        c.opened(None);
        c.retired(
            None,
            &CloseCause::TimedOut,
            Counters {
                messages_in: 2,
                bytes_in: 10,
                messages_out: 3,
                bytes_out: 30,
            },
        );
        let s = c.snapshot(
            &[Some(Transport::WebSocket)],
            Counters {
                messages_in: 1,
                ..Counters::default()
            },
        );
        assert!(s.sessions_open.contains(&("websocket", 1)));
        assert!(s.sessions_opened.contains(&("raw_websocket", 1)));
        assert!(s.sessions_closed.contains(&("timeout", 1)));
        assert_eq!((s.messages_in, s.bytes_out), (3, 30));
        let text = s.to_prometheus("/echo");
        assert!(text.contains("sockjs_sessions_open{endpoint=\"/echo\",transport=\"websocket\"} 1"));
        assert!(
            text.contains("sockjs_sessions_closed_total{endpoint=\"/echo\",cause=\"timeout\"} 1")
        );
        assert!(text.contains("# TYPE sockjs_messages_in_total counter"));
        c.send_failed(&SendFailure::TimedOut);
        c.send_failed(&SendFailure::Busy);
        c.send_failed(&SendFailure::OverBudget);
        c.send_failed(&SendFailure::Lost(7));
        c.send_failed(&SendFailure::Lost(3));
        c.send_failed(&SendFailure::TooLarge);
        let s = c.snapshot(&[], Counters::default());
        assert_eq!(
            (s.send_timeouts, s.sends_refused, s.messages_lost),
            (1, 2, 10)
        );
        let text = s.to_prometheus("/echo");
        assert!(text.contains("sockjs_messages_lost_total{endpoint=\"/echo\"} 10"));
        assert!(text.contains("sockjs_send_timeouts_total{endpoint=\"/echo\"} 1"));
        assert!(text.contains("sockjs_sends_refused_total{endpoint=\"/echo\"} 2"));
    }
}

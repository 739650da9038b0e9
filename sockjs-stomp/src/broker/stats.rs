//! The broker's counters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a broker's statistics on this node ([`StompBroker::stats`](super::StompBroker::stats)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// STOMP sessions running (SockJS sessions of the endpoint, connected or not yet).
    pub sessions: u64,
    /// Sessions that reached `CONNECTED` (live).
    pub connected: u64,
    /// Destinations with subscribers on this node (with a hub backend, each is one hub
    /// channel subscription).
    pub destinations: u64,
    /// Subscriptions registered in those destinations.
    pub subscriptions: u64,
    /// Messages published through this node (by clients' `SEND` and by server code).
    pub published: u64,
    /// `MESSAGE` frames queued to sessions.
    pub delivered: u64,
    /// Messages not queued to a session because its queue was full (the slow-subscriber
    /// policy).
    pub dropped_slow: u64,
    /// `MESSAGE` frames not sent because they came out larger than the endpoint's
    /// `max_message_size`. Publications that could not fit are refused to their publisher
    /// ([`PublishError::TooLarge`](super::PublishError::TooLarge)); what is counted here is what
    /// a subscription's own headers (a very long subscription id) pushed over the limit.
    pub dropped_too_large: u64,
    /// Messages not sent on a `client`/`client-individual` subscription because the session
    /// had `max_unacked` messages unacknowledged.
    pub dropped_unacked: u64,
    /// Messages a destination's hub subscription missed because this node fell behind the
    /// hub's channel capacity.
    pub lagged: u64,
    /// `SEND`s to destinations nothing handles (no prefix matches, or no application
    /// handler), dropped as Spring drops them.
    pub unrouted: u64,
    /// Messages acknowledged (`ACK`) and rejected (`NACK`) by clients.
    pub acked: u64,
    /// See [`BrokerStats::acked`].
    pub nacked: u64,
    /// `CONNECT`s the authenticator refused.
    pub refused: u64,
    /// `SUBSCRIBE`s and `SEND`s the authorizer denied.
    pub denied: u64,
    /// Sessions ended with an `ERROR` frame (refusals, denials and protocol errors included).
    pub errors: u64,
    /// Application handlers that panicked (the session goes on; the panic is logged).
    pub handler_panics: u64,
    /// Application handlers still running when their session ended, dropped then (checked
    /// every second while a handler runs).
    pub handlers_abandoned: u64,
}

impl BrokerStats {
    /// The statistics as Prometheus text, each series labelled `endpoint="<label>"`.
    pub fn to_prometheus(&self, label: &str) -> String {
        let label = label.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::new();
        let gauges = [
            ("sessions", self.sessions, "STOMP sessions running"),
            ("connected", self.connected, "STOMP sessions connected"),
            (
                "destinations",
                self.destinations,
                "destinations with subscribers on this node",
            ),
            (
                "subscriptions",
                self.subscriptions,
                "subscriptions on this node",
            ),
        ];
        let counters = [
            (
                "published_total",
                self.published,
                "messages published through this node",
            ),
            (
                "delivered_total",
                self.delivered,
                "MESSAGE frames queued to sessions",
            ),
            (
                "dropped_slow_total",
                self.dropped_slow,
                "messages skipped for a full session queue",
            ),
            (
                "dropped_too_large_total",
                self.dropped_too_large,
                "MESSAGE frames over the endpoint's max_message_size",
            ),
            (
                "dropped_unacked_total",
                self.dropped_unacked,
                "messages skipped for max_unacked",
            ),
            (
                "lagged_total",
                self.lagged,
                "messages a destination missed behind the hub",
            ),
            ("unrouted_total", self.unrouted, "SENDs nothing handles"),
            ("acked_total", self.acked, "messages acknowledged"),
            ("nacked_total", self.nacked, "messages rejected"),
            ("refused_total", self.refused, "CONNECTs refused"),
            ("denied_total", self.denied, "SUBSCRIBEs and SENDs denied"),
            ("errors_total", self.errors, "sessions ended with ERROR"),
            (
                "handler_panics_total",
                self.handler_panics,
                "application handlers that panicked",
            ),
            (
                "handlers_abandoned_total",
                self.handlers_abandoned,
                "application handlers dropped when their session ended",
            ),
        ];
        for (kind, list) in [("gauge", &gauges[..]), ("counter", &counters[..])] {
            for (name, value, help) in list {
                let _ = writeln!(out, "# HELP sockjs_stomp_{name} {help}");
                let _ = writeln!(out, "# TYPE sockjs_stomp_{name} {kind}");
                let _ = writeln!(out, "sockjs_stomp_{name}{{endpoint=\"{label}\"}} {value}");
            }
        }
        out
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sessions: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped_slow: AtomicU64,
    pub(crate) dropped_too_large: AtomicU64,
    pub(crate) dropped_unacked: AtomicU64,
    pub(crate) lagged: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) nacked: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) denied: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) handlers_abandoned: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn sub(counter: &AtomicU64) {
    counter.fetch_sub(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, destinations: u64, subscriptions: u64) -> BrokerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BrokerStats {
            sessions: get(&self.sessions),
            connected: get(&self.connected),
            destinations,
            subscriptions,
            published: get(&self.published),
            delivered: get(&self.delivered),
            dropped_slow: get(&self.dropped_slow),
            dropped_too_large: get(&self.dropped_too_large),
            dropped_unacked: get(&self.dropped_unacked),
            lagged: get(&self.lagged),
            unrouted: get(&self.unrouted),
            acked: get(&self.acked),
            nacked: get(&self.nacked),
            refused: get(&self.refused),
            denied: get(&self.denied),
            errors: get(&self.errors),
            handler_panics: get(&self.handler_panics),
            handlers_abandoned: get(&self.handlers_abandoned),
        }
    }
}

//! The backend's counters ([`RedisStats`]) and their Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sockjs_hyper::hub::NodeId;

/// Counters updated by the backend (atomics: no lock).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) refused_down: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) nodes_gone: AtomicU64,
    pub(crate) nodes_restarted: AtomicU64,
    pub(crate) claims_granted: AtomicU64,
    pub(crate) claims_refused: AtomicU64,
    pub(crate) claims_lost: AtomicU64,
    pub(crate) outbox_bytes: AtomicUsize,
    pub(crate) peers: AtomicUsize,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// A snapshot of a [`RedisBackend`](crate::RedisBackend)'s counters
/// ([`RedisBackend::stats`](crate::RedisBackend::stats)). Counters count since the backend was
/// built; gauges are the value now. The hub counts the rest (envelopes it published, the
/// gaps and duplicates it saw per origin node: [`HubStats`](sockjs_hyper::hub::HubStats)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// This node's id (`None` until the hub started the backend).
    pub node: Option<NodeId>,
    /// Gauge: connected to Redis, registered and subscribed.
    pub up: bool,
    /// Envelopes written to Redis (`PUBLISH` acknowledged).
    pub published: u64,
    /// Publications refused because Redis was unreachable
    /// ([`BackendError::Down`](sockjs_hyper::hub::BackendError::Down)).
    pub refused_down: u64,
    /// Publications refused because the outbox was full
    /// ([`BackendError::Full`](sockjs_hyper::hub::BackendError::Full)).
    pub refused_full: u64,
    /// Publications accepted into the outbox but lost because the connection broke before they
    /// were written (the receivers count them as gaps).
    pub dropped: u64,
    /// Envelopes received from other nodes and handed to the hub.
    pub received: u64,
    /// Messages on the cluster's channels that could not be decoded (ignored).
    pub malformed: u64,
    /// Times the connection to Redis was lost and established again.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Other nodes dropped from this node's presence view (they left, or their liveness key
    /// expired).
    pub nodes_gone: u64,
    /// Other nodes seen coming back as a new process with the same node id (a restart):
    /// their earlier sequence numbers were forgotten.
    pub nodes_restarted: u64,
    /// Gauge: this node's id is held by another live process, so this node was refused
    /// (it never joins the cluster; see [`RedisError::NodeIdInUse`](crate::RedisError)).
    pub node_id_conflict: bool,
    /// RefuseNewer claims granted to this node.
    pub claims_granted: u64,
    /// RefuseNewer claims refused (another live node holds the user).
    pub claims_refused: u64,
    /// Claims this node held but found taken by another node when it registered again after
    /// losing Redis (two sessions of the user may then be open; logged).
    pub claims_lost: u64,
    /// Gauge: envelopes in the outbox.
    pub outbox_len: usize,
    /// Gauge: their bytes.
    pub outbox_bytes: usize,
    /// The outbox's bound in envelopes ([`RedisConfig::outbox_capacity`](crate::RedisConfig)).
    pub outbox_capacity: usize,
    /// The outbox's bound in bytes ([`RedisConfig::outbox_max_bytes`](crate::RedisConfig)).
    pub outbox_max_bytes: usize,
    /// Gauge: other live nodes this node knows.
    pub peers: usize,
}

impl RedisStats {
    pub(crate) fn from_counters(
        c: &Counters,
        node: Option<NodeId>,
        up: bool,
        capacity: (usize, usize),
    ) -> RedisStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisStats {
            node,
            up,
            published: load(&c.published),
            refused_down: load(&c.refused_down),
            refused_full: load(&c.refused_full),
            dropped: load(&c.dropped),
            received: load(&c.received),
            malformed: load(&c.malformed),
            reconnects: load(&c.reconnects),
            connect_failures: load(&c.connect_failures),
            nodes_gone: load(&c.nodes_gone),
            nodes_restarted: load(&c.nodes_restarted),
            node_id_conflict: false,
            claims_granted: load(&c.claims_granted),
            claims_refused: load(&c.claims_refused),
            claims_lost: load(&c.claims_lost),
            outbox_len: 0,
            outbox_bytes: c.outbox_bytes.load(Ordering::Relaxed),
            outbox_capacity: capacity.0,
            outbox_max_bytes: capacity.1,
            peers: c.peers.load(Ordering::Relaxed),
        }
    }

    /// The counters in the Prometheus text exposition format (`sockjs_redis_*`), labelled
    /// with `hub="<label>"` and the node id, to serve next to
    /// [`Stats::to_prometheus`](sockjs_hyper::Stats::to_prometheus) and
    /// [`HubStats::to_prometheus`](sockjs_hyper::hub::HubStats::to_prometheus).
    pub fn to_prometheus(&self, label: &str) -> String {
        let node = self.node.map(|n| n.to_string()).unwrap_or_default();
        let l = format!(
            "hub=\"{}\",node=\"{node}\"",
            label.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let mut out = String::new();
        let gauges = [
            (
                "sockjs_redis_up",
                "1 when connected to Redis, registered and subscribed.",
                u64::from(self.up),
            ),
            (
                "sockjs_redis_outbox_envelopes",
                "Envelopes waiting in the outbox.",
                self.outbox_len as u64,
            ),
            (
                "sockjs_redis_outbox_bytes",
                "Bytes waiting in the outbox.",
                self.outbox_bytes as u64,
            ),
            (
                "sockjs_redis_outbox_capacity_envelopes",
                "The outbox's bound in envelopes.",
                self.outbox_capacity as u64,
            ),
            (
                "sockjs_redis_outbox_capacity_bytes",
                "The outbox's bound in bytes.",
                self.outbox_max_bytes as u64,
            ),
            (
                "sockjs_redis_peers",
                "Other live nodes this node knows.",
                self.peers as u64,
            ),
            (
                "sockjs_redis_node_id_conflict",
                "1 when another live process holds this node's id (this node was refused).",
                u64::from(self.node_id_conflict),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{l}}} {v}"
            );
        }
        let counters = [
            (
                "sockjs_redis_published_total",
                "Envelopes written to Redis.",
                self.published,
            ),
            (
                "sockjs_redis_refused_down_total",
                "Publications refused while Redis was unreachable.",
                self.refused_down,
            ),
            (
                "sockjs_redis_refused_full_total",
                "Publications refused because the outbox was full.",
                self.refused_full,
            ),
            (
                "sockjs_redis_dropped_total",
                "Accepted envelopes lost when the connection broke.",
                self.dropped,
            ),
            (
                "sockjs_redis_received_total",
                "Envelopes received from other nodes.",
                self.received,
            ),
            (
                "sockjs_redis_malformed_total",
                "Undecodable messages on the cluster's channels.",
                self.malformed,
            ),
            (
                "sockjs_redis_reconnects_total",
                "Connections to Redis lost and established again.",
                self.reconnects,
            ),
            (
                "sockjs_redis_connect_failures_total",
                "Failed connection attempts.",
                self.connect_failures,
            ),
            (
                "sockjs_redis_nodes_gone_total",
                "Other nodes dropped from the presence view.",
                self.nodes_gone,
            ),
            (
                "sockjs_redis_nodes_restarted_total",
                "Other nodes seen restarting with the same node id.",
                self.nodes_restarted,
            ),
            (
                "sockjs_redis_claims_granted_total",
                "Duplicate-login claims granted.",
                self.claims_granted,
            ),
            (
                "sockjs_redis_claims_refused_total",
                "Duplicate-login claims refused.",
                self.claims_refused,
            ),
            (
                "sockjs_redis_claims_lost_total",
                "Claims found taken by another node after a reconnection.",
                self.claims_lost,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{l}}} {v}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_one_sample_per_metric_with_escaped_labels() {
        let c = Counters::default();
        add(&c.published, 7);
        let mut s = RedisStats::from_counters(&c, Some(NodeId::from_u64(1)), true, (10, 100));
        s.outbox_len = 3;
        let text = s.to_prometheus("/a\"b");
        let l = "hub=\"/a\\\"b\",node=\"0000000000000001\"";
        assert!(text.contains(&format!("sockjs_redis_published_total{{{l}}} 7\n")));
        assert!(text.contains(&format!("sockjs_redis_outbox_envelopes{{{l}}} 3\n")));
        assert!(text.contains(&format!(
            "sockjs_redis_outbox_capacity_envelopes{{{l}}} 10\n"
        )));
        assert!(text.contains(&format!("sockjs_redis_up{{{l}}} 1\n")));
        let samples = text.lines().filter(|l| !l.starts_with('#')).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(samples, types);
        assert_eq!(samples, 20);
    }
}

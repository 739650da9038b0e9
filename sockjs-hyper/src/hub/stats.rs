//! The hub's statistics: sizes of its tables, cross-node traffic, sequence gaps and
//! duplicates per origin node, and the backend's state.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sockjs_core::cluster::NodeId;

use super::BackendStatus;

/// Counters updated by hub operations (atomics: no lock).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) publish_failed: AtomicU64,
    /// Whether the last publish failed (to log the transitions, not every failure).
    failing: AtomicBool,
    pub(crate) claims_failed: AtomicU64,
    /// Items lost by lagging channel and presence subscribers (shared with the streams).
    pub(crate) lagged: Arc<AtomicU64>,
}

impl Counters {
    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("cross-node publishing works again");
        }
    }

    pub(crate) fn publish_failed(&self, error: &dyn std::fmt::Display) {
        self.publish_failed.fetch_add(1, Ordering::Relaxed);
        if self.failing.swap(true, Ordering::Relaxed) {
            tracing::debug!(%error, "cross-node publish failed");
        } else {
            tracing::warn!(%error, "cross-node publish failed; local delivery goes on");
        }
    }

    pub(crate) fn claim_failed(&self) {
        self.claims_failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// What arrived from one other node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginStats {
    /// The node.
    pub node: NodeId,
    /// Envelopes received from it and applied.
    pub received: u64,
    /// Envelopes from it that never arrived (a sequence number skipped).
    pub gaps: u64,
    /// Envelopes from it that arrived again or out of order (dropped).
    pub duplicates: u64,
}

/// A snapshot of a hub's statistics ([`Hub::stats`](super::Hub::stats)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// This node's id.
    pub node: NodeId,
    /// The backend's state.
    pub backend: BackendStatus,
    /// Rooms with members on this node.
    pub rooms: usize,
    /// Room memberships on this node (a session in two rooms counts twice).
    pub room_members: usize,
    /// Users logged in on this node.
    pub users: usize,
    /// Logged-in sessions on this node.
    pub user_sessions: usize,
    /// Users online anywhere (this node's presence view).
    pub online_users: usize,
    /// Their sessions.
    pub online_sessions: usize,
    /// Channels with subscribers on this node.
    pub channels: usize,
    /// Channel subscriptions on this node.
    pub subscriptions: usize,
    /// Envelopes handed to the backend.
    pub published: u64,
    /// Envelopes the backend refused (down, outbox full): those operations reached this node
    /// only.
    pub publish_failed: u64,
    /// Envelopes received from other nodes and applied (every origin ever seen, nodes that
    /// left included).
    pub received: u64,
    /// Envelopes from other nodes that never arrived (every origin ever seen), including those
    /// their origin could not hand to its backend (a sequence number is taken before the
    /// backend is asked), which the origin counts in its `publish_failed`.
    pub gaps: u64,
    /// Envelopes from other nodes that arrived twice or out of order, dropped (every origin
    /// ever seen).
    pub duplicates: u64,
    /// Per origin node still in the cluster. A node that left (the backend said it is gone)
    /// is dropped from the list, its counts staying in the totals above: a restarted process
    /// is a new node, so the list would otherwise grow with every restart.
    pub origins: Vec<OriginStats>,
    /// RefuseNewer logins the backend could not decide.
    pub claims_failed: u64,
    /// Channel payloads and presence events lost by subscribers that fell behind.
    pub lagged: u64,
}

impl HubStats {
    /// The statistics in the Prometheus text exposition format, labelled with `hub="<label>"`
    /// and the node id.
    pub fn to_prometheus(&self, label: &str) -> String {
        let mut out = String::new();
        let l = format!(
            "hub=\"{}\",node=\"{}\"",
            label.replace('\\', "\\\\").replace('"', "\\\""),
            self.node
        );
        let gauges = [
            (
                "sockjs_hub_rooms",
                "Rooms with members on this node.",
                self.rooms as u64,
            ),
            (
                "sockjs_hub_room_members",
                "Room memberships on this node.",
                self.room_members as u64,
            ),
            (
                "sockjs_hub_users",
                "Users logged in on this node.",
                self.users as u64,
            ),
            (
                "sockjs_hub_user_sessions",
                "Logged-in sessions on this node.",
                self.user_sessions as u64,
            ),
            (
                "sockjs_hub_online_users",
                "Users online in the cluster.",
                self.online_users as u64,
            ),
            (
                "sockjs_hub_online_sessions",
                "Their sessions.",
                self.online_sessions as u64,
            ),
            (
                "sockjs_hub_channels",
                "Channels with subscribers on this node.",
                self.channels as u64,
            ),
            (
                "sockjs_hub_subscriptions",
                "Channel subscriptions on this node.",
                self.subscriptions as u64,
            ),
            (
                "sockjs_hub_backend_up",
                "1 when the cluster backend is connected (or there is none).",
                u64::from(self.backend != BackendStatus::Down),
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
                "sockjs_hub_published_total",
                "Envelopes handed to the backend.",
                self.published,
            ),
            (
                "sockjs_hub_publish_failed_total",
                "Envelopes the backend refused.",
                self.publish_failed,
            ),
            (
                "sockjs_hub_received_total",
                "Envelopes received from other nodes.",
                self.received,
            ),
            (
                "sockjs_hub_claims_failed_total",
                "Duplicate-login claims the backend could not decide.",
                self.claims_failed,
            ),
            (
                "sockjs_hub_lagged_total",
                "Items lost by subscribers that fell behind.",
                self.lagged,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{l}}} {v}"
            );
        }
        for (name, help, pick) in [
            (
                "sockjs_hub_gaps_total",
                "Envelopes from an origin node that never arrived.",
                0,
            ),
            (
                "sockjs_hub_duplicates_total",
                "Envelopes from an origin node dropped as duplicates.",
                1,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for o in &self.origins {
                let v = if pick == 0 { o.gaps } else { o.duplicates };
                let _ = writeln!(out, "{name}{{{l},origin=\"{}\"}} {v}", o.node);
            }
        }
        out
    }
}

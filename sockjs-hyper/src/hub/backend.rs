//! The plug-in point of a cluster layer: the [`Backend`] trait a cluster backend implements,
//! and the [`Inbox`] through which it hands the hub what other nodes sent.

use std::fmt;
use std::sync::{Arc, Weak};

use futures::future::BoxFuture;
use sockjs_core::cluster::{Envelope, LoginStamp, NodeId, Topic};

use super::HubInner;

/// Carries a hub's cross-node traffic to the other nodes of a cluster, and theirs to it.
///
/// A [`Hub`](super::Hub) without a backend is a single process (the default). With one
/// ([`Hub::with_backend`](super::Hub::with_backend)), every cluster operation of the hub is
/// applied to this node's sessions at once and also handed to the backend as an [`Envelope`]
/// for the other nodes; the backend gives what other nodes sent to the hub's [`Inbox`]. A
/// backend implements transport and shared state, nothing else: rooms, users, presence
/// events, duplicate-login decisions and sequence checking stay in the hub.
///
/// # Contract
///
/// - **Never block, never call the hub back synchronously.** Every method except
///   [`claim_login`](Backend::claim_login) is called on the hub's paths (some with a shard
///   lock of the hub held, to keep calls about one room, channel or user in order): queue the
///   work (a bounded queue) and return. Calling the [`Inbox`] from inside a `Backend` method
///   may deadlock; call it from the backend's own tasks.
/// - **Order.** Calls about one topic or user arrive in the order their effects must apply
///   (for example `subscribe` then `unsubscribe` of a room, presence counts 2 then 1, a
///   `release_login` before a later `claim_login` of the same user); keep that order on the
///   way to the shared medium. [`publish`](Backend::publish) calls of one node must reach each
///   other node in the order they were made (per sender node, in publication order).
/// - **Bounded.** Keep a bounded outbox; when it is full or the medium is unreachable,
///   `publish` returns an error at once ([`BackendError::Full`], [`BackendError::Down`]) rather
///   than buffering without bound. The hub counts the failure, logs it, and returns it to the
///   caller, after local delivery has happened.
/// - **At most once.** Never deliver an envelope twice on purpose; a node ignores its own
///   envelopes, so echoing them back is harmless. The hub drops duplicates it detects by
///   sequence number and counts gaps ([`HubStats`](super::HubStats)).
/// - **Presence.** Other nodes' presence reaches the hub only through the [`Inbox`]: at start,
///   read every live node's presence and call [`Inbox::replace_node_presence`] for each; then
///   give it their changes ([`Inbox::remote_presence`]). The hub's presence view (and its
///   `Joined`/`Left` events) is as fresh as these calls; document the bound.
/// - **Recovery.** After losing the medium (a Redis restart), reconnect with backoff,
///   subscribe again to every topic in [`Inbox::topics`], publish this node's presence again
///   from [`Inbox::local_presence`], take again the login claims in [`Inbox::claims`] (where
///   no other live node took them meanwhile), and tell the hub other nodes' presence again with
///   [`Inbox::replace_node_presence`].
/// - **Liveness.** When another node disappears (its liveness key expired, it left), call
///   [`Inbox::node_gone`]: its users leave this node's presence view and their `Left` events
///   fire. Document the bound on how long that takes.
pub trait Backend: Send + Sync + 'static {
    /// Called once, when the hub is built, before any other method: `inbox` is where
    /// incoming traffic goes, and [`Inbox::node`] is this node's id (the `origin` of the
    /// envelopes this hub publishes). Start the backend's tasks here (the hub is built inside
    /// a tokio runtime when a backend needs one).
    fn start(&self, inbox: Inbox);

    /// Carry `envelope` to the other nodes that receive its topic
    /// ([`Envelope::topic`]: every node for [`Topic::Control`], the subscribed nodes for a
    /// room or channel). Must not block: `Err` when the bounded outbox is full or the medium
    /// is down.
    fn publish(&self, envelope: Envelope) -> Result<(), BackendError>;

    /// This node has local interest in `topic` (the first local member of a room, the first
    /// local subscriber of a channel): from now on deliver the topic's envelopes from other
    /// nodes. [`Topic::Control`] is never subscribed: it is always delivered.
    fn subscribe(&self, topic: &Topic);

    /// This node's interest in `topic` ended.
    fn unsubscribe(&self, topic: &Topic);

    /// `user` now has `count` logged-in sessions on this node (0: none). Store it where other
    /// nodes read presence (for example a per-node hash) and tell the other nodes, which give
    /// it to their hub with [`Inbox::remote_presence`].
    fn set_local_presence(&self, user: &str, count: usize);

    /// The duplicate-login claim of [`LoginPolicy::RefuseNewer`](super::LoginPolicy): atomically,
    /// if no other live node holds the claim on `(claim.scope, claim.user)`, make this node
    /// hold it and answer `Ok(true)`; if another live node holds it, `Ok(false)`. A claim held
    /// by a node that is gone (no longer live) does not count. The hub calls it only when
    /// this node holds no session of the user in that scope, bounds it with
    /// [`HubConfig::claim_timeout`](super::HubConfig), and calls
    /// [`release_login`](Backend::release_login) when this node's last such session ends or the
    /// claim went unused.
    fn claim_login(&self, claim: LoginClaim) -> BoxFuture<'static, Result<bool, BackendError>>;

    /// This node no longer holds `user` in `scope` (see [`claim_login`](Backend::claim_login)).
    fn release_login(&self, scope: &str, user: &str);

    /// Whether the backend is connected to the other nodes (for [`HubStats`](super::HubStats)).
    fn status(&self) -> BackendStatus;
}

/// A RefuseNewer login asking the cluster for `user` in `scope`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginClaim {
    /// The endpoint prefix the policy applies to (the same prefix on every node; may be `""`).
    pub scope: Arc<str>,
    /// The user.
    pub user: Arc<str>,
    /// The login's stamp.
    pub stamp: LoginStamp,
}

impl LoginClaim {
    /// A claim (for backends' own tests).
    pub fn new(scope: &str, user: &str, stamp: LoginStamp) -> LoginClaim {
        LoginClaim {
            scope: scope.into(),
            user: user.into(),
            stamp,
        }
    }
}

/// Why a backend could not do what the hub asked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendError {
    /// The shared medium (Redis, ...) is unreachable.
    Down,
    /// The bounded outbox is full (the medium is slower than this node's traffic).
    Full,
    /// No answer in time.
    Timeout,
    /// Anything else, described.
    Failed(Arc<str>),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Down => f.write_str("the cluster backend is down"),
            BackendError::Full => f.write_str("the cluster backend's outbox is full"),
            BackendError::Timeout => f.write_str("the cluster backend did not answer in time"),
            BackendError::Failed(why) => write!(f, "the cluster backend failed: {why}"),
        }
    }
}

impl std::error::Error for BackendError {}

/// Whether a hub reaches other nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendStatus {
    /// No backend: one process, nothing to reach.
    InProcess,
    /// Connected: cross-node operations are carried.
    Up,
    /// Not connected (starting, or lost): cross-node operations fail, local ones work.
    Down,
}

impl BackendStatus {
    /// `in_process`, `up` or `down`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BackendStatus::InProcess => "in_process",
            BackendStatus::Up => "up",
            BackendStatus::Down => "down",
        }
    }
}

/// Where a backend hands the hub what other nodes sent. Cheap to clone; it does not keep the
/// hub alive (once the hub is gone, every call does nothing).
///
/// Every method applies at once (delivery to local sessions never waits: a full session
/// queue is skipped) and may be called from any task; call them from the backend's own
/// tasks, not from inside a [`Backend`] method.
#[derive(Clone)]
pub struct Inbox {
    pub(crate) node: NodeId,
    pub(crate) hub: Weak<HubInner>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Whether the hub is gone (every clone dropped): the backend's tasks can stop.
    pub fn is_closed(&self) -> bool {
        self.hub.strong_count() == 0
    }

    /// An envelope from another node: checked against the last sequence number from its
    /// origin in its topic (duplicates dropped, gaps counted), then applied to this node's
    /// sessions. The node's own envelopes are ignored.
    pub fn deliver(&self, envelope: Envelope) {
        if let Some(hub) = self.hub.upgrade() {
            hub.deliver_remote(envelope);
        }
    }

    /// Node `node` has `count` logged-in sessions of `user` (0: none).
    pub fn remote_presence(&self, node: NodeId, user: &str, count: usize) {
        if let Some(hub) = self.hub.upgrade() {
            if node != self.node {
                hub.presence.set(node, user, count);
            }
        }
    }

    /// Everything node `node` has: replaces what this hub knew of it (after a reconnect, or a
    /// periodic scan). Users missing from `counts` have no session there.
    pub fn replace_node_presence<U: AsRef<str>>(
        &self,
        node: NodeId,
        counts: impl IntoIterator<Item = (U, usize)>,
    ) {
        if let Some(hub) = self.hub.upgrade() {
            if node != self.node {
                hub.presence.replace_node(node, counts);
            }
        }
    }

    /// Node `node` is gone: its users leave the presence view (their `Left` events fire when it
    /// held their last session) and its sequence numbers are forgotten.
    pub fn node_gone(&self, node: NodeId) {
        if let Some(hub) = self.hub.upgrade() {
            if node != self.node {
                hub.presence
                    .replace_node(node, std::iter::empty::<(&str, usize)>());
                hub.tracker.forget_node(node);
            }
        }
    }

    /// Node id `node` is now used by a new process (a restart reusing the id, see
    /// [`HubBuilder::node`](super::HubBuilder::node)): the sequence numbers remembered from the
    /// previous process are forgotten, so the new process's envelopes, numbered from the
    /// start again, are applied instead of being dropped as duplicates. Call it before
    /// delivering any envelope of the new process (the Redis backend does when the new
    /// process's hello, or its liveness key, shows another process instance). Presence is not
    /// touched: replace it with [`replace_node_presence`](Inbox::replace_node_presence).
    pub fn node_restarted(&self, node: NodeId) {
        if let Some(hub) = self.hub.upgrade() {
            if node != self.node {
                hub.tracker.forget_node(node);
            }
        }
    }

    /// This node's logged-in users and their session counts, to publish again after a
    /// reconnect.
    pub fn local_presence(&self) -> Vec<(Arc<str>, usize)> {
        self.hub
            .upgrade()
            .map(|hub| hub.user_counts())
            .unwrap_or_default()
    }

    /// The `(scope, user)` login claims this node holds ([`Backend::claim_login`]), to take
    /// again after a reconnect.
    pub fn claims(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.hub
            .upgrade()
            .map(|hub| hub.user_claims())
            .unwrap_or_default()
    }

    /// The rooms and channels this node has local interest in, to subscribe to again after a
    /// reconnect.
    pub fn topics(&self) -> Vec<Topic> {
        self.hub
            .upgrade()
            .map(|hub| hub.topics())
            .unwrap_or_default()
    }
}

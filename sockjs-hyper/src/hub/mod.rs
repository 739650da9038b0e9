//! The hub: rooms, users, presence, the duplicate-login policy and raw channels, in one
//! process or across a cluster.
//!
//! Every endpoint has a [`Hub`] (its own by default; several endpoints can share one, see
//! [`SockJs::builder`](crate::SockJs::builder)), reachable from every handler with
//! [`Connection::hub`](crate::Connection::hub). Without a backend the hub is this process
//! alone (nothing to run, nothing to configure). With a cluster [`Backend`] (for example a
//! Redis one, in its own crate), the *same calls* reach every node: application code does not
//! change when it moves from one process to many.
//!
//! ```
//! use sockjs_hyper::{Config, Connection, SockJs};
//!
//! async fn handler(mut conn: Connection) {
//!     let Some(name) = conn.recv().await else { return };
//!     if conn.login(&name).await.is_err() {
//!         return; // refused by the endpoint's duplicate-login policy
//!     }
//!     let _ = conn.join("lobby");
//!     while let Some(text) = conn.recv().await {
//!         // Encoded once, queued to every member of the room (on every node).
//!         let _ = conn.hub().send_to_room("lobby", &format!("{name}: {text}"));
//!     }
//!     // Nothing to clean up: a session leaves its rooms and the user index when it ends.
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let chat = SockJs::new("/chat", Config::default(), handler)?;
//! let hub = chat.hub();
//! assert_eq!(hub.room_len("lobby"), 0);
//! assert!(hub.presence().is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! # What it offers
//!
//! - **Rooms**: [`Connection::join`](crate::Connection::join) / `leave` / `rooms`;
//!   [`Hub::send_to_room`] (encoded once, shared bytes, full queues skipped and counted),
//!   [`Hub::room_members`], [`Hub::room_len`] (this node's members). A session leaves its
//!   rooms when it ends, on every transport, before its handler's `recv()` returns `None`.
//! - **Users**: [`Connection::login`](crate::Connection::login) applies the endpoint's
//!   [`LoginPolicy`]; [`Connection::set_user`](crate::Connection::set_user) registers an
//!   identity without the policy. The user index gives a user's sessions in O(1)
//!   ([`Hub::sessions_of`], [`SockJs::sessions_of`](crate::SockJs::sessions_of));
//!   [`Hub::send_to_user`] and [`Hub::kick_user`] reach them wherever they are.
//! - **Presence**: [`Hub::presence`] (who is online, with how many sessions), [`Hub::online`],
//!   and [`Hub::presence_events`], a bounded stream of [`PresenceEvent`]s (`Joined` for a
//!   user's first session, `Left` after the last) that reports lag instead of hiding it.
//! - **Duplicate logins**, per endpoint: [`LoginPolicy::Allow`] (default),
//!   [`LoginPolicy::ReplaceOlder`] (older sessions closed with [`REPLACED`], `4009 "Replaced
//!   by a newer session"`), [`LoginPolicy::RefuseNewer`] (the new session closed with
//!   [`REFUSED`], `4008 "Already connected"`, and `login` returns
//!   [`LoginError::Refused`]). sockjs-client reports these codes to `onclose` as they are.
//! - **Channels**: [`Hub::subscribe`] / [`Hub::publish`], opaque `Bytes` by channel name,
//!   bounded per subscriber with lag reported: what an application protocol (STOMP) builds
//!   its destinations on.
//! - **Cluster operations**: [`Hub::send_to_room`], [`Hub::send_to_user`], [`Hub::kick_user`],
//!   [`Hub::broadcast`] and [`Hub::publish`] apply on this node at once and, with a backend,
//!   go to the other nodes; [`Hub::stats`] counts it all.
//!
//! # Delivery guarantee
//!
//! **In one process** (no backend): a hub operation is applied to every local session it
//! addresses before the call returns, exactly once and in call order; a session whose
//! outbound queue is full is skipped and counted ([`Delivery::full`]), never waited for.
//!
//! **Across nodes** (with a backend): *per sender node, in publication order, at most once, to
//! every node that is connected to the backend at the time; while the backend is unreachable,
//! cross-node operations fail visibly (an error to the caller, a counter, a log line), local
//! delivery keeps working, and nothing is buffered without bound.* Each envelope carries its
//! origin node and a sequence number per topic; a receiving node drops duplicates and counts
//! gaps per origin ([`HubStats::origins`]), so a loss is visible, never silent.
//!
//! # Errors of cluster operations
//!
//! A cluster operation returns `Ok(Delivery)` when it was applied here and (with a backend)
//! handed to the backend, and [`HubError::Cluster`] when it was applied here but the backend
//! refused it: the error carries the local [`Delivery`], so `?` propagates the cross-node
//! failure while the local outcome stays available.
//!
//! # Locking and cost
//!
//! A session's own message path (its sends and receives) takes no lock shared with other
//! sessions; the hub's tables are not on it. Room and user tables are sharded maps, touched on
//! join, leave, login, logout, session end and room or user sends, each for one map operation:
//! never across an `.await`, never while a session is called (a send or close happens after
//! the lock is released). Joining a room is O(1) whatever its size; a room send is
//! O(members); a user lookup is O(1); a channel publication is O(1) (subscribers read the
//! shared queue at their own pace).
//!
//! # Writing a backend
//!
//! Implement [`Backend`] (see its contract) and build the hub with [`Hub::with_backend`] or
//! [`Hub::builder`]. [`Envelope::encode`] / [`Envelope::decode`] are a ready-made wire format.
//! [`MemoryBus`] is a complete in-memory backend connecting several hubs in one process, for
//! tests of cluster behaviour without any server.

mod backend;
mod bus;
mod channels;
mod config;
mod error;
mod fanout;
pub(crate) mod member;
mod presence;
mod rooms;
mod sequence;
mod shard;
mod stats;
mod stream;
pub(crate) mod users;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use sockjs_core::cluster::valid_name;
pub use sockjs_core::cluster::{
    DecodeError, Envelope, LoginStamp, NodeId, Operation, Topic, MAX_NAME_LEN,
};

pub use backend::{Backend, BackendError, BackendStatus, Inbox, LoginClaim};
pub use bus::{MemoryBackend, MemoryBus};
pub use channels::Subscription;
pub use config::{HubConfig, HubConfigError, LoginPolicy, REFUSED, REPLACED};
pub use error::{Delivery, HubError, LoginError};
pub use presence::{Presence, PresenceEvent, PresenceEvents, PresenceKind};
pub use stats::{HubStats, OriginStats};
pub use stream::Lagged;

use crate::connection::ConnectionSender;
use crate::endpoint::Endpoint;
pub(crate) use fanout::fan_out;
use sequence::{Seen, Sequencer, Tracker};
use shard::lock;
use users::{EndpointTag, StampClock};

/// Rooms, users, presence, duplicate logins and channels for one or more endpoints, in this
/// process or (with a [`Backend`]) across a cluster. Cheap to clone (an `Arc` inside); see
/// the [module documentation](self).
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.inner.node)
            .field("backend", &self.inner.backend.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

/// Builds a [`Hub`] with a configuration and, optionally, a backend.
#[derive(Default)]
pub struct HubBuilder {
    config: HubConfig,
    backend: Option<Arc<dyn Backend>>,
    node: Option<NodeId>,
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder")
            .field("config", &self.config)
            .field("backend", &self.backend.is_some())
            .field("node", &self.node)
            .finish()
    }
}

impl HubBuilder {
    /// This node's id (default: a random one, drawn by [`build`](HubBuilder::build)).
    ///
    /// Choose one to make a process recognisable: the id names the node's keys in the
    /// cluster's shared store (for Redis, `sockjs:{cluster}:node:<id>`, its presence hash and
    /// claims), is the `node="..."` label of every hub and backend metric, and a field of their
    /// log lines, so a fixed id per process slot (`0a`, `0b`, ... written in hexadecimal, see
    /// [`NodeId`]'s `FromStr`) keeps dashboards and Redis readable across restarts.
    ///
    /// Two rules come with it:
    ///
    /// - **One live process per id.** Two processes sharing an id would each ignore the other's
    ///   envelopes (a node drops its own) and overwrite each other's presence. A backend must
    ///   refuse to join with an id another live process holds (the Redis backend does, see its
    ///   documentation); give every process its own id.
    /// - **A restart may reuse the id.** A restarted process numbers its envelopes from the
    ///   start again; the other nodes must not drop them as duplicates of the previous
    ///   process's. A backend tells the hubs with [`Inbox::node_restarted`] when a node id
    ///   comes back as a new process (the Redis and in-memory backends do).
    pub fn node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    /// The hub's limits (default [`HubConfig::default`]).
    pub fn config(mut self, config: HubConfig) -> Self {
        self.config = config;
        self
    }

    /// A cluster backend (default: none, this process only).
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// The hub; a backend's [`start`](Backend::start) runs now.
    pub fn build(self) -> Result<Hub, HubConfigError> {
        self.config.validate()?;
        let node = self
            .node
            .unwrap_or_else(|| NodeId::from_u64(rand::random()));
        let inner = Arc::new(HubInner {
            node,
            rooms: rooms::Rooms::new(),
            users: users::Users::new(),
            presence: presence::PresenceTable::new(self.config.presence_capacity),
            channels: channels::Channels::new(),
            sequencer: Sequencer::new(self.config.max_sequence_topics),
            tracker: Tracker::new(),
            endpoints: Mutex::new(Vec::new()),
            next_member: AtomicU64::new(0),
            next_endpoint: AtomicU64::new(0),
            clock: StampClock::new(),
            counters: stats::Counters::default(),
            backend: self.backend,
            config: self.config,
        });
        if let Some(backend) = &inner.backend {
            backend.start(Inbox {
                node,
                hub: Arc::downgrade(&inner),
            });
        }
        Ok(Hub { inner })
    }
}

impl Hub {
    /// A hub for this process alone, with the default limits.
    pub fn new() -> Hub {
        Hub::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// A hub connected to other nodes through `backend`, with the default limits.
    pub fn with_backend(backend: impl Backend) -> Hub {
        Hub::builder()
            .backend(backend)
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// A builder, to set limits ([`HubConfig`]), a backend and the node id.
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// This node's id: the one given to [`HubBuilder::node`], else random (drawn when the
    /// hub was built).
    pub fn node(&self) -> NodeId {
        self.inner.node
    }

    /// The hub's limits.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Send `message` to every member of `room`: this node's members at once (encoded once,
    /// full queues skipped and counted), and the other nodes' through the backend.
    pub fn send_to_room(&self, room: &str, message: &str) -> Result<Delivery, HubError> {
        self.inner.check(room, message.len())?;
        let local = self.inner.room_send_local(room, message);
        self.inner
            .cluster(local, || sockjs_core::cluster::Operation::Room {
                room: room.into(),
                message: message.into(),
            })
    }

    /// This node's members of `room` (a snapshot).
    pub fn room_members(&self, room: &str) -> Vec<ConnectionSender> {
        self.inner
            .room_members(room)
            .map(|m| m.iter().cloned().map(ConnectionSender::new).collect())
            .unwrap_or_default()
    }

    /// The number of this node's members of `room`.
    pub fn room_len(&self, room: &str) -> usize {
        self.inner.room_len(room)
    }

    /// The rooms with members on this node, sorted.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.inner.room_totals().0
    }

    /// Send `message` to every session of `user`, on every node.
    pub fn send_to_user(&self, user: &str, message: &str) -> Result<Delivery, HubError> {
        self.inner.check(user, message.len())?;
        let local = self.inner.user_send_local(user, message);
        self.inner.cluster(local, || Operation::User {
            user: user.into(),
            message: message.into(),
        })
    }

    /// Close every session of `user`, on every node, with `code` and `reason` (use a
    /// 4000–4999 code: sockjs-client reports it to `onclose` as it is). [`Delivery::sent`]
    /// counts the local sessions closed.
    pub fn kick_user(&self, user: &str, code: u16, reason: &str) -> Result<Delivery, HubError> {
        self.inner.check(user, reason.len())?;
        let local = self.inner.user_kick_local(user, code, reason, None, None);
        self.inner.cluster(local, || Operation::Kick {
            user: user.into(),
            code,
            reason: reason.into(),
            scope: None,
            older_than: None,
        })
    }

    /// Send `message` to every session of every endpoint sharing this hub, on every node
    /// (except the endpoints built with
    /// [`hub_broadcasts(false)`](crate::SockJsBuilder::hub_broadcasts), such as a STOMP
    /// broker's).
    pub fn broadcast(&self, message: &str) -> Result<Delivery, HubError> {
        if message.len() > self.inner.config.max_message_size {
            return Err(HubError::TooLarge);
        }
        let local = self.inner.broadcast_local(message);
        self.inner.cluster(local, || Operation::Broadcast {
            message: message.into(),
        })
    }

    /// This node's sessions logged in as `user` (every endpoint sharing the hub); O(1) in the
    /// number of sessions.
    pub fn sessions_of(&self, user: &str) -> Vec<ConnectionSender> {
        self.inner
            .user_sessions(user, None)
            .into_iter()
            .map(ConnectionSender::new)
            .collect()
    }

    /// The number of sessions of `user` online (cluster-wide with a backend).
    pub fn online(&self, user: &str) -> usize {
        self.inner.presence.online(user)
    }

    /// Who is online, with how many sessions (cluster-wide with a backend, as fresh as the
    /// backend keeps it).
    pub fn presence(&self) -> Presence {
        self.inner.presence.snapshot()
    }

    /// The [`PresenceEvent`]s from now on.
    pub fn presence_events(&self) -> PresenceEvents {
        PresenceEvents::new(stream::Recv::new(
            self.inner.presence.subscribe(),
            Arc::clone(&self.inner.counters.lagged),
        ))
    }

    /// Subscribe to `channel`: the payloads published on it from now on, on any node.
    pub fn subscribe(&self, channel: &str) -> Result<Subscription, HubError> {
        if !valid_name(channel) {
            return Err(HubError::InvalidName);
        }
        Ok(self.inner.subscribe(self, channel))
    }

    /// Publish `payload` on `channel`, to its subscribers on every node. [`Delivery::sent`]
    /// counts this node's subscriptions.
    pub fn publish(&self, channel: &str, payload: impl Into<Bytes>) -> Result<Delivery, HubError> {
        let payload = payload.into();
        self.inner.check(channel, payload.len())?;
        let local = Delivery {
            sent: self.inner.channel_send_local(channel, payload.clone()),
            ..Delivery::default()
        };
        self.inner.cluster(local, || Operation::Channel {
            channel: channel.into(),
            payload,
        })
    }

    /// Publish `payload` on `channel` to its subscribers on the **other** nodes only: not
    /// to this node's subscriptions. For a protocol layer that delivers to its own node's
    /// subscribers itself (as `sockjs-stomp`'s broker does, straight from the publishing
    /// task) and needs the hub only to reach the rest of the cluster; a publication from
    /// another node still reaches this node's subscriptions as with [`Hub::publish`] (a node
    /// never receives its own publications back from the backend). Without a backend this
    /// does nothing and returns `Ok` with an empty [`Delivery`] (see
    /// [`Hub::has_backend`]). The cross-node guarantee is [`Hub::publish`]'s: per node, in
    /// publication order across both calls, at most once.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sockjs_hyper::hub::Hub;
    /// let hub = Hub::new();
    /// let _here = hub.subscribe("prices")?;
    /// let delivery = hub.publish_to_other_nodes("prices", "42")?;
    /// // No backend: nobody else to reach, and this node's subscription gets nothing.
    /// assert_eq!((delivery.sent, delivery.published), (0, false));
    /// assert!(!hub.has_backend());
    /// # Ok(())
    /// # }
    /// ```
    pub fn publish_to_other_nodes(
        &self,
        channel: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Delivery, HubError> {
        let payload = payload.into();
        self.inner.check(channel, payload.len())?;
        self.inner
            .cluster(Delivery::default(), || Operation::Channel {
                channel: channel.into(),
                payload,
            })
    }

    /// Whether the hub has a cluster backend (its operations can reach other nodes).
    pub fn has_backend(&self) -> bool {
        self.inner.backend.is_some()
    }

    /// A snapshot of the hub's statistics.
    pub fn stats(&self) -> HubStats {
        self.inner.stats()
    }
}

pub(crate) struct HubInner {
    node: NodeId,
    config: HubConfig,
    backend: Option<Arc<dyn Backend>>,
    rooms: rooms::Rooms,
    users: users::Users,
    presence: presence::PresenceTable,
    channels: channels::Channels,
    sequencer: Sequencer,
    tracker: Tracker,
    /// The endpoints sharing this hub (for broadcasts); touched when one is built and on
    /// broadcast.
    endpoints: Mutex<Vec<Weak<Endpoint>>>,
    next_member: AtomicU64,
    next_endpoint: AtomicU64,
    clock: StampClock,
    counters: stats::Counters,
}

impl HubInner {
    fn next_member(&self) -> u64 {
        self.next_member.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn new_stamp(&self) -> LoginStamp {
        self.clock.stamp(self.node)
    }

    /// The tag of a new endpoint under `prefix` with `policy`.
    pub(crate) fn endpoint_tag(&self, prefix: &str, policy: LoginPolicy) -> Arc<EndpointTag> {
        Arc::new(EndpointTag {
            id: self.next_endpoint.fetch_add(1, Ordering::Relaxed),
            scope: Arc::from(prefix),
            policy,
        })
    }

    pub(crate) fn register(&self, endpoint: &Arc<Endpoint>) {
        let mut endpoints = lock(&self.endpoints);
        endpoints.retain(|e| e.strong_count() > 0);
        endpoints.push(Arc::downgrade(endpoint));
    }

    fn check(&self, name: &str, len: usize) -> Result<(), HubError> {
        if !valid_name(name) {
            Err(HubError::InvalidName)
        } else if len > self.config.max_message_size {
            Err(HubError::TooLarge)
        } else {
            Ok(())
        }
    }

    /// Hand `op` to the backend (if any), with the next sequence number of its topic.
    pub(crate) fn publish(&self, op: Operation) -> Result<bool, BackendError> {
        let Some(backend) = &self.backend else {
            return Ok(false);
        };
        let envelope = Envelope {
            origin: self.node,
            seq: 0,
            op,
        };
        let topic = envelope.topic();
        let r = self
            .sequencer
            .with_next(&topic, |seq| backend.publish(Envelope { seq, ..envelope }));
        match r {
            Ok(()) => {
                self.counters.published();
                Ok(true)
            }
            Err(e) => {
                self.counters.publish_failed(&e);
                Err(e)
            }
        }
    }

    /// The result of a cluster operation applied here with outcome `local`.
    fn cluster(
        &self,
        local: Delivery,
        op: impl FnOnce() -> Operation,
    ) -> Result<Delivery, HubError> {
        if self.backend.is_none() {
            return Ok(local);
        }
        match self.publish(op()) {
            Ok(published) => Ok(Delivery { published, ..local }),
            Err(cause) => Err(HubError::Cluster { local, cause }),
        }
    }

    fn broadcast_local(&self, message: &str) -> Delivery {
        let endpoints: Vec<Arc<Endpoint>> = lock(&self.endpoints)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let mut total = Delivery::default();
        for endpoint in endpoints {
            let d = fan_out(endpoint.sessions().iter(), message);
            total.sent += d.sent;
            total.full += d.full;
            total.closed += d.closed;
            total.too_large += d.too_large;
        }
        total
    }

    /// An envelope from another node (see [`Inbox::deliver`]).
    pub(crate) fn deliver_remote(&self, envelope: Envelope) {
        if envelope.origin == self.node {
            return;
        }
        let topic = envelope.topic();
        let observe = || self.tracker.observe(envelope.origin, &topic, envelope.seq);
        let seen = match &topic {
            Topic::Control => Some(observe()),
            Topic::Room(room) => self.with_room_interest(room, observe),
            Topic::Channel(channel) => self.with_channel_interest(channel, observe),
        };
        match seen {
            // No local interest (any more): nothing to do here.
            None => return,
            Some(Seen::Duplicate) => {
                tracing::debug!(origin = %envelope.origin, seq = envelope.seq, %topic, "duplicate envelope dropped");
                return;
            }
            Some(Seen::Gap(missing)) => {
                tracing::warn!(origin = %envelope.origin, missing, %topic, "envelopes from another node were lost");
            }
            Some(Seen::Next) => {}
        }
        self.apply(envelope.op);
    }

    /// Apply another node's operation to this node's sessions.
    fn apply(&self, op: Operation) {
        match op {
            Operation::Room { room, message } => {
                self.room_send_local(&room, &message);
            }
            Operation::Channel { channel, payload } => {
                self.channel_send_local(&channel, payload);
            }
            Operation::User { user, message } => {
                self.user_send_local(&user, &message);
            }
            Operation::Kick {
                user,
                code,
                reason,
                scope,
                older_than,
            } => {
                if let Some(stamp) = older_than {
                    // Logins here from now on are later than the one that replaces.
                    self.clock.observe(stamp);
                }
                self.user_kick_local(&user, code, &reason, scope.as_deref(), older_than);
            }
            Operation::Broadcast { message } => {
                self.broadcast_local(&message);
            }
            other => tracing::debug!(?other, "unknown operation from another node ignored"),
        }
    }

    fn topics(&self) -> Vec<Topic> {
        let mut topics: Vec<Topic> = self.room_totals().0.into_iter().map(Topic::Room).collect();
        self.channels.for_each_shard(|shard| {
            topics.extend(shard.keys().cloned().map(Topic::Channel));
        });
        topics
    }

    fn stats(&self) -> HubStats {
        let (rooms, room_members) = self.room_totals();
        let users = self.user_counts();
        let presence = self.presence.snapshot();
        let (channels, subscriptions) = self.channel_totals();
        let origins: Vec<OriginStats> = self
            .tracker
            .origins()
            .into_iter()
            .map(|(node, c)| OriginStats {
                node,
                received: c.received,
                gaps: c.gaps,
                duplicates: c.duplicates,
            })
            .collect();
        let totals = self.tracker.totals();
        let c = &self.counters;
        HubStats {
            node: self.node,
            backend: self
                .backend
                .as_ref()
                .map_or(BackendStatus::InProcess, |b| b.status()),
            rooms: rooms.len(),
            room_members,
            users: users.len(),
            user_sessions: users.iter().map(|(_, n)| n).sum(),
            online_users: presence.len(),
            online_sessions: presence.sessions(),
            channels,
            subscriptions,
            published: c.published.load(Ordering::Relaxed),
            publish_failed: c.publish_failed.load(Ordering::Relaxed),
            received: totals.received,
            gaps: totals.gaps,
            duplicates: totals.duplicates,
            origins,
            claims_failed: c.claims_failed.load(Ordering::Relaxed),
            lagged: c.lagged.load(Ordering::Relaxed),
        }
    }
}

/// A shared backend is a backend: keep an `Arc` of yours to read its state or stop it.
impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn start(&self, inbox: Inbox) {
        (**self).start(inbox)
    }
    fn publish(&self, envelope: Envelope) -> Result<(), BackendError> {
        (**self).publish(envelope)
    }
    fn subscribe(&self, topic: &Topic) {
        (**self).subscribe(topic)
    }
    fn unsubscribe(&self, topic: &Topic) {
        (**self).unsubscribe(topic)
    }
    fn set_local_presence(&self, user: &str, count: usize) {
        (**self).set_local_presence(user, count)
    }
    fn claim_login(
        &self,
        claim: LoginClaim,
    ) -> futures::future::BoxFuture<'static, Result<bool, BackendError>> {
        (**self).claim_login(claim)
    }
    fn release_login(&self, scope: &str, user: &str) {
        (**self).release_login(scope, user)
    }
    fn status(&self) -> BackendStatus {
        (**self).status()
    }
}

/// The session's part of the hub (see [`member`]).
pub(crate) use member::Member;

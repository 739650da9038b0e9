//! An in-memory cluster: several hubs in one process, connected the way a Redis backend
//! connects processes. For tests of cluster behaviour (rooms, kicks, presence, duplicate
//! logins across nodes, a node losing the medium) without any server.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use sockjs_core::cluster::{Envelope, NodeId, Topic};
use tokio::sync::{mpsc, Notify};

use super::shard::lock;
use super::{Backend, BackendError, BackendStatus, Inbox, LoginClaim};

/// An in-memory medium connecting hubs in one process: each hub built with
/// [`MemoryBus::backend`] is a node of one cluster, as if they were processes sharing a Redis.
///
/// Each backend has a bounded outbox (default 1024 items) drained by its own task, so a node's
/// envelopes reach the others in order, asynchronously (call [`MemoryBus::settle`] to wait
/// until everything published has been delivered). A backend can be taken off the medium and
/// back ([`MemoryBackend::set_down`]) to test failure behaviour: while down, its publications
/// fail with [`BackendError::Down`], it receives nothing, the other nodes drop its presence
/// and its login claims no longer count (as with a Redis backend once a node's liveness key
/// expires), and when it comes back the nodes exchange their presence again and it takes its
/// claims back where nobody took them meanwhile.
///
/// Node ids ([`HubBuilder::node`](super::HubBuilder::node)) behave as with Redis: a hub built
/// with the id of a hub that was dropped is that node restarted (the other nodes forget the old
/// one's sequence numbers, presence and claims); a hub built with the id of a live hub on the
/// bus stays off the medium (its status is [`BackendStatus::Down`] for good, and an error is
/// logged).
///
/// Hubs must be built inside a tokio runtime (the backend starts a task).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sockjs_hyper::hub::{Hub, MemoryBus};
///
/// let bus = MemoryBus::new();
/// let a = Hub::with_backend(bus.backend());
/// let b = Hub::with_backend(bus.backend());
/// let mut news = b.subscribe("news").unwrap();
/// bus.settle().await; // b's subscription has reached the bus
/// a.publish("news", "hello").unwrap();
/// assert_eq!(news.recv().await, Some(Ok("hello".into())));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<BusInner>,
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBus")
            .field("nodes", &lock(&self.inner.nodes).len())
            .finish_non_exhaustive()
    }
}

struct BusInner {
    nodes: Mutex<HashMap<NodeId, Arc<Link>>>,
    /// RefuseNewer claims: (scope, user) -> holder.
    claims: Mutex<HashMap<ClaimKey, NodeId>>,
    /// Items accepted into an outbox and not yet delivered.
    in_flight: AtomicUsize,
    settled: Notify,
    capacity: usize,
}

impl Default for BusInner {
    fn default() -> Self {
        BusInner {
            nodes: Mutex::default(),
            claims: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            settled: Notify::new(),
            capacity: 1024,
        }
    }
}

/// (scope, user) of a RefuseNewer claim.
type ClaimKey = (Arc<str>, Arc<str>);

/// One node's place on the bus.
struct Link {
    inbox: Inbox,
    up: AtomicBool,
    topics: Mutex<HashSet<Topic>>,
    /// The node's presence as the medium stores it (a Redis backend keeps a hash).
    presence: Mutex<HashMap<Arc<str>, usize>>,
    outbox: mpsc::Sender<Item>,
}

enum Item {
    Envelope(Envelope),
    Presence(Arc<str>, usize),
}

impl MemoryBus {
    /// An empty bus; outboxes hold 1024 items.
    pub fn new() -> MemoryBus {
        MemoryBus::default()
    }

    /// An empty bus whose backends' outboxes hold `capacity` items (at least 1).
    pub fn with_capacity(capacity: usize) -> MemoryBus {
        MemoryBus {
            inner: Arc::new(BusInner {
                capacity: capacity.max(1),
                ..BusInner::default()
            }),
        }
    }

    /// A backend for one more node (one hub).
    pub fn backend(&self) -> MemoryBackend {
        MemoryBackend {
            bus: self.clone(),
            link: OnceLock::new(),
        }
    }

    /// Wait until everything accepted by the nodes' outboxes has been delivered.
    pub async fn settle(&self) {
        loop {
            let settled = self.inner.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            settled.await;
        }
    }

    /// The links other than `me` that are up.
    fn peers(&self, me: NodeId) -> Vec<(NodeId, Arc<Link>)> {
        lock(&self.inner.nodes)
            .iter()
            .filter(|(n, l)| **n != me && l.up.load(Ordering::Acquire))
            .map(|(n, l)| (*n, Arc::clone(l)))
            .collect()
    }

    fn done(&self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.settled.notify_waiters();
        }
    }
}

/// A hub's backend on a [`MemoryBus`].
pub struct MemoryBackend {
    bus: MemoryBus,
    link: OnceLock<Arc<Link>>,
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("node", &self.node())
            .field("status", &self.status())
            .finish()
    }
}

impl MemoryBackend {
    /// The node's id, once its hub is built.
    pub fn node(&self) -> Option<NodeId> {
        self.link.get().map(|l| l.inbox.node())
    }

    /// Take the node off the medium (`true`) or bring it back (`false`): see [`MemoryBus`].
    pub fn set_down(&self, down: bool) {
        let Some(link) = self.link.get() else {
            return;
        };
        let me = link.inbox.node();
        let registered = lock(&self.bus.inner.nodes)
            .get(&me)
            .is_some_and(|l| Arc::ptr_eq(l, link));
        if !registered {
            return; // refused: its id belongs to another live hub
        }
        if link.up.swap(!down, Ordering::AcqRel) != down {
            return;
        }
        let peers = self.bus.peers(me);
        if down {
            lock(&self.bus.inner.claims).retain(|_, holder| *holder != me);
            for (_, peer) in &peers {
                peer.inbox.node_gone(me);
            }
            for (node, _) in &peers {
                link.inbox.node_gone(*node);
            }
        } else {
            // Take back this node's claims, unless another live node took them meanwhile.
            // The hub's list is read before the bus's lock is taken: the hub calls
            // `release_login` (which takes that lock) with a user's lock held, and reading
            // the list takes every user's lock.
            let live: HashSet<NodeId> = peers.iter().map(|(n, _)| *n).collect();
            let held = link.inbox.claims();
            let mut claims = lock(&self.bus.inner.claims);
            for key in held {
                match claims.get(&key) {
                    Some(holder) if *holder != me && live.contains(holder) => {
                        tracing::warn!(user = %key.1, "a login claim was taken by another node meanwhile");
                    }
                    _ => {
                        claims.insert(key, me);
                    }
                }
            }
            drop(claims);
            let mine: Vec<(Arc<str>, usize)> = lock(&link.presence)
                .iter()
                .map(|(u, n)| (Arc::clone(u), *n))
                .collect();
            for (node, peer) in &peers {
                peer.inbox.replace_node_presence(me, mine.iter().cloned());
                let theirs: Vec<(Arc<str>, usize)> = lock(&peer.presence)
                    .iter()
                    .map(|(u, n)| (Arc::clone(u), *n))
                    .collect();
                link.inbox.replace_node_presence(*node, theirs);
            }
        }
    }

    fn link(&self) -> Option<&Arc<Link>> {
        self.link.get()
    }

    fn queue(&self, link: &Link, item: Item) -> Result<(), BackendError> {
        if !link.up.load(Ordering::Acquire) {
            return Err(BackendError::Down);
        }
        self.bus.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        match link.outbox.try_send(item) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.bus.done();
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => BackendError::Full,
                    mpsc::error::TrySendError::Closed(_) => BackendError::Down,
                })
            }
        }
    }
}

impl Backend for MemoryBackend {
    fn start(&self, inbox: Inbox) {
        let me = inbox.node();
        let (tx, mut rx) = mpsc::channel(self.bus.inner.capacity);
        let link = Arc::new(Link {
            inbox,
            up: AtomicBool::new(true),
            topics: Mutex::default(),
            presence: Mutex::default(),
            outbox: tx,
        });
        if self.link.set(Arc::clone(&link)).is_err() {
            tracing::warn!("a MemoryBackend serves one hub; started twice");
            return;
        }
        {
            let mut nodes = lock(&self.bus.inner.nodes);
            match nodes.get(&me) {
                Some(old) if !old.inbox.is_closed() => {
                    // Another live hub has this id: this one stays off the medium for good.
                    tracing::error!(node = %me, "node id already used by a live hub on this bus; this hub stays off the cluster");
                    link.up.store(false, Ordering::Release);
                    return;
                }
                Some(_) => {
                    // The id's previous hub is gone: a restart. The other nodes forget its
                    // sequence numbers and its presence.
                    for (node, peer) in nodes.iter() {
                        if *node != me && peer.up.load(Ordering::Acquire) {
                            peer.inbox.node_restarted(me);
                            peer.inbox
                                .replace_node_presence(me, std::iter::empty::<(&str, usize)>());
                        }
                    }
                    lock(&self.bus.inner.claims).retain(|_, holder| *holder != me);
                }
                None => {}
            }
            nodes.insert(me, link);
        }
        let bus = self.bus.clone();
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                for (_, peer) in bus.peers(me) {
                    match &item {
                        Item::Envelope(env) => {
                            let topic = env.topic();
                            if topic == Topic::Control || lock(&peer.topics).contains(&topic) {
                                peer.inbox.deliver(env.clone());
                            }
                        }
                        Item::Presence(user, count) => {
                            peer.inbox.remote_presence(me, user, *count);
                        }
                    }
                }
                bus.done();
            }
        });
    }

    fn publish(&self, envelope: Envelope) -> Result<(), BackendError> {
        let link = self.link().ok_or(BackendError::Down)?;
        self.queue(link, Item::Envelope(envelope))
    }

    fn subscribe(&self, topic: &Topic) {
        if let Some(link) = self.link() {
            lock(&link.topics).insert(topic.clone());
        }
    }

    fn unsubscribe(&self, topic: &Topic) {
        if let Some(link) = self.link() {
            lock(&link.topics).remove(topic);
        }
    }

    fn set_local_presence(&self, user: &str, count: usize) {
        let Some(link) = self.link() else {
            return;
        };
        let user: Arc<str> = Arc::from(user);
        {
            let mut presence = lock(&link.presence);
            if count == 0 {
                presence.remove(&user);
            } else {
                presence.insert(Arc::clone(&user), count);
            }
        }
        // While down, the stored presence is exchanged when the node comes back.
        if let Err(e) = self.queue(link, Item::Presence(user, count)) {
            tracing::debug!(error = %e, "presence update not sent");
        }
    }

    fn claim_login(&self, claim: LoginClaim) -> BoxFuture<'static, Result<bool, BackendError>> {
        let result = match self.link() {
            Some(link) if link.up.load(Ordering::Acquire) => {
                let me = link.inbox.node();
                let live: HashSet<NodeId> =
                    self.bus.peers(me).into_iter().map(|(n, _)| n).collect();
                let mut claims = lock(&self.bus.inner.claims);
                let key = (claim.scope, claim.user);
                match claims.get(&key) {
                    Some(holder) if *holder != me && live.contains(holder) => Ok(false),
                    _ => {
                        claims.insert(key, me);
                        Ok(true)
                    }
                }
            }
            _ => Err(BackendError::Down),
        };
        Box::pin(std::future::ready(result))
    }

    fn release_login(&self, scope: &str, user: &str) {
        let Some(me) = self.node() else {
            return;
        };
        let key = (Arc::from(scope), Arc::from(user));
        let mut claims = lock(&self.bus.inner.claims);
        if claims.get(&key) == Some(&me) {
            claims.remove(&key);
        }
    }

    fn status(&self) -> BackendStatus {
        match self.link() {
            Some(link) if link.up.load(Ordering::Acquire) => BackendStatus::Up,
            _ => BackendStatus::Down,
        }
    }
}

//! This node's destinations: which local subscriptions each one has, and, with a cluster
//! backend, the one hub channel subscription per destination that brings the other nodes'
//! publications.
//!
//! A destination with at least one local subscriber is one [`Destination`] here. A
//! publication on this node is queued to every local subscriber's session queue straight from
//! the publishing task ([`Destination::deliver`], `try_send`, never waiting: a full queue is
//! the slow-subscriber policy's business), and handed to the hub only for the other nodes
//! ([`Hub::publish_to_other_nodes`]). With a backend, each destination also has one task
//! reading its hub channel, which carries only the other nodes' publications (a node never
//! gets its own back), and delivering them the same way. The subscriber list is
//! copy-on-write: a delivery takes a snapshot (an `Arc` clone under the destination's own
//! lock); `SUBSCRIBE` and `UNSUBSCRIBE` replace it. The shard locks are taken on subscribe,
//! unsubscribe and lookups; a session's driver looks destinations up through its own cache
//! ([`Lookup`]), which goes back to the table only when a destination was added or removed
//! anywhere since (the table's generation moved).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sockjs_hyper::hub::{Hub, HubError, Subscription, MAX_NAME_LEN};
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use super::message;
use super::stats::{add, Counters};
use super::SlowSubscriber;
use crate::session::OutboundMessage;

/// A destination as the broker keys it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A broker destination (`/topic/a`, `/queue/b`).
    Topic(String),
    /// A user's destination: `/user/queue/b` subscribed by a session of `user`.
    User { user: String, destination: String },
}

impl Key {
    /// The hub channel of this destination under the namespace `ns`. The user name is
    /// length-prefixed so that no user and destination pair names another's channel.
    pub(crate) fn channel(&self, ns: &str) -> String {
        // Written piece by piece rather than with `format!`: this runs for every publication.
        let mut out = String::with_capacity(ns.len() + 24 + self.destination().len());
        out.push_str(ns);
        match self {
            Key::Topic(d) => {
                out.push_str(":t:");
                out.push_str(d);
            }
            Key::User { user, destination } => {
                use std::fmt::Write as _;
                // Writing to a String cannot fail.
                let _ = write!(out, ":u:{}:", user.len());
                out.push_str(user);
                out.push_str(destination);
            }
        }
        out
    }

    /// Whether the hub channel name ([`Key::channel`]) is one the hub takes (not too long),
    /// without building it.
    pub(crate) fn channel_fits(&self, ns: &str) -> bool {
        let len = ns.len()
            + 3
            + match self {
                Key::Topic(d) => d.len(),
                Key::User { user, destination } => {
                    // ":" after the length's decimal digits.
                    let digits = user.len().checked_ilog10().map_or(1, |d| d as usize + 1);
                    digits + 1 + user.len() + destination.len()
                }
            };
        len <= MAX_NAME_LEN
    }

    /// The destination the `MESSAGE` frames carry (a user subscription shows its own).
    pub(crate) fn destination(&self) -> &str {
        match self {
            Key::Topic(d) => d,
            Key::User { destination, .. } => destination,
        }
    }
}

/// What a session's queue carries.
#[derive(Debug)]
pub(crate) enum Item {
    /// A message on one of the session's subscriptions.
    Deliver {
        subscription: Arc<str>,
        message: Arc<OutboundMessage>,
    },
    /// A message for the session's own subscriptions to `destination` (a handler's reply).
    Reply {
        destination: String,
        message: Arc<OutboundMessage>,
    },
}

/// What the fan-out knows of a session besides its queue.
#[derive(Debug, Default)]
pub(crate) struct SessionShared {
    /// Messages skipped because the session's queue was full.
    pub(crate) dropped: AtomicU64,
    /// Signalled when a message was skipped and the policy is to close.
    pub(crate) overflowed: Notify,
}

/// One subscription of one local session.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) session: u64,
    pub(crate) subscription: Arc<str>,
    pub(crate) queue: mpsc::Sender<Item>,
    pub(crate) shared: Arc<SessionShared>,
}

/// A destination with subscribers on this node: its subscriber list (see the module docs).
pub(crate) struct Destination {
    targets: Mutex<Arc<Vec<Target>>>,
}

impl Destination {
    /// Queues `message` to every local subscription, never waiting: a full queue skips the
    /// message for that session (and, with [`SlowSubscriber::Close`], tells it to close).
    /// Returns how many subscriptions it was queued to.
    pub(crate) fn deliver(&self, message: &Arc<OutboundMessage>, fanout: &Fanout) -> usize {
        let snapshot = Arc::clone(&lock(&self.targets));
        let mut dropped = 0;
        let mut queued = 0;
        for t in snapshot.iter() {
            let item = Item::Deliver {
                subscription: Arc::clone(&t.subscription),
                message: Arc::clone(message),
            };
            match t.queue.try_send(item) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    dropped += 1;
                    t.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    if fanout.slow == SlowSubscriber::Close {
                        t.shared.overflowed.notify_one();
                    }
                }
                // The session is ending; its unsubscription is on its way.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if dropped > 0 {
            add(&fanout.counters.dropped_slow, dropped);
            tracing::debug!(destination = %message.destination, dropped, "slow subscribers skipped");
        }
        queued
    }
}

struct Entry {
    destination: Arc<Destination>,
    /// The task delivering the other nodes' publications (with a backend only).
    remote: Option<AbortHandle>,
}

const SHARDS: usize = 32;

/// The destination table (see the module docs).
pub(crate) struct Registry {
    shards: Box<[Mutex<HashMap<Key, Entry>>]>,
    hasher: RandomState,
    subscriptions: AtomicU64,
    destinations: AtomicU64,
    /// Moves whenever a destination is added or removed: a [`Lookup`] cache filled under an
    /// older generation may be missing one.
    generation: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables stay consistent whatever panicked while one was held (each change is
    // one map or vector operation).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a delivery needs.
#[derive(Clone)]
pub(crate) struct Fanout {
    pub(crate) counters: Arc<Counters>,
    pub(crate) slow: SlowSubscriber,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            subscriptions: AtomicU64::new(0),
            destinations: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, Entry>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[i]
    }

    /// (destinations, subscriptions) on this node.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.destinations.load(Ordering::Relaxed),
            self.subscriptions.load(Ordering::Relaxed),
        )
    }

    /// `key`'s destination, if it has subscribers on this node (one shard lock).
    pub(crate) fn lookup(&self, key: &Key) -> Option<Arc<Destination>> {
        lock(self.shard(key))
            .get(key)
            .map(|e| Arc::clone(&e.destination))
    }

    fn changed(&self) {
        // Release: a cache that sees the new generation looks the table up again and finds
        // the change (the shard lock orders the rest).
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Adds `target` to `key`'s subscribers (before this returns: a message published after
    /// it reaches the new subscriber); with a backend, the first one subscribes this node to
    /// the destination's hub channel.
    pub(crate) fn subscribe(
        &self,
        hub: &Hub,
        ns: &str,
        fanout: &Fanout,
        key: Key,
        target: Target,
    ) -> Result<(), HubError> {
        if !key.channel_fits(ns) {
            return Err(HubError::InvalidName);
        }
        let mut shard = lock(self.shard(&key));
        if let Some(entry) = shard.get(&key) {
            let mut targets = lock(&entry.destination.targets);
            let mut list = Vec::with_capacity(targets.len() + 1);
            list.extend(targets.iter().cloned());
            list.push(target);
            *targets = Arc::new(list);
        } else {
            let destination = Arc::new(Destination {
                targets: Mutex::new(Arc::new(vec![target])),
            });
            let remote = if hub.has_backend() {
                let channel = hub.subscribe(&key.channel(ns))?;
                let task = tokio::spawn(forward(
                    channel,
                    key.destination().to_owned(),
                    Arc::clone(&destination),
                    fanout.clone(),
                ));
                Some(task.abort_handle())
            } else {
                None
            };
            shard.insert(
                key,
                Entry {
                    destination,
                    remote,
                },
            );
            self.destinations.fetch_add(1, Ordering::Relaxed);
            self.changed();
        }
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the subscription `subscription` of `session` from `key`; the last one removes
    /// the destination (and ends its task and hub channel subscription).
    pub(crate) fn unsubscribe(&self, key: &Key, session: u64, subscription: &str) {
        let mut shard = lock(self.shard(key));
        let Some(entry) = shard.get(key) else { return };
        let mut targets = lock(&entry.destination.targets);
        let before = targets.len();
        let list: Vec<Target> = targets
            .iter()
            .filter(|t| !(t.session == session && &*t.subscription == subscription))
            .cloned()
            .collect();
        let removed = before - list.len();
        let empty = list.is_empty();
        *targets = Arc::new(list);
        drop(targets);
        self.subscriptions
            .fetch_sub(removed as u64, Ordering::Relaxed);
        if empty {
            if let Some(entry) = shard.remove(key) {
                if let Some(task) = entry.remote {
                    task.abort();
                }
                self.destinations.fetch_sub(1, Ordering::Relaxed);
                self.changed();
            }
        }
    }
}

/// A driver's cache of the destinations it publishes to, so that a publication takes no
/// lock of the destination table (only the destination's own, for its subscriber list).
/// Entries, absent destinations included, stay valid until the table's generation moves;
/// at most [`Lookup::CAPACITY`] of them (the cache starts over when full).
#[derive(Default)]
pub(crate) struct Lookup {
    generation: u64,
    cache: HashMap<Key, Option<Arc<Destination>>>,
}

impl Lookup {
    const CAPACITY: usize = 64;

    /// `key`'s destination on this node, if it has subscribers here.
    pub(crate) fn get(&mut self, registry: &Registry, key: &Key) -> Option<Arc<Destination>> {
        let generation = registry.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.cache.clear();
            self.generation = generation;
        }
        if let Some(found) = self.cache.get(key) {
            return found.clone();
        }
        let found = registry.lookup(key);
        if self.cache.len() >= Self::CAPACITY {
            self.cache.clear();
        }
        self.cache.insert(key.clone(), found.clone());
        found
    }
}

/// The remote fan-out task of one destination: every payload of its hub channel (the other
/// nodes' publications) to every local subscriber, each message decoded once and shared.
async fn forward(
    mut channel: Subscription,
    name: String,
    destination: Arc<Destination>,
    fanout: Fanout,
) {
    while let Some(next) = channel.recv().await {
        let payload = match next {
            Ok(payload) => payload,
            Err(lagged) => {
                add(&fanout.counters.lagged, lagged.0);
                tracing::warn!(destination = %name, missed = lagged.0, "destination fell behind the hub; messages lost");
                continue;
            }
        };
        match message::decode(&payload, &name) {
            Ok(m) => {
                destination.deliver(&Arc::new(m), &fanout);
            }
            Err(_) => tracing::warn!(destination = %name, "undecodable publication ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;
    use sockjs_hyper::hub::MemoryBus;

    fn target(session: u64, id: &str, queue: &mpsc::Sender<Item>) -> Target {
        Target {
            session,
            subscription: Arc::from(id),
            queue: queue.clone(),
            shared: Arc::new(SessionShared::default()),
        }
    }

    fn fanout() -> Fanout {
        Fanout {
            counters: Arc::new(Counters::default()),
            slow: SlowSubscriber::Skip,
        }
    }

    fn message(body: &str) -> Arc<OutboundMessage> {
        Arc::new(super::super::Message::text(body).into_outbound("/topic/a"))
    }

    /// Receives `n` deliveries; returns their subscription ids, sorted, and checks the body.
    async fn received(rx: &mut mpsc::Receiver<Item>, n: usize, body: &str) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..n {
            match rx.recv().await.unwrap() {
                Item::Deliver {
                    subscription,
                    message,
                } => {
                    assert_eq!(message.body, body);
                    got.push(subscription.to_string());
                }
                other => panic!("{other:?}"),
            }
        }
        got.sort();
        got
    }

    #[tokio::test]
    async fn local_delivery_reaches_each_subscription_once_without_the_hub() {
        let hub = Hub::new();
        let registry = Registry::new();
        let fanout = fanout();
        let (tx, mut rx) = mpsc::channel(8);
        let topic = Key::Topic("/topic/a".into());
        let mut cache = Lookup::default();
        assert!(cache.get(&registry, &topic).is_none());
        for (session, id) in [(1, "s"), (1, "t"), (2, "s")] {
            registry
                .subscribe(&hub, "ns", &fanout, topic.clone(), target(session, id, &tx))
                .unwrap();
        }
        assert_eq!(registry.counts(), (1, 3));
        assert_eq!(hub.stats().channels, 0, "no hub channel without a backend");

        // The cache saw the destination appear (the generation moved).
        let dest = cache.get(&registry, &topic).expect("the destination");
        assert_eq!(dest.deliver(&message("hi"), &fanout), 3);
        assert_eq!(received(&mut rx, 3, "hi").await, ["s", "s", "t"]);

        registry.unsubscribe(&topic, 1, "s");
        registry.unsubscribe(&topic, 1, "nope");
        assert_eq!(registry.counts(), (1, 2));
        // Same destination: the cached entry sees the new subscriber list.
        let again = cache.get(&registry, &topic).unwrap();
        assert!(Arc::ptr_eq(&dest, &again));
        assert_eq!(again.deliver(&message("x"), &fanout), 2);
        assert_eq!(received(&mut rx, 2, "x").await, ["s", "t"]);
        registry.unsubscribe(&topic, 1, "t");
        registry.unsubscribe(&topic, 2, "s");
        assert_eq!(registry.counts(), (0, 0));
        assert!(
            cache.get(&registry, &topic).is_none(),
            "removed: the cache forgets it"
        );

        // Subscribing again makes a new destination, which the cache finds.
        registry
            .subscribe(&hub, "ns", &fanout, topic.clone(), target(3, "u", &tx))
            .unwrap();
        let fresh = cache.get(&registry, &topic).unwrap();
        assert!(!Arc::ptr_eq(&dest, &fresh));
        assert_eq!(fresh.deliver(&message("y"), &fanout), 1);
        assert_eq!(received(&mut rx, 1, "y").await, ["u"]);
    }

    #[tokio::test]
    async fn a_full_queue_skips_and_counts() {
        let hub = Hub::new();
        let registry = Registry::new();
        let fanout = fanout();
        let (tx, mut rx) = mpsc::channel(1);
        let topic = Key::Topic("/topic/a".into());
        let t = target(1, "s", &tx);
        let shared = Arc::clone(&t.shared);
        registry
            .subscribe(&hub, "ns", &fanout, topic.clone(), t)
            .unwrap();
        let dest = registry.lookup(&topic).unwrap();
        assert_eq!(dest.deliver(&message("1"), &fanout), 1);
        assert_eq!(dest.deliver(&message("2"), &fanout), 0);
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(fanout.counters.dropped_slow.load(Ordering::Relaxed), 1);
        assert_eq!(received(&mut rx, 1, "1").await, ["s"]);
    }

    #[tokio::test]
    async fn with_a_backend_one_hub_subscription_per_destination_brings_the_other_nodes() {
        let bus = MemoryBus::new();
        let here = Hub::with_backend(bus.backend());
        let there = Hub::with_backend(bus.backend());
        let registry = Registry::new();
        let fanout = fanout();
        let (tx, mut rx) = mpsc::channel(8);
        let topic = Key::Topic("/topic/a".into());
        for (session, id) in [(1, "s"), (2, "s")] {
            registry
                .subscribe(
                    &here,
                    "ns",
                    &fanout,
                    topic.clone(),
                    target(session, id, &tx),
                )
                .unwrap();
        }
        assert_eq!(
            here.stats().channels,
            1,
            "one channel for two subscriptions"
        );
        bus.settle().await;

        // Another node's publication reaches each subscription once, decoded once.
        let payload = message::encode(&message("hi"));
        there.publish(&topic.channel("ns"), payload).unwrap();
        bus.settle().await;
        assert_eq!(received(&mut rx, 2, "hi").await, ["s", "s"]);

        registry.unsubscribe(&topic, 1, "s");
        registry.unsubscribe(&topic, 2, "s");
        assert_eq!(registry.counts(), (0, 0));
        // The fan-out task was aborted and dropped its hub subscription.
        tokio::task::yield_now().await;
        assert_eq!(here.stats().channels, 0, "the hub channel is released");
    }

    #[test]
    fn channel_fits_agrees_with_the_channel_name() {
        let long = |n: usize| "x".repeat(n);
        for user_len in [0, 1, 9, 10, 99, 100, 1000] {
            for dest_len in [0, 1, 990, 1000, 1024] {
                for key in [
                    Key::Topic(long(dest_len)),
                    Key::User {
                        user: long(user_len),
                        destination: long(dest_len),
                    },
                ] {
                    let name = key.channel("stomp");
                    assert_eq!(
                        key.channel_fits("stomp"),
                        name.len() <= MAX_NAME_LEN,
                        "{user_len} {dest_len} {key:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn user_channels_cannot_collide() {
        let a = Key::User {
            user: "a:u".into(),
            destination: "/queue/x".into(),
        };
        let b = Key::User {
            user: "a".into(),
            destination: ":u/queue/x".into(),
        };
        assert_ne!(a.channel("ns"), b.channel("ns"));
        assert_ne!(Key::Topic("/queue/x".into()).channel("ns"), a.channel("ns"));
    }

    /// Nodes of different versions share channels over a backend: the names must not change.
    #[test]
    fn channel_names_are_stable() {
        assert_eq!(Key::Topic("/topic/a".into()).channel("ns"), "ns:t:/topic/a");
        let user = Key::User {
            user: "alice".into(),
            destination: "/queue/x".into(),
        };
        assert_eq!(user.channel("ns"), "ns:u:5:alice/queue/x");
    }
}

//! This node's destinations: which local subscriptions each one has, and the one hub channel
//! subscription per destination that feeds them.
//!
//! A destination with at least one local subscriber is one entry here and one task: the task
//! reads the destination's hub channel (publications from this node and, with a backend,
//! from every node) and queues each message to every local subscriber's session queue with
//! `try_send` (never waiting: a full queue is the slow-subscriber policy's business). The
//! subscriber list is copy-on-write: the task takes a snapshot (an `Arc` clone under the
//! destination's own lock) per message; `SUBSCRIBE` and `UNSUBSCRIBE` replace it. The shard
//! locks are taken on subscribe and unsubscribe only, never on a message's way.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sockjs_hyper::hub::{Hub, HubError, Subscription};
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

    /// The destination the `MESSAGE` frames carry (a user subscription shows its own).
    fn destination(&self) -> &str {
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

type Targets = Arc<Mutex<Arc<Vec<Target>>>>;

struct Entry {
    targets: Targets,
    task: AbortHandle,
}

const SHARDS: usize = 32;

/// The destination table (see the module docs).
pub(crate) struct Registry {
    shards: Box<[Mutex<HashMap<Key, Entry>>]>,
    hasher: RandomState,
    subscriptions: AtomicU64,
    destinations: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tables stay consistent whatever panicked while one was held (each change is
    // one map or vector operation).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a fan-out task needs.
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

    /// Adds `target` to `key`'s subscribers; the first one subscribes this node to the
    /// destination's hub channel (before this returns: a message published after it reaches
    /// the new subscriber).
    pub(crate) fn subscribe(
        &self,
        hub: &Hub,
        ns: &str,
        fanout: &Fanout,
        key: Key,
        target: Target,
    ) -> Result<(), HubError> {
        let mut shard = lock(self.shard(&key));
        if let Some(entry) = shard.get(&key) {
            let mut targets = lock(&entry.targets);
            let mut list = Vec::with_capacity(targets.len() + 1);
            list.extend(targets.iter().cloned());
            list.push(target);
            *targets = Arc::new(list);
        } else {
            let channel = hub.subscribe(&key.channel(ns))?;
            let targets: Targets = Arc::new(Mutex::new(Arc::new(vec![target])));
            let task = tokio::spawn(forward(
                channel,
                key.destination().to_owned(),
                Arc::clone(&targets),
                fanout.clone(),
            ))
            .abort_handle();
            shard.insert(key, Entry { targets, task });
            self.destinations.fetch_add(1, Ordering::Relaxed);
        }
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the subscription `subscription` of `session` from `key`; the last one ends the
    /// destination's task and hub channel subscription.
    pub(crate) fn unsubscribe(&self, key: &Key, session: u64, subscription: &str) {
        let mut shard = lock(self.shard(key));
        let Some(entry) = shard.get(key) else { return };
        let mut targets = lock(&entry.targets);
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
                entry.task.abort();
                self.destinations.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// The fan-out task of one destination: every payload of its hub channel to every local
/// subscriber, each message decoded once and shared.
async fn forward(mut channel: Subscription, destination: String, targets: Targets, fanout: Fanout) {
    while let Some(next) = channel.recv().await {
        let payload = match next {
            Ok(payload) => payload,
            Err(lagged) => {
                add(&fanout.counters.lagged, lagged.0);
                tracing::warn!(%destination, missed = lagged.0, "destination fell behind the hub; messages lost");
                continue;
            }
        };
        let message = match message::decode(&payload, &destination) {
            Ok(m) => Arc::new(m),
            Err(_) => {
                tracing::warn!(%destination, "undecodable publication ignored");
                continue;
            }
        };
        let snapshot = Arc::clone(&lock(&targets));
        let mut dropped = 0;
        for t in snapshot.iter() {
            let item = Item::Deliver {
                subscription: Arc::clone(&t.subscription),
                message: Arc::clone(&message),
            };
            match t.queue.try_send(item) {
                Ok(()) => {}
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
            tracing::debug!(%destination, dropped, "slow subscribers skipped");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;

    fn target(session: u64, id: &str, queue: &mpsc::Sender<Item>) -> Target {
        Target {
            session,
            subscription: Arc::from(id),
            queue: queue.clone(),
            shared: Arc::new(SessionShared::default()),
        }
    }

    #[tokio::test]
    async fn one_hub_subscription_per_destination_released_with_the_last_subscriber() {
        let hub = Hub::new();
        let registry = Registry::new();
        let fanout = Fanout {
            counters: Arc::new(Counters::default()),
            slow: SlowSubscriber::Skip,
        };
        let (tx, mut rx) = mpsc::channel(8);
        let topic = Key::Topic("/topic/a".into());
        for (session, id) in [(1, "s"), (1, "t"), (2, "s")] {
            registry
                .subscribe(&hub, "ns", &fanout, topic.clone(), target(session, id, &tx))
                .unwrap();
        }
        assert_eq!(registry.counts(), (1, 3));
        assert_eq!(
            hub.stats().channels,
            1,
            "one channel for three subscriptions"
        );

        // A publication reaches each subscription once, decoded once.
        let payload = message::encode(&super::super::Message::text("hi"));
        hub.publish(&topic.channel("ns"), payload).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            match rx.recv().await.unwrap() {
                Item::Deliver {
                    subscription,
                    message,
                } => {
                    assert_eq!(message.body, "hi");
                    got.push(subscription.to_string());
                }
                other => panic!("{other:?}"),
            }
        }
        got.sort();
        assert_eq!(got, ["s", "s", "t"]);

        registry.unsubscribe(&topic, 1, "s");
        registry.unsubscribe(&topic, 1, "nope");
        assert_eq!(registry.counts(), (1, 2));
        registry.unsubscribe(&topic, 1, "t");
        registry.unsubscribe(&topic, 2, "s");
        assert_eq!(registry.counts(), (0, 0));
        // The fan-out task was aborted and dropped its hub subscription.
        tokio::task::yield_now().await;
        assert_eq!(hub.stats().channels, 0, "the hub channel is released");
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

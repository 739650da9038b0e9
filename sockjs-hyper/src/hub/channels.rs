//! Raw channels: publish/subscribe of opaque `Bytes` payloads by channel name, what a STOMP
//! broker (or any application protocol) builds on.
//!
//! Each channel with local subscribers is one bounded broadcast queue: a publication is queued
//! once (O(1), whatever the number of subscribers), never waits, and each subscriber reads it
//! at its own pace; one that falls more than the capacity behind is told how many payloads it
//! missed. The node subscribes to the channel in the backend while it has a local subscriber.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use sockjs_core::cluster::Topic;
use tokio::sync::broadcast;

use super::shard::Sharded;
use super::stream::{Lagged, Recv};
use super::{Hub, HubInner};

pub(crate) type Channels = Sharded<Arc<str>, broadcast::Sender<Bytes>>;

/// A subscription to a channel ([`Hub::subscribe`]): a [`Stream`] of the payloads published
/// on it after the subscription was made, from this node and (with a backend) every other
/// node, in publication order per publishing node. Bounded
/// ([`HubConfig::channel_capacity`](super::HubConfig)): a subscriber that falls further behind
/// gets `Err(Lagged(n))` in place of the `n` oldest payloads it missed. Dropping it
/// unsubscribes.
pub struct Subscription {
    // Dropped before `guard`: the guard counts the receivers left.
    recv: Recv<Bytes>,
    guard: ChannelGuard,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.guard.name)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The channel's name.
    pub fn channel(&self) -> &str {
        &self.guard.name
    }

    /// The next payload, or `Err(Lagged(n))` after missing `n`.
    pub async fn recv(&mut self) -> Option<Result<Bytes, Lagged>> {
        std::future::poll_fn(|cx| self.recv.poll(cx)).await
    }
}

impl Stream for Subscription {
    type Item = Result<Bytes, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.recv.poll(cx)
    }
}

struct ChannelGuard {
    hub: Hub,
    name: Arc<str>,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.hub.inner.channel_unsubscribed(&self.name);
    }
}

impl HubInner {
    pub(crate) fn subscribe(self: &Arc<Self>, hub: &Hub, channel: &str) -> Subscription {
        let mut shard = self.channels.lock(channel);
        let (name, rx) = match shard.get_key_value(channel) {
            Some((name, tx)) => (Arc::clone(name), tx.subscribe()),
            None => {
                let name: Arc<str> = Arc::from(channel);
                let (tx, rx) = broadcast::channel(self.config.channel_capacity);
                if let Some(backend) = &self.backend {
                    backend.subscribe(&Topic::Channel(Arc::clone(&name)));
                }
                shard.insert(Arc::clone(&name), tx);
                (name, rx)
            }
        };
        drop(shard);
        Subscription {
            recv: Recv::new(rx, Arc::clone(&self.counters.lagged)),
            guard: ChannelGuard {
                hub: hub.clone(),
                name,
            },
        }
    }

    fn channel_unsubscribed(&self, name: &Arc<str>) {
        let mut shard = self.channels.lock(&**name);
        if shard
            .get(&**name)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            shard.remove(&**name);
            let topic = Topic::Channel(Arc::clone(name));
            if let Some(backend) = &self.backend {
                backend.unsubscribe(&topic);
            }
            self.tracker.forget_topic(&topic);
        }
    }

    /// Queue `payload` for the local subscribers of `channel`; returns how many there are.
    pub(crate) fn channel_send_local(&self, channel: &str, payload: Bytes) -> usize {
        let shard = self.channels.lock(channel);
        match shard.get(channel) {
            // Queuing never waits; no receiver (all just dropped) is not an error.
            Some(tx) => tx.send(payload).unwrap_or(0),
            None => 0,
        }
    }

    pub(crate) fn with_channel_interest<R>(
        &self,
        channel: &str,
        f: impl FnOnce() -> R,
    ) -> Option<R> {
        let shard = self.channels.lock(channel);
        let r = shard.contains_key(channel).then(f);
        drop(shard);
        r
    }

    /// Channels with local subscribers, and the number of subscriptions.
    pub(crate) fn channel_totals(&self) -> (usize, usize) {
        let (mut channels, mut subscriptions) = (0, 0);
        self.channels.for_each_shard(|shard| {
            channels += shard.len();
            subscriptions += shard.values().map(|tx| tx.receiver_count()).sum::<usize>();
        });
        (channels, subscriptions)
    }
}

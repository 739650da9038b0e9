//! Sequence numbers of envelopes: the counters this node stamps its envelopes with (per
//! topic), and the receiving side that finds gaps and duplicates per origin node and topic.
//!
//! A sequence number is `generation << 32 | n` with `n` counting 1, 2, 3… (see
//! `sockjs_core::cluster::Envelope`). The control topic always uses generation 0. A room's or
//! channel's counter gets a fresh, larger generation each time this node creates it; counters
//! are bounded ([`HubConfig::max_sequence_topics`](crate::hub::HubConfig)): beyond the bound an
//! arbitrary counter of the same shard is forgotten, and a topic that comes back starts a new
//! generation instead of looking like a replay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use sockjs_core::cluster::{seq_generation, NodeId, Topic};

use super::shard::{lock, Sharded};

/// This node's counters.
pub(crate) struct Sequencer {
    control: Mutex<u64>,
    topics: Sharded<Topic, u64>,
    len: AtomicUsize,
    max: usize,
    generation: AtomicU64,
}

impl Sequencer {
    pub(crate) fn new(max: usize) -> Sequencer {
        Sequencer {
            control: Mutex::new(0),
            topics: Sharded::new(),
            len: AtomicUsize::new(0),
            max,
            generation: AtomicU64::new(0),
        }
    }

    /// Take the next sequence number in `topic` and run `publish` with it, under the lock of
    /// the topic's counter: two envelopes of one topic reach the backend in the order of their
    /// numbers (else a receiver would drop the one overtaken as a duplicate).
    pub(crate) fn with_next<R>(&self, topic: &Topic, publish: impl FnOnce(u64) -> R) -> R {
        if *topic == Topic::Control {
            let mut n = lock(&self.control);
            *n += 1;
            return publish(*n);
        }
        let mut shard = self.topics.lock(topic);
        if let Some(seq) = shard.get_mut(topic) {
            *seq += 1;
            return publish(*seq);
        }
        if self.len.load(Ordering::Relaxed) >= self.max {
            // Forget a counter of this shard to stay within the bound; that topic starts a
            // new generation when it is used again.
            if let Some(victim) = shard.keys().next().cloned() {
                shard.remove(&victim);
                self.len.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let seq = (generation << 32) | 1;
        shard.insert(topic.clone(), seq);
        self.len.fetch_add(1, Ordering::Relaxed);
        publish(seq)
    }

    #[cfg(test)]
    fn next(&self, topic: &Topic) -> u64 {
        self.with_next(topic, |seq| seq)
    }
}

/// What the tracker says about one received envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// In order (or the first one seen from this origin in this topic): apply it.
    Next,
    /// After `missing` envelopes that never came: apply it, count the gap.
    Gap(u64),
    /// Already seen (or older than one already seen): drop it.
    Duplicate,
}

/// Counters of what arrived from one origin node.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OriginCounters {
    pub(crate) received: u64,
    pub(crate) gaps: u64,
    pub(crate) duplicates: u64,
}

impl OriginCounters {
    fn add(&mut self, other: &OriginCounters) {
        self.received = self.received.saturating_add(other.received);
        self.gaps = self.gaps.saturating_add(other.gaps);
        self.duplicates = self.duplicates.saturating_add(other.duplicates);
    }
}

/// Counters per origin node still in the cluster, and those of the nodes that left.
#[derive(Default)]
struct Origins {
    live: HashMap<NodeId, OriginCounters>,
    /// Every node that left, together: a restarted process is a new node, so keeping each one
    /// would grow without bound over a cluster's life.
    departed: OriginCounters,
}

/// The receiving side: the last sequence number per topic and origin, for the topics this
/// node has interest in (the hub forgets a topic when its interest ends), plus totals per
/// origin (per live origin; the origins that left are summed together).
pub(crate) struct Tracker {
    last: Sharded<Topic, HashMap<NodeId, u64>>,
    origins: Mutex<Origins>,
}

impl Tracker {
    pub(crate) fn new() -> Tracker {
        Tracker {
            last: Sharded::new(),
            origins: Mutex::new(Origins::default()),
        }
    }

    pub(crate) fn observe(&self, origin: NodeId, topic: &Topic, seq: u64) -> Seen {
        let seen = {
            let mut shard = self.last.lock(topic);
            let per_origin = match shard.get_mut(topic) {
                Some(m) => m,
                None => shard.entry(topic.clone()).or_default(),
            };
            match per_origin.get_mut(&origin) {
                None => {
                    per_origin.insert(origin, seq);
                    Seen::Next
                }
                Some(last) => {
                    let seen = classify(*last, seq);
                    if seen != Seen::Duplicate {
                        *last = seq;
                    }
                    seen
                }
            }
        };
        let mut origins = lock(&self.origins);
        let c = origins.live.entry(origin).or_default();
        match seen {
            Seen::Next => c.received += 1,
            Seen::Gap(n) => {
                c.received += 1;
                c.gaps += n;
            }
            Seen::Duplicate => c.duplicates += 1,
        }
        seen
    }

    /// Interest in `topic` ended: what comes later in it starts afresh.
    pub(crate) fn forget_topic(&self, topic: &Topic) {
        self.last.lock(topic).remove(topic);
    }

    /// `node` left the cluster: its sequence numbers are forgotten and its counters join
    /// those of the other nodes that left.
    pub(crate) fn forget_node(&self, node: NodeId) {
        self.last.for_each_shard(|shard| {
            shard.retain(|_, m| {
                m.remove(&node);
                !m.is_empty()
            });
        });
        let mut origins = lock(&self.origins);
        if let Some(c) = origins.live.remove(&node) {
            origins.departed.add(&c);
        }
    }

    /// The counters of each origin still in the cluster, by node id.
    pub(crate) fn origins(&self) -> Vec<(NodeId, OriginCounters)> {
        let mut v: Vec<_> = lock(&self.origins)
            .live
            .iter()
            .map(|(n, c)| (*n, *c))
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v
    }

    /// The counters of every origin ever seen, those that left included.
    pub(crate) fn totals(&self) -> OriginCounters {
        let origins = lock(&self.origins);
        let mut total = origins.departed;
        for c in origins.live.values() {
            total.add(c);
        }
        total
    }
}

fn classify(last: u64, seq: u64) -> Seen {
    let low = seq & 0xffff_ffff;
    if seq_generation(seq) > seq_generation(last) {
        // The sender started this topic's counter anew: n counts from 1 again.
        return match low.saturating_sub(1) {
            0 => Seen::Next,
            n => Seen::Gap(n),
        };
    }
    if seq <= last {
        Seen::Duplicate
    } else if seq == last + 1 {
        Seen::Next
    } else {
        Seen::Gap(seq - last - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn room(name: &str) -> Topic {
        Topic::Room(Arc::from(name))
    }

    #[test]
    fn control_counts_from_one_and_topics_get_generations() {
        let s = Sequencer::new(10);
        assert_eq!(s.next(&Topic::Control), 1);
        assert_eq!(s.next(&Topic::Control), 2);
        let a1 = s.next(&room("a"));
        assert_eq!(a1 & 0xffff_ffff, 1);
        assert_eq!(s.next(&room("a")), a1 + 1);
        let b1 = s.next(&room("b"));
        assert!(seq_generation(b1) > seq_generation(a1));
    }

    #[test]
    fn a_forgotten_counter_restarts_in_a_later_generation() {
        let s = Sequencer::new(1);
        let a1 = s.next(&room("a"));
        let mut later = None;
        // Topics in other shards do not evict "a"; keep going until "a" is forgotten.
        for i in 0..200 {
            s.next(&room(&format!("x{i}")));
            let a = s.next(&room("a"));
            if a & 0xffff_ffff == 1 {
                later = Some(a);
                break;
            }
        }
        let a_again = later.expect("the bound forgets counters");
        assert!(seq_generation(a_again) > seq_generation(a1));
        let t = Tracker::new();
        let o = NodeId::from_u64(1);
        assert_eq!(t.observe(o, &room("a"), a1), Seen::Next);
        assert_eq!(
            t.observe(o, &room("a"), a_again),
            Seen::Next,
            "a restart, not a gap"
        );
    }

    #[test]
    fn gaps_and_duplicates_are_counted_per_origin() {
        let t = Tracker::new();
        let (a, b) = (NodeId::from_u64(1), NodeId::from_u64(2));
        let c = Topic::Control;
        assert_eq!(t.observe(a, &c, 1), Seen::Next);
        assert_eq!(t.observe(a, &c, 2), Seen::Next);
        assert_eq!(t.observe(a, &c, 5), Seen::Gap(2));
        assert_eq!(t.observe(a, &c, 5), Seen::Duplicate);
        assert_eq!(t.observe(a, &c, 3), Seen::Duplicate);
        assert_eq!(
            t.observe(b, &c, 7),
            Seen::Next,
            "the first one seen is the baseline"
        );
        assert_eq!(t.observe(b, &c, 8), Seen::Next);
        let origins = t.origins();
        let get = |n| {
            origins
                .iter()
                .find(|(o, _)| *o == n)
                .map(|(_, c)| *c)
                .unwrap_or_default()
        };
        assert_eq!((get(a).received, get(a).gaps, get(a).duplicates), (3, 2, 2));
        assert_eq!((get(b).received, get(b).gaps, get(b).duplicates), (2, 0, 0));
    }

    #[test]
    fn a_node_that_left_leaves_the_per_origin_list_but_not_the_totals() {
        // Every restart of a node is a new origin: the list must not grow with each one that
        // ever existed, and the totals must not go backwards when one leaves.
        let t = Tracker::new();
        let c = Topic::Control;
        for i in 0..100 {
            let gone = NodeId::from_u64(i);
            t.observe(gone, &c, 1);
            t.observe(gone, &c, 3); // one lost
            t.observe(gone, &c, 3); // one duplicate
            t.forget_node(gone);
        }
        let live = NodeId::from_u64(1000);
        t.observe(live, &c, 1);
        assert_eq!(
            t.origins().iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [live],
            "only the node still in the cluster"
        );
        let total = t.totals();
        assert_eq!(
            (total.received, total.gaps, total.duplicates),
            (201, 100, 100)
        );
    }

    #[test]
    fn forgetting_a_topic_or_node_resets_the_baseline() {
        let t = Tracker::new();
        let a = NodeId::from_u64(1);
        t.observe(a, &room("r"), 10);
        t.forget_topic(&room("r"));
        assert_eq!(t.observe(a, &room("r"), 3), Seen::Next);
        t.forget_node(a);
        assert_eq!(t.observe(a, &room("r"), 1), Seen::Next);
    }
}

//! Presence: who is online and with how many sessions, across the cluster as this node knows
//! it, and the stream of `Joined` / `Left` events.
//!
//! The table holds, per user, the session count on each node: this node's counts come from
//! its user index at once; other nodes' from the backend ([`Inbox::remote_presence`] and
//! friends). An event fires when a user's total goes from 0 to more (`Joined`) or back to 0
//! (`Left`), under the user's shard lock, so one user's events are in order.
//!
//! [`Inbox::remote_presence`]: super::Inbox::remote_presence

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use sockjs_core::cluster::NodeId;
use tokio::sync::broadcast;

use super::shard::Sharded;
use super::stream::{Lagged, Recv};

/// Who is online: users with at least one session, each with their number of sessions,
/// sorted by user. A snapshot of [`Hub::presence`](super::Hub::presence): cluster-wide with a
/// backend (as fresh as the backend keeps it; see its documentation), this process without.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    users: Vec<(Arc<str>, usize)>,
}

impl Presence {
    /// The online users, sorted.
    pub fn users(&self) -> impl Iterator<Item = &str> + '_ {
        self.users.iter().map(|(u, _)| &**u)
    }

    /// Each online user with their number of sessions, sorted by user.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.users.iter().map(|(u, n)| (&**u, *n))
    }

    /// The number of sessions of `user` (0 when offline).
    pub fn sessions_of(&self, user: &str) -> usize {
        self.users
            .binary_search_by(|(u, _)| (**u).cmp(user))
            .map_or(0, |i| self.users[i].1)
    }

    /// The number of online users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether nobody is online.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The number of sessions of all online users (saturating at `usize::MAX`).
    pub fn sessions(&self) -> usize {
        saturating_sum(self.users.iter().map(|(_, n)| *n))
    }
}

/// A user came online or went offline (cluster-wide with a backend).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceEvent {
    /// The user.
    pub user: Arc<str>,
    /// What happened.
    pub kind: PresenceKind,
}

/// See [`PresenceEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PresenceKind {
    /// The user's first session (anywhere in the cluster) logged in.
    Joined,
    /// The user's last session (anywhere in the cluster) ended or logged out.
    Left,
}

/// The stream of [`PresenceEvent`]s from [`Hub::presence_events`](super::Hub::presence_events):
/// the events after the moment it was made, in order per user. It is bounded
/// ([`HubConfig::presence_capacity`](super::HubConfig)): a subscriber that falls further behind
/// gets `Err(Lagged(n))` in place of the `n` oldest events it missed, then the next ones.
pub struct PresenceEvents {
    recv: Recv<PresenceEvent>,
}

impl std::fmt::Debug for PresenceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceEvents").finish_non_exhaustive()
    }
}

impl PresenceEvents {
    pub(crate) fn new(recv: Recv<PresenceEvent>) -> Self {
        PresenceEvents { recv }
    }

    /// The next event, or `Err(Lagged(n))` after missing `n`; `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<Result<PresenceEvent, Lagged>> {
        std::future::poll_fn(|cx| self.recv.poll(cx)).await
    }
}

impl Stream for PresenceEvents {
    type Item = Result<PresenceEvent, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.recv.poll(cx)
    }
}

#[derive(Default)]
struct UserPresence {
    total: usize,
    nodes: Vec<(NodeId, usize)>,
}

impl UserPresence {
    /// Set `node`'s count; returns the totals before and after.
    fn set(&mut self, node: NodeId, count: usize) -> (usize, usize) {
        let before = self.total;
        match self.nodes.iter().position(|(n, _)| *n == node) {
            Some(i) if count == 0 => {
                self.nodes.swap_remove(i);
            }
            Some(i) => self.nodes[i].1 = count,
            None if count > 0 => self.nodes.push((node, count)),
            None => {}
        }
        // Other nodes' counts come from the backend as they say: never trust them not to
        // overflow.
        self.total = saturating_sum(self.nodes.iter().map(|(_, n)| *n));
        (before, self.total)
    }
}

fn saturating_sum(counts: impl Iterator<Item = usize>) -> usize {
    counts.fold(0, usize::saturating_add)
}

pub(crate) struct PresenceTable {
    table: Sharded<Arc<str>, UserPresence>,
    events: broadcast::Sender<PresenceEvent>,
}

impl PresenceTable {
    pub(crate) fn new(capacity: usize) -> PresenceTable {
        PresenceTable {
            table: Sharded::new(),
            events: broadcast::channel(capacity).0,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.events.subscribe()
    }

    /// `node` has `count` sessions of `user`.
    pub(crate) fn set(&self, node: NodeId, user: &str, count: usize) {
        let mut shard = self.table.lock(user);
        let (name, before, after) = match shard.get_key_value(user) {
            Some((name, _)) => {
                let name = Arc::clone(name);
                let Some(entry) = shard.get_mut(user) else {
                    return;
                };
                let (before, after) = entry.set(node, count);
                if after == 0 {
                    shard.remove(user);
                }
                (name, before, after)
            }
            None if count == 0 => return,
            None => {
                let name: Arc<str> = Arc::from(user);
                let mut entry = UserPresence::default();
                let (before, after) = entry.set(node, count);
                shard.insert(Arc::clone(&name), entry);
                (name, before, after)
            }
        };
        let kind = match (before, after) {
            (0, 1..) => PresenceKind::Joined,
            (1.., 0) => PresenceKind::Left,
            _ => return,
        };
        // No subscriber is not an error.
        let _ = self.events.send(PresenceEvent { user: name, kind });
    }

    /// Replace everything known about `node` with `counts`.
    pub(crate) fn replace_node<U: AsRef<str>>(
        &self,
        node: NodeId,
        counts: impl IntoIterator<Item = (U, usize)>,
    ) {
        let counts: HashMap<String, usize> = counts
            .into_iter()
            .map(|(u, n)| (u.as_ref().to_string(), n))
            .collect();
        let mut stale = Vec::new();
        self.table.for_each_shard(|shard| {
            for (user, entry) in shard.iter() {
                if entry.nodes.iter().any(|(n, _)| *n == node) && !counts.contains_key(&**user) {
                    stale.push(Arc::clone(user));
                }
            }
        });
        for user in stale {
            self.set(node, &user, 0);
        }
        for (user, count) in counts {
            self.set(node, &user, count);
        }
    }

    /// The user's sessions across the nodes known.
    pub(crate) fn online(&self, user: &str) -> usize {
        self.table.lock(user).get(user).map_or(0, |e| e.total)
    }

    pub(crate) fn snapshot(&self) -> Presence {
        let mut users = Vec::new();
        self.table.for_each_shard(|shard| {
            users.extend(shard.iter().map(|(u, e)| (Arc::clone(u), e.total)));
        });
        users.sort();
        Presence { users }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut broadcast::Receiver<PresenceEvent>) -> Vec<(String, PresenceKind)> {
        let mut v = Vec::new();
        while let Ok(e) = rx.try_recv() {
            v.push((e.user.to_string(), e.kind));
        }
        v
    }

    #[test]
    fn events_fire_on_the_first_and_last_session_across_nodes() {
        let t = PresenceTable::new(16);
        let mut rx = t.subscribe();
        let (a, b) = (NodeId::from_u64(1), NodeId::from_u64(2));
        t.set(a, "alice", 1);
        t.set(a, "alice", 2);
        t.set(b, "alice", 1);
        assert_eq!(t.online("alice"), 3);
        t.set(a, "alice", 0);
        t.set(b, "alice", 0);
        t.set(b, "bob", 0);
        assert_eq!(
            drain(&mut rx),
            [
                ("alice".into(), PresenceKind::Joined),
                ("alice".into(), PresenceKind::Left)
            ]
        );
        assert!(t.snapshot().is_empty());
    }

    #[test]
    fn counts_another_node_reports_cannot_overflow_the_totals() {
        // A backend hands over whatever another node (or a damaged Redis payload) says:
        // a count near usize::MAX must not panic or wrap the totals.
        let t = PresenceTable::new(16);
        let mut rx = t.subscribe();
        let (me, other, third) = (
            NodeId::from_u64(1),
            NodeId::from_u64(2),
            NodeId::from_u64(3),
        );
        t.set(me, "alice", 1);
        t.set(other, "alice", usize::MAX);
        t.set(third, "alice", usize::MAX);
        t.set(other, "bob", usize::MAX);
        assert_eq!(t.online("alice"), usize::MAX);
        assert_eq!(t.snapshot().sessions(), usize::MAX);
        t.set(other, "alice", 0);
        t.set(third, "alice", 0);
        assert_eq!(
            t.online("alice"),
            1,
            "the real count again once the others are gone"
        );
        t.set(me, "alice", 0);
        assert_eq!(
            drain(&mut rx),
            [
                ("alice".into(), PresenceKind::Joined),
                ("bob".into(), PresenceKind::Joined),
                ("alice".into(), PresenceKind::Left)
            ]
        );
    }

    #[test]
    fn replacing_a_node_removes_what_it_no_longer_has() {
        let t = PresenceTable::new(16);
        let (a, b) = (NodeId::from_u64(1), NodeId::from_u64(2));
        t.set(a, "alice", 1);
        t.set(b, "alice", 1);
        t.set(b, "bob", 2);
        let mut rx = t.subscribe();
        t.replace_node(b, [("carol", 1), ("alice", 3)]);
        let p = t.snapshot();
        assert_eq!(p.iter().collect::<Vec<_>>(), [("alice", 4), ("carol", 1)]);
        assert_eq!(p.sessions_of("bob"), 0);
        assert_eq!(p.sessions(), 5);
        let mut events = drain(&mut rx);
        events.sort();
        assert_eq!(
            events,
            [
                ("bob".into(), PresenceKind::Left),
                ("carol".into(), PresenceKind::Joined)
            ]
        );
        t.replace_node(b, std::iter::empty::<(&str, usize)>());
        assert_eq!(t.snapshot().iter().collect::<Vec<_>>(), [("alice", 1)]);
    }
}

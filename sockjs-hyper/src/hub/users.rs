//! The user index: user -> this node's logged-in sessions, in a sharded table (O(1) lookups),
//! and the duplicate-login bookkeeping (login stamps, RefuseNewer reservations and claims).
//!
//! Every change of a user's local session count is pushed, under the user's shard lock (so in
//! order), to the presence table and to the backend.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sockjs_core::cluster::{LoginStamp, NodeId};

use super::fanout::fan_out;
use super::shard::Sharded;
use super::{Delivery, HubInner, LoginPolicy};
use crate::session::SessionHandle;

/// What the hub knows of the endpoint a session belongs to.
#[derive(Debug)]
pub(crate) struct EndpointTag {
    /// Distinct per endpoint of one hub.
    pub(crate) id: u64,
    /// The endpoint's prefix: the scope of its duplicate-login policy, the same on every node.
    pub(crate) scope: Arc<str>,
    pub(crate) policy: LoginPolicy,
}

struct Login {
    session: Arc<SessionHandle>,
    endpoint: Arc<EndpointTag>,
    stamp: LoginStamp,
}

#[derive(Default)]
pub(crate) struct UserEntry {
    sessions: HashMap<u64, Login>,
    /// RefuseNewer logins waiting for the backend's claim, by scope.
    pending: Vec<Arc<str>>,
    /// Scopes in which this node may hold the backend's claim.
    claimed: Vec<Arc<str>>,
}

impl UserEntry {
    fn holds(&self, scope: &str) -> bool {
        self.sessions.values().any(|l| *l.endpoint.scope == *scope)
            || self.pending.iter().any(|s| **s == *scope)
    }

    fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.pending.is_empty() && self.claimed.is_empty()
    }
}

pub(crate) type Users = Sharded<Arc<str>, UserEntry>;

/// Login stamps: wall-clock milliseconds that never go backwards on this node and move past
/// every stamp seen from another node (a Lamport clock), so a login that happens after this
/// node learnt of another node's login gets a later stamp even if the clocks disagree.
pub(crate) struct StampClock {
    millis: AtomicU64,
    seq: AtomicU64,
}

impl StampClock {
    pub(crate) fn new() -> StampClock {
        StampClock {
            millis: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn stamp(&self, node: NodeId) -> LoginStamp {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let millis = self.millis.fetch_max(now, Ordering::AcqRel).max(now);
        LoginStamp {
            millis,
            node,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    pub(crate) fn observe(&self, seen: LoginStamp) {
        self.millis
            .fetch_max(seen.millis.saturating_add(1), Ordering::AcqRel);
    }
}

/// What a RefuseNewer reservation found.
pub(crate) enum Reservation {
    /// Nobody holds the user in the scope on this node: reserved, ask the cluster.
    Reserved,
    /// A session of the user in the scope exists (or is being logged in) on this node.
    Taken,
}

impl HubInner {
    /// Log member `id` in as `user`, stamping the login. With `replace`, also returns the
    /// user's other sessions in the endpoint's scope (older by construction: stamps are taken
    /// under the shard lock), for the caller to close once no lock is held. With `reserved`,
    /// the RefuseNewer reservation made by [`HubInner::user_reserve`] becomes the session.
    pub(crate) fn user_insert(
        &self,
        user: &str,
        id: u64,
        session: &Arc<SessionHandle>,
        endpoint: &Arc<EndpointTag>,
        replace: bool,
        reserved: bool,
    ) -> (Arc<str>, LoginStamp, Vec<Arc<SessionHandle>>) {
        let mut shard = self.users.lock(user);
        let name = match shard.get_key_value(user) {
            Some((name, _)) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(user);
                shard.insert(Arc::clone(&name), UserEntry::default());
                name
            }
        };
        let stamp = self.clock.stamp(self.node);
        let mut older = Vec::new();
        let count = match shard.get_mut(user) {
            Some(entry) => {
                if reserved {
                    remove_one(&mut entry.pending, &endpoint.scope);
                }
                if replace {
                    older.extend(
                        entry
                            .sessions
                            .values()
                            .filter(|l| l.endpoint.scope == endpoint.scope)
                            .map(|l| Arc::clone(&l.session)),
                    );
                }
                entry.sessions.insert(
                    id,
                    Login {
                        session: Arc::clone(session),
                        endpoint: Arc::clone(endpoint),
                        stamp,
                    },
                );
                entry.sessions.len()
            }
            None => 0,
        };
        self.count_changed(&name, count);
        (name, stamp, older)
    }

    /// Member `id` is no longer logged in as `user`.
    pub(crate) fn user_remove(&self, user: &str, id: u64) {
        let mut shard = self.users.lock(user);
        let Some(name) = shard.get_key_value(user).map(|(n, _)| Arc::clone(n)) else {
            return;
        };
        let Some(entry) = shard.get_mut(user) else {
            return;
        };
        let Some(login) = entry.sessions.remove(&id) else {
            return;
        };
        let count = entry.sessions.len();
        self.release_unused(entry, &name, &login.endpoint.scope);
        if entry.is_empty() {
            shard.remove(user);
        }
        self.count_changed(&name, count);
    }

    /// RefuseNewer, first step: reserve `user` in `scope` on this node unless a session (or a
    /// login in progress) holds it here.
    pub(crate) fn user_reserve(&self, user: &str, scope: &Arc<str>) -> Reservation {
        let mut shard = self.users.lock(user);
        if shard.get(user).is_some_and(|e| e.holds(scope)) {
            return Reservation::Taken;
        }
        let entry = match shard.get_mut(user) {
            Some(e) => e,
            None => shard.entry(Arc::from(user)).or_default(),
        };
        entry.pending.push(Arc::clone(scope));
        if self.backend.is_some() && !entry.claimed.iter().any(|s| s == scope) {
            entry.claimed.push(Arc::clone(scope));
        }
        Reservation::Reserved
    }

    /// RefuseNewer, the login did not happen: drop the reservation (and the backend's claim,
    /// unless something else on this node holds the user in the scope).
    pub(crate) fn user_unreserve(&self, user: &str, scope: &Arc<str>) {
        let mut shard = self.users.lock(user);
        let Some(name) = shard.get_key_value(user).map(|(n, _)| Arc::clone(n)) else {
            return;
        };
        if let Some(entry) = shard.get_mut(user) {
            remove_one(&mut entry.pending, scope);
            self.release_unused(entry, &name, scope);
            if entry.is_empty() {
                shard.remove(user);
            }
        }
    }

    fn release_unused(&self, entry: &mut UserEntry, user: &str, scope: &Arc<str>) {
        if entry.holds(scope) {
            return;
        }
        if remove_one(&mut entry.claimed, scope) {
            if let Some(backend) = &self.backend {
                backend.release_login(scope, user);
            }
        }
    }

    /// `user` now has `count` sessions here: tell presence and the backend (the caller holds
    /// the user's shard lock, which keeps one user's counts in order).
    fn count_changed(&self, user: &Arc<str>, count: usize) {
        self.presence.set(self.node, user, count);
        if let Some(backend) = &self.backend {
            backend.set_local_presence(user, count);
        }
    }

    /// This node's sessions of `user` (on endpoint `endpoint` only, when given).
    pub(crate) fn user_sessions(
        &self,
        user: &str,
        endpoint: Option<u64>,
    ) -> Vec<Arc<SessionHandle>> {
        let shard = self.users.lock(user);
        let Some(entry) = shard.get(user) else {
            return Vec::new();
        };
        entry
            .sessions
            .values()
            .filter(|l| endpoint.is_none_or(|e| l.endpoint.id == e))
            .map(|l| Arc::clone(&l.session))
            .collect()
    }

    pub(crate) fn user_send_local(&self, user: &str, message: &str) -> Delivery {
        fan_out(self.user_sessions(user, None).iter(), message)
    }

    /// Close this node's sessions of `user` (in `scope`, and logged in before `older_than`,
    /// when given) with `code` and `reason`.
    pub(crate) fn user_kick_local(
        &self,
        user: &str,
        code: u16,
        reason: &str,
        scope: Option<&str>,
        older_than: Option<LoginStamp>,
    ) -> Delivery {
        let sessions: Vec<Arc<SessionHandle>> = {
            let shard = self.users.lock(user);
            let Some(entry) = shard.get(user) else {
                return Delivery::default();
            };
            entry
                .sessions
                .values()
                .filter(|l| scope.is_none_or(|s| *l.endpoint.scope == *s))
                .filter(|l| older_than.is_none_or(|t| l.stamp < t))
                .map(|l| Arc::clone(&l.session))
                .collect()
        };
        let mut d = Delivery::default();
        // Closing re-enters the hub (the session leaves the index): no lock is held here.
        for s in sessions {
            if s.close(code, reason) {
                d.sent += 1;
            } else {
                d.closed += 1;
            }
        }
        d
    }

    /// The `(scope, user)` claims this node may hold in the backend.
    pub(crate) fn user_claims(&self) -> Vec<(Arc<str>, Arc<str>)> {
        let mut v = Vec::new();
        self.users.for_each_shard(|shard| {
            for (user, entry) in shard.iter() {
                v.extend(
                    entry
                        .claimed
                        .iter()
                        .map(|s| (Arc::clone(s), Arc::clone(user))),
                );
            }
        });
        v.sort();
        v
    }

    /// Every user logged in here with their session count.
    pub(crate) fn user_counts(&self) -> Vec<(Arc<str>, usize)> {
        let mut v = Vec::new();
        self.users.for_each_shard(|shard| {
            v.extend(
                shard
                    .iter()
                    .filter(|(_, e)| !e.sessions.is_empty())
                    .map(|(u, e)| (Arc::clone(u), e.sessions.len())),
            );
        });
        v.sort();
        v
    }
}

fn remove_one(v: &mut Vec<Arc<str>>, scope: &str) -> bool {
    match v.iter().position(|s| **s == *scope) {
        Some(i) => {
            v.swap_remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_and_move_past_stamps_seen_elsewhere() {
        let clock = StampClock::new();
        let me = NodeId::from_u64(1);
        let a = clock.stamp(me);
        let b = clock.stamp(me);
        assert!(a < b);
        let far = LoginStamp {
            millis: b.millis + 1_000_000,
            node: NodeId::from_u64(0),
            seq: 1,
        };
        clock.observe(far);
        let c = clock.stamp(me);
        assert!(c > far, "a login after seeing `far` is later than it");
    }
}

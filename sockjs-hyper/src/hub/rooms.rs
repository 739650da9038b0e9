//! Rooms: room name -> this node's member sessions, in a sharded table.
//!
//! A join or a leave is one map operation under the room's shard lock (O(1)); a send takes the
//! room's member list under that lock (a shared snapshot, rebuilt after a join or leave, so
//! O(members) at most) and queues the message with no lock held (O(members)). A session's
//! own message path never touches this table.

use std::collections::HashMap;
use std::sync::Arc;

use sockjs_core::cluster::Topic;

use super::fanout::fan_out;
use super::shard::Sharded;
use super::{Delivery, HubInner};
use crate::session::SessionHandle;

type Members = Arc<[Arc<SessionHandle>]>;

#[derive(Default)]
pub(crate) struct Room {
    members: HashMap<u64, Arc<SessionHandle>>,
    /// The members as a list for sends; `None` after a change (rebuilt by the next send).
    snapshot: Option<Members>,
}

impl Room {
    fn snapshot(&mut self) -> Members {
        match &self.snapshot {
            Some(s) => Arc::clone(s),
            None => {
                let s: Members = self.members.values().cloned().collect();
                self.snapshot = Some(Arc::clone(&s));
                s
            }
        }
    }
}

pub(crate) type Rooms = Sharded<Arc<str>, Room>;

impl HubInner {
    /// Add member `id` to `room`; returns the room's shared name. The first local member
    /// subscribes this node to the room (under the shard lock, so that subscriptions and
    /// unsubscriptions of one room reach the backend in order).
    pub(crate) fn room_join(&self, room: &str, id: u64, session: &Arc<SessionHandle>) -> Arc<str> {
        let mut shard = self.rooms.lock(room);
        let name = match shard.get_key_value(room) {
            Some((name, _)) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(room);
                if let Some(backend) = &self.backend {
                    backend.subscribe(&Topic::Room(Arc::clone(&name)));
                }
                shard.insert(Arc::clone(&name), Room::default());
                name
            }
        };
        if let Some(entry) = shard.get_mut(room) {
            entry.members.insert(id, Arc::clone(session));
            entry.snapshot = None;
        }
        name
    }

    /// Remove member `id` from `room`; the last local member unsubscribes this node.
    pub(crate) fn room_leave(&self, room: &Arc<str>, id: u64) {
        let mut shard = self.rooms.lock(&**room);
        let Some(entry) = shard.get_mut(&**room) else {
            return;
        };
        if entry.members.remove(&id).is_none() {
            return;
        }
        entry.snapshot = None;
        if entry.members.is_empty() {
            shard.remove(&**room);
            let topic = Topic::Room(Arc::clone(room));
            if let Some(backend) = &self.backend {
                backend.unsubscribe(&topic);
            }
            self.tracker.forget_topic(&topic);
        }
    }

    /// The local members of `room` (a snapshot).
    pub(crate) fn room_members(&self, room: &str) -> Option<Members> {
        self.rooms.lock(room).get_mut(room).map(Room::snapshot)
    }

    pub(crate) fn room_len(&self, room: &str) -> usize {
        self.rooms
            .lock(room)
            .get(room)
            .map_or(0, |r| r.members.len())
    }

    /// Queue `message` to the local members of `room`.
    pub(crate) fn room_send_local(&self, room: &str, message: &str) -> Delivery {
        match self.room_members(room) {
            Some(members) => fan_out(members.iter(), message),
            None => Delivery::default(),
        }
    }

    /// Run `f` if this node has members in `room`, with the room's shard locked (so the
    /// interest cannot end, and its sequence numbers be forgotten, while `f` runs).
    pub(crate) fn with_room_interest<R>(&self, room: &str, f: impl FnOnce() -> R) -> Option<R> {
        let shard = self.rooms.lock(room);
        let r = shard.contains_key(room).then(f);
        drop(shard);
        r
    }

    /// The local rooms (with at least one member), and the number of memberships.
    pub(crate) fn room_totals(&self) -> (Vec<Arc<str>>, usize) {
        let mut names = Vec::new();
        let mut memberships = 0;
        self.rooms.for_each_shard(|shard| {
            for (name, room) in shard.iter() {
                names.push(Arc::clone(name));
                memberships += room.members.len();
            }
        });
        names.sort();
        (names, memberships)
    }
}

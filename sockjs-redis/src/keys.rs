//! The names of the cluster's Redis keys and pub/sub channels (see the crate docs' "Redis
//! layout"). Every name starts with `sockjs:{<cluster>}:`: the braces make the cluster name a
//! hash tag, so on a Redis Cluster every key of one sockjs cluster lives in one slot and the
//! Lua scripts that touch several of them stay legal.

use sockjs_hyper::hub::{NodeId, Topic};

/// Key and channel names of one cluster.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(cluster: &str) -> Keys {
        Keys {
            prefix: format!("sockjs:{{{cluster}}}:"),
        }
    }

    /// The channel a topic's envelopes travel on.
    pub(crate) fn topic_channel(&self, topic: &Topic) -> String {
        match topic {
            Topic::Room(room) => format!("{}room:{room}", self.prefix),
            Topic::Channel(channel) => format!("{}channel:{channel}", self.prefix),
            Topic::Control => self.control_channel(),
        }
    }

    /// User sends, kicks and broadcasts: every node subscribes.
    pub(crate) fn control_channel(&self) -> String {
        format!("{}ctl", self.prefix)
    }

    /// Presence changes, hellos and departures of nodes (the backend's own messages, see
    /// `wire`): every node subscribes.
    pub(crate) fn membership_channel(&self) -> String {
        format!("{}membership", self.prefix)
    }

    /// The set of node ids that registered (live or not yet reaped).
    pub(crate) fn nodes(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// A node's liveness key (with a TTL).
    pub(crate) fn node(&self, node: NodeId) -> String {
        format!("{}{node}", self.node_prefix())
    }

    /// What a node id is appended to for its liveness key (the claim script builds the
    /// holder's liveness key from it).
    pub(crate) fn node_prefix(&self) -> String {
        format!("{}node:", self.prefix)
    }

    /// A node's presence hash: user -> session count.
    pub(crate) fn presence(&self, node: NodeId) -> String {
        format!("{}presence:{node}", self.prefix)
    }

    /// The set of claim keys a node holds.
    pub(crate) fn claims(&self, node: NodeId) -> String {
        format!("{}claims:{node}", self.prefix)
    }

    /// The RefuseNewer claim on `user` in `scope`: the holder's node id. The scope's length
    /// comes first, so no (scope, user) pair can be mistaken for another whatever `:` they
    /// contain.
    pub(crate) fn claim(&self, scope: &str, user: &str) -> String {
        format!("{}claim:{}:{scope}:{user}", self.prefix, scope.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_documented_one() {
        let k = Keys::new("chat");
        let n = NodeId::from_u64(0xab);
        assert_eq!(k.control_channel(), "sockjs:{chat}:ctl");
        assert_eq!(k.membership_channel(), "sockjs:{chat}:membership");
        assert_eq!(
            k.topic_channel(&Topic::Room("lobby".into())),
            "sockjs:{chat}:room:lobby"
        );
        assert_eq!(
            k.topic_channel(&Topic::Channel("/topic/a".into())),
            "sockjs:{chat}:channel:/topic/a"
        );
        assert_eq!(k.topic_channel(&Topic::Control), "sockjs:{chat}:ctl");
        assert_eq!(k.nodes(), "sockjs:{chat}:nodes");
        assert_eq!(k.node(n), "sockjs:{chat}:node:00000000000000ab");
        assert_eq!(k.node(n), format!("{}{n}", k.node_prefix()));
        assert_eq!(k.presence(n), "sockjs:{chat}:presence:00000000000000ab");
        assert_eq!(k.claims(n), "sockjs:{chat}:claims:00000000000000ab");
        assert_eq!(
            k.claim("/chat", "alice"),
            "sockjs:{chat}:claim:5:/chat:alice"
        );
    }

    #[test]
    fn claim_keys_of_distinct_pairs_are_distinct() {
        let k = Keys::new("c");
        assert_ne!(k.claim("a:b", "c"), k.claim("a", "b:c"));
        assert_ne!(k.claim("", "x"), k.claim("x", ""));
    }
}

//! The backend's own messages on the membership channel: a node's presence change, its
//! hello after (re)registering, its departure. (Hub operations travel as
//! [`Envelope`](sockjs_hyper::hub::Envelope)s in the hub's own wire format, on the other
//! channels.)
//!
//! ```text
//! u8  version = 1
//! u8  kind: 1 presence | 2 hello | 3 gone
//! u64 node id (big-endian)
//! presence: u64 session count, then the user name (UTF-8, 1 to 1024 bytes, to the end)
//! hello:    u64 process instance (what the node's liveness key holds)
//! gone:     nothing more
//! ```

use sockjs_hyper::hub::{NodeId, MAX_NAME_LEN};

const VERSION: u8 = 1;
const PRESENCE: u8 = 1;
const HELLO: u8 = 2;
const GONE: u8 = 3;

/// A membership message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// `node` has `count` logged-in sessions of `user` (0: none).
    Presence {
        node: NodeId,
        user: String,
        count: u64,
    },
    /// `node` (re)registered: its whole presence hash is in Redis, read it. `instance` tells
    /// processes sharing a node id over time apart (a new one: a restart).
    Hello { node: NodeId, instance: u64 },
    /// `node` left the cluster (it said so, or a survivor reaped it): drop its presence.
    Gone { node: NodeId },
}

/// Not a membership message (a newer version, or damaged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

impl Membership {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (kind, node) = match self {
            Membership::Presence { node, .. } => (PRESENCE, node),
            Membership::Hello { node, .. } => (HELLO, node),
            Membership::Gone { node } => (GONE, node),
        };
        let mut out = Vec::with_capacity(32);
        out.push(VERSION);
        out.push(kind);
        out.extend_from_slice(&node.as_u64().to_be_bytes());
        match self {
            Membership::Presence { user, count, .. } => {
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(user.as_bytes());
            }
            Membership::Hello { instance, .. } => out.extend_from_slice(&instance.to_be_bytes()),
            Membership::Gone { .. } => {}
        }
        out
    }

    pub(crate) fn decode(input: &[u8]) -> Result<Membership, Malformed> {
        let [version, kind, rest @ ..] = input else {
            return Err(Malformed);
        };
        if *version != VERSION || rest.len() < 8 {
            return Err(Malformed);
        }
        let (id, rest) = rest.split_at(8);
        let node = NodeId::from_u64(u64::from_be_bytes(id.try_into().map_err(|_| Malformed)?));
        match (*kind, rest.len()) {
            (HELLO, 8) => Ok(Membership::Hello {
                node,
                instance: u64::from_be_bytes(rest.try_into().map_err(|_| Malformed)?),
            }),
            (GONE, 0) => Ok(Membership::Gone { node }),
            (PRESENCE, 9..) => {
                let (count, user) = rest.split_at(8);
                let count = u64::from_be_bytes(count.try_into().map_err(|_| Malformed)?);
                if user.len() > MAX_NAME_LEN {
                    return Err(Malformed);
                }
                let user = std::str::from_utf8(user).map_err(|_| Malformed)?;
                Ok(Membership::Presence {
                    node,
                    user: user.to_string(),
                    count,
                })
            }
            _ => Err(Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Membership> {
        let node = NodeId::from_u64(0x0123_4567_89ab_cdef);
        vec![
            Membership::Presence {
                node,
                user: "alice".into(),
                count: 3,
            },
            Membership::Presence {
                node,
                user: "é:x".into(),
                count: 0,
            },
            Membership::Hello {
                node,
                instance: 0xfeed_0000_0000_0001,
            },
            Membership::Gone { node },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            assert_eq!(Membership::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn truncations_extra_bytes_and_garbage_are_refused() {
        for m in samples() {
            let bytes = m.encode();
            // A presence message needs at least one byte of user name after its 18-byte head.
            let shortest = match m {
                Membership::Presence { .. } => 19,
                _ => bytes.len(),
            };
            for n in 0..shortest {
                assert_eq!(
                    Membership::decode(&bytes[..n]),
                    Err(Malformed),
                    "{m:?} cut at {n}"
                );
            }
        }
        let mut hello = samples()[2].encode();
        hello.push(0);
        assert_eq!(Membership::decode(&hello), Err(Malformed));
        let mut v2 = samples()[2].encode();
        v2[0] = 2;
        assert_eq!(Membership::decode(&v2), Err(Malformed));
        let mut kind = samples()[2].encode();
        kind[1] = 9;
        assert_eq!(Membership::decode(&kind), Err(Malformed));
        let mut utf8 = samples()[0].encode();
        let last = utf8.len() - 1;
        utf8[last] = 0xff;
        assert_eq!(Membership::decode(&utf8), Err(Malformed));
        let long = Membership::Presence {
            node: NodeId::from_u64(1),
            user: "x".repeat(MAX_NAME_LEN + 1),
            count: 1,
        };
        assert_eq!(Membership::decode(&long.encode()), Err(Malformed));
        assert_eq!(Membership::decode(b""), Err(Malformed));
    }
}

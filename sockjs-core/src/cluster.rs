//! The vocabulary a hub shares with other nodes, without I/O: node ids, login stamps, topics,
//! envelopes, and the envelopes' binary wire format.
//!
//! `sockjs-hyper`'s hub builds [`Envelope`]s for the operations that must reach other nodes
//! (a room send, a user send, a kick, a broadcast, a channel publication) and hands them to a
//! cluster backend; the backend carries them (for example over Redis pub/sub) and gives them to
//! the other nodes' hubs. [`Envelope::encode`] and [`Envelope::decode`] are the wire format a
//! backend may use; decoding never panics and never allocates more than the input's length.
//!
//! # Wire format (version 1)
//!
//! Integers are big-endian; a *string* is a `u32` length followed by that many bytes of UTF-8;
//! *bytes* are a `u32` length followed by the bytes.
//!
//! ```text
//! u8  version = 1
//! u64 origin node id
//! u64 sequence number
//! u8  kind: 1 room | 2 channel | 3 user | 4 kick | 5 broadcast
//! room:      string room, string message
//! channel:   string channel, bytes payload
//! user:      string user, string message
//! kick:      string user, u16 code, string reason,
//!            u8 flags (bit 0: scope follows, bit 1: older_than follows; other bits zero),
//!            [string scope], [u64 millis, u64 node, u64 seq]
//! broadcast: string message
//! ```
//!
//! Nothing may follow the last field.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

/// The longest room, channel, user or scope name the hub accepts, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// The identity of one node (one process running a hub) in a cluster.
///
/// A hub draws a random one when it starts, unless the operator gives it one (1 to 16
/// hexadecimal digits, parsed with `str::parse`: `"0a"` is node `000000000000000a`), to keep a
/// process slot recognisable across restarts. Written as 16 lowercase hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u64);

impl NodeId {
    /// The node id with this numeric value.
    pub const fn from_u64(id: u64) -> NodeId {
        NodeId(id)
    }

    /// The numeric value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A node id that is not 1 to 16 hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseNodeIdError;

impl fmt::Display for ParseNodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node id is 1 to 16 hexadecimal digits")
    }
}

impl std::error::Error for ParseNodeIdError {}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<NodeId, ParseNodeIdError> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseNodeIdError);
        }
        u64::from_str_radix(s, 16)
            .map(NodeId)
            .map_err(|_| ParseNodeIdError)
    }
}

/// When a session logged in, ordered the same way on every node: by wall-clock milliseconds,
/// then node id, then the node's login counter. Two stamps are never equal unless they are
/// the same login, so "the older session" is well defined across a cluster even when two
/// logins race on two nodes (clock skew between nodes only changes which one wins, never
/// whether exactly one does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginStamp {
    /// Wall-clock milliseconds since the Unix epoch on the node that stamped the login
    /// (never decreasing on that node).
    pub millis: u64,
    /// The node that stamped it.
    pub node: NodeId,
    /// The node's login counter.
    pub seq: u64,
}

impl Ord for LoginStamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.millis, self.node, self.seq).cmp(&(other.millis, other.node, other.seq))
    }
}

impl PartialOrd for LoginStamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where an envelope goes, and the unit its sequence numbers count in.
///
/// Every node receives every [`Topic::Control`] envelope; a node receives a room's or a
/// channel's envelopes while it has local interest in it (see the hub's `Backend::subscribe`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// User sends, kicks and broadcasts: for every node.
    Control,
    /// Sends to a room: for the nodes with members in it.
    Room(Arc<str>),
    /// Publications on a raw channel: for the nodes with subscribers to it.
    Channel(Arc<str>),
}

impl fmt::Display for Topic {
    /// `control`, `room:<name>` or `channel:<name>`: distinct for distinct topics, usable as
    /// (the end of) a pub/sub channel name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Control => f.write_str("control"),
            Topic::Room(name) => write!(f, "room:{name}"),
            Topic::Channel(name) => write!(f, "channel:{name}"),
        }
    }
}

/// What an envelope asks the receiving node to do with its local sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Send `message` to the local members of `room`.
    Room {
        /// The room.
        room: Arc<str>,
        /// The message (a SockJS text message).
        message: Arc<str>,
    },
    /// Give `payload` to the local subscribers of `channel`.
    Channel {
        /// The channel.
        channel: Arc<str>,
        /// The payload, opaque to the hub.
        payload: Bytes,
    },
    /// Send `message` to the local sessions of `user`.
    User {
        /// The user.
        user: Arc<str>,
        /// The message.
        message: Arc<str>,
    },
    /// Close local sessions of `user` with `code` and `reason`.
    Kick {
        /// The user.
        user: Arc<str>,
        /// The close code the client's `onclose` sees.
        code: u16,
        /// The close reason.
        reason: Arc<str>,
        /// Only the user's sessions on endpoints with this prefix (a duplicate-login
        /// replacement); every session of the user when `None`.
        scope: Option<Arc<str>>,
        /// Only sessions that logged in before this stamp (a duplicate-login replacement:
        /// the stamp of the newer login); every session when `None`.
        older_than: Option<LoginStamp>,
    },
    /// Send `message` to every local session.
    Broadcast {
        /// The message.
        message: Arc<str>,
    },
}

/// One operation travelling from the node that issued it (`origin`) to the other nodes.
///
/// `seq` numbers the origin's envelopes of one [`Topic`]: it is `generation << 32 | n` where
/// `n` counts 1, 2, 3, … A receiver that keeps the last `seq` per origin and topic sees gaps
/// (lost envelopes) and duplicates. [`Topic::Control`] always has generation 0. A sender keeps
/// a bounded number of room and channel counters; each time it (re)creates one, it takes a
/// larger generation, so a receiver recognises a restarted counter (a larger generation with
/// `n` back at 1) rather than mistaking it for a replay (see [`seq_generation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The node that issued the operation.
    pub origin: NodeId,
    /// The origin's sequence number in the envelope's topic.
    pub seq: u64,
    /// The operation.
    pub op: Operation,
}

/// The generation part of a sequence number (its high 32 bits).
pub const fn seq_generation(seq: u64) -> u64 {
    seq >> 32
}

/// Why bytes are not an envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a field.
    Truncated,
    /// An unknown format version (the first byte).
    Version(u8),
    /// An unknown operation kind.
    Kind(u8),
    /// A string is not UTF-8.
    Utf8,
    /// A name is empty or longer than [`MAX_NAME_LEN`], or the kick flags have unknown bits.
    Invalid,
    /// Bytes follow the last field.
    Trailing,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("envelope truncated"),
            DecodeError::Version(v) => write!(f, "unknown envelope version {v}"),
            DecodeError::Kind(k) => write!(f, "unknown envelope kind {k}"),
            DecodeError::Utf8 => f.write_str("envelope string is not UTF-8"),
            DecodeError::Invalid => f.write_str("invalid envelope field"),
            DecodeError::Trailing => f.write_str("bytes after the envelope"),
        }
    }
}

impl std::error::Error for DecodeError {}

const VERSION: u8 = 1;
const KIND_ROOM: u8 = 1;
const KIND_CHANNEL: u8 = 2;
const KIND_USER: u8 = 3;
const KIND_KICK: u8 = 4;
const KIND_BROADCAST: u8 = 5;
const FLAG_SCOPE: u8 = 1;
const FLAG_OLDER_THAN: u8 = 2;

/// Whether `name` can name a room, channel, user or scope: 1 to [`MAX_NAME_LEN`] bytes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN
}

impl Envelope {
    /// The topic the envelope travels in.
    pub fn topic(&self) -> Topic {
        match &self.op {
            Operation::Room { room, .. } => Topic::Room(Arc::clone(room)),
            Operation::Channel { channel, .. } => Topic::Channel(Arc::clone(channel)),
            Operation::User { .. } | Operation::Kick { .. } | Operation::Broadcast { .. } => {
                Topic::Control
            }
        }
    }

    /// The envelope in the wire format (see the module docs).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(64 + self.payload_len());
        out.put_u8(VERSION);
        out.put_u64(self.origin.0);
        out.put_u64(self.seq);
        match &self.op {
            Operation::Room { room, message } => {
                out.put_u8(KIND_ROOM);
                put_bytes(&mut out, room.as_bytes());
                put_bytes(&mut out, message.as_bytes());
            }
            Operation::Channel { channel, payload } => {
                out.put_u8(KIND_CHANNEL);
                put_bytes(&mut out, channel.as_bytes());
                put_bytes(&mut out, payload);
            }
            Operation::User { user, message } => {
                out.put_u8(KIND_USER);
                put_bytes(&mut out, user.as_bytes());
                put_bytes(&mut out, message.as_bytes());
            }
            Operation::Kick {
                user,
                code,
                reason,
                scope,
                older_than,
            } => {
                out.put_u8(KIND_KICK);
                put_bytes(&mut out, user.as_bytes());
                out.put_u16(*code);
                put_bytes(&mut out, reason.as_bytes());
                let mut flags = 0;
                if scope.is_some() {
                    flags |= FLAG_SCOPE;
                }
                if older_than.is_some() {
                    flags |= FLAG_OLDER_THAN;
                }
                out.put_u8(flags);
                if let Some(scope) = scope {
                    put_bytes(&mut out, scope.as_bytes());
                }
                if let Some(stamp) = older_than {
                    out.put_u64(stamp.millis);
                    out.put_u64(stamp.node.0);
                    out.put_u64(stamp.seq);
                }
            }
            Operation::Broadcast { message } => {
                out.put_u8(KIND_BROADCAST);
                put_bytes(&mut out, message.as_bytes());
            }
        }
        out.freeze()
    }

    fn payload_len(&self) -> usize {
        match &self.op {
            Operation::Room { room, message } => room.len() + message.len(),
            Operation::Channel { channel, payload } => channel.len() + payload.len(),
            Operation::User { user, message } => user.len() + message.len(),
            Operation::Kick {
                user,
                reason,
                scope,
                ..
            } => user.len() + reason.len() + scope.as_ref().map_or(0, |s| s.len()),
            Operation::Broadcast { message } => message.len(),
        }
    }

    /// Decode an envelope in the wire format. Never panics; allocates at most the input's
    /// length.
    pub fn decode(input: &[u8]) -> Result<Envelope, DecodeError> {
        let mut r = Reader(input);
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let origin = NodeId(r.u64()?);
        let seq = r.u64()?;
        let op = match r.u8()? {
            KIND_ROOM => Operation::Room {
                room: r.name()?,
                message: r.string()?,
            },
            KIND_CHANNEL => Operation::Channel {
                channel: r.name()?,
                payload: Bytes::copy_from_slice(r.bytes()?),
            },
            KIND_USER => Operation::User {
                user: r.name()?,
                message: r.string()?,
            },
            KIND_KICK => {
                let user = r.name()?;
                let code = r.u16()?;
                let reason = r.string()?;
                let flags = r.u8()?;
                if flags & !(FLAG_SCOPE | FLAG_OLDER_THAN) != 0 {
                    return Err(DecodeError::Invalid);
                }
                let scope = if flags & FLAG_SCOPE != 0 {
                    Some(r.string()?)
                } else {
                    None
                };
                let older_than = if flags & FLAG_OLDER_THAN != 0 {
                    Some(LoginStamp {
                        millis: r.u64()?,
                        node: NodeId(r.u64()?),
                        seq: r.u64()?,
                    })
                } else {
                    None
                };
                Operation::Kick {
                    user,
                    code,
                    reason,
                    scope,
                    older_than,
                }
            }
            KIND_BROADCAST => Operation::Broadcast {
                message: r.string()?,
            },
            other => return Err(DecodeError::Kind(other)),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing);
        }
        Ok(Envelope { origin, seq, op })
    }
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    // Names are bounded; messages are bounded by the hub's message limit, far below 4 GiB.
    out.put_u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
    out.put_slice(&b[..b.len().min(u32::MAX as usize)]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<Arc<str>, DecodeError> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(Arc::from)
            .map_err(|_| DecodeError::Utf8)
    }

    fn name(&mut self) -> Result<Arc<str>, DecodeError> {
        let s = self.string()?;
        if valid_name(&s) {
            Ok(s)
        } else {
            Err(DecodeError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Envelope> {
        let origin = NodeId::from_u64(0xfeed_beef_0000_0001);
        let op = [
            Operation::Room {
                room: "lobby".into(),
                message: "héllo \"there\"".into(),
            },
            Operation::Channel {
                channel: "/topic/prices".into(),
                payload: Bytes::from_static(&[0, 1, 2, 255]),
            },
            Operation::User {
                user: "alice".into(),
                message: "".into(),
            },
            Operation::Kick {
                user: "bob".into(),
                code: 4009,
                reason: "Replaced by a newer session".into(),
                scope: Some("/chat".into()),
                older_than: Some(LoginStamp {
                    millis: 1_700_000_000_000,
                    node: origin,
                    seq: 7,
                }),
            },
            Operation::Kick {
                user: "bob".into(),
                code: 4001,
                reason: "Kicked".into(),
                scope: None,
                older_than: None,
            },
            Operation::Broadcast {
                message: "everyone".into(),
            },
        ];
        op.into_iter()
            .enumerate()
            .map(|(i, op)| Envelope {
                origin,
                seq: i as u64 + 1,
                op,
            })
            .collect()
    }

    #[test]
    fn every_operation_round_trips() {
        for e in samples() {
            let bytes = e.encode();
            assert_eq!(Envelope::decode(&bytes), Ok(e.clone()));
        }
    }

    #[test]
    fn every_truncation_and_any_extra_byte_is_an_error() {
        for e in samples() {
            let bytes = e.encode();
            for n in 0..bytes.len() {
                assert_eq!(
                    Envelope::decode(&bytes[..n]),
                    Err(DecodeError::Truncated),
                    "{e:?} cut at {n}"
                );
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert_eq!(Envelope::decode(&longer), Err(DecodeError::Trailing));
        }
    }

    #[test]
    fn bad_version_kind_utf8_names_and_flags_are_refused() {
        let bytes = samples()[0].encode().to_vec();
        let mut v = bytes.clone();
        v[0] = 2;
        assert_eq!(Envelope::decode(&v), Err(DecodeError::Version(2)));
        let mut k = bytes.clone();
        k[17] = 9;
        assert_eq!(Envelope::decode(&k), Err(DecodeError::Kind(9)));
        // the room name "lobby" starts after the 4-byte length at offset 18
        let mut u = bytes.clone();
        u[22] = 0xff;
        assert_eq!(Envelope::decode(&u), Err(DecodeError::Utf8));
        let empty_room = Envelope {
            origin: NodeId::from_u64(1),
            seq: 1,
            op: Operation::Room {
                room: "".into(),
                message: "m".into(),
            },
        };
        assert_eq!(
            Envelope::decode(&empty_room.encode()),
            Err(DecodeError::Invalid)
        );
        let kick = samples()[4].encode().to_vec();
        let mut f = kick.clone();
        let last = f.len() - 1;
        f[last] = 0x80;
        assert_eq!(Envelope::decode(&f), Err(DecodeError::Invalid));
    }

    #[test]
    fn a_huge_length_does_not_allocate() {
        let mut b = vec![VERSION];
        b.extend_from_slice(&[0; 16]);
        b.push(KIND_BROADCAST);
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Envelope::decode(&b), Err(DecodeError::Truncated));
    }

    #[test]
    fn topics_follow_the_operation() {
        let t: Vec<String> = samples().iter().map(|e| e.topic().to_string()).collect();
        assert_eq!(
            t,
            [
                "room:lobby",
                "channel:/topic/prices",
                "control",
                "control",
                "control",
                "control"
            ]
        );
    }

    #[test]
    fn login_stamps_order_by_time_then_node_then_counter() {
        let s = |millis, node, seq| LoginStamp {
            millis,
            node: NodeId::from_u64(node),
            seq,
        };
        assert!(s(1, 9, 9) < s(2, 0, 0));
        assert!(s(2, 1, 9) < s(2, 2, 0));
        assert!(s(2, 2, 1) < s(2, 2, 2));
        assert_eq!(s(2, 2, 2), s(2, 2, 2));
    }

    #[test]
    fn node_ids_print_and_parse_as_hex() {
        let id = NodeId::from_u64(0xab);
        assert_eq!(id.to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse(), Ok(id));
        assert_eq!("AB".parse(), Ok(id));
        assert!("".parse::<NodeId>().is_err());
        assert!("12345678901234567".parse::<NodeId>().is_err());
        assert!("+1".parse::<NodeId>().is_err());
    }
}

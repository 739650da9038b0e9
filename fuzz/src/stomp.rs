//! The STOMP codec and session state machine (`sockjs-stomp`), driven by an arbitrary
//! sequence of SockJS messages, clock steps, authenticator answers, broker deliveries and
//! driver failures.
//!
//! Messages are built from STOMP-shaped tokens (commands, headers, escapes, EOLs, NULs) as
//! well as arbitrary text, so the fuzzer reaches connected sessions quickly.
//!
//! Invariants checked after every operation:
//!
//! * nothing panics;
//! * every `Transmit` is a heart-beat (`"\n"`) or exactly one well-formed server frame
//!   (`CONNECTED` first, then `MESSAGE`, `RECEIPT` or `ERROR`), decodable by the crate's own
//!   decoder for the version the client knows; a `MESSAGE`'s `content-length` is its body's
//!   length and an `ERROR` has a `message` header;
//! * `Authenticate` comes at most once, `Close` at most once and last: nothing is output
//!   after it, and the session then reports closed with no timer;
//! * memory stays bounded: the session buffers at most one frame's limit, holds at most
//!   `max_subscriptions` subscriptions and `max_unacked` unacknowledged messages, and one
//!   input produces a bounded number of outputs;
//! * after `handle_timeout(now)` the next deadline is after `now`;
//! * message ids are unique;
//! * the codec alone: decoding every message pushed one by one gives the same items (and the
//!   same error) as decoding their concatenation in one piece, and a 1.2 frame encodes and
//!   decodes back to itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use sockjs_stomp::decode::{Decoder, Item, Limits};
use sockjs_stomp::{Command, Config, Frame, OutboundMessage, Output, Session, Version};

/// Pieces of STOMP frames.
const TOKENS: &[&str] = &[
    "CONNECT\n",
    "STOMP\n",
    "SEND\n",
    "SUBSCRIBE\n",
    "UNSUBSCRIBE\n",
    "ACK\n",
    "NACK\n",
    "BEGIN\n",
    "COMMIT\n",
    "ABORT\n",
    "DISCONNECT\n",
    "MESSAGE\n",
    "accept-version:1.2,1.1,1.0\n",
    "accept-version:1.1,1.0\n",
    "accept-version:1.0\n",
    "accept-version:",
    "heart-beat:10000,10000\n",
    "heart-beat:1,1\n",
    "heart-beat:0,",
    "destination:/topic/a\n",
    "destination:/app/x\n",
    "destination:/user/queue/q\n",
    "destination:/user/bob/queue/q\n",
    "destination:",
    "id:0\n",
    "id:1\n",
    "id:",
    "message-id:0\n",
    "subscription:0\n",
    "ack:client\n",
    "ack:client-individual\n",
    "ack:auto\n",
    "receipt:r\n",
    "transaction:t\n",
    "content-length:0\n",
    "content-length:3\n",
    "content-length:",
    "login:alice\n",
    "\\c",
    "\\n",
    "\\r",
    "\\\\",
    "\\t",
    ":",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\0",
    "abc",
    "é",
    "😀",
    "\u{fffd}",
    "0",
    "9",
];

/// One piece of a message.
#[derive(Arbitrary, Debug)]
pub enum Piece {
    /// A token from the table.
    Token(u8),
    /// Arbitrary text.
    Text(String),
}

/// One operation on the session.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A SockJS message from the client.
    Message(Vec<Piece>),
    /// Time passes (milliseconds, scaled by 16), then `handle_timeout`.
    Advance(u16),
    /// Jump to the session's deadline and call `handle_timeout`.
    Deadline,
    /// The authenticator accepts, with or without a user.
    Accept(bool),
    /// The authenticator refuses.
    Refuse,
    /// The broker delivers on subscription `0`, `1`, `2` or `/topic/a` (a 1.0 id).
    Deliver(u8, String),
    /// The driver failed to perform the last output.
    Fail,
    /// The SockJS session ended.
    Close,
}

/// Limits (small, so the fuzzer reaches them) and operations.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    max_frame: u16,
    max_headers: u8,
    max_line: u16,
    max_subscriptions: u8,
    max_unacked: u8,
    max_transaction_bytes: u16,
    tolerance: u8,
    ops: Vec<Op>,
}

/// Entry point of the `stomp_session` target.
pub fn stomp_session(data: &[u8]) {
    if let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) {
        run(&scenario);
    }
}

fn message_text(pieces: &[Piece]) -> String {
    let mut text = String::new();
    for piece in pieces {
        match piece {
            Piece::Token(i) => text.push_str(TOKENS[*i as usize % TOKENS.len()]),
            Piece::Text(t) => text.push_str(t),
        }
    }
    text
}

/// What a scenario reached (so generated inputs can be checked for coverage).
#[derive(Clone, Copy, Debug, Default)]
pub struct Coverage {
    /// `CONNECTED` was sent.
    pub connected: bool,
    /// `MESSAGE` frames sent.
    pub messages: usize,
    /// `RECEIPT` frames sent.
    pub receipts: usize,
    /// `ERROR` frames sent.
    pub errors: usize,
    /// `Ack` and `Nack` outputs.
    pub acks: usize,
    /// `Publish` outputs.
    pub publishes: usize,
    /// Server heart-beats.
    pub heart_beats: usize,
}

/// Runs one scenario; panics when an invariant breaks.
pub fn run(scenario: &Scenario) -> Coverage {
    let mut config = Config::default();
    config.limits = {
        let mut l = Limits::default();
        l.max_frame_size = usize::from(scenario.max_frame).max(16);
        l.max_body_size = usize::from(scenario.max_frame / 2).max(1);
        l.max_headers = usize::from(scenario.max_headers).max(1);
        l.max_header_line = usize::from(scenario.max_line).max(8);
        l
    };
    config.max_subscriptions = usize::from(scenario.max_subscriptions).max(1);
    config.max_unacked = usize::from(scenario.max_unacked).max(1);
    config.max_transaction_bytes = usize::from(scenario.max_transaction_bytes);
    config.heartbeat_tolerance = u32::from(scenario.tolerance % 5).max(1);
    config.heartbeat_send = Duration::from_millis(1000);
    config.heartbeat_receive = Duration::from_millis(1000);
    let config = Arc::new(config);

    let mut now = Instant::now();
    let mut session = Session::new(now, config.clone());
    let mut checker = Checker::default();
    let mut messages: Vec<String> = Vec::new();

    for op in &scenario.ops {
        let mut input_len = 0;
        match op {
            Op::Message(pieces) => {
                let text = message_text(pieces);
                input_len = text.len();
                session.handle_message(now, &text);
                if messages.iter().map(String::len).sum::<usize>() < 64 * 1024 {
                    messages.push(text);
                }
            }
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(*ms) * 16);
                session.handle_timeout(now);
                check_deadline(&session, now);
            }
            Op::Deadline => {
                if let Some(deadline) = session.poll_timeout() {
                    now = now.max(deadline);
                    session.handle_timeout(now);
                    check_deadline(&session, now);
                }
            }
            Op::Accept(with_user) => {
                let user = with_user.then(|| "alice".to_owned());
                let expected = checker.awaiting_auth && !session.is_closed();
                assert_eq!(session.accept(now, user).is_ok(), expected);
                if expected {
                    checker.awaiting_auth = false;
                }
            }
            Op::Refuse => {
                let expected = checker.awaiting_auth && !session.is_closed();
                assert_eq!(session.refuse(now, "no").is_ok(), expected);
            }
            Op::Deliver(sub, body) => {
                let id = match sub % 4 {
                    3 => "/topic/a".to_owned(),
                    n => n.to_string(),
                };
                let message = std::sync::Arc::new(OutboundMessage {
                    destination: "/topic/a".into(),
                    content_type: Some("text/plain".into()),
                    headers: vec![("x:y".into(), body.clone())],
                    body: body.clone(),
                });
                input_len = body.len();
                if let Ok(message_id) = session.deliver(now, &id, &message) {
                    assert!(
                        checker.message_ids.insert(message_id),
                        "duplicate message id"
                    );
                }
            }
            Op::Fail => session.fail(now, "denied"),
            Op::Close => session.handle_close(now),
        }
        checker.drain(&mut session, input_len, &config);
        assert!(session.buffered() <= config.limits.max_frame_size + 2);
        assert!(session.subscription_count() <= config.max_subscriptions);
        assert!(session.unacked_count() <= config.max_unacked);
        if session.is_closed() {
            assert_eq!(session.poll_timeout(), None);
            assert_eq!(session.buffered(), 0);
        }
    }
    check_codec(&messages);
    checker.coverage
}

fn check_deadline(session: &Session, now: Instant) {
    if let Some(deadline) = session.poll_timeout() {
        assert!(deadline > now, "deadline not after handle_timeout(now)");
    }
}

#[derive(Default)]
struct Checker {
    connected: bool,
    closed: bool,
    /// The session reported closed after a drain: nothing may come out any more.
    ended: bool,
    authenticate_seen: bool,
    awaiting_auth: bool,
    version: Option<Version>,
    message_ids: HashSet<u64>,
    coverage: Coverage,
}

impl Checker {
    fn drain(&mut self, session: &mut Session, input_len: usize, config: &Config) {
        let mut count = 0;
        while let Some(output) = session.poll_output() {
            count += 1;
            assert!(!self.closed, "output after Close: {output:?}");
            assert!(!self.ended, "output after the session ended: {output:?}");
            match output {
                Output::Transmit(text) => self.check_transmit(&text),
                Output::Message(message) => {
                    let text = message.encode();
                    assert!(text.starts_with("MESSAGE\n"), "{text:?}");
                    self.check_transmit(&text);
                }
                Output::Authenticate(request) => {
                    assert!(!self.authenticate_seen, "a second Authenticate");
                    self.authenticate_seen = true;
                    self.awaiting_auth = true;
                    self.version = Some(request.version);
                }
                Output::Close(_) => {
                    self.closed = true;
                    self.awaiting_auth = false;
                    assert!(session.is_closed());
                }
                Output::Subscribe(_)
                | Output::Unsubscribe(_)
                | Output::Publish(_)
                | Output::Ack(_)
                | Output::Nack(_)
                | Output::Disconnect => {
                    assert!(self.connected, "a broker output before CONNECTED");
                    match output {
                        Output::Publish(_) => self.coverage.publishes += 1,
                        Output::Ack(_) | Output::Nack(_) => self.coverage.acks += 1,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        // Each frame is at least 3 bytes and yields at most 4 outputs; a COMMIT releases
        // what its transaction held (bounded by max_transaction_bytes).
        let bound = 4 * (input_len + config.max_transaction_bytes) + 8;
        assert!(count <= bound, "{count} outputs for {input_len} bytes");
        if session.is_closed() {
            self.awaiting_auth = false;
            self.ended = true;
        }
    }

    fn check_transmit(&mut self, text: &str) {
        if text == "\n" {
            assert!(self.connected, "heart-beat before CONNECTED");
            self.coverage.heart_beats += 1;
            return;
        }
        let wire_version = if self.connected { self.version } else { None };
        let mut decoder = Decoder::new(unlimited());
        decoder.set_version(wire_version);
        decoder.push(text);
        let frame = match decoder.next_item() {
            Ok(Some(Item::Frame(frame))) => frame,
            other => panic!("server output {text:?} decodes as {other:?}"),
        };
        assert_eq!(decoder.next_item(), Ok(None), "one frame per message");
        match frame.command {
            Command::Connected => {
                assert!(!self.connected, "a second CONNECTED");
                self.connected = true;
                self.coverage.connected = true;
                self.awaiting_auth = false;
            }
            Command::Message => {
                assert!(self.connected);
                let length = frame.headers.get("content-length");
                assert_eq!(length, Some(frame.body.len().to_string().as_str()));
                assert!(frame.headers.get("message-id").is_some());
                assert!(frame.headers.get("destination").is_some());
                self.coverage.messages += 1;
            }
            Command::Receipt => {
                assert!(self.connected);
                assert!(frame.headers.get("receipt-id").is_some());
                self.coverage.receipts += 1;
            }
            Command::Error => {
                assert!(frame.headers.get("message").is_some());
                self.coverage.errors += 1;
            }
            other => panic!("the server sent {other}"),
        }
    }
}

/// Limits no test input reaches.
fn unlimited() -> Limits {
    let mut l = Limits::default();
    l.max_frame_size = usize::MAX / 4;
    l.max_body_size = usize::MAX / 4;
    l.max_headers = usize::MAX;
    l.max_header_line = usize::MAX / 4;
    l
}

fn decode_items(
    limits: Limits,
    version: Option<Version>,
    chunks: &[&str],
) -> (Vec<Item>, Option<String>) {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut items = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => return (items, Some(e.to_string())),
            }
        }
    }
    (items, None)
}

fn check_codec(messages: &[String]) {
    let chunks: Vec<&str> = messages.iter().map(String::as_str).collect();
    let whole = messages.concat();
    for version in [None, Some(Version::V1_2)] {
        let pieces = decode_items(Limits::default(), version, &chunks);
        let once = decode_items(Limits::default(), version, &[&whole]);
        assert_eq!(pieces, once, "chunking changed the result");
        if version == Some(Version::V1_2) {
            for item in &once.0 {
                if let Item::Frame(frame) = item {
                    round_trip(frame);
                }
            }
        }
    }
}

fn round_trip(frame: &Frame) {
    if frame.command.is_handshake() {
        return; // never escaped: a CR inside a value is written as a space
    }
    let text = frame.encode(Some(Version::V1_2));
    let (items, error) = decode_items(unlimited(), Some(Version::V1_2), &[&text]);
    assert_eq!(error, None, "{text:?}");
    assert_eq!(items, [Item::Frame(frame.clone())], "{text:?}");
}

/// A scenario from a seed, for `tests/replay.rs` on stable Rust: mostly well-formed frames
/// (so sessions get connected and use every command), some split over two messages, mixed
/// with noise, clock steps, deliveries, refusals and failures.
pub fn generated(seed: u64) -> Scenario {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut below = |n: u64| next() % n.max(1);
    let token = |text: &str| {
        let i = TOKENS.iter().position(|t| *t == text).unwrap_or(0);
        Piece::Token(i as u8)
    };
    let mut ops = Vec::new();
    let versions = [
        "accept-version:1.2,1.1,1.0\n",
        "accept-version:1.1,1.0\n",
        "accept-version:1.0\n",
        "\n",
    ];
    let mut connect = vec![
        token("CONNECT\n"),
        token(versions[below(4) as usize]),
        token(if below(2) == 0 {
            "heart-beat:1,1\n"
        } else {
            "heart-beat:10000,10000\n"
        }),
        token("\n"),
        token("\0"),
    ];
    if below(10) == 0 {
        connect.insert(1, Piece::Text("x".into()));
    }
    ops.push(Op::Message(connect));
    ops.push(if below(16) == 0 {
        Op::Refuse
    } else {
        Op::Accept(below(2) == 0)
    });
    let mut subscribed = [false; 3];
    let mut tx_open = false;
    let mut deliveries = 0u64;
    for _ in 0..below(60) {
        match below(60) {
            0..=39 => {
                let receipt = if below(3) == 0 { "receipt:r\n" } else { "" };
                // Mostly well-behaved: name the transaction only while it is open.
                let tx = if (tx_open || below(16) == 0) && below(2) == 0 {
                    "transaction:t\n"
                } else {
                    ""
                };
                let n = below(4);
                // Message ids count deliveries from 0: aim at recent ones.
                let m = deliveries.saturating_sub(below(3));
                let frame = match below(16) {
                    0..=4 => match subscribed.iter().position(|s| !s) {
                        // Mostly well-behaved: subscribe with a free id, or free one first.
                        Some(free) if below(8) > 0 => {
                            subscribed[free] = true;
                            let ack =
                                ["", "ack:client\n", "ack:client-individual\n"][below(3) as usize];
                            format!(
                                "SUBSCRIBE\nid:{free}\ndestination:/topic/a\n{ack}{receipt}\n\0"
                            )
                        }
                        _ => {
                            subscribed[n as usize % 3] = false;
                            format!("UNSUBSCRIBE\nid:{}\n{receipt}\n\0", n % 3)
                        }
                    },
                    5..=7 => {
                        let dest =
                            ["/app/x", "/topic/a", "/user/bob/queue/q", "/x"][below(4) as usize];
                        if below(2) == 0 {
                            format!("SEND\ndestination:{dest}\n{tx}{receipt}content-length:4\n\nb\0dy\0")
                        } else {
                            format!("SEND\ndestination:{dest}\n{tx}{receipt}\nbody\0")
                        }
                    }
                    8..=10 => {
                        let command = if below(3) == 0 { "NACK" } else { "ACK" };
                        format!("{command}\nid:{m}\nmessage-id:{m}\nsubscription:{n}\n{tx}{receipt}\n\0")
                    }
                    11..=13 if !tx_open || below(16) == 0 => {
                        tx_open = true;
                        format!("BEGIN\ntransaction:t\n{receipt}\n\0")
                    }
                    11..=13 => {
                        tx_open = false;
                        let command = if below(2) == 0 { "COMMIT" } else { "ABORT" };
                        format!("{command}\ntransaction:t\n{receipt}\n\0")
                    }
                    14 => "\n".to_owned(),
                    _ => [
                        "DISCONNECT\nreceipt:bye\n\n\0",
                        "MESSAGE\n\n\0",
                        "CONNECT\n\n\0",
                        "SEND\n\n\0",
                    ][below(4) as usize]
                        .to_owned(),
                };
                if below(4) == 0 && frame.len() > 1 {
                    let mut cut = below(frame.len() as u64) as usize;
                    while !frame.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    ops.push(Op::Message(vec![Piece::Text(frame[..cut].to_owned())]));
                    ops.push(Op::Message(vec![Piece::Text(frame[cut..].to_owned())]));
                } else {
                    ops.push(Op::Message(vec![Piece::Text(frame)]));
                }
            }
            40 => ops.push(Op::Message(
                (0..below(8))
                    .map(|_| Piece::Token(below(TOKENS.len() as u64) as u8))
                    .collect(),
            )),
            41..=50 => {
                deliveries += 1;
                ops.push(Op::Deliver(
                    below(4) as u8,
                    "body:\n\0".repeat(below(3) as usize),
                ))
            }
            51..=54 => ops.push(Op::Advance(below(200) as u16)),
            55..=57 => ops.push(Op::Deadline),
            _ => ops.push(match below(6) {
                0 => Op::Fail,
                1 => Op::Close,
                2 | 3 => Op::Accept(true),
                _ => Op::Refuse,
            }),
        }
    }
    Scenario {
        max_frame: 64 + below(400) as u16,
        max_headers: 6 + below(8) as u8,
        max_line: 40 + below(64) as u16,
        max_subscriptions: 2 + below(3) as u8,
        max_unacked: 1 + below(4) as u8,
        max_transaction_bytes: below(200) as u16,
        tolerance: below(5) as u8,
        ops,
    }
}

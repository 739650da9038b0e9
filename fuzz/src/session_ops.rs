//! The session state machine, driven by an arbitrary sequence of operations on a simulated
//! clock and checked against a model of what the client must see.
//!
//! Invariants checked after every operation:
//!
//! * nothing panics;
//! * at most one receiver: `attach` succeeds only when none is attached, a second one gets
//!   `c[2010,"Another connection still open"]` wrapped for its transport, and a stale receiver
//!   id only ever gets [`Transmit::Ended`];
//! * once the session is closed (or expired), `send` fails with `Closed`;
//! * `poll_timeout()` is `None` exactly when the session has expired (see
//!   [`RAW_HAS_NO_DEADLINE`] for the one documented exception);
//! * every message queued is transmitted once, in order, with nothing invented, and every
//!   message queued before an application close is transmitted before the close frame,
//!   unless the session was aborted or expired (which drop the queue);
//! * `queued_bytes()` never exceeds `max_queued_bytes` + the largest message, and matches
//!   the model's queue exactly (as does `queued_messages()`);
//! * frames are well formed for their transport (the first one `o`, `h` only when nothing else
//!   is due, polling receivers end after one frame, streaming ones at the response limit);
//! * the close event is reported once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use sockjs_core::close::{self, CloseCause};
use sockjs_core::frame::{self, EncodedMessage};
use sockjs_core::framing::Framing;
use sockjs_core::{AttachError, Config, ReceiveMode, ReceiverId, SendError, Session, Transmit};

/// While a [`Framing::Raw`] receiver (the raw `/websocket` endpoint) is attached the session
/// has no heartbeat and so no deadline: `poll_timeout()` is `None` although the session has
/// not expired. This is by design (sockjs-core's `attach` sets no heartbeat for raw
/// receivers, and the websocket driver needs no timer then), so the "None iff expired"
/// invariant is checked with this exception.
pub const RAW_HAS_NO_DEADLINE: bool = true;

/// Which framing an attach uses.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FramingKind {
    /// `xhr`, `xhr_streaming`.
    Newline,
    /// `websocket`.
    WebSocket,
    /// `eventsource`.
    EventSource,
    /// `htmlfile`.
    HtmlFile,
    /// `jsonp`.
    Jsonp,
    /// The raw `/websocket` endpoint.
    Raw,
}

impl FramingKind {
    fn framing(self) -> Framing {
        match self {
            FramingKind::Newline => Framing::Newline,
            FramingKind::WebSocket => Framing::WebSocket,
            FramingKind::EventSource => Framing::EventSource,
            FramingKind::HtmlFile => Framing::HtmlFile {
                callback: "cb".into(),
            },
            FramingKind::Jsonp => Framing::Jsonp {
                callback: "cb".into(),
            },
            FramingKind::Raw => Framing::Raw,
        }
    }
}

/// Which receive mode an attach uses.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeKind {
    /// One frame per receiver.
    Polling,
    /// Until the response limit.
    Streaming,
    /// No limit.
    Unlimited,
}

impl ModeKind {
    fn mode(self) -> ReceiveMode {
        match self {
            ModeKind::Polling => ReceiveMode::Polling,
            ModeKind::Streaming => ReceiveMode::Streaming,
            ModeKind::Unlimited => ReceiveMode::Unlimited,
        }
    }
}

/// One operation on the session.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// Attach a receiver.
    Attach(FramingKind, ModeKind),
    /// Detach the current receiver (`stale`: a receiver that already ended instead).
    Detach {
        /// Whether the receiver was cut (the client went away).
        interrupted: bool,
        /// Detach an old receiver id instead of the current one.
        stale: bool,
    },
    /// The application sends a message (its text is arbitrary; a counter keeps it unique).
    Send(String),
    /// The application sends a message of `n * 64` bytes.
    SendLarge(u8),
    /// The application closes.
    Close(u16, String),
    /// A close for another cause, flushing or not.
    CloseWith(u16, bool),
    /// The driver aborts (e.g. broken framing).
    Abort,
    /// Poll the current receiver (`stale`: an old one) once.
    Poll {
        /// Poll an old receiver id instead.
        stale: bool,
    },
    /// Poll the current receiver until it is idle or ends.
    Drain,
    /// Advance the clock by this many milliseconds, then `handle_timeout`.
    Advance(u16),
    /// Advance the clock exactly to `poll_timeout()`, then `handle_timeout`.
    AdvanceToDeadline,
    /// Call `handle_timeout` without moving the clock.
    HandleTimeout,
    /// Ask for the close event.
    TakeCloseEvent,
}

/// The fuzzer's input: limits and a sequence of operations.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    heartbeat_ms: u16,
    disconnect_ms: u16,
    response_limit: u16,
    max_queued_bytes: u16,
    max_queued_messages: u8,
    ops: Vec<Op>,
}

/// Build a [`Scenario`] from raw bytes and run it, as the `session_ops` target does with its
/// typed input (libfuzzer-sys uses `arbitrary_take_rest` too, so corpus files are the same).
pub fn session_ops(data: &[u8]) {
    if let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) {
        run(&scenario);
    }
}

struct Receiver {
    id: ReceiverId,
    framing: Framing,
    mode: ModeKind,
    sent: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Closing {
    code: u16,
    reason: String,
    /// Queued messages are delivered before the close frame.
    flush: bool,
}

/// What the client must see, and the session's state as the operations determine it.
struct Model {
    start: Instant,
    now: Instant,
    config: Config,
    session: Session,
    current: Option<Receiver>,
    stale: Vec<ReceiverId>,
    /// Messages queued and not yet transmitted, in order.
    queue: VecDeque<(String, EncodedMessage)>,
    open_sent: bool,
    closing: Option<Closing>,
    close_reported: bool,
    expired: bool,
    counter: u64,
    largest_message: usize,
}

/// Undo a transport's wrapping of one frame; checks the wrapping is well formed.
fn unwrap_frame(framing: &Framing, data: &[u8]) -> Vec<u8> {
    match framing {
        Framing::Newline => {
            let body = data
                .strip_suffix(b"\n")
                .expect("newline framing ends with \\n");
            assert!(!body.contains(&b'\n'), "one line per frame: {data:?}");
            body.to_vec()
        }
        Framing::WebSocket | Framing::Raw => data.to_vec(),
        Framing::EventSource => {
            let body = data
                .strip_prefix(b"data: ")
                .and_then(|d| d.strip_suffix(b"\r\n\r\n"))
                .expect("data: <frame>\\r\\n\\r\\n");
            assert!(
                !body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
                "an event's data must not break lines: {data:?}"
            );
            let mut out = Vec::with_capacity(body.len());
            let mut i = 0;
            while i < body.len() {
                if body[i] == b'%' {
                    let escape = body.get(i..i + 3).expect("a complete %XX escape");
                    out.push(match escape {
                        b"%25" => b'%',
                        b"%0D" => b'\r',
                        b"%0A" => b'\n',
                        b"%00" => 0,
                        other => panic!("unexpected escape {other:?}"),
                    });
                    i += 3;
                } else {
                    out.push(body[i]);
                    i += 1;
                }
            }
            out
        }
        Framing::HtmlFile { .. } => {
            let js = data
                .strip_prefix(b"<script>\np(")
                .and_then(|d| d.strip_suffix(b");\n</script>\r\n"))
                .expect("<script>\\np(<string>);\\n</script>\\r\\n");
            js_string(js)
        }
        Framing::Jsonp { callback } => {
            let js = data
                .strip_prefix(format!("/**/{callback}(").as_bytes())
                .and_then(|d| d.strip_suffix(b");\r\n"))
                .expect("/**/cb(<string>);\\r\\n");
            js_string(js)
        }
        other => panic!("unknown framing {other:?}"),
    }
}

/// Decode a JavaScript string literal written by htmlfile/jsonp framing (JSON string syntax,
/// with `<` escaped so no `</script>` can appear).
fn js_string(js: &[u8]) -> Vec<u8> {
    assert!(!js.contains(&b'<'), "'<' must be escaped: {js:?}");
    let text = std::str::from_utf8(js).expect("a JS string literal is UTF-8");
    let mut strings = frame::decode_websocket_payload(text).expect("a JSON string literal");
    assert_eq!(strings.len(), 1);
    strings.pop().unwrap_or_default().into_bytes()
}

impl Model {
    fn new(s: &Scenario) -> Model {
        let mut config = Config::default();
        config.heartbeat_interval = Duration::from_millis(u64::from(s.heartbeat_ms).max(1));
        config.disconnect_delay = Duration::from_millis(u64::from(s.disconnect_ms).max(1));
        config.response_limit = usize::from(s.response_limit).max(1);
        config.max_queued_bytes = usize::from(s.max_queued_bytes).max(1);
        config.max_queued_messages = usize::from(s.max_queued_messages).max(1);
        let start = Instant::now();
        Model {
            start,
            now: start,
            session: Session::new(start, &config),
            config,
            current: None,
            stale: Vec::new(),
            queue: VecDeque::new(),
            open_sent: false,
            closing: None,
            close_reported: false,
            expired: false,
            counter: 0,
            largest_message: 0,
        }
    }

    fn check_state(&self) {
        let s = &self.session;
        assert_eq!(s.is_expired(), self.expired, "expired");
        assert_eq!(s.is_closed(), self.closing.is_some(), "closed");
        assert_eq!(
            s.has_receiver(),
            self.current.is_some(),
            "at most one receiver"
        );
        let raw_attached = self
            .current
            .as_ref()
            .is_some_and(|r| r.framing == Framing::Raw);
        if !(RAW_HAS_NO_DEADLINE && raw_attached) {
            assert_eq!(
                s.poll_timeout().is_none(),
                s.is_expired(),
                "poll_timeout is None iff expired (now = start + {:?})",
                self.now - self.start
            );
        }
        assert_eq!(s.queued_messages(), self.queue.len(), "queued_messages");
        let bytes: usize = self.queue.iter().map(|(_, e)| e.len()).sum();
        assert_eq!(s.queued_bytes(), bytes, "queued_bytes");
        assert!(
            s.queued_bytes() <= self.config.max_queued_bytes + self.largest_message,
            "queued_bytes {} > max_queued_bytes {} + largest message {}",
            s.queued_bytes(),
            self.config.max_queued_bytes,
            self.largest_message
        );
        assert!(s.queued_messages() <= self.config.max_queued_messages);
        if self.expired {
            assert!(self.queue.is_empty(), "an expired session keeps nothing");
        }
    }

    fn send(&mut self, text: String) {
        let was_closed = self.session.is_closed() || self.session.is_expired();
        let encoded = EncodedMessage::new(&text);
        let len = encoded.len();
        match self.session.send(encoded.clone()) {
            Ok(()) => {
                assert!(!was_closed, "send succeeded on a closed session");
                self.largest_message = self.largest_message.max(len);
                self.queue.push_back((text, encoded));
            }
            Err(SendError::Closed(back)) => {
                assert!(was_closed, "send refused as Closed on an open session");
                assert_eq!(back, encoded, "the refused message is handed back");
            }
            Err(SendError::Full(back)) => {
                assert!(!was_closed, "a closed session answers Closed, not Full");
                assert_eq!(back, encoded);
                assert!(!self.queue.is_empty(), "an empty queue takes any message");
                let queued: usize = self.queue.iter().map(|(_, e)| e.len()).sum();
                assert!(
                    queued + len > self.config.max_queued_bytes
                        || self.queue.len() >= self.config.max_queued_messages,
                    "Full with room left"
                );
            }
        }
    }

    fn set_closing(&mut self, closing: Closing) {
        if !closing.flush {
            self.queue.clear();
        }
        self.closing = Some(closing);
    }

    fn attach(&mut self, kind: FramingKind, mode: ModeKind) {
        let framing = kind.framing();
        match self.session.attach(self.now, framing.clone(), mode.mode()) {
            Ok(id) => {
                assert!(!self.expired, "attach to an expired session");
                assert!(self.current.is_none(), "a second receiver was attached");
                if framing == Framing::Raw {
                    self.open_sent = true;
                }
                self.current = Some(Receiver {
                    id,
                    framing,
                    mode,
                    sent: 0,
                });
            }
            Err(AttachError::Expired) => assert!(self.expired, "Expired on a live session"),
            Err(AttachError::AnotherConnection { frame: refused }) => {
                assert!(!self.expired);
                assert!(self.current.is_some(), "refused with no receiver attached");
                let c = close::ANOTHER_CONNECTION;
                let expected = framing.wrap(frame::close_frame(c.code, c.reason).as_bytes());
                assert_eq!(
                    refused, expected,
                    "the 2010 frame wrapped for the refused receiver"
                );
            }
        }
    }

    fn end_receiver(&mut self) {
        if let Some(r) = self.current.take() {
            self.stale.push(r.id);
        }
    }

    fn detach(&mut self, interrupted: bool, stale: bool) {
        if stale {
            if let Some(&id) = self.stale.last() {
                self.session.detach(self.now, id, interrupted);
            }
            return;
        }
        let Some(id) = self.current.as_ref().map(|r| r.id) else {
            return;
        };
        self.session.detach(self.now, id, interrupted);
        self.end_receiver();
        if interrupted && self.closing.is_none() {
            let c = close::INTERRUPTED;
            self.set_closing(Closing {
                code: c.code,
                reason: c.reason.into(),
                flush: false,
            });
        }
    }

    /// Poll once; returns whether the receiver can be polled again.
    fn poll(&mut self, stale: bool) -> bool {
        if stale {
            if let Some(&id) = self.stale.last() {
                assert_eq!(
                    self.session.poll_transmit(self.now, id),
                    Transmit::Ended,
                    "a receiver that ended gets nothing more"
                );
            }
            return false;
        }
        let Some(r) = self.current.as_ref() else {
            return false;
        };
        let (id, framing, mode) = (r.id, r.framing.clone(), r.mode);
        let t = self.session.poll_transmit(self.now, id);
        match t {
            Transmit::Ended => panic!("the attached receiver was told it ended"),
            Transmit::Idle => {
                assert!(self.open_sent, "idle before the open frame");
                assert!(self.queue.is_empty(), "idle with messages queued");
                assert!(self.closing.is_none(), "idle on a closed session");
                false
            }
            Transmit::Close { code, reason } => {
                assert_eq!(
                    framing,
                    Framing::Raw,
                    "Transmit::Close is for raw receivers only"
                );
                let closing = self.closing.clone().expect("a close with no close");
                assert!(
                    self.queue.is_empty() || !closing.flush,
                    "close before the queued messages were sent"
                );
                assert_eq!((code, reason), (closing.code, closing.reason));
                self.queue.clear();
                self.end_receiver();
                false
            }
            Transmit::Frame { data, end } => {
                if framing == Framing::Raw {
                    assert!(!end, "a raw receiver ends with Transmit::Close");
                    let (_, expected) = self.queue.pop_front().expect("a raw message not queued");
                    assert!(self.closing.as_ref().is_none_or(|c| c.flush));
                    assert_eq!(&data[..], expected.as_bytes(), "raw messages in order");
                    return true;
                }
                let inner = unwrap_frame(&framing, &data);
                let mut is_close = false;
                if !self.open_sent {
                    assert_eq!(inner, b"o", "the first frame is the open frame");
                    self.open_sent = true;
                } else if inner == b"h" {
                    assert!(self.queue.is_empty(), "a heartbeat with messages queued");
                    assert!(self.closing.is_none(), "a heartbeat on a closed session");
                } else if inner.first() == Some(&b'a') {
                    let messages =
                        frame::decode_messages(&inner[1..]).expect("a[...] is an array of strings");
                    assert!(self.closing.as_ref().is_none_or(|c| c.flush));
                    let expected: Vec<String> = self.queue.drain(..).map(|(m, _)| m).collect();
                    assert!(!expected.is_empty(), "an empty a[] frame");
                    assert_eq!(messages, expected, "messages lost, reordered or invented");
                } else if inner.first() == Some(&b'c') {
                    let closing = self.closing.clone().expect("a close frame with no close");
                    assert!(
                        self.queue.is_empty() || !closing.flush,
                        "close frame before the queued messages: {} left",
                        self.queue.len()
                    );
                    assert_eq!(
                        inner,
                        frame::close_frame(closing.code, &closing.reason).into_bytes(),
                        "the close frame"
                    );
                    self.queue.clear();
                    is_close = true;
                } else {
                    panic!("unknown frame {:?}", String::from_utf8_lossy(&inner));
                }
                let Some(r) = self.current.as_mut() else {
                    unreachable!()
                };
                r.sent += data.len();
                let expected_end = is_close
                    || match mode {
                        ModeKind::Polling => true,
                        ModeKind::Streaming => r.sent >= self.config.response_limit,
                        ModeKind::Unlimited => false,
                    };
                assert_eq!(
                    end, expected_end,
                    "end of receiver ({mode:?}, {} bytes)",
                    r.sent
                );
                if end {
                    self.end_receiver();
                }
                !end
            }
        }
    }

    fn handle_timeout(&mut self) {
        let deadline = self.session.poll_timeout();
        self.session.handle_timeout(self.now);
        let due = deadline.is_some_and(|d| d <= self.now);
        if due && self.current.is_none() && !self.expired {
            self.expired = true;
            self.queue.clear();
            if self.closing.is_none() {
                let c = close::INTERRUPTED;
                self.closing = Some(Closing {
                    code: c.code,
                    reason: c.reason.into(),
                    flush: false,
                });
            }
        }
        // After handle_timeout the next deadline is in the future: a deadline left at or
        // before `now` would make a driver's timer spin.
        if let Some(next) = self.session.poll_timeout() {
            assert!(next > self.now, "deadline not moved past now");
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Attach(kind, mode) => self.attach(*kind, *mode),
            Op::Detach { interrupted, stale } => self.detach(*interrupted, *stale),
            Op::Send(text) => {
                self.counter += 1;
                let text = format!("{}:{text}", self.counter);
                self.send(text);
            }
            Op::SendLarge(n) => {
                self.counter += 1;
                let text = format!("{}:{}", self.counter, "x".repeat(usize::from(*n) * 64));
                self.send(text);
            }
            Op::Close(code, reason) => {
                let was = self.session.is_closed() || self.session.is_expired();
                let closed = self.session.close(*code, reason);
                assert_eq!(closed, !was, "close returns whether it closed");
                if closed {
                    self.set_closing(Closing {
                        code: *code,
                        reason: reason.clone(),
                        flush: true,
                    });
                }
            }
            Op::CloseWith(code, flush) => {
                let was = self.session.is_closed() || self.session.is_expired();
                let closed =
                    self.session
                        .close_with(CloseCause::LimitExceeded, *code, "limit", *flush);
                assert_eq!(closed, !was);
                if closed {
                    self.set_closing(Closing {
                        code: *code,
                        reason: "limit".into(),
                        flush: *flush,
                    });
                }
            }
            Op::Abort => {
                let was = self.session.is_closed() || self.session.is_expired();
                let c = close::INTERRUPTED;
                let closed = self.session.abort(CloseCause::ProtocolError, &c);
                assert_eq!(closed, !was);
                if closed {
                    self.set_closing(Closing {
                        code: c.code,
                        reason: c.reason.into(),
                        flush: false,
                    });
                }
            }
            Op::Poll { stale } => {
                self.poll(*stale);
            }
            Op::Drain => {
                // Bounded: a streaming receiver with a huge limit and heartbeats never ends,
                // but each poll without a new input is at most one heartbeat.
                for _ in 0..64 {
                    if !self.poll(false) {
                        break;
                    }
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.handle_timeout();
            }
            Op::AdvanceToDeadline => {
                if let Some(deadline) = self.session.poll_timeout() {
                    self.now = self.now.max(deadline);
                }
                self.handle_timeout();
            }
            Op::HandleTimeout => self.handle_timeout(),
            Op::TakeCloseEvent => {
                let event = self.session.take_close_event();
                if self.closing.is_some() && !self.close_reported {
                    assert!(event.is_some(), "the close event is reported");
                    self.close_reported = true;
                } else {
                    assert!(
                        event.is_none(),
                        "the close event is reported once, after a close"
                    );
                }
            }
        }
        self.check_state();
    }
}

/// Run a scenario; panics on the first broken invariant.
pub fn run(scenario: &Scenario) {
    let mut model = Model::new(scenario);
    model.check_state();
    for op in &scenario.ops {
        model.apply(op);
    }
    // The end of a life: whatever was still queued under an application close reaches the
    // next receiver before the close frame (unless the session expires first).
    if model.closing.as_ref().is_some_and(|c| c.flush) && !model.expired {
        model.detach(false, false);
        model.attach(FramingKind::Newline, ModeKind::Unlimited);
        model.apply(&Op::Drain);
        assert!(model.queue.is_empty(), "messages left behind by the close");
    }
}

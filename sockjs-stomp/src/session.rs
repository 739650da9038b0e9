//! The per-session STOMP state machine: the protocol half of a broker, without I/O.
//!
//! See the [crate docs](crate) for the contract with the driver. In short: feed it with
//! [`Session::handle_message`], [`Session::handle_timeout`], [`Session::deliver`] and the
//! authenticator's answer ([`Session::accept`] / [`Session::refuse`]); after each input,
//! perform every [`Output`] from [`Session::poll_output`] in order, then re-arm the timer
//! from [`Session::poll_timeout`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::decode::{DecodeError, Decoder, Item};
use crate::encode::{self, MessageFrame, HEART_BEAT};
use crate::frame::{Command, Frame, Headers, Version};
use crate::heartbeat::{self, Timers};
use crate::route::Route;

/// A subscription's acknowledgement mode (the `ack` header of `SUBSCRIBE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckMode {
    /// Messages count as acknowledged when sent (the default).
    Auto,
    /// The client acknowledges with `ACK`, cumulatively: acknowledging a message
    /// acknowledges every earlier unacknowledged message of the same subscription
    /// (`NACK` likewise).
    Client,
    /// The client acknowledges each message on its own.
    ClientIndividual,
}

impl AckMode {
    /// Parses the `ack` header (absent means `auto`).
    pub fn parse(value: Option<&str>) -> Option<AckMode> {
        match value {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }
}

/// Why a session ended with an `ERROR` frame. Its `Display` is the frame's `message` header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The client's bytes are not a valid frame.
    Decode(DecodeError),
    /// A frame other than `CONNECT`/`STOMP` came first.
    NotConnected(Command),
    /// A second `CONNECT`/`STOMP`.
    AlreadyConnected,
    /// `accept-version` lists no version this server speaks (the header's value).
    UnsupportedVersion(String),
    /// The `heart-beat` header is malformed.
    InvalidHeartBeat(heartbeat::InvalidHeartBeat),
    /// The client sent a server command (`MESSAGE`, `RECEIPT`, `ERROR`, `CONNECTED`).
    ServerCommand(Command),
    /// A required header is missing.
    MissingHeader {
        /// The frame's command.
        command: Command,
        /// The header.
        header: &'static str,
    },
    /// The `ack` header of `SUBSCRIBE` is not `auto`, `client` or `client-individual`.
    InvalidAckMode(String),
    /// A `SUBSCRIBE` reuses the id of a live subscription.
    DuplicateSubscription(String),
    /// A `SUBSCRIBE` beyond [`Config::max_subscriptions`].
    TooManySubscriptions(usize),
    /// A frame names a transaction that is not open.
    UnknownTransaction(String),
    /// A `BEGIN` reuses the id of an open transaction.
    DuplicateTransaction(String),
    /// A `BEGIN` beyond [`Config::max_transactions`].
    TooManyTransactions(usize),
    /// Open transactions would hold more than [`Config::max_transaction_bytes`].
    TransactionTooLarge(usize),
    /// The client sent nothing for its heart-beat interval times the tolerance (that time).
    HeartBeatTimeout(Duration),
    /// No `CONNECT` was completed within [`Config::connect_timeout`].
    ConnectTimeout(Duration),
    /// While the authenticator was deciding, the client sent more than
    /// [`Limits::max_frame_size`](crate::decode::Limits::max_frame_size) bytes.
    TooMuchBeforeConnected(usize),
    /// The authenticator refused the `CONNECT` (its message).
    Refused(String),
    /// The driver could not perform an output, e.g. the authorization of a `SUBSCRIBE`
    /// failed (its message).
    Failed(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Decode(e) => write!(f, "malformed frame: {e}"),
            SessionError::NotConnected(c) => write!(f, "{c} before CONNECT"),
            SessionError::AlreadyConnected => f.write_str("already connected"),
            SessionError::UnsupportedVersion(v) => {
                write!(f, "unsupported STOMP version {v:?}; supported: 1.0,1.1,1.2")
            }
            SessionError::InvalidHeartBeat(e) => e.fmt(f),
            SessionError::ServerCommand(c) => write!(f, "{c} is a server frame"),
            SessionError::MissingHeader { command, header } => {
                write!(f, "{command} without a {header} header")
            }
            SessionError::InvalidAckMode(m) => write!(f, "invalid ack mode {m:?}"),
            SessionError::DuplicateSubscription(id) => {
                write!(f, "subscription id {id:?} is already in use")
            }
            SessionError::TooManySubscriptions(n) => write!(f, "more than {n} subscriptions"),
            SessionError::UnknownTransaction(t) => write!(f, "no open transaction {t:?}"),
            SessionError::DuplicateTransaction(t) => {
                write!(f, "transaction {t:?} is already open")
            }
            SessionError::TooManyTransactions(n) => {
                write!(f, "more than {n} open transactions")
            }
            SessionError::TransactionTooLarge(n) => {
                write!(f, "open transactions hold more than {n} bytes")
            }
            SessionError::HeartBeatTimeout(d) => {
                write!(f, "no data from the client for {} ms", d.as_millis())
            }
            SessionError::ConnectTimeout(d) => {
                write!(f, "no CONNECT completed within {} ms", d.as_millis())
            }
            SessionError::TooMuchBeforeConnected(n) => {
                write!(f, "more than {n} bytes sent before CONNECTED")
            }
            SessionError::Refused(m) | SessionError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SessionError {}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent `DISCONNECT`.
    Disconnect,
    /// The server sent `ERROR`.
    Error(SessionError),
    /// The SockJS session ended first ([`Session::handle_close`]).
    TransportClosed,
}

impl CloseReason {
    /// The SockJS close code and reason to close with: `1000 "Normal closure"` after
    /// `DISCONNECT`, `1002 "STOMP protocol error"` after an `ERROR` frame (Spring closes with
    /// 1002, "protocol error", too).
    pub fn sockjs_close(&self) -> (u16, &'static str) {
        match self {
            CloseReason::Error(_) => (1002, "STOMP protocol error"),
            CloseReason::Disconnect | CloseReason::TransportClosed => (1000, "Normal closure"),
        }
    }
}

/// What the authenticator gets: the `CONNECT` (or `STOMP`) frame's headers and the version
/// the session will speak. Its `Debug` output hides `passcode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The version the session will speak once accepted.
    pub version: Version,
    /// `CONNECT` or `STOMP`.
    pub command: Command,
    /// Every header of the frame (never unescaped: handshake frames are not escaped).
    pub headers: Headers,
}

impl ConnectRequest {
    /// The `login` header.
    pub fn login(&self) -> Option<&str> {
        self.headers.get("login")
    }

    /// The `passcode` header.
    pub fn passcode(&self) -> Option<&str> {
        self.headers.get("passcode")
    }

    /// The `host` header (required by the 1.1 and 1.2 specs, but @stomp/stompjs does not
    /// send it, so it is not enforced).
    pub fn host(&self) -> Option<&str> {
        self.headers.get("host")
    }
}

/// A `SUBSCRIBE` for the broker to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The subscription's id, unique in the session: what [`Session::deliver`] takes. A 1.0
    /// client may subscribe without an id; the destination is the id then.
    pub id: String,
    /// The destination as the client wrote it.
    pub destination: String,
    /// Where it goes ([`Routing::route_subscribe`](crate::Routing::route_subscribe)).
    pub route: Route,
    /// The acknowledgement mode.
    pub ack: AckMode,
    /// Every header of the frame.
    pub headers: Headers,
}

/// An `UNSUBSCRIBE` of a live subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeRequest {
    /// The subscription's id.
    pub id: String,
    /// Its destination.
    pub destination: String,
    /// Its route.
    pub route: Route,
    /// Messages sent on it and never acknowledged (their `message-id`s), now abandoned.
    pub unacked: Vec<String>,
}

/// A `SEND` for the application or the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// The destination as the client wrote it.
    pub destination: String,
    /// Where it goes ([`Routing::route_send`](crate::Routing::route_send)).
    pub route: Route,
    /// The `content-type` header.
    pub content_type: Option<String>,
    /// Every header of the frame (custom ones are usually copied into the `MESSAGE`s).
    pub headers: Headers,
    /// The body.
    pub body: String,
}

/// Messages acknowledged (`ACK`) or rejected (`NACK`) by the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckRequest {
    /// The subscription they were sent on.
    pub subscription: String,
    /// Their `message-id`s, oldest first (several for a cumulative `client` acknowledgement).
    pub message_ids: Vec<String>,
}

/// One thing for the driver to do. Outputs come in the order the driver must perform them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send this string as one SockJS message (a frame, or [`HEART_BEAT`]).
    Transmit(String),
    /// Send this `MESSAGE` frame as one SockJS message, like a [`Output::Transmit`]: write
    /// it with [`MessageOut::write`] or [`MessageOut::encode`].
    Message(MessageOut),
    /// Ask the authenticator about this `CONNECT`; answer with [`Session::accept`] or
    /// [`Session::refuse`]. Until then the session processes nothing more from the client.
    Authenticate(ConnectRequest),
    /// Register a subscription (after authorizing it).
    Subscribe(SubscribeRequest),
    /// Remove a subscription.
    Unsubscribe(UnsubscribeRequest),
    /// Hand a `SEND` to the application or the broker (after authorizing it).
    Publish(Publish),
    /// The client acknowledged these messages.
    Ack(AckRequest),
    /// The client rejected these messages.
    Nack(AckRequest),
    /// The STOMP session is over: drop every subscription and unacknowledged message of
    /// this session. Comes once, for any session that reached `CONNECTED`.
    Disconnect,
    /// Close the SockJS session (after sending every `Transmit` before this one), e.g. with
    /// [`CloseReason::sockjs_close`]. Nothing follows it.
    Close(CloseReason),
}

/// A message for a subscriber, as the broker hands it to [`Session::deliver`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The destination it was published to. For a subscription to a user destination the
    /// `MESSAGE` shows the subscription's own destination instead (`/user/queue/x`).
    pub destination: String,
    /// Its `content-type`.
    pub content_type: Option<String>,
    /// Extra headers for the `MESSAGE` frame (e.g. the publisher's custom headers); the
    /// names in [`RESERVED_MESSAGE_HEADERS`](crate::encode::RESERVED_MESSAGE_HEADERS) are
    /// skipped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// A `MESSAGE` frame to send ([`Output::Message`]): what one delivery adds (its
/// subscription, message id and `ack` header) to the message it shares with the other
/// subscribers'. It is written where it is sent, into a buffer reused from message to
/// message.
///
/// ```
/// use std::sync::Arc;
/// use sockjs_stomp::session::{OutboundMessage, Output, Session};
/// use sockjs_stomp::Config;
/// # use std::time::Instant;
/// # let now = Instant::now();
/// # let mut session = Session::new(now, Arc::new(Config::default()));
/// # session.handle_message(now, "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
/// # while session.poll_output().is_some() {}
/// # session.accept(now, None).unwrap();
/// # session.handle_message(now, "SUBSCRIBE\nid:sub-0\ndestination:/topic/a\n\n\0");
/// # while session.poll_output().is_some() {}
/// let message = Arc::new(OutboundMessage {
///     destination: "/topic/a".into(),
///     body: "hi".into(),
///     ..OutboundMessage::default()
/// });
/// let id = session.deliver(now, "sub-0", &message).unwrap();
/// let Some(Output::Message(frame)) = session.poll_output() else { unreachable!() };
/// assert_eq!(frame.message_id(), id);
/// assert_eq!(
///     frame.encode(),
///     format!("MESSAGE\nsubscription:sub-0\nmessage-id:{id}\ndestination:/topic/a\ncontent-length:2\n\nhi\0"),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageOut {
    version: Version,
    subscription: Option<Arc<str>>,
    message_id: u64,
    ack: bool,
    /// The subscription's own destination, shown instead of the message's (user
    /// destinations).
    destination: Option<Arc<str>>,
    message: Arc<OutboundMessage>,
}

impl MessageOut {
    /// The `message-id` (what [`Session::deliver`] returned).
    pub fn message_id(&self) -> u64 {
        self.message_id
    }

    /// The message, shared with the other subscribers it went to.
    pub fn message(&self) -> &Arc<OutboundMessage> {
        &self.message
    }

    /// Appends the frame to `out` (a buffer the driver reuses from message to message).
    pub fn write(&self, out: &mut String) {
        let mut id = itoa::Buffer::new();
        let id = id.format(self.message_id);
        self.frame(id).write(self.version, out);
    }

    /// About how long the frame is, in bytes (room enough unless headers need escaping).
    pub fn text_len_hint(&self) -> usize {
        self.frame("").text_len_hint() + 40
    }

    /// The frame as a string.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.text_len_hint());
        self.write(&mut out);
        out
    }

    fn frame<'a>(&'a self, message_id: &'a str) -> MessageFrame<'a> {
        let message = &*self.message;
        MessageFrame {
            subscription: self.subscription.as_deref(),
            message_id,
            ack: self.ack.then_some(message_id),
            destination: self.destination.as_deref().unwrap_or(&message.destination),
            content_type: message.content_type.as_deref(),
            headers: &message.headers,
            body: &message.body,
        }
    }
}

/// Why [`Session::deliver`] did not send a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliverError {
    /// The session is not (or no longer) connected.
    NotConnected,
    /// The session has no subscription with this id.
    UnknownSubscription,
    /// The subscription needs acknowledgements and the session already holds
    /// [`Config::max_unacked`] unacknowledged messages. Try again after an
    /// [`Output::Ack`]/[`Output::Nack`], or drop the message.
    TooManyUnacked,
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliverError::NotConnected => "the session is not connected",
            DeliverError::UnknownSubscription => "no such subscription",
            DeliverError::TooManyUnacked => "too many unacknowledged messages",
        })
    }
}

impl std::error::Error for DeliverError {}

/// [`Session::accept`] or [`Session::refuse`] without an [`Output::Authenticate`] pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAuthenticating;

impl fmt::Display for NotAuthenticating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no CONNECT is waiting for the authenticator")
    }
}

impl std::error::Error for NotAuthenticating {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingConnect,
    Authenticating,
    Connected,
    Closed,
}

#[derive(Clone, Debug)]
struct Subscription {
    /// Shared with the `MESSAGE` frames of a user destination (`/user/queue/x`), which show
    /// it instead of the message's destination.
    destination: Arc<str>,
    ack: AckMode,
    route: Route,
    /// Whether the client gave the id (1.0 subscriptions may have none).
    explicit_id: bool,
}

/// A frame body and headers held in an open transaction.
#[derive(Debug, Default)]
struct Transaction {
    frames: Vec<Frame>,
    bytes: usize,
}

/// An output with the `receipt` of the frame it came from (for [`Session::fail`]).
#[derive(Debug)]
struct Entry {
    output: Output,
    receipt: Option<String>,
}

/// One STOMP session over one SockJS session (see the [module docs](self)).
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    state: State,
    decoder: Decoder,
    outputs: VecDeque<Entry>,
    /// The version agreed with the client (set when `CONNECT` is read).
    version: Option<Version>,
    /// Whether `CONNECTED` was sent (from then on frames are escaped for `version`).
    connected_sent: bool,
    client_heart_beat: (u64, u64),
    user: Option<String>,
    timers: Timers,
    connect_deadline: Option<Instant>,
    /// By the client's id, which the `MESSAGE` frames and `unacked` share.
    subscriptions: HashMap<Arc<str>, Subscription>,
    /// Unacknowledged messages: message id → subscription id.
    unacked: BTreeMap<u64, Arc<str>>,
    next_message_id: u64,
    transactions: HashMap<String, Transaction>,
    transaction_bytes: usize,
    last_polled_receipt: Option<String>,
    close_reason: Option<CloseReason>,
}

impl Session {
    /// A session whose SockJS session opened at `now`; it waits for `CONNECT`.
    pub fn new(now: Instant, config: Arc<Config>) -> Session {
        let connect_deadline = now.checked_add(config.connect_timeout);
        Session {
            decoder: Decoder::new(config.limits.clone()),
            config,
            state: State::AwaitingConnect,
            outputs: VecDeque::new(),
            version: None,
            connected_sent: false,
            client_heart_beat: (0, 0),
            user: None,
            timers: Timers::new(now),
            connect_deadline,
            subscriptions: HashMap::new(),
            unacked: BTreeMap::new(),
            next_message_id: 0,
            transactions: HashMap::new(),
            transaction_bytes: 0,
            last_polled_receipt: None,
            close_reason: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The version agreed with the client, once `CONNECT` was read.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The user the authenticator named, once accepted.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether `CONNECTED` was sent and the session has not ended.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the session has ended (its last outputs may still be waiting to be polled).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Why the session ended, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// The destination and ack mode of the subscription `id`.
    pub fn subscription(&self, id: &str) -> Option<(&str, AckMode)> {
        self.subscriptions.get(id).map(|s| (&*s.destination, s.ack))
    }

    /// Number of messages sent and not acknowledged yet.
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Bytes the decoder holds (an incomplete frame, or frames waiting for the
    /// authenticator).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// Input: one SockJS message from the client, received at `now`.
    pub fn handle_message(&mut self, now: Instant, message: &str) {
        if self.state == State::Closed {
            return;
        }
        self.timers.received(now);
        self.decoder.push(message);
        if self.state != State::Authenticating {
            self.pump(now);
        }
        // What arrives while the authenticator decides (including the rest of the message
        // that carried CONNECT) waits undecoded, up to one frame's limit.
        if self.state == State::Authenticating {
            let limit = self.config.limits.max_frame_size;
            if self.decoder.buffered() > limit {
                self.error(now, SessionError::TooMuchBeforeConnected(limit), None);
            }
        }
    }

    /// Input: the timer set from [`Session::poll_timeout`] fired (or any time; early calls
    /// do nothing). Sends a heart-beat when one is due, ends the session with `ERROR` when
    /// the client has been silent too long or never completed `CONNECT`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if self.connect_deadline.is_some_and(|d| now >= d) {
            let timeout = self.config.connect_timeout;
            self.error(now, SessionError::ConnectTimeout(timeout), None);
            return;
        }
        if self.timers.receive_deadline().is_some_and(|d| now >= d) {
            let timeout = self.timers.read_timeout().unwrap_or_default();
            self.error(now, SessionError::HeartBeatTimeout(timeout), None);
            return;
        }
        if self.timers.send_deadline().is_some_and(|d| now >= d) {
            self.transmit(now, HEART_BEAT.to_owned());
        }
    }

    /// Input: the SockJS session ended (the client went away or the server closed it). The
    /// session emits [`Output::Disconnect`] if it was connected, and nothing after.
    pub fn handle_close(&mut self, _now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let was_connected = self.state == State::Connected;
        self.end(CloseReason::TransportClosed);
        if was_connected {
            self.push(Output::Disconnect, None);
        }
    }

    /// The authenticator accepted the `CONNECT` of the last [`Output::Authenticate`]: the
    /// session sends `CONNECTED` (with `user-name` when `user` is given, as Spring does),
    /// starts heart-beating and processes what the client sent meanwhile.
    pub fn accept(&mut self, now: Instant, user: Option<String>) -> Result<(), NotAuthenticating> {
        if self.state != State::Authenticating {
            return Err(NotAuthenticating);
        }
        let version = self.version.unwrap_or(Version::V1_0);
        let server = self.config.heart_beat_header();
        let advertised = if version.has_heart_beats() {
            self.timers.start(
                now,
                heartbeat::negotiate(self.client_heart_beat, server),
                self.config.heartbeat_tolerance,
            );
            server
        } else {
            (0, 0)
        };
        self.state = State::Connected;
        self.connect_deadline = None;
        self.connected_sent = true;
        self.decoder.set_version(Some(version));
        let frame = encode::connected(
            version,
            advertised,
            self.config.server_name.as_deref(),
            user.as_deref(),
        );
        self.user = user;
        self.transmit(now, frame);
        self.pump(now);
        Ok(())
    }

    /// The authenticator refused the `CONNECT`: the session sends `ERROR` with `message`
    /// and closes.
    pub fn refuse(&mut self, now: Instant, message: &str) -> Result<(), NotAuthenticating> {
        if self.state != State::Authenticating {
            return Err(NotAuthenticating);
        }
        self.error(now, SessionError::Refused(message.to_owned()), None);
        Ok(())
    }

    /// The driver could not perform the output it polled last (authorization denied, broker
    /// unavailable, ...): outputs not polled yet are dropped, and the session sends `ERROR`
    /// with `message` (and `receipt-id` when that output's frame asked for a receipt) and
    /// closes.
    pub fn fail(&mut self, now: Instant, message: &str) {
        if self.state == State::Closed {
            return;
        }
        let receipt = self.last_polled_receipt.take();
        self.outputs.clear();
        self.error(now, SessionError::Failed(message.to_owned()), receipt);
    }

    /// Input from the broker: send `message` on the subscription `subscription`. Returns
    /// the `message-id` it got (unique in this session), which [`Output::Ack`] and
    /// [`Output::Nack`] report. The `MESSAGE` frame is queued as an [`Output::Message`],
    /// which shares `message` (a fan-out's subscribers all share one).
    pub fn deliver(
        &mut self,
        now: Instant,
        subscription: &str,
        message: &Arc<OutboundMessage>,
    ) -> Result<u64, DeliverError> {
        if self.state != State::Connected {
            return Err(DeliverError::NotConnected);
        }
        let version = self.version.unwrap_or(Version::V1_0);
        let (sub_id, sub) = self
            .subscriptions
            .get_key_value(subscription)
            .ok_or(DeliverError::UnknownSubscription)?;
        let needs_ack = sub.ack != AckMode::Auto;
        if needs_ack && self.unacked.len() >= self.config.max_unacked {
            return Err(DeliverError::TooManyUnacked);
        }
        let id = self.next_message_id;
        self.next_message_id += 1;
        let out = MessageOut {
            version,
            subscription: sub.explicit_id.then(|| Arc::clone(sub_id)),
            message_id: id,
            ack: needs_ack && version == Version::V1_2,
            destination: matches!(sub.route, Route::User { .. })
                .then(|| Arc::clone(&sub.destination)),
            message: Arc::clone(message),
        };
        if needs_ack {
            self.unacked.insert(id, Arc::clone(sub_id));
        }
        self.timers.sent(now);
        self.push(Output::Message(out), None);
        Ok(id)
    }

    /// Output: the next thing to do, in order; `None` when there is nothing left.
    pub fn poll_output(&mut self) -> Option<Output> {
        let entry = self.outputs.pop_front()?;
        self.last_polled_receipt = entry.receipt;
        Some(entry.output)
    }

    /// Output: when to call [`Session::handle_timeout`] next; `None` once closed (or when
    /// nothing is timed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        [
            self.connect_deadline,
            self.timers.receive_deadline(),
            self.timers.send_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn push(&mut self, output: Output, receipt: Option<String>) {
        self.outputs.push_back(Entry { output, receipt });
    }

    fn transmit(&mut self, now: Instant, text: String) {
        self.timers.sent(now);
        self.push(Output::Transmit(text), None);
    }

    /// The version frames to the client are escaped for (none before `CONNECTED`).
    fn wire_version(&self) -> Option<Version> {
        if self.connected_sent {
            self.version
        } else {
            None
        }
    }

    fn receipt(&mut self, now: Instant, receipt: Option<String>) {
        if let Some(id) = receipt {
            let frame = encode::receipt(self.wire_version(), &id);
            self.transmit(now, frame);
        }
    }

    /// Marks the session closed and frees what it holds.
    fn end(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.close_reason = Some(reason);
        self.connect_deadline = None;
        self.timers.stop();
        self.decoder = Decoder::new(self.config.limits.clone());
        self.subscriptions = HashMap::new();
        self.unacked = BTreeMap::new();
        self.transactions = HashMap::new();
        self.transaction_bytes = 0;
    }

    /// Sends `ERROR` and closes.
    fn error(&mut self, now: Instant, error: SessionError, receipt: Option<String>) {
        if self.state == State::Closed {
            return;
        }
        let was_connected = self.state == State::Connected;
        let message = error.to_string();
        let extra: &[(&str, &str)] = match error {
            SessionError::UnsupportedVersion(_) => &[("version", "1.0,1.1,1.2")],
            _ => &[],
        };
        let frame = encode::error(
            self.wire_version(),
            &message,
            receipt.as_deref(),
            extra,
            &message,
        );
        self.transmit(now, frame);
        self.end(CloseReason::Error(error.clone()));
        if was_connected {
            self.push(Output::Disconnect, None);
        }
        self.push(Output::Close(CloseReason::Error(error)), None);
    }

    /// Decodes and handles frames until the buffer runs dry or processing must pause.
    fn pump(&mut self, now: Instant) {
        while matches!(self.state, State::AwaitingConnect | State::Connected) {
            match self.decoder.next_item() {
                Ok(None) => break,
                Ok(Some(Item::HeartBeat)) => {}
                Ok(Some(Item::Frame(frame))) => {
                    let receipt = frame.headers.get("receipt").map(str::to_owned);
                    if let Err(e) = self.handle_frame(now, frame) {
                        self.error(now, e, receipt);
                    }
                }
                Err(e) => self.error(now, SessionError::Decode(e), None),
            }
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: Frame) -> Result<(), SessionError> {
        let command = frame.command;
        if !command.is_client_command() {
            return Err(SessionError::ServerCommand(command));
        }
        match (self.state, command) {
            (State::AwaitingConnect, Command::Connect | Command::Stomp) => self.on_connect(frame),
            (State::AwaitingConnect, _) => Err(SessionError::NotConnected(command)),
            (_, Command::Connect | Command::Stomp) => Err(SessionError::AlreadyConnected),
            _ => self.on_frame(now, frame, false),
        }
    }

    fn on_connect(&mut self, frame: Frame) -> Result<(), SessionError> {
        let accept = frame.headers.get("accept-version");
        let version = Version::negotiate(accept).ok_or_else(|| {
            SessionError::UnsupportedVersion(accept.unwrap_or_default().chars().take(64).collect())
        })?;
        if version.has_heart_beats() {
            if let Some(value) = frame.headers.get("heart-beat") {
                self.client_heart_beat =
                    heartbeat::parse(value).map_err(SessionError::InvalidHeartBeat)?;
            }
        }
        self.version = Some(version);
        self.state = State::Authenticating;
        self.push(
            Output::Authenticate(ConnectRequest {
                version,
                command: frame.command,
                headers: frame.headers,
            }),
            None,
        );
        Ok(())
    }

    /// Handles a frame of a connected session; `replay` is set for frames committed from a
    /// transaction (validated and receipted when they arrived).
    fn on_frame(
        &mut self,
        now: Instant,
        mut frame: Frame,
        replay: bool,
    ) -> Result<(), SessionError> {
        let command = frame.command;
        let receipt = if replay {
            None
        } else {
            frame.headers.get("receipt").map(str::to_owned)
        };
        let required = |frame: &Frame, header: &'static str| -> Result<String, SessionError> {
            frame
                .headers
                .get(header)
                .map(str::to_owned)
                .ok_or(SessionError::MissingHeader { command, header })
        };
        match command {
            Command::Send | Command::Ack | Command::Nack => {
                if command == Command::Send {
                    required(&frame, "destination")?;
                } else {
                    self.ack_id_header(&frame)?;
                }
                if !replay {
                    if let Some(tx) = frame.headers.get("transaction").map(str::to_owned) {
                        self.hold(tx, frame)?;
                        self.receipt(now, receipt);
                        return Ok(());
                    }
                }
                match command {
                    Command::Send => {
                        let destination = required(&frame, "destination")?;
                        let route = self.config.routing.route_send(&destination);
                        let content_type = frame.headers.get("content-type").map(str::to_owned);
                        let body = std::mem::take(&mut frame.body);
                        self.push(
                            Output::Publish(Publish {
                                destination,
                                route,
                                content_type,
                                headers: frame.headers,
                                body,
                            }),
                            receipt.clone(),
                        );
                    }
                    _ => self.on_ack(&frame, receipt.clone())?,
                }
            }
            Command::Subscribe => {
                let destination = required(&frame, "destination")?;
                let explicit = frame.headers.get("id").map(str::to_owned);
                let version = self.version.unwrap_or(Version::V1_0);
                let id = match explicit.clone() {
                    Some(id) => id,
                    None if version == Version::V1_0 => destination.clone(),
                    None => {
                        return Err(SessionError::MissingHeader {
                            command,
                            header: "id",
                        })
                    }
                };
                let ack_header = frame.headers.get("ack");
                let ack = AckMode::parse(ack_header).ok_or_else(|| {
                    SessionError::InvalidAckMode(
                        ack_header.unwrap_or_default().chars().take(64).collect(),
                    )
                })?;
                if self.subscriptions.contains_key(id.as_str()) {
                    return Err(SessionError::DuplicateSubscription(id));
                }
                if self.subscriptions.len() >= self.config.max_subscriptions {
                    return Err(SessionError::TooManySubscriptions(
                        self.config.max_subscriptions,
                    ));
                }
                let route = self
                    .config
                    .routing
                    .route_subscribe(&destination, self.user.as_deref());
                self.subscriptions.insert(
                    Arc::from(id.as_str()),
                    Subscription {
                        destination: Arc::from(destination.as_str()),
                        ack,
                        route: route.clone(),
                        explicit_id: explicit.is_some(),
                    },
                );
                self.push(
                    Output::Subscribe(SubscribeRequest {
                        id,
                        destination,
                        route,
                        ack,
                        headers: frame.headers,
                    }),
                    receipt.clone(),
                );
            }
            Command::Unsubscribe => {
                let version = self.version.unwrap_or(Version::V1_0);
                let id = match frame.headers.get("id") {
                    Some(id) => id.to_owned(),
                    None if version == Version::V1_0 => required(&frame, "destination")?,
                    None => {
                        return Err(SessionError::MissingHeader {
                            command,
                            header: "id",
                        })
                    }
                };
                // Unknown ids are ignored, as Spring does (pages often unsubscribe twice).
                if let Some(sub) = self.subscriptions.remove(id.as_str()) {
                    let abandoned: Vec<u64> = self
                        .unacked
                        .iter()
                        .filter(|(_, s)| ***s == *id)
                        .map(|(m, _)| *m)
                        .collect();
                    for m in &abandoned {
                        self.unacked.remove(m);
                    }
                    self.push(
                        Output::Unsubscribe(UnsubscribeRequest {
                            id,
                            destination: sub.destination.to_string(),
                            route: sub.route,
                            unacked: abandoned.iter().map(u64::to_string).collect(),
                        }),
                        receipt.clone(),
                    );
                }
            }
            Command::Begin => {
                let tx = required(&frame, "transaction")?;
                if self.transactions.contains_key(&tx) {
                    return Err(SessionError::DuplicateTransaction(tx));
                }
                if self.transactions.len() >= self.config.max_transactions {
                    return Err(SessionError::TooManyTransactions(
                        self.config.max_transactions,
                    ));
                }
                self.transactions.insert(tx, Transaction::default());
            }
            Command::Commit | Command::Abort => {
                let tx = required(&frame, "transaction")?;
                let held = self
                    .transactions
                    .remove(&tx)
                    .ok_or(SessionError::UnknownTransaction(tx))?;
                self.transaction_bytes -= held.bytes;
                if command == Command::Commit {
                    for frame in held.frames {
                        self.on_frame(now, frame, true)?;
                    }
                }
            }
            Command::Disconnect => {
                self.end(CloseReason::Disconnect);
                self.push(Output::Disconnect, None);
                self.receipt(now, receipt);
                self.push(Output::Close(CloseReason::Disconnect), None);
                return Ok(());
            }
            // Handshake and server commands were dealt with by `handle_frame`.
            _ => return Err(SessionError::ServerCommand(command)),
        }
        self.receipt(now, receipt);
        Ok(())
    }

    /// The header naming the message an `ACK`/`NACK` is about: `id` in 1.2 (the `ack`
    /// header of the `MESSAGE`), `message-id` before.
    fn ack_id_header(&self, frame: &Frame) -> Result<String, SessionError> {
        let header = if self.version == Some(Version::V1_2) {
            "id"
        } else {
            "message-id"
        };
        frame
            .headers
            .get(header)
            .map(str::to_owned)
            .ok_or(SessionError::MissingHeader {
                command: frame.command,
                header,
            })
    }

    fn hold(&mut self, tx: String, mut frame: Frame) -> Result<(), SessionError> {
        let limit = self.config.max_transaction_bytes;
        let Some(held) = self.transactions.get_mut(&tx) else {
            return Err(SessionError::UnknownTransaction(tx));
        };
        frame.headers.remove("receipt");
        frame.headers.remove("transaction");
        let size = frame.headers.byte_len() + frame.body.len();
        if self.transaction_bytes + size > limit {
            return Err(SessionError::TransactionTooLarge(limit));
        }
        self.transaction_bytes += size;
        held.bytes += size;
        held.frames.push(frame);
        Ok(())
    }

    /// `ACK`/`NACK`: unknown or already acknowledged ids are ignored (as in Spring, whose
    /// simple broker ignores acknowledgements altogether), so a page acknowledging twice
    /// keeps working.
    fn on_ack(&mut self, frame: &Frame, receipt: Option<String>) -> Result<(), SessionError> {
        let id_text = self.ack_id_header(frame)?;
        let Ok(id) = id_text.parse::<u64>() else {
            return Ok(());
        };
        let Some(subscription) = self.unacked.get(&id).cloned() else {
            return Ok(());
        };
        // A 1.1 ACK names its subscription too; a mismatch means it is not this message.
        if let Some(named) = frame.headers.get("subscription") {
            if self.version != Some(Version::V1_2) && named != &*subscription {
                return Ok(());
            }
        }
        let mode = self
            .subscriptions
            .get(&subscription)
            .map_or(AckMode::ClientIndividual, |s| s.ack);
        let ids: Vec<u64> = if mode == AckMode::Client {
            self.unacked
                .range(..=id)
                .filter(|(_, s)| **s == subscription)
                .map(|(m, _)| *m)
                .collect()
        } else {
            vec![id]
        };
        for m in &ids {
            self.unacked.remove(m);
        }
        let request = AckRequest {
            subscription: subscription.to_string(),
            message_ids: ids.iter().map(u64::to_string).collect(),
        };
        let output = if frame.command == Command::Ack {
            Output::Ack(request)
        } else {
            Output::Nack(request)
        };
        self.push(output, receipt);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

//! Endpoint configuration with the protocol's defaults and the server's limits.

use std::fmt;
use std::time::Duration;

use crate::{OriginPolicy, Transport, TransportSet};

/// Default client library URL written into the iframe page (sockjs-client 1.x).
pub const DEFAULT_SOCKJS_URL: &str =
    "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

/// What [`Session::send`](crate::Session::send) callers should do when a session's outbound
/// queue is full.
///
/// The core only reports [`SendError::Full`](crate::SendError::Full); the I/O driver applies
/// the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// The sender waits until the receiver has drained enough of the queue (backpressure onto
    /// the application). The default.
    Wait,
    /// The send fails at once with a typed error; the message is handed back.
    Fail,
    /// The session is closed with [`close::QUEUE_FULL`](crate::close::QUEUE_FULL)
    /// (`c[1013,"Outbound queue full"]`) and the message is dropped.
    Close,
}

/// Configuration of one SockJS endpoint.
///
/// Construct it with [`Config::default`] (the protocol's defaults) and change the public
/// fields you need; [`Config::validate`] reports values that cannot work.
///
/// ```
/// use std::time::Duration;
/// let mut config = sockjs_core::Config::default();
/// config.heartbeat_interval = Duration::from_secs(10);
/// config.cookie_needed = true;
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Interval of the `h` heartbeat frame on every receiving transport. Keep it below the
    /// idle timeout of any proxy in front of the server (nginx's `proxy_read_timeout` is 60 s by
    /// default). Default: 25 s.
    pub heartbeat_interval: Duration,
    /// How long a session on an HTTP transport lives with no receiving request attached before
    /// it expires. Default: 5 s.
    pub disconnect_delay: Duration,
    /// Bytes a streaming response (xhr_streaming, eventsource, htmlfile) may carry after its
    /// prelude before the server ends it and the client opens a new one. Default: 128 KiB.
    pub response_limit: usize,
    /// Whether the `websocket` transport and the raw `/websocket` endpoint are offered (what
    /// `/info` announces). Default: true.
    pub websocket: bool,
    /// The transports offered; a request on any other gets 404 and sockjs-client falls back
    /// to its next transport. `xhr_send` serves `xhr`, `xhr_streaming`, `eventsource` and
    /// `htmlfile`; `jsonp_send` serves `jsonp`. Default: all. Use [`Config::enabled`] to ask.
    pub transports: TransportSet,
    /// Accept the obsolete hixie-76 websocket handshake (`Sec-WebSocket-Key1/Key2`, before
    /// RFC 6455), which no current browser uses but the protocol suite's `test_haproxy` still
    /// performs. Legacy; keep it off unless a client needs it. Default: false.
    pub hixie76: bool,
    /// Whether `/info` announces `cookie_needed` and session URLs set a `JSESSIONID` cookie
    /// (for load balancers doing sticky sessions by that cookie). Default: false.
    pub cookie_needed: bool,
    /// URL of the sockjs-client library loaded by the iframe page. It must be the same version
    /// as the client the page uses. Default: [`DEFAULT_SOCKJS_URL`].
    pub sockjs_url: String,
    /// Largest request body accepted by `xhr_send` and `jsonp_send`, and the largest websocket
    /// message; larger ones get 413 (HTTP) or close code 1009 (websocket). Default: 4 MiB.
    pub max_request_body: usize,
    /// Largest single decoded message (UTF-8 bytes) accepted from a client or from the
    /// application. Default: 2 MiB.
    pub max_message_size: usize,
    /// Bound of a session's outbound queue, in encoded bytes. A message is always accepted
    /// into an empty queue (so one message up to `max_message_size` can always be sent).
    /// Default: 1 MiB.
    pub max_queued_bytes: usize,
    /// Bound of a session's outbound queue, in messages. Default: 4096.
    pub max_queued_messages: usize,
    /// What a send does when the outbound queue is full. Default: [`OverflowPolicy::Wait`].
    pub overflow_policy: OverflowPolicy,
    /// Bound of a session's inbound queue (messages received from the client and not yet read
    /// by the application). When full, the server stops reading from the client (websocket)
    /// or holds the `xhr_send` request, so the client slows down. Default: 64 messages.
    pub max_inbound_queue: usize,
    /// Largest number of live sessions of this endpoint, all transports; a new session
    /// beyond it is refused (503). Default: 100 000.
    pub max_sessions: usize,
    /// Largest number of live sessions opened from one client IP address; beyond it new
    /// sessions from that address are refused (503). Default: `None` (no per-address limit),
    /// because behind a reverse proxy every client has the proxy's address; set it when
    /// clients connect directly.
    pub max_sessions_per_addr: Option<usize>,
    /// Largest number of messages in one `xhr_send`/`jsonp_send` batch or one websocket
    /// message; larger batches get 413 (HTTP) or close code 1009. Default: 10 000.
    pub max_batch_messages: usize,
    /// Receiving connections held open at once by the endpoint: HTTP polling and streaming
    /// requests waiting for frames, and websockets. Each holds a connection and its buffers;
    /// beyond the limit new ones get 503. (A session has at most one receiver, and a second one
    /// is answered at once with 2010, so `max_sessions` bounds them too; this limit can be
    /// lower.) Default: 100 000.
    pub max_receivers: usize,
    /// `xhr_send`/`jsonp_send` requests of one session being processed at once (each may hold
    /// a body up to `max_request_body` while the application catches up); more get 503.
    /// sockjs-client sends one at a time. Default: 4.
    pub max_sends_in_flight: usize,
    /// Largest size of the request headers a session keeps for the application
    /// (sockjs-hyper's `RequestInfo::headers`: every header except the hop-by-hop and
    /// handshake ones), counted as each header's name and value plus 32 bytes for the entry
    /// (HTTP/2's measure of a header list). A request that opens or receives for a session
    /// (every transport but `xhr_send`/`jsonp_send`, and the raw websocket endpoint) with
    /// more gets 431. It bounds what an idle session costs: at most `max_sessions` times this
    /// for headers. Default: 16 KiB.
    pub max_request_headers: usize,
    /// Bytes of `xhr_send`/`jsonp_send` bodies one session holds at once: being read, or
    /// decoded and waiting for the application to take their messages. A body's declared
    /// `Content-Length` counts in full before it is read (a chunked body counts as it
    /// arrives); a send that would go beyond gets 503 without its body being read. Must be at
    /// least `max_request_body`. Default: 4 MiB.
    pub max_send_bytes_per_session: usize,
    /// The same bound for all the endpoint's sessions together: what concurrent uploads can
    /// hold in memory at once. Beyond it sends get 503. Must be at least
    /// `max_send_bytes_per_session`. Default: 32 MiB.
    pub max_send_bytes_per_endpoint: usize,
    /// Longest time an `xhr_send`/`jsonp_send` body may take to arrive, counted from when the
    /// request reaches the endpoint; a body still incomplete then gets 408 (counted in
    /// sockjs-hyper's `Stats::send_timeouts`) and its connection is closed.
    /// sockjs-client's sends are small and arrive at once; raise it only for clients that
    /// send large messages over slow links. Default: 30 s.
    pub body_read_timeout: Duration,
    /// Longest accepted session id (the client picks it). Ids must also be made of URL-safe
    /// ASCII (letters, digits, `-_~!$&'()*+,;=:@%`); others get 400. Default: 128.
    pub max_session_id_len: usize,
    /// Which browser origins may use the endpoint; checked on every transport, `/info` and
    /// the iframe page (403 otherwise), and written into the iframe page's
    /// `Content-Security-Policy: frame-ancestors`. Default: any origin (the protocol's
    /// conformance suite needs it); production deployments should set an allow-list.
    pub origins: OriginPolicy,
    /// How long the server's writes to a client may make no progress before the session is
    /// dropped as interrupted (the client stopped reading, or the network vanished without the
    /// connection failing). Progress is any byte written on a websocket, or, on a streaming
    /// response, the next frame or the next 8 KiB piece of a larger frame taken by the
    /// connection. A client that reads slowly but steadily is never dropped, however long a
    /// large message takes; one that stops reading is dropped after this (on a websocket,
    /// within a quarter more). A reader's progress shows only as far as the kernel lets the
    /// server write: prepare accepted connections with `sockjs_hyper::prepare_tcp`, without
    /// which Linux lets the server write again only once a third of the socket's send buffer
    /// (megabytes on a fast link) has drained. Default: 30 s.
    pub write_timeout: Duration,
    /// Send a websocket ping at this interval and drop the connection if nothing (a pong or
    /// any message) arrives within the next interval; in addition to the `h` frames, which
    /// keep proxies busy but prove nothing about the client. An interval during which the
    /// server stopped reading because the application's inbound queue was full (see
    /// `max_inbound_queue`) does not count: the pong may be waiting behind unread messages.
    /// Default: `None` (off).
    pub websocket_ping_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_interval: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            response_limit: 128 * 1024,
            websocket: true,
            transports: TransportSet::all(),
            hixie76: false,
            cookie_needed: false,
            sockjs_url: DEFAULT_SOCKJS_URL.to_string(),
            max_request_body: 4 * 1024 * 1024,
            max_message_size: 2 * 1024 * 1024,
            max_queued_bytes: 1024 * 1024,
            max_queued_messages: 4096,
            overflow_policy: OverflowPolicy::Wait,
            max_inbound_queue: 64,
            max_sessions: 100_000,
            max_sessions_per_addr: None,
            max_batch_messages: 10_000,
            max_receivers: 100_000,
            max_sends_in_flight: 4,
            max_send_bytes_per_session: 4 * 1024 * 1024,
            max_send_bytes_per_endpoint: 32 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            max_session_id_len: 128,
            max_request_headers: 16 * 1024,
            origins: OriginPolicy::any(),
            write_timeout: Duration::from_secs(30),
            websocket_ping_interval: None,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The heartbeat interval is zero.
    ZeroHeartbeat,
    /// The disconnect delay is zero: a polling client could never come back in time.
    ZeroDisconnectDelay,
    /// The named limit is zero.
    ZeroLimit(&'static str),
    /// `max_message_size` is larger than `max_request_body`, so it could never be reached.
    MessageLargerThanBody,
    /// `max_send_bytes_per_session` is below `max_request_body`, or
    /// `max_send_bytes_per_endpoint` below `max_send_bytes_per_session`: a body the endpoint
    /// accepts could never be read.
    SendBudgetTooSmall,
    /// The client library URL is empty or contains a character that cannot be written into
    /// the iframe page's `src` attribute (`"`, `<`, `>`, a control character).
    InvalidSockjsUrl,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroHeartbeat => f.write_str("heartbeat_interval must be greater than zero"),
            ConfigError::ZeroDisconnectDelay => f.write_str("disconnect_delay must be greater than zero"),
            ConfigError::ZeroLimit(name) => write!(f, "{name} must be greater than zero"),
            ConfigError::MessageLargerThanBody => {
                f.write_str("max_message_size must not exceed max_request_body")
            }
            ConfigError::SendBudgetTooSmall => f.write_str(
                "max_send_bytes_per_session must be at least max_request_body, and max_send_bytes_per_endpoint at least max_send_bytes_per_session",
            ),
            ConfigError::InvalidSockjsUrl => f.write_str(
                "sockjs_url must be non-empty and free of quotes, angle brackets and control characters",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Whether `transport` is offered: it is in [`Config::transports`] and, for
    /// [`Transport::WebSocket`], [`Config::websocket`] is on.
    pub fn enabled(&self, transport: Transport) -> bool {
        self.transports.contains(transport) && (transport != Transport::WebSocket || self.websocket)
    }

    /// Check that every value can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::ZeroHeartbeat);
        }
        if self.disconnect_delay.is_zero() {
            return Err(ConfigError::ZeroDisconnectDelay);
        }
        for (name, value) in [
            ("response_limit", self.response_limit),
            ("max_request_body", self.max_request_body),
            ("max_message_size", self.max_message_size),
            ("max_queued_bytes", self.max_queued_bytes),
            ("max_queued_messages", self.max_queued_messages),
            ("max_inbound_queue", self.max_inbound_queue),
            ("max_sessions", self.max_sessions),
            (
                "max_sessions_per_addr",
                self.max_sessions_per_addr.unwrap_or(1),
            ),
            ("max_batch_messages", self.max_batch_messages),
            ("max_receivers", self.max_receivers),
            ("max_sends_in_flight", self.max_sends_in_flight),
            (
                "max_send_bytes_per_session",
                self.max_send_bytes_per_session,
            ),
            (
                "max_send_bytes_per_endpoint",
                self.max_send_bytes_per_endpoint,
            ),
            ("max_session_id_len", self.max_session_id_len),
            ("max_request_headers", self.max_request_headers),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if self.write_timeout.is_zero() {
            return Err(ConfigError::ZeroLimit("write_timeout"));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ConfigError::ZeroLimit("body_read_timeout"));
        }
        if self.websocket_ping_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroLimit("websocket_ping_interval"));
        }
        if self.max_message_size > self.max_request_body {
            return Err(ConfigError::MessageLargerThanBody);
        }
        if self.max_send_bytes_per_session < self.max_request_body
            || self.max_send_bytes_per_endpoint < self.max_send_bytes_per_session
        {
            return Err(ConfigError::SendBudgetTooSmall);
        }
        if self.sockjs_url.is_empty()
            || self
                .sockjs_url
                .chars()
                .any(|c| c == '"' || c == '<' || c == '>' || c.is_control())
        {
            return Err(ConfigError::InvalidSockjsUrl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_protocols() {
        let c = Config::default();
        assert_eq!(c.heartbeat_interval, Duration::from_secs(25));
        assert_eq!(c.disconnect_delay, Duration::from_secs(5));
        assert_eq!(c.response_limit, 128 * 1024);
        assert!(c.websocket);
        assert!(!c.cookie_needed);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn invalid_values_are_reported() {
        let c = Config {
            heartbeat_interval: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroHeartbeat));
        let c = Config {
            response_limit: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroLimit("response_limit")));
        let c = Config {
            max_message_size: Config::default().max_request_body + 1,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::MessageLargerThanBody));
        let c = Config {
            max_request_body: 8 * 1024 * 1024,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::SendBudgetTooSmall));
        let c = Config {
            max_send_bytes_per_endpoint: 1024 * 1024,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::SendBudgetTooSmall));
        let c = Config {
            body_read_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroLimit("body_read_timeout"))
        );
        let c = Config {
            sockjs_url: "x\"><script>".into(),
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::InvalidSockjsUrl));
    }
}

//! The SockJS URL grammar, relative to an endpoint's prefix.
//!
//! | path (after the prefix)            | route                         |
//! |------------------------------------|-------------------------------|
//! | `` or `/`                          | [`Route::Greeting`]           |
//! | `/info`                            | [`Route::Info`]               |
//! | `/iframe.html`, `/iframe-<v>.html` | [`Route::Iframe`]             |
//! | `/websocket`                       | [`Route::RawWebSocket`]       |
//! | `/<server>/<session>/<transport>`  | [`Route::Session`]            |
//!
//! `<server>` and `<session>` are any non-empty strings without `/` and `.`; the server id is
//! for load balancers and ignored by the protocol. The version part `<v>` of the iframe page
//! is made of `[0-9a-z._-]`. Everything else is [`Route::NotFound`]. The query string is not
//! part of the path.

use std::fmt;

/// One of the SockJS transports, the last segment of a session URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `websocket`: SockJS framing over a websocket.
    WebSocket,
    /// `xhr`: long polling with `POST`.
    Xhr,
    /// `xhr_send`: messages from the client for the HTTP transports other than jsonp.
    XhrSend,
    /// `xhr_streaming`: a streaming `POST` response.
    XhrStreaming,
    /// `eventsource`: server-sent events.
    EventSource,
    /// `htmlfile`: a streaming HTML page of `<script>` tags.
    HtmlFile,
    /// `jsonp`: JSONP long polling.
    Jsonp,
    /// `jsonp_send`: messages from the client for jsonp.
    JsonpSend,
}

impl Transport {
    /// All transports, in URL order of the protocol's description.
    pub const ALL: [Transport; 8] = [
        Transport::WebSocket,
        Transport::Xhr,
        Transport::XhrSend,
        Transport::XhrStreaming,
        Transport::EventSource,
        Transport::HtmlFile,
        Transport::Jsonp,
        Transport::JsonpSend,
    ];

    /// The URL segment of the transport (`xhr_streaming`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Xhr => "xhr",
            Transport::XhrSend => "xhr_send",
            Transport::XhrStreaming => "xhr_streaming",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::Jsonp => "jsonp",
            Transport::JsonpSend => "jsonp_send",
        }
    }

    /// Parse a URL segment.
    pub fn from_segment(segment: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.as_str() == segment)
    }

    /// Whether requests on this transport receive frames from the session (as opposed to
    /// delivering messages to it).
    pub fn is_receiving(self) -> bool {
        !matches!(self, Transport::XhrSend | Transport::JsonpSend)
    }

    /// Whether a receiving request stays open for many frames (until the response limit).
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Transport::WebSocket
                | Transport::XhrStreaming
                | Transport::EventSource
                | Transport::HtmlFile
        )
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of transports (a small bit set), for enabling and disabling them per endpoint.
///
/// ```
/// use sockjs_core::{Transport, TransportSet};
/// let set = TransportSet::all().without(Transport::HtmlFile).without(Transport::Jsonp);
/// assert!(set.contains(Transport::XhrStreaming));
/// assert!(!set.contains(Transport::Jsonp));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportSet(u16);

impl TransportSet {
    /// Every transport.
    pub const fn all() -> Self {
        TransportSet((1 << Transport::ALL.len()) - 1)
    }

    /// No transport.
    pub const fn empty() -> Self {
        TransportSet(0)
    }

    fn bit(t: Transport) -> u16 {
        1 << (t as u16)
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: Transport) -> bool {
        self.0 & Self::bit(t) != 0
    }

    /// The set with `t` added.
    pub fn with(self, t: Transport) -> Self {
        TransportSet(self.0 | Self::bit(t))
    }

    /// The set with `t` removed.
    pub fn without(self, t: Transport) -> Self {
        TransportSet(self.0 & !Self::bit(t))
    }

    /// The transports in the set.
    pub fn iter(self) -> impl Iterator<Item = Transport> {
        Transport::ALL
            .into_iter()
            .filter(move |t| self.contains(*t))
    }
}

impl Default for TransportSet {
    fn default() -> Self {
        TransportSet::all()
    }
}

impl fmt::Debug for TransportSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// What a request path (relative to the endpoint's prefix) addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// The greeting, `Welcome to SockJS!`.
    Greeting,
    /// `/info`.
    Info,
    /// The iframe page.
    Iframe,
    /// The raw websocket endpoint, no SockJS framing.
    RawWebSocket,
    /// A session URL.
    Session {
        /// The server id (ignored by the protocol; used by load balancers).
        server_id: &'a str,
        /// The session id chosen by the client.
        session_id: &'a str,
        /// The transport.
        transport: Transport,
    },
    /// Nothing SockJS serves.
    NotFound,
}

impl<'a> Route<'a> {
    /// Parse `path`, the part of the URL path after the endpoint's prefix (no query string).
    ///
    /// ```
    /// use sockjs_core::{Route, Transport};
    /// assert_eq!(Route::parse("/info"), Route::Info);
    /// assert_eq!(
    ///     Route::parse("/000/abc/xhr_streaming"),
    ///     Route::Session { server_id: "000", session_id: "abc", transport: Transport::XhrStreaming }
    /// );
    /// assert_eq!(Route::parse("/a./a/xhr"), Route::NotFound);
    /// ```
    pub fn parse(path: &'a str) -> Route<'a> {
        match path {
            "" | "/" => return Route::Greeting,
            "/info" => return Route::Info,
            "/websocket" => return Route::RawWebSocket,
            _ => {}
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Route::NotFound;
        };
        if is_iframe(rest) {
            return Route::Iframe;
        }
        let mut parts = rest.split('/');
        let (Some(server_id), Some(session_id), Some(transport), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Route::NotFound;
        };
        if !valid_id(server_id) || !valid_id(session_id) {
            return Route::NotFound;
        }
        match Transport::from_segment(transport) {
            Some(transport) => Route::Session {
                server_id,
                session_id,
                transport,
            },
            None => Route::NotFound,
        }
    }
}

/// Whether a session id (already accepted by the URL grammar) is safe to use: at most
/// `max_len` bytes of URL-safe ASCII — letters, digits and `-_~!$&'()*+,;=:@%` (percent
/// escapes stay as they are written). sockjs-client's ids are 8 lowercase letters and digits.
///
/// ```
/// use sockjs_core::route::valid_session_id;
/// assert!(valid_session_id("abcdefg_i-j%20", 128));
/// assert!(!valid_session_id("a b", 128));
/// assert!(!valid_session_id(&"x".repeat(129), 128));
/// ```
pub fn valid_session_id(id: &str, max_len: usize) -> bool {
    !id.is_empty()
        && id.len() <= max_len
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                        | b'%'
                )
        })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('.')
}

fn is_iframe(segment: &str) -> bool {
    let Some(version) = segment
        .strip_prefix("iframe")
        .and_then(|s| s.strip_suffix(".html"))
    else {
        return false;
    };
    version
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_urls() {
        assert_eq!(Route::parse(""), Route::Greeting);
        assert_eq!(Route::parse("/"), Route::Greeting);
        assert_eq!(Route::parse("/info"), Route::Info);
        assert_eq!(Route::parse("/websocket"), Route::RawWebSocket);
        for bad in [
            "/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/", "info", "/info/",
        ] {
            assert_eq!(Route::parse(bad), Route::NotFound, "{bad}");
        }
    }

    #[test]
    fn iframe_urls() {
        for ok in [
            "/iframe.html",
            "/iframe-a.html",
            "/iframe-.html",
            "/iframe-0.1.2.html",
            "/iframe-0.1.2abc-dirty.2144.html",
        ] {
            assert_eq!(Route::parse(ok), Route::Iframe, "{ok}");
        }
        for bad in [
            "/iframe.htm",
            "/iframe",
            "/IFRAME.HTML",
            "/IFRAME",
            "/iframe.HTML",
            "/iframe.xml",
            "/iframe-/.html",
        ] {
            assert_eq!(Route::parse(bad), Route::NotFound, "{bad}");
        }
    }

    #[test]
    fn session_urls() {
        assert_eq!(
            Route::parse("/abcdefgh_i-j%20/abcdefg_i-j%201/xhr"),
            Route::Session {
                server_id: "abcdefgh_i-j%20",
                session_id: "abcdefg_i-j%201",
                transport: Transport::Xhr
            }
        );
        for t in Transport::ALL {
            let path = format!("/1/2/{}", t.as_str());
            assert_eq!(
                Route::parse(&path),
                Route::Session {
                    server_id: "1",
                    session_id: "2",
                    transport: t
                }
            );
        }
        for bad in [
            "///xhr",
            "/a./a/xhr",
            "/a/a./xhr",
            "/././xhr",
            "//xhr",
            "////xhr",
            "/a/a/unknown",
            "/a/a/xhr/",
            "/a/a/a/xhr",
            "/a/a/XHR",
        ] {
            assert_eq!(Route::parse(bad), Route::NotFound, "{bad}");
        }
    }

    #[test]
    fn session_id_safety() {
        for ok in [
            "a",
            "abcdefgh",
            "0f6e2c1a-7d3b-4b8e-9a51-0d8a4f1c2e3b",
            "a%20b",
            "_~!$&'()*+,;=:@",
        ] {
            assert!(valid_session_id(ok, 64), "{ok}");
        }
        for bad in ["", "a b", "a\u{0}b", "é", "a\"b", "<script>", "a\\b", "a^b"] {
            assert!(!valid_session_id(bad, 64), "{bad:?}");
        }
        assert!(valid_session_id(&"x".repeat(64), 64));
        assert!(!valid_session_id(&"x".repeat(65), 64));
    }

    #[test]
    fn transport_set() {
        let all = TransportSet::all();
        assert_eq!(all.iter().count(), 8);
        let set = all.without(Transport::Xhr);
        assert!(!set.contains(Transport::Xhr));
        assert!(set.contains(Transport::XhrSend));
        assert_eq!(set.with(Transport::Xhr), all);
        assert_eq!(TransportSet::empty().iter().count(), 0);
        assert_eq!(
            format!("{:?}", TransportSet::empty().with(Transport::Jsonp)),
            "{Jsonp}"
        );
    }

    #[test]
    fn transport_properties() {
        assert!(Transport::XhrStreaming.is_streaming());
        assert!(!Transport::Xhr.is_streaming());
        assert!(!Transport::XhrSend.is_receiving());
        assert!(Transport::Jsonp.is_receiving());
        assert_eq!(
            Transport::from_segment("jsonp_send"),
            Some(Transport::JsonpSend)
        );
    }
}

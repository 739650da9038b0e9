//! STOMP vocabulary: protocol versions, commands, headers and frames.

use std::fmt;
use std::ops::Range;

/// A STOMP protocol version.
///
/// The order is the order of preference: when a client accepts several versions the highest
/// one wins ([`Version::negotiate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no heart-beating, `SUBSCRIBE` ids optional.
    V1_0,
    /// STOMP 1.1: header escaping (`\\`, `\n`, `\c`), heart-beating, `NACK`.
    V1_1,
    /// STOMP 1.2: adds the `\r` escape, CRLF line endings and the `ack` header on `MESSAGE`.
    V1_2,
}

impl Version {
    /// Every version this crate speaks, lowest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `accept-version` and `version` headers (`"1.2"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Parses `"1.0"`, `"1.1"` or `"1.2"` (surrounding spaces allowed).
    pub fn parse(text: &str) -> Option<Version> {
        match text.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    /// Picks the session's version from a `CONNECT` frame's `accept-version` header: absent
    /// means 1.0 (the spec's rule), otherwise the highest listed version this crate speaks;
    /// `None` when the client lists none of them (the server then answers `ERROR`).
    ///
    /// ```
    /// use sockjs_stomp::Version;
    /// assert_eq!(Version::negotiate(None), Some(Version::V1_0));
    /// assert_eq!(Version::negotiate(Some("1.2,1.1,1.0")), Some(Version::V1_2)); // @stomp/stompjs
    /// assert_eq!(Version::negotiate(Some("1.1,1.0")), Some(Version::V1_1));     // stompjs 2.3.3
    /// assert_eq!(Version::negotiate(Some("2.0")), None);
    /// ```
    pub fn negotiate(accept_version: Option<&str>) -> Option<Version> {
        match accept_version {
            None => Some(Version::V1_0),
            Some(list) => list.split(',').filter_map(Version::parse).max(),
        }
    }

    /// Whether header names and values are escaped in this version (1.1 and 1.2; never in
    /// `CONNECT`, `STOMP` and `CONNECTED` frames, see [`Command::is_handshake`]).
    pub fn escapes_headers(self) -> bool {
        self >= Version::V1_1
    }

    /// Whether this version has heart-beating (1.1 and 1.2).
    pub fn has_heart_beats(self) -> bool {
        self >= Version::V1_1
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STOMP command: the first line of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Client: open a session.
    Connect,
    /// Client: open a session (1.1+ alias of `CONNECT`).
    Stomp,
    /// Client: publish to a destination.
    Send,
    /// Client: subscribe to a destination.
    Subscribe,
    /// Client: end a subscription.
    Unsubscribe,
    /// Client: acknowledge a message.
    Ack,
    /// Client: reject a message (1.1+).
    Nack,
    /// Client: start a transaction.
    Begin,
    /// Client: commit a transaction.
    Commit,
    /// Client: roll back a transaction.
    Abort,
    /// Client: end the session.
    Disconnect,
    /// Server: the session is open.
    Connected,
    /// Server: a message on a subscription.
    Message,
    /// Server: a frame that asked for a receipt was processed.
    Receipt,
    /// Server: something went wrong; the server closes the connection after it.
    Error,
}

impl Command {
    /// Every command, client commands first.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Connected,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as written on the wire (`"SEND"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Connected => "CONNECTED",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses a command line (case-sensitive, as the spec says).
    pub fn parse(line: &[u8]) -> Option<Command> {
        // One comparison, chosen by length and first byte, instead of trying all 15.
        let command = match (line.len(), line.first()?) {
            (3, b'A') => Command::Ack,
            (4, b'S') => Command::Send,
            (4, b'N') => Command::Nack,
            (5, b'S') => Command::Stomp,
            (5, b'B') => Command::Begin,
            (5, b'A') => Command::Abort,
            (5, b'E') => Command::Error,
            (6, b'C') => Command::Commit,
            (7, b'C') => Command::Connect,
            (7, b'M') => Command::Message,
            (7, b'R') => Command::Receipt,
            (9, b'S') => Command::Subscribe,
            (9, b'C') => Command::Connected,
            (10, b'D') => Command::Disconnect,
            (11, b'U') => Command::Unsubscribe,
            _ => return None,
        };
        (command.as_str().as_bytes() == line).then_some(command)
    }

    /// Whether clients send this command (as opposed to servers).
    pub fn is_client_command(self) -> bool {
        !matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }

    /// `CONNECT`, `STOMP` and `CONNECTED`: the frames whose headers are never escaped, so
    /// that 1.0 peers can read them before a version is agreed.
    pub fn is_handshake(self) -> bool {
        matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame's headers in wire order, repeated names kept.
///
/// [`Headers::get`] returns the first occurrence, which is the one that counts ("only the
/// first header entry SHOULD be used", STOMP 1.1 and 1.2); the later ones stay visible through
/// [`Headers::iter`].
//
// Layout: the headers as text, `name:value` after `name:value`, in one `String`, and where
// each name and value is in `spans` (the first few inline). Between two headers there may be
// other bytes: a decoded frame's headers are a copy of its header block, EOLs included,
// made with one allocation and one copy instead of two per header plus a vector.
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    spans: Spans,
}

/// Where one header is in [`Headers`]' text: the name is `start..name_end`, a colon follows
/// it and the value is `name_end + 1..value_end`.
#[derive(Clone, Copy, Default)]
struct Span {
    start: usize,
    name_end: usize,
    value_end: usize,
}

/// A [`Span`] whose offsets fit in 32 bits (any frame the decoder accepts), to keep `Headers`,
/// and so `Frame`, small: frames are moved by value through the session.
#[derive(Clone, Copy, Default)]
struct PackedSpan([u32; 3]);

impl PackedSpan {
    fn pack(span: Span) -> Option<PackedSpan> {
        Some(PackedSpan([
            u32::try_from(span.start).ok()?,
            u32::try_from(span.name_end).ok()?,
            u32::try_from(span.value_end).ok()?,
        ]))
    }

    fn unpack(self) -> Span {
        let [start, name_end, value_end] = self.0.map(|offset| offset as usize);
        Span {
            start,
            name_end,
            value_end,
        }
    }
}

/// Inline room for this many headers; a frame with more keeps its spans on the heap. A `SEND`
/// usually has `destination`, `content-length` and perhaps `content-type` and `receipt`.
const INLINE_SPANS: usize = 4;

/// The spans of [`Headers`]: a small vector with its first [`INLINE_SPANS`] items inline.
#[derive(Clone)]
enum Spans {
    Inline {
        len: u8,
        items: [PackedSpan; INLINE_SPANS],
    },
    Heap(Vec<Span>),
}

impl Default for Spans {
    fn default() -> Spans {
        Spans::Inline {
            len: 0,
            items: [PackedSpan::default(); INLINE_SPANS],
        }
    }
}

impl Spans {
    fn with_capacity(capacity: usize) -> Spans {
        if capacity <= INLINE_SPANS {
            Spans::default()
        } else {
            Spans::Heap(Vec::with_capacity(capacity))
        }
    }

    fn len(&self) -> usize {
        match self {
            Spans::Inline { len, .. } => usize::from(*len),
            Spans::Heap(items) => items.len(),
        }
    }

    fn get(&self, index: usize) -> Option<Span> {
        match self {
            Spans::Inline { len, items } if index < usize::from(*len) => {
                items.get(index).map(|packed| packed.unpack())
            }
            Spans::Inline { .. } => None,
            Spans::Heap(items) => items.get(index).copied(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Span> + '_ {
        let (inline, heap): (&[PackedSpan], &[Span]) = match self {
            Spans::Inline { len, items } => {
                (items.get(..usize::from(*len)).unwrap_or_default(), &[])
            }
            Spans::Heap(items) => (&[], items),
        };
        inline
            .iter()
            .map(|packed| packed.unpack())
            .chain(heap.iter().copied())
    }

    #[inline]
    fn push(&mut self, span: Span) {
        match self {
            Spans::Inline { len, items } => {
                if let (Some(slot), Some(packed)) =
                    (items.get_mut(usize::from(*len)), PackedSpan::pack(span))
                {
                    *slot = packed;
                    *len += 1;
                    return;
                }
                let mut heap = Vec::with_capacity(4 * INLINE_SPANS);
                heap.extend(self.iter());
                heap.push(span);
                *self = Spans::Heap(heap);
            }
            Spans::Heap(items) => items.push(span),
        }
    }
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `count` headers of `bytes` bytes of text.
    pub(crate) fn with_capacity(count: usize, bytes: usize) -> Headers {
        Headers {
            text: String::with_capacity(bytes),
            spans: Spans::with_capacity(count),
        }
    }

    /// The text between two offsets of a span (char boundaries: next to a colon, or where a
    /// push ended).
    fn slice(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let wanted = Some(name.as_bytes());
        let bytes = self.text.as_bytes();
        self.spans
            .iter()
            .find(|span| bytes.get(span.start..span.name_end) == wanted)
            .map(|span| self.slice(span.name_end + 1, span.value_end))
    }

    /// The value of the header at `index` (in wire order).
    pub(crate) fn value_at(&self, index: usize) -> Option<&str> {
        let span = self.spans.get(index)?;
        Some(self.slice(span.name_end + 1, span.value_end))
    }

    /// Appends a header (after any existing one of the same name, which keeps precedence).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.push_str(&name.into(), &value.into());
    }

    /// [`Headers::push`] without taking ownership.
    pub(crate) fn push_str(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push(':');
        self.text.push_str(value);
        self.spans.push(Span {
            start,
            name_end,
            value_end: self.text.len(),
        });
    }

    /// Appends a header whose name and value the two functions append to the text they are
    /// given (the decoder unescapes straight into it). When one fails nothing is added.
    pub(crate) fn push_with<E>(
        &mut self,
        name: impl FnOnce(&mut String) -> Result<(), E>,
        value: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.text.len();
        let written = name(&mut self.text).and_then(|()| {
            let name_end = self.text.len();
            self.text.push(':');
            value(&mut self.text).map(|()| name_end)
        });
        match written {
            Ok(name_end) => {
                self.spans.push(Span {
                    start,
                    name_end,
                    value_end: self.text.len(),
                });
                Ok(())
            }
            Err(e) => {
                self.text.truncate(start);
                Err(e)
            }
        }
    }

    /// Records a header line of a frame whose raw header block becomes the text later
    /// ([`Headers::with_raw_text`]): offsets into that block, of the line's start, its first
    /// colon and its end (before the EOL).
    pub(crate) fn push_raw(&mut self, start: usize, colon: usize, end: usize) {
        self.spans.push(Span {
            start,
            name_end: colon,
            value_end: end,
        });
    }

    /// The recorded raw lines as `(name, value)` offsets into the block, in order.
    pub(crate) fn raw_lines(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        self.spans
            .iter()
            .map(|span| (span.start..span.name_end, span.name_end + 1..span.value_end))
    }

    /// Where the last recorded line ends: the length of the block text needed.
    pub(crate) fn raw_len(&self) -> usize {
        let last = self.spans.len().checked_sub(1);
        last.and_then(|index| self.spans.get(index))
            .map_or(0, |span| span.value_end)
    }

    /// Headers recorded with [`Headers::push_raw`], given their block's text (at least
    /// [`Headers::raw_len`] bytes, cut at the offsets recorded).
    pub(crate) fn with_raw_text(self, text: String) -> Headers {
        Headers {
            text,
            spans: self.spans,
        }
    }

    /// Removes every header called `name`.
    pub fn remove(&mut self, name: &str) {
        if self.get(name).is_none() {
            return;
        }
        let old = std::mem::take(self);
        let mut kept = Headers::with_capacity(old.len(), old.text.len());
        for (n, v) in old.iter().filter(|&(n, _)| n != name) {
            kept.push_str(n, v);
        }
        *self = kept;
    }

    /// All headers in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|span| {
            (
                self.slice(span.start, span.name_end),
                self.slice(span.name_end + 1, span.value_end),
            )
        })
    }

    /// Number of header lines (repeated names counted).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of names and values (a measure for memory bounds).
    pub fn byte_len(&self) -> usize {
        self.iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.push(name, value);
        }
        headers
    }
}

/// Header names whose values are secrets: [`Headers`]' `Debug` output shows them as `<redacted>`
/// so that logging a frame never logs a password.
const SECRET_HEADERS: [&str; 2] = ["passcode", "authorization"];

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.iter() {
            if SECRET_HEADERS
                .iter()
                .any(|secret| name.eq_ignore_ascii_case(secret))
            {
                list.entry(&(name, "<redacted>"));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
}

/// One STOMP frame: a command, headers (unescaped) and a body.
///
/// The body is text: frames travel in SockJS messages, which are strings, so a body is always
/// valid UTF-8 (it may contain NUL characters when the frame has a `content-length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// The headers, unescaped.
    pub headers: Headers,
    /// The body.
    pub body: String,
}

impl Frame {
    /// A frame with no headers and an empty body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Headers::new(),
            body: String::new(),
        }
    }

    /// Appends a header (builder style).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Frame {
        self.headers.push(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: impl Into<String>) -> Frame {
        self.body = body.into();
        self
    }

    /// Sets the body and a matching `content-length` header (builder style).
    pub fn body_with_length(self, body: impl Into<String>) -> Frame {
        let body = body.into();
        let len = body.len();
        self.header("content-length", len.to_string()).body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_highest_common_version() {
        assert_eq!(Version::negotiate(None), Some(Version::V1_0));
        assert_eq!(Version::negotiate(Some("1.0")), Some(Version::V1_0));
        assert_eq!(Version::negotiate(Some("1.0,1.1")), Some(Version::V1_1));
        assert_eq!(Version::negotiate(Some("1.1, 1.2")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("1.2,3.0")), Some(Version::V1_2));
        assert_eq!(Version::negotiate(Some("")), None);
        assert_eq!(Version::negotiate(Some("1.3,0.9")), None);
    }

    #[test]
    fn escaping_and_heart_beats_start_with_1_1() {
        assert!(!Version::V1_0.escapes_headers());
        assert!(Version::V1_1.escapes_headers());
        assert!(Version::V1_2.escapes_headers());
        assert!(!Version::V1_0.has_heart_beats());
        assert!(Version::V1_1.has_heart_beats());
    }

    #[test]
    fn commands_round_trip_and_are_case_sensitive() {
        for c in Command::ALL {
            assert_eq!(Command::parse(c.as_str().as_bytes()), Some(c));
        }
        assert_eq!(Command::parse(b"send"), None);
        assert_eq!(Command::parse(b"SEND "), None);
        assert_eq!(Command::parse(b""), None);
        assert!(Command::Send.is_client_command());
        assert!(!Command::Message.is_client_command());
        assert!(Command::Stomp.is_handshake());
        assert!(!Command::Send.is_handshake());
    }

    #[test]
    fn near_miss_commands_are_refused() {
        for c in Command::ALL {
            let word = c.as_str().as_bytes();
            for cut in 0..word.len() {
                // Only CONNECT is a prefix of another command (CONNECTED).
                let prefix = Command::parse(&word[..cut]).map(Command::as_str);
                assert!(
                    prefix.is_none() || (c == Command::Connected && prefix == Some("CONNECT")),
                    "{c} cut at {cut}"
                );
                let mut changed = word.to_vec();
                changed[cut] ^= 0x20;
                assert_eq!(Command::parse(&changed), None, "{c} changed at {cut}");
            }
            let mut longer = word.to_vec();
            longer.push(b'S');
            assert_eq!(Command::parse(&longer), None, "{c} longer");
        }
        assert_eq!(Command::parse(b"CONNECTE"), None);
        assert_eq!(Command::parse(b"CONNECTED"), Some(Command::Connected));
    }

    #[test]
    fn first_repeated_header_wins() {
        let mut h = Headers::new();
        h.push("foo", "World");
        h.push("foo", "I am");
        assert_eq!(h.get("foo"), Some("World"));
        assert_eq!(h.iter().count(), 2);
        h.remove("foo");
        assert!(h.is_empty());
    }

    #[test]
    fn remove_keeps_the_others_in_order() {
        let mut h: Headers = (0..10)
            .map(|i| (format!("h{}", i % 3), i.to_string()))
            .collect();
        assert_eq!(h.len(), 10);
        assert_eq!(h.byte_len(), 10 * 2 + 10);
        h.remove("h1");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [
                ("h0", "0"),
                ("h2", "2"),
                ("h0", "3"),
                ("h2", "5"),
                ("h0", "6"),
                ("h2", "8"),
                ("h0", "9")
            ]
        );
        assert_eq!(h.byte_len(), 7 * 3);
        assert_eq!(h.get("h1"), None);
        assert_eq!(h.get("h2"), Some("2"));
        h.remove("absent");
        assert_eq!(h.len(), 7);
        h.remove("h0");
        h.remove("h2");
        assert!(h.is_empty());
        assert_eq!(h.byte_len(), 0);
        h.push("a", "b");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("a", "b")]);
    }

    #[test]
    fn equality_is_by_content_and_order() {
        let mut a = Headers::new();
        a.push("x", "1");
        a.push("gone", "...");
        a.push("y", "");
        a.remove("gone");
        let b: Headers = [("x", "1"), ("y", "")].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.clone(), b);
        // The same bytes split differently are different headers.
        let c: Headers = [("x1", ""), ("y", "")].into_iter().collect();
        assert_ne!(b, c);
        let d: Headers = [("y", ""), ("x", "1")].into_iter().collect();
        assert_ne!(b, d);
        assert_eq!(Headers::new(), Headers::default());
        assert_ne!(Headers::new(), b);
    }

    #[test]
    fn many_headers_and_non_ascii_text() {
        let mut h = Headers::new();
        for i in 0..100 {
            h.push(format!("é{i}"), format!("😀{i}"));
        }
        assert_eq!(h.len(), 100);
        assert_eq!(h.get("é42"), Some("😀42"));
        assert_eq!(h.iter().nth(99), Some(("é99", "😀99")));
        let copy = h.clone();
        assert_eq!(copy, h);
    }

    #[test]
    fn debug_output_lists_pairs() {
        let h: Headers = [("a", "1"), ("Passcode", "p"), ("b", "")]
            .into_iter()
            .collect();
        assert_eq!(
            format!("{h:?}"),
            r#"[("a", "1"), ("Passcode", "<redacted>"), ("b", "")]"#
        );
        assert_eq!(format!("{:?}", Headers::new()), "[]");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let h: Headers = [
            ("login", "alice"),
            ("passcode", "hunter2"),
            ("Authorization", "x"),
        ]
        .into_iter()
        .collect();
        let text = format!("{h:?}");
        assert!(text.contains("alice"));
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("\"x\""));
    }
}

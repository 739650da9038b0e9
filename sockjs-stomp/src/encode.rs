//! Encoding frames, the server's in particular, as the strings sent in SockJS messages.
//!
//! Each server frame is one SockJS message, and a heart-beat is a message of its own holding
//! exactly `"\n"` ([`HEART_BEAT`]): stompjs 2.3.3 recognises a heart-beat only as a whole
//! message equal to `"\n"`, and parses every message as whole frames (it does not buffer a
//! frame split over messages), so the server never splits or merges frames.
//!
//! What the clients parse, and so what the encoder writes:
//!
//! * `MESSAGE` and `ERROR` always carry `content-length` (UTF-8 bytes of the body): with it
//!   @stomp/stompjs reads a body containing NULs; stompjs 2.3.3 splits a message at NULs
//!   first, so it can read neither NULs in bodies nor anything else, whatever the server does.
//!   `CONNECTED` and `RECEIPT` have no body and no `content-length`.
//! * Every frame ends with a NUL and nothing after it.
//! * Header names and values are escaped for the session's version (1.2: `\\`, `\n`, `\r`,
//!   `\c`; 1.1: the same but CR is written raw, as 1.1 has no escape for it), never in
//!   `CONNECTED`. Where a version cannot carry a character (1.0, `CONNECTED`, and an `ERROR`
//!   before a version is agreed) LF and CR become a space, and so does a colon in a header
//!   name, so the frame always stays well formed.
//! * Client quirks to know about: @stomp/stompjs unescapes only on 1.2 sessions, and stompjs
//!   2.3.3 (which negotiates 1.1) never does, so on 1.1 a header value with `:` or `\`
//!   reaches such a page escaped (`\c`). Spring's encoder escapes the same way. And
//!   @stomp/stompjs 7 unescapes with four replacements in a row (`\r`, `\n`, `\c`, then
//!   `\\`), so a value holding a backslash followed by `c`, `n` or `r` (`a\c` → `a\\c` on
//!   the wire) comes out as `a\:` in that client. Checked by
//!   feeding this encoder's output to both libraries' parsers in Node.

use crate::frame::{Command, Frame, Version};

/// The EOL heart-beat the server sends, as one SockJS message.
pub const HEART_BEAT: &str = "\n";

/// How header text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    /// No escaping possible: characters that would break the frame become spaces.
    Raw,
    /// STOMP 1.1 escaping.
    V1_1,
    /// STOMP 1.2 escaping.
    V1_2,
}

fn escape_mode(version: Option<Version>, command: Command) -> Escape {
    if command.is_handshake() {
        return Escape::Raw;
    }
    match version {
        Some(Version::V1_2) => Escape::V1_2,
        Some(Version::V1_1) => Escape::V1_1,
        Some(Version::V1_0) | None => Escape::Raw,
    }
}

fn push_escaped(out: &mut String, text: &str, mode: Escape, is_name: bool) {
    // A branch-free byte scan (the compiler vectorises it): every special character is
    // ASCII, and most text has none.
    if !text.bytes().fold(false, |found, b| {
        found | (b == b'\\') | (b == b'\n') | (b == b'\r') | (b == b':')
    }) {
        out.push_str(text);
        return;
    }
    // Runs between special characters are copied whole; every special character is ASCII,
    // so run ends are character boundaries.
    let mut run = 0;
    for (i, b) in text.bytes().enumerate() {
        let replacement = match (mode, b) {
            (Escape::Raw, b'\n' | b'\r') => " ",
            (Escape::Raw, b':') if is_name => " ",
            (Escape::Raw, _) => continue,
            (_, b'\\') => "\\\\",
            (_, b'\n') => "\\n",
            (_, b':') => "\\c",
            (Escape::V1_2, b'\r') => "\\r",
            _ => continue,
        };
        out.push_str(&text[run..i]);
        out.push_str(replacement);
        run = i + 1;
    }
    out.push_str(&text[run..]);
}

/// Writes frames header by header.
struct Writer<'a> {
    out: &'a mut String,
    mode: Escape,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut String, command: Command, version: Option<Version>) -> Writer<'a> {
        out.push_str(command.as_str());
        out.push('\n');
        Writer {
            out,
            mode: escape_mode(version, command),
        }
    }

    /// A header whose name is one of this crate's own (no character to escape in any
    /// version).
    fn known_header(&mut self, name: &'static str, value: &str) {
        debug_assert!(!name.contains(['\\', '\n', '\r', ':']));
        self.out.push_str(name);
        self.out.push(':');
        push_escaped(self.out, value, self.mode, false);
        self.out.push('\n');
    }

    fn header(&mut self, name: &str, value: &str) {
        push_escaped(self.out, name, self.mode, true);
        self.out.push(':');
        push_escaped(self.out, value, self.mode, false);
        self.out.push('\n');
    }

    /// The `content-length` header, written without escaping or a temporary string (digits
    /// need none).
    fn content_length(&mut self, len: usize) {
        self.out.push_str("content-length:");
        self.out.push_str(itoa::Buffer::new().format(len));
        self.out.push('\n');
    }

    fn finish(self, body: &str) {
        self.out.push('\n');
        self.out.push_str(body);
        self.out.push('\0');
    }
}

/// A string with room for `capacity` bytes besides the command line.
fn frame_string(command: Command, capacity: usize) -> String {
    String::with_capacity(capacity + command.as_str().len() + 2)
}

impl Frame {
    /// Encodes the frame for a session speaking `version` (`None`: before a version is
    /// agreed, so nothing is escaped), headers in order, exactly as given: no
    /// `content-length` is added (use [`Frame::body_with_length`] when the body may contain
    /// NUL).
    ///
    /// ```
    /// use sockjs_stomp::{Command, Frame, Version};
    /// let frame = Frame::new(Command::Send).header("destination", "/a:b").body("hi");
    /// assert_eq!(frame.encode(Some(Version::V1_2)), "SEND\ndestination:/a\\cb\n\nhi\0");
    /// ```
    pub fn encode(&self, version: Option<Version>) -> String {
        let mut out = frame_string(
            self.command,
            self.headers.byte_len() + 2 * self.headers.len() + self.body.len() + 2,
        );
        let mut w = Writer::new(&mut out, self.command, version);
        for (name, value) in self.headers.iter() {
            w.header(name, value);
        }
        w.finish(&self.body);
        out
    }
}

/// The `CONNECTED` frame. `version` is omitted for a 1.0 session (as Spring does when the
/// client sent no `accept-version`); `heart-beat` is always present (`0,0` on 1.0), because
/// stompjs 2.3.3 reads it unconditionally on 1.1.
///
/// ```
/// use sockjs_stomp::{encode, Version};
/// assert_eq!(
///     encode::connected(Version::V1_2, (10000, 10000), Some("sockjs-stomp"), Some("alice")),
///     "CONNECTED\nversion:1.2\nheart-beat:10000,10000\nserver:sockjs-stomp\nuser-name:alice\n\n\0",
/// );
/// ```
pub fn connected(
    version: Version,
    heart_beat: (u64, u64),
    server: Option<&str>,
    user_name: Option<&str>,
) -> String {
    let mut out = frame_string(Command::Connected, 96);
    let mut w = Writer::new(&mut out, Command::Connected, Some(version));
    if version != Version::V1_0 {
        w.header("version", version.as_str());
    }
    w.header("heart-beat", &format!("{},{}", heart_beat.0, heart_beat.1));
    if let Some(server) = server {
        w.header("server", server);
    }
    if let Some(user) = user_name {
        w.header("user-name", user);
    }
    w.finish("");
    out
}

/// The `RECEIPT` frame for a client frame's `receipt` header.
///
/// ```
/// use sockjs_stomp::{encode, Version};
/// assert_eq!(encode::receipt(Some(Version::V1_2), "r-1"), "RECEIPT\nreceipt-id:r-1\n\n\0");
/// ```
pub fn receipt(version: Option<Version>, receipt_id: &str) -> String {
    let mut out = frame_string(Command::Receipt, 24 + receipt_id.len());
    let mut w = Writer::new(&mut out, Command::Receipt, version);
    w.header("receipt-id", receipt_id);
    w.finish("");
    out
}

/// An `ERROR` frame: a short `message` header, `receipt-id` when the offending frame asked for
/// a receipt, any `extra` headers (a version mismatch lists the server's versions in
/// `version`), and `body` as `text/plain`.
///
/// ```
/// use sockjs_stomp::encode;
/// assert_eq!(
///     encode::error(None, "bad frame", Some("r-7"), &[], "details"),
///     "ERROR\nmessage:bad frame\nreceipt-id:r-7\ncontent-type:text/plain\ncontent-length:7\n\ndetails\0",
/// );
/// ```
pub fn error(
    version: Option<Version>,
    message: &str,
    receipt_id: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> String {
    let mut out = frame_string(Command::Error, 96 + message.len() + body.len());
    let mut w = Writer::new(&mut out, Command::Error, version);
    w.header("message", message);
    if let Some(id) = receipt_id {
        w.header("receipt-id", id);
    }
    for (name, value) in extra {
        w.header(name, value);
    }
    w.known_header("content-type", "text/plain");
    w.content_length(body.len());
    w.finish(body);
    out
}

/// Header names a `MESSAGE` frame sets itself; extra headers with these names are not
/// copied (so a publisher cannot forge a subscription or break the body's length).
pub const RESERVED_MESSAGE_HEADERS: [&str; 8] = [
    "subscription",
    "message-id",
    "destination",
    "ack",
    "content-type",
    "content-length",
    "receipt",
    "transaction",
];

/// The parts of a `MESSAGE` frame.
#[derive(Clone, Copy, Debug)]
pub struct MessageFrame<'a> {
    /// The `subscription` header: the client's id for the subscription (absent only for a 1.0
    /// subscription made without an id).
    pub subscription: Option<&'a str>,
    /// The `message-id` header.
    pub message_id: &'a str,
    /// The `ack` header (1.2, for `client` and `client-individual` subscriptions only).
    pub ack: Option<&'a str>,
    /// The `destination` header.
    pub destination: &'a str,
    /// The `content-type` header, when the message has one.
    pub content_type: Option<&'a str>,
    /// Further headers, after the standard ones; [`RESERVED_MESSAGE_HEADERS`] are skipped.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a str,
}

impl MessageFrame<'_> {
    /// Encodes the frame for a session speaking `version`.
    ///
    /// ```
    /// use sockjs_stomp::{encode::MessageFrame, Version};
    /// let frame = MessageFrame {
    ///     subscription: Some("sub-0"),
    ///     message_id: "7",
    ///     ack: None,
    ///     destination: "/topic/greetings",
    ///     content_type: Some("application/json"),
    ///     headers: &[],
    ///     body: "{\"content\":\"Hello\"}",
    /// };
    /// assert_eq!(
    ///     frame.encode(Version::V1_2),
    ///     "MESSAGE\nsubscription:sub-0\nmessage-id:7\ndestination:/topic/greetings\n\
    ///      content-type:application/json\ncontent-length:19\n\n{\"content\":\"Hello\"}\0",
    /// );
    /// ```
    pub fn encode(&self, version: Version) -> String {
        let mut out = frame_string(Command::Message, self.text_len_hint());
        self.write(version, &mut out);
        out
    }

    /// About how long the frame is, in bytes: room enough unless headers need escaping.
    pub fn text_len_hint(&self) -> usize {
        96 + self.destination.len()
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 2)
                .sum::<usize>()
    }

    /// Appends the frame for a session speaking `version` to `out`: the text
    /// [`encode`](MessageFrame::encode) returns.
    pub fn write(&self, version: Version, out: &mut String) {
        let mut w = Writer::new(out, Command::Message, Some(version));
        if let Some(sub) = self.subscription {
            w.known_header("subscription", sub);
        }
        w.known_header("message-id", self.message_id);
        if let Some(ack) = self.ack {
            w.known_header("ack", ack);
        }
        w.known_header("destination", self.destination);
        if let Some(ct) = self.content_type {
            w.known_header("content-type", ct);
        }
        w.content_length(self.body.len());
        for (name, value) in self.headers {
            if !RESERVED_MESSAGE_HEADERS.contains(&name.as_str()) {
                w.header(name, value);
            }
        }
        w.finish(self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decoder, Item, Limits};

    fn decode_one(version: Option<Version>, text: &str) -> Frame {
        let mut d = Decoder::new(Limits::default());
        d.set_version(version);
        d.push(text);
        match d.next_item() {
            Ok(Some(Item::Frame(f))) => {
                assert_eq!(d.next_item(), Ok(None), "one frame, nothing after it");
                f
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escaping_per_version() {
        let frame = Frame::new(Command::Message).header("k:\\", "a\nb\rc:d\\e");
        assert_eq!(
            frame.encode(Some(Version::V1_2)),
            "MESSAGE\nk\\c\\\\:a\\nb\\rc\\cd\\\\e\n\n\0"
        );
        assert_eq!(
            frame.encode(Some(Version::V1_1)),
            "MESSAGE\nk\\c\\\\:a\\nb\rc\\cd\\\\e\n\n\0"
        );
        assert_eq!(
            frame.encode(Some(Version::V1_0)),
            "MESSAGE\nk \\:a b c:d\\e\n\n\0"
        );
        assert_eq!(frame.encode(None), "MESSAGE\nk \\:a b c:d\\e\n\n\0");
    }

    #[test]
    fn connected_is_never_escaped() {
        let text = connected(Version::V1_2, (0, 0), Some("a:b"), Some("x\\y\nz"));
        assert_eq!(
            text,
            "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:a:b\nuser-name:x\\y z\n\n\0"
        );
        let f = decode_one(Some(Version::V1_2), &text);
        assert_eq!(f.headers.get("user-name"), Some("x\\y z"));
    }

    #[test]
    fn connected_for_1_0_has_no_version() {
        assert_eq!(
            connected(Version::V1_0, (0, 0), None, None),
            "CONNECTED\nheart-beat:0,0\n\n\0"
        );
    }

    #[test]
    fn escaped_frames_decode_back_to_the_same_headers() {
        let nasty = "a:b\\c\nd\re\\n\\c";
        for version in [Version::V1_1, Version::V1_2] {
            let f = Frame::new(Command::Send)
                .header(nasty, nasty)
                .header("x", "")
                .body_with_length("body\0with nul");
            // 1.1 writes CR raw; the decoder keeps a CR that does not end a line.
            let back = decode_one(Some(version), &f.encode(Some(version)));
            assert_eq!(back.headers.get(nasty), Some(nasty));
            assert_eq!(back, f);
        }
    }

    #[test]
    fn message_frame_has_length_and_skips_reserved_headers() {
        let headers = vec![
            ("subscription".to_owned(), "forged".to_owned()),
            ("content-length".to_owned(), "1".to_owned()),
            ("priority".to_owned(), "9".to_owned()),
        ];
        let m = MessageFrame {
            subscription: Some("s:1"),
            message_id: "42",
            ack: Some("42"),
            destination: "/user/queue/a:b",
            content_type: None,
            headers: &headers,
            body: "x\0y",
        };
        let text = m.encode(Version::V1_2);
        let f = decode_one(Some(Version::V1_2), &text);
        assert_eq!(f.command, Command::Message);
        assert_eq!(f.headers.get("subscription"), Some("s:1"));
        assert_eq!(f.headers.get("message-id"), Some("42"));
        assert_eq!(f.headers.get("ack"), Some("42"));
        assert_eq!(f.headers.get("destination"), Some("/user/queue/a:b"));
        assert_eq!(f.headers.get("content-length"), Some("3"));
        assert_eq!(f.headers.get("priority"), Some("9"));
        assert_eq!(
            f.headers
                .iter()
                .filter(|(n, _)| *n == "subscription")
                .count(),
            1
        );
        assert_eq!(f.body, "x\0y");
        assert!(text.ends_with("x\0y\0"));
    }

    #[test]
    fn error_frame() {
        let text = error(
            Some(Version::V1_2),
            "Unsupported version: a:b",
            None,
            &[("version", "1.0,1.1,1.2")],
            "",
        );
        let f = decode_one(Some(Version::V1_2), &text);
        assert_eq!(f.headers.get("message"), Some("Unsupported version: a:b"));
        assert_eq!(f.headers.get("version"), Some("1.0,1.1,1.2"));
        assert_eq!(f.headers.get("content-length"), Some("0"));
        // Before negotiation a newline in the message cannot break the frame.
        let text = error(None, "line\nbreak", None, &[], "b");
        assert!(text.starts_with("ERROR\nmessage:line break\n"));
    }

    #[test]
    fn receipt_frame() {
        let f = decode_one(Some(Version::V1_1), &receipt(Some(Version::V1_1), "a:b"));
        assert_eq!(f.command, Command::Receipt);
        assert_eq!(f.headers.get("receipt-id"), Some("a:b"));
    }
}

//! The load generator's STOMP client codec, written for the benchmark (it does not use the
//! `sockjs-stomp` crate under test): the few client frames it sends, a reader of server frames,
//! and the two ways frames travel over a websocket.
//!
//! * [`Carrier::SockJs`]: each STOMP frame is one SockJS message, so it goes out as
//!   `["…"]` (JSON-escaped: a frame always holds `\n` and a NUL) and comes back inside
//!   `a[…]` frames, possibly several per websocket message.
//! * [`Carrier::WebSocket`]: each websocket text message carries STOMP text directly, as
//!   RabbitMQ's web-STOMP plugin and SockJS's raw `/websocket` endpoint have it.
//!
//! Server frames are read with the STOMP 1.2 rules a client needs: LF or CR LF line ends,
//! EOL heart-beats between frames, the first of repeated headers counts, a body of exactly
//! `content-length` bytes followed by a NUL, or up to the first NUL without that header.
//! A frame may be split over several messages, and one message may hold several frames.
//! Header values are not unescaped: the benchmark's destinations and ids contain nothing that
//! STOMP escapes, so the raw value is the value.
//!
//! The load path runs once per message on the load generator's single core, so it avoids
//! per-message formatting and searches: [`SendWriter`] builds a `SEND`'s head once per
//! session, and the reader scans a frame's lines once, picking out the headers every
//! `MESSAGE` is checked on ([`ServerFrame::subscription`] and the next two fields).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::frame::shorten;
use crate::framing::{Framing, SockJsFraming};

/// Largest incomplete frame the reader buffers.
const MAX_PARTIAL: usize = 1024 * 1024;

/// How STOMP frames travel inside websocket text messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    /// One SockJS message per frame, in a SockJS websocket session.
    SockJs,
    /// STOMP text directly in websocket text messages.
    WebSocket,
}

impl Carrier {
    /// Append the websocket text message carrying the frame that `frame` writes (`scratch`
    /// holds the frame while it is escaped for SockJS).
    pub(crate) fn wrap(
        self,
        out: &mut String,
        scratch: &mut String,
        frame: impl FnOnce(&mut String),
    ) {
        match self {
            Carrier::WebSocket => frame(out),
            Carrier::SockJs => {
                scratch.clear();
                frame(scratch);
                out.push_str("[\"");
                push_json_escaped(out, scratch);
                out.push_str("\"]");
            }
        }
    }

    /// Take one websocket text message apart into the STOMP text it carries, calling
    /// `on_text` for each piece in order (a SockJS `a` frame may carry several messages; `h`
    /// carries none). Another `o` frame or a `c` frame is an error.
    pub(crate) fn unwrap(
        self,
        message: &str,
        scratch: &mut String,
        mut on_text: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        match self {
            Carrier::WebSocket => on_text(message),
            Carrier::SockJs => {
                if message.starts_with('a') {
                    if let Some(result) = sockjs_messages(message, scratch, &mut on_text) {
                        return result;
                    }
                }
                // The rare shapes (and `a` frames the fast decoder leaves alone): the generic
                // SockJS client framing.
                SockJsFraming.read(message, on_text)
            }
        }
    }
}

/// Whether JSON needs `b` escaped inside a string.
fn needs_json_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Append `text` as the inside of a JSON string.
fn push_json_escaped(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = text;
    while let Some(at) = rest.bytes().position(needs_json_escape) {
        out.push_str(&rest[..at]);
        match rest.as_bytes()[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                // A control character: `\u00XX`.
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        // The byte was ASCII: the next one starts a character.
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Decode a SockJS `a[…]` frame's strings one by one into `scratch`, calling `on_text` for
/// each. `None` when the frame starts with a shape this fast path does not handle
/// (whitespace, a surrogate pair): the caller then uses the generic parser, which also
/// reports malformed frames. A frame that goes wrong after some of its strings were
/// delivered is an error here (SockJS servers write no whitespace, and the benchmark's
/// payloads are ASCII, so neither happens in a run).
fn sockjs_messages(
    frame: &str,
    scratch: &mut String,
    on_text: &mut impl FnMut(&str) -> Result<(), String>,
) -> Option<Result<(), String>> {
    let inner = frame.strip_prefix("a[")?.strip_suffix(']')?;
    let mut rest = inner;
    let mut delivered = false;
    let malformed =
        |delivered: bool| delivered.then(|| Err(format!("malformed frame {}", shorten(frame))));
    while !rest.is_empty() {
        let Some(body) = rest.strip_prefix('"') else {
            return malformed(delivered);
        };
        scratch.clear();
        let Some(end) = take_json_string(body, scratch) else {
            return malformed(delivered);
        };
        if let Err(e) = on_text(scratch) {
            return Some(Err(e));
        }
        delivered = true;
        rest = &body[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            if r.is_empty() {
                return Some(Err(format!("malformed frame {}", shorten(frame))));
            }
            rest = r;
        } else if !rest.is_empty() {
            return malformed(delivered);
        }
    }
    Some(Ok(()))
}

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `word` that equals `b`. Exact up to the first such byte; a
/// byte above it may be flagged too (a borrow), so only the lowest flag is to be trusted.
fn flag_bytes(word: u64, b: u8) -> u64 {
    let x = word ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// Where the first byte of `bytes` equal to `a` or `b` is, looking at eight bytes at a time
/// (the frames' lines and JSON runs are short: the setup of a library search costs more).
fn find2(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let flags = flag_bytes(word, a) | flag_bytes(word, b);
        if flags != 0 {
            // Little-endian: the lowest flag is the first byte.
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = chunks.remainder();
    rest.iter().position(|&c| c == a || c == b).map(|n| at + n)
}

/// Read the JSON string that starts at `text` (after its opening quote) in one pass,
/// appending it unescaped to `out`; returns where its closing quote is. `None` if it does not
/// end, or for an escape this decoder does not handle.
fn take_json_string(text: &str, out: &mut String) -> Option<usize> {
    let bytes = text.as_bytes();
    // The start of the run of plain characters not yet appended.
    let mut run = 0;
    let mut i = 0;
    loop {
        // Slices start and end at ASCII bytes (`"`, `\\`, an escape's end): character
        // boundaries.
        let at = i + find2(bytes.get(i..)?, b'"', b'\\')?;
        out.push_str(&text[run..at]);
        if bytes[at] == b'"' {
            return Some(at);
        }
        let esc = *bytes.get(at + 1)?;
        i = at + 2;
        match esc {
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hex = bytes.get(i..i + 4)?;
                let mut code = 0;
                for &h in hex {
                    code = code * 16 + char::from(h).to_digit(16)?;
                }
                i += 4;
                // Surrogate pairs are left to serde_json.
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
        run = i;
    }
}

/// `CONNECT` for STOMP 1.2 with a login, asking for server heart-beats every `server_beat_ms`
/// (0: none) and sending none itself.
pub(crate) fn connect(out: &mut String, login: &str, passcode: &str, server_beat_ms: u32) {
    let _ = write!(
        out,
        "CONNECT\naccept-version:1.2\nlogin:{login}\npasscode:{passcode}\nheart-beat:0,{server_beat_ms}\n\n\0"
    );
}

/// `SUBSCRIBE` with automatic acknowledgement and a receipt named after the subscription.
pub(crate) fn subscribe(out: &mut String, id: &str, destination: &str) {
    let _ = write!(
        out,
        "SUBSCRIBE\nid:{id}\ndestination:{destination}\nack:auto\nreceipt:{id}\n\n\0"
    );
}

/// The head of a `SEND` of a `len`-byte text body: command and headers, up to the body.
fn send_head(out: &mut String, destination: &str, len: usize) {
    let _ = write!(
        out,
        "SEND\ndestination:{destination}\ncontent-type:text/plain\ncontent-length:{len}\n\n"
    );
}

/// Writes the `SEND` frames of one destination, each carried as the carrier has it, with
/// `content-length` as the STOMP clients send it. The frame's constant head (command and
/// headers, JSON-escaped for SockJS) is built once per body length, so a frame costs a copy
/// of the head, the body, and the tail.
#[derive(Clone, Debug)]
pub(crate) struct SendWriter {
    carrier: Carrier,
    destination: Arc<str>,
    /// The body length `head` was built for.
    head_len: usize,
    /// The start of the websocket message up to the body (empty until the first frame).
    head: String,
}

impl SendWriter {
    /// A writer of `SEND` frames to `destination` over `carrier`.
    pub(crate) fn new(carrier: Carrier, destination: Arc<str>) -> SendWriter {
        SendWriter {
            carrier,
            destination,
            head_len: 0,
            head: String::new(),
        }
    }

    /// Append the websocket text message carrying a `SEND` whose `len`-byte body `body`
    /// appends.
    pub(crate) fn write(&mut self, out: &mut String, len: usize, body: impl FnOnce(&mut String)) {
        if self.head.is_empty() || self.head_len != len {
            self.head.clear();
            match self.carrier {
                Carrier::WebSocket => send_head(&mut self.head, &self.destination, len),
                Carrier::SockJs => {
                    let mut head = String::new();
                    send_head(&mut head, &self.destination, len);
                    self.head.push_str("[\"");
                    push_json_escaped(&mut self.head, &head);
                }
            }
            self.head_len = len;
        }
        out.push_str(&self.head);
        let start = out.len();
        body(out);
        debug_assert_eq!(out.len() - start, len, "content-length matches the body");
        match self.carrier {
            Carrier::WebSocket => out.push('\0'),
            Carrier::SockJs => {
                // The benchmark's payloads need no escaping; any other body still gets it.
                if out.as_bytes()[start..]
                    .iter()
                    .any(|&b| needs_json_escape(b))
                {
                    let body = out.split_off(start);
                    push_json_escaped(out, &body);
                }
                out.push_str("\\u0000\"]");
            }
        }
    }
}

/// One frame from the server, borrowed from the reader's input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerFrame<'a> {
    /// `CONNECTED`, `MESSAGE`, `RECEIPT`, `ERROR`, ...
    pub(crate) command: &'a str,
    /// The header lines, as received.
    headers: &'a str,
    /// The body.
    pub(crate) body: &'a str,
    /// The first `subscription` header, picked out while the frame was read (with the two
    /// below, what every `MESSAGE` under load is checked on, without a search per header).
    pub(crate) subscription: Option<&'a str>,
    /// The first `destination` header.
    pub(crate) destination: Option<&'a str>,
    /// The first `message-id` header.
    pub(crate) message_id: Option<&'a str>,
}

impl<'a> ServerFrame<'a> {
    /// The first header called `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.split('\n').find_map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let (n, v) = line.split_once(':')?;
            (n == name).then_some(v)
        })
    }

    /// `Ok` if the first header `name` is `want`.
    pub(crate) fn expect_header(&self, name: &str, want: &str) -> Result<(), String> {
        match self.header(name) {
            Some(v) if v == want => Ok(()),
            v => Err(format!(
                "{} with {name} {v:?}, expected {want:?}",
                self.command
            )),
        }
    }

    /// A one-line description for error messages: the command, an `ERROR`'s `message`
    /// header, and the start of the body.
    pub(crate) fn describe(&self) -> String {
        match self.header("message") {
            Some(m) => format!("{} ({m:?}): {}", self.command, shorten(self.body)),
            None => format!("{}: {}", self.command, shorten(self.body)),
        }
    }
}

/// Reads server frames from STOMP text that arrives in pieces.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reader {
    /// An incomplete frame waiting for the rest.
    partial: String,
    /// EOL heart-beats seen.
    pub(crate) heart_beats: u64,
}

impl Reader {
    /// Read the STOMP text `text`, calling `on_frame` for each complete frame in order; an
    /// incomplete frame at the end is kept for the next call.
    pub(crate) fn push(
        &mut self,
        text: &str,
        mut on_frame: impl FnMut(ServerFrame<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.partial.is_empty() {
            let used = frames(text, &mut self.heart_beats, &mut on_frame)?;
            self.keep(&text[used..])
        } else {
            self.partial.push_str(text);
            let buffered = std::mem::take(&mut self.partial);
            let used = frames(&buffered, &mut self.heart_beats, &mut on_frame)?;
            self.keep(&buffered[used..])
        }
    }

    fn keep(&mut self, rest: &str) -> Result<(), String> {
        if rest.len() > MAX_PARTIAL {
            return Err(format!(
                "an incomplete server frame over {MAX_PARTIAL} bytes: {}",
                shorten(rest)
            ));
        }
        self.partial.push_str(rest);
        Ok(())
    }

    /// Whether an incomplete frame is buffered.
    #[cfg(test)]
    pub(crate) fn has_partial(&self) -> bool {
        !self.partial.is_empty()
    }
}

/// Read the complete frames at the start of `text`; returns how many bytes they (and the
/// heart-beats around them) took.
fn frames(
    text: &str,
    heart_beats: &mut u64,
    on_frame: &mut impl FnMut(ServerFrame<'_>) -> Result<(), String>,
) -> Result<usize, String> {
    let mut at = 0;
    loop {
        // EOLs between frames are heart-beats.
        let rest = &text[at..];
        if let Some(r) = rest.strip_prefix('\n') {
            *heart_beats += 1;
            at = text.len() - r.len();
            continue;
        }
        if let Some(r) = rest.strip_prefix("\r\n") {
            *heart_beats += 1;
            at = text.len() - r.len();
            continue;
        }
        if rest.is_empty() {
            return Ok(at);
        }
        match one_frame(rest)? {
            Some((frame, used)) => {
                on_frame(frame)?;
                at += used;
            }
            None => return Ok(at),
        }
    }
}

/// The frame at the start of `text` and its length, or `None` if it is not complete yet.
/// One pass over the command and header lines finds each line's end and picks out the
/// headers the reader and the load path need.
fn one_frame(text: &str) -> Result<Option<(ServerFrame<'_>, usize)>, String> {
    let bytes = text.as_bytes();
    let Some(eol) = find2(bytes, b'\n', b'\n') else {
        return Ok(None);
    };
    let command = text[..eol].strip_suffix('\r').unwrap_or(&text[..eol]);
    if command.is_empty() || !command.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("not a STOMP frame: {}", shorten(text)));
    }
    let mut frame = ServerFrame {
        command,
        headers: "",
        body: "",
        subscription: None,
        destination: None,
        message_id: None,
    };
    let mut content_length = None;
    // Header lines up to an empty line. Every slice below starts and ends at an ASCII byte
    // (`:`, `\r`, `\n`): character boundaries.
    let headers_start = eol + 1;
    let mut line_start = headers_start;
    let body_start = loop {
        let Some(n) = find2(&bytes[line_start..], b'\n', b'\n') else {
            return Ok(None);
        };
        let end = line_start + n;
        let line = &bytes[line_start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A header's name is up to the first colon: a line starting with `name:` is a
        // `name` header.
        let wanted = match line.first() {
            None => break end + 1,
            Some(b'c') => Some((&b"content-length:"[..], &mut content_length)),
            Some(b's') => Some((&b"subscription:"[..], &mut frame.subscription)),
            Some(b'd') => Some((&b"destination:"[..], &mut frame.destination)),
            Some(b'm') => Some((&b"message-id:"[..], &mut frame.message_id)),
            Some(_) => None,
        };
        if let Some((prefix, slot)) = wanted {
            // The first of repeated headers counts.
            if slot.is_none() && line.starts_with(prefix) {
                *slot = Some(&text[line_start + prefix.len()..line_start + line.len()]);
            }
        }
        line_start = end + 1;
    };
    frame.headers = &text[headers_start..line_start];
    let body_end = match content_length {
        Some(len) => {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("bad content-length {len:?} in {}", shorten(text)))?;
            let end = body_start + len;
            match bytes.get(end) {
                None => return Ok(None),
                Some(0) => end,
                Some(_) => {
                    return Err(format!(
                        "no NUL after a body of content-length {len}: {}",
                        shorten(text)
                    ))
                }
            }
        }
        None => match find2(&bytes[body_start..], 0, 0) {
            Some(n) => body_start + n,
            None => return Ok(None),
        },
    };
    frame.body = text
        .get(body_start..body_end)
        .ok_or_else(|| format!("content-length cuts a character: {}", shorten(text)))?;
    Ok(Some((frame, body_end + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut Reader, text: &str) -> Result<Vec<(String, String, String)>, String> {
        let mut got = Vec::new();
        reader.push(text, |f| {
            got.push((
                f.command.to_string(),
                f.header("destination").unwrap_or("").to_string(),
                f.body.to_string(),
            ));
            Ok(())
        })?;
        Ok(got)
    }

    fn wrapped(carrier: Carrier, frame: &str) -> String {
        let mut out = String::new();
        carrier.wrap(&mut out, &mut String::new(), |o| o.push_str(frame));
        out
    }

    #[test]
    fn client_frames() {
        let mut out = String::new();
        connect(&mut out, "guest", "pw", 10_000);
        assert_eq!(
            out,
            "CONNECT\naccept-version:1.2\nlogin:guest\npasscode:pw\nheart-beat:0,10000\n\n\0"
        );
        out.clear();
        subscribe(&mut out, "s1", "/topic/a");
        assert_eq!(
            out,
            "SUBSCRIBE\nid:s1\ndestination:/topic/a\nack:auto\nreceipt:s1\n\n\0"
        );
        out.clear();
        SendWriter::new(Carrier::WebSocket, "/topic/a".into())
            .write(&mut out, 2, |o| o.push_str("hi"));
        assert_eq!(
            out,
            "SEND\ndestination:/topic/a\ncontent-type:text/plain\ncontent-length:2\n\nhi\0"
        );
    }

    #[test]
    fn sends_are_the_frames_the_carriers_wrap() {
        for carrier in [Carrier::WebSocket, Carrier::SockJs] {
            let mut writer = SendWriter::new(carrier, "/topic/q\"a".into());
            // The head is cached per body length: lengths change, and come back.
            for body in [
                "0000000001:bc",
                "x",
                "0000000002:cd",
                "",
                "q\"b\\\n\u{1}é",
                "x",
            ] {
                let mut out = String::from("kept");
                writer.write(&mut out, body.len(), |o| o.push_str(body));
                let frame = format!(
                    "SEND\ndestination:/topic/q\"a\ncontent-type:text/plain\ncontent-length:{}\n\n{body}\0",
                    body.len()
                );
                assert_eq!(out, format!("kept{}", wrapped(carrier, &frame)), "{body:?}");
            }
        }
    }

    #[test]
    fn carriers_wrap() {
        assert_eq!(wrapped(Carrier::WebSocket, "SEND\n\nx\0"), "SEND\n\nx\0");
        assert_eq!(
            wrapped(Carrier::SockJs, "SEND\n\nx\0"),
            r#"["SEND\n\nx\u0000"]"#
        );
        assert_eq!(wrapped(Carrier::SockJs, "plain"), r#"["plain"]"#);
        assert_eq!(
            wrapped(Carrier::SockJs, "q\"b\\s\r\t"),
            r#"["q\"b\\s\r\t"]"#
        );
        // What the wrapper writes is what a JSON parser reads back.
        let frame = "MESSAGE\nk:v\n\n\"é\u{1}\0";
        let json = wrapped(Carrier::SockJs, frame);
        let back: Vec<String> = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back, [frame]);
    }

    fn unwrap_all(carrier: Carrier, message: &str) -> Result<Vec<String>, String> {
        let mut scratch = String::new();
        let mut got = Vec::new();
        carrier.unwrap(message, &mut scratch, |t| {
            got.push(t.to_string());
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn carriers_unwrap() {
        assert_eq!(
            unwrap_all(Carrier::WebSocket, "MESSAGE\n\n\0"),
            Ok(vec!["MESSAGE\n\n\0".into()])
        );
        let sockjs = Carrier::SockJs;
        assert_eq!(unwrap_all(sockjs, "h"), Ok(vec![]));
        assert_eq!(
            unwrap_all(sockjs, r#"a["A\n\u0000","\n","x\"\\\/\b\f\r\t\u00e9"]"#),
            Ok(vec![
                "A\n\0".into(),
                "\n".into(),
                "x\"\\/\u{8}\u{c}\r\t\u{e9}".into()
            ])
        );
        assert_eq!(unwrap_all(sockjs, "a[]"), Ok(vec![]));
        // Shapes the fast path leaves to the generic parser: a surrogate pair, whitespace.
        assert_eq!(
            unwrap_all(sockjs, r#"a["\ud83d\ude00"]"#),
            Ok(vec!["😀".into()])
        );
        assert_eq!(
            unwrap_all(sockjs, r#"a[ "x\n" , "y" ]"#),
            Ok(vec!["x\n".into(), "y".into()])
        );
        assert!(unwrap_all(sockjs, "o").is_err(), "a second open frame");
        assert!(unwrap_all(sockjs, "c[3000,\"Go away!\"]").is_err());
        assert!(unwrap_all(sockjs, "a[\"x\"").is_err(), "malformed");
        assert!(unwrap_all(sockjs, "a[\"x\",]").is_err(), "malformed");
        assert!(unwrap_all(sockjs, "a[\"x\\q\"]").is_err(), "bad escape");
        assert!(unwrap_all(sockjs, "a[\"x\\u+041\"]").is_err(), "bad escape");
        assert!(
            unwrap_all(sockjs, "a[\"x\\u004\"]").is_err(),
            "short escape"
        );
        assert!(
            unwrap_all(sockjs, "a[\"x\\\"]").is_err(),
            "no closing quote"
        );
        assert!(
            unwrap_all(sockjs, "a[\"é\",\"x\\é\"]").is_err(),
            "bad escape"
        );
        // Whatever `wrap` writes, `unwrap` reads back.
        let frame = "SEND\ndestination:/topic/a\n\n\"\\\u{1}é\0";
        assert_eq!(
            unwrap_all(sockjs, &format!("a{}", wrapped(sockjs, frame))),
            Ok(vec![frame.into()])
        );
    }

    #[test]
    fn reads_frames_and_heart_beats() {
        let mut r = Reader::default();
        let got = read_all(
            &mut r,
            "\nCONNECTED\nversion:1.2\n\n\0\nMESSAGE\ndestination:/topic/a\ncontent-length:3\n\na\0b\0\r\n",
        )
        .expect("valid");
        assert_eq!(
            got,
            [
                ("CONNECTED".into(), "".into(), "".into()),
                ("MESSAGE".into(), "/topic/a".into(), "a\0b".into())
            ]
        );
        assert_eq!(r.heart_beats, 3);
        assert!(!r.has_partial());
    }

    #[test]
    fn first_header_counts_and_crlf_lines() {
        let mut r = Reader::default();
        let mut seen = None;
        r.push(
            "MESSAGE\r\ndestination:/a\r\ndestination:/b\r\nx:y:z\r\n\r\nbody\0",
            |f| {
                seen = Some((
                    f.command.to_string(),
                    f.header("destination").map(str::to_string),
                    f.header("x").map(str::to_string),
                    f.header("missing").map(str::to_string),
                    f.body.to_string(),
                ));
                Ok(())
            },
        )
        .expect("valid");
        assert_eq!(
            seen,
            Some((
                "MESSAGE".into(),
                Some("/a".into()),
                Some("y:z".into()),
                None,
                "body".into()
            ))
        );
    }

    #[test]
    fn a_frame_split_anywhere() {
        let text = "MESSAGE\ndestination:/topic/a\ncontent-length:5\n\nhe\0lo\0\nRECEIPT\nreceipt-id:7\n\n\0";
        for cut in 0..=text.len() {
            let mut r = Reader::default();
            let mut got = read_all(&mut r, &text[..cut]).expect("first part");
            got.extend(read_all(&mut r, &text[cut..]).expect("second part"));
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[0].2, "he\0lo");
            assert_eq!(got[1].0, "RECEIPT");
            assert!(!r.has_partial());
        }
        // One byte at a time.
        let mut r = Reader::default();
        let mut n = 0;
        for i in 0..text.len() {
            n += read_all(&mut r, &text[i..i + 1]).expect("bytes").len();
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn finds_bytes_eight_at_a_time() {
        let text = b"abcdefgh\\jklmnopqrstuvwxyz\"0123456789";
        for start in 0..text.len() {
            let hay = &text[start..];
            let want = hay.iter().position(|&c| c == b'"' || c == b'\\');
            assert_eq!(find2(hay, b'"', b'\\'), want, "from {start}");
            let want = hay.iter().position(|&c| c == b'z');
            assert_eq!(find2(hay, b'z', b'z'), want, "from {start}");
        }
        // Bytes next to the needles (where the word trick borrows), in every arrangement
        // a simple generator makes.
        let mut state = 1u32;
        for _ in 0..20_000 {
            let mut hay = [0u8; 19];
            for b in &mut hay {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *b = [0, 1, 2, 0x7f, 0x80, 0x81, 0xff, b'"', b'\\', b'!']
                    [(state >> 24) as usize % 10];
            }
            for (a, b) in [
                (0, 0),
                (1, 1),
                (0x80, 0x80),
                (0xff, 0xff),
                (b'"', b'\\'),
                (0, 0x81),
            ] {
                let want = hay.iter().position(|&c| c == a || c == b);
                assert_eq!(find2(&hay, a, b), want, "{hay:?} {a} {b}");
            }
        }
        assert_eq!(find2(b"", b'a', b'b'), None);
    }

    #[test]
    fn picks_out_the_message_headers() {
        let mut r = Reader::default();
        let mut seen = Vec::new();
        let text = "MESSAGE\r\nsubscription-x:no\r\nxsubscription:no\r\nsubscription:s:1\r\n\
                    destination:/a\r\ndestination:/b\r\nmessage-id:\r\nno-colon\r\n\r\nbody\0\
                    MESSAGE\nsubscription\ndestination :/a\n\n\0";
        r.push(text, |f| {
            let own = |v: Option<&str>| v.map(str::to_string);
            seen.push((
                own(f.subscription),
                own(f.destination),
                own(f.message_id),
                f.body.to_string(),
            ));
            Ok(())
        })
        .expect("valid");
        assert_eq!(
            seen,
            [
                (
                    Some("s:1".into()),
                    Some("/a".into()),
                    Some("".into()),
                    "body".into()
                ),
                (None, None, None, "".into())
            ]
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in [
            "message\n\n\0",
            "MESSAGE\ncontent-length:x\n\nab\0",
            "MESSAGE\ncontent-length:1\n\nab\0",
            "MESSAGE\ncontent-length:1\n\né\0",
        ] {
            assert!(
                read_all(&mut Reader::default(), bad).is_err(),
                "{bad:?} is refused"
            );
        }
        // An error from the callback stops the reading.
        let mut r = Reader::default();
        let e = r.push("RECEIPT\n\n\0RECEIPT\n\n\0", |_| Err("stop".into()));
        assert_eq!(e, Err("stop".into()));
    }

    #[test]
    fn the_partial_buffer_is_bounded() {
        let mut r = Reader::default();
        let mut big = String::from("MESSAGE\n\n");
        big.push_str(&"x".repeat(MAX_PARTIAL));
        assert!(read_all(&mut r, &big).is_err());
    }

    #[test]
    fn describes_errors() {
        let mut r = Reader::default();
        let mut d = String::new();
        r.push("ERROR\nmessage:bad frame\n\ndetails\0", |f| {
            d = f.describe();
            Ok(())
        })
        .expect("valid");
        assert_eq!(d, "ERROR (\"bad frame\"): \"details\"");
    }
}

//! The incremental frame decoder for what clients send.
//!
//! A client's frames arrive as SockJS messages: one message may carry several frames
//! (separated by optional EOL heart-beats), and one frame may be split over several messages
//! (@stomp/stompjs with `splitLargeFrames` cuts every 8192 UTF-16 code units, stompjs 2.3.3
//! always cuts every 16 384; see the crate docs). [`Decoder::push`] appends a message and
//! [`Decoder::next_item`] returns the complete items in order.
//!
//! Decoding is incremental: a frame fed one byte per message costs linear time, and the buffer
//! never holds more than one incomplete frame (at most [`Limits::max_frame_size`] bytes) plus
//! the last message pushed. A frame that is complete in the buffer when its decoding starts
//! (the usual case: one frame per message) is decoded in one pass with one allocation for its
//! headers and one for its body; any other frame is read line by line, and no byte is scanned
//! more than twice.
//!
//! Rules (STOMP 1.0, 1.1 and 1.2):
//!
//! * lines end with LF or CR LF, in every version (both client libraries send LF);
//! * an EOL between frames is a heart-beat ([`Item::HeartBeat`]);
//! * a header line is split at its first colon (later colons belong to the value, which 1.0
//!   clients and stompjs 2.3.3 send unescaped); nothing is trimmed;
//! * header names and values are unescaped when the session's version is 1.1 (`\\`, `\n`,
//!   `\c`) or 1.2 (also `\r`), except in `CONNECT`, `STOMP` and `CONNECTED` frames; any other
//!   backslash sequence is an error, as both specs require;
//! * with a `content-length` header (the first one counts) the body is exactly that many
//!   bytes, which may include NULs, and must be followed by a NUL; without one the body ends
//!   at the first NUL.

use std::fmt;

use memchr::{memchr, memchr2};

use crate::frame::{Command, Frame, Headers, Version};

/// Bounds on what one client frame may contain. Every one is checked while bytes arrive, so
/// an oversized frame is refused before it is buffered whole.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest frame, in bytes: command line, header lines and body. A frame split over
    /// several SockJS messages is buffered up to this size. Default: 64 KiB, Spring's default
    /// STOMP message size limit, so frontends written against Spring fit.
    pub max_frame_size: usize,
    /// Largest body, in bytes. A `content-length` above it is refused as soon as the header
    /// is read. Default: 64 KiB.
    pub max_body_size: usize,
    /// Most header lines in one frame (repeated names counted). Default: 64.
    pub max_headers: usize,
    /// Longest command or header line, in bytes, before unescaping. Default: 8 KiB (room for a
    /// bearer token in a `CONNECT` header).
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_frame_size: 64 * 1024,
            max_body_size: 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
        }
    }
}

/// Why a client's bytes are not a valid frame. Every variant is fatal for the session: the
/// server answers `ERROR` (its `message` header is this error's `Display`) and closes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is larger than [`Limits::max_frame_size`].
    FrameTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is larger than [`Limits::max_body_size`].
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The frame has more than [`Limits::max_headers`] header lines.
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A command or header line is longer than [`Limits::max_header_line`].
    HeaderLineTooLong {
        /// The limit.
        limit: usize,
    },
    /// The command line is not a STOMP command (the first 32 bytes of it, lossily decoded).
    UnknownCommand(String),
    /// A header line has no colon.
    MalformedHeader,
    /// A backslash in a header is not one of the version's escape sequences.
    InvalidEscape,
    /// The `content-length` header is not a decimal number.
    InvalidContentLength,
    /// The byte after a `content-length` body is not NUL.
    MissingNul,
    /// The bytes are not UTF-8 (cannot happen for input pushed as `&str`; kept so that no
    /// input can panic the decoder).
    InvalidUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::FrameTooLarge { limit } => {
                write!(f, "frame larger than {limit} bytes")
            }
            DecodeError::BodyTooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            DecodeError::TooManyHeaders { limit } => {
                write!(f, "more than {limit} headers in a frame")
            }
            DecodeError::HeaderLineTooLong { limit } => {
                write!(f, "header line longer than {limit} bytes")
            }
            DecodeError::UnknownCommand(c) => write!(f, "unknown command {c:?}"),
            DecodeError::MalformedHeader => f.write_str("header line without a colon"),
            DecodeError::InvalidEscape => f.write_str("invalid escape sequence in a header"),
            DecodeError::InvalidContentLength => f.write_str("invalid content-length header"),
            DecodeError::MissingNul => {
                f.write_str("frame body does not end with NUL after content-length bytes")
            }
            DecodeError::InvalidUtf8 => f.write_str("frame is not valid UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// What the decoder found next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// An EOL between frames: the client's heart-beat.
    HeartBeat,
    /// A complete frame, headers unescaped.
    Frame(Frame),
}

/// Where the decoder is inside the current frame.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Between frames: EOLs are heart-beats, anything else starts a command line.
    Idle,
    /// Reading the command line, which starts at `line_start`.
    Command,
    /// Reading header lines.
    Headers(Command),
    /// Reading the body, which starts at `line_start`.
    Body(Command, Option<usize>),
}

/// The incremental decoder of client frames (see the [module docs](self)).
///
/// ```
/// use sockjs_stomp::decode::{Decoder, Item, Limits};
/// use sockjs_stomp::{Command, Version};
///
/// let mut decoder = Decoder::new(Limits::default());
/// decoder.set_version(Some(Version::V1_2));
/// decoder.push("SEND\ndestination:/app/a\\cb\ncontent-len");   // one frame in two messages
/// assert_eq!(decoder.next_item(), Ok(None));
/// decoder.push("gth:3\n\nhi\0\0\n");                            // a NUL inside the body
/// let Ok(Some(Item::Frame(frame))) = decoder.next_item() else { panic!() };
/// assert_eq!(frame.command, Command::Send);
/// assert_eq!(frame.headers.get("destination"), Some("/app/a:b"));
/// assert_eq!(frame.body, "hi\0");
/// assert_eq!(decoder.next_item(), Ok(Some(Item::HeartBeat)));  // the EOL after the frame
/// assert_eq!(decoder.next_item(), Ok(None));
/// ```
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    version: Option<Version>,
    /// What was pushed and not consumed yet. Kept as text: it arrives as `&str`, and every
    /// offset the decoder cuts at is next to an ASCII byte (an EOL, a colon, a NUL), so every
    /// piece is a `&str` already and nothing is validated again.
    buf: String,
    /// Bytes before this offset are consumed.
    frame_start: usize,
    /// Start of the line (or body) being read.
    line_start: usize,
    /// Bytes before this offset were already searched for the current delimiter.
    scan: usize,
    /// Whether the line being read has a backslash before `scan`.
    line_backslash: bool,
    stage: Stage,
    /// Where the current frame's header lines start, relative to `frame_start` (so that
    /// dropping consumed bytes does not move it).
    headers_start: usize,
    /// The current frame's headers. While its header lines arrive, only where they are
    /// (relative to `headers_start`): the block is copied, in one piece, when the blank line
    /// ends it ([`Decoder::take_headers`]).
    headers: Headers,
    /// The version to unescape the current frame's headers for, once a line needs it.
    unescape: Option<Version>,
    /// Which of the current frame's headers is its first `content-length`. Found on the raw
    /// lines: a name with an escape sequence never unescapes to `content-length`.
    content_length: Option<usize>,
    failed: Option<DecodeError>,
}

impl Decoder {
    /// An empty decoder. Until [`Decoder::set_version`] is called, headers are not unescaped
    /// (the first frame of a session is `CONNECT`, which never is).
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            version: None,
            buf: String::new(),
            frame_start: 0,
            line_start: 0,
            scan: 0,
            line_backslash: false,
            stage: Stage::Idle,
            headers_start: 0,
            headers: Headers::new(),
            unescape: None,
            content_length: None,
            failed: None,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sets the negotiated version, which decides header unescaping for frames decoded from
    /// now on.
    pub fn set_version(&mut self, version: Option<Version>) {
        self.version = version;
    }

    /// Appends one SockJS message. Nothing is decoded until [`Decoder::next_item`].
    pub fn push(&mut self, message: &str) {
        if self.failed.is_some() || message.is_empty() {
            return;
        }
        self.compact();
        self.buf.push_str(message);
    }

    /// Bytes held: the incomplete frame plus anything pushed and not decoded yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.frame_start
    }

    /// Whether the decoder is between frames with nothing buffered.
    pub fn is_idle(&self) -> bool {
        matches!(self.stage, Stage::Idle) && self.buffered() == 0
    }

    /// The next complete item, `Ok(None)` when more bytes are needed. After an error the
    /// decoder is spent: it returns the same error again and ignores further input.
    pub fn next_item(&mut self) -> Result<Option<Item>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Ok(item) => {
                if item.is_none() {
                    self.compact();
                }
                Ok(item)
            }
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = String::new();
                self.frame_start = 0;
                self.line_start = 0;
                self.scan = 0;
                self.line_backslash = false;
                self.headers = Headers::new();
                self.unescape = None;
                self.content_length = None;
                Err(e)
            }
        }
    }

    /// Drops consumed bytes, and the allocation with them when it grew for a large frame.
    fn compact(&mut self) {
        if self.frame_start == 0 {
            return;
        }
        if self.frame_start == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > 16 * 1024 {
                self.buf = String::new();
            }
        } else {
            // A frame starts after a NUL or an EOL, so this is a char boundary.
            self.buf.drain(..self.frame_start);
        }
        let shift = self.frame_start;
        self.frame_start = 0;
        self.line_start -= shift;
        self.scan -= shift;
    }

    fn step(&mut self) -> Result<Option<Item>, DecodeError> {
        loop {
            match self.stage {
                Stage::Idle => {
                    let bytes = self.buf.as_bytes();
                    let Some(&first) = bytes.get(self.frame_start) else {
                        return Ok(None);
                    };
                    let eol_len = match first {
                        b'\n' => 1,
                        b'\r' => match bytes.get(self.frame_start + 1) {
                            None => return Ok(None),
                            Some(b'\n') => 2,
                            Some(_) => 0,
                        },
                        _ => 0,
                    };
                    if eol_len > 0 {
                        self.frame_start += eol_len;
                        self.line_start = self.frame_start;
                        self.scan = self.frame_start;
                        return Ok(Some(Item::HeartBeat));
                    }
                    if let Some(frame) = self.whole_frame() {
                        return Ok(Some(Item::Frame(frame)));
                    }
                    self.line_start = self.frame_start;
                    self.scan = self.frame_start;
                    self.stage = Stage::Command;
                }
                Stage::Command => {
                    let Some((start, end, _)) = self.next_line(false)? else {
                        return Ok(None);
                    };
                    let line = self.buf.as_bytes().get(start..end).unwrap_or_default();
                    let command = Command::parse(line).ok_or_else(|| {
                        let shown = line.get(..line.len().min(32)).unwrap_or_default();
                        DecodeError::UnknownCommand(String::from_utf8_lossy(shown).into_owned())
                    })?;
                    self.headers_start = self.line_start - self.frame_start;
                    self.stage = Stage::Headers(command);
                }
                Stage::Headers(command) => {
                    let escaping = match self.version {
                        Some(v) if v.escapes_headers() && !command.is_handshake() => Some(v),
                        _ => None,
                    };
                    let Some((start, end, backslash)) = self.next_line(escaping.is_some())? else {
                        return Ok(None);
                    };
                    if start == end {
                        self.headers = self.take_headers()?;
                        let length = match self.content_length.take() {
                            None => None,
                            Some(index) => {
                                let text = self.headers.value_at(index).unwrap_or_default();
                                Some(self.parse_content_length(text)?)
                            }
                        };
                        self.stage = Stage::Body(command, length);
                        continue;
                    }
                    if self.headers.len() >= self.limits.max_headers {
                        return Err(DecodeError::TooManyHeaders {
                            limit: self.limits.max_headers,
                        });
                    }
                    let line = self.buf.as_bytes().get(start..end).unwrap_or_default();
                    let colon = start + memchr(b':', line).ok_or(DecodeError::MalformedHeader)?;
                    if let Some(version) = escaping {
                        if backslash {
                            // Checked now, so that a bad escape fails with its line; replaced
                            // when the headers are copied.
                            unescape(self.piece(start, colon)?, version, |_| {})?;
                            unescape(self.piece(colon + 1, end)?, version, |_| {})?;
                            self.unescape = Some(version);
                        }
                    }
                    if self.content_length.is_none()
                        && line.get(..colon - start) == Some(b"content-length")
                    {
                        self.content_length = Some(self.headers.len());
                    }
                    let base = self.frame_start + self.headers_start;
                    self.headers
                        .push_raw(start - base, colon - base, end - base);
                }
                Stage::Body(command, length) => {
                    let body_start = self.line_start;
                    let bytes = self.buf.as_bytes();
                    let body_end = match length {
                        Some(len) => {
                            let end = body_start + len;
                            if end + 1 - self.frame_start > self.limits.max_frame_size {
                                return Err(DecodeError::FrameTooLarge {
                                    limit: self.limits.max_frame_size,
                                });
                            }
                            match bytes.get(end) {
                                None => return Ok(None),
                                Some(0) => end,
                                Some(_) => return Err(DecodeError::MissingNul),
                            }
                        }
                        None => match memchr(0, bytes.get(self.scan..).unwrap_or_default()) {
                            Some(i) => self.scan + i,
                            None => {
                                self.scan = self.buf.len();
                                let body_len = self.scan - body_start;
                                if body_len > self.limits.max_body_size {
                                    return Err(DecodeError::BodyTooLarge {
                                        limit: self.limits.max_body_size,
                                    });
                                }
                                self.check_frame_size(self.scan)?;
                                return Ok(None);
                            }
                        },
                    };
                    if body_end - body_start > self.limits.max_body_size {
                        return Err(DecodeError::BodyTooLarge {
                            limit: self.limits.max_body_size,
                        });
                    }
                    self.check_frame_size(body_end + 1)?;
                    // The body ends at a NUL, so this is a char boundary.
                    let body = self.piece(body_start, body_end)?.to_owned();
                    let headers = std::mem::take(&mut self.headers);
                    self.frame_start = body_end + 1;
                    self.line_start = self.frame_start;
                    self.scan = self.frame_start;
                    self.stage = Stage::Idle;
                    return Ok(Some(Item::Frame(Frame {
                        command,
                        headers,
                        body,
                    })));
                }
            }
        }
    }

    /// The fast path: the frame starting at `frame_start` when it is all buffered, within
    /// every limit, valid, and has no escape sequence to replace (the common case: a whole
    /// frame in one SockJS message). `None` for anything else, having consumed nothing: the
    /// incremental decoder then takes the frame from its start, and reports any error. The
    /// result is the incremental decoder's for the same bytes (the fuzz target checks it by
    /// decoding input whole and split).
    fn whole_frame(&mut self) -> Option<Frame> {
        let limits = &self.limits;
        let bytes = self.buf.as_bytes().get(self.frame_start..)?;
        // A frame within the size limit is within this window.
        let window = bytes.get(..bytes.len().min(limits.max_frame_size))?;
        let newline = memchr(b'\n', window)?;
        let command_end =
            newline - usize::from(newline > 0 && window.get(newline - 1) == Some(&b'\r'));
        if command_end > limits.max_header_line {
            return None;
        }
        let command = Command::parse(window.get(..command_end)?)?;
        let escaping =
            self.version.is_some_and(Version::escapes_headers) && !command.is_handshake();
        let block_start = newline + 1;
        let mut headers = Headers::new();
        let mut content_length = None;
        let mut pos = block_start;
        let body_start = loop {
            match window.get(pos..)? {
                [b'\n', ..] => break pos + 1,
                [b'\r', b'\n', ..] => break pos + 2,
                _ => {}
            }
            let rest = window.get(pos..)?;
            let newline = if escaping {
                let i = memchr2(b'\n', b'\\', rest)?;
                if rest.get(i) != Some(&b'\n') {
                    return None;
                }
                pos + i
            } else {
                pos + memchr(b'\n', rest)?
            };
            let end = newline - usize::from(window.get(newline - 1) == Some(&b'\r'));
            if end - pos > limits.max_header_line || headers.len() >= limits.max_headers {
                return None;
            }
            let line = window.get(pos..end)?;
            let colon = memchr(b':', line)?;
            if content_length.is_none() && line.get(..colon) == Some(b"content-length") {
                content_length = Some(pos + colon + 1..end);
            }
            let base = pos - block_start;
            headers.push_raw(base, base + colon, end - block_start);
            pos = newline + 1;
        };
        let base = self.frame_start;
        let length = match content_length {
            None => None,
            Some(value) => {
                let text = self.buf.get(base + value.start..base + value.end)?;
                Some(self.parse_content_length(text).ok()?)
            }
        };
        let body_end = match length {
            Some(len) => {
                let end = body_start + len;
                (window.get(end)? == &0).then_some(end)?
            }
            None => body_start + memchr(0, window.get(body_start..)?)?,
        };
        if body_end - body_start > limits.max_body_size {
            return None;
        }
        let block = self
            .buf
            .get(base + block_start..base + block_start + headers.raw_len())?;
        let body = self.buf.get(base + body_start..base + body_end)?;
        let frame = Frame {
            command,
            headers: headers.with_raw_text(block.to_owned()),
            body: body.to_owned(),
        };
        self.frame_start = base + body_end + 1;
        self.line_start = self.frame_start;
        self.scan = self.frame_start;
        Some(frame)
    }

    /// The buffered text from `start` to `end`: both are next to ASCII bytes, so the
    /// `InvalidUtf8` error cannot happen (it keeps any slip from panicking).
    fn piece(&self, start: usize, end: usize) -> Result<&str, DecodeError> {
        self.buf.get(start..end).ok_or(DecodeError::InvalidUtf8)
    }

    /// The headers of the current frame, its header lines now all read: a copy of the block
    /// they make, or when some need unescaping, the unescaped names and values.
    fn take_headers(&mut self) -> Result<Headers, DecodeError> {
        let lines = std::mem::take(&mut self.headers);
        let unescaping = self.unescape.take();
        let base = self.frame_start + self.headers_start;
        let block = self.piece(base, base + lines.raw_len())?;
        let Some(version) = unescaping else {
            return Ok(lines.with_raw_text(block.to_owned()));
        };
        let mut headers = Headers::with_capacity(lines.len(), block.len());
        for (name, value) in lines.raw_lines() {
            let name = block.get(name).ok_or(DecodeError::InvalidUtf8)?;
            let value = block.get(value).ok_or(DecodeError::InvalidUtf8)?;
            headers.push_with(
                |text| unescape(name, version, |piece| text.push_str(piece)),
                |text| unescape(value, version, |piece| text.push_str(piece)),
            )?;
        }
        Ok(headers)
    }

    #[inline]
    fn check_frame_size(&self, end: usize) -> Result<(), DecodeError> {
        if end - self.frame_start > self.limits.max_frame_size {
            Err(DecodeError::FrameTooLarge {
                limit: self.limits.max_frame_size,
            })
        } else {
            Ok(())
        }
    }

    /// The byte range of the next complete line (without its EOL), and whether it has a
    /// backslash (only looked for when `backslashes` is set), or `None` when its end has not
    /// arrived. Enforces the line-length and frame-size limits on partial lines too.
    #[inline(always)]
    fn next_line(
        &mut self,
        backslashes: bool,
    ) -> Result<Option<(usize, usize, bool)>, DecodeError> {
        let max_line = self.limits.max_header_line;
        let bytes = self.buf.as_bytes();
        // One search finds the EOL and, on the way, the line's first backslash if any.
        let newline = loop {
            let rest = bytes.get(self.scan..).unwrap_or_default();
            let found = if backslashes && !self.line_backslash {
                memchr2(b'\n', b'\\', rest)
            } else {
                memchr(b'\n', rest)
            };
            match found {
                Some(i) if rest.get(i) == Some(&b'\\') => {
                    self.line_backslash = true;
                    self.scan += i + 1;
                }
                Some(i) => break Some(self.scan + i),
                None => break None,
            }
        };
        match newline {
            None => {
                self.scan = self.buf.len();
                // A trailing CR may still be the start of a CR LF: allow one byte for it.
                if self.scan - self.line_start > max_line + 1 {
                    return Err(DecodeError::HeaderLineTooLong { limit: max_line });
                }
                self.check_frame_size(self.scan)?;
                Ok(None)
            }
            Some(newline) => {
                let mut end = newline;
                if end > self.line_start && bytes.get(end - 1) == Some(&b'\r') {
                    end -= 1;
                }
                if end - self.line_start > max_line {
                    return Err(DecodeError::HeaderLineTooLong { limit: max_line });
                }
                self.check_frame_size(newline + 1)?;
                let start = self.line_start;
                self.line_start = newline + 1;
                self.scan = self.line_start;
                Ok(Some((start, end, std::mem::take(&mut self.line_backslash))))
            }
        }
    }

    fn parse_content_length(&self, text: &str) -> Result<usize, DecodeError> {
        if text.is_empty() || text.len() > 20 {
            return Err(DecodeError::InvalidContentLength);
        }
        let mut len: u64 = 0;
        for byte in text.bytes() {
            let digit = match byte {
                b'0'..=b'9' => u64::from(byte - b'0'),
                _ => return Err(DecodeError::InvalidContentLength),
            };
            len = len
                .checked_mul(10)
                .and_then(|len| len.checked_add(digit))
                .ok_or(DecodeError::InvalidContentLength)?;
        }
        match usize::try_from(len) {
            Ok(len) if len <= self.limits.max_body_size => Ok(len),
            _ => Err(DecodeError::BodyTooLarge {
                limit: self.limits.max_body_size,
            }),
        }
    }
}

/// Unescapes a header name or value for `version`, handing the unescaped text to `out` in
/// pieces (several per escape sequence); fails on a backslash that starts no valid sequence.
fn unescape<'a>(
    raw: &'a str,
    version: Version,
    mut out: impl FnMut(&'a str),
) -> Result<(), DecodeError> {
    let mut rest = raw;
    // Every piece is cut next to an ASCII backslash, so every cut is a char boundary.
    while let Some(i) = memchr(b'\\', rest.as_bytes()) {
        let (plain, escape) = rest.split_at(i);
        out(plain);
        let replacement = match escape.as_bytes().get(1) {
            Some(b'\\') => "\\",
            Some(b'n') => "\n",
            Some(b'c') => ":",
            Some(b'r') if version >= Version::V1_2 => "\r",
            _ => return Err(DecodeError::InvalidEscape),
        };
        out(replacement);
        rest = escape.get(2..).ok_or(DecodeError::InvalidEscape)?;
    }
    out(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(version: Option<Version>, chunks: &[&str]) -> Result<Vec<Item>, DecodeError> {
        decode_with(Limits::default(), version, chunks)
    }

    fn decode_with(
        limits: Limits,
        version: Option<Version>,
        chunks: &[&str],
    ) -> Result<Vec<Item>, DecodeError> {
        let mut d = Decoder::new(limits);
        d.set_version(version);
        let mut items = Vec::new();
        for chunk in chunks {
            d.push(chunk);
            while let Some(item) = d.next_item()? {
                items.push(item);
            }
        }
        Ok(items)
    }

    fn frames(items: Vec<Item>) -> Vec<Frame> {
        items
            .into_iter()
            .filter_map(|i| match i {
                Item::Frame(f) => Some(f),
                Item::HeartBeat => None,
            })
            .collect()
    }

    fn one(version: Option<Version>, input: &str) -> Result<Frame, DecodeError> {
        let mut f = frames(decode_all(version, &[input])?);
        assert_eq!(f.len(), 1, "{input:?}");
        Ok(f.remove(0))
    }

    #[test]
    fn connect_frame_as_stompjs_7_sends_it() {
        let f = one(
            None,
            "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\n\n\0",
        )
        .unwrap();
        assert_eq!(f.command, Command::Connect);
        assert_eq!(f.headers.get("accept-version"), Some("1.2,1.1,1.0"));
        assert_eq!(f.headers.get("heart-beat"), Some("10000,10000"));
        assert_eq!(f.body, "");
    }

    #[test]
    fn crlf_and_lf_line_endings() {
        let lf = one(None, "SEND\ndestination:/a\n\nbody\0").unwrap();
        let crlf = one(None, "SEND\r\ndestination:/a\r\n\r\nbody\0").unwrap();
        assert_eq!(lf, crlf);
        assert_eq!(crlf.headers.get("destination"), Some("/a"));
    }

    #[test]
    fn heart_beats_between_frames() {
        let items = decode_all(None, &["\n", "\r\n", "SEND\n\n\0\n\nSEND\n\n\0", "\n"]).unwrap();
        let kinds: Vec<bool> = items.iter().map(|i| *i == Item::HeartBeat).collect();
        assert_eq!(kinds, [true, true, false, true, true, false, true]);
    }

    #[test]
    fn a_cr_split_from_its_lf_waits_for_the_next_message() {
        let items = decode_all(None, &["\r", "\n"]).unwrap();
        assert_eq!(items, [Item::HeartBeat]);
        let items = decode_all(None, &["SEND\r", "\ndest:x\r", "\n\r", "\nb\0"]).unwrap();
        assert_eq!(frames(items)[0].headers.get("dest"), Some("x"));
    }

    #[test]
    fn several_frames_in_one_message() {
        let items = decode_all(
            Some(Version::V1_2),
            &["SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SEND\ndestination:/app/x\ncontent-length:1\n\nz\0"],
        )
        .unwrap();
        let f = frames(items);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].command, Command::Subscribe);
        assert_eq!(f[1].body, "z");
    }

    #[test]
    fn content_length_body_may_contain_nul() {
        let f = one(None, "SEND\ncontent-length:5\n\na\0b\0c\0").unwrap();
        assert_eq!(f.body, "a\0b\0c");
        // Without content-length, the body ends at the first NUL.
        let items = decode_all(None, &["SEND\n\na\0"]).unwrap();
        assert_eq!(frames(items)[0].body, "a");
    }

    #[test]
    fn content_length_counts_utf8_bytes() {
        // "é😀" is 2 + 4 bytes; stompjs computes content-length in UTF-8 bytes too.
        let f = one(None, "SEND\ncontent-length:6\n\né😀\0").unwrap();
        assert_eq!(f.body, "é😀");
    }

    #[test]
    fn content_length_must_be_followed_by_nul() {
        assert_eq!(
            one(None, "SEND\ncontent-length:2\n\nabc\0"),
            Err(DecodeError::MissingNul)
        );
    }

    #[test]
    fn invalid_content_length() {
        for bad in [
            "",
            "-1",
            "1 ",
            " 1",
            "0x10",
            "1.0",
            "99999999999999999999999",
        ] {
            let input = format!("SEND\ncontent-length:{bad}\n\n\0");
            let err = one(None, &input).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::InvalidContentLength | DecodeError::BodyTooLarge { .. }
                ),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn first_content_length_wins() {
        let f = one(None, "SEND\ncontent-length:1\ncontent-length:3\n\na\0").unwrap();
        assert_eq!(f.body, "a");
    }

    #[test]
    fn escaping_1_2() {
        let f = one(
            Some(Version::V1_2),
            "SEND\nde\\cst:a\\nb\\rc\\\\d\\ce\nx:y:z\n\n\0",
        )
        .unwrap();
        assert_eq!(f.headers.get("de:st"), Some("a\nb\rc\\d:e"));
        // A raw colon in a value is kept (stompjs 2.3.3 never escapes).
        assert_eq!(f.headers.get("x"), Some("y:z"));
        assert_eq!(
            one(Some(Version::V1_2), "SEND\na:\\t\n\n\0"),
            Err(DecodeError::InvalidEscape)
        );
        assert_eq!(
            one(Some(Version::V1_2), "SEND\na:b\\\n\n\0"),
            Err(DecodeError::InvalidEscape)
        );
    }

    #[test]
    fn escaping_1_1_has_no_cr_escape() {
        let f = one(Some(Version::V1_1), "SEND\na:\\n\\c\\\\\n\n\0").unwrap();
        assert_eq!(f.headers.get("a"), Some("\n:\\"));
        assert_eq!(
            one(Some(Version::V1_1), "SEND\na:\\r\n\n\0"),
            Err(DecodeError::InvalidEscape)
        );
    }

    #[test]
    fn no_escaping_in_1_0_or_handshake_frames() {
        let raw = "a\\nb\\c";
        let f = one(Some(Version::V1_0), &format!("SEND\nh:{raw}\n\n\0")).unwrap();
        assert_eq!(f.headers.get("h"), Some(raw));
        for command in ["CONNECT", "STOMP", "CONNECTED"] {
            let f = one(Some(Version::V1_2), &format!("{command}\nh:{raw}\n\n\0")).unwrap();
            assert_eq!(f.headers.get("h"), Some(raw), "{command}");
        }
        // Before a version is negotiated nothing is unescaped either.
        let f = one(None, &format!("SEND\nh:{raw}\n\n\0")).unwrap();
        assert_eq!(f.headers.get("h"), Some(raw));
    }

    #[test]
    fn malformed_frames() {
        assert!(matches!(
            one(None, "FOO\n\n\0"),
            Err(DecodeError::UnknownCommand(c)) if c == "FOO"
        ));
        assert!(matches!(
            one(None, "send\n\n\0"),
            Err(DecodeError::UnknownCommand(_))
        ));
        assert!(matches!(
            one(None, "\0\n"),
            Err(DecodeError::UnknownCommand(_))
        ));
        assert_eq!(
            one(None, "SEND\nnocolon\n\n\0"),
            Err(DecodeError::MalformedHeader)
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = Decoder::new(Limits::default());
        d.push("BAD\n");
        assert!(d.next_item().is_err());
        d.push("\n");
        assert!(d.next_item().is_err());
        assert_eq!(d.buffered(), 0);
    }

    fn small() -> Limits {
        Limits {
            max_frame_size: 48,
            max_body_size: 16,
            max_headers: 2,
            max_header_line: 20,
        }
    }

    #[test]
    fn limits_are_enforced() {
        let err = decode_with(small(), None, &["SEND\na:1\nb:2\nc:3\n\n\0"]).unwrap_err();
        assert_eq!(err, DecodeError::TooManyHeaders { limit: 2 });
        let long = format!("SEND\na:{}\n\n\0", "x".repeat(30));
        let err = decode_with(small(), None, &[&long]).unwrap_err();
        assert_eq!(err, DecodeError::HeaderLineTooLong { limit: 20 });
        let err = decode_with(small(), None, &["SEND\ncontent-length:17\n\n"]).unwrap_err();
        assert_eq!(err, DecodeError::BodyTooLarge { limit: 16 });
        let err = decode_with(small(), None, &["SEND\n\n", &"x".repeat(17)]).unwrap_err();
        assert_eq!(err, DecodeError::BodyTooLarge { limit: 16 });
        let many = "SEND\na:12345678901234\nb:12345678901234\n\n";
        let err = decode_with(small(), None, &[many, "0123456789012345\0"]).unwrap_err();
        assert_eq!(err, DecodeError::FrameTooLarge { limit: 48 });
        // Exactly at the limits is fine.
        let exact = format!("SEND\na:{}\nb:1\n\n{}\0", "x".repeat(18), "y".repeat(16));
        assert_eq!(exact.len(), 48);
        let ok = decode_with(small(), None, &[&exact]).unwrap();
        assert_eq!(frames(ok)[0].body.len(), 16);
    }

    #[test]
    fn partial_lines_are_bounded_before_their_end_arrives() {
        let mut d = Decoder::new(small());
        d.push("SEND\na:");
        assert_eq!(d.next_item(), Ok(None));
        d.push(&"x".repeat(100));
        assert_eq!(
            d.next_item(),
            Err(DecodeError::HeaderLineTooLong { limit: 20 })
        );
        let mut d = Decoder::new(small());
        d.push(&"S".repeat(100));
        assert_eq!(
            d.next_item(),
            Err(DecodeError::HeaderLineTooLong { limit: 20 })
        );
    }

    #[test]
    fn a_declared_length_beyond_the_frame_limit_fails_before_the_body_arrives() {
        let limits = Limits {
            max_frame_size: 32,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        d.push("SEND\ncontent-length:100\n\n");
        assert_eq!(d.next_item(), Err(DecodeError::FrameTooLarge { limit: 32 }));
    }

    /// Splitting the same bytes at every possible point gives the same items.
    #[test]
    fn chunking_does_not_change_the_result() {
        let input = "\nSEND\r\ndestination:/a\\cb\r\ncontent-length:4\r\n\r\né\0x\0\n\nSUBSCRIBE\nid:1\n\n\0\r\n";
        let whole = decode_all(Some(Version::V1_2), &[input]).unwrap();
        assert_eq!(frames(whole.clone()).len(), 2);
        let boundaries: Vec<usize> = (0..=input.len())
            .filter(|&i| input.is_char_boundary(i))
            .collect();
        for &a in &boundaries {
            for &b in boundaries.iter().filter(|&&b| b >= a) {
                let parts = [&input[..a], &input[a..b], &input[b..]];
                assert_eq!(
                    decode_all(Some(Version::V1_2), &parts).unwrap(),
                    whole,
                    "split at {a} and {b}"
                );
            }
        }
    }

    #[test]
    fn one_byte_per_message_is_linear_and_bounded() {
        let body = "x".repeat(60 * 1024);
        let input = format!("SEND\ndestination:/a\n\n{body}\0");
        let mut d = Decoder::new(Limits::default());
        let mut got = None;
        for (i, c) in input.char_indices() {
            d.push(&input[i..i + c.len_utf8()]);
            assert!(d.buffered() <= Limits::default().max_frame_size + 1);
            if let Some(Item::Frame(f)) = d.next_item().unwrap() {
                got = Some(f);
            }
        }
        assert_eq!(got.map(|f| f.body.len()), Some(body.len()));
        assert!(d.is_idle());
    }

    /// Every escape sequence, split between two messages at every byte: the backslash and
    /// its letter may arrive in different messages.
    #[test]
    fn escapes_split_between_messages() {
        let input = "SEND\nk\\c\\n:\\\\\\r\\c\\n\n\n\0";
        let want = Frame::new(Command::Send).header("k:\n", "\\\r:\n");
        for at in 0..=input.len() {
            let items = decode_all(Some(Version::V1_2), &[&input[..at], &input[at..]]).unwrap();
            assert_eq!(frames(items), std::slice::from_ref(&want), "split at {at}");
        }
    }

    #[test]
    fn colons_empty_names_and_empty_values() {
        for version in [None, Some(Version::V1_2)] {
            let f = one(version, "SEND\na:b:c\nempty:\n:v\n::\n\n\0").unwrap();
            let all: Vec<_> = f.headers.iter().collect();
            assert_eq!(all, [("a", "b:c"), ("empty", ""), ("", "v"), ("", ":")]);
            assert_eq!(f.headers.get("empty"), Some(""));
            assert_eq!(f.headers.get(""), Some("v"));
        }
    }

    #[test]
    fn repeated_headers_are_kept_in_order_and_the_first_wins() {
        let f = one(
            Some(Version::V1_2),
            "SEND\nfoo:World\nfoo:I am\nbar:1\n\n\0",
        )
        .unwrap();
        assert_eq!(f.headers.get("foo"), Some("World"));
        let all: Vec<_> = f.headers.iter().collect();
        assert_eq!(all, [("foo", "World"), ("foo", "I am"), ("bar", "1")]);
        // An escaped name equal to a plain one counts as the same name.
        let f = one(Some(Version::V1_2), "SEND\na\\cb:1\na:b:2\n\n\0").unwrap();
        assert_eq!(f.headers.get("a:b"), Some("1"));
        assert_eq!(f.headers.get("a"), Some("b:2"));
    }

    #[test]
    fn lone_carriage_returns_stay_in_values() {
        // Only a CR right before the LF is part of the EOL.
        let f = one(None, "SEND\na:b\rc\nd:e\r\r\n\n\0").unwrap();
        assert_eq!(f.headers.get("a"), Some("b\rc"));
        assert_eq!(f.headers.get("d"), Some("e\r"));
        // A command line with a stray CR is not a command.
        assert!(matches!(
            one(None, "SEND\r\r\n\n\0"),
            Err(DecodeError::UnknownCommand(_))
        ));
    }

    #[test]
    fn nul_bytes_in_headers_and_bodies() {
        let f = one(None, "SEND\na:\0b\ncontent-length:0\n\n\0").unwrap();
        assert_eq!(f.headers.get("a"), Some("\0b"));
        assert_eq!(f.body, "");
        let f = one(None, "SEND\ncontent-length:3\n\n\0\0\0\0").unwrap();
        assert_eq!(f.body, "\0\0\0");
        // A length that ends inside a multi-byte character is not followed by a NUL.
        assert_eq!(
            one(None, "SEND\ncontent-length:1\n\né\0"),
            Err(DecodeError::MissingNul)
        );
    }

    #[test]
    fn many_headers_and_frames_in_a_row() {
        let mut d = Decoder::new(Limits::default());
        d.set_version(Some(Version::V1_2));
        for n in [0, 1, 5, 17, 3, 64, 2] {
            let mut input = String::from("MESSAGE\n");
            for i in 0..n {
                input.push_str(&format!("h{i}:v\\c{i}\n"));
            }
            input.push_str("\nbody\0");
            d.push(&input);
            let Ok(Some(Item::Frame(f))) = d.next_item() else {
                panic!("{n} headers")
            };
            assert_eq!(f.headers.len(), n);
            for i in 0..n {
                assert_eq!(
                    f.headers.get(&format!("h{i}")),
                    Some(format!("v:{i}").as_str())
                );
            }
            assert_eq!(f.body, "body");
            assert_eq!(d.next_item(), Ok(None));
        }
    }

    #[test]
    fn header_count_and_line_length_limits_at_the_boundary() {
        let limits = Limits {
            max_frame_size: 1024,
            max_body_size: 1024,
            max_headers: 3,
            max_header_line: 10,
        };
        let ok = decode_with(limits.clone(), None, &["SEND\na:1\nb:2\nc:3\n\n\0"]).unwrap();
        assert_eq!(frames(ok)[0].headers.len(), 3);
        let err = decode_with(limits.clone(), None, &["SEND\na:1\nb:2\nc:3\nd:4\n\n\0"]);
        assert_eq!(err, Err(DecodeError::TooManyHeaders { limit: 3 }));
        // 10 bytes before the EOL, with LF or CR LF; 11 is too many.
        for eol in ["\n", "\r\n"] {
            let line = format!("a:{}", "x".repeat(8));
            let ok = decode_with(
                limits.clone(),
                None,
                &[&format!("SEND{eol}{line}{eol}{eol}\0")],
            );
            assert_eq!(frames(ok.unwrap())[0].headers.get("a"), Some("xxxxxxxx"));
            let long = format!("SEND{eol}{line}y{eol}{eol}\0");
            assert_eq!(
                decode_with(limits.clone(), None, &[&long]),
                Err(DecodeError::HeaderLineTooLong { limit: 10 })
            );
        }
        // The limit counts escaped bytes, before unescaping.
        let escaped = "SEND\na:\\c\\c\\c\\c\n\n\0";
        let ok = decode_with(limits.clone(), Some(Version::V1_2), &[escaped]).unwrap();
        assert_eq!(frames(ok)[0].headers.get("a"), Some("::::"));
        let escaped = "SEND\na:\\c\\c\\c\\cc\n\n\0";
        assert_eq!(
            decode_with(limits, Some(Version::V1_2), &[escaped]),
            Err(DecodeError::HeaderLineTooLong { limit: 10 })
        );
    }

    #[test]
    fn body_and_frame_limits_at_the_boundary() {
        let limits = Limits {
            max_frame_size: 40,
            max_body_size: 8,
            max_headers: 4,
            max_header_line: 64,
        };
        let body = "x".repeat(8);
        // Exactly max_body_size, with and without content-length; one more byte fails.
        for input in [
            format!("SEND\n\n{body}\0"),
            format!("SEND\ncontent-length:8\n\n{body}\0"),
        ] {
            let ok = decode_with(limits.clone(), None, &[&input]).unwrap();
            assert_eq!(frames(ok)[0].body, body);
        }
        assert_eq!(
            decode_with(limits.clone(), None, &[&format!("SEND\n\n{body}y\0")]),
            Err(DecodeError::BodyTooLarge { limit: 8 })
        );
        assert_eq!(
            decode_with(limits.clone(), None, &["SEND\ncontent-length:9\n\n"]),
            Err(DecodeError::BodyTooLarge { limit: 8 })
        );
        // Exactly max_frame_size (NUL included), with and without content-length.
        let pad = |n: usize| format!("h:{}", "p".repeat(n));
        let exact = format!("SEND\n{}\n\n{body}\0", pad(22));
        assert_eq!(exact.len(), 40);
        assert_eq!(
            frames(decode_with(limits.clone(), None, &[&exact]).unwrap()).len(),
            1
        );
        let exact = format!("SEND\ncontent-length:8\n{}\n\n{body}\0", pad(5));
        assert_eq!(exact.len(), 40);
        assert_eq!(
            frames(decode_with(limits.clone(), None, &[&exact]).unwrap()).len(),
            1
        );
        let over = format!("SEND\n{}\n\n{body}\0", pad(23));
        assert_eq!(
            decode_with(limits.clone(), None, &[&over]),
            Err(DecodeError::FrameTooLarge { limit: 40 })
        );
        let over = format!("SEND\ncontent-length:8\n{}\n\n{body}\0", pad(6));
        assert_eq!(
            decode_with(limits, None, &[&over]),
            Err(DecodeError::FrameTooLarge { limit: 40 })
        );
    }

    #[test]
    fn escape_errors_come_with_their_line() {
        // The bad escape is reported when its line ends, before later lines or the body.
        let mut d = Decoder::new(Limits::default());
        d.set_version(Some(Version::V1_2));
        d.push("SEND\na:\\x\n");
        assert_eq!(d.next_item(), Err(DecodeError::InvalidEscape));
        let mut d = Decoder::new(Limits::default());
        d.set_version(Some(Version::V1_2));
        d.push("SEND\nna\\me:1\n");
        assert_eq!(d.next_item(), Err(DecodeError::InvalidEscape));
        // A backslash right before the colon does not escape it.
        assert_eq!(
            one(Some(Version::V1_2), "SEND\na\\:b\n\n\0"),
            Err(DecodeError::InvalidEscape)
        );
        // Non-ASCII text around escapes is kept.
        let f = one(Some(Version::V1_2), "SEND\né\\c😀:ü\\nß\n\n\0").unwrap();
        assert_eq!(f.headers.get("é:😀"), Some("ü\nß"));
    }

    /// Decodes `input` pushed one char per message (never a whole frame at once: always the
    /// incremental path), stopping at the first error.
    fn decode_char_by_char(
        limits: Limits,
        version: Option<Version>,
        input: &str,
    ) -> Result<Vec<Item>, DecodeError> {
        let pieces: Vec<&str> = input
            .char_indices()
            .map(|(i, c)| &input[i..i + c.len_utf8()])
            .collect();
        decode_with(limits, version, &pieces)
    }

    /// A frame complete in the buffer takes the one-pass path; split, it takes the line by line
    /// one. Both give the same items and the same errors, for valid and invalid frames, near
    /// and at every limit.
    #[test]
    fn whole_frames_decode_as_split_ones() {
        let inputs = [
            "SEND\ndestination:/topic/x\ncontent-length:5\n\nhello\0",
            "SEND\r\ndestination:/a\r\ncontent-length:3\r\n\r\na\0b\0\r\n",
            "SEND\r\nx:y\r\n\r\nbody\0",
            "SEND\r\n\r\n\0",
            "SEND\ndestination:/a\\cb\nx:\\\\\n\nbody\0",
            "SEND\nx:\\t\n\n\0",
            "SUBSCRIBE\nid:0\ndestination:/topic/a\nack:client\n\n\0\nSEND\n\n\0",
            "CONNECT\naccept-version:1.2\nlogin:a\\cb\n\n\0",
            "SEND\na:1\na:2\n:\n::\nempty:\n\nx\0",
            "SEND\na:b\rc\nd:e\r\r\n\n\0",
            "SEND\ncontent-length:1\n\né\0",
            "SEND\ncontent-length:2\n\né\0",
            "SEND\ncontent-length:x\n\n\0",
            "SEND\ncontent-length:\n\n\0",
            "SEND\ncontent-length:18446744073709551616\n\n\0",
            "SEND\ncontent-length:00000000000000000003\n\nabc\0",
            "SEND\ncontent-length:2\n\nabc\0",
            "SEND\nnocolon\n\n\0",
            "SEND\r\r\n\n\0",
            "\rSEND\n\n\0",
            "FOO\n\n\0",
            "SEND\n\0",
            "MESSAGE\n\n\0RECEIPT\nreceipt-id:1\n\n\0",
            "SEND\n\nno nul",
            "SEND\nh1:a\nh2:b\nh3:c\nh4:d\nh5:e\nh6:f\n\n\0",
            "SEND\na:12345678901234\nb:1\n\n0123456789\0",
            "SEND\na:123456789012345678\nb:1\n\n0123456789012345\0",
            "SEND\na:1234567890123456789\n\n\0",
            "SEND\na:1\nb:2\nc:3\n\n\0",
            "SEND\ncontent-length:16\n\n0123456789012345\0",
            "SEND\ncontent-length:17\n\n01234567890123456\0",
            "SEND\n\n01234567890123456\0",
            "SEND\nx:y\n\n0123456789012345\0",
            "SEND\nx:yz\n\n0123456789012345678901234567890123\0",
        ];
        for limits in [Limits::default(), small()] {
            for version in [
                None,
                Some(Version::V1_0),
                Some(Version::V1_1),
                Some(Version::V1_2),
            ] {
                for input in inputs {
                    let whole = decode_with(limits.clone(), version, &[input]);
                    let split = decode_char_by_char(limits.clone(), version, input);
                    assert_eq!(whole, split, "{input:?} {version:?} {limits:?}");
                    // Two frames back to back, the second after the first in the buffer.
                    let twice = format!("{input}{input}");
                    let whole = decode_with(limits.clone(), version, &[&twice]);
                    let split = decode_char_by_char(limits.clone(), version, &twice);
                    assert_eq!(whole, split, "{twice:?} {version:?} {limits:?}");
                }
            }
        }
    }

    #[test]
    fn buffer_shrinks_after_a_large_frame() {
        let mut d = Decoder::new(Limits::default());
        d.push(&format!("SEND\n\n{}\0", "x".repeat(50_000)));
        assert!(matches!(d.next_item(), Ok(Some(Item::Frame(_)))));
        assert_eq!(d.next_item(), Ok(None));
        assert!(d.buf.capacity() <= 16 * 1024);
    }
}

//! SockJS frames and the JSON encoding rules of the protocol.
//!
//! # Frames (server → client)
//!
//! | frame | meaning |
//! |-------|---------|
//! | [`OPEN`] `o` | the session is open |
//! | [`HEARTBEAT`] `h` | keep-alive, sent on an idle connection |
//! | `a["m1","m2"]` | a batch of messages, see [`write_messages_frame`] |
//! | `c[3000,"Go away!"]` | the session is closed, see [`close_frame`] |
//!
//! Transports add their own framing around these (a trailing `\n`, `data: `, a JSONP
//! callback, ...); this module produces the bare frames only.
//!
//! # Encoding (server → client)
//!
//! Every message is encoded as a JSON string literal exactly as a normal JSON encoder
//! (serde_json's compact output) would write it: `"` and `\` as `\"` and `\\`; the control
//! characters U+0008, U+0009, U+000A, U+000C and U+000D as `\b`, `\t`, `\n`, `\f`, `\r`; the
//! other characters of U+0000–U+001F as `\u00XX` with lowercase hex. On top of that, as the
//! SockJS protocol requires, these code points are written as lowercase `\uXXXX` escapes
//! because browsers and proxies mangle them when they travel raw:
//!
//! * U+200C–U+200F
//! * U+2028–U+202F
//! * U+2060–U+206F
//! * U+FFF0–U+FFFF
//!
//! (The protocol also lists the surrogates U+D800–U+DFFF; a Rust `str` can never hold
//! them, so nothing needs doing.) Every other character, including all other non-ASCII
//! text such as emoji, is written as raw UTF-8. The encoder is a single pass over the
//! input bytes that copies unescaped runs in bulk: the extra code points are all 3-byte
//! UTF-8 sequences starting with `0xE2` or `0xEF`, so only those lead bytes need a closer
//! look. Encode a message once with [`EncodedMessage::new`]; clones share the buffer, so
//! a broadcast costs one encoding however many sessions receive it.
//!
//! # Decoding (client → server)
//!
//! [`decode_messages`] reads an HTTP send body (`xhr_send`, `jsonp_send`), which must be a
//! JSON array of strings. [`decode_websocket_payload`] reads a WebSocket text message, which
//! may be an array of strings or a single JSON string. Failures are reported as a
//! [`PayloadError`] whose [`Display`](std::fmt::Display) text is the protocol's response
//! body ("Payload expected." / "Broken JSON encoding.").
//!
//! A server decodes what clients send with [`decode_messages_bounded`] and
//! [`decode_websocket_payload_bounded`], which take [`DecodeLimits`] (messages per payload,
//! bytes per message, decoded bytes in all) and check them *while* decoding: a payload of a
//! million one-character messages stops at the message limit instead of first becoming a
//! million strings. [`DecodeLimits::from_config`] gives an endpoint's limits.
//!
//! ## Lone surrogates
//!
//! sockjs-client escapes many characters as `\uXXXX`, writing characters outside the Basic
//! Multilingual Plane as UTF-16 surrogate pairs (`\ud83d\ude00` is 😀). A JavaScript string
//! may also hold a *lone* surrogate, and the client then sends its escape unpaired, e.g.
//! `["\ud800"]` or `["a\udc00b"]`. Strict JSON parsers for UTF-8 text, serde_json among them,
//! reject such input, yet it is valid client output and must never be answered with
//! "Broken JSON encoding.".
//!
//! **Decision:** every unpaired surrogate escape decodes to U+FFFD REPLACEMENT CHARACTER,
//! which is exactly what a browser's UTF-8 encoder produces when a string holding a lone
//! surrogate is sent over a WebSocket as raw text. A surrogate pair (a high surrogate
//! `\uD800`–`\uDBFF` immediately followed by a low surrogate escape `\uDC00`–`\uDFFF`) decodes
//! to its character as usual. A high surrogate followed by anything else (end of string,
//! another high surrogate, a non-surrogate escape, plain text) becomes U+FFFD, and the
//! following text is decoded on its own. Hex digits are case-insensitive.
//!
//! Implementation: the payload is parsed with serde_json first. Only if that fails is it
//! scanned, with awareness of string boundaries and of escapes (so `"\\ud800"`, an escaped
//! backslash followed by the text `ud800`, is left alone), for unpaired surrogate escapes;
//! if any are found they are rewritten to `\ufffd` (the same length) and the payload is
//! parsed again. Valid input therefore pays nothing for this.

use std::fmt;

use bytes::Bytes;

/// The open frame, sent once when a session starts.
pub const OPEN: &str = "o";

/// The heartbeat frame, sent periodically to keep idle connections alive.
pub const HEARTBEAT: &str = "h";

/// A message already encoded as a SockJS JSON string literal, quotes included.
///
/// Encoding happens once, in [`EncodedMessage::new`]; cloning is cheap (a reference-counted
/// buffer), so one encoded message can be queued to many sessions.
///
/// The buffer holds the message already framed on its own, `a[<message>]`, and
/// [`as_bytes`](EncodedMessage::as_bytes) is the middle of it: a websocket session that sends
/// this message alone in a frame (the usual case, a broadcast's included) writes the buffer
/// itself, with no frame built, allocated or copied per session.
#[derive(Clone)]
pub struct EncodedMessage {
    buf: Bytes,
    /// `buf` is `a[<message>]` ([`new`](EncodedMessage::new)), rather than the message
    /// itself ([`verbatim`](EncodedMessage::verbatim)).
    framed: bool,
}

/// Bytes of the frame around a framed message: `a[` before, `]` after.
const FRAME_HEAD: usize = 2;
const FRAME_TAIL: usize = 1;

impl EncodedMessage {
    /// Encode `msg` as a JSON string literal with the SockJS escaping rules
    /// (see [`encode_json_string`]).
    pub fn new(msg: &str) -> Self {
        // A message with nothing to escape gets a buffer of exactly its length: a `Bytes`
        // made from a buffer with spare room allocates a reference-counted header besides.
        // Otherwise there is room for a few escapes (see `encode_json_string`).
        let plain = !may_need_escaping(msg.as_bytes());
        let capacity = if plain {
            msg.len() + 2 + FRAME_HEAD + FRAME_TAIL
        } else {
            msg.len() + msg.len() / 8 + 24
        };
        let mut s = String::with_capacity(capacity);
        s.push_str("a[");
        encode_json_string_known(msg, plain, &mut s);
        s.push(']');
        EncodedMessage {
            buf: Bytes::from(s),
            framed: true,
        }
    }

    /// The encoded bytes: a JSON string literal (`"..."`), valid UTF-8.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        let head = self.frame_len(FRAME_HEAD);
        &self.buf[head..head + self.len()]
    }

    /// `bytes` if the buffer is framed, else 0.
    #[inline]
    fn frame_len(&self, bytes: usize) -> usize {
        usize::from(self.framed) * bytes
    }

    /// The message as it is, not encoded: for the raw `/websocket` endpoint, which carries
    /// plain messages without SockJS framing (see [`Framing::Raw`](crate::framing::Framing::Raw)).
    pub fn verbatim(msg: &str) -> Self {
        EncodedMessage {
            buf: Bytes::copy_from_slice(msg.as_bytes()),
            framed: false,
        }
    }

    /// Encoded length in bytes, quotes included.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.frame_len(FRAME_HEAD + FRAME_TAIL)
    }

    /// `false` for a SockJS-encoded message (it holds at least its two quotes); `true` only
    /// for an empty [`verbatim`](EncodedMessage::verbatim) message.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared buffer holding the encoded bytes (a slice of it: nothing is copied).
    pub fn into_bytes(self) -> Bytes {
        if self.framed {
            self.buf.slice(FRAME_HEAD..self.buf.len() - FRAME_TAIL)
        } else {
            self.buf
        }
    }

    /// The message frame of this message alone, `a[<message>]`: the buffer itself (shared
    /// with the message's other clones; neither copied nor allocated). The message back for a
    /// [`verbatim`](EncodedMessage::verbatim) one.
    #[inline]
    pub(crate) fn into_frame(self) -> Result<Bytes, EncodedMessage> {
        if self.framed {
            Ok(self.buf)
        } else {
            Err(self)
        }
    }
}

/// Equal when the encoded bytes are ([`as_bytes`](EncodedMessage::as_bytes)).
impl PartialEq for EncodedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EncodedMessage {}

impl fmt::Debug for EncodedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EncodedMessage")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

impl AsRef<[u8]> for EncodedMessage {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&str> for EncodedMessage {
    fn from(msg: &str) -> Self {
        EncodedMessage::new(msg)
    }
}

/// Marks `0xE2` and `0xEF` in [`ESCAPES`]: lead bytes of the 3-byte sequences that may
/// encode one of the extra code points SockJS escapes.
const MAYBE_EXTRA: u8 = 1;

/// What to do with each byte value when encoding:
/// `0` copy it; `b'u'` write `\u00XX`; [`MAYBE_EXTRA`] look at the whole character;
/// any other value `x` write the two-character escape `\x`.
static ESCAPES: [u8; 256] = escape_table();

const fn escape_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[0xE2] = MAYBE_EXTRA;
    table[0xEF] = MAYBE_EXTRA;
    table
}

/// Whether `bytes` holds any byte that [`ESCAPES`] does not simply copy. One branch-free
/// pass of comparisons, which the compiler vectorises (the table lookup would not be).
fn may_need_escaping(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\') | (b == 0xE2) | (b == 0xEF)
    })
}

/// The index of the first byte at or after `from` that [`ESCAPES`] does not simply copy
/// (`bytes.len()` if none): eight bytes at a time, each word tested for all five kinds of
/// byte at once with borrow tricks (a lane's flag is exact for the lowest flagged lane, as a
/// borrow only runs upwards from a lane that is itself flagged), the tail byte by byte.
fn next_special(bytes: &[u8], from: usize) -> usize {
    const LANES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Flags the lanes of `w` that are below `n` (for `n` <= 0x80; lanes >= 0x80 never are).
    let below = |w: u64, n: u8| w.wrapping_sub(LANES * u64::from(n)) & !w & HIGH;
    let equal = |w: u64, b: u8| below(w ^ (LANES * u64::from(b)), 1);
    let mut i = from;
    while let Some(Ok(word)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        let w = u64::from_le_bytes(word);
        let flags =
            below(w, 0x20) | equal(w, b'"') | equal(w, b'\\') | equal(w, 0xE2) | equal(w, 0xEF);
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && ESCAPES[usize::from(bytes[i])] == 0 {
        i += 1;
    }
    i
}

/// Whether SockJS requires `cp` (outside U+0000–U+001F) to be sent as a `\uXXXX` escape.
fn is_extra_escaped(cp: u32) -> bool {
    matches!(
        cp,
        0x200C..=0x200F | 0x2028..=0x202F | 0x2060..=0x206F | 0xFFF0..=0xFFFF
    )
}

/// If `rest` starts with the UTF-8 encoding of a code point SockJS escapes beyond plain
/// JSON, return that code point (its encoding is always 3 bytes long).
fn extra_escape_at(rest: &[u8]) -> Option<u32> {
    match *rest {
        [b0 @ (0xE2 | 0xEF), b1, b2, ..] => {
            let cp =
                (u32::from(b0 & 0x0F) << 12) | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
            is_extra_escaped(cp).then_some(cp)
        }
        _ => None,
    }
}

/// Append `\uXXXX` (lowercase hex) for the 16-bit code unit `cp`.
fn push_unicode_escape(out: &mut String, cp: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[((cp >> shift) & 0xF) as usize]));
    }
}

/// Append `s` to `out` as a JSON string literal (`"..."`, quotes included) with the SockJS
/// escaping rules described in the [module documentation](self).
///
/// ```
/// # use sockjs_core::frame::encode_json_string;
/// let mut out = String::new();
/// encode_json_string("a\"b\n\u{2028}😀", &mut out);
/// assert_eq!(out, r#""a\"b\n\u2028😀""#);
/// ```
pub fn encode_json_string(s: &str, out: &mut String) {
    encode_json_string_known(s, !may_need_escaping(s.as_bytes()), out);
}

/// [`encode_json_string`] when the caller knows already whether `s` is `plain` (whether
/// [`may_need_escaping`] is false).
fn encode_json_string_known(s: &str, plain: bool, out: &mut String) {
    let bytes = s.as_bytes();
    if plain {
        // The usual message: nothing to escape, copied whole.
        out.reserve(bytes.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // Room for a few escapes, so that a message with some (lines, quotes) is written without
    // growing the buffer again.
    out.reserve(bytes.len() + bytes.len() / 8 + 18);
    out.push('"');
    // `s[run_start..i]` is copied in bulk whenever an escape is written. Both ends are
    // always char boundaries: `i` only stops at an ASCII byte or at the lead byte of a
    // 3-byte sequence, and `run_start` is just past such a byte or sequence.
    let mut run_start = 0;
    let mut i = next_special(bytes, 0);
    while i < bytes.len() {
        let byte = bytes[i];
        match ESCAPES[usize::from(byte)] {
            MAYBE_EXTRA => match extra_escape_at(&bytes[i..]) {
                Some(cp) => {
                    out.push_str(&s[run_start..i]);
                    push_unicode_escape(out, cp);
                    i += 3;
                    run_start = i;
                }
                // Continuation bytes never need escaping, so stepping one byte is enough.
                None => i += 1,
            },
            b'u' => {
                out.push_str(&s[run_start..i]);
                push_unicode_escape(out, u32::from(byte));
                i += 1;
                run_start = i;
            }
            short => {
                out.push_str(&s[run_start..i]);
                out.push('\\');
                out.push(char::from(short));
                i += 1;
                run_start = i;
            }
        }
        i = next_special(bytes, i);
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// Append the message frame `a[m1,m2,...]` to `out` (no trailing newline).
///
/// An empty iterator gives `a[]`; callers normally skip sending that.
pub fn write_messages_frame<'a>(
    msgs: impl IntoIterator<Item = &'a EncodedMessage>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"a[");
    let mut first = true;
    for m in msgs {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(m.as_bytes());
    }
    out.push(b']');
}

/// The close frame `c[code,"reason"]` (no trailing newline), e.g. `c[3000,"Go away!"]`.
///
/// The reason is encoded like any message, so the frame is valid JSON after its `c` whatever
/// the reason holds.
pub fn close_frame(code: u16, reason: &str) -> String {
    let mut frame = String::with_capacity(reason.len() + 10);
    frame.push_str("c[");
    frame.push_str(&code.to_string());
    frame.push(',');
    encode_json_string(reason, &mut frame);
    frame.push(']');
    frame
}

/// Why a client payload was refused.
///
/// The [`Display`](fmt::Display) text is the exact response body the protocol expects for an
/// HTTP send request answered with status 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// The body was empty (or held only whitespace): "Payload expected.".
    Empty,
    /// The body was not JSON of the expected shape: "Broken JSON encoding.".
    BrokenJson,
}

impl PayloadError {
    /// The protocol's text for this error, as sent in the response body.
    pub const fn as_str(&self) -> &'static str {
        match self {
            PayloadError::Empty => "Payload expected.",
            PayloadError::BrokenJson => "Broken JSON encoding.",
        }
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for PayloadError {}

/// Whether `payload` holds nothing but JSON whitespace (space, tab, LF, CR).
fn is_blank(payload: &[u8]) -> bool {
    payload
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Bounds on what one client payload may decode to, checked while it is decoded: decoding
/// stops at the first message that would go over a bound, so a hostile payload never costs
/// more than the bounds (plus its own size) however many messages it holds.
///
/// ```
/// use sockjs_core::frame::{decode_messages_bounded, DecodeError, DecodeLimits};
/// let limits = DecodeLimits::new(2, 16, 1024);
/// assert_eq!(decode_messages_bounded(br#"["a","b"]"#, &limits).unwrap(), ["a", "b"]);
/// assert_eq!(
///     decode_messages_bounded(br#"["a","b","c"]"#, &limits),
///     Err(DecodeError::TooManyMessages)
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Most messages in one payload.
    pub max_messages: usize,
    /// Most bytes (UTF-8) of one decoded message.
    pub max_message_size: usize,
    /// Most decoded bytes of the whole payload: the bytes of every message plus
    /// [`DECODED_MESSAGE_OVERHEAD`] for each (what the returned `Vec<String>` holds, allocator
    /// rounding and the vector's spare capacity aside).
    pub max_decoded_size: usize,
}

/// What one decoded message costs beyond its bytes, as counted against
/// [`DecodeLimits::max_decoded_size`]: the `String` itself.
pub const DECODED_MESSAGE_OVERHEAD: usize = std::mem::size_of::<String>();

impl DecodeLimits {
    /// No bounds (what [`decode_messages`] and [`decode_websocket_payload`] use).
    pub const UNLIMITED: DecodeLimits = DecodeLimits::new(usize::MAX, usize::MAX, usize::MAX);

    /// Bounds of `max_messages` messages of at most `max_message_size` bytes each, and
    /// `max_decoded_size` decoded bytes in all.
    pub const fn new(
        max_messages: usize,
        max_message_size: usize,
        max_decoded_size: usize,
    ) -> DecodeLimits {
        DecodeLimits {
            max_messages,
            max_message_size,
            max_decoded_size,
        }
    }

    /// The bounds an endpoint with `config` applies to a send body or a websocket message:
    /// [`Config::max_batch_messages`](crate::Config::max_batch_messages) messages of at most
    /// [`Config::max_message_size`](crate::Config::max_message_size) bytes, and as many
    /// decoded bytes as a payload of [`Config::max_request_body`](crate::Config::max_request_body)
    /// bytes can hold at that count (decoding never makes a message longer than its JSON).
    pub fn from_config(config: &crate::Config) -> DecodeLimits {
        let overhead = config
            .max_batch_messages
            .saturating_mul(DECODED_MESSAGE_OVERHEAD);
        DecodeLimits::new(
            config.max_batch_messages,
            config.max_message_size,
            config.max_request_body.saturating_add(overhead),
        )
    }
}

/// Why [`decode_messages_bounded`] or [`decode_websocket_payload_bounded`] refused a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload is malformed (or, for a send body, empty).
    Payload(PayloadError),
    /// It holds more than [`DecodeLimits::max_messages`] messages.
    TooManyMessages,
    /// One of its messages is longer than [`DecodeLimits::max_message_size`].
    MessageTooLarge,
    /// Its messages add up to more than [`DecodeLimits::max_decoded_size`].
    TooLarge,
}

impl DecodeError {
    /// Whether a limit was exceeded (rather than the payload being malformed).
    pub fn is_limit(&self) -> bool {
        !matches!(self, DecodeError::Payload(_))
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Payload(e) => e.fmt(f),
            DecodeError::TooManyMessages => f.write_str("too many messages in one payload"),
            DecodeError::MessageTooLarge => f.write_str("a message exceeds the size limit"),
            DecodeError::TooLarge => f.write_str("the messages exceed the decoded size limit"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<PayloadError> for DecodeError {
    fn from(e: PayloadError) -> Self {
        DecodeError::Payload(e)
    }
}

/// The messages decoded so far, checked against the limits one by one, in order.
struct Tally<'l> {
    limits: &'l DecodeLimits,
    count: usize,
    size: usize,
}

impl<'l> Tally<'l> {
    fn new(limits: &'l DecodeLimits) -> Self {
        Tally {
            limits,
            count: 0,
            size: 0,
        }
    }

    /// Admit one more message of `len` bytes, or say which limit it would exceed.
    fn admit(&mut self, len: usize) -> Result<(), DecodeError> {
        if self.count >= self.limits.max_messages {
            return Err(DecodeError::TooManyMessages);
        }
        if len > self.limits.max_message_size {
            return Err(DecodeError::MessageTooLarge);
        }
        let size = self
            .size
            .saturating_add(len)
            .saturating_add(DECODED_MESSAGE_OVERHEAD);
        if size > self.limits.max_decoded_size {
            return Err(DecodeError::TooLarge);
        }
        self.count += 1;
        self.size = size;
        Ok(())
    }
}

/// The unbounded decoders' error: no limit can be exceeded without limits.
fn unbounded(e: DecodeError) -> PayloadError {
    match e {
        DecodeError::Payload(e) => e,
        _ => PayloadError::BrokenJson,
    }
}

/// Decode an HTTP send body (`xhr_send`, `jsonp_send`): a JSON array of strings.
///
/// * empty or whitespace-only → [`PayloadError::Empty`];
/// * `[]` → `Ok(vec![])`;
/// * anything that is not a JSON array of strings (invalid UTF-8, a bare string, an array
///   holding a number, trailing garbage, ...) → [`PayloadError::BrokenJson`].
///
/// Unpaired surrogate escapes decode to U+FFFD (see the [module documentation](self)).
///
/// Without limits, the decoded messages can cost many times the payload's size (a million
/// one-character messages); a server decoding what clients send uses
/// [`decode_messages_bounded`].
pub fn decode_messages(payload: &[u8]) -> Result<Vec<String>, PayloadError> {
    decode_messages_bounded(payload, &DecodeLimits::UNLIMITED).map_err(unbounded)
}

/// [`decode_messages`] within `limits`: the messages are counted and measured while they are
/// decoded, and decoding stops at the first one that would exceed a limit (the error says
/// which). A payload that is malformed after that point is refused for the limit.
pub fn decode_messages_bounded(
    payload: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<String>, DecodeError> {
    if is_blank(payload) {
        return Err(PayloadError::Empty.into());
    }
    if let Some(decoded) = std::str::from_utf8(payload)
        .ok()
        .and_then(|text| parse_plain_array(text, limits))
    {
        return decoded;
    }
    decode_with_surrogate_repair(payload, limits, Shape::Array)
}

/// Decode a WebSocket text message: a JSON array of strings, or one JSON string.
///
/// * empty or whitespace-only → `Ok(vec![])`: the message is ignored;
/// * `[]` → `Ok(vec![])`;
/// * `"a"` → `Ok(vec!["a"])`, `["a","b"]` → `Ok(vec!["a", "b"])`;
/// * anything else → [`PayloadError::BrokenJson`] (the caller drops the connection).
///
/// Unpaired surrogate escapes decode to U+FFFD (see the [module documentation](self)).
/// A server uses [`decode_websocket_payload_bounded`] (see [`decode_messages`]).
pub fn decode_websocket_payload(payload: &str) -> Result<Vec<String>, PayloadError> {
    decode_websocket_payload_bounded(payload, &DecodeLimits::UNLIMITED).map_err(unbounded)
}

/// [`decode_websocket_payload`] within `limits`, checked while decoding as in
/// [`decode_messages_bounded`]; a bare string counts as one message.
pub fn decode_websocket_payload_bounded(
    payload: &str,
    limits: &DecodeLimits,
) -> Result<Vec<String>, DecodeError> {
    let bytes = payload.as_bytes();
    if is_blank(bytes) {
        return Ok(Vec::new());
    }
    if let Some(decoded) = parse_plain_array(payload, limits) {
        return decoded;
    }
    decode_with_surrogate_repair(bytes, limits, Shape::StringOrArray)
}

/// The shape nearly every client sends, decoded without a JSON parser: `["…","…"]` with no
/// whitespace between the tokens and no control character in the strings, whose escapes are
/// the two-character ones (`\"`, `\n`, ...) or `\uXXXX` outside the surrogates. `None` when the
/// payload is of any other shape (a surrogate escape included); the JSON parser then decides,
/// with the same result it would give for this shape. Each message is admitted to the limits
/// as it is decoded, in order, as the parser admits them.
fn parse_plain_array(
    payload: &str,
    limits: &DecodeLimits,
) -> Option<Result<Vec<String>, DecodeError>> {
    let inner = payload.strip_prefix("[\"")?.strip_suffix("\"]")?;
    // One branch-free pass (the compiler vectorises it) rules out control characters and
    // finds whether there is any escape at all.
    let (control, escaped) = inner.bytes().fold((false, false), |(control, escaped), b| {
        (control | (b < 0x20), escaped | (b == b'\\'))
    });
    if control {
        return None;
    }
    if escaped {
        return parse_escaped_array(inner, limits);
    }
    // Without escapes a string is its own text, and a `"` can only be a delimiter: `","`
    // splits the strings and any other `"` is a malformed payload.
    let mut tally = Tally::new(limits);
    let mut messages = Vec::new();
    let mut rest = inner;
    loop {
        let (message, next) = match rest.find('"') {
            None => (rest, None),
            // (`quote` is at an ASCII byte: a character boundary.)
            Some(quote) => (
                rest.get(..quote)?,
                Some(rest.get(quote + 1..)?.strip_prefix(",\"")?),
            ),
        };
        if let Err(e) = tally.admit(message.len()) {
            return Some(Err(e));
        }
        messages.push(message.to_owned());
        match next {
            None => return Some(Ok(messages)),
            Some(next) => rest = next,
        }
    }
}

/// [`parse_plain_array`]'s strings when some hold escapes: `inner` is the payload without its
/// leading `["` and trailing `"]`, free of control characters. Each string is scanned once,
/// its unescaped runs copied in bulk.
fn parse_escaped_array(
    inner: &str,
    limits: &DecodeLimits,
) -> Option<Result<Vec<String>, DecodeError>> {
    let bytes = inner.as_bytes();
    let mut tally = Tally::new(limits);
    let mut messages = Vec::new();
    let mut at = 0;
    loop {
        // One string, from `at` to its closing quote (or the end of `inner`, the last one's):
        // first its end (an escape's second byte is never a delimiter, and the rest of a
        // `\uXXXX` holds neither `"` nor `\\`), then its text, which is never longer.
        let start = at;
        let end = loop {
            let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[at..]) else {
                break bytes.len();
            };
            at += offset;
            if bytes[at] == b'"' {
                break at;
            }
            at += 2;
            if at > bytes.len() {
                return None;
            }
        };
        let mut message = String::with_capacity(end - start);
        let mut run = start;
        while let Some(offset) = memchr::memchr(b'\\', &bytes[run..end]) {
            let escape = run + offset;
            // `run` and `escape` sit at ASCII bytes: character boundaries.
            message.push_str(inner.get(run..escape)?);
            let (c, len) = simple_escape(bytes.get(escape..end)?)?;
            message.push(c);
            run = escape + len;
        }
        message.push_str(inner.get(run..end)?);
        if let Err(e) = tally.admit(message.len()) {
            return Some(Err(e));
        }
        messages.push(message);
        if end == bytes.len() {
            return Some(Ok(messages));
        }
        // A quote inside: it must end this string and open the next.
        if bytes.get(end + 1..end + 3) != Some(b",\"") {
            return None;
        }
        at = end + 3;
    }
}

/// The character of the JSON escape `rest` starts with (at its `\`) and the escape's length;
/// `None` for a malformed escape or a surrogate (left to the JSON parser, which pairs or
/// repairs them).
fn simple_escape(rest: &[u8]) -> Option<(char, usize)> {
    let c = match *rest.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = unicode_escape_at(rest, 0)?;
            return char::from_u32(u32::from(unit)).map(|c| (c, UNICODE_ESCAPE_LEN));
        }
        _ => return None,
    };
    Some((c, 2))
}

/// What the JSON parser accepts.
#[derive(Clone, Copy)]
enum Shape {
    /// An array of strings (a send body).
    Array,
    /// An array of strings or one string (a websocket message).
    StringOrArray,
}

/// Parse `payload` as `shape` with serde_json, admitting each string to the limits before it
/// is copied out of the parser. A limit error is returned as such, never as broken JSON.
fn parse_json(
    payload: &[u8],
    limits: &DecodeLimits,
    shape: Shape,
) -> Result<Vec<String>, DecodeError> {
    let stop = std::cell::Cell::new(None);
    let mut tally = Tally::new(limits);
    let mut de = serde_json::Deserializer::from_slice(payload);
    let strings = Strings {
        tally: &mut tally,
        stop: &stop,
    };
    let parsed = match shape {
        Shape::StringOrArray
            if payload
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                == Some(&b'"') =>
        {
            serde::de::DeserializeSeed::deserialize(OneString(strings), &mut de).map(|s| vec![s])
        }
        _ => serde::de::DeserializeSeed::deserialize(strings, &mut de),
    };
    match parsed.and_then(|messages| de.end().map(|()| messages)) {
        Ok(messages) => Ok(messages),
        Err(_) => Err(stop
            .take()
            .unwrap_or(DecodeError::Payload(PayloadError::BrokenJson))),
    }
}

/// A JSON array of strings, each admitted to the tally before it is copied.
struct Strings<'a, 'l> {
    tally: &'a mut Tally<'l>,
    /// Why decoding stopped, when a limit stopped it (serde's error cannot carry it).
    stop: &'a std::cell::Cell<Option<DecodeError>>,
}

impl Strings<'_, '_> {
    fn admit<E: serde::de::Error>(&mut self, s: &str) -> Result<String, E> {
        match self.tally.admit(s.len()) {
            Ok(()) => Ok(s.to_owned()),
            Err(limit) => {
                self.stop.set(Some(limit));
                Err(E::custom("limit exceeded"))
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Strings<'_, '_> {
    type Value = Vec<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strings<'_, '_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut messages = Vec::new();
        while let Some(message) = seq.next_element_seed(OneString(Strings {
            tally: &mut *self.tally,
            stop: self.stop,
        }))? {
            messages.push(message);
        }
        Ok(messages)
    }
}

/// One JSON string, admitted to the tally before it is copied.
struct OneString<'a, 'l>(Strings<'a, 'l>);

impl<'de> serde::de::DeserializeSeed<'de> for OneString<'_, '_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for OneString<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(mut self, s: &str) -> Result<String, E> {
        self.0.admit(s)
    }
}

/// Parse as `shape`; if that fails for a reason other than a limit, replace unpaired
/// surrogate escapes and try once more.
fn decode_with_surrogate_repair(
    payload: &[u8],
    limits: &DecodeLimits,
    shape: Shape,
) -> Result<Vec<String>, DecodeError> {
    match parse_json(payload, limits, shape) {
        Err(DecodeError::Payload(_)) => {
            let repaired = replace_lone_surrogate_escapes(payload)
                .ok_or(DecodeError::Payload(PayloadError::BrokenJson))?;
            parse_json(&repaired, limits, shape)
        }
        decoded => decoded,
    }
}

/// The value of one hex digit, any case.
fn hex_digit(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// If `input[at..]` starts with a complete `\uXXXX` escape, its code unit.
fn unicode_escape_at(input: &[u8], at: usize) -> Option<u16> {
    match *input.get(at..)? {
        [b'\\', b'u', h0, h1, h2, h3, ..] => Some(
            (hex_digit(h0)? << 12) | (hex_digit(h1)? << 8) | (hex_digit(h2)? << 4) | hex_digit(h3)?,
        ),
        _ => None,
    }
}

/// Length in bytes of a `\uXXXX` escape.
const UNICODE_ESCAPE_LEN: usize = 6;

/// Rewrite every unpaired surrogate escape inside JSON strings to `\ufffd`.
///
/// Returns `None` when there is none (the input would fail to parse again for the same
/// reason). Bytes outside strings, other escapes and valid surrogate pairs are copied
/// unchanged. The replacement has the same length as what it replaces.
fn replace_lone_surrogate_escapes(input: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    // `input[..copied]` has been handled: written to `out`, or needs no change.
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if !in_string {
            in_string = byte == b'"';
            i += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = false;
                i += 1;
            }
            b'\\' => {
                let lone = match unicode_escape_at(input, i) {
                    Some(0xD800..=0xDBFF) => {
                        let next = unicode_escape_at(input, i + UNICODE_ESCAPE_LEN);
                        if matches!(next, Some(0xDC00..=0xDFFF)) {
                            // A valid pair: keep both escapes.
                            i += 2 * UNICODE_ESCAPE_LEN;
                            continue;
                        }
                        true
                    }
                    Some(0xDC00..=0xDFFF) => true,
                    Some(_) => false,
                    None => {
                        // Any other escape (`\\`, `\"`, `\n`, ... or a malformed one): skip
                        // the backslash and the escaped byte so neither is misread.
                        i += 2;
                        continue;
                    }
                };
                if lone {
                    let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
                    buf.extend_from_slice(&input[copied..i]);
                    buf.extend_from_slice(b"\\ufffd");
                    copied = i + UNICODE_ESCAPE_LEN;
                }
                i += UNICODE_ESCAPE_LEN;
            }
            _ => i += 1,
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&input[copied..]);
    Some(buf)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_escaping_pre_check_flags_every_byte_the_table_does_not_copy() {
        for b in 0..=255u8 {
            assert_eq!(
                may_need_escaping(&[b]),
                ESCAPES[usize::from(b)] != 0,
                "{b:#x}"
            );
            let mut long = vec![b'a'; 70];
            long[37] = b;
            assert_eq!(
                may_need_escaping(&long),
                ESCAPES[usize::from(b)] != 0,
                "{b:#x}"
            );
        }
    }

    #[test]
    fn plain_array_fast_path_agrees_with_the_json_parser() {
        // Shapes the fast path takes: it must give what serde_json gives.
        for p in [
            r#"[""]"#,
            r#"["a"]"#,
            r#"["a","b"]"#,
            r#"["a",""]"#,
            r#"["","",""]"#,
            "[\"ünï ✓ 😀\",\"x\u{7f}y\"]",
            r#"["{'k': 1}","[1,2]","a b"]"#,
            r#"["a\"b"]"#,
            r#"["\u0041"]"#,
            r#"["a\"","\"b"]"#,
            r#"["\\"]"#,
            r#"["x\\","\\y\"\\"]"#,
            r#"["SEND\ndestination:/topic/a\n\nhi\u0000"]"#,
            r#"["\b\f\n\r\t\/\u00e9\u2028\uFFFF"]"#,
            r#"["{\"k\":[1,\"two\"]}","plain"]"#,
        ] {
            let fast = parse_plain_array(p, &DecodeLimits::UNLIMITED)
                .unwrap_or_else(|| panic!("{p} takes the fast path"))
                .unwrap();
            let slow: Vec<String> = serde_json::from_str(p).unwrap();
            assert_eq!(fast, slow, "{p}");
            assert_eq!(decode_websocket_payload(p).unwrap(), slow, "{p}");
            assert_eq!(decode_messages(p.as_bytes()).unwrap(), slow, "{p}");
        }
        // Shapes it leaves to the parser, valid or not.
        for p in [
            "[]",
            r#"[ "a"]"#,
            r#"["a" ,"b"]"#,
            "[\"a\tb\"]",
            r#"["\ud83d\ude00"]"#,
            r#"["\udc00"]"#,
            r#"["a\"]"#,
            r#"["a\x"]"#,
            r#"["\u00g0"]"#,
            r#"["a\n"x"b"]"#,
            r#"["a\n",]"#,
            r#"["a""b"]"#,
            r#"["a","]"#,
            r#"["a"x"b"]"#,
            r#"["]"#,
            r#""a""#,
            r#"["a"] "#,
        ] {
            assert_eq!(parse_plain_array(p, &DecodeLimits::UNLIMITED), None, "{p}");
        }
        assert_eq!(decode_websocket_payload("[\"a\\\"b\"]").unwrap(), ["a\"b"]);
        assert!(decode_websocket_payload("[\"a\"x\"b\"]").is_err());
        assert!(
            decode_websocket_payload("[\"a\tb\"]").is_err(),
            "a raw tab is not JSON"
        );
        assert!(decode_messages(b"[\"a\",\"]").is_err());
        assert!(decode_messages(b"[\"\xff\"]").is_err(), "not UTF-8");
    }

    fn enc(s: &str) -> String {
        let mut out = String::new();
        encode_json_string(s, &mut out);
        out
    }

    fn is_sockjs_escaped(c: char) -> bool {
        let cp = u32::from(c);
        cp < 0x20 || is_extra_escaped(cp)
    }

    /// Reference encoder: serde_json, then the SockJS extras replaced char by char.
    fn reference_encode(s: &str) -> String {
        let json = serde_json::to_string(s).unwrap();
        let mut out = String::new();
        for c in json.chars() {
            if is_extra_escaped(u32::from(c)) {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            } else {
                out.push(c);
            }
        }
        out
    }

    fn ch(cp: u32) -> char {
        char::from_u32(cp).unwrap()
    }

    // ---- constants and EncodedMessage ----

    #[test]
    fn constants() {
        assert_eq!(OPEN, "o");
        assert_eq!(HEARTBEAT, "h");
    }

    #[test]
    fn encoded_message_basics() {
        let m = EncodedMessage::new("hi");
        assert_eq!(m.as_bytes(), b"\"hi\"");
        assert_eq!(m.len(), 4);
        assert!(!m.is_empty());
        assert_eq!(m.as_ref(), b"\"hi\"");
        assert_eq!(EncodedMessage::from("hi"), m);

        let empty = EncodedMessage::new("");
        assert_eq!(empty.as_bytes(), b"\"\"");
        assert!(!empty.is_empty());
    }

    #[test]
    fn encoded_message_clone_shares_buffer() {
        let m = EncodedMessage::new(&"x".repeat(1000));
        let c = m.clone();
        assert_eq!(m.as_bytes().as_ptr(), c.as_bytes().as_ptr());
        assert_eq!(c.into_bytes().as_ptr(), m.as_bytes().as_ptr());
    }

    #[test]
    fn encoded_message_carries_its_own_frame() {
        let m = EncodedMessage::new("a\"b");
        assert_eq!(m.as_bytes(), br#""a\"b""#);
        assert_eq!(m.len(), 6);
        assert_eq!(m.clone().into_bytes(), &br#""a\"b""#[..]);
        assert_eq!(format!("{m:?}"), r#"EncodedMessage("\"a\\\"b\"")"#);
        let frame = m.clone().into_frame().unwrap();
        assert_eq!(frame, &br#"a["a\"b"]"#[..]);
        assert_eq!(
            frame[2..].as_ptr(),
            m.as_bytes().as_ptr(),
            "shared, not copied"
        );

        let v = EncodedMessage::verbatim("a[x]");
        assert_eq!(v.as_bytes(), b"a[x]");
        assert_eq!(v.len(), 4);
        assert_eq!(v.clone().into_frame(), Err(v.clone()));
        assert_eq!(v.into_bytes(), &b"a[x]"[..]);
        assert!(EncodedMessage::verbatim("").is_empty());
        // Equality is by encoded bytes, whichever way the message was made.
        assert_eq!(EncodedMessage::verbatim("\"x\""), EncodedMessage::new("x"));
    }

    // ---- encoding ----

    #[test]
    fn encode_appends() {
        let mut out = String::from("prefix:");
        encode_json_string("a", &mut out);
        encode_json_string("b", &mut out);
        assert_eq!(out, r#"prefix:"a""b""#);
    }

    #[test]
    fn encode_plain_and_empty() {
        assert_eq!(enc(""), r#""""#);
        assert_eq!(enc("hello world"), r#""hello world""#);
        assert_eq!(enc("/<>'&%"), r#""/<>'&%""#);
        assert_eq!(enc("\u{7f}"), "\"\u{7f}\"");
    }

    #[test]
    fn encode_quotes_and_backslashes() {
        assert_eq!(enc("\""), r#""\"""#);
        assert_eq!(enc("\\"), r#""\\""#);
        assert_eq!(enc(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(enc(r"\u2028"), r#""\\u2028""#);
    }

    #[test]
    fn encode_control_chars() {
        assert_eq!(enc("\u{8}\t\n\u{c}\r"), r#""\b\t\n\f\r""#);
        assert_eq!(enc("\u{0}"), r#""\u0000""#);
        assert_eq!(enc("\u{1}"), r#""\u0001""#);
        assert_eq!(enc("\u{b}"), r#""\u000b""#);
        assert_eq!(enc("\u{1a}"), r#""\u001a""#);
        assert_eq!(enc("\u{1f}"), r#""\u001f""#);
        assert_eq!(enc(" "), r#"" ""#);
        for b in 0u8..0x20 {
            let s = char::from(b).to_string();
            assert_eq!(enc(&s), serde_json::to_string(&s).unwrap(), "byte {b:#x}");
        }
    }

    #[test]
    fn encode_range_boundaries() {
        let raw = [
            0x200B, 0x2010, 0x2027, 0x2030, 0x205F, 0x2070, 0xFFEF, 0xE000, 0xFEFF,
        ];
        for cp in raw {
            let s = ch(cp).to_string();
            assert_eq!(enc(&s), format!("\"{s}\""), "U+{cp:04X} must stay raw");
        }
        let escaped = [
            0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0x202F, 0x2060, 0x2065, 0x206F, 0xFFF0,
            0xFFFD, 0xFFFE, 0xFFFF,
        ];
        for cp in escaped {
            let s = ch(cp).to_string();
            assert_eq!(
                enc(&s),
                format!("\"\\u{cp:04x}\""),
                "U+{cp:04X} must be escaped"
            );
        }
        for cp in (0x2060..=0x206F).chain(0xFFF0..=0xFFFF) {
            assert_eq!(enc(&ch(cp).to_string()), format!("\"\\u{cp:04x}\""));
        }
    }

    #[test]
    fn encode_uses_lowercase_hex() {
        assert_eq!(
            enc("\u{200c}\u{feff}\u{fff0}"),
            "\"\\u200c\u{feff}\\ufff0\""
        );
        let out = enc("\u{206f}\u{ffff}\u{1b}");
        assert_eq!(out, r#""\u206f\uffff\u001b""#);
    }

    #[test]
    fn encode_mixed_runs() {
        assert_eq!(
            enc("ab\u{2028}cd\u{2029}\u{2029}e\"f\u{fff0}"),
            r#""ab\u2028cd\u2029\u2029e\"f\ufff0""#
        );
        // Other characters that share the 0xE2 / 0xEF lead bytes stay raw.
        assert_eq!(enc("€…™✓\u{fe0f}"), "\"€…™✓\u{fe0f}\"");
    }

    #[test]
    fn encode_emoji_and_non_ascii_raw() {
        assert_eq!(enc("😀"), "\"😀\"");
        assert_eq!(enc("héllo wörld 日本語 👍🏽"), "\"héllo wörld 日本語 👍🏽\"");
        assert_eq!(enc("\u{10ffff}"), "\"\u{10ffff}\"");
    }

    #[test]
    fn encode_matches_protocol_suite_bytes() {
        // The conformance suite sends every escapable code point from U+00FF upwards and
        // compares the echoed bytes with the lowercase `\uXXXX` form of each.
        let input: String = (0xFFu32..=0xFFFF)
            .filter_map(char::from_u32)
            .filter(|&c| is_sockjs_escaped(c))
            .collect();
        let expected: String = std::iter::once("\"".to_string())
            .chain(input.chars().map(|c| format!("\\u{:04x}", u32::from(c))))
            .chain(std::iter::once("\"".to_string()))
            .collect();
        assert!(expected.starts_with(r#""\u200c\u200d"#));
        assert!(expected.ends_with(r#"\ufffe\uffff""#));
        assert_eq!(enc(&input), expected);
    }

    #[test]
    fn encode_all_bmp_round_trips() {
        let all: String = (0u32..=0xFFFF).filter_map(char::from_u32).collect();
        assert_eq!(all.chars().count(), 0x10000 - 0x800);
        let out = enc(&all);
        assert_eq!(out, reference_encode(&all));
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), all);
        assert_eq!(
            decode_messages(format!("[{out}]").as_bytes()).unwrap(),
            vec![all.clone()]
        );
        assert_eq!(decode_websocket_payload(&out).unwrap(), vec![all.clone()]);
        // No escapable character survives raw.
        assert!(!out.chars().any(is_sockjs_escaped));
    }

    #[test]
    fn encode_leaves_everything_else_raw() {
        let others: String = (0x7Fu32..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| !is_sockjs_escaped(c))
            .collect();
        assert_eq!(enc(&others), format!("\"{others}\""));
    }

    // ---- frames ----

    #[test]
    fn messages_frame() {
        let mut out = Vec::new();
        write_messages_frame(std::iter::empty(), &mut out);
        assert_eq!(out, b"a[]");

        let msgs = [
            EncodedMessage::new("a"),
            EncodedMessage::new("b\"c"),
            EncodedMessage::new("\u{2028}"),
        ];
        let mut out = b"prefix".to_vec();
        write_messages_frame(&msgs, &mut out);
        assert_eq!(out, br#"prefixa["a","b\"c","\u2028"]"#.to_vec());

        let mut out = Vec::new();
        write_messages_frame(&msgs[..1], &mut out);
        assert_eq!(out, br#"a["a"]"#);

        let mut out = Vec::new();
        write_messages_frame(msgs.iter().rev(), &mut out);
        let text = std::str::from_utf8(&out).unwrap();
        let parsed: Vec<String> = serde_json::from_str(&text[1..]).unwrap();
        assert_eq!(parsed, vec!["\u{2028}", "b\"c", "a"]);
    }

    #[test]
    fn close_frames() {
        assert_eq!(close_frame(3000, "Go away!"), r#"c[3000,"Go away!"]"#);
        assert_eq!(
            close_frame(2010, "Another connection still open"),
            r#"c[2010,"Another connection still open"]"#
        );
        assert_eq!(
            close_frame(1002, "Connection interrupted"),
            r#"c[1002,"Connection interrupted"]"#
        );
        assert_eq!(close_frame(0, ""), r#"c[0,""]"#);
        assert_eq!(close_frame(u16::MAX, "x"), r#"c[65535,"x"]"#);
    }

    #[test]
    fn close_frame_tricky_reasons_round_trip() {
        let reasons = [
            "say \"bye\"",
            r"back\slash",
            "\\\"",
            "\"]",
            "line\nbreak\ttab\u{0}",
            "\u{2028}\u{2029}\u{ffff}",
            "😀 émoji",
            "",
        ];
        for reason in reasons {
            let frame = close_frame(4000, reason);
            assert!(frame.starts_with("c[4000,"));
            let (code, back): (u16, String) = serde_json::from_str(&frame[1..]).unwrap();
            assert_eq!(code, 4000);
            assert_eq!(back, reason);
        }
    }

    // ---- errors ----

    #[test]
    fn payload_error_texts() {
        assert_eq!(PayloadError::Empty.to_string(), "Payload expected.");
        assert_eq!(
            PayloadError::BrokenJson.to_string(),
            "Broken JSON encoding."
        );
        assert_eq!(PayloadError::Empty.as_str(), "Payload expected.");
        let e: Box<dyn std::error::Error> = Box::new(PayloadError::BrokenJson);
        assert_eq!(e.to_string(), "Broken JSON encoding.");
    }

    // ---- HTTP decoding ----

    #[test]
    fn decode_http_empty_and_whitespace() {
        assert_eq!(decode_messages(b""), Err(PayloadError::Empty));
        assert_eq!(decode_messages(b"   "), Err(PayloadError::Empty));
        assert_eq!(decode_messages(b" \r\n\t"), Err(PayloadError::Empty));
    }

    #[test]
    fn decode_http_arrays() {
        assert_eq!(decode_messages(b"[]"), Ok(vec![]));
        assert_eq!(decode_messages(b" [ ] \n"), Ok(vec![]));
        assert_eq!(
            decode_messages(br#"["a","b"]"#),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(decode_messages(br#"[""]"#), Ok(vec![String::new()]));
        assert_eq!(
            decode_messages(br#"["x\n\"\\\/\u0041\u00e9"]"#),
            Ok(vec!["x\n\"\\/Aé".to_string()])
        );
        // Percent signs arrive untouched (jsonp raw bodies are not percent-decoded).
        assert_eq!(
            decode_messages(br#"["%61bc"]"#),
            Ok(vec!["%61bc".to_string()])
        );
        assert_eq!(
            decode_messages("[\"😀 raw utf-8\"]".as_bytes()),
            Ok(vec!["😀 raw utf-8".to_string()])
        );
    }

    #[test]
    fn decode_http_broken() {
        let broken: [&[u8]; 16] = [
            br#"["a"#,
            b"[",
            br#""a""#,
            b"[1]",
            br#"["a",1]"#,
            br#"["a",null]"#,
            br#"[["a"]]"#,
            br#"{"a":"b"}"#,
            br#"["a"]x"#,
            br#"["a"]["b"]"#,
            b"null",
            b"x",
            b"d=%5B%22x%22%5D",
            b"[\"a\xff\"]",
            b"[\"\xc3\"]",
            br#"["a\x"]"#,
        ];
        for body in broken {
            assert_eq!(
                decode_messages(body),
                Err(PayloadError::BrokenJson),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    // ---- WebSocket decoding ----

    #[test]
    fn decode_ws_forms() {
        assert_eq!(decode_websocket_payload(""), Ok(vec![]));
        assert_eq!(decode_websocket_payload("  \n"), Ok(vec![]));
        assert_eq!(decode_websocket_payload("[]"), Ok(vec![]));
        assert_eq!(
            decode_websocket_payload(r#""a""#),
            Ok(vec!["a".to_string()])
        );
        assert_eq!(
            decode_websocket_payload(r#" "a" "#),
            Ok(vec!["a".to_string()])
        );
        assert_eq!(decode_websocket_payload(r#""""#), Ok(vec![String::new()]));
        assert_eq!(
            decode_websocket_payload(r#"["a","b"]"#),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn decode_ws_broken() {
        for payload in [
            r#"["a"#,
            r#""a"#,
            "[1]",
            "1",
            "null",
            "{}",
            r#""a" x"#,
            r#""a""b""#,
            "x",
            r#"["\ud800"#,
        ] {
            assert_eq!(
                decode_websocket_payload(payload),
                Err(PayloadError::BrokenJson),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn bare_string_http_broken_ws_ok() {
        assert_eq!(decode_messages(br#""a""#), Err(PayloadError::BrokenJson));
        assert_eq!(
            decode_websocket_payload(r#""a""#),
            Ok(vec!["a".to_string()])
        );
    }

    // ---- surrogates ----

    #[test]
    fn surrogate_pairs_decode() {
        assert_eq!(
            decode_messages(br#"["\ud83d\ude00"]"#),
            Ok(vec!["😀".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\uD83D\uDE00"]"#),
            Ok(vec!["😀".to_string()])
        );
        assert_eq!(
            decode_websocket_payload(r#""\ud83d\ude00""#),
            Ok(vec!["😀".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\udbff\udfff"]"#),
            Ok(vec!["\u{10ffff}".to_string()])
        );
    }

    #[test]
    fn lone_high_surrogate() {
        assert_eq!(
            decode_messages(br#"["\ud800"]"#),
            Ok(vec!["\u{fffd}".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\uDBFF"]"#),
            Ok(vec!["\u{fffd}".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["a\ud800b"]"#),
            Ok(vec!["a\u{fffd}b".to_string()])
        );
        assert_eq!(
            decode_websocket_payload(r#""\ud800""#),
            Ok(vec!["\u{fffd}".to_string()])
        );
        assert_eq!(
            decode_websocket_payload(r#"["\ud800","ok"]"#),
            Ok(vec!["\u{fffd}".to_string(), "ok".to_string()])
        );
    }

    #[test]
    fn lone_low_surrogate() {
        assert_eq!(
            decode_messages(br#"["a\udc00b"]"#),
            Ok(vec!["a\u{fffd}b".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\uDFFF"]"#),
            Ok(vec!["\u{fffd}".to_string()])
        );
        // Low before high is two lone surrogates, not a pair.
        assert_eq!(
            decode_messages(br#"["\ude00\ud83d"]"#),
            Ok(vec!["\u{fffd}\u{fffd}".to_string()])
        );
    }

    #[test]
    fn high_followed_by_non_low() {
        assert_eq!(
            decode_messages(br#"["\ud800\ud800"]"#),
            Ok(vec!["\u{fffd}\u{fffd}".to_string()])
        );
        // The second high surrogate pairs with the following low one.
        assert_eq!(
            decode_messages(br#"["\ud800\ud83d\ude00"]"#),
            Ok(vec!["\u{fffd}😀".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\ud800\u0041"]"#),
            Ok(vec!["\u{fffd}A".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\ud800\n"]"#),
            Ok(vec!["\u{fffd}\n".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\ud800\\"]"#),
            Ok(vec!["\u{fffd}\\".to_string()])
        );
        assert_eq!(
            decode_messages(br#"["\ud800\"x"]"#),
            Ok(vec!["\u{fffd}\"x".to_string()])
        );
    }

    #[test]
    fn escaped_backslash_is_not_a_surrogate_escape() {
        // `\\ud800` is a backslash followed by the text "ud800": valid, untouched.
        assert_eq!(
            decode_messages(br#"["\\ud800"]"#),
            Ok(vec![r"\ud800".to_string()])
        );
        // Mixed with a real lone surrogate elsewhere, only the real one is replaced.
        assert_eq!(
            decode_messages(br#"["\\ud800\ud800","\\\ud800"]"#),
            Ok(vec![
                "\\ud800\u{fffd}".to_string(),
                "\\\u{fffd}".to_string()
            ])
        );
    }

    #[test]
    fn repair_does_not_rescue_other_errors() {
        assert_eq!(
            decode_messages(br#"["\ud800",1]"#),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(
            decode_messages(br#"["\ud800"]x"#),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(
            decode_messages(br#"["\ud8"]"#),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(
            decode_messages(br#""\ud800""#),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(
            decode_messages(b"[\"\\ud800\xff\"]"),
            Err(PayloadError::BrokenJson)
        );
        // A surrogate escape outside any string is not touched.
        assert_eq!(
            decode_messages(br#"[\ud800]"#),
            Err(PayloadError::BrokenJson)
        );
    }

    #[test]
    fn repair_scanner_direct() {
        assert_eq!(replace_lone_surrogate_escapes(br#"["a"]"#), None);
        assert_eq!(replace_lone_surrogate_escapes(br#"["\ud83d\ude00"]"#), None);
        assert_eq!(replace_lone_surrogate_escapes(br#"["\\ud800"]"#), None);
        assert_eq!(replace_lone_surrogate_escapes(br#"\ud800"#), None);
        assert_eq!(
            replace_lone_surrogate_escapes(br#"["\ud800","\uDC00x"]"#).unwrap(),
            br#"["\ufffd","\ufffdx"]"#.to_vec()
        );
        // Truncated input must not panic.
        for input in [
            &br#""\"#[..],
            br#""\u"#,
            br#""\ud8"#,
            br#""\ud800\"#,
            br#""\ud800\ud"#,
        ] {
            let _ = replace_lone_surrogate_escapes(input);
        }
        assert_eq!(
            replace_lone_surrogate_escapes(br#""\ud800\"#).unwrap(),
            br#""\ufffd\"#.to_vec()
        );
    }

    // ---- property-style tests with a deterministic generator ----

    /// xorshift64*: small, deterministic, good enough to drive test inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: u32) -> u32 {
            u32::try_from(self.next() % u64::from(n)).unwrap()
        }

        fn char(&mut self) -> char {
            const SPECIAL: [u32; 24] = [
                0x0, 0x8, 0x9, 0xA, 0xC, 0xD, 0x1F, 0x22, 0x5C, 0x2F, 0x7F, 0x200B, 0x200C, 0x200F,
                0x2027, 0x2028, 0x202F, 0x2030, 0x205F, 0x2060, 0x206F, 0xFFEF, 0xFFF0, 0xFFFF,
            ];
            let cp = match self.below(6) {
                0 => 0x20 + self.below(0x5F),
                1 => self.below(0x20),
                2 => SPECIAL[self.below(24) as usize],
                3 => 0x2000 + self.below(0x80),
                4 => 0xFF00 + self.below(0x100),
                _ => self.below(0x110000),
            };
            char::from_u32(cp).unwrap_or('\u{fffd}')
        }

        fn string(&mut self) -> String {
            let len = self.below(40);
            (0..len).map(|_| self.char()).collect()
        }
    }

    /// Escape like sockjs-client might: every non-ASCII char as `\uXXXX` (UTF-16 units,
    /// random hex case), `"`, `\` and controls escaped.
    fn client_encode(s: &str, rng: &mut Rng) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 || u32::from(c) > 0x7E => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if rng.below(2) == 0 {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn property_encode_decode_round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..5000 {
            let s = rng.string();
            let out = enc(&s);
            assert_eq!(out, reference_encode(&s), "{s:?}");
            assert!(!out.chars().any(is_sockjs_escaped), "{out:?}");
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
            assert_eq!(decode_websocket_payload(&out), Ok(vec![s.clone()]));
            let body = format!("[{out},{out}]");
            assert_eq!(
                decode_messages(body.as_bytes()),
                Ok(vec![s.clone(), s.clone()])
            );

            let msg = EncodedMessage::new(&s);
            let mut frame = Vec::new();
            write_messages_frame([&msg, &msg], &mut frame);
            assert_eq!(frame, format!("a[{out},{out}]").into_bytes());
        }
    }

    #[test]
    fn property_client_escapes_decode() {
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for _ in 0..5000 {
            let s = rng.string();
            let wire = client_encode(&s, &mut rng);
            assert_eq!(
                decode_websocket_payload(&wire),
                Ok(vec![s.clone()]),
                "{wire}"
            );
            assert_eq!(
                decode_messages(format!("[{wire}]").as_bytes()),
                Ok(vec![s.clone()]),
                "{wire}"
            );
        }
    }

    #[test]
    fn property_escaped_fast_path_agrees_with_the_json_parser() {
        let mut rng = Rng(0x5EED_F00D_1234_5678);
        let mut fast_taken = 0;
        for _ in 0..5000 {
            let mut wire = String::from("[");
            for i in 0..1 + rng.below(3) {
                if i > 0 {
                    wire.push(',');
                }
                // Escaped as sockjs-client does (surrogate pairs as escapes: left to the
                // parser) or as this server does.
                let s = rng.string();
                if rng.below(2) == 0 {
                    wire.push_str(&client_encode(&s, &mut rng));
                } else {
                    wire.push_str(&enc(&s));
                }
            }
            wire.push(']');
            // Also the payload with one ASCII byte replaced by a JSON-significant one.
            let mut damaged = wire.clone().into_bytes();
            let at = rng.below(damaged.len() as u32) as usize;
            if damaged[at].is_ascii() {
                damaged[at] = b"\"\\,[]nu0 x"[rng.below(10) as usize];
            }
            let damaged = String::from_utf8(damaged).unwrap();
            for p in [wire, damaged] {
                for limits in [DecodeLimits::UNLIMITED, small_limits()] {
                    if let Some(fast) = parse_plain_array(&p, &limits) {
                        fast_taken += 1;
                        let slow = parse_json(p.as_bytes(), &limits, Shape::Array);
                        assert_eq!(fast, slow, "{p}");
                    }
                }
            }
        }
        assert!(
            fast_taken > 5000,
            "the fast path decided {fast_taken} payloads"
        );
    }

    /// Limits that the random payloads above sometimes exceed.
    fn small_limits() -> DecodeLimits {
        DecodeLimits {
            max_messages: 2,
            max_message_size: 12,
            max_decoded_size: 2 * DECODED_MESSAGE_OVERHEAD + 20,
        }
    }

    #[test]
    fn property_lone_surrogates_become_replacement_chars() {
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..3000 {
            // Build a client payload from pieces, some of them lone surrogate escapes, and
            // the string it must decode to.
            let mut wire = String::from("[\"");
            let mut expected = String::new();
            let mut prev_was_lone_high = false;
            for _ in 0..rng.below(12) {
                match rng.below(4) {
                    0 => {
                        let unit = 0xD800 + rng.below(0x800);
                        // A lone low right after a lone high would form a pair.
                        if prev_was_lone_high && unit >= 0xDC00 {
                            continue;
                        }
                        wire.push_str(&format!("\\u{unit:04x}"));
                        expected.push('\u{fffd}');
                        prev_was_lone_high = unit < 0xDC00;
                    }
                    1 => {
                        wire.push_str("\\\\ud800");
                        expected.push_str("\\ud800");
                        prev_was_lone_high = false;
                    }
                    _ => {
                        let piece: String = (0..rng.below(4)).map(|_| rng.char()).collect();
                        // A piece never starts with a low surrogate escape (an astral
                        // character starts with its high one), so it cannot pair with a
                        // preceding lone high surrogate.
                        let piece_wire = client_encode(&piece, &mut rng);
                        wire.push_str(&piece_wire[1..piece_wire.len() - 1]);
                        expected.push_str(&piece);
                        if !piece.is_empty() {
                            prev_was_lone_high = false;
                        }
                    }
                }
            }
            wire.push_str("\"]");
            assert_eq!(
                decode_messages(wire.as_bytes()),
                Ok(vec![expected.clone()]),
                "{wire}"
            );
            assert_eq!(
                decode_websocket_payload(&wire),
                Ok(vec![expected]),
                "{wire}"
            );
        }
    }

    // ---- bounded decoding ----

    /// The bounded result the unbounded one implies: its messages admitted to `limits` in
    /// order, stopping at the first that exceeds one.
    fn admitted(
        unbounded: Result<Vec<String>, PayloadError>,
        limits: &DecodeLimits,
    ) -> Result<Vec<String>, DecodeError> {
        let messages = unbounded?;
        let mut tally = Tally::new(limits);
        for m in &messages {
            tally.admit(m.len())?;
        }
        Ok(messages)
    }

    #[test]
    fn bounded_decoding_counts_messages() {
        let limits = DecodeLimits::new(3, 100, 10_000);
        for (body, ok) in [
            (r#"["a","b","c"]"#, true),
            (r#"["a","b","c","d"]"#, false),
            (r#"["\u0061","b","c"]"#, true),
            (r#"[ "a", "b", "c", "d" ]"#, false),
            (r#"["\ud800","b","c","d"]"#, false),
        ] {
            let http = decode_messages_bounded(body.as_bytes(), &limits);
            let ws = decode_websocket_payload_bounded(body, &limits);
            if ok {
                assert_eq!(http.as_ref().map(Vec::len), Ok(3), "{body}");
                assert_eq!(http, ws, "{body}");
            } else {
                assert_eq!(http, Err(DecodeError::TooManyMessages), "{body}");
                assert_eq!(ws, Err(DecodeError::TooManyMessages), "{body}");
            }
        }
        // Decoding stops at the limit: what follows is not looked at.
        assert_eq!(
            decode_messages_bounded(br#"["a","b","c","d",1,2,3]"#, &limits),
            Err(DecodeError::TooManyMessages)
        );
        assert_eq!(
            decode_messages_bounded(br#"["a","b","c","d",x"#, &limits),
            Err(DecodeError::TooManyMessages)
        );
        // ... while a malformed payload within the limits is still broken JSON.
        assert_eq!(
            decode_messages_bounded(br#"["a",1]"#, &limits),
            Err(DecodeError::Payload(PayloadError::BrokenJson))
        );
        assert_eq!(
            decode_messages_bounded(b"  ", &limits),
            Err(DecodeError::Payload(PayloadError::Empty))
        );
        // A bare websocket string is one message.
        let one = DecodeLimits::new(1, 100, 10_000);
        assert_eq!(
            decode_websocket_payload_bounded(r#""a""#, &one),
            Ok(vec!["a".into()])
        );
        let none = DecodeLimits::new(0, 100, 10_000);
        assert_eq!(
            decode_websocket_payload_bounded(r#""a""#, &none),
            Err(DecodeError::TooManyMessages)
        );
        assert_eq!(decode_websocket_payload_bounded("[]", &none), Ok(vec![]));
    }

    #[test]
    fn bounded_decoding_measures_decoded_messages() {
        let limits = DecodeLimits::new(100, 3, 10_000);
        // The decoded length counts, not the escaped one.
        assert_eq!(
            decode_messages_bounded(br#"["\u0061\u0062\u0063"]"#, &limits),
            Ok(vec!["abc".to_string()])
        );
        for body in [r#"["abcd"]"#, r#"["a","\u0061bcd"]"#, r#"["éé","ab"]"#] {
            assert_eq!(
                decode_messages_bounded(body.as_bytes(), &limits),
                Err(DecodeError::MessageTooLarge),
                "{body}"
            );
        }
        // é is two bytes of UTF-8: "éé" is four.
        assert_eq!(
            decode_websocket_payload_bounded(r#""\u00e9\u00e9""#, &limits),
            Err(DecodeError::MessageTooLarge)
        );
        // The whole payload: bytes plus the per-message overhead.
        let total = DecodeLimits::new(100, 100, 2 * DECODED_MESSAGE_OVERHEAD + 4);
        assert_eq!(
            decode_messages_bounded(br#"["ab","cd"]"#, &total).map(|m| m.len()),
            Ok(2)
        );
        assert_eq!(
            decode_messages_bounded(br#"["ab","cde"]"#, &total),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(
            decode_messages_bounded(br#"["ab","c","d"]"#, &total),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(
            decode_messages_bounded(br#"["ab", "\u0063\u0064\u0065"]"#, &total),
            Err(DecodeError::TooLarge)
        );
        assert!(DecodeError::TooLarge.is_limit());
        assert!(!DecodeError::Payload(PayloadError::Empty).is_limit());
        assert_eq!(
            DecodeError::Payload(PayloadError::BrokenJson).to_string(),
            "Broken JSON encoding."
        );
    }

    #[test]
    fn limits_from_the_configuration() {
        let config = crate::Config::default();
        let limits = DecodeLimits::from_config(&config);
        assert_eq!(limits.max_messages, config.max_batch_messages);
        assert_eq!(limits.max_message_size, config.max_message_size);
        assert_eq!(
            limits.max_decoded_size,
            config.max_request_body + config.max_batch_messages * DECODED_MESSAGE_OVERHEAD
        );
        // A body of the largest size and count decodes within the limits.
        let per = config.max_request_body / config.max_batch_messages - 3;
        let body = encode_plain(&vec!["x".repeat(per); config.max_batch_messages]);
        assert!(body.len() <= config.max_request_body);
        assert_eq!(
            decode_messages_bounded(body.as_bytes(), &limits).map(|m| m.len()),
            Ok(config.max_batch_messages)
        );
    }

    fn encode_plain(messages: &[String]) -> String {
        let mut out = String::from("[");
        for (i, m) in messages.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            encode_json_string(m, &mut out);
        }
        out.push(']');
        out
    }

    #[test]
    fn property_bounded_decoding_is_the_unbounded_result_admitted_in_order() {
        let mut rng = Rng(0x5EED_0FB0_0DED);
        for _ in 0..5000 {
            let count = rng.below(8) as usize;
            let messages: Vec<String> = (0..count).map(|_| rng.string()).collect();
            // Alternate between the fast path's shape and the client's escapes.
            let body = if rng.below(2) == 0 {
                encode_plain(&messages)
            } else {
                let parts: Vec<String> = messages
                    .iter()
                    .map(|m| client_encode(m, &mut rng))
                    .collect();
                format!("[{}]", parts.join(","))
            };
            let limits = DecodeLimits::new(
                rng.below(9) as usize,
                rng.below(60) as usize,
                rng.below(8 * 80) as usize,
            );
            assert_eq!(
                decode_messages_bounded(body.as_bytes(), &limits),
                admitted(decode_messages(body.as_bytes()), &limits),
                "{body} {limits:?}"
            );
            assert_eq!(
                decode_websocket_payload_bounded(&body, &limits),
                admitted(decode_websocket_payload(&body), &limits),
                "{body} {limits:?}"
            );
            assert_eq!(
                decode_messages_bounded(body.as_bytes(), &DecodeLimits::UNLIMITED),
                Ok(messages)
            );
        }
    }
}

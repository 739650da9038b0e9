//! What the broker publishes, and how a publication travels in a hub channel.

use bytes::{BufMut, Bytes, BytesMut};

use crate::session::OutboundMessage;

/// Room for what the broker writes into a `MESSAGE` frame beside the publisher's headers and
/// body: the command, the `subscription`, `message-id`, `ack` and `content-length` lines, the
/// header names and the final NUL. A subscription id longer than what is left of it can still
/// push a frame over the limit; such a frame is counted in
/// [`BrokerStats::dropped_too_large`](super::BrokerStats::dropped_too_large).
pub(crate) const FRAME_OVERHEAD: usize = 256;

/// A message to publish: body, `content-type` and extra headers. The destination is given
/// separately ([`StompBroker::publish`](super::StompBroker::publish)).
///
/// ```
/// use sockjs_stomp::broker::Message;
/// let m = Message::json(r#"{"content":"Hello, alice!"}"#).header("x-origin", "server");
/// assert_eq!(m.content_type.as_deref(), Some("application/json"));
/// // A plain string becomes a text/plain message, as Spring converts a String payload.
/// let m: Message = "hi".into();
/// assert_eq!(m.content_type.as_deref(), Some("text/plain;charset=UTF-8"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The `content-type` header of the `MESSAGE` frames; `None` leaves it out.
    pub content_type: Option<String>,
    /// Extra headers of the `MESSAGE` frames, in order. The names the broker writes itself
    /// ([`RESERVED_MESSAGE_HEADERS`](crate::encode::RESERVED_MESSAGE_HEADERS)) are skipped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Message {
    /// A message without a `content-type`.
    pub fn new(body: impl Into<String>) -> Message {
        Message {
            content_type: None,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain;charset=UTF-8` message (what Spring sends for a `String` payload).
    pub fn text(body: impl Into<String>) -> Message {
        Message::new(body).content_type("text/plain;charset=UTF-8")
    }

    /// An `application/json` message; `body` is sent as it is (serialize it yourself).
    pub fn json(body: impl Into<String>) -> Message {
        Message::new(body).content_type("application/json")
    }

    /// Sets the `content-type`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Message {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Message {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub(crate) fn into_outbound(self, destination: &str) -> OutboundMessage {
        OutboundMessage {
            destination: destination.to_owned(),
            content_type: self.content_type,
            headers: self.headers,
            body: self.body,
        }
    }
}

impl From<&str> for Message {
    fn from(body: &str) -> Message {
        Message::text(body)
    }
}

impl From<String> for Message {
    fn from(body: String) -> Message {
        Message::text(body)
    }
}

/// First byte of a channel payload: the format's version.
const FORMAT: u8 = 1;

/// The length of [`encode`]'s payload for `message`, without encoding it.
/// The most a `MESSAGE` frame carrying `message` can take, its destination being
/// `destination_len` bytes: every header byte counted twice (escaping doubles a byte at worst),
/// plus [`FRAME_OVERHEAD`] for the frame's own lines.
pub(crate) fn frame_bound(message: &OutboundMessage, destination_len: usize) -> usize {
    let headers: usize = message
        .headers
        .iter()
        .map(|(n, v)| 2 * (n.len() + v.len()) + 2)
        .sum();
    let content_type = message.content_type.as_ref().map_or(0, |c| 2 * c.len());
    FRAME_OVERHEAD + 2 * destination_len + content_type + headers + message.body.len()
}

pub(crate) fn encoded_len(message: &OutboundMessage) -> usize {
    let headers: usize = message
        .headers
        .iter()
        .map(|(n, v)| 8 + n.len() + v.len())
        .sum();
    let ct = message.content_type.as_deref().map_or(0, |ct| 4 + ct.len());
    // Format byte, content-type presence byte, header count.
    6 + ct + headers + message.body.len()
}

/// Encodes a publication for a hub channel: the format byte, the content type (a presence
/// byte and a length-prefixed string), the header count and length-prefixed names and values,
/// then the body to the end. The destination is not carried: the channel names it.
pub(crate) fn encode(message: &OutboundMessage) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(message));
    out.put_u8(FORMAT);
    match message.content_type.as_deref() {
        Some(ct) => {
            out.put_u8(1);
            put_str(&mut out, ct);
        }
        None => out.put_u8(0),
    }
    out.put_u32(u32::try_from(message.headers.len()).unwrap_or(u32::MAX));
    for (name, value) in &message.headers {
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    out.put_slice(message.body.as_bytes());
    out.freeze()
}

fn put_str(out: &mut BytesMut, s: &str) {
    // Strings longer than 4 GiB cannot occur: the hub bounds a payload (2 MiB by default).
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

/// A channel payload that is not one [`encode`] wrote (another version, or corrupted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadPayload;

/// Decodes a channel payload into the message for `destination`.
pub(crate) fn decode(payload: &[u8], destination: &str) -> Result<OutboundMessage, BadPayload> {
    let mut r = Reader(payload);
    if r.u8()? != FORMAT {
        return Err(BadPayload);
    }
    let content_type = match r.u8()? {
        0 => None,
        1 => Some(r.string()?),
        _ => return Err(BadPayload),
    };
    let count = r.u32()? as usize;
    // Each header takes at least 8 bytes: a count beyond that is corrupt (and would make the
    // allocation below as large as the count says).
    if count > r.0.len() / 8 {
        return Err(BadPayload);
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        headers.push((r.string()?, r.string()?));
    }
    let body = std::str::from_utf8(r.0).map_err(|_| BadPayload)?.to_owned();
    Ok(OutboundMessage {
        destination: destination.to_owned(),
        content_type,
        headers,
        body,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], BadPayload> {
        if self.0.len() < n {
            return Err(BadPayload);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, BadPayload> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, BadPayload> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, BadPayload> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| BadPayload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for m in [
            Message::new(""),
            Message::json("{\"a\":\"\0x\"}")
                .header("x-a", "b:c\n")
                .header("", ""),
            Message::text("é ✓ \u{1F600}"),
        ] {
            let m = m.into_outbound("/topic/x");
            let payload = encode(&m);
            assert_eq!(payload.len(), encoded_len(&m));
            let back = decode(&payload, "/topic/x").unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let payload = encode(&Message::json("body").header("k", "v").into_outbound("/d"));
        for n in 0..payload.len() - "body".len() {
            assert_eq!(decode(&payload[..n], "/d"), Err(BadPayload), "cut at {n}");
        }
        let mut bad = payload.to_vec();
        bad[0] = 9;
        assert_eq!(decode(&bad, "/d"), Err(BadPayload));
        // A header count that the payload cannot hold.
        let mut huge = vec![FORMAT, 0];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&huge, "/d"), Err(BadPayload));
        // Invalid UTF-8 in the body.
        let mut body = vec![FORMAT, 0, 0, 0, 0, 0, 0xff];
        assert_eq!(decode(&body, "/d"), Err(BadPayload));
        body.pop();
        assert!(decode(&body, "/d").is_ok());
    }
}

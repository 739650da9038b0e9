//! The obsolete hixie-76 websocket handshake and framing (draft-hixie-thewebsocketprotocol-76),
//! a legacy opt-in ([`Config::hixie76`](sockjs_core::Config::hixie76), off by default).
//!
//! No current browser speaks it; it exists because the protocol suite's `test_haproxy` still
//! performs it, and because of its one HAProxy-era property: the response headers are written
//! *before* the client's 8-byte key is read (a proxy in between forwards the key only after it
//! saw the response). Framing: a text message is `0x00 <UTF-8> 0xFF`; `0xFF 0x00` closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use sockjs_core::Transport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, error::CapacityError, Message, Utf8Bytes};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tracing::Instrument;

use super::websocket::{run, Counted, Mode, Written};
use super::{new_session, Reject};
use crate::body::{empty, ResponseBody};
use crate::endpoint::Endpoint;
use crate::service::response;

/// How long the client has to send its 8-byte key after the response headers.
const KEY_TIMEOUT: Duration = Duration::from_secs(10);

const KEY1: &str = "sec-websocket-key1";
const KEY2: &str = "sec-websocket-key2";

/// Whether `headers` carry a hixie-76 handshake.
pub(crate) fn is_hixie76(headers: &HeaderMap) -> bool {
    headers.contains_key(KEY1) && headers.contains_key(KEY2)
}

/// The number a hixie-76 key encodes: its digits, divided by its number of spaces.
fn key_number(key: &str) -> Option<u32> {
    let digits: String = key.chars().filter(char::is_ascii_digit).collect();
    let spaces = key.chars().filter(|&c| c == ' ').count() as u64;
    let number: u64 = digits.parse().ok()?;
    if spaces == 0 || number % spaces != 0 {
        return None;
    }
    u32::try_from(number / spaces).ok()
}

/// The 16-byte answer to the client's keys.
fn challenge_response(key1: u32, key2: u32, key3: &[u8; 8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(key1.to_be_bytes());
    md5.update(key2.to_be_bytes());
    md5.update(key3);
    md5.finalize().into()
}

pub(crate) fn serve<B>(
    ep: &Arc<Endpoint>,
    mut req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    let h = req.headers();
    let key = |name| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(key_number)
    };
    let (Some(key1), Some(key2)) = (key(KEY1), key(KEY2)) else {
        return Reject::BadRequest("Invalid hixie-76 keys.").into_response();
    };
    let upgrade_ok = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade_ok {
        return Reject::BadRequest("Can \"Upgrade\" only to \"WebSocket\".").into_response();
    }
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let location = format!("ws://{}{}", host, req.uri().path());
    let origin = h.get(header::ORIGIN).cloned();
    // Refused before anything is opened when the endpoint holds max_receivers connections.
    let slot = match ep.receiver_slot() {
        Ok(slot) => slot,
        Err(e) => return Reject::Unavailable(e).into_response(),
    };
    let new = new_session(ep, &req, Some(Transport::WebSocket), peer);
    let (session, connection) = match ep.open(new) {
        Ok(opened) => opened,
        Err(e) => return Reject::Unavailable(e).into_response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let ep = Arc::clone(ep);
    let max = ep.config.max_request_body;
    let span = session.span.clone();
    tokio::spawn(
        async move {
            let _slot = slot;
            let handshake = async {
                let mut io = TokioIo::new(on_upgrade.await.ok()?);
                let mut key3 = [0u8; 8];
                tokio::time::timeout(KEY_TIMEOUT, io.read_exact(&mut key3))
                    .await
                    .ok()?
                    .ok()?;
                io.write_all(&challenge_response(key1, key2, &key3))
                    .await
                    .ok()?;
                Some(io)
            };
            match handshake.await {
                Some(io) => {
                    let codec = Hixie76Codec::new(max);
                    let written = Written::default();
                    run(
                        &ep,
                        Framed::new(Counted::new(io, written.clone()), codec),
                        written,
                        session,
                        connection,
                        Mode::SockJs,
                    )
                    .await;
                }
                None => {
                    drop(connection);
                    ep.retire(&session);
                }
            }
        }
        .instrument(span),
    );
    let mut r = response(StatusCode::SWITCHING_PROTOCOLS, empty());
    let out = r.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        out.insert("sec-websocket-location", v);
    }
    if let Some(origin) = origin {
        out.insert("sec-websocket-origin", origin);
    }
    r
}

/// hixie-76 frames as tungstenite messages, so the websocket session loop serves both.
pub(crate) struct Hixie76Codec {
    /// Largest text frame accepted.
    max: usize,
    /// How far into the buffer the frame being received has been searched for its `0xFF`
    /// end byte: each read searches only the bytes that arrived since, so a large frame
    /// dripped in small pieces costs time linear in its size.
    searched: usize,
    /// Bytes inspected while searching for end bytes, in total (the work the search did).
    #[cfg(test)]
    inspected: u64,
}

impl Hixie76Codec {
    pub(crate) fn new(max: usize) -> Hixie76Codec {
        Hixie76Codec {
            max,
            searched: 1,
            #[cfg(test)]
            inspected: 0,
        }
    }
}

impl Decoder for Hixie76Codec {
    type Item = Message;
    type Error = tungstenite::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, tungstenite::Error> {
        match buf.first() {
            None => Ok(None),
            Some(0x00) => {
                // Bytes before `searched` are known not to be the end byte.
                let from = self.searched.clamp(1, buf.len());
                let found = buf[from..].iter().position(|&b| b == 0xFF);
                #[cfg(test)]
                {
                    self.inspected += found.map_or(buf.len() - from, |i| i + 1) as u64;
                }
                match found.map(|i| from + i) {
                    Some(end) => {
                        self.searched = 1;
                        let frame = buf.split_to(end + 1);
                        let text = std::str::from_utf8(&frame[1..end])
                            .map_err(|_| tungstenite::Error::Utf8(String::from("invalid UTF-8")))?;
                        Ok(Some(Message::Text(Utf8Bytes::from(text))))
                    }
                    None if buf.len() > self.max + 1 => Err(tungstenite::Error::Capacity(
                        CapacityError::MessageTooLong {
                            size: buf.len(),
                            max_size: self.max,
                        },
                    )),
                    None => {
                        self.searched = buf.len();
                        Ok(None)
                    }
                }
            }
            Some(0xFF) if buf.len() < 2 => Ok(None),
            Some(0xFF) if buf[1] == 0x00 => {
                buf.advance(2);
                Ok(Some(Message::Close(None)))
            }
            Some(_) => Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::InvalidOpcode(0),
            )),
        }
    }
}

impl Encoder<Message> for Hixie76Codec {
    type Error = tungstenite::Error;

    fn encode(&mut self, message: Message, buf: &mut BytesMut) -> Result<(), tungstenite::Error> {
        match message {
            Message::Text(text) => {
                buf.reserve(text.len() + 2);
                buf.put_u8(0x00);
                buf.put_slice(text.as_bytes());
                buf.put_u8(0xFF);
            }
            Message::Close(_) => buf.put_slice(&[0xFF, 0x00]),
            // hixie-76 has no binary messages, pings or pongs.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_challenge() {
        // The example of draft-hixie-thewebsocketprotocol-76, section 1.3.
        let k1 = key_number("18x 6]8vM;54 *(5:  {   U1]8  z [  8").unwrap();
        let k2 = key_number("1_ tx7X d  <  nw  334J702) 7]o}` 0").unwrap();
        assert_eq!(k1, 155712099);
        assert_eq!(k2, 173347027);
        assert_eq!(
            &challenge_response(k1, k2, b"Tm[K T2u"),
            b"fQJ,fN/4F4!~K~MH"
        );
        // The keys of the protocol suite's haproxy test, with key3 "aaaaaaaa".
        let k1 = key_number("4 @1  46546xW%0l 1 5").unwrap();
        let k2 = key_number("12998 5 Y3 1  .P00").unwrap();
        assert_eq!(
            &challenge_response(k1, k2, b"aaaaaaaa"),
            b"\xca4\x00\xd8\xa5\x08G\x97,\xd5qZ\xba\xbfC{"
        );
        assert_eq!(key_number("123"), None, "no spaces");
        assert_eq!(key_number("1 2 3"), None, "123 is not divisible by 2");
        assert_eq!(key_number("   "), None, "no digits");
    }

    #[test]
    fn codec_round_trip_and_limits() {
        let mut codec = Hixie76Codec::new(8);
        let mut buf = BytesMut::new();
        codec
            .encode(Message::Text(Utf8Bytes::from_static("a[\"x\"]")), &mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"\x00a[\"x\"]\xff");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Message::Text(Utf8Bytes::from_static("a[\"x\"]")))
        );
        let mut partial = BytesMut::from(&b"\x00abc"[..]);
        assert_eq!(codec.decode(&mut partial).unwrap(), None);
        let mut long = BytesMut::from(&b"\x00abcdefghijk"[..]);
        assert!(
            codec.decode(&mut long).is_err(),
            "over the limit without an end"
        );
        let mut close = BytesMut::from(&b"\xff\x00"[..]);
        assert_eq!(
            codec.decode(&mut close).unwrap(),
            Some(Message::Close(None))
        );
        let mut bad = BytesMut::from(&b"\x80\x01"[..]);
        assert!(codec.decode(&mut bad).is_err());
    }

    #[test]
    fn a_frame_dripped_in_small_pieces_is_searched_once() {
        // 4 MiB in 2 KiB reads: the end byte is looked for only in the bytes that arrived
        // since the last read, so the work is the frame's size, not its size squared / 2 KiB.
        let size = 4 * 1024 * 1024;
        let mut codec = Hixie76Codec::new(size);
        let mut frame = vec![b'a'; size + 2];
        frame[0] = 0x00;
        frame[size + 1] = 0xFF;
        let mut buf = BytesMut::new();
        let mut decoded = None;
        for piece in frame.chunks(2048) {
            buf.extend_from_slice(piece);
            if let Some(m) = codec.decode(&mut buf).unwrap() {
                decoded = Some(m);
            }
        }
        match decoded {
            Some(Message::Text(t)) => assert_eq!(t.len(), size),
            other => panic!("expected the text frame, got {other:?}"),
        }
        assert!(buf.is_empty());
        assert!(
            codec.inspected <= (size + 2) as u64,
            "{} bytes inspected for a frame of {} bytes",
            codec.inspected,
            size + 2
        );
        // The next frame starts a new search.
        buf.extend_from_slice(b"\x00xy\xff");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Message::Text(Utf8Bytes::from_static("xy")))
        );
    }
}

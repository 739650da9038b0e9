//! A websocket client written from raw bytes, so that it can break the rules: any first byte
//! (RSV bits, reserved opcodes), masked or not, any length, sent in one piece or dripped; and
//! the obsolete hixie-76 handshake and framing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

use crate::http::{within, Head, ProbeError, Reader, Request};

/// A valid `Sec-WebSocket-Key` (16 bytes in base64); the server's answer is not checked.
const KEY: &str = "cHJvYmUtcHJvYmUtcHJvYg==";

/// The mask of every masked frame (any value will do; a client must mask).
const MASK: [u8; 4] = [0x6b, 0x1d, 0xe2, 0x47];

/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a close frame.
pub const CLOSE: u8 = 0x8;

/// One websocket frame as bytes: `first` is the FIN, RSV and opcode byte, as given.
pub fn encode(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(first);
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A frame from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The opcode (low four bits of the first byte).
    pub opcode: u8,
    /// The payload (servers do not mask).
    pub payload: Vec<u8>,
}

impl Frame {
    /// The status code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        match (self.opcode, self.payload.as_slice()) {
            (CLOSE, [a, b, ..]) => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// An open websocket.
pub struct Ws {
    /// The reading half, with bytes already read.
    pub reader: Reader<OwnedReadHalf>,
    /// The writing half.
    pub writer: OwnedWriteHalf,
}

/// How to open a websocket.
#[derive(Clone, Debug, Default)]
pub struct Open {
    /// `Origin` to send.
    pub origin: Option<String>,
    /// More request headers.
    pub headers: Vec<(String, String)>,
    /// The client socket's receive buffer (`SO_RCVBUF`), to read slowly with small windows.
    pub recv_buffer: Option<u32>,
}

impl Open {
    /// With `Origin: origin` when there is one.
    pub fn origin(origin: Option<&str>) -> Open {
        Open {
            origin: origin.map(str::to_owned),
            ..Open::default()
        }
    }
}

async fn tcp(addr: SocketAddr, recv_buffer: Option<u32>) -> Result<TcpStream, ProbeError> {
    within(Duration::from_secs(5), "connect", async {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let stream = socket.connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    })
    .await
}

impl Ws {
    /// Perform an RFC 6455 handshake on `path`: the websocket, or the answer that refused it.
    pub async fn handshake(
        addr: SocketAddr,
        path: &str,
        open: &Open,
    ) -> Result<Result<Ws, Head>, ProbeError> {
        let mut req = Request::get(path)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", KEY)
            .header("Sec-WebSocket-Version", "13")
            .origin(open.origin.as_deref());
        for (name, value) in &open.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let stream = tcp(addr, open.recv_buffer).await?;
        let (r, mut writer) = stream.into_split();
        let mut reader = Reader::new(r);
        let head = within(Duration::from_secs(10), "the handshake answer", async {
            writer.write_all(&req.to_bytes(addr)).await?;
            reader.head().await
        })
        .await?;
        if head.status != 101 {
            return Ok(Err(head));
        }
        Ok(Ok(Ws { reader, writer }))
    }

    /// Open a SockJS websocket session under `prefix` (a new random id) and read its `o`.
    pub async fn sockjs(addr: SocketAddr, prefix: &str, open: &Open) -> Result<Ws, ProbeError> {
        let (_, path) = crate::http::session_url(prefix, "websocket");
        let mut ws = Ws::handshake(addr, &path, open)
            .await?
            .map_err(|head| ProbeError::Protocol(format!("handshake answered {}", head.status)))?;
        let first = within(Duration::from_secs(5), "the open frame", ws.next_frame()).await?;
        match first {
            Some(f) if f.opcode == TEXT && f.payload == b"o" => Ok(ws),
            other => Err(ProbeError::Protocol(format!("expected o, got {other:?}"))),
        }
    }

    /// Write `bytes` as they are.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Send a masked text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ProbeError> {
        self.write(&encode(0x80 | TEXT, text.as_bytes(), true))
            .await
    }

    /// The next frame; `None` when the connection ended first (cleanly or with a reset).
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, ProbeError> {
        read_frame(&mut self.reader).await
    }

    /// Read frames until a close frame: its code (`Some(None)` for a close frame without
    /// one), or `None` when the connection ended without a close frame. Other frames are
    /// skipped.
    pub async fn until_close(&mut self) -> Result<Option<Option<u16>>, ProbeError> {
        while let Some(frame) = self.next_frame().await? {
            if frame.opcode == CLOSE {
                return Ok(Some(frame.close_code()));
            }
        }
        Ok(None)
    }
}

/// One frame from `reader`; `None` at the end of the stream (or a reset) before its first
/// byte.
pub async fn read_frame<R>(reader: &mut Reader<R>) -> Result<Option<Frame>, ProbeError>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let head = match reader.take(2, "a frame").await {
        Ok(head) => head,
        Err(ProbeError::Closed(_)) | Err(ProbeError::Io(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = match head[1] & 0x7f {
        126 => {
            let b = reader.take(2, "a frame length").await?;
            u64::from(u16::from_be_bytes([b[0], b[1]]))
        }
        127 => {
            let b = reader.take(8, "a frame length").await?;
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&b);
            u64::from_be_bytes(eight)
        }
        n => u64::from(n),
    };
    if head[1] & 0x80 != 0 {
        return Err(ProbeError::Protocol("masked server frame".into()));
    }
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= crate::http::MAX_RESPONSE)
        .ok_or_else(|| ProbeError::Protocol(format!("frame of {len} bytes")))?;
    let payload = reader.take(len, "a frame payload").await?;
    Ok(Some(Frame {
        opcode: head[0] & 0x0f,
        payload,
    }))
}

/// A hixie-76 websocket (draft 76 framing: `0x00 <UTF-8> 0xFF`).
pub struct Hixie76 {
    /// The reading half.
    pub reader: Reader<OwnedReadHalf>,
    /// The writing half.
    pub writer: OwnedWriteHalf,
}

impl Hixie76 {
    /// Perform the hixie-76 handshake on `path` and read the SockJS `o` frame.
    pub async fn open(
        addr: SocketAddr,
        path: &str,
        origin: Option<&str>,
    ) -> Result<Hixie76, ProbeError> {
        // Each key is its digits divided by its spaces: 1234 / 1 and 246 / 2.
        let req = Request::get(path)
            .header("Upgrade", "WebSocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key1", "12 34")
            .header("Sec-WebSocket-Key2", "2 4 6")
            .header("Origin", origin.unwrap_or("http://localhost"));
        let (r, mut writer) = tcp(addr, None).await?.into_split();
        let mut reader = Reader::new(r);
        within(Duration::from_secs(10), "the hixie-76 handshake", async {
            writer.write_all(&req.to_bytes(addr)).await?;
            let head = reader.head().await?;
            if head.status != 101 {
                return Err(ProbeError::Protocol(format!(
                    "hixie-76 handshake answered {}",
                    head.status
                )));
            }
            writer.write_all(b"probe-76").await?;
            reader.take(16, "the challenge response").await?;
            let open = reader.take(3, "the open frame").await?;
            if open != b"\x00o\xff" {
                return Err(ProbeError::Protocol(format!("expected o, got {open:?}")));
            }
            Ok(Hixie76 { reader, writer })
        })
        .await
    }

    /// The next text frame's payload; `None` at the end of the stream or on a close frame.
    pub async fn next_text(&mut self) -> Result<Option<Vec<u8>>, ProbeError> {
        let first = match self.reader.take(1, "a frame").await {
            Ok(b) => b[0],
            Err(ProbeError::Closed(_)) | Err(ProbeError::Io(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if first != 0x00 {
            return Ok(None);
        }
        let mut text = self
            .reader
            .take_through(&[0xff], "the end of a frame")
            .await?;
        text.pop();
        Ok(Some(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_length_form() {
        assert_eq!(encode(0x81, b"ab", false), vec![0x81, 2, b'a', b'b']);
        let masked = encode(0x81, b"ab", true);
        assert_eq!(masked[..6], [0x81, 0x82, 0x6b, 0x1d, 0xe2, 0x47]);
        assert_eq!(masked[6..], [b'a' ^ 0x6b, b'b' ^ 0x1d]);
        let mid = encode(0x82, &[0; 300], false);
        assert_eq!(mid[..4], [0x82, 126, 1, 44]);
        let big = encode(0x82, &[0; 70_000], false);
        assert_eq!(big[1], 127);
        assert_eq!(big[2..10], 70_000u64.to_be_bytes());
    }

    #[tokio::test]
    async fn reads_frames_and_close_codes() {
        let bytes = [
            encode(0x81, b"o", false),
            encode(0x88, &[0x03, 0xEF, b'x'], false),
        ]
        .concat();
        let mut reader = Reader::new(bytes.as_slice());
        let open = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!((open.opcode, open.text().as_str()), (TEXT, "o"));
        let close = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(close.close_code(), Some(1007));
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }
}

//! A minimal HTTP/1.1 client over one keep-alive `TcpStream`: requests with a body, responses
//! with `Content-Length`, chunked or read-until-close bodies, readable as a whole or piece by
//! piece (for streaming responses).

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How many headers a response may carry.
const MAX_HEADERS: usize = 32;
/// A response head larger than this is an error.
const MAX_HEAD: usize = 64 * 1024;

/// Room made in the read buffer for each read by [`HttpConn::connect`]: enough for a burst
/// of echoes on the throughput workloads.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// One client connection; reopened by [`HttpConn::send`] after the server closed it.
pub(crate) struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: BytesMut,
    request: Vec<u8>,
    /// How much room a read makes in `buf` when less than a quarter of it is left.
    read_chunk: usize,
}

/// A response's status line and how its body is delimited.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) keep_alive: bool,
    body: Framing,
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one response body piece by piece.
#[derive(Debug)]
pub(crate) struct BodyReader {
    state: BodyState,
    keep_alive: bool,
}

#[derive(Debug)]
enum BodyState {
    Length(usize),
    Chunk { remaining: usize, crlf: bool },
    UntilClose,
    Done,
}

impl HttpConn {
    /// Connect to `addr`, reading [`READ_CHUNK`] bytes at a time.
    pub(crate) async fn connect(addr: SocketAddr) -> Result<HttpConn, String> {
        Self::connect_with_read_chunk(addr, READ_CHUNK).await
    }

    /// Connect to `addr`, reading up to `read_chunk` bytes at a time (at least 1 KiB): small
    /// for the many connections of the idle workloads. No buffer is allocated before the
    /// first read.
    pub(crate) async fn connect_with_read_chunk(
        addr: SocketAddr,
        read_chunk: usize,
    ) -> Result<HttpConn, String> {
        let mut c = HttpConn {
            addr,
            stream: None,
            buf: BytesMut::new(),
            request: Vec::new(),
            read_chunk: read_chunk.max(1024),
        };
        c.open().await?;
        Ok(c)
    }

    /// Free the read and request buffers if they hold nothing (they are allocated again by
    /// the next read or request): an idle connection then costs little more than its socket.
    pub(crate) fn release_buffers(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        self.request = Vec::new();
    }

    async fn open(&mut self) -> Result<(), String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        self.stream = Some(stream);
        self.buf.clear();
        Ok(())
    }

    /// Send a request (reconnecting first if the previous response closed the connection).
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), String> {
        if self.stream.is_none() {
            self.open().await?;
        }
        self.request.clear();
        self.request.extend_from_slice(method.as_bytes());
        self.request.push(b' ');
        self.request.extend_from_slice(path.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.request
            .extend_from_slice(self.addr.to_string().as_bytes());
        self.request
            .extend_from_slice(b"\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ");
        self.request
            .extend_from_slice(body.len().to_string().as_bytes());
        self.request.extend_from_slice(b"\r\n\r\n");
        self.request.extend_from_slice(body);
        let stream = self.stream.as_mut().ok_or("not connected")?;
        stream
            .write_all(&self.request)
            .await
            .map_err(|e| format!("write {method} {path}: {e}"))
    }

    /// Read more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> Result<usize, String> {
        let stream = self.stream.as_mut().ok_or("not connected")?;
        if self.buf.capacity() - self.buf.len() < self.read_chunk / 4 {
            self.buf.reserve(self.read_chunk);
        }
        stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))
    }

    /// Read a response head.
    pub(crate) async fn head(&mut self) -> Result<Head, String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = response.code.unwrap_or(0);
                    let http11 = response.version == Some(1);
                    let mut keep_alive = http11;
                    let mut framing = Framing::UntilClose;
                    for h in response.headers.iter() {
                        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let n = value
                                .parse()
                                .map_err(|_| format!("bad Content-Length {value:?}"))?;
                            framing = Framing::Length(n);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                            && value.to_ascii_lowercase().contains("chunked")
                        {
                            framing = Framing::Chunked;
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            let v = value.to_ascii_lowercase();
                            if v.contains("close") {
                                keep_alive = false;
                            } else if v.contains("keep-alive") {
                                keep_alive = true;
                            }
                        }
                    }
                    if matches!(status, 204 | 304) || (100..200).contains(&status) {
                        framing = Framing::Length(0);
                    }
                    if matches!(framing, Framing::UntilClose) {
                        keep_alive = false;
                    }
                    self.buf.advance(len);
                    return Ok(Head {
                        status,
                        keep_alive,
                        body: framing,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err("response head too large".into());
                    }
                    if self.fill().await? == 0 {
                        self.stream = None;
                        return Err("connection closed before a response".into());
                    }
                }
                Err(e) => return Err(format!("bad response head: {e}")),
            }
        }
    }

    /// A reader for the body of `head`.
    pub(crate) fn body_reader(head: &Head) -> BodyReader {
        let state = match head.body {
            Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunk {
                remaining: 0,
                crlf: false,
            },
            Framing::UntilClose => BodyState::UntilClose,
        };
        BodyReader {
            state,
            keep_alive: head.keep_alive,
        }
    }

    /// Read a whole body.
    pub(crate) async fn body(&mut self, head: &Head) -> Result<Bytes, String> {
        let mut reader = Self::body_reader(head);
        let mut all = BytesMut::new();
        while let Some(piece) = self.read_some(&mut reader).await? {
            all.extend_from_slice(&piece);
        }
        Ok(all.freeze())
    }

    /// The next piece of a body, as soon as some of it has arrived; `None` at its end. After
    /// the end a connection that is not kept alive is closed (reopened by the next send).
    pub(crate) async fn read_some(&mut self, r: &mut BodyReader) -> Result<Option<Bytes>, String> {
        loop {
            match &mut r.state {
                BodyState::Done => {
                    if !r.keep_alive {
                        self.stream = None;
                    }
                    return Ok(None);
                }
                BodyState::Length(remaining) => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.stream = None;
                        return Err("connection closed inside a body".into());
                    }
                    let n = (*remaining).min(self.buf.len());
                    *remaining -= n;
                    if *remaining == 0 {
                        r.state = BodyState::Done;
                    }
                    return Ok(Some(self.buf.split_to(n).freeze()));
                }
                BodyState::UntilClose => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        r.state = BodyState::Done;
                        r.keep_alive = false;
                        continue;
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                BodyState::Chunk { remaining, crlf } => {
                    if *crlf {
                        while self.buf.len() < 2 {
                            self.need_more().await?;
                        }
                        if &self.buf[..2] != b"\r\n" {
                            return Err("bad chunk terminator".into());
                        }
                        self.buf.advance(2);
                        *crlf = false;
                    }
                    if *remaining == 0 {
                        let line = self.line().await?;
                        let size_hex = line.split(';').next().unwrap_or("").trim();
                        let size = usize::from_str_radix(size_hex, 16)
                            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
                        if size == 0 {
                            // Trailers, then an empty line.
                            while !self.line().await?.is_empty() {}
                            r.state = BodyState::Done;
                            continue;
                        }
                        *remaining = size;
                    }
                    if self.buf.is_empty() {
                        self.need_more().await?;
                    }
                    let n = (*remaining).min(self.buf.len());
                    *remaining -= n;
                    if *remaining == 0 {
                        *crlf = true;
                    }
                    return Ok(Some(self.buf.split_to(n).freeze()));
                }
            }
        }
    }

    async fn need_more(&mut self) -> Result<(), String> {
        if self.fill().await? == 0 {
            self.stream = None;
            return Err("connection closed inside a chunked body".into());
        }
        Ok(())
    }

    /// One CRLF-terminated line (without the CRLF).
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.advance(i + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_HEAD {
                return Err("chunk header too long".into());
            }
            self.need_more().await?;
        }
    }
}

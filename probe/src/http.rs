//! Just enough HTTP/1.1 over a raw TCP stream to misbehave on purpose: heads with any headers,
//! bodies written separately from the head (so they can be trickled, cut short or abandoned),
//! and answers read as far as they arrive.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The most bytes of a response head or body the client keeps: what a server sends beyond it
/// is an error, not memory growth in the prober.
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// What went wrong talking to the server.
#[derive(Debug)]
pub enum ProbeError {
    /// The socket failed (refused, reset, broken pipe, ...).
    Io(std::io::Error),
    /// Nothing (or not enough) arrived in time; the text says what was awaited.
    Timeout(&'static str),
    /// The server closed the connection before the awaited thing arrived.
    Closed(&'static str),
    /// The server sent something this client cannot read as what it expected.
    Protocol(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Io(e) => write!(f, "{}", io_kind(e)),
            ProbeError::Timeout(what) => write!(f, "timeout waiting for {what}"),
            ProbeError::Closed(what) => write!(f, "closed before {what}"),
            ProbeError::Protocol(what) => write!(f, "protocol: {what}"),
        }
    }
}

impl std::error::Error for ProbeError {}

impl From<std::io::Error> for ProbeError {
    fn from(e: std::io::Error) -> Self {
        ProbeError::Io(e)
    }
}

/// A short name for an I/O error, for outcome tables.
fn io_kind(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "reset".into(),
        BrokenPipe => "broken pipe".into(),
        ConnectionRefused => "refused".into(),
        ConnectionAborted => "aborted".into(),
        _ => e.to_string(),
    }
}

/// Run `fut` for at most `limit`, as a [`ProbeError::Timeout`] about `what` beyond.
pub async fn within<T>(
    limit: Duration,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, ProbeError>>,
) -> Result<T, ProbeError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ProbeError::Timeout(what))?
}

/// Open a TCP connection to `addr` within 5 s.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream, ProbeError> {
    within(Duration::from_secs(5), "connect", async {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    })
    .await
}

/// A request head (and, optionally, its whole body) as bytes.
#[derive(Clone, Debug)]
pub struct Request {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// `method target`, with `Host` filled in when it is written.
    pub fn new(method: &'static str, target: impl Into<String>) -> Request {
        Request {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET target`.
    pub fn get(target: impl Into<String>) -> Request {
        Request::new("GET", target)
    }

    /// `POST target`.
    pub fn post(target: impl Into<String>) -> Request {
        Request::new("POST", target)
    }

    /// Add a header (in order; the same name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Add `Origin: origin` when there is one.
    pub fn origin(self, origin: Option<&str>) -> Request {
        match origin {
            Some(o) => self.header("Origin", o),
            None => self,
        }
    }

    /// A body written right after the head, with its `Content-Length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// The bytes of the head (and body, if set) for a server at `addr`.
    pub fn to_bytes(&self, addr: SocketAddr) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        if let Some(body) = &self.body {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }
}

/// A response head.
#[derive(Clone, Debug)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The header lines, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// The reading half of a connection, with what has been read and not yet consumed.
pub struct Reader<R> {
    io: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Read from `io`.
    pub fn new(io: R) -> Reader<R> {
        Reader {
            io,
            buf: Vec::new(),
        }
    }

    /// Read from `io`, after `bytes` (read from it earlier).
    pub fn with_bytes(io: R, bytes: Vec<u8>) -> Reader<R> {
        Reader { io, buf: bytes }
    }

    /// The stream, and the bytes read from it and not consumed yet.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        (self.io, self.buf)
    }

    /// Bytes read and not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Read once more; `false` at the end of the stream.
    pub async fn fill(&mut self) -> Result<bool, ProbeError> {
        self.buf.reserve(16 * 1024);
        let n = self.io.read_buf(&mut self.buf).await?;
        if self.buf.len() > MAX_RESPONSE {
            return Err(ProbeError::Protocol("more than 16 MiB unread".into()));
        }
        Ok(n > 0)
    }

    /// Read at most `max` bytes (what one read returns), consuming them; empty at the end.
    pub async fn read_some(&mut self, max: usize) -> Result<Vec<u8>, ProbeError> {
        if self.buf.is_empty() {
            let mut chunk = vec![0u8; max.max(1)];
            let n = self.io.read(&mut chunk).await?;
            chunk.truncate(n);
            return Ok(chunk);
        }
        let n = max.min(self.buf.len());
        Ok(self.buf.drain(..n).collect())
    }

    /// Exactly `n` bytes.
    pub async fn take(&mut self, n: usize, what: &'static str) -> Result<Vec<u8>, ProbeError> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(ProbeError::Closed(what));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Up to and including the first `delim` sequence.
    pub async fn take_through(
        &mut self,
        delim: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, ProbeError> {
        let mut searched: usize = 0;
        loop {
            let from = searched.saturating_sub(delim.len());
            if let Some(i) = self.buf[from..]
                .windows(delim.len())
                .position(|w| w == delim)
            {
                return Ok(self.buf.drain(..from + i + delim.len()).collect());
            }
            searched = self.buf.len();
            if !self.fill().await? {
                return Err(ProbeError::Closed(what));
            }
        }
    }

    /// A response head (the status line and headers).
    pub async fn head(&mut self) -> Result<Head, ProbeError> {
        let raw = self.take_through(b"\r\n\r\n", "a response head").await?;
        let text = String::from_utf8_lossy(&raw);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ProbeError::Protocol(format!("status line {status_line:?}")))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(Head { status, headers })
    }

    /// The body that follows `head`: by `Content-Length`, chunked, or up to the end of the
    /// stream.
    pub async fn body(&mut self, head: &Head) -> Result<Vec<u8>, ProbeError> {
        if head.status == 101 || head.status == 204 || head.status == 304 {
            return Ok(Vec::new());
        }
        if head.has_token("Transfer-Encoding", "chunked") {
            let mut body = Vec::new();
            loop {
                let line = self.take_through(b"\r\n", "a chunk size").await?;
                let size = std::str::from_utf8(&line)
                    .ok()
                    .and_then(|l| l.trim().split(';').next())
                    .and_then(|hex| usize::from_str_radix(hex.trim(), 16).ok())
                    .ok_or_else(|| ProbeError::Protocol("chunk size".into()))?;
                if size == 0 {
                    self.take_through(b"\r\n", "the last chunk").await?;
                    return Ok(body);
                }
                if body.len() + size > MAX_RESPONSE {
                    return Err(ProbeError::Protocol("body over 16 MiB".into()));
                }
                body.extend(self.take(size + 2, "a chunk").await?.drain(..size));
            }
        }
        if let Some(len) = head.header("Content-Length") {
            let len: usize = len
                .parse()
                .map_err(|_| ProbeError::Protocol(format!("Content-Length {len:?}")))?;
            if len > MAX_RESPONSE {
                return Err(ProbeError::Protocol("body over 16 MiB".into()));
            }
            return self.take(len, "the body").await;
        }
        while self.fill().await? {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Wait for the end of the stream, discarding what arrives; `Ok` when the server closed
    /// the connection (cleanly or with a reset).
    pub async fn until_closed(&mut self) -> Result<(), ProbeError> {
        loop {
            self.buf.clear();
            match self.fill().await {
                Ok(true) => continue,
                Ok(false) | Err(ProbeError::Io(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// A connection split in halves, so that a body can be written while the answer is read.
pub struct Conn {
    /// The reading half.
    pub reader: Reader<OwnedReadHalf>,
    /// The writing half.
    pub writer: OwnedWriteHalf,
}

impl Conn {
    /// Connect to `addr`.
    pub async fn open(addr: SocketAddr) -> Result<Conn, ProbeError> {
        Ok(Conn::from_stream(connect(addr).await?))
    }

    /// Use `stream`.
    pub fn from_stream(stream: TcpStream) -> Conn {
        let (r, w) = stream.into_split();
        Conn {
            reader: Reader::new(r),
            writer: w,
        }
    }

    /// Write `bytes` in full.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Send `req` to `addr` (whose address goes in `Host`) and read the answer's head and
    /// body, all within `limit`.
    pub async fn exchange(
        &mut self,
        addr: SocketAddr,
        req: &Request,
        limit: Duration,
    ) -> Result<(Head, Vec<u8>), ProbeError> {
        within(limit, "an answer", async {
            self.write(&req.to_bytes(addr)).await?;
            let head = self.reader.head().await?;
            let body = self.reader.body(&head).await?;
            Ok((head, body))
        })
        .await
    }
}

/// Send `req` on a new connection and read the whole answer, within `limit`.
pub async fn fetch(
    addr: SocketAddr,
    req: &Request,
    limit: Duration,
) -> Result<(Head, Vec<u8>), ProbeError> {
    within(limit, "an answer", async {
        let mut conn = Conn::open(addr).await?;
        conn.exchange(addr, req, limit).await
    })
    .await
}

/// Send `req` on a new connection and read only the answer's head (streaming answers never
/// end), within `limit`; the connection is dropped after.
pub async fn fetch_head(
    addr: SocketAddr,
    req: &Request,
    limit: Duration,
) -> Result<Head, ProbeError> {
    within(limit, "a response head", async {
        let mut conn = Conn::open(addr).await?;
        conn.write(&req.to_bytes(addr)).await?;
        conn.reader.head().await
    })
    .await
}

/// A fresh random session id (URL-safe, 16 characters).
pub fn session_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// `{prefix}/000/{id}/{transport}` for a new random session id.
pub fn session_url(prefix: &str, transport: &str) -> (String, String) {
    let id = session_id();
    (
        format!("{prefix}/000/{id}"),
        format!("{prefix}/000/{id}/{transport}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &[u8]) -> Result<(Head, Vec<u8>), ProbeError> {
        let mut reader = Reader::new(raw);
        let head = reader.head().await?;
        let body = reader.body(&head).await?;
        Ok((head, body))
    }

    #[tokio::test]
    async fn reads_chunked_sized_and_closed_bodies() {
        let (head, body) = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\no\n\r\n3\r\nabc\r\n0\r\n\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.status, body.as_slice()), (200, &b"o\nabc"[..]));
        let (head, body) =
            parse(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.status, body.as_slice()), (413, &b"big!"[..]));
        let (head, body) = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.status, body.as_slice()), (200, &b"until the end"[..]));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").await,
            Err(ProbeError::Closed(_))
        ));
    }

    #[test]
    fn writes_the_head_then_the_body() {
        let addr: SocketAddr = ([127, 0, 0, 1], 9).into();
        let req = Request::post("/echo/000/a/xhr_send")
            .origin(Some("http://app.example"))
            .body("[\"x\"]");
        assert_eq!(
            String::from_utf8_lossy(&req.to_bytes(addr)),
            "POST /echo/000/a/xhr_send HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\
             Origin: http://app.example\r\nContent-Length: 5\r\n\r\n[\"x\"]"
        );
    }
}

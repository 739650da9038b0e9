//! Shared helpers of the black-box conformance tests.
//!
//! * Where the server is: `SOCKJS_URL` (e.g. `http://127.0.0.1:8081`) when set, otherwise the
//!   in-process conformance server, started once per test binary.
//! * A raw HTTP/1.x client over `TcpStream` that shows the exact wire: status line, repeated
//!   headers, chunk boundaries, close-delimited bodies, and aborting mid-response.
//! * WebSocket helpers over tokio-tungstenite.
//! * The header checks that many areas of the protocol share.
//!
//! Every read is bounded by [`TIMEOUT`] so a hung server fails a test instead of hanging it.
//! The bound is an upper limit only: no test asserts that anything happens quickly.
#![allow(dead_code)]

pub mod h2;
pub mod stomp;

use std::fmt::Write as _;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Upper bound for every single read, write or connect.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response head the client accepts.
const MAX_HEAD: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Where the server is
// ---------------------------------------------------------------------------------------------

struct Target {
    /// `http://host:port[/prefix]`, no trailing slash.
    base: String,
    /// `host:port`.
    host: String,
    /// Path prefix of the base URL, empty or starting with `/`, no trailing slash.
    prefix: String,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let base = match std::env::var("SOCKJS_URL") {
            Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
            _ => {
                let addr = sockjs_protocol_tests::spawn_background(
                    sockjs_protocol_tests::ServerOptions::default(),
                );
                format!("http://{addr}")
            }
        };
        let rest = base
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("SOCKJS_URL must be an http:// URL, got {base:?}"));
        let (host, prefix) = match rest.find('/') {
            Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
            None => (rest.to_string(), String::new()),
        };
        Target { base, host, prefix }
    })
}

/// The server's top URL, e.g. `http://127.0.0.1:8081`.
pub fn base() -> String {
    target().base.clone()
}

/// `host:port` of the server.
pub fn host() -> &'static str {
    &target().host
}

/// The request path for `path` (which starts with `/`, e.g. `/echo/info`).
pub fn full_path(path: &str) -> String {
    format!("{}{}", target().prefix, path)
}

/// The `ws://` URL for `path`.
pub fn ws_url(path: &str) -> String {
    format!("ws://{}{}", host(), full_path(path))
}

/// A fresh random session id, so tests run in parallel and can be rerun at once.
pub fn session_id() -> String {
    let a: u64 = rand::random();
    let b: u64 = rand::random();
    format!("{a:016x}{b:016x}")
}

/// A fresh session URL under `endpoint` (e.g. `/echo`): `/echo/000/<random>`.
pub fn session(endpoint: &str) -> String {
    format!("{endpoint}/000/{}", session_id())
}

// ---------------------------------------------------------------------------------------------
// Headers, heads, responses
// ---------------------------------------------------------------------------------------------

/// Response headers in wire order; names compare case-insensitively.
#[derive(Clone, Debug, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name`, which must appear at most once.
    pub fn single(&self, name: &str) -> Option<&str> {
        let all = self.get_all(name);
        assert!(
            all.len() <= 1,
            "header {name} must appear at most once, got {all:?} in {self:?}"
        );
        all.first().copied()
    }

    /// Whether `name` is present with a non-empty value (the suite's "truthy" header).
    pub fn has_value(&self, name: &str) -> bool {
        self.get_all(name).iter().any(|v| !v.trim().is_empty())
    }
}

/// The status line and headers of a response.
#[derive(Clone, Debug)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Headers in wire order.
    pub headers: Headers,
}

impl Head {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

/// A complete response.
#[derive(Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Headers in wire order.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &format!("HTTP/1.{}", self.minor_version))
            .field("headers", &self.headers.0)
            .field("body", &preview(&self.body))
            .finish()
    }
}

impl Response {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
}

/// A request to write on the wire byte for byte.
#[derive(Clone, Debug)]
pub struct Request {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    content_length: bool,
    /// `host:port` to connect to instead of the server under test (see [`Request::to_host`]).
    server: Option<String>,
}

impl Request {
    /// A request for `path` (relative to the server's top URL, starting with `/`).
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            target: full_path(path),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            server: None,
        }
    }

    /// A request for exactly `target` (no path prefix added) on the server at `server`
    /// (`host:port`), e.g. a second in-process server with other options. The `Host` header
    /// names that server too.
    pub fn to_host(server: &str, method: &str, target: &str) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            server: Some(server.to_string()),
        }
    }

    /// The `host:port` this request goes to.
    fn server_host(&self) -> &str {
        match &self.server {
            Some(s) => s,
            None => host(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Request {
        Request::new("POST", path)
    }

    /// `OPTIONS path`.
    pub fn options(path: &str) -> Request {
        Request::new("OPTIONS", path)
    }

    /// Add a header (sent in the order added; repeats allowed).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Add several headers.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Request {
        for (n, v) in headers {
            self.headers.push((n.to_string(), v.to_string()));
        }
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Send as HTTP/1.0 instead of HTTP/1.1.
    pub fn http10(mut self) -> Request {
        self.version = Version::Http10;
        self
    }

    /// Do not add a `Content-Length` header, even for a POST.
    pub fn without_content_length(mut self) -> Request {
        self.content_length = false;
        self
    }

    /// The request as bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let version = match self.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        let mut head = format!("{} {} {}\r\n", self.method, self.target, version);
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has("host") {
            let _ = write!(head, "Host: {}\r\n", self.server_host());
        }
        for (n, v) in &self.headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        let wants_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if self.content_length
            && wants_length
            && !has("content-length")
            && !has("transfer-encoding")
        {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Send on a new connection and read the whole response.
    pub async fn send(self) -> Response {
        let mut conn = HttpConn::connect_to(self.server_host()).await;
        conn.request(&self).await
    }

    /// Send on a new connection and read only the response head; the body is then read from
    /// the returned connection incrementally.
    pub async fn open(self) -> (Head, HttpConn) {
        let mut conn = HttpConn::connect_to(self.server_host()).await;
        let head = conn.send(&self).await;
        (head, conn)
    }

    /// Write the request on a new connection without reading anything back.
    pub async fn start(self) -> HttpConn {
        let mut conn = HttpConn::connect_to(self.server_host()).await;
        conn.write_raw(&self.to_bytes())
            .await
            .unwrap_or_else(|e| panic!("writing {} {}: {e}", self.method, self.target));
        conn.method = self.method.clone();
        conn
    }
}

/// `GET path` on a new connection.
pub async fn get(path: &str) -> Response {
    Request::get(path).send().await
}

/// `GET path` with extra headers.
pub async fn get_with(path: &str, headers: &[(&str, &str)]) -> Response {
    Request::get(path).headers(headers).send().await
}

/// `POST path` with `body` (a `Content-Length` is always sent).
pub async fn post(path: &str, body: &str) -> Response {
    Request::post(path).body(body).send().await
}

/// `POST path` with extra headers.
pub async fn post_with(path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    Request::post(path).headers(headers).body(body).send().await
}

/// `OPTIONS path` with extra headers.
pub async fn options(path: &str, headers: &[(&str, &str)]) -> Response {
    Request::options(path).headers(headers).send().await
}

// ---------------------------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------------------------

/// How the body of the current response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// No response head read yet, or a body-less response.
    NoBody,
    /// `Content-Length`: this many bytes are left.
    Length(usize),
    /// `Transfer-Encoding: chunked`, not yet at the terminating chunk.
    Chunked,
    /// No length: the body ends when the server closes the connection.
    UntilClose,
    /// The body was read to its end.
    Done,
}

/// One TCP connection speaking raw HTTP/1.x.
pub struct HttpConn {
    stream: TcpStream,
    /// Bytes read from the socket and not consumed yet.
    buf: Vec<u8>,
    framing: Framing,
    /// The peer closed (or reset) the connection.
    eof: bool,
    /// Method of the last request (a HEAD response has no body).
    method: String,
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Read more bytes into `buf`; returns 0 at EOF (a reset counts as EOF).
async fn fill_from<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>, what: &str) -> usize {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout(TIMEOUT, reader.read(&mut chunk)).await {
        Err(_) => panic!(
            "timed out after {TIMEOUT:?} waiting for {what}; {} unread bytes so far: {:?}",
            buf.len(),
            preview(buf)
        ),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            n
        }
        Ok(Err(e)) if is_reset(&e) => 0,
        Ok(Err(e)) => panic!("reading {what}: {e}"),
    }
}

/// Parse a response head from the front of `buf`, reading more as needed.
async fn read_head_from<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Head, String> {
    loop {
        if !buf.is_empty() {
            let mut headers = vec![httparse::EMPTY_HEADER; 512];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head {
                        status: resp.code.unwrap_or(0),
                        minor_version: resp.version.unwrap_or(0),
                        headers: Headers(
                            resp.headers
                                .iter()
                                .map(|h| {
                                    (
                                        h.name.to_string(),
                                        String::from_utf8_lossy(h.value).into_owned(),
                                    )
                                })
                                .collect(),
                        ),
                    };
                    buf.drain(..len);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(format!("malformed response head ({e}): {:?}", preview(buf))),
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("response head larger than {MAX_HEAD} bytes"));
        }
        if fill_from(reader, buf, "the response head").await == 0 {
            return Err(format!(
                "connection closed before a complete response head; got {:?}",
                preview(buf)
            ));
        }
    }
}

fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(300)];
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > shown.len() {
        let _ = write!(s, "... ({} bytes)", bytes.len());
    }
    s
}

impl HttpConn {
    /// Open a TCP connection to the server.
    pub async fn connect() -> HttpConn {
        HttpConn::connect_to(host()).await
    }

    /// Open a TCP connection to `server` (`host:port`).
    pub async fn connect_to(server: &str) -> HttpConn {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(server))
            .await
            .unwrap_or_else(|_| panic!("timed out connecting to {server}"))
            .unwrap_or_else(|e| panic!("connecting to {server}: {e}"));
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        HttpConn {
            stream,
            buf: Vec::new(),
            framing: Framing::NoBody,
            eof: false,
            method: String::new(),
        }
    }

    /// Write raw bytes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match tokio::time::timeout(TIMEOUT, self.stream.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Write `req` and read the response head. The request is written while the response is
    /// already being read, so a server that answers early (e.g. 413 to a huge body) and stops
    /// reading is seen answering instead of dead-locking the test.
    pub async fn send(&mut self, req: &Request) -> Head {
        let bytes = req.to_bytes();
        self.method = req.method.clone();
        let what = format!("{} {}", req.method, req.target);
        let head = {
            let (mut rd, mut wr) = self.stream.split();
            let buf = &mut self.buf;
            let write = async move { wr.write_all(&bytes).await };
            let read = read_head_from(&mut rd, buf);
            tokio::pin!(write);
            tokio::pin!(read);
            let mut writing = true;
            let mut write_error = None;
            let head = loop {
                tokio::select! {
                    r = &mut write, if writing => {
                        writing = false;
                        if let Err(e) = r {
                            write_error = Some(e);
                        }
                    }
                    h = &mut read => break h,
                }
            };
            head.unwrap_or_else(|e| match &write_error {
                Some(w) => panic!("{what}: {e} (writing the request failed too: {w})"),
                None => panic!("{what}: {e}"),
            })
        };
        self.framing = self.framing_of(&head);
        head
    }

    /// Read the next response head on this connection (after [`Request::start`]).
    pub async fn read_head(&mut self) -> Head {
        let head = read_head_from(&mut self.stream, &mut self.buf)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.framing = self.framing_of(&head);
        head
    }

    /// Write `req`, read the response head and the whole body.
    pub async fn request(&mut self, req: &Request) -> Response {
        let head = self.send(req).await;
        let body = self.read_body().await;
        Response {
            status: head.status,
            minor_version: head.minor_version,
            headers: head.headers,
            body,
        }
    }

    fn framing_of(&self, head: &Head) -> Framing {
        if self.method.eq_ignore_ascii_case("HEAD")
            || (100..200).contains(&head.status)
            || head.status == 204
            || head.status == 304
        {
            return Framing::NoBody;
        }
        let chunked = head
            .headers
            .get_all("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            return Framing::Chunked;
        }
        if let Some(len) = head.headers.get("content-length") {
            let len = len
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("bad Content-Length {len:?}: {e}"));
            return Framing::Length(len);
        }
        Framing::UntilClose
    }

    async fn fill(&mut self, what: &str) -> usize {
        if self.eof {
            return 0;
        }
        let n = fill_from(&mut self.stream, &mut self.buf, what).await;
        if n == 0 {
            self.eof = true;
        }
        n
    }

    async fn read_line(&mut self, what: &str) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Some(line);
            }
            if self.fill(what).await == 0 {
                return None;
            }
        }
    }

    async fn take(&mut self, n: usize, what: &str) -> Vec<u8> {
        while self.buf.len() < n {
            if self.fill(what).await == 0 {
                panic!(
                    "connection closed while waiting for {what}: wanted {n} bytes, got {}: {:?}",
                    self.buf.len(),
                    preview(&self.buf)
                );
            }
        }
        self.buf.drain(..n).collect()
    }

    /// The next chunk of a chunked body, exactly as the server framed it; `None` at the
    /// terminating chunk (or if the connection ended without one).
    pub async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        match self.framing {
            Framing::Chunked => {}
            Framing::Done => return None,
            other => panic!("next_chunk on a response that is not chunked ({other:?})"),
        }
        let Some(line) = self.read_line("a chunk size line").await else {
            self.framing = Framing::Done;
            return None;
        };
        let line = String::from_utf8_lossy(&line).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|e| panic!("bad chunk size line {line:?}: {e}"));
        if size == 0 {
            // Trailer section up to the empty line.
            loop {
                match self.read_line("the chunked trailer").await {
                    Some(l) if l.is_empty() => break,
                    Some(_) => {}
                    None => break,
                }
            }
            self.framing = Framing::Done;
            return None;
        }
        let data = self.take(size, "chunk data").await;
        let crlf = self.take(2, "the CRLF after chunk data").await;
        assert_eq!(crlf, b"\r\n", "chunk data must be followed by CRLF");
        Some(data)
    }

    /// The next chunk as text; panics at the end of the body.
    pub async fn next_chunk_text(&mut self) -> String {
        let chunk = self
            .next_chunk()
            .await
            .expect("expected another chunk, but the response ended");
        String::from_utf8(chunk).expect("chunk is not UTF-8")
    }

    /// Exactly `n` bytes off the connection, whatever the response framing: for what follows a
    /// `101` (e.g. the hixie-76 challenge answer and frames).
    pub async fn read_raw(&mut self, n: usize) -> Vec<u8> {
        self.take(n, "raw bytes").await
    }

    /// Raw bytes off the connection up to and including the first `delim`.
    pub async fn read_raw_until(&mut self, delim: u8) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == delim) {
                return self.buf.drain(..=i).collect();
            }
            if self.fill("raw bytes up to a delimiter").await == 0 {
                panic!(
                    "connection closed while waiting for byte {delim:#04x}; got {:?}",
                    preview(&self.buf)
                );
            }
        }
    }

    /// How many bytes were read off the socket and not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Exactly `n` body bytes of a `Content-Length` or close-delimited body.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        match self.framing {
            Framing::UntilClose => {}
            Framing::Length(left) => {
                assert!(n <= left, "asked {n} bytes, only {left} left in the body");
                self.framing = if left == n {
                    Framing::Done
                } else {
                    Framing::Length(left - n)
                };
            }
            other => panic!("read_exact on a response framed as {other:?}"),
        }
        self.take(n, "body bytes").await
    }

    /// The rest of the body, whatever its framing.
    pub async fn read_body(&mut self) -> Vec<u8> {
        match self.framing {
            Framing::NoBody | Framing::Done => Vec::new(),
            Framing::Length(n) => self.read_exact(n).await,
            Framing::Chunked => {
                let mut body = Vec::new();
                while let Some(chunk) = self.next_chunk().await {
                    body.extend_from_slice(&chunk);
                }
                body
            }
            Framing::UntilClose => {
                while self.fill("the rest of a close-delimited body").await > 0 {}
                self.framing = Framing::Done;
                std::mem::take(&mut self.buf)
            }
        }
    }

    /// Whether the server closed the connection: waits (at most [`TIMEOUT`]) for EOF and
    /// returns false if more data arrived or nothing happened.
    pub async fn is_closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        if self.eof {
            return true;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(TIMEOUT, self.stream.read(&mut chunk)).await {
            Err(_) => false,
            Ok(Ok(0)) => {
                self.eof = true;
                true
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Ok(Err(e)) if is_reset(&e) => {
                self.eof = true;
                true
            }
            Ok(Err(e)) => panic!("reading from the connection: {e}"),
        }
    }

    /// Read whatever arrives until the server closes the connection or `limit` passes,
    /// without failing: for hostile-input tests where any answer (or none) is acceptable.
    pub async fn drain(&mut self, limit: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut chunk = [0u8; 16 * 1024];
        while !self.eof {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => break,
                Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Abort: shut the socket down and drop it, mid-response if need be.
    pub async fn abort(mut self) {
        let _ = self.stream.shutdown().await;
        drop(self);
    }
}

// ---------------------------------------------------------------------------------------------
// SockJS shortcuts
// ---------------------------------------------------------------------------------------------

/// `POST <session>/xhr`.
pub async fn xhr(session: &str) -> Response {
    post(&format!("{session}/xhr"), "").await
}

/// `POST <session>/xhr_send` with `body`.
pub async fn xhr_send(session: &str, body: &str) -> Response {
    post(&format!("{session}/xhr_send"), body).await
}

/// Open a session over xhr polling and check the open frame.
pub async fn open_xhr_session(session: &str) {
    let r = xhr(session).await;
    assert_eq!(r.status, 200, "opening {session} over xhr: {r:?}");
    assert_eq!(r.text(), "o\n", "opening {session} over xhr");
}

/// Send `body` with xhr_send and expect `204` with an empty body.
pub async fn xhr_send_ok(session: &str, body: &str) {
    let r = xhr_send(session, body).await;
    assert_eq!(
        r.status,
        204,
        "xhr_send of {} to {session}: {r:?}",
        preview(body.as_bytes())
    );
    assert!(
        r.body.is_empty(),
        "xhr_send answers 204 with no body: {r:?}"
    );
}

/// The 2048 `h` bytes and a newline that open every xhr_streaming response.
pub fn xhr_streaming_prelude() -> String {
    format!("{}\n", "h".repeat(2048))
}

/// Open `<session>/xhr_streaming` and check the prelude chunk.
pub async fn open_xhr_streaming(session: &str, headers: &[(&str, &str)]) -> (Head, HttpConn) {
    let (head, mut conn) = Request::post(&format!("{session}/xhr_streaming"))
        .headers(headers)
        .open()
        .await;
    assert_eq!(head.status, 200, "xhr_streaming on {session}: {head:?}");
    assert_eq!(
        conn.next_chunk_text().await,
        xhr_streaming_prelude(),
        "the first chunk of xhr_streaming is 2048 'h' and a newline"
    );
    (head, conn)
}

// ---------------------------------------------------------------------------------------------
// Shared header checks (the facts every transport shares)
// ---------------------------------------------------------------------------------------------

/// The `Content-Type` header, spaces removed, must be `expected`.
pub fn assert_content_type(headers: &Headers, expected: &str) {
    let ct = headers
        .single("content-type")
        .unwrap_or_else(|| panic!("no Content-Type, expected {expected}: {headers:?}"));
    assert_eq!(
        ct.replace(' ', ""),
        expected,
        "Content-Type (spaces ignored)"
    );
}

/// 404.
pub fn assert_404(r: &Response, what: &str) {
    assert_eq!(r.status, 404, "{what} must be 404: {r:?}");
}

/// 405 with an `Allow` header, no `Content-Type` and an empty body.
pub fn assert_405(r: &Response, what: &str) {
    assert_eq!(r.status, 405, "{what} must be 405: {r:?}");
    assert!(
        !r.headers.has_value("content-type"),
        "{what}: a 405 carries no Content-Type: {r:?}"
    );
    assert!(
        r.headers.has_value("allow"),
        "{what}: a 405 carries Allow: {r:?}"
    );
    assert!(r.body.is_empty(), "{what}: a 405 has an empty body: {r:?}");
}

/// No `Set-Cookie`.
pub fn assert_no_cookie(headers: &Headers) {
    assert!(
        !headers.has_value("set-cookie"),
        "no Set-Cookie expected: {headers:?}"
    );
}

/// CORS: with an Origin it is echoed with credentials allowed; without one, `*` and no
/// credentials header.
pub fn assert_cors(headers: &Headers, origin: Option<&str>) {
    let allow_origin = headers.single("access-control-allow-origin");
    match origin {
        Some(origin) => {
            assert_eq!(
                allow_origin,
                Some(origin),
                "Access-Control-Allow-Origin echoes the Origin: {headers:?}"
            );
            assert_eq!(
                headers.single("access-control-allow-credentials"),
                Some("true"),
                "Access-Control-Allow-Credentials: true with an Origin: {headers:?}"
            );
        }
        None => {
            assert_eq!(
                allow_origin,
                Some("*"),
                "Access-Control-Allow-Origin is * without an Origin: {headers:?}"
            );
            assert!(
                !headers.has_value("access-control-allow-credentials"),
                "no Access-Control-Allow-Credentials without an Origin: {headers:?}"
            );
        }
    }
}

/// Dynamic content: exactly the no-cache `Cache-Control`, no `Expires`, no `Last-Modified`.
pub fn assert_not_cached(headers: &Headers) {
    assert_eq!(
        headers.single("cache-control"),
        Some("no-store, no-cache, no-transform, must-revalidate, max-age=0"),
        "Cache-Control of dynamic content: {headers:?}"
    );
    assert!(!headers.has_value("expires"), "no Expires: {headers:?}");
    assert!(
        !headers.has_value("last-modified"),
        "no Last-Modified: {headers:?}"
    );
}

/// Whether `cache_control` has `max-age=` followed by a number of at least seven digits
/// that does not start with 0 (at least 1,000,000 seconds).
pub fn has_long_max_age(cache_control: &str) -> bool {
    cache_control.match_indices("max-age=").any(|(i, m)| {
        let digits: String = cache_control[i + m.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.len() >= 7 && !digits.starts_with('0')
    })
}

/// Strongly cacheable: `Cache-Control` public with a max-age of at least 1,000,000 s, and an
/// `Expires` header.
pub fn assert_cacheable_for_long(headers: &Headers) {
    let cc = headers
        .get("cache-control")
        .unwrap_or_else(|| panic!("no Cache-Control: {headers:?}"));
    assert!(
        cc.contains("public"),
        "Cache-Control must be public: {cc:?}"
    );
    assert!(
        has_long_max_age(cc),
        "max-age must be large, one year (31536000) is best: {cc:?}"
    );
    assert!(
        headers.has_value("expires"),
        "Expires expected: {headers:?}"
    );
}

/// The CORS preflight answer of `path`, for both a regular and a `null` origin.
pub async fn assert_options(path: &str, allowed_methods: &str) {
    for origin in ["test", "null"] {
        let r = options(
            path,
            &[
                ("Access-Control-Request-Method", allowed_methods),
                ("Origin", origin),
            ],
        )
        .await;
        let what = format!("OPTIONS {path} with Origin {origin}");
        assert!(
            r.status == 204 || r.status == 200,
            "{what}: 204 or 200 expected: {r:?}"
        );
        assert_cacheable_for_long(&r.headers);
        let max_age = r
            .headers
            .single("access-control-max-age")
            .unwrap_or_else(|| panic!("{what}: no Access-Control-Max-Age: {r:?}"));
        let max_age: u64 = max_age
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{what}: Access-Control-Max-Age {max_age:?}: {e}"));
        assert!(
            max_age > 1_000_000,
            "{what}: Access-Control-Max-Age {max_age} too small"
        );
        let methods = r
            .headers
            .get("access-control-allow-methods")
            .unwrap_or_else(|| panic!("{what}: no Access-Control-Allow-Methods: {r:?}"));
        for m in allowed_methods.split(',') {
            assert!(
                methods.contains(m.trim()),
                "{what}: Access-Control-Allow-Methods {methods:?} lacks {}",
                m.trim()
            );
        }
        assert!(r.body.is_empty(), "{what}: empty body expected: {r:?}");
        assert_cors(&r.headers, Some(origin));
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

/// A client WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How a WebSocket connection ended.
#[derive(Debug)]
pub enum WsEnd {
    /// A close frame with its code and reason (if it had a payload).
    Close(Option<(u16, String)>),
    /// The stream ended without a close frame.
    Eof,
    /// A transport or protocol error (e.g. a reset).
    Error(String),
}

/// What the next read of a WebSocket gave.
#[derive(Debug)]
pub enum WsEvent {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The end of the connection.
    End(WsEnd),
}

/// Connect a WebSocket to `path`, e.g. `/echo/000/<id>/websocket`.
pub async fn ws_connect(path: &str) -> Ws {
    ws_connect_url(&ws_url(path)).await
}

/// Connect a WebSocket to a full `ws://` URL (e.g. on a second in-process server).
pub async fn ws_connect_url(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap_or_else(|_| panic!("timed out connecting a websocket to {url}"))
        .unwrap_or_else(|e| panic!("websocket handshake with {url}: {e}"));
    ws
}

/// Send a text message.
pub async fn ws_send(ws: &mut Ws, text: &str) {
    tokio::time::timeout(TIMEOUT, ws.send(Message::text(text.to_string())))
        .await
        .expect("timed out sending a websocket message")
        .unwrap_or_else(|e| {
            panic!(
                "sending websocket message {:?}: {e}",
                preview(text.as_bytes())
            )
        });
}

/// The next message or the end; pings and pongs are skipped.
pub async fn ws_next(ws: &mut Ws) -> WsEvent {
    loop {
        let next = tokio::time::timeout(TIMEOUT, ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out after {TIMEOUT:?} waiting for a websocket message")
            });
        return match next {
            None => WsEvent::End(WsEnd::Eof),
            Some(Err(e)) => WsEvent::End(WsEnd::Error(e.to_string())),
            Some(Ok(Message::Text(t))) => WsEvent::Text(t.as_str().to_string()),
            Some(Ok(Message::Binary(b))) => WsEvent::Binary(b.to_vec()),
            Some(Ok(Message::Close(frame))) => WsEvent::End(WsEnd::Close(
                frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string())),
            )),
            Some(Ok(Message::Ping(_)))
            | Some(Ok(Message::Pong(_)))
            | Some(Ok(Message::Frame(_))) => continue,
        };
    }
}

/// The next text message; panics on anything else.
pub async fn ws_recv(ws: &mut Ws) -> String {
    match ws_next(ws).await {
        WsEvent::Text(t) => t,
        other => panic!("expected a websocket text message, got {other:?}"),
    }
}

/// Expect the connection to end without another message; returns how it ended.
pub async fn ws_expect_end(ws: &mut Ws) -> WsEnd {
    match ws_next(ws).await {
        WsEvent::End(end) => end,
        WsEvent::Text(t) => panic!(
            "expected the websocket to end, got a message {:?}",
            preview(t.as_bytes())
        ),
        WsEvent::Binary(b) => panic!(
            "expected the websocket to end, got {} binary bytes",
            b.len()
        ),
    }
}

/// Close our side politely (errors ignored: the server may already be gone).
pub async fn ws_close(mut ws: Ws) {
    let _ = tokio::time::timeout(TIMEOUT, ws.close(None)).await;
}

/// The raw request headers of a version 13 WebSocket handshake with the suite's known key.
pub const WS_KEY: &str = "x3JJHMbDL1EzLkh9GBhXDw==";
/// The `Sec-WebSocket-Accept` answer to [`WS_KEY`].
pub const WS_ACCEPT: &str = "HSmrc0sMlYUkAGmm5OPpG2HaGWk=";

/// A hand-written WebSocket handshake request (to see the raw 101 answer).
pub fn ws_handshake_request(path: &str) -> Request {
    Request::get(path).headers(&[
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Origin", "http://asd"),
        ("Sec-WebSocket-Key", WS_KEY),
    ])
}

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

/// Decode an `a[...]` frame (with or without a trailing newline) into its messages.
pub fn decode_messages(frame: &str) -> Vec<String> {
    let json = frame
        .trim_end_matches('\n')
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not an 'a' frame: {:?}", preview(frame.as_bytes())));
    serde_json::from_str(json).unwrap_or_else(|e| {
        panic!(
            "'a' frame is not a JSON array of strings ({e}): {:?}",
            preview(frame.as_bytes())
        )
    })
}

/// Encode messages the way a client sends them: a JSON array of strings.
pub fn encode_messages(messages: &[&str]) -> String {
    serde_json::to_string(messages).expect("encode JSON")
}

// ---------------------------------------------------------------------------------------------
// Applications for tests that serve their own endpoints
// ---------------------------------------------------------------------------------------------

/// An echo application.
pub async fn echo_app(mut conn: sockjs_hyper::Connection) {
    while let Some(m) = conn.recv().await {
        if conn.send(m).await.is_err() {
            break;
        }
    }
}

/// An application that keeps its connection and never reads a message.
pub async fn never_reads(conn: sockjs_hyper::Connection) {
    let _keep = conn;
    std::future::pending::<()>().await;
}

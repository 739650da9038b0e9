//! HTTP/2 client helpers over hyper's client: one connection, requests as streams, response
//! bodies split into transport frames, RFC 8441 websockets. Every wait is bounded by
//! [`TIMEOUT`].

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{xhr_streaming_prelude, TIMEOUT};

/// One HTTP/2 connection to a server.
#[derive(Clone)]
pub struct H2 {
    /// `http://host:port[/prefix]` or `https://...`: what request paths are appended to.
    pub base: String,
    send: SendRequest<Full<Bytes>>,
}

impl H2 {
    /// HTTP/2 over `io` (a TCP stream: prior knowledge; a TLS stream: ALPN `h2`), with
    /// request paths appended to `base`.
    pub async fn handshake<I>(io: I, base: String) -> H2
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        H2 { base, send }
    }

    /// Connect to `host` (`host:port`) with the HTTP/2 preface at once (prior knowledge).
    pub async fn connect(host: &str) -> H2 {
        let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(host))
            .await
            .expect("connect timed out")
            .expect("connect");
        H2::handshake(tcp, format!("http://{host}")).await
    }

    /// To the conformance server under test (`SOCKJS_URL` or the in-process one).
    pub async fn to_server() -> H2 {
        let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(super::host()))
            .await
            .expect("connect timed out")
            .expect("connect");
        H2::handshake(tcp, super::base()).await
    }

    /// The absolute URI of `path` (which starts with `/`).
    pub fn uri(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `body` (absolute URI, as HTTP/2 needs `:scheme` and `:authority`).
    pub async fn request(&self, method: Method, path: &str, body: &str) -> Response<Incoming> {
        let uri = self.uri(path);
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .expect("request");
        self.send_request(req).await
    }

    pub async fn send_request(&self, req: Request<Full<Bytes>>) -> Response<Incoming> {
        let mut send = self.send.clone();
        let what = format!("{} {}", req.method(), req.uri());
        let resp = tokio::time::timeout(TIMEOUT, async move {
            send.ready().await?;
            send.send_request(req).await
        })
        .await
        .unwrap_or_else(|_| panic!("{what}: no response head in time"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(resp.version(), Version::HTTP_2, "{what}");
        resp
    }

    /// A complete response: status, content type and body.
    pub async fn fetch(
        &self,
        method: Method,
        path: &str,
        body: &str,
    ) -> (StatusCode, String, String) {
        let resp = self.request(method, path, body).await;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("{path}: body not complete in time"))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    /// `xhr_send` of `messages` to `url` (a session URL); asserts the 204.
    pub async fn xhr_send(&self, url: &str, messages: &[&str]) {
        let body = serde_json::to_string(messages).expect("json");
        let (status, _, text) = self
            .fetch(Method::POST, &format!("{url}/xhr_send"), &body)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "xhr_send to {url}: {text}");
    }
}

/// A response body read as a byte stream, split into the transport's frames.
pub struct Stream {
    body: Incoming,
    buf: BytesMut,
    ended: bool,
}

impl Stream {
    pub fn new(resp: Response<Incoming>) -> Stream {
        Stream {
            body: resp.into_body(),
            buf: BytesMut::new(),
            ended: false,
        }
    }

    /// Read until `buf` holds `delimiter`; `None` once the stream ended before that.
    pub async fn until(&mut self, delimiter: &[u8]) -> Option<String> {
        loop {
            if let Some(at) = self
                .buf
                .windows(delimiter.len())
                .position(|w| w == delimiter)
            {
                let item = self.buf.split_to(at + delimiter.len());
                return Some(String::from_utf8_lossy(&item).into_owned());
            }
            if self.ended {
                return None;
            }
            let frame = tokio::time::timeout(TIMEOUT, self.body.frame())
                .await
                .expect("no data within the bound");
            match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => panic!("stream failed: {e}"),
                None => self.ended = true,
            }
        }
    }

    /// The next `\n`-terminated frame of `xhr_streaming`.
    pub async fn line(&mut self) -> String {
        self.until(b"\n").await.expect("the stream ended early")
    }

    /// The next eventsource event (`data: ...\r\n\r\n`).
    pub async fn event(&mut self) -> String {
        self.until(b"\r\n\r\n")
            .await
            .expect("the stream ended early")
    }

    /// Whether the stream ends (END_STREAM) with nothing more in it.
    pub async fn ends(&mut self) -> bool {
        self.until(b"\n").await.is_none() && self.buf.is_empty()
    }
}

/// Open `xhr_streaming` on `url` and read its prelude and first frame.
pub async fn open_xhr_streaming(h2: &H2, url: &str) -> (Stream, String) {
    let resp = h2
        .request(Method::POST, &format!("{url}/xhr_streaming"), "")
        .await;
    assert_eq!(resp.status(), StatusCode::OK, "{url}/xhr_streaming");
    assert_eq!(
        resp.headers()["content-type"],
        "application/javascript; charset=UTF-8"
    );
    let mut stream = Stream::new(resp);
    assert_eq!(stream.line().await, xhr_streaming_prelude(), "prelude");
    let first = stream.line().await;
    (stream, first)
}

/// An RFC 8441 websocket: `CONNECT` with `:protocol websocket` on `path`.
pub async fn ws_over_h2(h2: &H2, path: &str) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
    // A first answer means the server's SETTINGS (with ENABLE_CONNECT_PROTOCOL) are known.
    let _ = h2.fetch(Method::GET, "/echo", "").await;
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(h2.uri(path))
        .header("sec-websocket-version", "13")
        .body(Full::new(Bytes::new()))
        .expect("request");
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = h2.send_request(req).await;
    assert_eq!(resp.status(), StatusCode::OK, "extended CONNECT on {path}");
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    let upgraded = tokio::time::timeout(TIMEOUT, hyper::upgrade::on(resp))
        .await
        .expect("upgrade in time")
        .expect("the stream is handed over");
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

/// The next message of a websocket over any stream (an HTTP/2 stream or a TLS connection).
pub async fn ws_next<S>(ws: &mut WebSocketStream<S>) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("a websocket message in time")
        .expect("the websocket is open")
        .expect("a websocket message")
}

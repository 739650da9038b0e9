//! A minimal STOMP client over SockJS's raw websocket endpoint (`<prefix>/websocket`: one
//! SockJS message per websocket message, no framing), for the broker's black-box tests.
//! Server frames are parsed strictly enough to catch a malformed one.

use std::fmt;

use super::{ws_connect_url, ws_expect_end, ws_next, ws_send, Ws, WsEnd, WsEvent};

/// A frame from the server.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body: String = self.body.chars().take(80).collect();
        write!(f, "{} {:?} {:?}", self.command, self.headers, body)
    }
}

impl Frame {
    /// The first header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Panics unless the command is `command`.
    pub fn expect(self, command: &str) -> Frame {
        assert_eq!(self.command, command, "unexpected frame {self:?}");
        self
    }
}

fn unescape(s: &str, escaped: bool) -> String {
    if !escaped {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('c') => out.push(':'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            other => panic!("bad escape \\{other:?} in server header {s:?}"),
        }
    }
    out
}

/// Parses one server frame (one SockJS message holds exactly one frame).
pub fn parse(message: &str, escaped: bool) -> Frame {
    let (head, rest) = message
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line after the headers: {message:?}"));
    let mut lines = head.split('\n');
    let command = lines.next().unwrap_or_default().to_owned();
    let escaped = escaped && command != "CONNECTED";
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("header line without ':' {l:?} in {message:?}"));
            (unescape(n, escaped), unescape(v, escaped))
        })
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>().expect("content-length is a number"));
    let body = match len {
        Some(n) => {
            assert_eq!(
                &rest[n..],
                "\0",
                "exactly a NUL after the body: {message:?}"
            );
            rest[..n].to_owned()
        }
        None => rest
            .strip_suffix('\0')
            .unwrap_or_else(|| panic!("frame does not end with NUL: {message:?}"))
            .to_owned(),
    };
    Frame {
        command,
        headers,
        body,
    }
}

/// A client frame.
pub fn frame(command: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("{command}\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}:{v}\n"));
    }
    if !body.is_empty() {
        s.push_str(&format!("content-length:{}\n", body.len()));
    }
    s.push('\n');
    s.push_str(body);
    s.push('\0');
    s
}

/// A STOMP session over a raw websocket.
pub struct Client {
    pub ws: Ws,
    /// Heart-beats (`"\n"` messages) seen so far.
    pub heart_beats: usize,
    escaped: bool,
}

impl Client {
    /// Opens the websocket of the endpoint at `endpoint_url` (`http://host:port/stomp`)
    /// without sending anything.
    pub async fn open(endpoint_url: &str) -> Client {
        let url = format!("{}/websocket", endpoint_url.replacen("http://", "ws://", 1));
        Client {
            ws: ws_connect_url(&url).await,
            heart_beats: 0,
            escaped: false,
        }
    }

    /// Opens and connects (STOMP 1.2, no heart-beats) with `headers` added to `CONNECT`;
    /// returns the client and the `CONNECTED` frame.
    pub async fn connect(endpoint_url: &str, headers: &[(&str, &str)]) -> (Client, Frame) {
        let mut c = Client::open(endpoint_url).await;
        let mut all = vec![("accept-version", "1.2,1.1,1.0"), ("heart-beat", "0,0")];
        all.extend_from_slice(headers);
        c.send("CONNECT", &all, "").await;
        let connected = c.next().await.expect("CONNECTED");
        c.escaped = connected.header("version") != Some("1.0");
        (c, connected)
    }

    /// Connects as `login`.
    pub async fn login(endpoint_url: &str, login: &str) -> Client {
        Client::connect(endpoint_url, &[("login", login)]).await.0
    }

    pub async fn send(&mut self, command: &str, headers: &[(&str, &str)], body: &str) {
        ws_send(&mut self.ws, &frame(command, headers, body)).await;
    }

    pub async fn raw(&mut self, text: &str) {
        ws_send(&mut self.ws, text).await;
    }

    /// The next frame (heart-beats counted and skipped), or `None` when the connection ended.
    pub async fn next_frame(&mut self) -> Result<Frame, WsEnd> {
        loop {
            match ws_next(&mut self.ws).await {
                WsEvent::Text(t) if t == "\n" => self.heart_beats += 1,
                WsEvent::Text(t) => return Ok(parse(&t, self.escaped)),
                WsEvent::Binary(b) => panic!("binary message from the server: {b:?}"),
                WsEvent::End(end) => return Err(end),
            }
        }
    }

    /// The next frame; panics if the connection ended.
    pub async fn next(&mut self) -> Option<Frame> {
        match self.next_frame().await {
            Ok(f) => Some(f),
            Err(end) => panic!("expected a frame, the connection ended: {end:?}"),
        }
    }

    /// The next frame, which must be `command`.
    pub async fn expect(&mut self, command: &str) -> Frame {
        self.next().await.expect("a frame").expect(command)
    }

    /// Subscribes with a receipt and waits for it.
    pub async fn subscribe(&mut self, id: &str, destination: &str, extra: &[(&str, &str)]) {
        let receipt = format!("sub-{id}");
        let mut headers = vec![
            ("id", id),
            ("destination", destination),
            ("receipt", receipt.as_str()),
        ];
        headers.extend_from_slice(extra);
        self.send("SUBSCRIBE", &headers, "").await;
        let r = self.expect("RECEIPT").await;
        assert_eq!(r.header("receipt-id"), Some(receipt.as_str()));
    }

    /// Asks for a `RECEIPT` (a `SEND` nothing handles) and checks that it is the next frame:
    /// nothing the server had queued for this session before arrives ahead of it.
    pub async fn expect_nothing_before_a_receipt(&mut self) {
        self.send("SEND", &[("destination", "/app/x"), ("receipt", "r")], "")
            .await;
        let next = self.next().await.expect("a frame");
        assert_eq!(
            (next.command.as_str(), next.header("receipt-id")),
            ("RECEIPT", Some("r")),
            "{next:?}"
        );
    }

    /// Expects the connection to end; returns how.
    pub async fn expect_end(&mut self) -> WsEnd {
        ws_expect_end(&mut self.ws).await
    }

    /// `ERROR`, then the close `1002`; returns the `ERROR` frame.
    pub async fn expect_error(&mut self) -> Frame {
        let error = self.expect("ERROR").await;
        match self.expect_end().await {
            WsEnd::Close(Some((1002, _))) => {}
            other => panic!("expected close 1002 after {error:?}, got {other:?}"),
        }
        error
    }
}

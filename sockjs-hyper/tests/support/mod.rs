//! Shared by the hub tests: a handler that runs hub commands sent by the client, and an
//! in-memory xhr client that drives it through `SockJs::handle`.

#![allow(dead_code)] // each test file uses part of it
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Mutex;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use sockjs_hyper::{Connection, SockJs};

/// Runs the client's commands, one per message, and answers each with `> <result>`:
///
/// `login U`, `set_user U`, `logout`, `join R`, `leave R`, `rooms`, `user`,
/// `room R TEXT` (hub.send_to_room), `to U TEXT` (send_to_user), `kick U CODE REASON`,
/// `all TEXT` (hub.broadcast), `publish C TEXT`, `close CODE REASON`.
pub async fn commands(mut conn: Connection) {
    while let Some(m) = conn.recv().await {
        let reply = run(&conn, &m).await;
        if conn.send(format!("> {reply}")).await.is_err() {
            break;
        }
    }
}

async fn run(conn: &Connection, m: &str) -> String {
    let mut words = m.splitn(3, ' ');
    let (cmd, a, b) = (
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
    );
    let hub = conn.hub();
    match cmd {
        "login" => format!("{:?}", conn.login(a).await),
        "set_user" => {
            conn.set_user(Some(a));
            "ok".into()
        }
        "logout" => {
            conn.set_user(None);
            "ok".into()
        }
        "join" => format!("{:?}", conn.join(a)),
        "leave" => format!("{}", conn.leave(a)),
        "rooms" => format!("{:?}", conn.rooms()),
        "user" => format!("{:?}", conn.user()),
        "room" => format!("{:?}", hub.send_to_room(a, b).map(|d| d.sent)),
        "to" => format!("{:?}", hub.send_to_user(a, b).map(|d| d.sent)),
        "all" => format!("{:?}", hub.broadcast(&format!("{a} {b}")).map(|d| d.sent)),
        "publish" => format!("{:?}", hub.publish(a, b.to_string()).map(|d| d.sent)),
        "kick" => {
            let (code, reason) = b.split_once(' ').unwrap_or((b, ""));
            let code = code.parse().unwrap_or(4000);
            format!("{:?}", hub.kick_user(a, code, reason).map(|d| d.sent))
        }
        "close" => {
            conn.close(a.parse().unwrap_or(4000), b);
            "closing".into()
        }
        other => format!("unknown command {other:?}"),
    }
}

/// Serve `endpoints` over HTTP/1.1 (websocket upgrades included) on a loopback port; a
/// request goes to the endpoint whose prefix it matches, the first one otherwise.
pub async fn serve(endpoints: Vec<SockJs>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<_>| {
                    let endpoint = endpoints
                        .iter()
                        .find(|e| e.matches(req.uri().path()))
                        .unwrap_or(&endpoints[0])
                        .with_peer_addr(peer);
                    async move { Ok::<_, std::convert::Infallible>(endpoint.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// One frame, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Open,
    Heartbeat,
    Messages(Vec<String>),
    Close(u16, String),
}

pub fn parse(frame: &str) -> Frame {
    let frame = frame.trim_end_matches('\n');
    match frame.as_bytes().first() {
        Some(b'o') => Frame::Open,
        Some(b'h') => Frame::Heartbeat,
        Some(b'a') => Frame::Messages(serde_json::from_str(&frame[1..]).unwrap()),
        Some(b'c') => {
            let (code, reason): (u16, String) = serde_json::from_str(&frame[1..]).unwrap();
            Frame::Close(code, reason)
        }
        _ => panic!("not a frame: {frame:?}"),
    }
}

fn post(uri: &str, body: String) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Polls a wait may take before it fails: each poll without news lasts a heartbeat interval
/// (25 s, virtual on a paused clock), so nothing expected is this late.
const MAX_POLLS: usize = 8;

/// An xhr-polling session driven in memory.
pub struct Client {
    sockjs: SockJs,
    id: String,
    /// Messages received that were not command replies, in order.
    inbox: Mutex<Vec<String>>,
    /// The close frame, once received.
    closed: Mutex<Option<(u16, String)>>,
}

impl Client {
    /// Open session `id` (the first poll answers the open frame).
    pub async fn open(sockjs: &SockJs, id: &str) -> Client {
        let c = Client {
            sockjs: sockjs.clone(),
            id: id.to_string(),
            inbox: Mutex::default(),
            closed: Mutex::default(),
        };
        assert_eq!(c.poll_frame().await, Frame::Open, "session {id} opens");
        c
    }

    fn uri(&self, transport: &str) -> String {
        format!("{}/0/{}/{transport}", self.sockjs.prefix(), self.id)
    }

    pub async fn poll_frame(&self) -> Frame {
        let r = self
            .sockjs
            .handle(post(&self.uri("xhr"), String::new()))
            .await;
        let body = r.into_body().collect().await.unwrap().to_bytes();
        parse(std::str::from_utf8(&body).unwrap())
    }

    /// Send one message (the request answers once the application took it).
    pub async fn send(&self, message: &str) {
        let body = serde_json::to_string(&[message]).unwrap();
        let r = self.sockjs.handle(post(&self.uri("xhr_send"), body)).await;
        assert_eq!(r.status(), 204, "xhr_send on {}", self.id);
    }

    /// Poll once and file what came.
    async fn poll_once(&self) -> Vec<String> {
        match self.poll_frame().await {
            Frame::Messages(m) => m,
            Frame::Close(code, reason) => {
                *self.closed.lock().unwrap() = Some((code, reason));
                Vec::new()
            }
            Frame::Heartbeat | Frame::Open => Vec::new(),
        }
    }

    /// Run a command and return its reply (other messages received meanwhile are kept).
    pub async fn cmd(&self, command: &str) -> String {
        self.send(command).await;
        self.reply().await
    }

    /// The next command reply.
    pub async fn reply(&self) -> String {
        match self.reply_or_close().await {
            Ok(r) => r,
            Err(c) => panic!("{} closed: {c:?}", self.id),
        }
    }

    /// The next command reply, or the close frame if the session closes first.
    pub async fn reply_or_close(&self) -> Result<String, (u16, String)> {
        for _ in 0..MAX_POLLS {
            let mut reply = None;
            for m in self.poll_once().await {
                match m.strip_prefix("> ") {
                    Some(r) if reply.is_none() => reply = Some(r.to_string()),
                    _ => self.inbox.lock().unwrap().push(m),
                }
            }
            if let Some(r) = reply {
                return Ok(r);
            }
            if let Some(c) = self.close() {
                return Err(c);
            }
        }
        panic!("{}: no reply and no close after {MAX_POLLS} polls", self.id);
    }

    /// Messages received so far (not replies), taken.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.inbox.lock().unwrap())
    }

    /// Poll until `n` non-reply messages are in (heartbeats in between are fine).
    pub async fn receive(&self, n: usize) -> Vec<String> {
        for _ in 0..MAX_POLLS {
            if self.inbox.lock().unwrap().len() >= n {
                break;
            }
            for m in self.poll_once().await {
                self.inbox.lock().unwrap().push(m);
            }
            assert!(
                self.close().is_none(),
                "{} closed: {:?}",
                self.id,
                self.close()
            );
        }
        self.take()
    }

    /// Poll until the close frame comes; return it.
    pub async fn closed(&self) -> (u16, String) {
        for _ in 0..MAX_POLLS {
            if let Some(c) = self.close() {
                return c;
            }
            for m in self.poll_once().await {
                self.inbox.lock().unwrap().push(m);
            }
        }
        self.close()
            .unwrap_or_else(|| panic!("{}: not closed after {MAX_POLLS} polls", self.id))
    }

    pub fn close(&self) -> Option<(u16, String)> {
        self.closed.lock().unwrap().clone()
    }
}

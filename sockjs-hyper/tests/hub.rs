//! The hub over real TCP, with real websocket and HTTP sessions: room membership and presence
//! cleaned up however a session ends (client close, cut connection, expiry, server close) on
//! every transport class, the kick code reaching the client as a close frame, and the
//! duplicate-login policies.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sockjs_hyper::hub::{Hub, LoginPolicy};
use sockjs_hyper::{Config, SockJs};
use support::{commands, parse, serve, Frame};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Every wait for something to happen over the network is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

/// Wait (bounded) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The command reply a frame carries, if any; heartbeats and other messages carry none, any
/// other frame fails the test.
fn reply_in(frame: Frame) -> Option<String> {
    match frame {
        Frame::Messages(m) => m
            .iter()
            .find_map(|m| m.strip_prefix("> ").map(String::from)),
        Frame::Heartbeat => None,
        other => panic!("unexpected frame {other:?}"),
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A SockJS websocket session.
struct Ws(WsStream);

impl Ws {
    async fn open(addr: SocketAddr, prefix: &str, id: &str) -> Ws {
        let url = format!("ws://{addr}{prefix}/0/{id}/websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut ws = Ws(ws);
        assert_eq!(ws.frame().await, Frame::Open);
        ws
    }

    async fn frame(&mut self) -> Frame {
        loop {
            let m = tokio::time::timeout(LIMIT, self.0.next())
                .await
                .expect("a frame in time")
                .expect("the connection is open")
                .unwrap();
            if let Message::Text(t) = m {
                return parse(t.as_str());
            }
        }
    }

    async fn send(&mut self, command: &str) {
        let payload = serde_json::to_string(&[command]).unwrap();
        self.0.send(Message::text(payload)).await.unwrap();
    }

    /// Run a command; return its reply (skipping heartbeats).
    async fn cmd(&mut self, command: &str) -> String {
        self.send(command).await;
        loop {
            if let Some(r) = reply_in(self.frame().await) {
                return r;
            }
        }
    }

    /// The next messages that are not replies.
    async fn messages(&mut self) -> Vec<String> {
        loop {
            if let Frame::Messages(m) = self.frame().await {
                let m: Vec<String> = m.into_iter().filter(|m| !m.starts_with("> ")).collect();
                if !m.is_empty() {
                    return m;
                }
            }
        }
    }

    /// The close frame, then the websocket's own close.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.frame().await {
                Frame::Close(code, reason) => return (code, reason),
                Frame::Messages(_) | Frame::Heartbeat => {}
                Frame::Open => panic!("a second open frame"),
            }
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; the status code and the whole body.
async fn http(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut raw))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    (status, body.to_string())
}

/// An xhr-polling session over TCP.
struct Xhr {
    addr: SocketAddr,
    base: String,
}

impl Xhr {
    async fn open(addr: SocketAddr, prefix: &str, id: &str) -> Xhr {
        let x = Xhr {
            addr,
            base: format!("{prefix}/0/{id}"),
        };
        assert_eq!(x.poll().await, Frame::Open);
        x
    }

    async fn poll(&self) -> Frame {
        let (status, body) = http(self.addr, &format!("{}/xhr", self.base), "").await;
        assert_eq!(status, 200);
        parse(&body)
    }

    async fn cmd(&self, command: &str) -> String {
        let payload = serde_json::to_string(&[command]).unwrap();
        let (status, _) = http(self.addr, &format!("{}/xhr_send", self.base), &payload).await;
        assert_eq!(status, 204);
        loop {
            if let Some(r) = reply_in(self.poll().await) {
                return r;
            }
        }
    }
}

/// An xhr-streaming session over TCP: one held response, read frame by frame.
struct Streaming {
    reader: BufReader<TcpStream>,
    pending: String,
    xhr: Xhr,
}

impl Streaming {
    async fn open(addr: SocketAddr, prefix: &str, id: &str) -> Streaming {
        let base = format!("{prefix}/0/{id}");
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {base}/xhr_streaming HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(s);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        let mut st = Streaming {
            reader,
            pending: String::new(),
            xhr: Xhr { addr, base },
        };
        let prelude = st.line().await;
        assert_eq!(prelude.len(), 2048, "the prelude");
        assert_eq!(parse(&st.line().await), Frame::Open);
        st
    }

    /// The next line of the chunked body.
    async fn line(&mut self) -> String {
        loop {
            if let Some((line, rest)) = self.pending.split_once('\n') {
                let line = line.to_string();
                self.pending = rest.to_string();
                return line;
            }
            let mut size = String::new();
            tokio::time::timeout(LIMIT, self.reader.read_line(&mut size))
                .await
                .expect("a chunk in time")
                .unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            self.reader.read_exact(&mut chunk).await.unwrap();
            self.pending
                .push_str(std::str::from_utf8(&chunk[..n]).unwrap());
        }
    }

    /// Send a command (the reply comes on the stream).
    async fn cmd(&mut self, command: &str) -> String {
        let payload = serde_json::to_string(&[command]).unwrap();
        let (status, _) = http(
            self.xhr.addr,
            &format!("{}/xhr_send", self.xhr.base),
            &payload,
        )
        .await;
        assert_eq!(status, 204);
        loop {
            if let Some(r) = reply_in(parse(&self.line().await)) {
                return r;
            }
        }
    }

    async fn closed(&mut self) -> (u16, String) {
        loop {
            if let Frame::Close(code, reason) = parse(&self.line().await) {
                return (code, reason);
            }
        }
    }
}

#[tokio::test]
async fn rooms_and_presence_are_cleaned_up_however_a_session_ends_on_every_transport() {
    let mut config = Config::default();
    // HTTP sessions without a receiver expire after this.
    config.disconnect_delay = Duration::from_millis(300);
    let hub = Hub::new();
    let sockjs = SockJs::builder("/s")
        .config(config)
        .hub(hub.clone())
        .build(commands)
        .unwrap();
    let addr = serve(vec![sockjs.clone()]).await;
    let members = || hub.room_len("r");

    // websocket, closed by the client
    let mut ws = Ws::open(addr, "/s", "ws1").await;
    assert_eq!(ws.cmd("join r").await, "Ok(true)");
    assert_eq!(ws.cmd("login ws-user").await, "Ok(())");
    // websocket, connection cut without a close handshake
    let mut cut = Ws::open(addr, "/s", "ws2").await;
    assert_eq!(cut.cmd("join r").await, "Ok(true)");
    assert_eq!(cut.cmd("login cut-user").await, "Ok(())");
    // xhr polling, left to expire
    let xhr = Xhr::open(addr, "/s", "x1").await;
    assert_eq!(xhr.cmd("join r").await, "Ok(true)");
    assert_eq!(xhr.cmd("login xhr-user").await, "Ok(())");
    // xhr polling, closed by the server
    let xhr2 = Xhr::open(addr, "/s", "x2").await;
    assert_eq!(xhr2.cmd("join r").await, "Ok(true)");
    assert_eq!(xhr2.cmd("login xhr-user").await, "Ok(())");
    // xhr streaming, its response cut
    let mut st = Streaming::open(addr, "/s", "st1").await;
    assert_eq!(st.cmd("join r").await, "Ok(true)");
    assert_eq!(st.cmd("login stream-user").await, "Ok(())");
    assert_eq!(members(), 5);
    let online = |hub: &Hub| -> Vec<(String, usize)> {
        hub.presence()
            .iter()
            .map(|(u, n)| (u.to_string(), n))
            .collect()
    };
    assert_eq!(
        online(&hub),
        [
            ("cut-user".into(), 1),
            ("stream-user".into(), 1),
            ("ws-user".into(), 1),
            ("xhr-user".into(), 2)
        ]
    );
    // a room send reaches all five, over every transport
    assert_eq!(hub.send_to_room("r", "to the room").unwrap().sent, 5);
    assert_eq!(ws.messages().await, ["to the room"]);

    ws.0.close(None).await.unwrap();
    until("the closed websocket to leave", || members() == 4).await;
    assert_eq!(hub.online("ws-user"), 0);

    drop(cut);
    until("the cut websocket to leave", || members() == 3).await;
    assert_eq!(hub.online("cut-user"), 0);

    let (status, _) = http(addr, "/s/0/x2/xhr_send", "[\"close 4000 bye\"]").await;
    assert_eq!(status, 204);
    until("the closed xhr session to leave", || members() == 2).await;
    assert_eq!(hub.online("xhr-user"), 1);
    assert_eq!(
        xhr2.poll().await,
        Frame::Messages(vec!["to the room".into()])
    );
    assert_eq!(xhr2.poll().await, Frame::Close(4000, "bye".into()));

    drop(st);
    until("the cut streaming session to leave", || members() == 1).await;
    assert_eq!(hub.online("stream-user"), 0);

    // the xhr session nobody polls expires after the disconnect delay
    until("the expired xhr session to leave", || members() == 0).await;
    assert!(hub.presence().is_empty());
    assert!(hub.rooms().is_empty());
    drop(xhr);
}

#[tokio::test]
async fn raw_websocket_members_get_room_messages_verbatim() {
    let hub = Hub::new();
    let sockjs = SockJs::builder("/s")
        .hub(hub.clone())
        .build(|conn| async move {
            let _ = conn.join("r");
            commands(conn).await;
        })
        .unwrap();
    let addr = serve(vec![sockjs]).await;
    let (mut raw, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/s/websocket"))
        .await
        .unwrap();
    let mut ws = Ws::open(addr, "/s", "framed").await;
    until("both members", || hub.room_len("r") == 2).await;
    assert_eq!(hub.send_to_room("r", "plain \"text\"").unwrap().sent, 2);
    let m = tokio::time::timeout(LIMIT, raw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::text("plain \"text\""));
    assert_eq!(ws.messages().await, ["plain \"text\""]);
    raw.close(None).await.unwrap();
    until("the raw websocket to leave", || hub.room_len("r") == 1).await;
}

#[tokio::test]
async fn a_kick_reaches_the_client_as_a_close_frame_on_websocket_and_streaming() {
    let hub = Hub::new();
    let sockjs = SockJs::builder("/s")
        .hub(hub.clone())
        .build(commands)
        .unwrap();
    let addr = serve(vec![sockjs]).await;
    let mut ws = Ws::open(addr, "/s", "k1").await;
    let mut st = Streaming::open(addr, "/s", "k2").await;
    let mut admin = Ws::open(addr, "/s", "k3").await;
    assert_eq!(ws.cmd("login mallory").await, "Ok(())");
    assert_eq!(st.cmd("login mallory").await, "Ok(())");
    assert_eq!(
        admin.cmd("kick mallory 4001 Kicked by admin").await,
        "Ok(2)"
    );
    assert_eq!(ws.closed().await, (4001, "Kicked by admin".into()));
    assert_eq!(st.closed().await, (4001, "Kicked by admin".into()));
    // then the websocket itself closes (sockjs-client reports the code of the close frame)
    let end = tokio::time::timeout(LIMIT, async {
        while let Some(Ok(m)) = ws.0.next().await {
            if let Message::Close(_) = m {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(end, "the websocket closes");
    assert_eq!(hub.online("mallory"), 0);
}

#[tokio::test]
async fn duplicate_logins_are_replaced_or_refused_per_endpoint() {
    let hub = Hub::new();
    let replace = SockJs::builder("/replace")
        .hub(hub.clone())
        .login_policy(LoginPolicy::ReplaceOlder)
        .build(commands)
        .unwrap();
    let refuse = SockJs::builder("/refuse")
        .hub(hub.clone())
        .login_policy(LoginPolicy::RefuseNewer)
        .build(commands)
        .unwrap();
    let allow = SockJs::builder("/allow")
        .hub(hub.clone())
        .build(commands)
        .unwrap();
    let addr = serve(vec![replace, refuse, allow]).await;

    // ReplaceOlder: the older websocket gets 4009, the newer (xhr) session stays
    let mut older = Ws::open(addr, "/replace", "r1").await;
    assert_eq!(older.cmd("login alice").await, "Ok(())");
    let newer = Xhr::open(addr, "/replace", "r2").await;
    assert_eq!(newer.cmd("login alice").await, "Ok(())");
    assert_eq!(
        older.closed().await,
        (4009, "Replaced by a newer session".into())
    );
    assert_eq!(newer.cmd("user").await, "Some(\"alice\")");

    // RefuseNewer: the newer session gets 4008, the older one stays
    let mut first = Ws::open(addr, "/refuse", "f1").await;
    assert_eq!(first.cmd("login bob").await, "Ok(())");
    let mut second = Ws::open(addr, "/refuse", "f2").await;
    second.send("login bob").await;
    assert_eq!(second.closed().await, (4008, "Already connected".into()));
    assert_eq!(first.cmd("user").await, "Some(\"bob\")");

    // Allow (the default): both stay
    let mut one = Ws::open(addr, "/allow", "a1").await;
    let mut two = Ws::open(addr, "/allow", "a2").await;
    assert_eq!(one.cmd("login carol").await, "Ok(())");
    assert_eq!(two.cmd("login carol").await, "Ok(())");
    let mut p: Vec<(String, usize)> = hub
        .presence()
        .iter()
        .map(|(u, n)| (u.to_string(), n))
        .collect();
    p.sort();
    assert_eq!(
        p,
        [("alice".into(), 1), ("bob".into(), 1), ("carol".into(), 2)]
    );
}

//! Every transport over HTTP/2 with prior knowledge (h2c), with hyper's HTTP/2 client on one
//! TCP connection per test: streaming and polling receivers, sends while a stream is open,
//! the response limit, many sessions multiplexed on one connection, heartbeats, aborted
//! streams, and websockets as RFC 8441 extended `CONNECT`.
//!
//! The server answers HTTP/2 on the same port as HTTP/1.1 (the conformance server's `auto`
//! connection builder). hyper's client refuses a response carrying a header that is illegal in
//! HTTP/2 (`Connection`, `Transfer-Encoding`, ...), so every answer read here also shows that
//! none was sent. Reads are bounded (`common::TIMEOUT`); nothing is timed.
mod common;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use common::h2::{open_xhr_streaming, ws_next, ws_over_h2, Stream, H2};
use common::{session, session_id, xhr_streaming_prelude};
use futures::SinkExt;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn greeting_info_and_iframe_over_h2() {
    let h2 = H2::to_server().await;
    let (status, content_type, body) = h2.fetch(Method::GET, "/echo", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; charset=UTF-8");
    assert_eq!(body, "Welcome to SockJS!\n");

    let (status, content_type, body) = h2.fetch(Method::GET, "/echo/info", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/json; charset=UTF-8");
    let info: serde_json::Value = serde_json::from_str(&body).expect("info is JSON");
    assert_eq!(info["websocket"], true, "{body}");

    let (status, content_type, body) = h2.fetch(Method::GET, "/echo/iframe.html", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/html; charset=UTF-8");
    assert!(body.contains("SockJS"), "{body}");

    let (status, _, _) = h2.fetch(Method::OPTIONS, "/echo/info", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn xhr_streaming_receives_what_is_sent_on_the_same_connection() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let (mut stream, open) = open_xhr_streaming(&h2, &url).await;
    assert_eq!(open, "o\n");
    // The stream stays open while sends travel as other streams of the same connection.
    for i in 0..5 {
        let message = format!("message {i}");
        h2.xhr_send(&url, &[&message]).await;
        assert_eq!(stream.line().await, format!("a[\"{message}\"]\n"));
    }
    // A batch: its messages come back in order, in one frame or several.
    h2.xhr_send(&url, &["a", "b"]).await;
    let mut echoed = Vec::new();
    while echoed.len() < 2 {
        let line = stream.line().await;
        let messages: Vec<String> = line
            .strip_prefix('a')
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_else(|| panic!("not a message frame: {line:?}"));
        echoed.extend(messages);
    }
    assert_eq!(echoed, ["a", "b"]);
}

#[tokio::test]
async fn xhr_streaming_ends_at_the_response_limit_and_the_session_goes_on() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let (mut stream, open) = open_xhr_streaming(&h2, &url).await;
    assert_eq!(open, "o\n");
    // /echo's response limit is 4096 bytes: `o\n` and 31 frames of 132 bytes pass it.
    let message = "x".repeat(128);
    let frame = format!("a[\"{message}\"]\n");
    for i in 1..=31 {
        h2.xhr_send(&url, &[&message]).await;
        assert_eq!(stream.line().await, frame, "frame {i}");
    }
    assert!(
        stream.ends().await,
        "the response ends (END_STREAM) after the limit"
    );
    // The session lives on: the next stream gets the next message, not a new `o`.
    let resp = h2
        .request(Method::POST, &format!("{url}/xhr_streaming"), "")
        .await;
    let mut next = Stream::new(resp);
    assert_eq!(next.line().await, xhr_streaming_prelude());
    h2.xhr_send(&url, &["after the limit"]).await;
    assert_eq!(next.line().await, "a[\"after the limit\"]\n");
}

#[tokio::test]
async fn xhr_polling_over_h2() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let (status, content_type, body) = h2.fetch(Method::POST, &format!("{url}/xhr"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/javascript; charset=UTF-8");
    assert_eq!(body, "o\n");
    // A poll held open while the message is sent on another stream.
    let poll = {
        let h2 = h2.clone();
        let url = url.clone();
        tokio::spawn(async move { h2.fetch(Method::POST, &format!("{url}/xhr"), "").await })
    };
    h2.xhr_send(&url, &["polled"]).await;
    let (status, _, body) = poll.await.expect("poll task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "a[\"polled\"]\n");
    // Errors of the send side keep their protocol answers.
    let (status, _, body) = h2.fetch(Method::POST, &format!("{url}/xhr_send"), "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.")
    );
    let (status, _, _) = h2
        .fetch(
            Method::POST,
            &format!("{}/xhr_send", session("/echo")),
            "[\"x\"]",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "send to an unknown session");
}

#[tokio::test]
async fn eventsource_over_h2() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let resp = h2
        .request(Method::GET, &format!("{url}/eventsource"), "")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = Stream::new(resp);
    assert_eq!(
        stream.until(b"\r\n").await.as_deref(),
        Some("\r\n"),
        "prelude"
    );
    assert_eq!(stream.event().await, "data: o\r\n\r\n");
    h2.xhr_send(&url, &["es"]).await;
    assert_eq!(stream.event().await, "data: a[\"es\"]\r\n\r\n");
}

#[tokio::test]
async fn htmlfile_over_h2() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let resp = h2
        .request(Method::GET, &format!("{url}/htmlfile?c=%63allback"), "")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=UTF-8");
    let mut stream = Stream::new(resp);
    let opening = stream
        .until(b"<script>\np(\"o\");\n</script>\r\n")
        .await
        .expect("the page, then the open frame");
    assert!(opening.contains("var c = parent.callback;"), "{opening}");
    assert!(opening.len() > 1024, "the page is padded past 1 KiB");
    h2.xhr_send(&url, &["hf"]).await;
    assert_eq!(
        stream.until(b"\r\n").await.as_deref(),
        Some("<script>\np(\"a[\\\"hf\\\"]\");\n</script>\r\n")
    );
}

#[tokio::test]
async fn jsonp_over_h2() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let (status, content_type, body) = h2
        .fetch(Method::GET, &format!("{url}/jsonp?c=cb"), "")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/javascript; charset=UTF-8");
    assert_eq!(body, "/**/cb(\"o\");\r\n");
    let req = Request::builder()
        .method(Method::POST)
        .uri(h2.uri(&format!("{url}/jsonp_send")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(b"d=%5B%22jp%22%5D")))
        .expect("request");
    let resp = h2.send_request(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let ok = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&ok[..], b"ok");
    let (_, _, body) = h2
        .fetch(Method::GET, &format!("{url}/jsonp?c=cb"), "")
        .await;
    assert_eq!(body, "/**/cb(\"a[\\\"jp\\\"]\");\r\n");
}

#[tokio::test]
async fn many_sessions_share_one_connection() {
    const SESSIONS: usize = 40;
    let h2 = H2::to_server().await;
    let urls: Vec<String> = (0..SESSIONS).map(|_| session("/echo")).collect();
    // Every session's stream open at once on the one connection.
    let mut streams = Vec::new();
    for url in &urls {
        let (stream, open) = open_xhr_streaming(&h2, url).await;
        assert_eq!(open, "o\n");
        streams.push(stream);
    }
    // Sends to all of them in flight together, each answered on its own stream.
    let sends = futures::future::join_all(urls.iter().enumerate().map(|(i, url)| {
        let h2 = h2.clone();
        async move { h2.xhr_send(url, &[&format!("to {i}")]).await }
    }));
    sends.await;
    for (i, stream) in streams.iter_mut().enumerate() {
        assert_eq!(
            stream.line().await,
            format!("a[\"to {i}\"]\n"),
            "session {i}"
        );
    }
    // A second receiver on a session that has one is refused on its own stream.
    let resp = h2
        .request(Method::POST, &format!("{}/xhr_streaming", urls[0]), "")
        .await;
    let mut second = Stream::new(resp);
    assert_eq!(second.line().await, xhr_streaming_prelude());
    assert_eq!(
        second.line().await,
        "c[2010,\"Another connection still open\"]\n"
    );
    assert!(second.ends().await);
}

#[tokio::test]
async fn an_aborted_stream_interrupts_its_session() {
    let h2 = H2::to_server().await;
    let url = session("/echo");
    let (stream, open) = open_xhr_streaming(&h2, &url).await;
    assert_eq!(open, "o\n");
    // Dropping the body resets the stream (RST_STREAM), the HTTP/2 way of going away.
    drop(stream);
    // Until the server has seen the reset it answers 2010 (another receiver is attached):
    // then try again, a bounded number of times.
    for _ in 0..50 {
        let resp = h2
            .request(Method::POST, &format!("{url}/xhr_streaming"), "")
            .await;
        let mut next = Stream::new(resp);
        assert_eq!(next.line().await, xhr_streaming_prelude());
        let frame = next.line().await;
        if frame == "c[2010,\"Another connection still open\"]\n" {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert!(
            frame == "c[1002,\"Connection interrupted\"]\n" || frame == "o\n",
            "after an aborted stream: {frame:?}"
        );
        return;
    }
    panic!("the server never noticed the reset stream (still 2010)");
}

#[tokio::test]
async fn close_endpoint_over_h2() {
    let h2 = H2::to_server().await;
    let url = session("/close");
    let (mut stream, open) = open_xhr_streaming(&h2, &url).await;
    assert_eq!(open, "o\n");
    assert_eq!(stream.line().await, "c[3000,\"Go away!\"]\n");
    assert!(stream.ends().await);
}

#[tokio::test]
async fn websocket_over_h2_extended_connect() {
    let h2 = H2::to_server().await;
    let mut ws = ws_over_h2(&h2, &format!("{}/websocket", session("/echo"))).await;
    assert_eq!(ws_next(&mut ws).await, Message::text("o"));
    ws.send(Message::text("[\"over h2\"]")).await.expect("send");
    assert_eq!(ws_next(&mut ws).await, Message::text("a[\"over h2\"]"));
    // Several websockets and an HTTP stream on the same connection.
    let mut other = ws_over_h2(&h2, &format!("{}/websocket", session("/echo"))).await;
    assert_eq!(ws_next(&mut other).await, Message::text("o"));
    other.send(Message::text("\"two\"")).await.expect("send");
    assert_eq!(ws_next(&mut other).await, Message::text("a[\"two\"]"));
    ws.send(Message::text("[\"one\"]")).await.expect("send");
    assert_eq!(ws_next(&mut ws).await, Message::text("a[\"one\"]"));
    let (status, _, _) = h2.fetch(Method::GET, "/echo/info", "").await;
    assert_eq!(status, StatusCode::OK);

    // The server's close: a close frame, then the websocket close.
    let mut closing = ws_over_h2(&h2, &format!("{}/websocket", session("/close"))).await;
    assert_eq!(ws_next(&mut closing).await, Message::text("o"));
    assert_eq!(
        ws_next(&mut closing).await,
        Message::text("c[3000,\"Go away!\"]")
    );

    // The raw endpoint too.
    let mut raw = ws_over_h2(&h2, "/echo/websocket").await;
    raw.send(Message::text("plain")).await.expect("send");
    assert_eq!(ws_next(&mut raw).await, Message::text("plain"));
}

#[tokio::test]
async fn extended_connect_refuses_other_protocols_and_versions() {
    let h2 = H2::to_server().await;
    let _ = h2.fetch(Method::GET, "/echo", "").await;
    let path = format!("{}/websocket", session("/echo"));
    let connect = |protocol: &'static str, version: &'static str| {
        let mut req = Request::builder()
            .method(Method::CONNECT)
            .uri(h2.uri(&path))
            .header("sec-websocket-version", version)
            .body(Full::new(Bytes::new()))
            .expect("request");
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static(protocol));
        req
    };
    let resp = h2.send_request(connect("not-websocket", "13")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = h2.send_request(connect("websocket", "8")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["sec-websocket-version"], "13");
    // A plain GET to the websocket URL over HTTP/2 is no handshake.
    let (status, _, _) = h2.fetch(Method::GET, &path, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A second in-process server with 300 ms heartbeats (see `heartbeat.rs`).
fn heartbeat_server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        sockjs_protocol_tests::spawn_background(sockjs_protocol_tests::ServerOptions {
            heartbeat: Duration::from_millis(300),
            ..Default::default()
        })
        .to_string()
    })
}

#[tokio::test]
async fn heartbeats_reach_idle_streams_over_h2() {
    let h2 = H2::connect(heartbeat_server()).await;
    let id = session_id();
    let url = format!("/echo/000/{id}");
    let uri = |t: &str| h2.uri(&format!("{url}/{t}"));
    let resp = h2
        .send_request(
            Request::post(uri("xhr_streaming"))
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await;
    let mut stream = Stream::new(resp);
    assert_eq!(stream.line().await, xhr_streaming_prelude());
    assert_eq!(stream.line().await, "o\n");
    for i in 1..=2 {
        assert_eq!(
            stream.line().await,
            "h\n",
            "heartbeat #{i} on xhr_streaming"
        );
    }
    drop(stream);

    let es = h2
        .send_request(
            Request::get(h2.uri(&format!("/echo/000/{}/eventsource", session_id())))
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await;
    let mut es = Stream::new(es);
    assert_eq!(es.until(b"\r\n").await.as_deref(), Some("\r\n"));
    assert_eq!(es.event().await, "data: o\r\n\r\n");
    assert_eq!(
        es.event().await,
        "data: h\r\n\r\n",
        "heartbeat on eventsource"
    );

    // An idle poll is answered with a heartbeat.
    let poll_url = h2.uri(&format!("/echo/000/{}/xhr", session_id()));
    let poll = |uri: String| {
        Request::post(uri)
            .body(Full::new(Bytes::new()))
            .expect("request")
    };
    let opened = h2.send_request(poll(poll_url.clone())).await;
    let body = opened.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"o\n");
    let idle = h2.send_request(poll(poll_url)).await;
    let body = idle.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"h\n");
}

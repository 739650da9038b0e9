//! `xhr_send` / `jsonp_send` limits and guarantees, driven in memory on tokio's paused clock:
//! the send permit and the byte budgets are taken before a byte of the body is read, the body
//! must arrive within `body_read_timeout`, and a send answers success only when the
//! application has taken every one of its messages (410 and a count of lost messages when the
//! session closes first).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::StreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use sockjs_hyper::{Config, Connection, ResponseBody, SockJs};
use tokio::sync::{mpsc, oneshot};

type FedBody = StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// A request body the test writes by hand, and whether the server has read from it.
struct Feed {
    tx: UnboundedSender<Result<Frame<Bytes>, Infallible>>,
    polled: Arc<AtomicBool>,
}

impl Feed {
    fn send(&self, bytes: &[u8]) {
        self.tx
            .unbounded_send(Ok(Frame::data(Bytes::copy_from_slice(bytes))))
            .unwrap();
    }

    fn was_read(&self) -> bool {
        self.polled.load(Ordering::SeqCst)
    }
}

/// A POST whose body arrives only as the test feeds it (`content_length` declared or chunked).
fn fed(uri: &str, content_length: Option<usize>) -> (Request<FedBody>, Feed) {
    let (tx, mut rx) = unbounded();
    let polled = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&polled);
    let stream = futures::stream::poll_fn(move |cx| {
        seen.store(true, Ordering::SeqCst);
        rx.poll_next_unpin(cx)
    })
    .boxed();
    let mut b = Request::post(uri);
    if let Some(n) = content_length {
        b = b.header("content-length", n);
    }
    (
        b.body(StreamBody::new(stream)).unwrap(),
        Feed { tx, polled },
    )
}

fn post(uri: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(uri).body(Full::new(body.into())).unwrap()
}

async fn text(body: ResponseBody) -> String {
    String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// An application that never reads its messages (it keeps its connection).
fn never_reads(config: Config) -> SockJs {
    SockJs::new("/s", config, |conn: Connection| async move {
        let _keep = conn;
        std::future::pending::<()>().await;
    })
    .unwrap()
}

async fn open(sockjs: &SockJs, id: &str) {
    let r = sockjs.handle(post(&format!("/s/0/{id}/xhr"), "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
}

/// Let spawned requests run up to their next wait.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_send_takes_its_permit_before_reading_its_body() {
    let mut config = Config::default();
    config.max_sends_in_flight = 1;
    let sockjs = SockJs::new("/s", config, |mut conn: Connection| async move {
        while conn.recv().await.is_some() {}
    })
    .unwrap();
    open(&sockjs, "p").await;
    // A send whose body has not arrived yet holds the session's only permit...
    let (req, feed) = fed("/s/0/p/xhr_send", None);
    let first = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await.status() }
    });
    settle().await;
    assert!(feed.was_read(), "the first send is reading its body");
    // ... so a second one is refused at once.
    let r = sockjs.handle(post("/s/0/p/xhr_send", "[\"x\"]")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(r.into_body()).await, "Too many concurrent sends.");
    feed.send(b"[\"a\"]");
    drop(feed);
    assert_eq!(first.await.unwrap(), StatusCode::NO_CONTENT);
    assert_eq!(sockjs.stats().sends_refused, 1);
    // The permit is free again.
    let r = sockjs.handle(post("/s/0/p/xhr_send", "[\"y\"]")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(start_paused = true)]
async fn refused_sends_leave_their_bodies_unread() {
    let sockjs = never_reads(Config::default());
    let (req, feed) = fed("/s/0/nobody/xhr_send", Some(5));
    let r = sockjs.handle(req).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!feed.was_read(), "no body is read for an unknown session");

    let mut config = Config::default();
    config.max_request_body = 1000;
    config.max_message_size = 1000;
    config.max_send_bytes_per_session = 1000;
    config.max_send_bytes_per_endpoint = 2500;
    let sockjs = never_reads(config);
    open(&sockjs, "a").await;
    open(&sockjs, "b").await;
    open(&sockjs, "c").await;
    // 800 declared bytes are held for the first send of `a` before it reads any of them.
    let (req, held_a) = fed("/s/0/a/xhr_send", Some(800));
    let pending_a = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await.status() }
    });
    settle().await;
    // The session's budget has 200 bytes left: 300 more are refused unread.
    let (req, feed) = fed("/s/0/a/xhr_send", Some(300));
    let r = sockjs.handle(req).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(r.into_body()).await, "Too many bytes being sent.");
    assert!(!feed.was_read());
    // Another session has its own budget; the endpoint's (2500) is shared.
    let (req, held_b) = fed("/s/0/b/xhr_send", Some(1000));
    let pending_b = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await.status() }
    });
    settle().await;
    let (req, feed) = fed("/s/0/c/xhr_send", Some(800));
    let r = sockjs.handle(req).await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "endpoint budget"
    );
    assert!(!feed.was_read());
    // A body over max_request_body is 413, also unread.
    let (req, feed) = fed("/s/0/c/xhr_send", Some(1001));
    assert_eq!(
        sockjs.handle(req).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(!feed.was_read());
    assert_eq!(sockjs.stats().sends_refused, 2);
    // When a send ends its bytes are given back.
    drop(held_b); // (an in-memory body that ends early is just empty: "Payload expected.")
    assert_eq!(pending_b.await.unwrap(), StatusCode::INTERNAL_SERVER_ERROR);
    let (req, feed) = fed("/s/0/c/xhr_send", Some(7));
    let pending_c = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await.status() }
    });
    settle().await;
    assert!(feed.was_read());
    pending_a.abort();
    pending_c.abort();
    drop(held_a);
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_is_held_as_it_arrives() {
    let mut config = Config::default();
    config.max_request_body = 1000;
    config.max_message_size = 1000;
    config.max_send_bytes_per_session = 1000;
    let sockjs = never_reads(config);
    open(&sockjs, "k").await;
    let (req, first) = fed("/s/0/k/xhr_send", None);
    let pending = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await.status() }
    });
    first.send(&[b' '; 600]);
    settle().await;
    let (req, second) = fed("/s/0/k/xhr_send", None);
    let refused = tokio::spawn({
        let sockjs = sockjs.clone();
        async move { sockjs.handle(req).await }
    });
    second.send(&[b' '; 300]);
    second.send(&[b' '; 300]);
    let r = refused.await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A chunked body over max_request_body is 413 once it gets there.
    first.send(&[b' '; 401]);
    assert_eq!(pending.await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let mut config = Config::default();
    config.body_read_timeout = Duration::from_secs(3);
    let sockjs = SockJs::new("/s", config, |mut conn: Connection| async move {
        while conn.recv().await.is_some() {}
    })
    .unwrap();
    open(&sockjs, "t").await;
    for (uri, declared) in [("/s/0/t/xhr_send", Some(100)), ("/s/0/t/jsonp_send", None)] {
        let (req, feed) = fed(uri, declared);
        let pending = tokio::spawn({
            let sockjs = sockjs.clone();
            async move { sockjs.handle(req).await }
        });
        // A byte every second is progress, but the body never ends: it is cut off while the
        // client is still sending.
        for _ in 0..60 {
            feed.send(b" ");
            tokio::time::sleep(Duration::from_secs(1)).await;
            if pending.is_finished() {
                break;
            }
        }
        assert!(
            pending.is_finished(),
            "{uri}: still reading a trickling body"
        );
        let r = pending.await.unwrap();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT, "{uri}");
        assert_eq!(text(r.into_body()).await, "Request body timeout.");
        // A poll keeps the session from expiring meanwhile.
        let r = sockjs.handle(post("/s/0/t/xhr", "")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(sockjs.stats().send_timeouts, 2);
    // The timed-out sends gave their permits back.
    let r = sockjs
        .handle(post("/s/0/t/xhr_send", "[\"on time\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// An application that takes `first` messages, then stops reading until told to go on; it
/// reports everything it received once its connection ends.
fn takes_then_stalls(
    first: usize,
) -> (
    SockJs,
    oneshot::Sender<()>,
    mpsc::UnboundedReceiver<Vec<String>>,
) {
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go = std::sync::Mutex::new(Some(go_rx));
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/s", Config::default(), move |mut conn: Connection| {
        let go = go.lock().unwrap().take();
        let seen_tx = seen_tx.clone();
        async move {
            let mut seen = Vec::new();
            for _ in 0..first {
                seen.push(conn.recv().await.unwrap());
            }
            if let Some(go) = go {
                let _ = go.await;
            }
            while let Some(m) = conn.recv().await {
                seen.push(m);
            }
            let _ = seen_tx.send(seen);
        }
    })
    .unwrap();
    (sockjs, go_tx, seen_rx)
}

fn batch(n: usize) -> String {
    let messages: Vec<String> = (0..n).map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", messages.join(","))
}

#[tokio::test(start_paused = true)]
async fn a_send_whose_session_closes_first_is_not_a_success() {
    let (sockjs, go, mut seen) = takes_then_stalls(2);
    open(&sockjs, "x").await;
    // No receiver comes back: the session expires after the disconnect delay (5 s) while the
    // application still has 98 of the messages to take (64 of them in its queue).
    let r = sockjs.handle(post("/s/0/x/xhr_send", batch(100))).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(
        text(r.into_body()).await,
        "Session closed before the application received every message."
    );
    assert_eq!(sockjs.stats().messages_lost, 98);
    // The application never sees the withdrawn messages, even those already in its queue.
    go.send(()).unwrap();
    assert_eq!(seen.recv().await.unwrap(), ["0", "1"]);
}

#[tokio::test(start_paused = true)]
async fn a_jsonp_send_whose_session_closes_first_is_not_a_success() {
    let (sockjs, go, mut seen) = takes_then_stalls(3);
    open(&sockjs, "j").await;
    let form = format!(
        "d={}",
        form_urlencoded::byte_serialize(batch(10).as_bytes()).collect::<String>()
    );
    let r = sockjs
        .handle(
            Request::post("/s/0/j/jsonp_send")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(form)))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(sockjs.stats().messages_lost, 7);
    go.send(()).unwrap();
    assert_eq!(seen.recv().await.unwrap(), ["0", "1", "2"]);
}

#[tokio::test(start_paused = true)]
async fn a_send_to_a_closed_session_is_not_a_success() {
    let sockjs = SockJs::new("/s", Config::default(), |conn: Connection| async move {
        conn.close(3000, "Go away!");
        std::future::pending::<()>().await;
    })
    .unwrap();
    open(&sockjs, "c").await;
    let r = sockjs.handle(post("/s/0/c/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "c[3000,\"Go away!\"]\n");
    let r = sockjs
        .handle(post("/s/0/c/xhr_send", "[\"a\",\"b\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(sockjs.stats().messages_lost, 2);
    // An empty batch loses nothing and is still fine.
    let r = sockjs.handle(post("/s/0/c/xhr_send", "[]")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(start_paused = true)]
async fn a_send_the_application_took_in_full_is_a_success_even_if_the_session_then_closes() {
    let (sockjs, _go, _seen) = takes_then_stalls(5);
    open(&sockjs, "f").await;
    let r = sockjs.handle(post("/s/0/f/xhr_send", batch(5))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(10)).await; // the session expires
    assert_eq!(sockjs.session_count(), 0);
    assert_eq!(sockjs.stats().messages_lost, 0);
}

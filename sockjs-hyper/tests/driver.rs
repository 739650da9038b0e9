//! Driver scenarios: requests handed to the service in memory, on tokio's paused clock, so
//! heartbeats and expiry are checked without sleeping.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use sockjs_hyper::{
    CloseCause, Config, Connection, OverflowPolicy, ResponseBody, SendError, SockJs,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    Request::get(uri).body(Empty::new()).unwrap()
}

async fn text(body: ResponseBody) -> String {
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn next_chunk(body: &mut ResponseBody) -> Option<String> {
    let frame = body.frame().await?.unwrap();
    Some(String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap())
}

async fn echo(mut conn: Connection) {
    while let Some(m) = conn.recv().await {
        if conn.send(m).await.is_err() {
            break;
        }
    }
}

fn echo_endpoint(config: Config) -> SockJs {
    SockJs::new("/echo", config, echo).unwrap()
}

#[tokio::test(start_paused = true)]
async fn streaming_heartbeat_every_interval() {
    let sockjs = echo_endpoint(Config::default());
    let resp = sockjs.handle(post("/echo/0/hb/xhr_streaming", "")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    assert_eq!(next_chunk(&mut body).await.unwrap().len(), 2049, "prelude");
    assert_eq!(next_chunk(&mut body).await.as_deref(), Some("o\n"));
    let start = Instant::now();
    for i in 1..=3 {
        assert_eq!(next_chunk(&mut body).await.as_deref(), Some("h\n"));
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(25 * i),
            "heartbeat {i}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn configurable_heartbeat_ends_an_idle_poll() {
    let mut config = Config::default();
    config.heartbeat_interval = Duration::from_secs(5);
    let sockjs = echo_endpoint(config);
    let r = sockjs.handle(post("/echo/0/poll/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let start = Instant::now();
    let r = sockjs.handle(post("/echo/0/poll/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "h\n");
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn session_expires_after_the_disconnect_delay() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/e", Config::default(), move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            while conn.recv().await.is_some() {}
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let r = sockjs.handle(post("/e/0/exp/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    assert_eq!(sockjs.session_count(), 1);
    tokio::time::sleep(Duration::from_millis(4900)).await;
    let r = sockjs
        .handle(post("/e/0/exp/xhr_send", "[\"still here\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = sockjs
        .handle(post("/e/0/exp/xhr_send", "[\"too late\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(rx.recv().await, Some(Some(CloseCause::TimedOut)));
    assert_eq!(
        sockjs.session_count(),
        0,
        "the registry forgets expired sessions"
    );
    // the id can be used again for a new session
    let r = sockjs.handle(post("/e/0/exp/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
}

#[tokio::test(start_paused = true)]
async fn aborted_receiver_is_reported_as_interrupted() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/e", Config::default(), move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            while conn.recv().await.is_some() {}
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let resp = sockjs.handle(post("/e/0/ab/xhr_streaming", "")).await;
    let mut body = resp.into_body();
    next_chunk(&mut body).await;
    assert_eq!(next_chunk(&mut body).await.as_deref(), Some("o\n"));
    drop(body); // the client went away
    assert_eq!(rx.recv().await, Some(Some(CloseCause::Interrupted)));
    let r = sockjs.handle(post("/e/0/ab/xhr", "")).await;
    assert_eq!(
        text(r.into_body()).await,
        "c[1002,\"Connection interrupted\"]\n"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_connection_closes_the_session_normally() {
    let sockjs = SockJs::new("/e", Config::default(), |_conn: Connection| async {}).unwrap();
    let r = sockjs.handle(post("/e/0/drop/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    tokio::task::yield_now().await;
    let r = sockjs.handle(post("/e/0/drop/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "c[1000,\"Normal closure\"]\n");
}

#[tokio::test(start_paused = true)]
async fn application_close_code_reaches_every_transport_framing() {
    let sockjs = SockJs::new("/e", Config::default(), |conn: Connection| async move {
        conn.close(4001, "kicked \"out\"");
    })
    .unwrap();
    let r = sockjs.handle(get("/e/0/k/jsonp?c=cb")).await;
    assert_eq!(text(r.into_body()).await, "/**/cb(\"o\");\r\n");
    let r = sockjs.handle(get("/e/0/k/jsonp?c=cb")).await;
    assert_eq!(
        text(r.into_body()).await,
        "/**/cb(\"c[4001,\\\"kicked \\\\\\\"out\\\\\\\"\\\"]\");\r\n"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_application_holds_xhr_send_instead_of_buffering() {
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let go = std::sync::Mutex::new(Some(go_rx));
    let mut config = Config::default();
    config.max_inbound_queue = 2;
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/e", config, move |mut conn: Connection| {
        let go = go.lock().unwrap().take();
        let seen_tx = seen_tx.clone();
        async move {
            if let Some(go) = go {
                let _ = go.await;
            }
            while let Some(m) = conn.recv().await {
                let _ = seen_tx.send(m);
            }
        }
    })
    .unwrap();
    let r = sockjs.handle(post("/e/0/bp/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let send = sockjs.handle(post("/e/0/bp/xhr_send", "[\"1\",\"2\",\"3\",\"4\",\"5\"]"));
    tokio::pin!(send);
    // the application is not reading: the request waits (bounded queue), it does not finish
    // (within the disconnect delay: once the session expires the send fails, see
    // `a_send_whose_session_closes_first_is_not_a_success`)
    assert!(tokio::time::timeout(Duration::from_secs(4), &mut send)
        .await
        .is_err());
    go_tx.send(()).unwrap();
    let r = send.await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(seen_rx.recv().await.unwrap());
    }
    assert_eq!(got, ["1", "2", "3", "4", "5"], "nothing lost, in order");
}

#[tokio::test(start_paused = true)]
async fn overflow_policy_fail_reports_a_full_queue() {
    let mut config = Config::default();
    config.max_queued_messages = 3;
    config.overflow_policy = OverflowPolicy::Fail;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/e", config, move |conn: Connection| {
        let tx = tx.clone();
        async move {
            let mut results = Vec::new();
            for i in 0..5 {
                results.push(conn.send(format!("m{i}")).await);
            }
            let _ = tx.send(results);
            std::future::pending::<()>().await;
        }
    })
    .unwrap();
    let r = sockjs.handle(post("/e/0/of/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let results = rx.recv().await.unwrap();
    assert_eq!(
        results,
        [
            Ok(()),
            Ok(()),
            Ok(()),
            Err(SendError::Full),
            Err(SendError::Full)
        ]
    );
    let r = sockjs.handle(post("/e/0/of/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "a[\"m0\",\"m1\",\"m2\"]\n");
}

#[tokio::test(start_paused = true)]
async fn overflow_policy_wait_resumes_when_the_client_drains() {
    let mut config = Config::default();
    config.max_queued_messages = 2;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/e", config, move |conn: Connection| {
        let tx = tx.clone();
        async move {
            for i in 0..6 {
                conn.send(format!("m{i}")).await.unwrap();
            }
            let _ = tx.send("all sent");
            std::future::pending::<()>().await;
        }
    })
    .unwrap();
    let mut received = Vec::new();
    while received.len() < 7 {
        let r = sockjs.handle(post("/e/0/w/xhr", "")).await;
        received.push(text(r.into_body()).await);
    }
    assert_eq!(
        received,
        [
            "o\n",
            "a[\"m0\",\"m1\"]\n",
            "a[\"m2\",\"m3\"]\n",
            "a[\"m4\",\"m5\"]\n",
            "h\n",
            "h\n",
            "h\n"
        ]
    );
    assert_eq!(rx.recv().await, Some("all sent"));
}

#[tokio::test(start_paused = true)]
async fn requests_outside_the_prefix_are_not_ours() {
    let sockjs = echo_endpoint(Config::default());
    assert!(!sockjs.matches("/echoes/info"));
    let r = sockjs.handle(get("/other")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = sockjs.handle(get("/echo")).await;
    assert_eq!(text(r.into_body()).await, "Welcome to SockJS!\n");
}

#[tokio::test(start_paused = true)]
async fn disabled_transports_answer_404_and_info_follows_websocket() {
    let mut config = Config::default();
    config.transports = config
        .transports
        .without(sockjs_hyper::Transport::XhrStreaming);
    config.websocket = false;
    let sockjs = echo_endpoint(config);
    let r = sockjs.handle(post("/echo/0/d/xhr_streaming", "")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = sockjs.handle(get("/echo/websocket")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = sockjs.handle(get("/echo/info")).await;
    assert!(text(r.into_body()).await.contains("\"websocket\":false"));
    let r = sockjs.handle(post("/echo/0/d/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
}

#[tokio::test(start_paused = true)]
async fn session_limit_refuses_new_sessions() {
    let mut config = Config::default();
    config.max_sessions = 2;
    let sockjs = echo_endpoint(config);
    for id in ["a", "b"] {
        let r = sockjs.handle(post(&format!("/echo/0/{id}/xhr"), "")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = sockjs.handle(post("/echo/0/c/xhr", "")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // an existing session is still served at the limit
    let r = sockjs.handle(post("/echo/0/a/xhr_send", "[\"x\"]")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_shorter_than_the_disconnect_delay_is_on_time() {
    // Regression: attaching a receiver must re-arm the timer, which was sleeping towards the
    // (later) expiry deadline of the session between two polls.
    let mut config = Config::default();
    config.heartbeat_interval = Duration::from_secs(1);
    let sockjs = echo_endpoint(config);
    let r = sockjs.handle(post("/echo/0/hb1/xhr", "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    for _ in 0..3 {
        let start = Instant::now();
        let r = sockjs.handle(post("/echo/0/hb1/xhr", "")).await;
        assert_eq!(text(r.into_body()).await, "h\n");
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}

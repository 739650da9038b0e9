//! The application API: Stream/Sink connections, split halves, user identity, broadcast,
//! statistics and graceful shutdown — driven in memory on tokio's paused clock.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use sockjs_hyper::{CloseCause, Config, Connection, ResponseBody, SockJs};
use tokio::sync::mpsc;

fn post(uri: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(uri)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn text(body: ResponseBody) -> String {
    String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

async fn poll(sockjs: &SockJs, id: &str) -> String {
    let r = sockjs.handle(post(&format!("/s/0/{id}/xhr"), "")).await;
    text(r.into_body()).await
}

async fn send(sockjs: &SockJs, id: &str, body: &'static str) -> StatusCode {
    sockjs
        .handle(post(&format!("/s/0/{id}/xhr_send"), body))
        .await
        .status()
}

#[tokio::test(start_paused = true)]
async fn connection_is_a_stream_and_a_sink() {
    let sockjs = SockJs::new("/s", Config::default(), |mut conn: Connection| async move {
        while let Some(m) = conn.next().await {
            if conn.send(m.to_uppercase()).await.is_err() {
                break;
            }
        }
    })
    .unwrap();
    assert_eq!(poll(&sockjs, "a").await, "o\n");
    assert_eq!(
        send(&sockjs, "a", "[\"x\",\"y\"]").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(poll(&sockjs, "a").await, "a[\"X\",\"Y\"]\n");
}

#[tokio::test(start_paused = true)]
async fn split_halves_work_in_different_tasks() {
    let sockjs = SockJs::new("/s", Config::default(), |conn: Connection| async move {
        let (mut reader, mut writer) = conn.split();
        let (tx, mut rx) = mpsc::channel::<String>(8);
        let write_task = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                // the writer half as a futures Sink
                if SinkExt::send(&mut writer, format!("echo:{m}"))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        while let Some(m) = reader.recv().await {
            let _ = tx.send(m).await;
        }
        drop(tx);
        let _ = write_task.await;
    })
    .unwrap();
    assert_eq!(poll(&sockjs, "b").await, "o\n");
    assert_eq!(send(&sockjs, "b", "[\"1\"]").await, StatusCode::NO_CONTENT);
    assert_eq!(poll(&sockjs, "b").await, "a[\"echo:1\"]\n");
}

#[tokio::test(start_paused = true)]
async fn broadcast_reaches_every_open_session_and_skips_full_ones() {
    let mut config = Config::default();
    config.max_queued_messages = 1;
    let sockjs = SockJs::new("/s", config, |mut conn: Connection| async move {
        while conn.recv().await.is_some() {}
    })
    .unwrap();
    for id in ["a", "b", "c"] {
        assert_eq!(poll(&sockjs, id).await, "o\n");
    }
    let report = sockjs.broadcast("hello").unwrap();
    assert_eq!((report.sent, report.full, report.closed), (3, 0, 0));
    // "c" does not come back to drain its queue: the next broadcast skips it
    assert_eq!(poll(&sockjs, "a").await, "a[\"hello\"]\n");
    assert_eq!(poll(&sockjs, "b").await, "a[\"hello\"]\n");
    let report = sockjs.broadcast("again").unwrap();
    assert_eq!((report.sent, report.full), (2, 1));
    assert_eq!(poll(&sockjs, "a").await, "a[\"again\"]\n");
    assert_eq!(poll(&sockjs, "c").await, "a[\"hello\"]\n");
}

#[tokio::test(start_paused = true)]
async fn sessions_can_be_found_by_user_and_kicked() {
    let sockjs = SockJs::new("/s", Config::default(), |mut conn: Connection| async move {
        // the first message names the user
        if let Some(name) = conn.recv().await {
            conn.set_user(Some(&name));
        }
        while conn.recv().await.is_some() {}
    })
    .unwrap();
    for (id, name) in [
        ("a", "[\"alice\"]"),
        ("b", "[\"bob\"]"),
        ("c", "[\"alice\"]"),
    ] {
        assert_eq!(poll(&sockjs, id).await, "o\n");
        assert_eq!(send(&sockjs, id, name).await, StatusCode::NO_CONTENT);
    }
    tokio::task::yield_now().await;
    assert_eq!(sockjs.session_count(), 3);
    assert_eq!(sockjs.sessions().len(), 3);
    let alice = sockjs.sessions_of("alice");
    assert_eq!(alice.len(), 2);
    for s in &alice {
        assert!(s.close(4001, "kicked"));
    }
    assert_eq!(poll(&sockjs, "a").await, "c[4001,\"kicked\"]\n");
    assert_eq!(poll(&sockjs, "c").await, "c[4001,\"kicked\"]\n");
    assert_eq!(sockjs.sessions_of("bob").len(), 1);
    assert!(sockjs.sessions_of("carol").is_empty());
}

#[tokio::test(start_paused = true)]
async fn stats_count_sessions_causes_and_traffic() {
    let sockjs = SockJs::new("/s", Config::default(), |mut conn: Connection| async move {
        while let Some(m) = conn.recv().await {
            if m == "bye" {
                conn.close(3000, "bye");
            } else {
                let _ = conn.send(m).await;
            }
        }
    })
    .unwrap();
    assert_eq!(poll(&sockjs, "a").await, "o\n");
    assert_eq!(poll(&sockjs, "b").await, "o\n");
    assert_eq!(
        send(&sockjs, "a", "[\"abc\",\"bye\"]").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(poll(&sockjs, "a").await, "a[\"abc\"]\n");
    let stats = sockjs.stats();
    assert!(stats.sessions_open.contains(&("xhr", 2)));
    assert!(stats.sessions_opened.contains(&("xhr", 2)));
    assert_eq!((stats.messages_in, stats.bytes_in), (2, 6));
    assert_eq!((stats.messages_out, stats.bytes_out), (1, 5));
    // both sessions expire (no receiver for the disconnect delay)
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stats = sockjs.stats();
    assert!(stats.sessions_open.iter().all(|(_, n)| *n == 0));
    assert!(stats.sessions_closed.contains(&("server", 1)));
    assert!(stats.sessions_closed.contains(&("timeout", 1)));
    assert_eq!(stats.messages_in, 2, "totals survive the sessions");
    let prom = stats.to_prometheus("/s");
    assert!(prom.contains("sockjs_sessions_closed_total{endpoint=\"/s\",cause=\"server\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_sessions_with_1001_and_refuses_new_ones() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/s", Config::default(), move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            while conn.recv().await.is_some() {}
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    assert_eq!(poll(&sockjs, "a").await, "o\n");
    // a receiver parked on the session gets the close frame
    let parked = {
        let sockjs = sockjs.clone();
        tokio::spawn(async move { poll(&sockjs, "a").await })
    };
    tokio::task::yield_now().await;
    let done = {
        let sockjs = sockjs.clone();
        tokio::spawn(async move { sockjs.shutdown(Duration::from_secs(30)).await })
    };
    assert_eq!(parked.await.unwrap(), "c[1001,\"Server shutting down\"]\n");
    assert_eq!(rx.recv().await, Some(Some(CloseCause::Shutdown)));
    let r = sockjs.handle(post("/s/0/new/xhr", "")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        done.await.unwrap(),
        "every session ended before the deadline"
    );
    assert_eq!(sockjs.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_application_never_sees_the_session_id() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sockjs = SockJs::new("/s", Config::default(), move |conn: Connection| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(format!("{:?}", conn.request()));
        }
    })
    .unwrap();
    let r = sockjs
        .handle(post("/s/123/secret-session-id/xhr?x=1", ""))
        .await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let seen = rx.recv().await.unwrap();
    assert!(!seen.contains("secret-session-id"), "{seen}");
    assert!(seen.contains("/s?x=1"), "{seen}");
}

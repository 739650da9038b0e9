//! Uploads over TCP against endpoints this file serves itself (short timeouts, applications
//! that do not read): send bodies are bounded in time, and a send is never answered 204 for
//! messages the application did not take.
//!
//! (The memory bounds of uploads are measured in `upload_memory.rs`.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{echo_app, never_reads, Request};
use sockjs_hyper::{Config, Connection, SockJs};
use sockjs_protocol_tests::spawn_endpoints;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serve `endpoint` on a loopback port; its `host:port`.
fn serve(endpoint: &SockJs) -> String {
    spawn_endpoints(vec![endpoint.clone()]).to_string()
}

async fn open_session(host: &str, session: &str) {
    let r = Request::to_host(host, "POST", &format!("{session}/xhr"))
        .send()
        .await;
    assert_eq!(r.text(), "o\n", "{session}: {r:?}");
}

/// `[ "0", "1", ... ]` with `n` messages.
fn batch(n: usize) -> String {
    let messages: Vec<String> = (0..n).map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", messages.join(","))
}

/// Upload a body that declares `declared` bytes and sends one every `every`, never finishing;
/// returns what the server answered (and whether it then closed the connection).
async fn trickle(host: String, path: String, declared: usize, every: Duration) -> (String, bool) {
    let stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n\r\n");
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        // Give up after a minute at most: the test bounds itself, never the server.
        for _ in 0..(60_000 / every.as_millis().max(1)) {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut answer)).await;
    writer.abort();
    let closed = matches!(read, Ok(Ok(_)) | Ok(Err(_)));
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

#[tokio::test]
async fn trickling_send_bodies_are_cut_off_after_the_body_read_timeout() {
    const UPLOADS: usize = 20;
    let mut config = Config::default();
    config.body_read_timeout = Duration::from_secs(1);
    let endpoint = SockJs::new("/t", config, echo_app).unwrap();
    let host = serve(&endpoint);
    for i in 0..UPLOADS {
        open_session(&host, &format!("/t/0/t{i}")).await;
    }
    // One byte short of 256 KiB declared, one byte sent every 100 ms: progress, but the body
    // would take 7 hours.
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let path = if i % 2 == 0 {
                format!("/t/0/t{i}/xhr_send")
            } else {
                format!("/t/0/t{i}/jsonp_send")
            };
            tokio::spawn(trickle(
                host.clone(),
                path,
                256 * 1024 - 1,
                Duration::from_millis(100),
            ))
        })
        .collect();
    for upload in uploads {
        let (answer, closed) = upload.await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408 "),
            "a trickling body gets 408: {answer:?}"
        );
        assert!(answer.ends_with("Request body timeout."), "{answer:?}");
        assert!(closed, "the server closes the connection after the 408");
    }
    assert_eq!(endpoint.stats().send_timeouts, UPLOADS as u64);
    // The server still serves, and those sessions can still send.
    let r = Request::to_host(&host, "POST", "/t/0/t0/xhr_send")
        .body("[\"after\"]")
        .send()
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

#[tokio::test]
async fn a_send_the_application_never_took_is_not_answered_204() {
    let mut config = Config::default();
    config.disconnect_delay = Duration::from_secs(1);
    let endpoint = SockJs::new("/n", config, never_reads).unwrap();
    let host = serve(&endpoint);

    // No receiving request comes back: the session expires after the disconnect delay, with
    // all of the batch's messages still waiting for the application.
    open_session(&host, "/n/0/x").await;
    let r = Request::to_host(&host, "POST", "/n/0/x/xhr_send")
        .body(batch(10_000))
        .send()
        .await;
    assert_eq!(r.status, 410, "xhr_send must not claim success: {r:?}");
    assert_eq!(
        r.text(),
        "Session closed before the application received every message."
    );
    assert_eq!(endpoint.stats().messages_lost, 10_000);

    open_session(&host, "/n/0/j").await;
    let form = format!(
        "d={}",
        form_urlencoded::byte_serialize(batch(500).as_bytes()).collect::<String>()
    );
    let r = Request::to_host(&host, "POST", "/n/0/j/jsonp_send")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await;
    assert_eq!(r.status, 410, "jsonp_send must not claim success: {r:?}");
    assert_eq!(endpoint.stats().messages_lost, 10_500);
}

#[tokio::test]
async fn an_echo_blocked_on_its_outbound_queue_loses_exactly_what_it_did_not_take() {
    // The case: an echo application takes messages until its outbound queue (4096
    // messages) is full and nobody polls; then the session expires.
    let mut config = Config::default();
    config.disconnect_delay = Duration::from_secs(1);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = SockJs::new("/q", config, move |mut conn: Connection| {
        let done_tx = done_tx.clone();
        async move {
            let taken = Arc::new(AtomicUsize::new(0));
            while let Some(m) = conn.recv().await {
                taken.fetch_add(1, Ordering::Relaxed);
                if conn.send(m).await.is_err() {
                    break;
                }
            }
            drop(conn);
            let _ = done_tx.send(taken.load(Ordering::Relaxed));
        }
    })
    .unwrap();
    let host = serve(&endpoint);
    open_session(&host, "/q/0/e").await;
    let r = Request::to_host(&host, "POST", "/q/0/e/xhr_send")
        .body(batch(10_000))
        .send()
        .await;
    assert_eq!(r.status, 410, "{r:?}");
    let taken = tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
        .await
        .unwrap()
        .unwrap();
    let lost = endpoint.stats().messages_lost as usize;
    assert!(taken > 4096, "the application took {taken}");
    assert_eq!(lost + taken, 10_000, "taken {taken}, lost {lost}");
}

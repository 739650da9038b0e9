//! The conformance server's `/stomp` endpoint (Spring's defaults), black-box over TCP with a
//! STOMP client on SockJS's raw websocket endpoint: what any external STOMP client sees.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::stomp::{frame, Client};
use common::WsEnd;

fn stomp() -> String {
    format!("{}/stomp", common::base())
}

#[tokio::test]
async fn connected_frame_has_springs_defaults_and_the_login_as_user() {
    let (_c, connected) = Client::connect(&stomp(), &[("login", "alice"), ("passcode", "x")]).await;
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("heart-beat"), Some("10000,10000"));
    assert_eq!(connected.header("user-name"), Some("alice"));
    // Without a login: anonymous, no user-name.
    let (_c, connected) = Client::connect(&stomp(), &[]).await;
    assert_eq!(connected.header("user-name"), None);
}

#[tokio::test]
async fn send_to_app_echo_publishes_to_topic_echo() {
    let mut sub = Client::login(&stomp(), "sub").await;
    sub.subscribe("s0", "/topic/echo", &[]).await;
    let mut publisher = Client::login(&stomp(), "pub").await;
    let body = "{\"hello\":\"w\u{f6}rld\",\"nul\":\"\\u0000\"}";
    publisher
        .send(
            "SEND",
            &[
                ("destination", "/app/echo"),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await;
    let m = sub.expect("MESSAGE").await;
    assert_eq!(m.header("subscription"), Some("s0"));
    assert_eq!(m.header("destination"), Some("/topic/echo"));
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert!(m.header("message-id").is_some(), "{m:?}");
    assert_eq!(m.body, body);
}

#[tokio::test]
async fn disconnect_with_receipt_then_normal_close() {
    let mut c = Client::login(&stomp(), "d").await;
    c.send("DISCONNECT", &[("receipt", "bye")], "").await;
    assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("bye"));
    match c.expect_end().await {
        WsEnd::Close(Some((1000, _))) => {}
        other => panic!("expected close 1000, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_frame_gets_error_and_close() {
    let mut c = Client::login(&stomp(), "m").await;
    c.raw("FLY\ndestination:/a\n\nx\0").await;
    let e = c.expect_error().await;
    assert!(e.header("message").is_some(), "{e:?}");
    // A frame before CONNECT.
    let mut c = Client::open(&stomp()).await;
    c.raw(&frame("SEND", &[("destination", "/topic/a")], "x"))
        .await;
    c.expect_error().await;
}

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

/// A destination of its own per test (tests share the server).
fn unique(prefix: &str) -> String {
    format!("{prefix}/{}", common::session_id())
}

#[tokio::test]
async fn topics_and_queues_reach_every_subscriber_with_send_headers_copied() {
    // /queue/x behaves like /topic/x (Spring's simple broker): every subscriber gets it.
    for dest in [unique("/topic/t"), unique("/queue/q")] {
        let mut a = Client::login(&stomp(), "a").await;
        let mut b = Client::login(&stomp(), "b").await;
        a.subscribe("a0", &dest, &[]).await;
        b.subscribe("b0", &dest, &[]).await;
        b.subscribe("b1", &dest, &[]).await;
        a.send(
            "SEND",
            &[
                ("destination", &dest),
                ("x-custom", "v:1"),
                ("receipt", "r"),
            ],
            "hello",
        )
        .await;
        assert_eq!(a.expect("RECEIPT").await.header("receipt-id"), Some("r"));
        let m = a.expect("MESSAGE").await;
        assert_eq!(
            (m.header("subscription"), m.header("destination")),
            (Some("a0"), Some(dest.as_str()))
        );
        assert_eq!(m.header("x-custom"), Some("v:1"), "{m:?}");
        assert_eq!(m.header("receipt"), None, "{m:?}");
        // One MESSAGE per subscription of b, with distinct message ids.
        let (m0, m1) = (b.expect("MESSAGE").await, b.expect("MESSAGE").await);
        let mut subs = [m0.header("subscription"), m1.header("subscription")];
        subs.sort();
        assert_eq!(subs, [Some("b0"), Some("b1")]);
        assert_ne!(m0.header("message-id"), m1.header("message-id"));
        assert_eq!((m0.body.as_str(), m1.body.as_str()), ("hello", "hello"));
    }
}

#[tokio::test]
async fn user_destinations_reach_every_session_of_that_user_only() {
    let user = format!("bob-{}", common::session_id());
    let mut bob1 = Client::login(&stomp(), &user).await;
    let mut bob2 = Client::login(&stomp(), &user).await;
    let mut carol = Client::login(&stomp(), "carol").await;
    for c in [&mut bob1, &mut bob2, &mut carol] {
        c.subscribe("p", "/user/queue/private", &[]).await;
    }
    carol
        .send(
            "SEND",
            &[("destination", &format!("/user/{user}/queue/private"))],
            "psst",
        )
        .await;
    for bob in [&mut bob1, &mut bob2] {
        let m = bob.expect("MESSAGE").await;
        assert_eq!(m.header("destination"), Some("/user/queue/private"));
        assert_eq!(m.header("subscription"), Some("p"));
        assert_eq!(m.body, "psst");
    }
    // carol got nothing: her next frame is the answer to her own next request.
    carol.send("DISCONNECT", &[("receipt", "end")], "").await;
    assert_eq!(
        carol.expect("RECEIPT").await.header("receipt-id"),
        Some("end")
    );
}

#[tokio::test]
async fn unsubscribe_stops_delivery_on_that_subscription_only() {
    let dest = unique("/topic/u");
    let mut c = Client::login(&stomp(), "u").await;
    c.subscribe("one", &dest, &[]).await;
    c.subscribe("two", &dest, &[]).await;
    c.send("UNSUBSCRIBE", &[("id", "one"), ("receipt", "gone")], "")
        .await;
    assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("gone"));
    // Unknown ids are ignored (pages unsubscribe twice).
    c.send("UNSUBSCRIBE", &[("id", "one")], "").await;
    for body in ["first", "second"] {
        c.send("SEND", &[("destination", &dest)], body).await;
    }
    // Both messages arrive on "two" only; a leftover "one" would come before "second".
    for body in ["first", "second"] {
        let m = c.expect("MESSAGE").await;
        assert_eq!(
            (m.header("subscription"), m.body.as_str()),
            (Some("two"), body)
        );
    }
}

#[tokio::test]
async fn ack_modes_client_and_client_individual_with_ack_and_nack() {
    for mode in ["client", "client-individual"] {
        let dest = unique("/queue/ack");
        let mut c = Client::login(&stomp(), "acker").await;
        c.subscribe("s", &dest, &[("ack", mode)]).await;
        for body in ["1", "2", "3"] {
            c.send("SEND", &[("destination", &dest)], body).await;
        }
        let mut acks = Vec::new();
        for body in ["1", "2", "3"] {
            let m = c.expect("MESSAGE").await;
            assert_eq!(m.body, body);
            // STOMP 1.2: the MESSAGE carries the id ACK/NACK name.
            acks.push(m.header("ack").expect("ack header").to_owned());
        }
        c.send("ACK", &[("id", &acks[1]), ("receipt", "ack")], "")
            .await;
        assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("ack"));
        c.send("NACK", &[("id", &acks[2]), ("receipt", "nack")], "")
            .await;
        assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("nack"));
        // Acknowledging a message twice (or one a cumulative ACK covered) is harmless.
        c.send("ACK", &[("id", &acks[0]), ("receipt", "again")], "")
            .await;
        assert_eq!(
            c.expect("RECEIPT").await.header("receipt-id"),
            Some("again")
        );
    }
}

#[tokio::test]
async fn receipts_and_a_transaction_on_a_stomp_1_1_session() {
    let mut c = Client::open(&stomp()).await;
    c.send(
        "CONNECT",
        &[
            ("accept-version", "1.1,1.0"),
            ("heart-beat", "0,0"),
            ("login", "old"),
        ],
        "",
    )
    .await;
    let connected = c.expect("CONNECTED").await;
    assert_eq!(connected.header("version"), Some("1.1"));
    let dest = unique("/topic/v11");
    c.subscribe("s", &dest, &[]).await;
    c.send("BEGIN", &[("transaction", "t"), ("receipt", "b")], "")
        .await;
    assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("b"));
    c.send(
        "SEND",
        &[
            ("destination", &dest),
            ("transaction", "t"),
            ("receipt", "s"),
        ],
        "in tx",
    )
    .await;
    assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("s"));
    c.send("COMMIT", &[("transaction", "t"), ("receipt", "c")], "")
        .await;
    // The committed SEND is published before the RECEIPT of COMMIT; the MESSAGE comes
    // through the broker, so it may come before or after that RECEIPT.
    let mut got = [c.next().await.unwrap(), c.next().await.unwrap()];
    got.sort_by(|a, b| a.command.cmp(&b.command));
    assert_eq!(got[0].command, "MESSAGE");
    assert_eq!(got[0].body, "in tx");
    assert_eq!(got[0].header("ack"), None, "no ack header before 1.2");
    assert_eq!(got[1].header("receipt-id"), Some("c"));
}

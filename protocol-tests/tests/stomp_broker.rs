//! The STOMP broker (`sockjs_stomp::broker`) with settings of each test's own, black-box over
//! TCP: authentication, authorization, limits, handlers, the publish API, heart-beats and the
//! slow-subscriber policies.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::stomp::{frame, Client};
use common::{Request, WsEnd};
use sockjs_protocol_tests::spawn_endpoints;
use sockjs_stomp::broker::{
    Action, BrokerStats, Message, PublishError, Refusal, SlowSubscriber, StompBroker,
    StompBrokerBuilder,
};
use sockjs_stomp::Config;

/// Generous bound on waiting for a condition (never a timing assertion).
const PATIENCE: Duration = Duration::from_secs(20);

/// Serves the broker `builder` builds; returns it and its endpoint's URL.
fn serve(builder: StompBrokerBuilder) -> (StompBroker, String) {
    let broker = builder.build().unwrap();
    let addr = spawn_endpoints(vec![broker.endpoint().clone()]);
    let url = format!("http://{addr}{}", broker.endpoint().prefix());
    (broker, url)
}

/// Waits (bounded) until `check` holds for the broker's statistics.
async fn wait_stats(broker: &StompBroker, what: &str, check: impl Fn(&BrokerStats) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = broker.stats();
        if check(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn as_login() -> StompBrokerBuilder {
    StompBroker::builder("/ws").authenticator(|info| {
        let user = info.login().map(str::to_owned);
        async move { Ok(user) }
    })
}

#[tokio::test]
async fn the_authenticator_sees_the_frame_and_the_request_and_can_refuse() {
    let saw_addr = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&saw_addr);
    let (broker, url) = serve(StompBroker::builder("/ws").authenticator(move |info| {
        seen.store(info.remote_addr().is_some(), Ordering::SeqCst);
        let answer = match (info.login(), info.passcode(), info.header("x-token")) {
            (Some(user), Some("secret"), Some("t")) => Ok(Some(user.to_owned())),
            _ => Err(Refusal::new("Bad credentials")),
        };
        async move { answer }
    }));
    let (_ok, connected) = Client::connect(
        &url,
        &[("login", "alice"), ("passcode", "secret"), ("x-token", "t")],
    )
    .await;
    assert_eq!(connected.header("user-name"), Some("alice"));
    assert!(
        saw_addr.load(Ordering::SeqCst),
        "the remote address reaches the authenticator"
    );
    // The user is logged in to the hub: presence is the online list.
    assert_eq!(broker.hub().online("alice"), 1);

    let mut bad = Client::open(&url).await;
    bad.send(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("login", "alice"),
            ("passcode", "wrong"),
        ],
        "",
    )
    .await;
    let e = bad.expect_error().await;
    assert_eq!(e.header("message"), Some("Bad credentials"));
    wait_stats(&broker, "one refusal", |s| s.refused == 1).await;
}

#[tokio::test]
async fn the_authorizer_denies_subscribe_and_send_with_error_and_close() {
    let (broker, url) = serve(as_login().authorizer(|access| {
        let admin = access.user == Some("admin");
        match access.action {
            Action::Subscribe if access.destination.starts_with("/topic/admin") && !admin => {
                Err(Refusal::new("Access denied to /topic/admin"))
            }
            Action::Send if access.destination.starts_with("/topic/") => {
                Err("Clients publish through /app".into())
            }
            _ => Ok(()),
        }
    }));
    let mut admin = Client::login(&url, "admin").await;
    admin.subscribe("a", "/topic/admin", &[]).await;

    let mut eve = Client::login(&url, "eve").await;
    eve.send(
        "SUBSCRIBE",
        &[
            ("id", "x"),
            ("destination", "/topic/admin"),
            ("receipt", "r"),
        ],
        "",
    )
    .await;
    let e = eve.expect_error().await;
    assert_eq!(e.header("message"), Some("Access denied to /topic/admin"));
    assert_eq!(
        e.header("receipt-id"),
        Some("r"),
        "the ERROR answers the receipt"
    );

    let mut mallory = Client::login(&url, "mallory").await;
    mallory
        .send("SEND", &[("destination", "/topic/admin")], "spoofed")
        .await;
    let e = mallory.expect_error().await;
    assert_eq!(e.header("message"), Some("Clients publish through /app"));
    // Nothing reached the admin: the next frame is the server's own publication.
    broker.publish("/topic/admin", "real").unwrap();
    assert_eq!(admin.expect("MESSAGE").await.body, "real");
    wait_stats(&broker, "two denials", |s| s.denied == 2).await;
}

#[tokio::test]
async fn limits_subscriptions_frame_size_and_destination_length() {
    let mut config = Config::default();
    config.max_subscriptions = 2;
    config.limits.max_frame_size = 1024;
    config.limits.max_body_size = 512;
    let (_broker, url) = serve(as_login().config(config));
    let mut c = Client::login(&url, "a").await;
    c.subscribe("1", "/topic/a", &[]).await;
    c.subscribe("2", "/topic/b", &[]).await;
    c.send("SUBSCRIBE", &[("id", "3"), ("destination", "/topic/c")], "")
        .await;
    let e = c.expect_error().await;
    assert!(
        e.header("message").unwrap().contains("subscriptions"),
        "{e:?}"
    );

    let mut c = Client::login(&url, "b").await;
    c.send("SEND", &[("destination", "/topic/a")], &"x".repeat(600))
        .await;
    c.expect_error().await;

    // A destination whose hub channel name exceeds 1024 bytes cannot be subscribed to.
    let (_default, default_url) = serve(as_login());
    let long = format!("/topic/{}", "y".repeat(1100));
    let mut c = Client::login(&default_url, "c").await;
    c.send("SUBSCRIBE", &[("id", "l"), ("destination", &long)], "")
        .await;
    let e = c.expect_error().await;
    assert!(
        e.header("message").unwrap().contains("cannot subscribe"),
        "{e:?}"
    );

    // Garbage that never completes a frame is bounded too.
    let mut c = Client::login(&url, "d").await;
    c.raw(&format!("SEND\ndestination:/topic/a\n{}", "z".repeat(2000)))
        .await;
    c.expect_error().await;
}

#[tokio::test]
async fn max_unacked_skips_messages_until_the_client_acknowledges() {
    let mut config = Config::default();
    config.max_unacked = 2;
    let (broker, url) = serve(as_login().config(config));
    let mut c = Client::login(&url, "a").await;
    c.subscribe("s", "/queue/work", &[("ack", "client")]).await;
    for i in 0..5 {
        broker.publish("/queue/work", format!("m{i}")).unwrap();
    }
    let first = c.expect("MESSAGE").await;
    let second = c.expect("MESSAGE").await;
    assert_eq!((first.body.as_str(), second.body.as_str()), ("m0", "m1"));
    wait_stats(&broker, "three skipped", |s| s.dropped_unacked == 3).await;
    // A cumulative ACK of the second frees both slots.
    c.send(
        "ACK",
        &[("id", second.header("ack").unwrap()), ("receipt", "a")],
        "",
    )
    .await;
    c.expect("RECEIPT").await;
    broker.publish("/queue/work", "m5").unwrap();
    assert_eq!(c.expect("MESSAGE").await.body, "m5");
    wait_stats(&broker, "two acknowledged", |s| s.acked == 2).await;
}

#[tokio::test]
async fn handlers_reply_to_the_sender_publish_and_send_to_users() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let (broker, url) = serve(
        as_login()
            .route("/whoami", |msg| async move {
                let me = msg.user().unwrap_or("anonymous").to_owned();
                msg.reply("/user/queue/reply", Message::text(me)).unwrap();
            })
            .route("/shout", |msg| async move {
                let text = msg.body.to_uppercase();
                msg.broker().publish("/topic/shouts", text).unwrap();
            })
            .route("/dm", move |msg| {
                let counted = Arc::clone(&counted);
                async move {
                    // Slow on purpose: the RECEIPT of this SEND waits for the handler.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let to = msg.headers.get("to").unwrap().to_owned();
                    let from = msg.user().unwrap().to_owned();
                    msg.broker()
                        .send_to_user(&to, "/queue/dm", Message::json(format!("\"{from}\"")))
                        .unwrap();
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            })
            .route("/boom", |_msg| async move { panic!("handler bug") }),
    );
    let mut alice1 = Client::login(&url, "alice").await;
    let mut alice2 = Client::login(&url, "alice").await;
    let mut bob = Client::login(&url, "bob").await;
    for c in [&mut alice1, &mut alice2, &mut bob] {
        c.subscribe("reply", "/user/queue/reply", &[]).await;
        c.subscribe("dm", "/user/queue/dm", &[]).await;
        c.subscribe("shouts", "/topic/shouts", &[]).await;
    }
    // A reply reaches the sending session only, not the user's other session.
    alice1
        .send("SEND", &[("destination", "/app/whoami")], "")
        .await;
    let m = alice1.expect("MESSAGE").await;
    assert_eq!(
        (m.header("subscription"), m.body.as_str()),
        (Some("reply"), "alice")
    );
    assert_eq!(m.header("destination"), Some("/user/queue/reply"));

    // A panicking handler is counted; the session goes on.
    alice1
        .send("SEND", &[("destination", "/app/boom")], "")
        .await;
    // send_to_user reaches every session of the user; the RECEIPT follows the handler.
    bob.send(
        "SEND",
        &[
            ("destination", "/app/dm"),
            ("to", "alice"),
            ("receipt", "dm"),
        ],
        "",
    )
    .await;
    assert_eq!(bob.expect("RECEIPT").await.header("receipt-id"), Some("dm"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the handler ran before the RECEIPT"
    );
    for alice in [&mut alice1, &mut alice2] {
        let m = alice.expect("MESSAGE").await;
        assert_eq!(
            (m.header("subscription"), m.body.as_str()),
            (Some("dm"), "\"bob\"")
        );
        assert_eq!(m.header("content-type"), Some("application/json"));
    }
    // Publish to a topic from a handler.
    bob.send("SEND", &[("destination", "/app/shout")], "hi")
        .await;
    for c in [&mut alice1, &mut alice2, &mut bob] {
        let m = c.expect("MESSAGE").await;
        assert_eq!(
            (m.header("subscription"), m.body.as_str()),
            (Some("shouts"), "HI")
        );
    }
    wait_stats(&broker, "one handler panic", |s| s.handler_panics == 1).await;
    // Unhandled application destinations are dropped and counted, as in Spring.
    bob.send("SEND", &[("destination", "/app/nothing-here")], "")
        .await;
    wait_stats(&broker, "one unrouted SEND", |s| s.unrouted == 1).await;
}

#[tokio::test]
async fn the_publish_api_checks_destinations() {
    let (broker, url) = serve(as_login());
    let mut c = Client::login(&url, "zoe").await;
    c.subscribe("t", "/topic/news", &[]).await;
    c.subscribe("u", "/user/queue/inbox", &[]).await;
    broker
        .publish("/topic/news", Message::json("{}").header("x-k", "v"))
        .unwrap();
    let m = c.expect("MESSAGE").await;
    assert_eq!(
        (m.header("subscription"), m.header("x-k")),
        (Some("t"), Some("v"))
    );
    broker
        .publish("/user/zoe/queue/inbox", "via publish")
        .unwrap();
    broker
        .send_to_user("zoe", "/queue/inbox", "via send_to_user")
        .unwrap();
    for body in ["via publish", "via send_to_user"] {
        let m = c.expect("MESSAGE").await;
        assert_eq!(
            (m.header("subscription"), m.body.as_str()),
            (Some("u"), body)
        );
    }
    assert!(matches!(
        broker.publish("/app/x", "no"),
        Err(PublishError::NotBrokerDestination(_))
    ));
    assert!(broker
        .send_to_user("zoe", "/user/queue/inbox", "no")
        .is_err());
    assert_eq!(
        broker.send_to_user("", "/queue/inbox", "no"),
        Err(PublishError::EmptyUser)
    );
    // When the session ends, its subscriptions and destinations are released.
    let stats = broker.stats();
    assert_eq!((stats.sessions, stats.connected), (1, 1), "{stats:?}");
    assert_eq!(
        (stats.destinations, stats.subscriptions),
        (2, 2),
        "{stats:?}"
    );
    common::ws_close(c.ws).await;
    wait_stats(&broker, "everything released", |s| {
        (s.sessions, s.connected, s.destinations, s.subscriptions) == (0, 0, 0, 0)
    })
    .await;
    assert_eq!(broker.hub().stats().channels, 0);
}

#[tokio::test]
async fn heart_beats_both_ways() {
    let mut config = Config::default();
    config.heartbeat_send = Duration::from_millis(100);
    config.heartbeat_receive = Duration::from_millis(100);
    let (broker, url) = serve(as_login().config(config));
    // The client asks for server heart-beats every 100 ms and promises none itself.
    let mut c = Client::open(&url).await;
    c.send(
        "CONNECT",
        &[("accept-version", "1.2"), ("heart-beat", "0,100")],
        "",
    )
    .await;
    assert_eq!(
        c.expect("CONNECTED").await.header("heart-beat"),
        Some("100,100")
    );
    // Three EOL heart-beats, each a SockJS message of its own.
    while c.heart_beats < 3 {
        match common::ws_next(&mut c.ws).await {
            common::WsEvent::Text(t) if t == "\n" => c.heart_beats += 1,
            other => panic!("expected heart-beats, got {other:?}"),
        }
    }
    // A client that promised heart-beats every 100 ms and sends nothing is ended.
    let mut silent = Client::open(&url).await;
    silent
        .send(
            "CONNECT",
            &[("accept-version", "1.2"), ("heart-beat", "100,0")],
            "",
        )
        .await;
    silent.expect("CONNECTED").await;
    let e = silent.expect_error().await;
    assert!(
        e.header("message")
            .unwrap()
            .contains("no data from the client"),
        "{e:?}"
    );
    wait_stats(&broker, "the silent session ended", |s| s.errors == 1).await;
}

/// A STOMP session over xhr-polling, which receives only while a poll is open: between
/// polls the SockJS session's outbound queue fills, which is how a slow subscriber looks.
struct Polling {
    host: String,
    session: String,
}

impl Polling {
    async fn open(host: &str, prefix: &str) -> Polling {
        let p = Polling {
            host: host.to_owned(),
            session: format!("{prefix}/000/{}", common::session_id()),
        };
        assert_eq!(p.poll().await, "o\n");
        p
    }

    async fn poll(&self) -> String {
        Request::to_host(&self.host, "POST", &format!("{}/xhr", self.session))
            .send()
            .await
            .text()
    }

    async fn send(&self, frame: &str) {
        let body = serde_json::to_string(&[frame]).unwrap();
        let r = Request::to_host(&self.host, "POST", &format!("{}/xhr_send", self.session))
            .body(body)
            .send()
            .await;
        assert_eq!(r.status, 204, "{r:?}");
    }

    /// One poll's messages (a close frame as its text).
    async fn messages(&self) -> Vec<String> {
        let text = self.poll().await;
        if let Some(json) = text.trim_end().strip_prefix('a') {
            serde_json::from_str::<Vec<String>>(json).unwrap()
        } else if text.starts_with('c') {
            vec![text]
        } else {
            Vec::new()
        }
    }

    /// Polls until a frame whose text contains `needle` arrives; returns every message.
    async fn until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut all = Vec::new();
        loop {
            all.extend(self.messages().await);
            if all.iter().any(|m| m.contains(needle)) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?}; got {all:?}"
            );
        }
    }
}

async fn slow_subscriber(policy: SlowSubscriber) -> (StompBroker, Polling) {
    let mut sockjs = sockjs_hyper::Config::default();
    sockjs.max_queued_messages = 4;
    let broker = as_login()
        .sockjs_config(sockjs)
        .session_queue(4)
        .slow_subscriber(policy)
        .build()
        .unwrap();
    let host = spawn_endpoints(vec![broker.endpoint().clone()]).to_string();
    let p = Polling::open(&host, "/ws").await;
    p.send(&frame(
        "CONNECT",
        &[("accept-version", "1.2"), ("login", "slow")],
        "",
    ))
    .await;
    p.until("CONNECTED").await;
    p.send(&frame(
        "SUBSCRIBE",
        &[
            ("id", "s"),
            ("destination", "/topic/firehose"),
            ("receipt", "r"),
        ],
        "",
    ))
    .await;
    p.until("RECEIPT").await;
    // No poll is open: the SockJS queue (4) and the session queue (4) fill, the rest is
    // skipped.
    for i in 0..50 {
        broker.publish("/topic/firehose", format!("n{i}")).unwrap();
    }
    wait_stats(&broker, "skipped messages", |s| s.dropped_slow > 0).await;
    (broker, p)
}

#[tokio::test]
async fn a_slow_subscriber_is_skipped_and_counted_and_carries_on() {
    let (broker, p) = slow_subscriber(SlowSubscriber::Skip).await;
    let got = p.until("n0").await;
    assert!(got.iter().all(|m| m.starts_with("MESSAGE")), "{got:?}");
    // The session is still there: it receives what comes next. While its queue is still
    // full of the backlog, the skip policy skips "after" too (counted at once, by the
    // publishing task): then the next poll makes room and it is published again.
    let mut got = Vec::new();
    loop {
        let skipped = broker.stats().dropped_slow;
        broker.publish("/topic/firehose", "after").unwrap();
        if broker.stats().dropped_slow == skipped {
            break;
        }
        got.extend(p.messages().await);
    }
    got.extend(p.until("after").await);
    assert!(got.iter().all(|m| !m.starts_with("ERROR")), "{got:?}");
    let stats = broker.stats();
    assert!(
        stats.dropped_slow > 0 && stats.dropped_slow < 50,
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_slow_subscriber_is_closed_with_error_under_the_close_policy() {
    let (_broker, p) = slow_subscriber(SlowSubscriber::Close).await;
    let got = p.until("c[1002").await;
    let error = got
        .iter()
        .find(|m| m.starts_with("ERROR"))
        .expect("an ERROR frame");
    assert!(error.contains("slow consumer"), "{error}");
}

#[tokio::test]
async fn an_anonymous_session_gets_its_own_replies_and_malformed_input_never_hangs() {
    let (_broker, url) = serve(StompBroker::builder("/ws").route("/me", |msg| async move {
        let me = msg.user().unwrap_or("anonymous").to_owned();
        let _ = msg.reply("/user/queue/me", me);
    }));
    let mut a = Client::connect(&url, &[]).await.0;
    let mut b = Client::connect(&url, &[]).await.0;
    a.subscribe("m", "/user/queue/me", &[]).await;
    b.subscribe("m", "/user/queue/me", &[]).await;
    a.send("SEND", &[("destination", "/app/me"), ("receipt", "x")], "")
        .await;
    // A reply queued by the handler follows the SEND's RECEIPT (sent when it returned).
    a.expect("RECEIPT").await;
    assert_eq!(a.expect("MESSAGE").await.body, "anonymous");
    b.send("DISCONNECT", &[("receipt", "b")], "").await;
    assert_eq!(b.expect("RECEIPT").await.header("receipt-id"), Some("b"));
    // Each malformed input ends its session with ERROR and close, nothing else.
    for bad in [
        "SEND\n\n\0",                                           // no destination
        "SUBSCRIBE\ndestination:/topic/a\nack:sometimes\n\n\0", // bad ack mode
        "SEND\ndestination:/a\ncontent-length:2\n\nshort\0",    // no NUL after the body
        "CONNECT\naccept-version:1.2\n\n\0",                    // second CONNECT
        "MESSAGE\ndestination:/a\n\n\0",                        // server frame
        "SEND\nbad header line\n\n\0",
    ] {
        let mut c = Client::connect(&url, &[]).await.0;
        c.raw(bad).await;
        let e = c.expect_error().await;
        assert!(e.header("message").is_some(), "{bad:?}: {e:?}");
    }
    // A client that closes its websocket mid-frame is cleaned up like any other.
    let mut c = Client::connect(&url, &[]).await.0;
    c.raw("SEND\ndestination:/topic/a\n").await;
    common::ws_close(c.ws).await;
    let mut c = Client::connect(&url, &[]).await.0;
    c.send("DISCONNECT", &[("receipt", "ok")], "").await;
    assert_eq!(c.expect("RECEIPT").await.header("receipt-id"), Some("ok"));
    assert!(matches!(
        c.expect_end().await,
        WsEnd::Close(Some((1000, _)))
    ));
}

#[tokio::test]
async fn a_broadcast_on_a_shared_hub_never_reaches_stomp_clients() {
    // The broker shares its hub with plain SockJS endpoints that broadcast (the conformance
    // server's /broadcast in cluster mode): their raw text is not a STOMP frame, so the
    // broker's sessions must not get it.
    let hub = sockjs_hyper::hub::Hub::new();
    let broker = as_login().hub(hub.clone()).build().unwrap();
    let addr = spawn_endpoints(vec![broker.endpoint().clone()]);
    let mut c = Client::login(&format!("http://{addr}/ws"), "alice").await;
    assert_eq!(hub.broadcast("not a STOMP frame").unwrap().sent, 0);
    c.expect_nothing_before_a_receipt().await;
}

#[tokio::test]
async fn an_authenticator_that_never_answers_still_ends_at_the_connect_timeout() {
    // The connect timeout covers the authenticator's answer: a hung authentication service
    // must not hold the session (and its SockJS slot) open for as long as the client stays.
    let mut config = Config::default();
    config.connect_timeout = Duration::from_millis(200);
    let (_broker, url) = serve(
        StompBroker::builder("/ws")
            .config(config)
            .authenticator(|_info| std::future::pending()),
    );
    let mut c = Client::open(&url).await;
    c.send("CONNECT", &[("accept-version", "1.2")], "").await;
    let error = tokio::time::timeout(PATIENCE, c.expect_error())
        .await
        .expect("ERROR and close at the connect timeout, not when the client leaves");
    assert_eq!(
        error.header("message"),
        Some("no CONNECT completed within 200 ms")
    );
}

#[tokio::test]
async fn a_message_too_large_for_the_endpoint_is_refused_to_its_publisher_never_dropped_quietly() {
    // Before: the frame failed `conn.send` with TooLarge, was counted as a slow subscriber's
    // skip, and the publisher was told Ok.
    let mut sockjs = sockjs_hyper::Config::default();
    sockjs.max_message_size = 2048;
    let (broker, url) = serve(as_login().sockjs_config(sockjs));
    let mut ann = Client::login(&url, "ann").await;
    ann.subscribe("t", "/topic/big", &[]).await;

    // Server code learns it at once; a message that fits still goes through.
    let err = broker.publish("/topic/big", "x".repeat(2000)).unwrap_err();
    assert!(
        matches!(err, PublishError::TooLarge { limit: 2048, size } if size > 2048),
        "{err:?}"
    );
    broker.publish("/topic/big", "x".repeat(1000)).unwrap();
    assert_eq!(ann.expect("MESSAGE").await.body.len(), 1000);

    // A client's SEND that no subscriber could be sent gets an ERROR, not a silent drop.
    let mut bob = Client::login(&url, "bob").await;
    bob.send("SEND", &[("destination", "/topic/big")], &"y".repeat(1900))
        .await;
    let e = bob.expect_error().await;
    assert!(
        e.header("message").unwrap().contains("max_message_size"),
        "{e:?}"
    );

    // A subscription id long enough to push a fitting message over the limit: that one
    // delivery is counted as too large (not as a slow subscriber), the others get it.
    let mut cy = Client::login(&url, "cy").await;
    cy.subscribe(&"s".repeat(900), "/topic/big", &[]).await;
    broker.publish("/topic/big", "z".repeat(1200)).unwrap();
    assert_eq!(ann.expect("MESSAGE").await.body.len(), 1200);
    wait_stats(&broker, "one frame too large", |s| s.dropped_too_large == 1).await;
    let stats = broker.stats();
    assert_eq!(stats.dropped_slow, 0, "{stats:?}");
    assert!(broker
        .stats()
        .to_prometheus("/ws")
        .contains("sockjs_stomp_dropped_too_large_total{endpoint=\"/ws\"} 1"));
}

#[tokio::test]
async fn a_handler_that_never_returns_does_not_keep_its_ended_session_alive() {
    // Before: the session's task waited on the handler forever, so the session, its
    // subscriptions and its user's presence outlived the client.
    let started = Arc::new(tokio::sync::Notify::new());
    let starts = Arc::clone(&started);
    let (broker, url) = serve(as_login().route("/hang", move |_message| {
        starts.notify_one();
        std::future::pending::<()>()
    }));
    let mut c = Client::login(&url, "hal").await;
    c.subscribe("t", "/topic/x", &[]).await;
    c.send("SEND", &[("destination", "/app/hang")], "").await;
    // The handler runs (a SEND still unread when the client leaves is lost, not handled).
    tokio::time::timeout(PATIENCE, started.notified())
        .await
        .unwrap();
    common::ws_close(c.ws).await;
    wait_stats(&broker, "the session released", |s| {
        (
            s.sessions,
            s.connected,
            s.subscriptions,
            s.handlers_abandoned,
        ) == (0, 0, 0, 1)
    })
    .await;
    assert_eq!(broker.hub().online("hal"), 0);
}

//! Unit tests of the session state machine: one test per rule, on a simulated clock.

use super::*;
use crate::decode::Limits;

/// A session driven by the tests, with its clock.
struct Harness {
    session: Session,
    now: Instant,
}

fn config() -> Config {
    Config::default()
}

impl Harness {
    fn new(config: Config) -> Harness {
        let now = Instant::now();
        Harness {
            session: Session::new(now, Arc::new(config)),
            now,
        }
    }

    /// A 1.2 session (as @stomp/stompjs opens it), accepted as `alice`.
    fn connected() -> Harness {
        Harness::connected_with(config(), "1.2,1.1,1.0")
    }

    fn connected_with(config: Config, accept_version: &str) -> Harness {
        let mut h = Harness::new(config);
        h.send(&format!(
            "CONNECT\naccept-version:{accept_version}\nheart-beat:10000,10000\n\n\0"
        ));
        assert!(matches!(h.outputs()[..], [Output::Authenticate(_)]));
        h.session.accept(h.now, Some("alice".into())).unwrap();
        let out = h.outputs();
        assert!(matches!(&out[..], [Output::Transmit(f)] if f.starts_with("CONNECTED\n")));
        h
    }

    fn send(&mut self, message: &str) {
        self.session.handle_message(self.now, message);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
    }

    fn outputs(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.session.poll_output()).collect()
    }

    /// Outputs with every transmitted frame decoded (as the client would).
    fn frames(&mut self) -> Vec<Frame> {
        let version = self.session.version().unwrap_or(Version::V1_0);
        transmitted(&self.outputs())
            .into_iter()
            .map(|text| decode_server_frame(version, &text))
            .collect()
    }

    fn deliver(&mut self, sub: &str, body: &str) -> Result<String, DeliverError> {
        let message = OutboundMessage {
            destination: "/topic/t".into(),
            content_type: Some("text/plain".into()),
            headers: vec![],
            body: body.into(),
        };
        self.session
            .deliver(self.now, sub, &Arc::new(message))
            .map(|id| id.to_string())
    }
}

fn transmitted(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(t.clone()),
            Output::Message(m) => Some(m.encode()),
            _ => None,
        })
        .collect()
}

fn decode_server_frame(version: Version, text: &str) -> Frame {
    let mut d = Decoder::new(Limits::default());
    d.set_version(Some(version));
    d.push(text);
    match d.next_item() {
        Ok(Some(Item::Frame(f))) => {
            assert_eq!(d.next_item(), Ok(None), "one frame per message: {text:?}");
            f
        }
        other => panic!("{text:?}: {other:?}"),
    }
}

fn is_close(o: &Output) -> bool {
    matches!(o, Output::Close(_))
}

/// Asserts the outputs end with ERROR (+ Disconnect when connected) + Close and returns the
/// ERROR frame.
fn expect_error(h: &mut Harness, was_connected: bool) -> Frame {
    let version = if h.session.connected_sent {
        h.session.version().unwrap_or(Version::V1_0)
    } else {
        Version::V1_0
    };
    let out = h.outputs();
    let n = out.len();
    assert!(n >= 2, "{out:?}");
    assert!(is_close(&out[n - 1]), "{out:?}");
    let error_at = if was_connected {
        assert_eq!(out[n - 2], Output::Disconnect, "{out:?}");
        n - 3
    } else {
        n - 2
    };
    let Output::Transmit(text) = &out[error_at] else {
        panic!("{out:?}")
    };
    let frame = decode_server_frame(version, text);
    assert_eq!(frame.command, Command::Error, "{text:?}");
    assert!(frame.headers.get("message").is_some());
    assert!(h.session.is_closed());
    assert_eq!(h.session.poll_timeout(), None);
    frame
}

// ---- CONNECT ----

#[test]
fn connected_frame_for_stompjs_7() {
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\nlogin:alice\npasscode:secret\n\n\0");
    let out = h.outputs();
    let [Output::Authenticate(request)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(request.version, Version::V1_2);
    assert_eq!(request.command, Command::Connect);
    assert_eq!(request.login(), Some("alice"));
    assert_eq!(request.passcode(), Some("secret"));
    assert_eq!(request.host(), None);
    assert!(!format!("{request:?}").contains("secret"));
    h.session.accept(h.now, Some("alice".into())).unwrap();
    let frames = h.frames();
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.headers.get("version"), Some("1.2"));
    assert_eq!(f.headers.get("heart-beat"), Some("10000,10000"));
    assert_eq!(f.headers.get("server"), Some("sockjs-stomp"));
    assert_eq!(f.headers.get("user-name"), Some("alice"));
    assert!(h.session.is_connected());
    assert_eq!(h.session.user(), Some("alice"));
}

#[test]
fn legacy_stompjs_negotiates_1_1() {
    let mut h = Harness::connected_with(config(), "1.1,1.0");
    assert_eq!(h.session.version(), Some(Version::V1_1));
    assert!(h.outputs().is_empty());
}

#[test]
fn no_accept_version_means_1_0_without_heart_beats() {
    let mut h = Harness::new(config());
    h.send("CONNECT\nheart-beat:1000,1000\n\n\0");
    let out = h.outputs();
    assert!(matches!(&out[..], [Output::Authenticate(r)] if r.version == Version::V1_0));
    h.session.accept(h.now, None).unwrap();
    let f = &h.frames()[0];
    assert_eq!(f.headers.get("version"), None);
    assert_eq!(f.headers.get("heart-beat"), Some("0,0"));
    assert_eq!(f.headers.get("user-name"), None);
    assert_eq!(h.session.poll_timeout(), None, "no heart-beats in 1.0");
}

#[test]
fn stomp_command_connects_too() {
    let mut h = Harness::new(config());
    h.send("STOMP\naccept-version:1.2\nhost:example.com\n\n\0");
    let out = h.outputs();
    assert!(
        matches!(&out[..], [Output::Authenticate(r)] if r.command == Command::Stomp && r.host() == Some("example.com"))
    );
}

#[test]
fn unsupported_version_lists_ours() {
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:2.0\n\n\0");
    let f = expect_error(&mut h, false);
    assert_eq!(f.headers.get("version"), Some("1.0,1.1,1.2"));
    assert!(f.headers.get("message").unwrap().contains("unsupported"));
}

#[test]
fn anything_before_connect_is_an_error() {
    for frame in [
        "SEND\ndestination:/app/x\nreceipt:r9\n\n\0",
        "SUBSCRIBE\nid:0\ndestination:/topic/a\nreceipt:r9\n\n\0",
        "DISCONNECT\nreceipt:r9\n\n\0",
    ] {
        let mut h = Harness::new(config());
        h.send(frame);
        let f = expect_error(&mut h, false);
        assert!(f.headers.get("message").unwrap().contains("before CONNECT"));
        assert_eq!(f.headers.get("receipt-id"), Some("r9"), "{frame:?}");
    }
    // Heart-beats before CONNECT are harmless.
    let mut h = Harness::new(config());
    h.send("\n\r\n");
    assert!(h.outputs().is_empty());
}

#[test]
fn invalid_heart_beat_header() {
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\nheart-beat:soon\n\n\0");
    let f = expect_error(&mut h, false);
    assert!(f.headers.get("message").unwrap().contains("heart-beat"));
}

#[test]
fn second_connect_is_an_error() {
    let mut h = Harness::connected();
    h.send("CONNECT\naccept-version:1.2\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(f.headers.get("message"), Some("already connected"));
}

#[test]
fn server_frames_from_the_client_are_errors() {
    for command in ["MESSAGE", "RECEIPT", "ERROR", "CONNECTED"] {
        let mut h = Harness::connected();
        h.send(&format!("{command}\n\n\0"));
        let f = expect_error(&mut h, true);
        assert!(f.headers.get("message").unwrap().contains("server frame"));
    }
}

#[test]
fn refused_connect() {
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\nlogin:mallory\n\n\0");
    h.outputs();
    h.session.refuse(h.now, "Bad credentials").unwrap();
    let f = expect_error(&mut h, false);
    assert_eq!(f.headers.get("message"), Some("Bad credentials"));
    assert_eq!(h.session.accept(h.now, None), Err(NotAuthenticating));
    assert!(matches!(
        h.session.close_reason(),
        Some(CloseReason::Error(SessionError::Refused(_)))
    ));
}

#[test]
fn accept_or_refuse_without_a_pending_connect() {
    let mut h = Harness::new(config());
    assert_eq!(h.session.accept(h.now, None), Err(NotAuthenticating));
    assert_eq!(h.session.refuse(h.now, "no"), Err(NotAuthenticating));
    let mut h = Harness::connected();
    assert_eq!(h.session.accept(h.now, None), Err(NotAuthenticating));
    assert!(h.outputs().is_empty());
}

#[test]
fn frames_sent_with_connect_wait_for_the_authenticator() {
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/user/queue/a\n\n\0");
    h.send("SEND\ndestination:/app/x\n\nhi\0");
    assert!(matches!(h.outputs()[..], [Output::Authenticate(_)]));
    assert!(h.session.buffered() > 0);
    h.session.accept(h.now, Some("bob".into())).unwrap();
    let out = h.outputs();
    assert!(matches!(&out[0], Output::Transmit(t) if t.starts_with("CONNECTED\n")));
    // The subscription was routed with the accepted user.
    assert!(
        matches!(&out[1], Output::Subscribe(s) if s.route == Route::User {
            user: Some("bob".into()),
            destination: "/queue/a".into(),
        })
    );
    assert!(matches!(&out[2], Output::Publish(p) if p.body == "hi"));
    assert_eq!(out.len(), 3);
}

#[test]
fn input_while_authenticating_is_bounded() {
    let mut c = config();
    c.limits.max_frame_size = 100;
    let mut h = Harness::new(c);
    h.send("CONNECT\naccept-version:1.2\n\n\0");
    h.outputs();
    h.send(&"x".repeat(101));
    let f = expect_error(&mut h, false);
    assert!(f
        .headers
        .get("message")
        .unwrap()
        .contains("before CONNECTED"));
    assert_eq!(h.session.buffered(), 0);
}

#[test]
fn connect_timeout() {
    let mut h = Harness::new(config());
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(60))
    );
    h.advance(59_999);
    h.session.handle_timeout(h.now);
    assert!(h.outputs().is_empty());
    h.advance(1);
    h.session.handle_timeout(h.now);
    let f = expect_error(&mut h, false);
    assert!(f.headers.get("message").unwrap().contains("CONNECT"));

    // The authenticator's time counts too.
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\n\n\0");
    h.outputs();
    h.advance(60_000);
    h.session.handle_timeout(h.now);
    expect_error(&mut h, false);
    assert_eq!(h.session.accept(h.now, None), Err(NotAuthenticating));
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----

#[test]
fn subscribe_output_and_receipt_order() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:sub-0\ndestination:/topic/a\nack:client\nreceipt:r1\n\n\0");
    let out = h.outputs();
    assert_eq!(
        out[0],
        Output::Subscribe(SubscribeRequest {
            id: "sub-0".into(),
            destination: "/topic/a".into(),
            route: Route::Broker,
            ack: AckMode::Client,
            headers: [
                ("id", "sub-0"),
                ("destination", "/topic/a"),
                ("ack", "client"),
                ("receipt", "r1"),
            ]
            .into_iter()
            .collect(),
        })
    );
    assert_eq!(
        out[1],
        Output::Transmit("RECEIPT\nreceipt-id:r1\n\n\0".into())
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        h.session.subscription("sub-0"),
        Some(("/topic/a", AckMode::Client))
    );
}

#[test]
fn subscribe_requires_id_and_destination() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\ndestination:/topic/a\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("SUBSCRIBE without a id header")
    );
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:1\n\n\0");
    expect_error(&mut h, true);
}

#[test]
fn subscribe_without_id_in_1_0() {
    let mut h = Harness::new(config());
    h.send("CONNECT\n\n\0");
    h.outputs();
    h.session.accept(h.now, None).unwrap();
    h.outputs();
    h.send("SUBSCRIBE\ndestination:/topic/a\n\n\0");
    let out = h.outputs();
    assert!(matches!(&out[..], [Output::Subscribe(s)] if s.id == "/topic/a"));
    h.deliver("/topic/a", "x").unwrap();
    let f = &h.frames()[0];
    assert_eq!(f.headers.get("subscription"), None);
    assert_eq!(f.headers.get("destination"), Some("/topic/t"));
    // 1.0 UNSUBSCRIBE by destination.
    h.send("UNSUBSCRIBE\ndestination:/topic/a\n\n\0");
    assert!(matches!(&h.outputs()[..], [Output::Unsubscribe(u)] if u.id == "/topic/a"));
}

#[test]
fn duplicate_subscription_id() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/b\nreceipt:r2\n\n\0");
    let f = expect_error(&mut h, true);
    assert!(f.headers.get("message").unwrap().contains("already in use"));
    assert_eq!(f.headers.get("receipt-id"), Some("r2"));
}

#[test]
fn subscriptions_are_bounded() {
    let mut c = config();
    c.max_subscriptions = 2;
    let mut h = Harness::connected_with(c, "1.2");
    h.send(
        "SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\0",
    );
    assert_eq!(h.outputs().len(), 2);
    h.send("SUBSCRIBE\nid:2\ndestination:/topic/a\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(f.headers.get("message"), Some("more than 2 subscriptions"));
}

#[test]
fn invalid_ack_mode() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/a\nack:sometimes\n\n\0");
    let f = expect_error(&mut h, true);
    assert!(f.headers.get("message").unwrap().contains("ack mode"));
}

#[test]
fn unsubscribe() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0");
    h.outputs();
    h.send("UNSUBSCRIBE\nid:0\nreceipt:u\n\n\0");
    let out = h.outputs();
    assert_eq!(
        out[0],
        Output::Unsubscribe(UnsubscribeRequest {
            id: "0".into(),
            destination: "/topic/a".into(),
            route: Route::Broker,
            unacked: vec![],
        })
    );
    assert_eq!(transmitted(&out[1..]), ["RECEIPT\nreceipt-id:u\n\n\0"]);
    assert_eq!(h.deliver("0", "x"), Err(DeliverError::UnknownSubscription));
    // Unknown ids are ignored, but the receipt is still sent.
    h.send("UNSUBSCRIBE\nid:0\nreceipt:again\n\n\0");
    assert_eq!(
        transmitted(&h.outputs()),
        ["RECEIPT\nreceipt-id:again\n\n\0"]
    );
    // An id is required from 1.1 on.
    h.send("UNSUBSCRIBE\ndestination:/topic/a\n\n\0");
    expect_error(&mut h, true);
}

// ---- SEND ----

#[test]
fn send_is_routed_and_receipted_after_publishing() {
    let mut h = Harness::connected();
    h.send("SEND\ndestination:/app/hello\ncontent-type:application/json\ncontent-length:14\nreceipt:s1\nx-trace:7\n\n{\"name\":\"Bob\"}\0");
    let out = h.outputs();
    let Output::Publish(p) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(p.destination, "/app/hello");
    assert_eq!(
        p.route,
        Route::Application {
            path: "/hello".into()
        }
    );
    assert_eq!(p.content_type.as_deref(), Some("application/json"));
    assert_eq!(p.body, "{\"name\":\"Bob\"}");
    assert_eq!(p.headers.get("x-trace"), Some("7"));
    assert_eq!(transmitted(&out[1..]), ["RECEIPT\nreceipt-id:s1\n\n\0"]);
    h.send("SEND\ndestination:/user/bob/queue/private\n\nhi\0SEND\ndestination:/nowhere\n\n\0");
    let out = h.outputs();
    assert!(
        matches!(&out[0], Output::Publish(p) if p.route == Route::User {
            user: Some("bob".into()),
            destination: "/queue/private".into(),
        })
    );
    assert!(matches!(&out[1], Output::Publish(p) if p.route == Route::Unmatched));
}

#[test]
fn send_requires_a_destination() {
    let mut h = Harness::connected();
    h.send("SEND\nreceipt:x\n\nbody\0");
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("SEND without a destination header")
    );
    assert_eq!(f.headers.get("receipt-id"), Some("x"));
}

#[test]
fn malformed_frame_gets_error_and_close() {
    let mut h = Harness::connected();
    h.send("SEND\ndestination:/app/x\nbad\\tescape:1\n\n\0");
    let f = expect_error(&mut h, true);
    assert!(f
        .headers
        .get("message")
        .unwrap()
        .starts_with("malformed frame"));
    // Nothing more is processed or produced.
    h.send("SEND\ndestination:/app/x\n\n\0");
    assert!(h.outputs().is_empty());
    assert_eq!(h.deliver("0", "x"), Err(DeliverError::NotConnected));
}

// ---- MESSAGE ----

#[test]
fn message_frames() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:auto\ndestination:/topic/t\n\n\0SUBSCRIBE\nid:cl\ndestination:/topic/t\nack:client\n\n\0");
    h.outputs();
    let message = OutboundMessage {
        destination: "/topic/t:1".into(),
        content_type: Some("application/json".into()),
        headers: vec![
            ("x-custom".into(), "a:b".into()),
            ("ack".into(), "forged".into()),
        ],
        body: "{\"a\":1}".into(),
    };
    let id0 = h
        .session
        .deliver(h.now, "auto", &Arc::new(message.clone()))
        .unwrap();
    let id1 = h
        .session
        .deliver(h.now, "cl", &Arc::new(message.clone()))
        .unwrap();
    assert_ne!(id0, id1);
    let frames = h.frames();
    let f = &frames[0];
    assert_eq!(f.command, Command::Message);
    assert_eq!(f.headers.get("subscription"), Some("auto"));
    assert_eq!(f.headers.get("message-id"), Some(id0.to_string().as_str()));
    assert_eq!(f.headers.get("destination"), Some("/topic/t:1"));
    assert_eq!(f.headers.get("content-type"), Some("application/json"));
    assert_eq!(f.headers.get("content-length"), Some("7"));
    assert_eq!(f.headers.get("x-custom"), Some("a:b"));
    assert_eq!(
        f.headers.get("ack"),
        None,
        "auto subscriptions have no ack header"
    );
    assert_eq!(f.body, "{\"a\":1}");
    assert_eq!(frames[1].headers.get("ack"), Some(id1.to_string().as_str()));
    assert_eq!(h.session.unacked_count(), 1);
}

#[test]
fn message_frames_in_1_1_have_no_ack_header_and_escape_values() {
    let mut h = Harness::connected_with(config(), "1.1,1.0");
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/t\nack:client\n\n\0");
    h.outputs();
    let message = OutboundMessage {
        destination: "/topic/a:b".into(),
        ..OutboundMessage::default()
    };
    h.session
        .deliver(h.now, "0", &Arc::new(message.clone()))
        .unwrap();
    let out = transmitted(&h.outputs());
    assert!(out[0].contains("\ndestination:/topic/a\\cb\n"), "{out:?}");
    assert!(!out[0].contains("\nack:"));
}

#[test]
fn user_destination_messages_show_the_subscribed_destination() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:u\ndestination:/user/queue/reply\n\n\0");
    h.outputs();
    let message = OutboundMessage {
        destination: "/queue/reply".into(),
        ..OutboundMessage::default()
    };
    h.session
        .deliver(h.now, "u", &Arc::new(message.clone()))
        .unwrap();
    assert_eq!(
        h.frames()[0].headers.get("destination"),
        Some("/user/queue/reply")
    );
}

// ---- ACK / NACK ----

fn with_subscriptions(modes: &[(&str, &str)]) -> Harness {
    let mut h = Harness::connected();
    for (id, mode) in modes {
        h.send(&format!(
            "SUBSCRIBE\nid:{id}\ndestination:/topic/t\nack:{mode}\n\n\0"
        ));
    }
    h.outputs();
    h
}

#[test]
fn client_ack_is_cumulative_per_subscription() {
    let mut h = with_subscriptions(&[("a", "client"), ("b", "client")]);
    let a0 = h.deliver("a", "0").unwrap();
    let b0 = h.deliver("b", "1").unwrap();
    let a1 = h.deliver("a", "2").unwrap();
    let a2 = h.deliver("a", "3").unwrap();
    h.outputs();
    h.send(&format!("ACK\nid:{a1}\nreceipt:k\n\n\0"));
    let out = h.outputs();
    assert_eq!(
        out[0],
        Output::Ack(AckRequest {
            subscription: "a".into(),
            message_ids: vec![a0.clone(), a1.clone()],
        })
    );
    assert_eq!(transmitted(&out[1..]), ["RECEIPT\nreceipt-id:k\n\n\0"]);
    assert_eq!(h.session.unacked_count(), 2, "b0 and a2 remain");
    h.send(&format!("ACK\nid:{a2}\n\n\0ACK\nid:{b0}\n\n\0"));
    let out = h.outputs();
    assert_eq!(
        out,
        [
            Output::Ack(AckRequest {
                subscription: "a".into(),
                message_ids: vec![a2],
            }),
            Output::Ack(AckRequest {
                subscription: "b".into(),
                message_ids: vec![b0],
            }),
        ]
    );
    assert_eq!(h.session.unacked_count(), 0);
}

#[test]
fn client_individual_ack_and_nack() {
    let mut h = with_subscriptions(&[("a", "client-individual")]);
    let m0 = h.deliver("a", "0").unwrap();
    let m1 = h.deliver("a", "1").unwrap();
    h.outputs();
    h.send(&format!("NACK\nid:{m1}\n\n\0"));
    assert_eq!(
        h.outputs(),
        [Output::Nack(AckRequest {
            subscription: "a".into(),
            message_ids: vec![m1],
        })]
    );
    assert_eq!(h.session.unacked_count(), 1);
    h.send(&format!("ACK\nid:{m0}\n\n\0"));
    assert!(matches!(&h.outputs()[..], [Output::Ack(a)] if a.message_ids == [m0.clone()]));
}

#[test]
fn client_nack_is_cumulative_too() {
    let mut h = with_subscriptions(&[("a", "client")]);
    let m0 = h.deliver("a", "0").unwrap();
    let m1 = h.deliver("a", "1").unwrap();
    h.outputs();
    h.send(&format!("NACK\nid:{m1}\n\n\0"));
    assert!(
        matches!(&h.outputs()[..], [Output::Nack(a)] if a.message_ids == [m0.clone(), m1.clone()])
    );
}

#[test]
fn unknown_or_repeated_acks_are_ignored() {
    let mut h = with_subscriptions(&[("a", "client"), ("auto", "auto")]);
    let m0 = h.deliver("a", "0").unwrap();
    let auto = h.deliver("auto", "x").unwrap();
    h.outputs();
    for id in ["nope", "999", auto.as_str()] {
        h.send(&format!("ACK\nid:{id}\nreceipt:r\n\n\0"));
        assert_eq!(
            transmitted(&h.outputs()),
            ["RECEIPT\nreceipt-id:r\n\n\0"],
            "{id}"
        );
    }
    h.send(&format!("ACK\nid:{m0}\n\n\0ACK\nid:{m0}\n\n\0"));
    assert_eq!(h.outputs().len(), 1);
    assert!(h.session.is_connected());
}

#[test]
fn ack_needs_its_id_header() {
    let mut h = Harness::connected();
    h.send("ACK\nmessage-id:0\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(f.headers.get("message"), Some("ACK without a id header"));
    let mut h = Harness::connected_with(config(), "1.1");
    h.send("NACK\nid:0\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("NACK without a message-id header")
    );
}

#[test]
fn ack_in_1_1_uses_message_id_and_subscription() {
    let mut h = Harness::connected_with(config(), "1.1,1.0");
    h.send("SUBSCRIBE\nid:s\ndestination:/topic/t\nack:client-individual\n\n\0");
    h.outputs();
    let m = h.deliver("s", "x").unwrap();
    h.outputs();
    // A different subscription name: not this message.
    h.send(&format!("ACK\nmessage-id:{m}\nsubscription:other\n\n\0"));
    assert!(h.outputs().is_empty());
    h.send(&format!("ACK\nmessage-id:{m}\nsubscription:s\n\n\0"));
    assert!(matches!(&h.outputs()[..], [Output::Ack(a)] if a.subscription == "s"));
}

#[test]
fn unacknowledged_messages_are_bounded() {
    let mut c = config();
    c.max_unacked = 2;
    let mut h = Harness::connected_with(c, "1.2");
    h.send(
        "SUBSCRIBE\nid:a\ndestination:/t\nack:client\n\n\0SUBSCRIBE\nid:auto\ndestination:/t\n\n\0",
    );
    h.outputs();
    h.deliver("a", "0").unwrap();
    let m1 = h.deliver("a", "1").unwrap();
    assert_eq!(h.deliver("a", "2"), Err(DeliverError::TooManyUnacked));
    // Nothing was queued for the refused message; auto subscriptions are not affected.
    assert_eq!(transmitted(&h.outputs()).len(), 2);
    h.deliver("auto", "3").unwrap();
    h.send(&format!("ACK\nid:{m1}\n\n\0"));
    h.outputs();
    assert!(h.deliver("a", "2").is_ok());
}

#[test]
fn unsubscribe_reports_abandoned_messages() {
    let mut h = with_subscriptions(&[("a", "client"), ("b", "client")]);
    let a0 = h.deliver("a", "0").unwrap();
    h.deliver("b", "1").unwrap();
    h.outputs();
    h.send("UNSUBSCRIBE\nid:a\n\n\0");
    assert!(matches!(&h.outputs()[..], [Output::Unsubscribe(u)] if u.unacked == [a0.clone()]));
    assert_eq!(h.session.unacked_count(), 1);
}

// ---- transactions ----

#[test]
fn transactions_hold_frames_until_commit() {
    let mut h = with_subscriptions(&[("a", "client-individual")]);
    let m = h.deliver("a", "0").unwrap();
    h.outputs();
    h.send("BEGIN\ntransaction:tx\nreceipt:b\n\n\0");
    h.send("SEND\ndestination:/topic/x\ntransaction:tx\nreceipt:s\n\nfirst\0");
    h.send(&format!("ACK\nid:{m}\ntransaction:tx\n\n\0"));
    h.send("SEND\ndestination:/topic/x\n\noutside\0");
    let out = h.outputs();
    // Receipts at once, the untransacted SEND at once, the transacted frames held.
    assert_eq!(
        transmitted(&out),
        ["RECEIPT\nreceipt-id:b\n\n\0", "RECEIPT\nreceipt-id:s\n\n\0"]
    );
    assert!(matches!(&out[2], Output::Publish(p) if p.body == "outside"));
    assert_eq!(out.len(), 3);
    assert_eq!(h.session.unacked_count(), 1);
    h.send("COMMIT\ntransaction:tx\nreceipt:c\n\n\0");
    let out = h.outputs();
    assert!(
        matches!(&out[0], Output::Publish(p) if p.body == "first" && p.headers.get("transaction").is_none())
    );
    assert!(matches!(&out[1], Output::Ack(a) if a.message_ids == [m.clone()]));
    assert_eq!(transmitted(&out[2..]), ["RECEIPT\nreceipt-id:c\n\n\0"]);
    assert_eq!(h.session.unacked_count(), 0);
}

#[test]
fn abort_discards_held_frames() {
    let mut h = Harness::connected();
    h.send("BEGIN\ntransaction:t\n\n\0SEND\ndestination:/a\ntransaction:t\n\nx\0ABORT\ntransaction:t\n\n\0");
    assert!(h.outputs().is_empty());
    assert_eq!(h.session.transaction_bytes, 0);
    h.send("COMMIT\ntransaction:t\n\n\0");
    let f = expect_error(&mut h, true);
    assert!(f
        .headers
        .get("message")
        .unwrap()
        .contains("no open transaction"));
}

#[test]
fn transaction_errors() {
    let mut h = Harness::connected();
    h.send("SEND\ndestination:/a\ntransaction:nope\n\n\0");
    expect_error(&mut h, true);
    let mut h = Harness::connected();
    h.send("BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0");
    let f = expect_error(&mut h, true);
    assert!(f.headers.get("message").unwrap().contains("already open"));
    let mut h = Harness::connected();
    h.send("BEGIN\n\n\0");
    expect_error(&mut h, true);

    let mut c = config();
    c.max_transactions = 1;
    c.max_transaction_bytes = 40;
    let mut h = Harness::connected_with(c.clone(), "1.2");
    h.send("BEGIN\ntransaction:a\n\n\0BEGIN\ntransaction:b\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("more than 1 open transactions")
    );
    let mut h = Harness::connected_with(c, "1.2");
    h.send("BEGIN\ntransaction:a\n\n\0SEND\ndestination:/a\ntransaction:a\n\n0123456789\0");
    assert!(h.outputs().is_empty());
    h.send("SEND\ndestination:/a\ntransaction:a\n\n0123456789\0");
    let f = expect_error(&mut h, true);
    assert!(f.headers.get("message").unwrap().contains("40 bytes"));
}

#[test]
fn invalid_frames_in_a_transaction_fail_when_sent() {
    let mut h = Harness::connected();
    h.send("BEGIN\ntransaction:t\n\n\0SEND\ntransaction:t\nreceipt:r\n\n\0");
    let f = expect_error(&mut h, true);
    assert_eq!(f.headers.get("receipt-id"), Some("r"));
}

// ---- DISCONNECT, close, fail ----

#[test]
fn disconnect_with_receipt() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0");
    h.outputs();
    h.send("DISCONNECT\nreceipt:close-1\n\n\0SEND\ndestination:/a\n\nignored\0");
    assert_eq!(
        h.outputs(),
        [
            Output::Disconnect,
            Output::Transmit("RECEIPT\nreceipt-id:close-1\n\n\0".into()),
            Output::Close(CloseReason::Disconnect),
        ]
    );
    assert!(h.session.is_closed());
    assert_eq!(h.session.poll_timeout(), None);
    assert_eq!(h.session.subscription_count(), 0);
    assert_eq!(
        CloseReason::Disconnect.sockjs_close(),
        (1000, "Normal closure")
    );
    h.send("SEND\ndestination:/a\n\n\0");
    h.session.handle_timeout(h.now + Duration::from_secs(100));
    assert!(h.outputs().is_empty());
}

#[test]
fn transport_close() {
    let mut h = Harness::connected();
    h.session.handle_close(h.now);
    assert_eq!(h.outputs(), [Output::Disconnect]);
    assert_eq!(
        h.session.close_reason(),
        Some(&CloseReason::TransportClosed)
    );
    h.session.handle_close(h.now);
    assert!(h.outputs().is_empty());
    // Before CONNECTED there is no broker state to drop.
    let mut h = Harness::new(config());
    h.session.handle_close(h.now);
    assert!(h.outputs().is_empty());
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn fail_drops_what_follows_and_reports_the_receipt() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/secret\nreceipt:r1\n\n\0SEND\ndestination:/app/x\n\n\0");
    let Some(Output::Subscribe(_)) = h.session.poll_output() else {
        panic!()
    };
    // The driver's authorizer says no.
    h.session.fail(h.now, "Access denied to /topic/secret");
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("Access denied to /topic/secret")
    );
    assert_eq!(f.headers.get("receipt-id"), Some("r1"));
    assert_eq!(
        CloseReason::Error(SessionError::Failed(String::new()))
            .sockjs_close()
            .0,
        1002
    );
}

#[test]
fn errors_are_escaped_once_connected() {
    let mut h = Harness::connected();
    h.send("SEND\ndestination:/a\ntransaction:a:b\n\n\0");
    let out = transmitted(&h.outputs());
    assert!(
        out[0].contains("message:no open transaction \"a\\cb\"\n"),
        "{out:?}"
    );
    // Before CONNECTED the client does not unescape: the message is written raw.
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:9:9\n\n\0");
    let out = transmitted(&h.outputs());
    assert!(out[0].contains("version \"9:9\""), "{out:?}");
}

#[test]
fn deliver_before_connected() {
    let mut h = Harness::new(config());
    assert_eq!(h.deliver("0", "x"), Err(DeliverError::NotConnected));
}

// ---- heart-beats (single steps; scenarios are in tests/heart_beats.rs) ----

#[test]
fn server_heart_beat_when_idle_and_postponed_by_traffic() {
    let mut h = Harness::connected();
    h.send("SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0");
    h.outputs();
    let start = h.now;
    assert_eq!(
        h.session.poll_timeout(),
        Some(start + Duration::from_secs(10))
    );
    h.advance(6_000);
    h.deliver("0", "x").unwrap();
    h.outputs();
    // The MESSAGE reset the send timer.
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(10))
    );
    h.advance(10_000);
    h.session.handle_timeout(h.now);
    assert_eq!(h.outputs(), [Output::Transmit("\n".into())]);
}

#[test]
fn silent_client_times_out_after_three_intervals() {
    let mut h = Harness::connected();
    for _ in 0..3 {
        // The server's own heart-beats do not keep the client alive.
        h.advance(10_000);
        h.session.handle_timeout(h.now);
    }
    let f = expect_error(&mut h, true);
    assert_eq!(
        f.headers.get("message"),
        Some("no data from the client for 30000 ms")
    );
}

#[test]
fn any_client_data_counts_as_a_heart_beat() {
    let mut h = Harness::connected();
    h.advance(29_000);
    h.send("SEND\ndestination:/a"); // half a frame
    h.advance(29_000);
    h.send("\n\nx\0");
    h.advance(29_000);
    h.send("\n");
    h.advance(29_000);
    h.session.handle_timeout(h.now);
    assert!(h.session.is_connected());
    assert!(h.outputs().iter().all(|o| !is_close(o)));
}

#[test]
fn heart_beats_follow_the_negotiation() {
    // The client wants none and sends none: no timers.
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
    h.outputs();
    h.session.accept(h.now, None).unwrap();
    h.outputs();
    assert_eq!(h.session.poll_timeout(), None);
    // cx=5 s, cy=20 s against 10 s,10 s: send every 20 s, expect every 10 s (30 s timeout).
    let mut h = Harness::new(config());
    h.send("CONNECT\naccept-version:1.2\nheart-beat:5000,20000\n\n\0");
    h.outputs();
    h.session.accept(h.now, None).unwrap();
    h.outputs();
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(20))
    );
    h.advance(20_000);
    h.session.handle_timeout(h.now);
    assert_eq!(transmitted(&h.outputs()), ["\n"]);
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(10))
    );
    h.advance(10_000);
    h.session.handle_timeout(h.now);
    expect_error(&mut h, true);
    // A server configured without heart-beats advertises 0,0 and keeps no timers.
    let mut c = config();
    c.heartbeat_send = Duration::ZERO;
    c.heartbeat_receive = Duration::ZERO;
    let mut h = Harness::new(c);
    h.send("CONNECT\naccept-version:1.2\nheart-beat:10000,10000\n\n\0");
    h.outputs();
    h.session.accept(h.now, None).unwrap();
    assert_eq!(h.frames()[0].headers.get("heart-beat"), Some("0,0"));
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn early_timeouts_do_nothing() {
    let mut h = Harness::connected();
    for ms in [0, 1, 9_999] {
        h.session.handle_timeout(h.now + Duration::from_millis(ms));
    }
    assert!(h.outputs().is_empty());
    // An earlier instant than seen before does not confuse the timers.
    h.session.handle_timeout(h.now - Duration::from_secs(1));
    h.send("\n");
    assert!(h.outputs().is_empty());
}

#[test]
fn input_after_connect_in_the_same_message_is_bounded_too() {
    // Found by the stomp_session fuzz target: the rest of the message that carried CONNECT
    // was held while authenticating without the bound.
    let mut c = config();
    c.limits.max_frame_size = 100;
    let mut h = Harness::new(c);
    h.send(&format!(
        "CONNECT\naccept-version:1.2\n\n\0{}",
        "x".repeat(101)
    ));
    let f = expect_error(&mut h, false);
    assert!(f
        .headers
        .get("message")
        .unwrap()
        .contains("before CONNECTED"));
    assert_eq!(h.session.buffered(), 0);
}

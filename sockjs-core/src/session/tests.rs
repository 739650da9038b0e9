//! Scenario tests: sessions driven on a simulated clock (no sleeping, no I/O).

use super::*;

/// A simulated clock: a fixed origin plus an offset the test advances.
struct Clock {
    origin: Instant,
    offset: Duration,
}

impl Clock {
    fn new() -> Self {
        Clock {
            origin: Instant::now(),
            offset: Duration::ZERO,
        }
    }
    fn now(&self) -> Instant {
        self.origin + self.offset
    }
    fn advance(&mut self, d: Duration) -> Instant {
        self.offset += d;
        self.now()
    }
}

fn config() -> Config {
    Config {
        response_limit: 4096,
        ..Config::default()
    }
}

fn frame(s: &str, end: bool) -> Transmit {
    Transmit::Frame {
        data: Bytes::copy_from_slice(s.as_bytes()),
        end,
    }
}

fn msg(s: &str) -> EncodedMessage {
    EncodedMessage::new(s)
}

fn poll(session: &mut Session, now: Instant, mode: ReceiveMode) -> Transmit {
    let rx = session.attach(now, Framing::Newline, mode).expect("attach");
    session.poll_transmit(now, rx)
}

#[test]
fn polling_open_then_messages_then_close_frame_until_expiry() {
    let clock = Clock::new();
    let now = clock.now();
    let mut s = Session::new(now, &config());
    assert_eq!(poll(&mut s, now, ReceiveMode::Polling), frame("o\n", true));
    assert!(!s.has_receiver(), "a polling receiver ends after one frame");
    s.send(msg("a")).unwrap();
    s.send(msg("b")).unwrap();
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("a[\"a\",\"b\"]\n", true)
    );
    assert!(s.close(3000, "Go away!"));
    assert!(!s.close(3001, "again"), "closing twice is refused");
    for _ in 0..3 {
        assert_eq!(
            poll(&mut s, now, ReceiveMode::Polling),
            frame("c[3000,\"Go away!\"]\n", true)
        );
    }
    assert_eq!(
        s.take_close_event(),
        Some(CloseCause::Server {
            code: 3000,
            reason: "Go away!".into()
        })
    );
    assert_eq!(
        s.take_close_event(),
        None,
        "the close event is reported once"
    );
    assert!(matches!(s.send(msg("late")), Err(SendError::Closed(_))));
}

#[test]
fn open_frame_comes_first_even_if_the_app_closed_at_once() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    s.close(3000, "Go away!");
    let rx = s
        .attach(now, Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("o\n", false));
    assert_eq!(
        s.poll_transmit(now, rx),
        frame("c[3000,\"Go away!\"]\n", true)
    );
    assert_eq!(s.poll_transmit(now, rx), Transmit::Ended);
}

#[test]
fn app_close_flushes_queued_messages_first() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let rx = s
        .attach(now, Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("o\n", false));
    s.send(msg("last words")).unwrap();
    s.close(1000, "bye");
    assert_eq!(
        s.poll_transmit(now, rx),
        frame("a[\"last words\"]\n", false)
    );
    assert_eq!(s.poll_transmit(now, rx), frame("c[1000,\"bye\"]\n", true));
}

#[test]
fn second_receiver_gets_2010_and_the_first_keeps_working() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let first = s
        .attach(now, Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, first), frame("o\n", false));
    match s.attach(now, Framing::Newline, ReceiveMode::Polling) {
        Err(AttachError::AnotherConnection { frame }) => {
            assert_eq!(&frame[..], b"c[2010,\"Another connection still open\"]\n")
        }
        other => panic!("expected 2010, got {other:?}"),
    }
    assert!(!s.is_closed(), "the refusal does not close the session");
    s.send(msg("x")).unwrap();
    assert_eq!(s.poll_transmit(now, first), frame("a[\"x\"]\n", false));
}

#[test]
fn aborted_receiver_closes_with_1002() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    assert_eq!(
        poll(&mut s, clock.now(), ReceiveMode::Polling),
        frame("o\n", true)
    );
    let rx = s
        .attach(clock.now(), Framing::Newline, ReceiveMode::Polling)
        .unwrap();
    assert_eq!(s.poll_transmit(clock.now(), rx), Transmit::Idle);
    let now = clock.advance(Duration::from_millis(250));
    s.detach(now, rx, true);
    assert_eq!(s.take_close_event(), Some(CloseCause::Interrupted));
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("c[1002,\"Connection interrupted\"]\n", true)
    );
}

#[test]
fn detaching_a_stale_receiver_does_nothing() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let rx = s
        .attach(now, Framing::Newline, ReceiveMode::Polling)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("o\n", true));
    // the response ended normally; the driver's drop guard still reports it
    s.detach(now, rx, true);
    assert!(!s.is_closed());
}

#[test]
fn streaming_response_ends_at_the_limit_counting_after_the_prelude() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let rx = s
        .attach(now, Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("o\n", false));
    let payload = "x".repeat(128);
    let expected = format!("a[\"{payload}\"]\n");
    for i in 1..=31 {
        s.send(msg(&payload)).unwrap();
        let end = i == 31;
        assert_eq!(
            s.poll_transmit(now, rx),
            frame(&expected, end),
            "message {i}"
        );
    }
    assert_eq!(s.poll_transmit(now, rx), Transmit::Ended);
    assert!(
        !s.is_closed(),
        "reaching the limit does not close the session"
    );
    // the client reconnects and gets what was queued meanwhile
    s.send(msg("next")).unwrap();
    let rx = s
        .attach(now, Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("a[\"next\"]\n", false));
}

#[test]
fn websocket_receiver_has_no_limit() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let rx = s
        .attach(now, Framing::WebSocket, ReceiveMode::Unlimited)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("o", false));
    let big = "y".repeat(10_000);
    s.send(msg(&big)).unwrap();
    assert_eq!(
        s.poll_transmit(now, rx),
        frame(&format!("a[\"{big}\"]"), false)
    );
}

#[test]
fn heartbeat_every_interval_while_attached() {
    let mut clock = Clock::new();
    let cfg = config();
    let mut s = Session::new(clock.now(), &cfg);
    let rx = s
        .attach(clock.now(), Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(clock.now(), rx), frame("o\n", false));
    assert_eq!(s.poll_timeout(), Some(clock.now() + cfg.heartbeat_interval));
    let now = clock.advance(Duration::from_secs(24));
    s.handle_timeout(now);
    assert_eq!(s.poll_transmit(now, rx), Transmit::Idle, "not yet");
    for _ in 0..3 {
        let now = clock.advance(Duration::from_secs(1));
        assert_eq!(s.poll_timeout(), Some(now));
        s.handle_timeout(now);
        assert_eq!(s.poll_transmit(now, rx), frame("h\n", false));
        assert_eq!(s.poll_transmit(now, rx), Transmit::Idle);
        clock.advance(Duration::from_secs(24));
    }
}

#[test]
fn heartbeat_ends_a_polling_request() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    assert_eq!(
        poll(&mut s, clock.now(), ReceiveMode::Polling),
        frame("o\n", true)
    );
    let rx = s
        .attach(clock.now(), Framing::Newline, ReceiveMode::Polling)
        .unwrap();
    let now = clock.advance(Duration::from_secs(25));
    s.handle_timeout(now);
    assert_eq!(s.poll_transmit(now, rx), frame("h\n", true));
}

#[test]
fn no_heartbeat_or_expiry_while_data_flows() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    let rx = s
        .attach(clock.now(), Framing::Newline, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(clock.now(), rx), frame("o\n", false));
    for _ in 0..10 {
        let now = clock.advance(Duration::from_secs(20));
        s.handle_timeout(now);
        s.send(msg("tick")).unwrap();
        assert_eq!(s.poll_transmit(now, rx), frame("a[\"tick\"]\n", false));
    }
    assert!(!s.is_expired());
}

#[test]
fn expires_after_the_disconnect_delay_without_receiver() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    assert_eq!(
        poll(&mut s, clock.now(), ReceiveMode::Polling),
        frame("o\n", true)
    );
    s.send(msg("pending")).unwrap();
    let now = clock.advance(Duration::from_millis(4999));
    s.handle_timeout(now);
    assert!(!s.is_expired());
    let now = clock.advance(Duration::from_millis(1));
    assert_eq!(s.poll_timeout(), Some(now));
    s.handle_timeout(now);
    assert!(s.is_expired());
    assert_eq!(s.take_close_event(), Some(CloseCause::TimedOut));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.attach(now, Framing::Newline, ReceiveMode::Polling),
        Err(AttachError::Expired)
    );
}

#[test]
fn a_returning_receiver_postpones_expiry() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    for _ in 0..10 {
        let now = clock.advance(Duration::from_secs(4));
        s.handle_timeout(now);
        assert!(!s.is_expired());
        let rx = s
            .attach(now, Framing::Newline, ReceiveMode::Polling)
            .unwrap();
        let now = clock.advance(Duration::from_secs(1));
        s.handle_timeout(now);
        s.send(msg("m")).unwrap();
        assert!(matches!(
            s.poll_transmit(now, rx),
            Transmit::Frame { end: true, .. }
        ));
    }
    assert!(!s.is_expired());
}

#[test]
fn closed_session_keeps_serving_the_close_frame_until_expiry() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    assert_eq!(
        poll(&mut s, clock.now(), ReceiveMode::Polling),
        frame("o\n", true)
    );
    s.close(3000, "Go away!");
    let now = clock.advance(Duration::from_secs(3));
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("c[3000,\"Go away!\"]\n", true)
    );
    let now = clock.advance(Duration::from_secs(5));
    s.handle_timeout(now);
    assert!(s.is_expired());
    assert_eq!(
        s.take_close_event(),
        Some(CloseCause::Server {
            code: 3000,
            reason: "Go away!".into()
        }),
        "expiry keeps the original cause"
    );
}

#[test]
fn outbound_queue_is_bounded() {
    let now = Instant::now();
    let cfg = Config {
        max_queued_messages: 3,
        max_queued_bytes: 100,
        ..config()
    };
    let mut s = Session::new(now, &cfg);
    // an empty queue takes one message whatever its size
    s.send(msg(&"z".repeat(500))).unwrap();
    assert!(matches!(s.send(msg("a")), Err(SendError::Full(_))));
    assert_eq!(poll(&mut s, now, ReceiveMode::Polling), frame("o\n", true));
    assert!(matches!(
        poll(&mut s, now, ReceiveMode::Polling),
        Transmit::Frame { end: true, .. }
    ));
    assert_eq!(s.queued_bytes(), 0);
    s.send(msg("a")).unwrap();
    s.send(msg("b")).unwrap();
    s.send(msg("c")).unwrap();
    match s.send(msg("d")) {
        Err(SendError::Full(m)) => assert_eq!(m, msg("d"), "the message is handed back"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.queued_messages(), 3);
}

#[test]
fn abort_drops_the_queue_and_serves_its_code() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    assert_eq!(poll(&mut s, now, ReceiveMode::Polling), frame("o\n", true));
    s.send(msg("lost")).unwrap();
    assert!(s.abort(CloseCause::LimitExceeded, &close::TOO_BIG));
    assert_eq!(s.queued_messages(), 0);
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("c[1009,\"Message too big\"]\n", true)
    );
    assert_eq!(s.take_close_event(), Some(CloseCause::LimitExceeded));
}

#[test]
fn close_with_flush_delivers_queue_first() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    assert_eq!(poll(&mut s, now, ReceiveMode::Polling), frame("o\n", true));
    s.send(msg("bye")).unwrap();
    assert!(s.close_with(CloseCause::Shutdown, 1001, "Server shutting down", true));
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("a[\"bye\"]\n", true)
    );
    assert_eq!(
        poll(&mut s, now, ReceiveMode::Polling),
        frame("c[1001,\"Server shutting down\"]\n", true)
    );
}

#[test]
fn other_framings_wrap_every_frame() {
    let now = Instant::now();
    let mut s = Session::new(now, &config());
    let rx = s
        .attach(now, Framing::EventSource, ReceiveMode::Streaming)
        .unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("data: o\r\n\r\n", false));
    s.send(msg("x")).unwrap();
    assert_eq!(
        s.poll_transmit(now, rx),
        frame("data: a[\"x\"]\r\n\r\n", false)
    );
    s.detach(now, rx, false);
    let rx = s
        .attach(
            now,
            Framing::Jsonp {
                callback: "cb".into(),
            },
            ReceiveMode::Polling,
        )
        .unwrap();
    s.close(3000, "Go away!");
    assert_eq!(
        s.poll_transmit(now, rx),
        frame("/**/cb(\"c[3000,\\\"Go away!\\\"]\");\r\n", true)
    );
}

#[test]
fn raw_framing_has_no_open_frame_no_heartbeat_and_closes_with_a_code() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    let rx = s
        .attach(clock.now(), Framing::Raw, ReceiveMode::Unlimited)
        .unwrap();
    assert_eq!(s.poll_transmit(clock.now(), rx), Transmit::Idle);
    assert_eq!(s.poll_timeout(), None, "no heartbeat on the raw endpoint");
    s.send(EncodedMessage::verbatim("plain \"text\"")).unwrap();
    s.send(EncodedMessage::verbatim("second")).unwrap();
    assert_eq!(
        s.poll_transmit(clock.now(), rx),
        frame("plain \"text\"", false)
    );
    assert_eq!(s.poll_transmit(clock.now(), rx), frame("second", false));
    let now = clock.advance(Duration::from_secs(60));
    s.handle_timeout(now);
    assert_eq!(s.poll_transmit(now, rx), Transmit::Idle);
    s.send(EncodedMessage::verbatim("bye")).unwrap();
    s.close(3000, "Go away!");
    assert_eq!(s.poll_transmit(now, rx), frame("bye", false));
    assert_eq!(
        s.poll_transmit(now, rx),
        Transmit::Close {
            code: 3000,
            reason: "Go away!".into()
        }
    );
    assert_eq!(s.poll_transmit(now, rx), Transmit::Ended);
}

#[test]
fn heartbeat_comes_a_full_interval_after_the_last_frame() {
    let mut clock = Clock::new();
    let mut s = Session::new(clock.now(), &config());
    let rx = s
        .attach(clock.now(), Framing::WebSocket, ReceiveMode::Unlimited)
        .unwrap();
    assert_eq!(s.poll_transmit(clock.now(), rx), frame("o", false));
    let deadline = s.poll_timeout();
    // traffic at t=10 s does not move the timer (no per-message timer work) ...
    let now = clock.advance(Duration::from_secs(10));
    s.send(msg("x")).unwrap();
    assert_eq!(s.poll_transmit(now, rx), frame("a[\"x\"]", false));
    assert_eq!(s.poll_timeout(), deadline);
    // ... when it fires at t=25 s it re-arms for t=35 s instead of sending `h`
    let now = clock.advance(Duration::from_secs(15));
    s.handle_timeout(now);
    assert_eq!(s.poll_transmit(now, rx), Transmit::Idle);
    let next = s.poll_timeout().unwrap();
    assert_eq!(next, now + Duration::from_secs(10));
    let now = clock.advance(Duration::from_secs(10));
    s.handle_timeout(now);
    assert_eq!(s.poll_transmit(now, rx), frame("h", false));
}

/// A message alone in its frame goes out on a websocket as the message's own buffer (a
/// broadcast builds no frame per session); other transports wrap it, and several queued
/// messages still make one frame.
#[test]
fn a_lone_message_is_sent_from_its_shared_buffer() {
    let clock = Clock::new();
    let now = clock.now();
    let shared = msg("to everyone \"quoted\"");
    let expected = "a[\"to everyone \\\"quoted\\\"\"]";
    let framings = [
        (Framing::WebSocket, expected.to_string()),
        (Framing::Newline, format!("{expected}\n")),
        (Framing::EventSource, format!("data: {expected}\r\n\r\n")),
    ];
    for (framing, wire) in framings {
        let mut s = Session::new(now, &config());
        let rx = s
            .attach(now, framing.clone(), ReceiveMode::Unlimited)
            .unwrap();
        assert!(matches!(s.poll_transmit(now, rx), Transmit::Frame { .. }));
        s.send(shared.clone()).unwrap();
        let Transmit::Frame { data, end: false } = s.poll_transmit(now, rx) else {
            panic!("no frame for {framing:?}");
        };
        assert_eq!(data, wire.as_bytes(), "{framing:?}");
        let shares_buffer = data.as_ptr() as usize + 2 == shared.as_bytes().as_ptr() as usize;
        assert_eq!(shares_buffer, framing == Framing::WebSocket, "{framing:?}");
        assert_eq!(s.queued_messages(), 0);
        assert_eq!(s.queued_bytes(), 0);

        s.send(shared.clone()).unwrap();
        s.send(msg("b")).unwrap();
        let Transmit::Frame { data, .. } = s.poll_transmit(now, rx) else {
            panic!("no frame for {framing:?}");
        };
        let both = "a[\"to everyone \\\"quoted\\\"\",\"b\"]";
        assert!(
            std::str::from_utf8(&data).unwrap().contains(both),
            "{framing:?}: {data:?}"
        );
        assert_eq!(s.queued_messages(), 0);
    }
}

//! Heart-beat scenarios on a simulated clock: random negotiations, random client timing,
//! random broker traffic, checked against the spec's rules after every step.
//!
//! The driver loop is the real one: jump to the earlier of the next client message and
//! `poll_timeout()`, feed that input, drain the outputs. A client message due at the same
//! instant as a deadline is handled first (it arrived in time).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, Instant};

use sockjs_stomp::{Config, OutboundMessage, Output, Session};

/// xorshift64*: deterministic, good enough to pick scenarios.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick(&mut self, values: &[u64]) -> u64 {
        values[self.below(values.len() as u64) as usize]
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

struct Outcome {
    closed_at: Option<Instant>,
    heart_beats: usize,
}

/// One scenario; panics when a rule is broken.
fn run(seed: u64) -> Outcome {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (cx, cy) = (
        rng.pick(&[0, 1000, 5000, 10_000, 20_000]),
        rng.pick(&[0, 1000, 5000, 10_000, 20_000]),
    );
    let (sx, sy) = (rng.pick(&[0, 2000, 10_000]), rng.pick(&[0, 2000, 10_000]));
    let tolerance = rng.below(4) as u32 + 1;
    let mut config = Config::default();
    config.heartbeat_send = ms(sx);
    config.heartbeat_receive = ms(sy);
    config.heartbeat_tolerance = tolerance;
    let send_every = (sx > 0 && cy > 0).then(|| ms(sx.max(cy)));
    let read_timeout = (cx > 0 && sy > 0).then(|| ms(cx.max(sy)) * tolerance);

    let start = Instant::now();
    let mut now = start;
    let mut session = Session::new(now, Arc::new(config));
    session.handle_message(
        now,
        &format!("CONNECT\naccept-version:1.2\nheart-beat:{cx},{cy}\n\n\0"),
    );
    assert!(matches!(
        session.poll_output(),
        Some(Output::Authenticate(_))
    ));
    session.accept(now, None).unwrap();
    session.handle_message(now, "SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0");
    let mut last_server = now;
    let mut last_client = now;
    let mut closed_at = None;
    let mut heart_beats = 0;
    // Gaps up to a bit beyond the longest possible timeout, so some scenarios time out.
    let max_gap = read_timeout.map_or(60_000, |t| t.as_millis() as u64 * 5 / 4);
    let mut next_client = now + ms(rng.below(max_gap));
    let end = start + Duration::from_secs(600);

    while now < end {
        // Drain: record what the server sent.
        while let Some(output) = session.poll_output() {
            match output {
                Output::Transmit(text) => {
                    if text == "\n" {
                        heart_beats += 1;
                        let due = send_every.expect("a heart-beat only when negotiated");
                        assert_eq!(now - last_server, due, "heart-beat exactly when due");
                    }
                    last_server = now;
                }
                Output::Message(_) => last_server = now,
                Output::Close(_) => closed_at = Some(now),
                _ => {}
            }
        }
        if closed_at.is_some() {
            break;
        }
        if let Some(every) = send_every {
            assert!(now - last_server <= every, "server silent too long");
        }
        let deadline = session.poll_timeout();
        if let Some(d) = deadline {
            assert!(d > now, "a deadline in the past after handling");
        }
        match deadline {
            Some(d) if d < next_client => {
                now = d;
                session.handle_timeout(now);
            }
            _ => {
                now = next_client;
                if let Some(timeout) = read_timeout {
                    assert!(
                        now - last_client <= timeout,
                        "the client was silent {:?} (> {timeout:?}) and still connected",
                        now - last_client
                    );
                }
                // Heart-beats, partial frames, whole frames: all count.
                let message = ["\n", "SEND\ndestination:/a\n\nx\0", "\r\n"][rng.below(3) as usize];
                session.handle_message(now, message);
                last_client = now;
                if rng.below(3) == 0 {
                    let m = std::sync::Arc::new(OutboundMessage {
                        destination: "/topic/t".into(),
                        ..OutboundMessage::default()
                    });
                    session.deliver(now, "0", &m).unwrap();
                }
                next_client = now + ms(rng.below(max_gap));
            }
        }
    }
    if let Some(at) = closed_at {
        let timeout = read_timeout.expect("only a watched client times out");
        assert_eq!(at - last_client, timeout, "closed exactly at the deadline");
        assert!(session.is_closed());
        assert_eq!(session.poll_timeout(), None);
    } else if let Some(timeout) = read_timeout {
        assert!(now - last_client <= timeout);
    }
    Outcome {
        closed_at,
        heart_beats,
    }
}

#[test]
fn random_scenarios_follow_the_spec() {
    let mut timed_out = 0;
    let mut with_heart_beats = 0;
    for seed in 0..400 {
        let outcome = run(seed);
        timed_out += usize::from(outcome.closed_at.is_some());
        with_heart_beats += usize::from(outcome.heart_beats > 0);
    }
    // The scenarios exercise both outcomes (not a timing assertion: the clock is simulated).
    assert!(timed_out > 20, "{timed_out} scenarios timed out");
    assert!(
        with_heart_beats > 20,
        "{with_heart_beats} scenarios sent heart-beats"
    );
}

#[test]
fn stompjs_defaults_against_spring_defaults_stay_up_with_a_punctual_client() {
    // stompjs sends "\n" every 10 s; the server sends one every 10 s when idle.
    let mut now = Instant::now();
    let mut session = Session::new(now, Arc::new(Config::default()));
    session.handle_message(
        now,
        "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\n\n\0",
    );
    session.poll_output();
    session.accept(now, None).unwrap();
    session.poll_output();
    let mut eols = 0;
    for _ in 0..360 {
        // One hour: the client's timer fires a little late every time.
        now += ms(10_050);
        if let Some(d) = session.poll_timeout() {
            if d <= now {
                session.handle_timeout(d);
            }
        }
        session.handle_message(now, "\n");
        while let Some(o) = session.poll_output() {
            assert!(!matches!(o, Output::Close(_)));
            eols += usize::from(o == Output::Transmit("\n".into()));
        }
    }
    assert!(session.is_connected());
    assert_eq!(eols, 360, "one server heart-beat per interval");
}

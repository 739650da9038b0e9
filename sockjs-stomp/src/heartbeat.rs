//! STOMP heart-beating: parsing the `heart-beat` header, negotiating intervals, and the
//! session's two timers. See the [crate docs](crate#heart-beats-sockjs-h-frames-and-proxies)
//! for how this relates to SockJS's `h` frames and to proxy timeouts.
//!
//! A `heart-beat: x,y` header says "I can send a heart-beat every `x` ms" and "I want one
//! every `y` ms" (0 = cannot / does not want). With the client's `cx,cy` and the server's
//! `sx,sy` (STOMP 1.1 and 1.2, "Heart-beating"):
//!
//! * the server sends every `max(sx, cy)` ms, unless `sx` or `cy` is 0;
//! * the client sends every `max(cx, sy)` ms, unless `cx` or `sy` is 0, and the server gives
//!   up on a client silent for that interval times [`Config::heartbeat_tolerance`](crate::Config::heartbeat_tolerance)
//!   (default 3, Spring's multiplier; RabbitMQ's STOMP plugin gives up between 2 and 3
//!   intervals, @stomp/stompjs waits 2 intervals for the server).
//!
//! Any bytes count as activity in either direction, not only EOLs.

use std::fmt;
use std::time::{Duration, Instant};

/// A `heart-beat` header that is not two comma-separated non-negative integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHeartBeat(pub String);

impl fmt::Display for InvalidHeartBeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid heart-beat header {:?}", self.0)
    }
}

impl std::error::Error for InvalidHeartBeat {}

/// Parses a `heart-beat` header value, `"10000,10000"`, into milliseconds (spaces around the
/// numbers are allowed).
///
/// ```
/// use sockjs_stomp::heartbeat::parse;
/// assert_eq!(parse("10000,0"), Ok((10000, 0)));
/// assert!(parse("10000").is_err());
/// ```
pub fn parse(value: &str) -> Result<(u64, u64), InvalidHeartBeat> {
    let invalid = || InvalidHeartBeat(value.chars().take(64).collect());
    let mut parts = value.split(',');
    let mut number = || -> Result<u64, InvalidHeartBeat> {
        let part = parts.next().ok_or_else(invalid)?.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        // Too large to be a real interval: treat as "never", which u64::MAX ms is.
        Ok(part.parse().unwrap_or(u64::MAX))
    };
    let send = number()?;
    let receive = number()?;
    if parts.next().is_some() {
        return Err(invalid());
    }
    Ok((send, receive))
}

/// The outcome of heart-beat negotiation, from the server's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// How often the server sends (an EOL when it has nothing else to send); `None`: never.
    pub send_every: Option<Duration>,
    /// How often the client promised to send; `None`: the client is not watched.
    pub expect_every: Option<Duration>,
}

/// Negotiates the client's `heart-beat` (`cx,cy`) against the server's settings (`sx,sy`),
/// all in milliseconds.
///
/// ```
/// use std::time::Duration;
/// use sockjs_stomp::heartbeat::negotiate;
/// let n = negotiate((10_000, 10_000), (10_000, 10_000)); // stompjs defaults, Spring's default
/// assert_eq!(n.send_every, Some(Duration::from_secs(10)));
/// assert_eq!(n.expect_every, Some(Duration::from_secs(10)));
/// let n = negotiate((0, 4_000), (10_000, 10_000)); // a client that only listens
/// assert_eq!(n.send_every, Some(Duration::from_secs(10)));
/// assert_eq!(n.expect_every, None);
/// ```
pub fn negotiate(client: (u64, u64), server: (u64, u64)) -> Negotiated {
    let pick = |a: u64, b: u64| (a > 0 && b > 0).then(|| Duration::from_millis(a.max(b)));
    Negotiated {
        send_every: pick(server.0, client.1),
        expect_every: pick(client.0, server.1),
    }
}

/// The session's heart-beat timers.
#[derive(Clone, Debug)]
pub(crate) struct Timers {
    send_every: Option<Duration>,
    /// `expect_every × tolerance`; `None` when the client is not watched.
    read_timeout: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
}

impl Timers {
    pub(crate) fn new(now: Instant) -> Timers {
        Timers {
            send_every: None,
            read_timeout: None,
            last_sent: now,
            last_received: now,
        }
    }

    pub(crate) fn start(&mut self, now: Instant, negotiated: Negotiated, tolerance: u32) {
        self.send_every = negotiated.send_every;
        self.read_timeout = negotiated
            .expect_every
            .and_then(|d| d.checked_mul(tolerance.max(1)));
        self.last_sent = now;
        self.last_received = now;
    }

    pub(crate) fn stop(&mut self) {
        self.send_every = None;
        self.read_timeout = None;
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    pub(crate) fn sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    pub(crate) fn received(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    /// When the next EOL is due (if nothing else is sent before).
    pub(crate) fn send_deadline(&self) -> Option<Instant> {
        self.send_every
            .and_then(|every| self.last_sent.checked_add(every))
    }

    /// When the client counts as gone (if nothing arrives before).
    pub(crate) fn receive_deadline(&self) -> Option<Instant> {
        self.read_timeout
            .and_then(|timeout| self.last_received.checked_add(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_what_clients_send() {
        assert_eq!(parse("10000,10000"), Ok((10000, 10000)));
        assert_eq!(parse("0,0"), Ok((0, 0)));
        assert_eq!(parse(" 1 , 2 "), Ok((1, 2)));
        assert_eq!(
            parse("99999999999999999999999,1"),
            Ok((u64::MAX, 1)),
            "absurdly large means never"
        );
    }

    #[test]
    fn parse_rejects_malformed_values() {
        for bad in ["", "1", "1,", ",1", "1,2,3", "-1,0", "a,b", "1.5,2", "1;2"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negotiation_follows_the_spec() {
        let s = Duration::from_millis;
        assert_eq!(
            negotiate((5000, 20000), (10000, 10000)),
            Negotiated {
                send_every: Some(s(20000)),
                expect_every: Some(s(10000)),
            }
        );
        assert_eq!(negotiate((0, 0), (10000, 10000)), Negotiated::default());
        assert_eq!(negotiate((10000, 10000), (0, 0)), Negotiated::default());
        assert_eq!(
            negotiate((1, 0), (0, 1)),
            Negotiated {
                send_every: None,
                expect_every: Some(s(1)),
            }
        );
    }

    #[test]
    fn timers_never_overflow() {
        let now = Instant::now();
        let mut t = Timers::new(now);
        t.start(
            now,
            negotiate((u64::MAX, u64::MAX), (u64::MAX, u64::MAX)),
            u32::MAX,
        );
        // Either a far deadline or none, never a panic.
        let _ = t.send_deadline();
        assert_eq!(t.receive_deadline(), None);
    }

    #[test]
    fn activity_moves_deadlines_and_time_never_goes_back() {
        let now = Instant::now();
        let mut t = Timers::new(now);
        t.start(now, negotiate((1000, 1000), (1000, 1000)), 3);
        assert_eq!(t.send_deadline(), Some(now + Duration::from_secs(1)));
        assert_eq!(t.receive_deadline(), Some(now + Duration::from_secs(3)));
        t.sent(now + Duration::from_millis(500));
        t.received(now + Duration::from_millis(700));
        t.received(now); // an earlier instant does not move the deadline back
        assert_eq!(t.send_deadline(), Some(now + Duration::from_millis(1500)));
        assert_eq!(
            t.receive_deadline(),
            Some(now + Duration::from_millis(3700))
        );
        t.stop();
        assert_eq!(t.send_deadline(), None);
        assert_eq!(t.receive_deadline(), None);
    }
}

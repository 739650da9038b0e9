//! The STOMP workloads: the same client against sockjs-rs's STOMP endpoint (over SockJS
//! websocket sessions, or its raw `/websocket`) and against RabbitMQ's web-STOMP plugin
//! (plain websockets with the `v12.stomp` subprotocol).
//!
//! Every session opens the same way: websocket, `CONNECT` (STOMP 1.2, `login`/`passcode`
//! from the configuration, asking for server heart-beats every 10 s and sending none), wait
//! for `CONNECTED`, `SUBSCRIBE` with `ack:auto` and a receipt, wait for the `RECEIPT` (so the
//! subscription exists before any load). Then the payloads of the other workloads travel as
//! the bodies of `SEND` frames out and `MESSAGE` frames in ([`StompFraming`]), and the
//! workloads are the generic ones:
//!
//! * `stomp-publish`: every session subscribes to its own topic and publishes to it, with
//!   `in_flight` messages outstanding, as `ws-echo` does (the same client loop): the broker's
//!   delivered messages per second;
//! * `stomp-fanout`: every session subscribes to one topic, the first one publishes, one
//!   message at a time, as `broadcast` does: time from the `SEND` to the last `MESSAGE`;
//! * `stomp-idle`: sessions subscribed to their own topics stay idle, as `idle` does: the
//!   server's RSS per session; then each must still get one message through.
//!
//! Each `MESSAGE` must carry the session's subscription id, the destination and a
//! `message-id`, and its body must be the next payload (sequence number and pattern); an
//! `ERROR`, a stray frame or a mismatch ends the session with an error. Destinations carry a
//! random tag per run, so runs against a shared server do not see each other's messages.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::config::{LoadConfig, Workload};
use crate::framing::Framing;
use crate::payload;
use crate::stats::{self, Outcome, Stats};
use crate::stomp_frame::{self, Carrier, Reader, SendWriter, ServerFrame};
use crate::ws::{self, Ws};
use crate::{broadcast, idle};

/// The heart-beat interval the client asks of the server (`heart-beat:0,10000`: Spring's and
/// stomp.js's 10 s; the client itself sends none, so no server waits for them).
const SERVER_HEART_BEAT_MS: u32 = 10_000;

/// How long opening one session (websocket, `CONNECTED`, `RECEIPT`) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Client read (and write) buffer of the busy workloads' connections. tungstenite zero-fills
/// the free part of its read buffer before every read (including the one that finds the
/// socket empty), so a large buffer costs a large memset per wakeup; 4 KiB still holds a
/// connection's whole window at the default sizes (10 in flight, 64-byte bodies: ~2.5 KB of
/// `MESSAGE` frames), and a larger message only takes more reads.
const READ_BUFFER: usize = 4 * 1024;

/// STOMP framing for one subscription: payloads go out as `SEND` bodies to `destination`
/// and come back as `MESSAGE` bodies on subscription `subscription`.
#[derive(Clone, Debug)]
pub(crate) struct StompFraming {
    carrier: Carrier,
    destination: Arc<str>,
    subscription: Arc<str>,
    send: SendWriter,
    reader: Reader,
    scratch: String,
}

impl StompFraming {
    fn new(carrier: Carrier, destination: &str, subscription: &str) -> StompFraming {
        let destination: Arc<str> = destination.into();
        StompFraming {
            carrier,
            send: SendWriter::new(carrier, Arc::clone(&destination)),
            destination,
            subscription: subscription.into(),
            reader: Reader::default(),
            scratch: String::new(),
        }
    }

    /// The websocket message carrying the frame `frame` writes.
    fn message(&mut self, frame: impl FnOnce(&mut String)) -> Message {
        let mut out = String::new();
        self.carrier.wrap(&mut out, &mut self.scratch, frame);
        Message::text(out)
    }

    /// Read frames until one arrives: it must be a `want` frame that `check` accepts, and
    /// alone in its message.
    async fn await_frame(
        &mut self,
        ws: &mut Ws,
        want: &str,
        check: impl Fn(&ServerFrame<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let Some(text) = ws::text_of(ws.next().await)? else {
                continue;
            };
            let mut seen = false;
            let StompFraming {
                carrier,
                reader,
                scratch,
                ..
            } = self;
            carrier.unwrap(text.as_str(), scratch, |t| {
                reader.push(t, |f| {
                    if seen {
                        return Err(format!("unexpected frame after {want}: {}", f.describe()));
                    }
                    if f.command != want {
                        return Err(format!("expected {want}, got {}", f.describe()));
                    }
                    check(&f)?;
                    seen = true;
                    Ok(())
                })
            })?;
            if seen {
                return Ok(());
            }
        }
    }
}

/// Check one frame received under load: a `MESSAGE` of subscription `subscription` to
/// `destination`, with a `message-id`; its body is the payload.
fn message_body<'a>(
    subscription: &str,
    destination: &str,
    f: &ServerFrame<'a>,
) -> Result<&'a str, String> {
    if f.command != "MESSAGE" {
        return Err(format!("expected MESSAGE, got {}", f.describe()));
    }
    for (name, got, want) in [
        ("subscription", f.subscription, subscription),
        ("destination", f.destination, destination),
    ] {
        if got != Some(want) {
            return Err(format!("MESSAGE with {name} {got:?}, expected {want:?}"));
        }
    }
    if f.message_id.is_none() {
        return Err("MESSAGE without message-id".into());
    }
    Ok(f.body)
}

impl Framing for StompFraming {
    fn write(&mut self, seq: u64, size: usize, out: &mut String) {
        self.send.write(out, payload::len(size), |body| {
            payload::write(seq, size, body)
        });
    }

    fn read(
        &mut self,
        message: &str,
        mut on_payload: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        let StompFraming {
            carrier,
            destination,
            subscription,
            reader,
            scratch,
            ..
        } = self;
        carrier.unwrap(message, scratch, |t| {
            reader.push(t, |f| {
                on_payload(message_body(subscription, destination, &f)?)
            })
        })
    }
}

/// Open a STOMP session for connection `index`: websocket, `CONNECT`, `SUBSCRIBE` to
/// `destination` as subscription `sub-0`, each answered.
async fn open_session(
    config: &LoadConfig,
    index: usize,
    destination: &str,
    read_buffer: usize,
) -> Result<(Ws, StompFraming), String> {
    let raw = config.workload.is_raw();
    let carrier = if raw {
        Carrier::WebSocket
    } else {
        Carrier::SockJs
    };
    let path = ws::ws_path(config, index);
    let opening = async {
        let mut ws = ws::connect(
            config.target,
            &path,
            !raw,
            read_buffer,
            config.subprotocol.as_deref(),
        )
        .await?;
        let mut framing = StompFraming::new(carrier, destination, "sub-0");
        let (login, passcode) = (&config.login.0, &config.login.1);
        let connect =
            framing.message(|f| stomp_frame::connect(f, login, passcode, SERVER_HEART_BEAT_MS));
        ws.send(connect)
            .await
            .map_err(|e| format!("send CONNECT: {e}"))?;
        framing
            .await_frame(&mut ws, "CONNECTED", |f| f.expect_header("version", "1.2"))
            .await?;
        let subscribe = framing.message(|f| stomp_frame::subscribe(f, "sub-0", destination));
        ws.send(subscribe)
            .await
            .map_err(|e| format!("send SUBSCRIBE: {e}"))?;
        framing
            .await_frame(&mut ws, "RECEIPT", |f| {
                f.expect_header("receipt-id", "sub-0")
            })
            .await?;
        Ok((ws, framing))
    };
    tokio::time::timeout(SETUP_TIMEOUT, opening)
        .await
        .unwrap_or_else(|_| Err(format!("opening a STOMP session on {path} timed out")))
}

/// Open `config.connections` sessions, `destination(index)` each (failures are counted).
async fn open_all(
    config: &LoadConfig,
    stats: &Stats,
    read_buffer: usize,
    destination: impl Fn(usize) -> String,
) -> Vec<(Ws, StompFraming)> {
    let destination = &destination;
    stats::open_all(config, stats, |i| async move {
        open_session(config, i, &destination(i), read_buffer).await
    })
    .await
}

/// A tag that keeps this run's destinations apart from any other's on the same server.
fn run_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// `stomp-publish`, `stomp-fanout`, `stomp-idle` and their `raw-` counterparts.
pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let tag = run_tag();
    match config.workload {
        Workload::StompPublish | Workload::RawStompPublish => {
            let conns = open_all(config, stats, READ_BUFFER, |i| {
                format!("/topic/publish-{tag}.{i}")
            })
            .await;
            ws::run_echo(config, stats, conns).await
        }
        Workload::StompFanout | Workload::RawStompFanout => {
            let topic = format!("/topic/fanout-{tag}");
            let conns = open_all(config, stats, READ_BUFFER, |_| topic.clone()).await;
            broadcast::run_with(config, stats, conns).await
        }
        _ => {
            let size = config.message_size;
            let sessions = open_all(config, stats, idle::READ_BUFFER, |i| {
                format!("/topic/idle-{tag}.{i}")
            });
            idle::hold(
                config,
                stats,
                sessions,
                |(mut ws, mut framing)| async move {
                    let r = idle::echo_ws(&mut ws, &mut framing, size).await;
                    ws::close(ws).await;
                    r
                },
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::read_all;

    fn message(sub: &str, dest: &str, id: Option<&str>, body: &str) -> String {
        let id = id.map(|i| format!("message-id:{i}\n")).unwrap_or_default();
        format!(
            "MESSAGE\nsubscription:{sub}\n{id}destination:{dest}\ncontent-length:{}\n\n{body}\0",
            body.len()
        )
    }

    #[test]
    fn writes_sends_with_the_payload() {
        let mut f = StompFraming::new(Carrier::WebSocket, "/topic/a", "sub-0");
        let mut out = String::new();
        f.write(5, 20, &mut out);
        assert_eq!(
            out,
            format!(
                "SEND\ndestination:/topic/a\ncontent-type:text/plain\ncontent-length:20\n\n{}\0",
                payload::make(5, 20)
            )
        );
        let mut s = StompFraming::new(Carrier::SockJs, "/topic/a", "sub-0");
        let mut wrapped = String::new();
        s.write(5, 20, &mut wrapped);
        let back: Vec<String> = serde_json::from_str(&wrapped).expect("a SockJS send");
        assert_eq!(back, [out]);
    }

    #[test]
    fn reads_messages_of_its_subscription() {
        let p = payload::make(0, 16);
        let mut f = StompFraming::new(Carrier::WebSocket, "/topic/a", "sub-0");
        let m = message("sub-0", "/topic/a", Some("1"), &p);
        assert_eq!(read_all(&mut f, &m), Ok(vec![p.clone()]));
        // Heart-beats carry nothing; two messages in one, and one split over two, do.
        assert_eq!(read_all(&mut f, "\n"), Ok(vec![]));
        assert_eq!(
            read_all(&mut f, &format!("{m}\n{m}")),
            Ok(vec![p.clone(), p.clone()])
        );
        let (a, b) = m.split_at(30);
        assert_eq!(read_all(&mut f, a), Ok(vec![]));
        assert_eq!(read_all(&mut f, b), Ok(vec![p.clone()]));
        // The same over SockJS.
        let mut s = StompFraming::new(Carrier::SockJs, "/topic/a", "sub-0");
        let sockjs = format!("a{}", serde_json::to_string(&[&m, "\n", &m]).expect("json"));
        assert_eq!(read_all(&mut s, &sockjs), Ok(vec![p.clone(), p.clone()]));
        assert_eq!(read_all(&mut s, "h"), Ok(vec![]));
    }

    #[test]
    fn refuses_anything_else() {
        let p = payload::make(0, 16);
        for bad in [
            message("sub-1", "/topic/a", Some("1"), &p),
            message("sub-0", "/topic/b", Some("1"), &p),
            message("sub-0", "/topic/a", None, &p),
            "ERROR\nmessage:no\n\n\0".to_string(),
            "RECEIPT\nreceipt-id:x\n\n\0".to_string(),
        ] {
            let mut f = StompFraming::new(Carrier::WebSocket, "/topic/a", "sub-0");
            assert!(read_all(&mut f, &bad).is_err(), "{bad:?}");
        }
        let mut s = StompFraming::new(Carrier::SockJs, "/topic/a", "sub-0");
        assert!(read_all(&mut s, "c[1002,\"Protocol error\"]").is_err());
    }
}

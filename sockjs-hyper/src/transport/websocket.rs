//! `websocket`: SockJS frames as websocket text messages. The session lives exactly as long
//! as the websocket; its id may be reused by several live connections.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::task::AtomicWaker;
use futures::{Sink, SinkExt, Stream, StreamExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sockjs_core::close;
use sockjs_core::framing::Framing;
use sockjs_core::{CloseCause, ReceiveMode, Transmit, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::{new_session, Reject};
use crate::body::{empty, ResponseBody};
use crate::connection::Connection;
use crate::endpoint::Endpoint;
use crate::service::response;
use crate::session::{Inbound, SessionHandle, Then};

/// How long a closing websocket waits for the peer's close frame before dropping the
/// connection (waiting avoids a TCP reset destroying the last frames in flight).
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Validate a websocket upgrade request: the 101 answer to send and the pending upgrade, or
/// the error answer (405 for a method other than GET, 400 for a request that is not a valid
/// RFC 6455 upgrade).
pub(crate) fn accept<B>(
    req: &mut Request<B>,
) -> Result<(Response<ResponseBody>, OnUpgrade), Reject> {
    if req.method() != Method::GET {
        return Err(Reject::MethodNotAllowed("GET"));
    }
    let h = req.headers();
    if !has_token(h, header::UPGRADE, "websocket") {
        return Err(Reject::BadRequest("Can \"Upgrade\" only to \"WebSocket\"."));
    }
    if !has_token(h, header::CONNECTION, "upgrade") {
        return Err(Reject::BadRequest("\"Connection\" must be \"Upgrade\"."));
    }
    if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(Reject::UnsupportedWebSocketVersion);
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY).filter(|k| !k.is_empty()) else {
        return Err(Reject::BadRequest("Missing Sec-WebSocket-Key."));
    };
    if !valid_key(key.as_bytes()) {
        return Err(Reject::BadRequest("Invalid Sec-WebSocket-Key."));
    }
    let accept_key = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    let mut r = response(StatusCode::SWITCHING_PROTOCOLS, empty());
    let out = r.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok((r, on_upgrade))
}

/// Whether `key` is a `Sec-WebSocket-Key` as RFC 6455 (4.1, 4.2.1) defines it: 16 bytes in
/// base64, which is 22 characters of the base64 alphabet and `==`.
fn valid_key(key: &[u8]) -> bool {
    let is_b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    key.len() == 24 && key.ends_with(b"==") && key[..22].iter().all(is_b64)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Bytes of frames fed to the websocket (a raw session's burst, one message per frame) that
/// it holds before writing them to the socket without waiting for the flush after the burst.
const FEED_BUFFER: usize = 8 * 1024;

/// The websocket settings derived from the endpoint's limits: small buffers (an idle
/// connection should cost little), messages bounded by `max_request_body`. Frames are
/// written when flushed (a SockJS session's every frame; a raw burst's last one) or when
/// [`FEED_BUFFER`] bytes wait.
pub(crate) fn ws_config(config: &sockjs_core::Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(FEED_BUFFER)
        .max_write_buffer_size(config.max_request_body.saturating_mul(2).max(64 * 1024))
        .max_message_size(Some(config.max_request_body))
        .max_frame_size(Some(config.max_request_body))
}

/// Which websocket endpoint a connection serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `/<server>/<session>/websocket`: SockJS frames.
    SockJs,
    /// `/websocket`: plain messages (see `raw_websocket.rs`).
    Raw,
}

pub(crate) fn handle<B>(
    ep: &Arc<Endpoint>,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    serve(ep, req, peer, Mode::SockJs)
}

/// Accept the upgrade and spawn the connection's task.
pub(crate) fn serve<B>(
    ep: &Arc<Endpoint>,
    mut req: Request<B>,
    peer: Option<SocketAddr>,
    mode: Mode,
) -> Response<ResponseBody> {
    if mode == Mode::SockJs && ep.config.hixie76 && super::hixie76::is_hixie76(req.headers()) {
        return super::hixie76::serve(ep, req, peer);
    }
    // An HTTP/2 extended CONNECT (RFC 8441) or else an HTTP/1.1 upgrade.
    let accepted = super::extended_connect::accept(&mut req).unwrap_or_else(|| accept(&mut req));
    let (resp, on_upgrade) = match accepted {
        Ok(ok) => ok,
        Err(reject) => return reject.into_response(),
    };
    // Refused before anything is opened when the endpoint holds max_receivers connections.
    let slot = match ep.receiver_slot() {
        Ok(slot) => slot,
        Err(e) => return Reject::Unavailable(e).into_response(),
    };
    let transport = (mode == Mode::SockJs).then_some(Transport::WebSocket);
    let (session, connection) = match ep.open(new_session(ep, &req, transport, peer)) {
        Ok(opened) => opened,
        Err(e) => return Reject::Unavailable(e).into_response(),
    };
    let ep = Arc::clone(ep);
    let span = session.span.clone();
    tokio::spawn(
        async move {
            let _slot = slot;
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    drop(connection);
                    ep.retire(&session);
                    return;
                }
            };
            let written = Written::default();
            let ws = WebSocketStream::from_raw_socket(
                Counted::new(TokioIo::new(upgraded), written.clone()),
                Role::Server,
                Some(ws_config(&ep.config)),
            )
            .await;
            run(&ep, ws, written, session, connection, mode).await;
        }
        .instrument(span),
    );
    resp
}

/// How the websocket loop ended.
pub(crate) enum Ending {
    /// The session sent its close frame: close the websocket normally.
    ServerClosed,
    /// The raw endpoint's session closed: close the websocket with this code and reason.
    RawClosed(u16, String),
    /// The client closed the websocket.
    ClientClosed,
    /// The connection broke.
    Broken,
    /// The client violated the protocol: close with this websocket code.
    Violation(WsCode, &'static str),
}

/// The session loop of one websocket connection: `ws` is any stream of incoming messages that
/// is also a sink of outgoing ones (tungstenite's RFC 6455 stream, or the hixie-76 codec),
/// over a connection whose writes are counted in `written` (see [`Counted`]).
pub(crate) async fn run<S>(
    ep: &Arc<Endpoint>,
    mut ws: S,
    written: Written,
    session: Arc<SessionHandle>,
    connection: Connection,
    mode: Mode,
) where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin,
{
    let framing = match mode {
        Mode::SockJs => Framing::WebSocket,
        Mode::Raw => Framing::Raw,
    };
    let Ok(rid) = session.attach(framing, ReceiveMode::Unlimited) else {
        ep.retire(&session);
        return;
    };
    ep.start(&session, connection);
    let inbound = session.inbound();
    let mut pending: VecDeque<String> = VecDeque::new();
    // (websocket messages need no acknowledgement: TCP flow control does the pacing)
    let limits = Limits {
        max_message: session.max_message_size(),
        decode: sockjs_core::frame::DecodeLimits::from_config(&ep.config),
    };
    let inbound_capacity = ep.config.max_inbound_queue.max(1);
    let write_timeout = ep.config.write_timeout;
    // Optional liveness: a ping every interval; nothing received for a whole interval after a
    // ping means the peer is gone.
    let ping_every = ep.config.websocket_ping_interval;
    let mut next_ping = ping_every.map(|d| tokio::time::Instant::now() + d);
    let mut awaiting_pong = false;
    // Whether the loop stopped reading the socket (the application's inbound queue was full)
    // at some point since the last ping: the pong may then be waiting unread behind the
    // client's messages, and a missing pong proves nothing.
    let mut unread_since_ping = false;
    // One timer each for the session's deadline and the ping, reset only when the deadline
    // changes (the core keeps it stable while messages flow), so the message path does not
    // touch the runtime's timer wheel.
    let mut armed = session.poll_timeout();
    let session_timer = sleep_until(armed);
    tokio::pin!(session_timer);
    let ping_timer = sleep_until(next_ping.map(tokio::time::Instant::into_std));
    tokio::pin!(ping_timer);

    let mut reader = Reader::new();

    let ending = 'session: loop {
        // A wake-up from before this point is for work the writes below find anyway.
        session.wake_receiver.clear();
        // Write everything that is ready. A frame with more ready behind it (raw sessions send
        // one message per frame) is only handed to the websocket's buffer; the last one
        // flushes them all, so a burst costs one write to the socket, not one per message.
        let mut unflushed = false;
        let deadline = loop {
            let (write, next) = match session.try_next_frame(rid) {
                (Transmit::Frame { data, end }, then) => {
                    let Ok(text) = Utf8Bytes::try_from(data) else {
                        break 'session Ending::Broken;
                    };
                    let more = then == Then::Poll && !end;
                    let write = if more {
                        Write::Feed(Message::Text(text))
                    } else {
                        Write::Send(Message::Text(text))
                    };
                    let next = if end {
                        Next::End(Ending::ServerClosed)
                    } else {
                        match then {
                            // Nothing more was queued (the usual case, a broadcast's included):
                            // a send from now on sets the wake-up cleared above, so waiting is
                            // safe.
                            Then::Idle(deadline) => Next::Wait(deadline),
                            Then::Poll => Next::Poll,
                        }
                    };
                    (Some(write), next)
                }
                (Transmit::Close { code, reason }, _) => {
                    break 'session Ending::RawClosed(code, reason)
                }
                (Transmit::Idle, Then::Idle(deadline)) => {
                    (unflushed.then_some(Write::Flush), Next::Wait(deadline))
                }
                (Transmit::Idle, Then::Poll) => (
                    unflushed.then_some(Write::Flush),
                    Next::Wait(session.poll_timeout()),
                ),
                (Transmit::Ended, _) => break 'session Ending::ServerClosed,
            };
            if let Some(write) = write {
                unflushed = matches!(write, Write::Feed(_));
                match send_within(&mut ws, write, write_timeout, &written).await {
                    Ok(()) => {}
                    Err(SendFailed::Broken) => break 'session Ending::Broken,
                    Err(SendFailed::TimedOut) => {
                        tracing::debug!("websocket write timed out");
                        break 'session Ending::Broken;
                    }
                }
            }
            match next {
                Next::Poll => {}
                Next::Wait(deadline) => break deadline,
                Next::End(ending) => break 'session ending,
            }
        };
        if deadline != armed {
            armed = deadline;
            session_timer.set(sleep_until(deadline));
        }
        // Hand what was received to the application while its queue has room; wait for room
        // (below) only when it is full.
        while let Some(m) = pending.pop_front() {
            let Some(tx) = &inbound else {
                pending.push_front(m);
                lose(ep, &mut pending);
                break;
            };
            match tx.try_send(Inbound::plain(m)) {
                Ok(()) => {}
                Err(TrySendError::Full(back)) => {
                    pending.push_front(back.message.into_string());
                    break;
                }
                Err(TrySendError::Closed(back)) => {
                    pending.push_front(back.message.into_string());
                    lose(ep, &mut pending);
                }
            }
        }
        if !pending.is_empty() {
            unread_since_ping = true;
        }
        tokio::select! {
            // Timers first, then wake-ups, then input: none of them is ready for ever.
            biased;
            _ = &mut session_timer => {
                session.handle_timeout();
                // the core re-arms (or not); make sure the timer is set again
                armed = None;
                session_timer.set(sleep_until(None));
            }
            _ = &mut ping_timer => {
                if awaiting_pong && !unread_since_ping {
                    tracing::debug!("no pong within the ping interval");
                    break Ending::Broken;
                }
                awaiting_pong = true;
                unread_since_ping = !pending.is_empty();
                next_ping = ping_every.map(|d| tokio::time::Instant::now() + d);
                ping_timer.set(sleep_until(next_ping.map(tokio::time::Instant::into_std)));
                let ping = Message::Ping(Default::default());
                if send_within(&mut ws, Write::Send(ping), write_timeout, &written)
                    .await
                    .is_err()
                {
                    break Ending::Broken;
                }
            }
            _ = session.wake_receiver.wait() => {}
            permit = reserve(&inbound), if !pending.is_empty() => match permit {
                Some(permit) => {
                    if let Some(m) = pending.pop_front() {
                        permit.send(Inbound::plain(m));
                    }
                }
                None => lose(ep, &mut pending),
            },
            incoming = std::future::poll_fn(|cx| reader.poll_next(&mut ws, cx)), if pending.is_empty() => {
                awaiting_pong = false;
                let mut incoming = incoming;
                // Take what has already arrived too (up to a bound), so that a burst of
                // messages costs one pass of this loop rather than one each.
                let mut more = MAX_DRAIN;
                loop {
                    if let Err(ending) = take(incoming, &session, mode, &limits, &mut pending) {
                        break 'session ending;
                    }
                    more -= 1;
                    if more == 0 || pending.len() >= inbound_capacity {
                        break;
                    }
                    match reader.try_next(&mut ws) {
                        Poll::Ready(next) => incoming = next,
                        Poll::Pending => break,
                    }
                }
            }
        }
    };
    // Whatever ended the loop, the session is over: make sure the application hears of it
    // (no-op when it is already closed).
    session.abort(CloseCause::Interrupted, &close::INTERRUPTED);
    session.detach(rid, false);
    lose(ep, &mut pending);
    drop(inbound);
    finish(ws, ending).await;
    ep.retire(&session);
}

/// The client messages in `pending` will never reach the application (its session closed):
/// drop them, counted in the endpoint's `messages_lost`.
fn lose(ep: &Endpoint, pending: &mut VecDeque<String>) {
    if !pending.is_empty() {
        tracing::debug!(
            count = pending.len(),
            "client messages not handed to the application before the session closed"
        );
        ep.counters.lost(pending.len());
        pending.clear();
    }
}

/// Reads the websocket's incoming side only when there can be something new: after a
/// message (more may be buffered) or after the stream woke it. The loop wakes up for other
/// reasons too (a frame to write, a timer), and polling the stream then would cost a pass
/// through the websocket library and the socket's readiness for nothing.
///
/// The stream is always polled with [`ReadWake`]'s waker, which records that the stream
/// woke us before it wakes the task.
struct Reader {
    wake: Arc<ReadWake>,
    waker: Waker,
    /// Poll the stream on the next turn whatever the flag says: it has not returned
    /// `Pending` since it was last polled.
    again: bool,
}

#[derive(Default)]
struct ReadWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Reader {
    fn new() -> Reader {
        let wake = Arc::new(ReadWake::default());
        Reader {
            waker: Waker::from(Arc::clone(&wake)),
            wake,
            again: true,
        }
    }

    /// The next incoming message, waiting (with the task's `cx`) if there is none.
    fn poll_next<S>(&mut self, ws: &mut S, cx: &mut Context<'_>) -> Poll<Option<S::Item>>
    where
        S: Stream + Unpin,
    {
        // Registered before looking at the flag: a wake-up after the look finds the task.
        self.wake.task.register(cx.waker());
        if !self.again && !self.wake.woken.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        self.try_next(ws)
    }

    /// The next incoming message if the stream has one now.
    fn try_next<S>(&mut self, ws: &mut S) -> Poll<Option<S::Item>>
    where
        S: Stream + Unpin,
    {
        // Cleared by a read-modify-write before the poll: either this sees a wake-up that
        // came before (and the poll sees its data), or that wake-up sets the flag again.
        self.wake.woken.swap(false, Ordering::AcqRel);
        let polled = ws.poll_next_unpin(&mut Context::from_waker(&self.waker));
        self.again = polled.is_ready();
        polled
    }
}

/// At most this many already-received websocket messages are taken in one pass of the loop.
const MAX_DRAIN: usize = 32;

/// Bounds on what a client may send in one websocket message.
struct Limits {
    max_message: usize,
    /// Messages per websocket message, bytes per message, decoded bytes in all: checked
    /// while decoding.
    decode: sockjs_core::frame::DecodeLimits,
}

/// Take one incoming websocket message: its SockJS messages go to `pending`; `Err` ends the
/// connection as given (the session already closed accordingly).
fn take(
    incoming: Option<Result<Message, tungstenite::Error>>,
    session: &SessionHandle,
    mode: Mode,
    limits: &Limits,
    pending: &mut VecDeque<String>,
) -> Result<(), Ending> {
    match incoming {
        Some(Ok(Message::Text(t))) if mode == Mode::Raw => {
            // The raw endpoint: the text is the message (tungstenite already bounds it by
            // max_request_body; the message limit applies too).
            if t.len() > limits.max_message {
                session.abort(CloseCause::LimitExceeded, &close::TOO_BIG);
                return Err(Ending::Violation(WsCode::Size, "Message too big"));
            }
            session.record_inbound(1, t.len() as u64);
            pending.push_back(t.as_str().to_owned());
        }
        Some(Ok(Message::Text(t))) => {
            match sockjs_core::frame::decode_websocket_payload_bounded(&t, &limits.decode) {
                Err(e) if e.is_limit() => {
                    session.abort(CloseCause::LimitExceeded, &close::TOO_BIG);
                    return Err(Ending::Violation(WsCode::Size, "Message too big"));
                }
                Ok(messages) => {
                    let bytes: usize = messages.iter().map(String::len).sum();
                    session.record_inbound(messages.len() as u64, bytes as u64);
                    pending.extend(messages);
                }
                Err(_) => {
                    session.abort(CloseCause::ProtocolError, &close::INTERRUPTED);
                    return Err(Ending::Violation(WsCode::Protocol, "Broken JSON encoding"));
                }
            }
        }
        Some(Ok(Message::Binary(_))) => {
            session.abort(CloseCause::ProtocolError, &close::INTERRUPTED);
            return Err(Ending::Violation(
                WsCode::Unsupported,
                "Binary messages are not supported",
            ));
        }
        Some(Ok(Message::Close(_))) => {
            session.abort(CloseCause::ClientClosed, &close::NORMAL);
            return Err(Ending::ClientClosed);
        }
        Some(Ok(_)) => {} // ping (answered by tungstenite), pong
        Some(Err(tungstenite::Error::Capacity(_))) => {
            session.abort(CloseCause::LimitExceeded, &close::TOO_BIG);
            return Err(Ending::Violation(WsCode::Size, "Message too big"));
        }
        // RFC 6455 7.1.7: fail the connection with a close frame saying why (1007 for text
        // that is not UTF-8, 1002 for a framing violation) before closing it.
        Some(Err(tungstenite::Error::Utf8(_))) => {
            session.abort(CloseCause::ProtocolError, &close::INTERRUPTED);
            return Err(Ending::Violation(WsCode::Invalid, "Invalid UTF-8"));
        }
        Some(Err(tungstenite::Error::Protocol(e))) if is_violation(&e) => {
            tracing::debug!(error = %e, "websocket protocol violation");
            session.abort(CloseCause::ProtocolError, &close::INTERRUPTED);
            return Err(Ending::Violation(WsCode::Protocol, "Protocol violation"));
        }
        Some(Err(_)) | None => {
            session.abort(CloseCause::Interrupted, &close::INTERRUPTED);
            return Err(Ending::Broken);
        }
    }
    Ok(())
}

/// Whether a protocol error reading the websocket is the client breaking RFC 6455 (as
/// opposed to the connection ending without a close handshake).
fn is_violation(e: &tungstenite::error::ProtocolError) -> bool {
    use tungstenite::error::ProtocolError as P;
    !matches!(
        e,
        P::ResetWithoutClosingHandshake | P::SendAfterClosing | P::ReceivedAfterClosing
    )
}

async fn reserve(
    inbound: &Option<tokio::sync::mpsc::Sender<Inbound>>,
) -> Option<tokio::sync::mpsc::Permit<'_, Inbound>> {
    inbound.as_ref()?.reserve().await.ok()
}

/// Why a websocket write failed.
enum SendFailed {
    Broken,
    TimedOut,
}

/// A write to the websocket.
enum Write {
    /// A message, then a flush.
    Send(Message),
    /// A message into the websocket's buffer, not flushed yet (more follow at once).
    Feed(Message),
    /// Flush what was fed.
    Flush,
}

/// What the send loop does after a write.
enum Next {
    /// Ask the session for the next frame.
    Poll,
    /// Wait for a wake-up or this deadline.
    Wait(Option<std::time::Instant>),
    /// End the session.
    End(Ending),
}

/// Perform `write`, giving up once the connection has taken no byte for `limit`: a client
/// that reads slowly but steadily is never dropped, however long the message takes, and one
/// that stopped reading is dropped between `limit` and `limit` and a quarter after its last
/// byte. The timer is set up only if the write does not complete at once (the socket's buffer
/// is full), so the usual write costs no clock read.
async fn send_within<S>(
    ws: &mut S,
    write: Write,
    limit: Duration,
    written: &Written,
) -> Result<(), SendFailed>
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    use futures::future::Either;
    let mut send = match write {
        Write::Send(message) => Either::Left(ws.send(message)),
        Write::Feed(message) => Either::Right(Either::Left(ws.feed(message))),
        Write::Flush => Either::Right(Either::Right(ws.flush())),
    };
    let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut send).poll(cx))).await;
    let done = match first {
        Poll::Ready(done) => done,
        Poll::Pending => {
            let step = limit / 4;
            let mut seen = written.get();
            let mut idle = Duration::ZERO;
            loop {
                match tokio::time::timeout(step, &mut send).await {
                    Ok(done) => break done,
                    Err(_) => {
                        let now = written.get();
                        if now != seen {
                            seen = now;
                            idle = Duration::ZERO;
                        } else {
                            idle += step;
                            if idle >= limit {
                                return Err(SendFailed::TimedOut);
                            }
                        }
                    }
                }
            }
        }
    };
    done.map_err(|_| SendFailed::Broken)
}

/// The number of bytes written to a websocket's connection so far, shared between the
/// connection ([`Counted`]) and the session loop. One per connection: never shared between
/// sessions.
#[derive(Clone, Default)]
pub(crate) struct Written(Arc<AtomicU64>);

impl Written {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A connection that counts the bytes written through it into [`Written`], so that a blocked
/// send can tell a slow reader (bytes keep going out) from one that stopped.
pub(crate) struct Counted<T> {
    io: T,
    written: Written,
}

impl<T> Counted<T> {
    pub(crate) fn new(io: T, written: Written) -> Counted<T> {
        Counted { io, written }
    }

    fn count(&self, n: usize) {
        self.written.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.count(n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.count(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Close the websocket as `ending` requires, waiting (bounded) for the peer's close frame.
async fn finish<S>(mut ws: S, ending: Ending)
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin,
{
    let frame = match ending {
        Ending::Broken => return,
        Ending::ClientClosed => None,
        Ending::ServerClosed => Some(CloseFrame {
            code: WsCode::Normal,
            reason: Utf8Bytes::from_static(""),
        }),
        Ending::RawClosed(code, reason) => Some(CloseFrame {
            code: WsCode::from(code),
            reason: Utf8Bytes::from(truncate_reason(reason)),
        }),
        Ending::Violation(code, reason) => Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }),
    };
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        // After a client close tungstenite has queued the reply; flushing sends it.
        let _ = match frame {
            Some(f) => ws.send(Message::Close(Some(f))).await,
            None => ws.flush().await,
        };
        // Until the peer's close (or the end of the stream): tungstenite ends the stream
        // after the close handshake by itself, the hixie-76 codec does not.
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    })
    .await;
}

/// A websocket close reason is limited to 123 bytes; cut at a character boundary.
fn truncate_reason(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 123;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::NewSession;
    use std::sync::Mutex;

    /// A websocket that records what is written and never receives anything until it is
    /// told to end.
    #[derive(Clone, Default)]
    struct Recorder {
        log: Arc<Mutex<Vec<&'static str>>>,
        end: Arc<tokio::sync::Notify>,
    }

    impl Stream for Recorder {
        type Item = Result<Message, tungstenite::Error>;
        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let end = self.end.notified();
            tokio::pin!(end);
            match end.poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    impl Sink<Message> for Recorder {
        type Error = tungstenite::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            if item.is_text() {
                self.log.lock().unwrap().push("message");
            }
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.log.lock().unwrap().push("flush");
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A burst of messages queued for a raw websocket (one message per frame) is flushed
    /// once, after its last frame, not once per frame.
    #[tokio::test]
    async fn a_burst_of_raw_frames_is_flushed_once() {
        let sockjs = crate::SockJs::new("/t", sockjs_core::Config::default(), |_c| async {
            std::future::pending::<()>().await;
        })
        .expect("an endpoint");
        let (session, connection) = sockjs
            .endpoint
            .open(NewSession {
                transport: None,
                headers: http::HeaderMap::new(),
                uri: http::Uri::from_static("/t/websocket"),
                remote_addr: None,
            })
            .expect("a session");
        for m in ["a", "b", "c", "d"] {
            session.try_send(m).unwrap();
        }
        let ws = Recorder::default();
        let log = Arc::clone(&ws.log);
        let end = Arc::clone(&ws.end);
        let ep = Arc::clone(&sockjs.endpoint);
        let task = tokio::spawn(async move {
            run(&ep, ws, Written::default(), session, connection, Mode::Raw).await;
        });
        // Until the four messages are written and the loop waits.
        while log.lock().unwrap().len() < 5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            log.lock().unwrap()[..5],
            ["message", "message", "message", "message", "flush"]
        );
        end.notify_one();
        task.await.unwrap();
    }
}

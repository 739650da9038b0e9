//! The per-session state machine.
//!
//! A [`Session`] is one SockJS session: it outlives the HTTP requests that carry it (polling
//! and streaming transports) or lives exactly as long as its websocket. It owns the outbound
//! queue and decides, frame by frame, what the attached *receiver* (the request or websocket
//! currently carrying frames to the client) must write. It performs no I/O and reads no clock:
//! every call that depends on time takes `now`, and [`Session::poll_timeout`] says when the
//! driver must call [`Session::handle_timeout`] next.
//!
//! # Lifecycle
//!
//! 1. [`Session::new`]: the session exists; with no receiver it expires after the disconnect
//!    delay.
//! 2. [`Session::attach`] a receiver. The first frame it gets is `o`. A second receiver while
//!    one is attached is refused with `c[2010,"Another connection still open"]`.
//! 3. [`Session::poll_transmit`] until it says [`Transmit::Idle`]; write each frame. A polling
//!    receiver ends after one frame; a streaming one after `response_limit` bytes; any
//!    receiver ends after the close frame. An ended receiver is detached.
//! 4. The client aborts a receiver: [`Session::detach`] with `interrupted = true` closes the
//!    session with `c[1002,"Connection interrupted"]`.
//! 5. [`Session::close`] (the application) queues the close frame after the messages already
//!    queued; every later receiver gets the close frame until the session expires.
//! 6. [`Session::handle_timeout`]: heartbeats while a receiver is attached; expiry after the
//!    disconnect delay without one.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::close::{self, CloseCause, CloseCode};
use crate::frame::{self, EncodedMessage};
use crate::framing::Framing;
use crate::Config;

/// Identifies one receiver attached to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiverId(u64);

/// How a receiver carries frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveMode {
    /// One frame per request (`xhr`, `jsonp`).
    Polling,
    /// Many frames per request, until `response_limit` bytes (`xhr_streaming`, `eventsource`,
    /// `htmlfile`).
    Streaming,
    /// Many frames with no byte limit (`websocket`).
    Unlimited,
}

/// What the attached receiver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Write `data` (one HTTP chunk or one websocket message). If `end`, the receiver has been
    /// detached: finish the response (or close the websocket) after writing.
    Frame {
        /// The frame, already wrapped for the receiver's transport.
        data: Bytes,
        /// Whether this is the last frame of the receiver.
        end: bool,
    },
    /// Nothing to write now; wait for a wake-up (a send, a close, a timeout).
    Idle,
    /// This receiver is not attached (it ended or was never attached): finish without writing.
    Ended,
    /// Only for [`Framing::Raw`]: the session closed; send a websocket close frame with this
    /// code and reason. The receiver has been detached.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Why [`Session::attach`] refused a receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// Another receiver is attached. Write `frame` (`c[2010,"Another connection still open"]`,
    /// wrapped for the refused receiver's transport) and finish.
    AnotherConnection {
        /// The wrapped close frame for the refused receiver.
        frame: Bytes,
    },
    /// The session has expired; the driver should forget it and start a new one.
    Expired,
}

/// Why [`Session::send`] refused a message. The message is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum SendError {
    /// The session is closed.
    Closed(EncodedMessage),
    /// The outbound queue is at its configured bound; apply the overflow policy.
    Full(EncodedMessage),
}

impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Full(_) => f.write_str("Full(..)"),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("the session is closed"),
            SendError::Full(_) => f.write_str("the session's outbound queue is full"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Debug)]
struct Receiver {
    id: ReceiverId,
    framing: Framing,
    mode: ReceiveMode,
    sent: usize,
}

#[derive(Debug)]
struct Closing {
    /// The `c[...]` frame, unwrapped.
    frame: Bytes,
    code: u16,
    reason: String,
    cause: CloseCause,
    reported: bool,
    /// Whether queued messages are delivered before the close frame.
    flush: bool,
}

impl Closing {
    fn new(code: u16, reason: &str, cause: CloseCause, flush: bool) -> Closing {
        Closing {
            frame: Bytes::from(frame::close_frame(code, reason)),
            code,
            reason: reason.to_string(),
            cause,
            reported: false,
            flush,
        }
    }
}

/// One SockJS session. See the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    heartbeat: Duration,
    disconnect_delay: Duration,
    response_limit: usize,
    max_queued_bytes: usize,
    max_queued_messages: usize,

    open_sent: bool,
    outbox: VecDeque<EncodedMessage>,
    outbox_bytes: usize,
    closing: Option<Closing>,
    receiver: Option<Receiver>,
    next_receiver: u64,
    heartbeat_due: bool,
    /// When the heartbeat timer fires next. It is not moved when a frame goes out (that would
    /// touch the driver's timer for every message); instead, when it fires after recent
    /// traffic it is re-armed for `last_sent + heartbeat` without sending `h`.
    heartbeat_at: Option<Instant>,
    /// When the attached receiver was last given a frame.
    last_sent: Option<Instant>,
    expires_at: Option<Instant>,
    expired: bool,
}

impl Session {
    /// A new session created at `now` with the timing and limits of `config`.
    pub fn new(now: Instant, config: &Config) -> Session {
        Session {
            heartbeat: config.heartbeat_interval,
            disconnect_delay: config.disconnect_delay,
            response_limit: config.response_limit,
            max_queued_bytes: config.max_queued_bytes,
            max_queued_messages: config.max_queued_messages,
            open_sent: false,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            closing: None,
            receiver: None,
            next_receiver: 0,
            heartbeat_due: false,
            heartbeat_at: None,
            last_sent: None,
            expires_at: Some(now + config.disconnect_delay),
            expired: false,
        }
    }

    /// Attach a receiver that writes frames with `framing`.
    pub fn attach(
        &mut self,
        now: Instant,
        framing: Framing,
        mode: ReceiveMode,
    ) -> Result<ReceiverId, AttachError> {
        if self.expired {
            return Err(AttachError::Expired);
        }
        if self.receiver.is_some() {
            let frame = close_frame_bytes(&close::ANOTHER_CONNECTION);
            return Err(AttachError::AnotherConnection {
                frame: framing.wrap(&frame),
            });
        }
        let id = ReceiverId(self.next_receiver);
        self.next_receiver += 1;
        let raw = framing == Framing::Raw;
        self.receiver = Some(Receiver {
            id,
            framing,
            mode,
            sent: 0,
        });
        self.expires_at = None;
        self.last_sent = None;
        if raw {
            // The raw endpoint has no open frame and no heartbeats.
            self.open_sent = true;
            self.heartbeat_at = None;
        } else {
            self.heartbeat_at = Some(now + self.heartbeat);
        }
        Ok(id)
    }

    /// The receiver `id` is gone. `interrupted` says whether it was cut before the session
    /// ended it (the client aborted, the connection broke); that closes the session with
    /// `c[1002,"Connection interrupted"]`. Detaching a receiver that is no longer attached does
    /// nothing.
    pub fn detach(&mut self, now: Instant, id: ReceiverId, interrupted: bool) {
        if self.receiver.as_ref().map(|r| r.id) != Some(id) {
            return;
        }
        self.end_receiver(now);
        if interrupted {
            self.abort(CloseCause::Interrupted, &close::INTERRUPTED);
        }
    }

    fn end_receiver(&mut self, now: Instant) {
        self.receiver = None;
        self.heartbeat_at = None;
        self.heartbeat_due = false;
        self.expires_at = Some(now + self.disconnect_delay);
    }

    /// Queue a message for the client.
    pub fn send(&mut self, message: EncodedMessage) -> Result<(), SendError> {
        if self.closing.is_some() || self.expired {
            return Err(SendError::Closed(message));
        }
        if !self.outbox.is_empty()
            && (self.outbox_bytes + message.len() > self.max_queued_bytes
                || self.outbox.len() >= self.max_queued_messages)
        {
            return Err(SendError::Full(message));
        }
        self.outbox_bytes += message.len();
        self.outbox.push_back(message);
        Ok(())
    }

    /// The application closes the session with `code` and `reason`: messages already queued
    /// are delivered first, then the close frame. Returns false if it was already closed.
    pub fn close(&mut self, code: u16, reason: &str) -> bool {
        if self.closing.is_some() || self.expired {
            return false;
        }
        self.closing = Some(Closing::new(
            code,
            reason,
            CloseCause::Server {
                code,
                reason: reason.to_string(),
            },
            true,
        ));
        true
    }

    /// Close the session for `cause`, dropping queued messages; later receivers get `code`.
    /// Returns false if it was already closed.
    pub fn abort(&mut self, cause: CloseCause, code: &CloseCode) -> bool {
        if self.closing.is_some() || self.expired {
            return false;
        }
        self.outbox.clear();
        self.outbox_bytes = 0;
        self.closing = Some(Closing::new(code.code, code.reason, cause, false));
        true
    }

    /// Close the session for `cause` (a limit, a shutdown, ...) with `code`; queued messages
    /// are delivered before the close frame if `flush`. Returns false if it was already closed.
    pub fn close_with(&mut self, cause: CloseCause, code: u16, reason: &str, flush: bool) -> bool {
        if self.closing.is_some() || self.expired {
            return false;
        }
        if !flush {
            self.outbox.clear();
            self.outbox_bytes = 0;
        }
        self.closing = Some(Closing::new(code, reason, cause, flush));
        true
    }

    /// The next frame for receiver `id`.
    pub fn poll_transmit(&mut self, now: Instant, id: ReceiverId) -> Transmit {
        self.poll_transmit_with(id, || now)
    }

    /// [`poll_transmit`](Session::poll_transmit) with the time asked for only when it is
    /// needed: when a frame goes out. A driver that polls often and mostly finds nothing to
    /// send passes its clock here and saves reading it.
    pub fn poll_transmit_with(
        &mut self,
        id: ReceiverId,
        now: impl FnOnce() -> Instant,
    ) -> Transmit {
        let Some(receiver) = self.receiver.as_mut().filter(|r| r.id == id) else {
            return Transmit::Ended;
        };
        if receiver.framing == Framing::Raw {
            return self.poll_raw(now);
        }
        let mut is_close = false;
        let data = if !self.open_sent {
            self.open_sent = true;
            receiver
                .framing
                .wrap_bytes(Bytes::from_static(frame::OPEN.as_bytes()))
        } else if !self.outbox.is_empty() && self.closing.as_ref().is_none_or(|c| c.flush) {
            let data = take_messages_frame(&mut self.outbox, self.outbox_bytes, &receiver.framing);
            self.outbox_bytes = 0;
            data
        } else if let Some(closing) = &self.closing {
            is_close = true;
            receiver.framing.wrap_bytes(closing.frame.clone())
        } else if self.heartbeat_due {
            receiver
                .framing
                .wrap_bytes(Bytes::from_static(frame::HEARTBEAT.as_bytes()))
        } else {
            return Transmit::Idle;
        };
        receiver.sent += data.len();
        let end = is_close
            || match receiver.mode {
                ReceiveMode::Polling => true,
                ReceiveMode::Streaming => receiver.sent >= self.response_limit,
                ReceiveMode::Unlimited => false,
            };
        self.heartbeat_due = false;
        let now = now();
        if end {
            self.end_receiver(now);
        } else {
            self.last_sent = Some(now);
        }
        Transmit::Frame { data, end }
    }

    /// [`Framing::Raw`]: one verbatim message per transmit, then a close.
    fn poll_raw(&mut self, now: impl FnOnce() -> Instant) -> Transmit {
        let flush = self.closing.as_ref().is_none_or(|c| c.flush);
        if flush {
            if let Some(message) = self.outbox.pop_front() {
                self.outbox_bytes -= message.len();
                return Transmit::Frame {
                    data: message.into_bytes(),
                    end: false,
                };
            }
        }
        match &self.closing {
            Some(closing) => {
                let (code, reason) = (closing.code, closing.reason.clone());
                self.end_receiver(now());
                Transmit::Close { code, reason }
            }
            None => Transmit::Idle,
        }
    }

    /// Advance timers to `now`: schedule a heartbeat for the attached receiver, or expire the
    /// session when it has had no receiver for the disconnect delay.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.expired {
            return;
        }
        if self.receiver.is_some() {
            if self.heartbeat_at.is_some_and(|at| at <= now) {
                match self.last_sent.map(|t| t + self.heartbeat) {
                    // Traffic since: the line is not idle; look again a heartbeat after it.
                    Some(next) if next > now => self.heartbeat_at = Some(next),
                    _ => {
                        self.heartbeat_due = true;
                        self.heartbeat_at = Some(now + self.heartbeat);
                    }
                }
            }
        } else if self.expires_at.is_some_and(|at| at <= now) {
            self.expired = true;
            self.outbox.clear();
            self.outbox_bytes = 0;
            if self.closing.is_none() {
                self.closing = Some(Closing::new(
                    close::INTERRUPTED.code,
                    close::INTERRUPTED.reason,
                    CloseCause::TimedOut,
                    false,
                ));
            }
        }
    }

    /// When [`Session::handle_timeout`] must be called next, if ever: `None` once the session
    /// has expired, and while a [`Framing::Raw`] receiver is attached (the raw endpoint has no
    /// heartbeat and its session ends with its websocket, not by expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            None
        } else if self.receiver.is_some() {
            self.heartbeat_at
        } else {
            self.expires_at
        }
    }

    /// Whether the session is closed (by either side); it may still serve close frames.
    pub fn is_closed(&self) -> bool {
        self.closing.is_some()
    }

    /// Whether the session has expired: it serves nothing more and can be forgotten.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// Whether a receiver is attached.
    pub fn has_receiver(&self) -> bool {
        self.receiver.is_some()
    }

    /// Why the session closed, if it has.
    pub fn close_cause(&self) -> Option<&CloseCause> {
        self.closing.as_ref().map(|c| &c.cause)
    }

    /// The close cause, the first time it is asked for after the session closed; `None`
    /// before and afterwards. Drivers use it to tell the application exactly once.
    pub fn take_close_event(&mut self) -> Option<CloseCause> {
        let closing = self.closing.as_mut()?;
        if closing.reported {
            return None;
        }
        closing.reported = true;
        Some(closing.cause.clone())
    }

    /// Messages waiting in the outbound queue.
    pub fn queued_messages(&self) -> usize {
        self.outbox.len()
    }

    /// Encoded bytes waiting in the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.outbox_bytes
    }
}

/// The frame of the queued messages `outbox` (`bytes` encoded bytes in all), wrapped for
/// `framing`; empties `outbox`. A message alone is the usual case (and every member's case
/// in a broadcast): on a websocket its frame is then the message's own buffer, shared by all
/// the sessions it was queued to, so nothing is allocated or copied per session.
fn take_messages_frame(
    outbox: &mut VecDeque<EncodedMessage>,
    bytes: usize,
    framing: &Framing,
) -> Bytes {
    if outbox.len() == 1 {
        if let Some(m) = outbox.pop_front() {
            let single = match m.into_frame() {
                Ok(frame) => return framing.wrap_bytes(frame),
                Err(verbatim) => verbatim,
            };
            outbox.push_back(single);
        }
    }
    let mut out = Vec::with_capacity(bytes + outbox.len() + 2);
    frame::write_messages_frame(outbox.iter(), &mut out);
    outbox.clear();
    framing.wrap_bytes(Bytes::from(out))
}

fn close_frame_bytes(code: &CloseCode) -> Bytes {
    Bytes::from(frame::close_frame(code.code, code.reason))
}

#[cfg(test)]
mod tests;

//! The driver's side of a session: the core state machine behind a per-session lock, the
//! wake-ups between the receiver, the application and the timer, and the inbound queue.
//!
//! Locking rule: `SessionHandle::state` is a `std::sync::Mutex` owned by one session; it is
//! held only for a call into `sockjs_core::Session` and never across an `.await` or user code.
//! Nothing on the message path locks anything shared with other sessions.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use sockjs_core::close::CloseCode;
use sockjs_core::frame::EncodedMessage;
use sockjs_core::framing::Framing;
use sockjs_core::{AttachError, CloseCause, OverflowPolicy, ReceiveMode, ReceiverId, Transmit};
use tokio::sync::{mpsc, Notify};

use crate::connection::SendError;

/// The driver's clock: tokio's, so tests can pause and step it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(crate) struct SessionState {
    pub(crate) core: sockjs_core::Session,
    /// The sending half of the application's inbound queue; dropped when the session closes so
    /// that the application's `recv` ends after the messages already received.
    inbound: Option<mpsc::Sender<String>>,
    cause: Option<CloseCause>,
}

/// One live session, shared by the receiver (request or websocket), the application's
/// connection handle and the timer.
pub(crate) struct SessionHandle {
    state: Mutex<SessionState>,
    /// Something for the receiver to write (a message, a close, a heartbeat).
    pub(crate) wake_receiver: Notify,
    /// The timer's deadline may have moved earlier (a receiver ended).
    pub(crate) wake_timer: Notify,
    /// The outbound queue has room again or the session closed (senders waiting under
    /// [`OverflowPolicy::Wait`]).
    space: Notify,
    policy: OverflowPolicy,
    max_message_size: usize,
    /// The raw websocket endpoint: messages are queued verbatim, not JSON-encoded.
    raw: bool,
}

impl SessionHandle {
    pub(crate) fn new(
        core: sockjs_core::Session,
        inbound: mpsc::Sender<String>,
        policy: OverflowPolicy,
        max_message_size: usize,
        raw: bool,
    ) -> Arc<Self> {
        Arc::new(SessionHandle {
            state: Mutex::new(SessionState {
                core,
                inbound: Some(inbound),
                cause: None,
            }),
            wake_receiver: Notify::new(),
            wake_timer: Notify::new(),
            space: Notify::new(),
            policy,
            max_message_size,
            raw,
        })
    }

    fn encode(&self, message: &str) -> EncodedMessage {
        if self.raw {
            EncodedMessage::verbatim(message)
        } else {
            EncodedMessage::new(message)
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        // The state is only mutated through sockjs-core calls that do not panic on any input;
        // if one ever did, the state is still the last consistent one: keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the state, then publish a close that `f` caused.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SessionState) -> R) -> R {
        let (r, closed) = {
            let mut state = self.lock();
            let r = f(&mut state);
            let closed = match state.core.take_close_event() {
                Some(cause) => {
                    state.inbound = None;
                    state.cause = Some(cause.clone());
                    Some(cause)
                }
                None => None,
            };
            (r, closed)
        };
        if let Some(cause) = closed {
            tracing::debug!(%cause, "session closed");
            self.space.notify_waiters();
            self.wake_receiver.notify_one();
        }
        r
    }

    pub(crate) fn attach(
        &self,
        framing: Framing,
        mode: ReceiveMode,
    ) -> Result<ReceiverId, AttachError> {
        self.with(|s| s.core.attach(now(), framing, mode))
    }

    /// Detach `id` (no-op if it already ended); `interrupted` closes the session with 1002.
    pub(crate) fn detach(&self, id: ReceiverId, interrupted: bool) {
        self.with(|s| s.core.detach(now(), id, interrupted));
        self.wake_timer.notify_one();
    }

    /// The next frame for receiver `id`: `Some((data, end))`, or `None` when it has ended.
    pub(crate) async fn next_frame(&self, id: ReceiverId) -> Option<(Bytes, bool)> {
        loop {
            match self.with(|s| s.core.poll_transmit(now(), id)) {
                Transmit::Frame { data, end } => {
                    self.space.notify_waiters();
                    if end {
                        self.wake_timer.notify_one();
                    }
                    return Some((data, end));
                }
                Transmit::Ended | Transmit::Close { .. } => return None,
                // `notify_one` stores a permit when nobody waits, so a wake-up between the
                // poll above and this await is not lost.
                Transmit::Idle => self.wake_receiver.notified().await,
            }
        }
    }

    /// The frame for `id` if one is ready now, without waiting (also notifies senders waiting
    /// for room and the timer).
    pub(crate) fn try_next_frame(&self, id: ReceiverId) -> Transmit {
        let t = self.with(|s| s.core.poll_transmit(now(), id));
        match &t {
            Transmit::Frame { end, .. } => {
                self.space.notify_waiters();
                if *end {
                    self.wake_timer.notify_one();
                }
            }
            Transmit::Close { .. } => self.wake_timer.notify_one(),
            Transmit::Idle | Transmit::Ended => {}
        }
        t
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.with(|s| s.core.poll_timeout())
    }

    pub(crate) fn handle_timeout(&self) {
        self.with(|s| s.core.handle_timeout(now()));
        self.wake_receiver.notify_one();
    }

    pub(crate) fn is_expired(&self) -> bool {
        self.with(|s| s.core.is_expired())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.with(|s| s.core.is_closed())
    }

    pub(crate) fn close_cause(&self) -> Option<CloseCause> {
        self.with(|s| s.cause.clone())
    }

    /// A clone of the inbound sender, or `None` once the session is closed.
    pub(crate) fn inbound(&self) -> Option<mpsc::Sender<String>> {
        self.with(|s| s.inbound.clone())
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The application closes the session.
    pub(crate) fn close(&self, code: u16, reason: &str) -> bool {
        let closed = self.with(|s| s.core.close(code, reason));
        self.wake_receiver.notify_one();
        closed
    }

    /// Close for `cause` (not the application's doing) with `code`, dropping queued messages.
    pub(crate) fn abort(&self, cause: CloseCause, code: &CloseCode) -> bool {
        let closed = self.with(|s| s.core.abort(cause, code));
        self.wake_receiver.notify_one();
        closed
    }

    /// Queue `message`, applying the overflow policy when the queue is full.
    pub(crate) async fn send(&self, message: &str) -> Result<(), SendError> {
        if message.len() > self.max_message_size {
            return Err(SendError::TooLarge);
        }
        let mut encoded = self.encode(message);
        loop {
            // Register interest before trying, so a drain between the try and the await
            // cannot be missed.
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_queue(encoded) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed) => return Err(SendError::Closed),
                Err(Refused::Full(m)) => match self.policy {
                    OverflowPolicy::Wait => {
                        encoded = m;
                        space.await;
                    }
                    OverflowPolicy::Fail => return Err(SendError::Full),
                    _ => {
                        self.abort(CloseCause::LimitExceeded, &sockjs_core::close::QUEUE_FULL);
                        return Err(SendError::Closed);
                    }
                },
            }
        }
    }

    /// Queue `message` now or fail (`Full` whatever the policy, except that the close policy
    /// also closes the session).
    pub(crate) fn try_send(&self, message: &str) -> Result<(), SendError> {
        if message.len() > self.max_message_size {
            return Err(SendError::TooLarge);
        }
        self.try_send_encoded(self.encode(message))
    }

    pub(crate) fn try_send_encoded(&self, message: EncodedMessage) -> Result<(), SendError> {
        match self.try_queue(message) {
            Ok(()) => Ok(()),
            Err(Refused::Closed) => Err(SendError::Closed),
            Err(Refused::Full(_)) => {
                if self.policy == OverflowPolicy::Close {
                    self.abort(CloseCause::LimitExceeded, &sockjs_core::close::QUEUE_FULL);
                    Err(SendError::Closed)
                } else {
                    Err(SendError::Full)
                }
            }
        }
    }

    fn try_queue(&self, message: EncodedMessage) -> Result<(), Refused> {
        let r = self.with(|s| s.core.send(message));
        match r {
            Ok(()) => {
                self.wake_receiver.notify_one();
                Ok(())
            }
            Err(sockjs_core::SendError::Closed(_)) => Err(Refused::Closed),
            Err(sockjs_core::SendError::Full(m)) => Err(Refused::Full(m)),
        }
    }
}

enum Refused {
    Closed,
    Full(EncodedMessage),
}

/// Detaches its receiver when dropped. A receiver that ended normally is already detached
/// (the call is then a no-op); one dropped early — the client went away, hyper dropped the
/// response — was interrupted, which closes the session with 1002.
pub(crate) struct ReceiverGuard {
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) id: ReceiverId,
}

impl Drop for ReceiverGuard {
    fn drop(&mut self) {
        self.session.detach(self.id, true);
    }
}

//! The driver's side of a session: the core state machine behind a per-session lock, the
//! wake-ups between the receiver, the application and the timer, and the inbound queue.
//!
//! Locking rule: `SessionHandle::state` is a `std::sync::Mutex` owned by one session; it is
//! held only for a call into `sockjs_core::Session` and never across an `.await` or user code.
//! Nothing on the message path locks anything shared with other sessions.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::task::AtomicWaker;
use sockjs_core::close::CloseCode;
use sockjs_core::frame::EncodedMessage;
use sockjs_core::framing::Framing;
use sockjs_core::{AttachError, CloseCause, OverflowPolicy, ReceiveMode, ReceiverId, Transmit};
use tokio::sync::{mpsc, Notify};

use crate::connection::{RequestInfo, SendError};
use crate::hub::Member;
use crate::transport::send::{Batch, ByteBudget};

/// A client message on its way to the application. A message of an HTTP send carries its
/// send's [`Batch`]: the application taking it (`Connection::recv`) is counted there, and the
/// send answers success only once every message of the batch is taken, so its 204 means the
/// application has the messages (and, as with servers that run the handler inside the send
/// request, what it answers right away is queued before the client's next poll). A message
/// whose send gave up on it (the session closed first) is skipped, never returned.
///
/// The message is a `Box<str>` (no spare capacity, 8 bytes smaller than a `String`): the
/// channel allocates its first block of 32 slots with the session, so the slot size is part of
/// every idle session's cost.
pub(crate) struct Inbound {
    pub(crate) message: Box<str>,
    pub(crate) batch: Option<Arc<Batch>>,
}

impl Inbound {
    pub(crate) fn plain(message: String) -> Inbound {
        Inbound {
            message: message.into_boxed_str(),
            batch: None,
        }
    }

    /// The message, as the application takes it; `None` if its send has withdrawn it.
    pub(crate) fn take(self) -> Option<String> {
        match &self.batch {
            Some(batch) if !batch.take() => None,
            _ => Some(self.message.into_string()),
        }
    }
}

/// The driver's clock: tokio's, so tests can pause and step it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A wake-up for the one task that receives for a session (the websocket loop, or the
/// streaming/polling response being pulled): a flag plus the waiting task's waker.
///
/// Cheaper than [`Notify`] on the message path (no lock, no waiter list: `notify` is an atomic
/// store and a wake, waiting re-registers the same waker without cloning it) and, unlike a
/// `Notify` permit, the receiver can [`clear`](Signal::clear) a pending wake-up before it
/// looks for work, so a wake-up for work it is about to find anyway does not cost another
/// pass. Only the most recently registered task is woken: a session has one receiver at a
/// time.
#[derive(Default)]
pub(crate) struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Wake the receiver, or make its next wait return at once.
    pub(crate) fn notify(&self) {
        self.set.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Forget a pending wake-up: call before checking for work, so that only a notification
    /// that comes after the check wakes the receiver.
    pub(crate) fn clear(&self) {
        self.set.store(false, Ordering::Relaxed);
    }

    /// Ready once notified (since the last wait or clear).
    pub(crate) fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.set.swap(false, Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A notification between the check and the registration found no waker to wake.
        if self.set.swap(false, Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Wait until notified.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| self.poll_wait(cx)).await;
    }
}

pub(crate) struct SessionState {
    pub(crate) core: sockjs_core::Session,
    /// The sending half of the application's inbound queue; dropped when the session closes so
    /// that the application's `recv` ends after the messages already received.
    inbound: Option<mpsc::Sender<Inbound>>,
    cause: Option<CloseCause>,
    out_messages: u64,
    out_bytes: u64,
    /// A streaming receiver that was handed a frame and has not come back for the next one
    /// (hyper pulls again as soon as it could write): when, and which receiver.
    handed_off: Option<(ReceiverId, Instant)>,
}

impl SessionState {
    /// See [`SessionHandle::poll_timeout`].
    fn deadline(&self, write_timeout: std::time::Duration) -> Option<Instant> {
        let stall = self.handed_off.map(|(_, at)| at + write_timeout);
        match (self.core.poll_timeout(), stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Traffic counters of one session.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_in: u64,
    pub(crate) bytes_in: u64,
    pub(crate) messages_out: u64,
    pub(crate) bytes_out: u64,
}

/// What a session is made of.
pub(crate) struct SessionParams {
    pub(crate) core: sockjs_core::Session,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    pub(crate) policy: OverflowPolicy,
    pub(crate) max_message_size: usize,
    pub(crate) info: Arc<RequestInfo>,
    pub(crate) key: u64,
    pub(crate) span: tracing::Span,
    pub(crate) max_sends_in_flight: usize,
    pub(crate) max_send_bytes: usize,
    pub(crate) write_timeout: std::time::Duration,
    pub(crate) member: Member,
}

/// One live session, shared by the receiver (request or websocket), the application's
/// connection handle and the timer.
pub(crate) struct SessionHandle {
    state: Mutex<SessionState>,
    /// Something for the receiver to write (a message, a close, a heartbeat).
    pub(crate) wake_receiver: Signal,
    /// The timer's deadline may have moved earlier (a receiver ended).
    pub(crate) wake_timer: Notify,
    /// The outbound queue has room again or the session closed (senders waiting under
    /// [`OverflowPolicy::Wait`], and HTTP sends waiting for the close: see
    /// [`SessionHandle::closed`]).
    space: Notify,
    /// Senders waiting on `space`: the receiver notifies only when there are any (a
    /// `notify_waiters` takes the `Notify`'s lock).
    space_waiters: AtomicUsize,
    policy: OverflowPolicy,
    max_message_size: usize,
    /// The raw websocket endpoint: messages are queued verbatim, not JSON-encoded.
    raw: bool,
    /// What the opening request carried.
    pub(crate) info: Arc<RequestInfo>,
    /// The session's key in the endpoint's table of live sessions.
    pub(crate) key: u64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    /// The session's tracing span (transport, peer; never the session id).
    pub(crate) span: tracing::Span,
    /// Permits for `xhr_send`/`jsonp_send` requests being processed at once.
    sends: tokio::sync::Semaphore,
    /// Bytes of send bodies the session holds (`max_send_bytes_per_session`).
    pub(crate) send_bytes: ByteBudget,
    /// How long a streaming receiver may sit on a frame without pulling the next.
    write_timeout: std::time::Duration,
    /// The session's rooms and user in the hub.
    pub(crate) member: Member,
}

impl SessionHandle {
    pub(crate) fn new(p: SessionParams) -> Arc<Self> {
        Arc::new(SessionHandle {
            state: Mutex::new(SessionState {
                core: p.core,
                inbound: Some(p.inbound),
                cause: None,
                out_messages: 0,
                out_bytes: 0,
                handed_off: None,
            }),
            wake_receiver: Signal::default(),
            wake_timer: Notify::new(),
            space: Notify::new(),
            space_waiters: AtomicUsize::new(0),
            policy: p.policy,
            max_message_size: p.max_message_size,
            raw: p.info.transport.is_none(),
            info: p.info,
            key: p.key,
            messages_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            span: p.span,
            sends: tokio::sync::Semaphore::new(p.max_sends_in_flight),
            send_bytes: ByteBudget::new(p.max_send_bytes),
            write_timeout: p.write_timeout,
            member: p.member,
        })
    }

    /// A permit to process one send request, or `None` if too many are in progress.
    pub(crate) fn begin_send(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.sends.try_acquire().ok()
    }

    /// Whether this is a raw `/websocket` session (verbatim messages).
    pub(crate) fn is_raw(&self) -> bool {
        self.raw
    }

    /// Count messages received from the client.
    pub(crate) fn record_inbound(&self, messages: u64, bytes: u64) {
        self.messages_in.fetch_add(messages, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn counters(&self) -> Counters {
        let (messages_out, bytes_out) = self.with(|s| (s.out_messages, s.out_bytes));
        Counters {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            messages_out,
            bytes_out,
        }
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

    /// Run `f` on the state, then publish a close that `f` caused: the session leaves the
    /// hub (its rooms, the user index), then the application's inbound queue ends, so that
    /// by the time `Connection::recv` returns `None` the session is in no room any more.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SessionState) -> R) -> R {
        let (r, closed) = {
            let mut state = self.lock();
            let r = f(&mut state);
            let closed = match state.core.take_close_event() {
                Some(cause) => {
                    state.cause = Some(cause.clone());
                    Some((cause, state.inbound.take()))
                }
                None => None,
            };
            (r, closed)
        };
        if let Some((cause, inbound)) = closed {
            // Outside the session's lock: leaving takes the hub's shard locks.
            self.member.on_close();
            drop(inbound);
            self.span
                .in_scope(|| tracing::info!(cause = cause.label(), %cause, "session closed"));
            self.space.notify_waiters();
            self.wake_receiver.notify();
        }
        r
    }

    pub(crate) fn attach(
        &self,
        framing: Framing,
        mode: ReceiveMode,
    ) -> Result<ReceiverId, AttachError> {
        let attached = self.with(|s| s.core.attach(now(), framing, mode));
        // The next deadline is now the heartbeat, which may come before the expiry the timer
        // is sleeping towards.
        self.wake_timer.notify_one();
        attached
    }

    /// Detach `id` (no-op if it already ended); `interrupted` closes the session with 1002.
    pub(crate) fn detach(&self, id: ReceiverId, interrupted: bool) {
        self.with(|s| s.core.detach(now(), id, interrupted));
        self.wake_timer.notify_one();
    }

    /// The next frame for receiver `id`: `Some((data, end))`, or `None` when it has ended.
    ///
    /// Called when the response body is pulled: a frame handed over and not followed by the
    /// next pull within the write timeout means the client stopped reading (see
    /// [`SessionHandle::handle_timeout`]).
    pub(crate) async fn next_frame(&self, id: ReceiverId) -> Option<(Bytes, bool)> {
        loop {
            let (t, wake_timer) = self.with(|s| {
                s.handed_off = None;
                let now = now();
                let t = s.core.poll_transmit(now, id);
                let mut wake_timer = false;
                if let Transmit::Frame { end: false, .. } = t {
                    s.handed_off = Some((id, now));
                    // The timer sleeps towards the core's next deadline; wake it only if the
                    // stall deadline comes first (never with the default settings, where
                    // the heartbeat is shorter than the write timeout).
                    wake_timer = s
                        .core
                        .poll_timeout()
                        .is_none_or(|next| now + self.write_timeout < next);
                }
                (t, wake_timer)
            });
            if wake_timer {
                self.wake_timer.notify_one();
            }
            match t {
                Transmit::Frame { data, end } => {
                    self.notify_space();
                    if end {
                        self.wake_timer.notify_one();
                    }
                    return Some((data, end));
                }
                Transmit::Ended | Transmit::Close { .. } => return None,
                // A notification between the poll above and this wait is not lost: the
                // signal stays set until the wait.
                Transmit::Idle => self.wake_receiver.wait().await,
            }
        }
    }

    /// The streaming receiver `id` took the next piece of the frame it was handed: the client
    /// is reading, so the stall deadline of [`next_frame`](SessionHandle::next_frame) starts
    /// again. A no-op for a receiver that holds no frame.
    pub(crate) fn progress(&self, id: ReceiverId) {
        self.with(|s| {
            if let Some((rid, at)) = &mut s.handed_off {
                if *rid == id {
                    *at = now();
                }
            }
        });
    }

    /// The frame for `id` if one is ready now, without waiting (also notifies senders waiting
    /// for room and the timer), and whether more is ready after it, read under the same lock:
    /// [`Then::Idle`] with the session's next deadline (see
    /// [`poll_timeout`](SessionHandle::poll_timeout)) after [`Transmit::Idle`], or after a
    /// frame that emptied the queue, so that a receiver that wrote the one frame of a
    /// broadcast need not lock again to learn there is nothing more. The clock is read only
    /// when a frame goes out.
    pub(crate) fn try_next_frame(&self, id: ReceiverId) -> (Transmit, Then) {
        let (t, then) = self.with(|s| {
            let t = s.core.poll_transmit_with(id, now);
            let idle = match t {
                Transmit::Idle => true,
                // A frame leaves nothing behind unless more was queued than fits one frame
                // (raw sessions send one message per frame) or the session is closing (the
                // close frame follows). A heartbeat is due only after the timer ran, on the
                // receiver's own task.
                Transmit::Frame { end: false, .. } => {
                    s.core.queued_messages() == 0 && !s.core.is_closed()
                }
                _ => false,
            };
            let then = if idle {
                Then::Idle(s.deadline(self.write_timeout))
            } else {
                Then::Poll
            };
            (t, then)
        });
        match &t {
            Transmit::Frame { end, .. } => {
                self.notify_space();
                if *end {
                    self.wake_timer.notify_one();
                }
            }
            Transmit::Close { .. } => self.wake_timer.notify_one(),
            Transmit::Idle | Transmit::Ended => {}
        }
        (t, then)
    }

    /// The session's next deadline: the core's, or a streaming receiver's stall deadline if
    /// that comes first.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.with(|s| s.deadline(self.write_timeout))
    }

    /// Advance the session's timers; also drop a streaming receiver that has not pulled its
    /// next frame within the write timeout (the client stopped reading or vanished without the
    /// connection failing), which closes the session as interrupted.
    pub(crate) fn handle_timeout(&self) {
        let now = now();
        self.with(|s| {
            s.core.handle_timeout(now);
            if let Some((rid, at)) = s.handed_off {
                if now >= at + self.write_timeout {
                    s.handed_off = None;
                    if s.core.has_receiver() {
                        tracing::debug!("streaming receiver stalled; dropping it");
                        s.core.detach(now, rid, true);
                    }
                }
            }
        });
        self.wake_receiver.notify();
    }

    pub(crate) fn is_expired(&self) -> bool {
        self.with(|s| s.core.is_expired())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.with(|s| s.core.is_closed())
    }

    /// Wait until the session is closed (at once if it is).
    pub(crate) async fn closed(&self) {
        loop {
            // Registered before the check: a close between the two still wakes us (a close
            // always notifies `space`'s waiters).
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn close_cause(&self) -> Option<CloseCause> {
        self.with(|s| s.cause.clone())
    }

    /// A clone of the inbound sender, or `None` once the session is closed.
    pub(crate) fn inbound(&self) -> Option<mpsc::Sender<Inbound>> {
        self.with(|s| s.inbound.clone())
    }

    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The application closes the session.
    pub(crate) fn close(&self, code: u16, reason: &str) -> bool {
        let closed = self.with(|s| s.core.close(code, reason));
        self.wake_receiver.notify();
        closed
    }

    /// Close for `cause` with `code` and `reason`; queued messages go first if `flush`.
    pub(crate) fn close_with(
        &self,
        cause: CloseCause,
        code: u16,
        reason: &str,
        flush: bool,
    ) -> bool {
        let closed = self.with(|s| s.core.close_with(cause, code, reason, flush));
        self.wake_receiver.notify();
        closed
    }

    /// Close for `cause` (not the application's doing) with `code`, dropping queued messages.
    pub(crate) fn abort(&self, cause: CloseCause, code: &CloseCode) -> bool {
        let closed = self.with(|s| s.core.abort(cause, code));
        self.wake_receiver.notify();
        closed
    }

    /// Queue `message`, applying the overflow policy when the queue is full.
    pub(crate) async fn send(&self, message: &str) -> Result<(), SendError> {
        if message.len() > self.max_message_size {
            return Err(SendError::TooLarge);
        }
        // The common case, room in the queue, registers no interest in `space`.
        let mut encoded = match self.try_queue(self.encode(message)) {
            Ok(()) => return Ok(()),
            Err(Refused::Closed) => return Err(SendError::Closed),
            Err(Refused::Full(m)) => m,
        };
        match self.policy {
            OverflowPolicy::Wait => {}
            OverflowPolicy::Fail => return Err(SendError::Full),
            _ => {
                self.abort(CloseCause::LimitExceeded, &sockjs_core::close::QUEUE_FULL);
                return Err(SendError::Closed);
            }
        }
        let _waiting = SpaceWaiter::new(&self.space_waiters);
        loop {
            // Register interest before trying again, so a drain between the try and the
            // await cannot be missed (the receiver sees `space_waiters` once it drains: the
            // session lock orders the two).
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_queue(encoded) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed) => return Err(SendError::Closed),
                Err(Refused::Full(m)) => {
                    encoded = m;
                    space.await;
                }
            }
        }
    }

    /// Wake the senders waiting for room in the queue, if there are any.
    fn notify_space(&self) {
        if self.space_waiters.load(Ordering::Relaxed) > 0 {
            self.space.notify_waiters();
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
        let len = message.len() as u64;
        let r = self.with(|s| {
            let r = s.core.send(message);
            if r.is_ok() {
                s.out_messages += 1;
                s.out_bytes += len;
            }
            r
        });
        match r {
            Ok(()) => {
                self.wake_receiver.notify();
                Ok(())
            }
            Err(sockjs_core::SendError::Closed(_)) => Err(Refused::Closed),
            Err(sockjs_core::SendError::Full(m)) => Err(Refused::Full(m)),
        }
    }
}

/// What a receiver does after [`SessionHandle::try_next_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    /// More may be ready: ask again.
    Poll,
    /// Nothing more is ready: wait for a wake-up (a send notifies the receiver's signal) or
    /// for this deadline of the session.
    Idle(Option<Instant>),
}

/// Counts a sender waiting for room in the outbound queue while it lives.
struct SpaceWaiter<'a>(&'a AtomicUsize);

impl<'a> SpaceWaiter<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        SpaceWaiter(count)
    }
}

impl Drop for SpaceWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
    /// The receiver's place under `max_receivers`, given back with the guard.
    pub(crate) _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ReceiverGuard {
    fn drop(&mut self) {
        self.session.detach(self.id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::NewSession;
    use sockjs_core::Transport;

    /// A websocket session of a fresh endpoint, attached, its open frame taken.
    fn attached(raw: bool) -> (Arc<SessionHandle>, ReceiverId, crate::Connection) {
        let sockjs = crate::SockJs::new("/t", sockjs_core::Config::default(), |_c| async {})
            .expect("an endpoint");
        let (session, connection) = sockjs
            .endpoint
            .open(NewSession {
                transport: (!raw).then_some(Transport::WebSocket),
                headers: http::HeaderMap::new(),
                uri: http::Uri::from_static("/t/websocket"),
                remote_addr: None,
            })
            .expect("a session");
        let framing = if raw {
            Framing::Raw
        } else {
            Framing::WebSocket
        };
        let rid = session
            .attach(framing, ReceiveMode::Unlimited)
            .expect("attached");
        if !raw {
            let (t, then) = session.try_next_frame(rid);
            assert!(matches!(t, Transmit::Frame { end: false, .. }), "{t:?}");
            assert!(
                matches!(then, Then::Idle(_)),
                "nothing after the open frame"
            );
        }
        (session, rid, connection)
    }

    /// The websocket loop waits without polling again after a frame that emptied the
    /// queue, and polls again when more is ready: several raw messages (one per frame), or a
    /// close after the messages.
    #[tokio::test]
    async fn try_next_frame_says_whether_more_is_ready() {
        let (session, rid, _conn) = attached(false);
        assert_eq!(
            session.try_next_frame(rid),
            (Transmit::Idle, session_idle(&session))
        );
        session.try_send("one").unwrap();
        session.try_send("two").unwrap();
        let (t, then) = session.try_next_frame(rid);
        assert_eq!(t, frame(r#"a["one","two"]"#));
        assert!(
            matches!(then, Then::Idle(_)),
            "both messages went in one frame"
        );

        session.try_send("three").unwrap();
        assert!(session.close(3000, "bye"));
        let (t, then) = session.try_next_frame(rid);
        assert_eq!(t, frame(r#"a["three"]"#));
        assert_eq!(then, Then::Poll, "the close frame follows");
        let (t, _) = session.try_next_frame(rid);
        assert!(matches!(t, Transmit::Frame { end: true, .. }), "{t:?}");

        let (raw, rid, _conn) = attached(true);
        raw.try_send("a").unwrap();
        raw.try_send("b").unwrap();
        let (t, then) = raw.try_next_frame(rid);
        assert_eq!(t, frame("a"));
        assert_eq!(then, Then::Poll, "raw sessions send one message per frame");
        let (t, then) = raw.try_next_frame(rid);
        assert_eq!(t, frame("b"));
        assert!(matches!(then, Then::Idle(_)));
    }

    fn session_idle(session: &SessionHandle) -> Then {
        Then::Idle(session.poll_timeout())
    }

    fn frame(s: &'static str) -> Transmit {
        Transmit::Frame {
            data: Bytes::from_static(s.as_bytes()),
            end: false,
        }
    }
}

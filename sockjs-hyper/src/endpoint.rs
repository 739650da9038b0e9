//! The state of one endpoint: its configuration and handler, the table of live sessions (all
//! transports), the lookup of HTTP sessions by the client's session id, statistics, broadcast
//! and shutdown.
//!
//! Two sharded tables (see `sockjs_core::Registry`): `by_id` maps the client's session id to
//! the session for the HTTP transports (a websocket session's id may repeat, so websockets are
//! not there); `live` holds every live session under an internal key and bounds their number.
//! Both are touched when a session opens or ends and when an HTTP request looks its session
//! up, never on a session's message path. The endpoint's [`Hub`] (its own, or one shared with
//! other endpoints) holds rooms and users.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderValue;
use sockjs_core::{CloseCause, Config, Registry, Transport};
use tokio::sync::{mpsc, Notify};
use tracing::Instrument;

use crate::connection::{Connection, ConnectionSender, RequestInfo, SendError};
use crate::hub::users::EndpointTag;
use crate::hub::{Hub, LoginPolicy, Member};
use crate::session::{Counters, SessionHandle, SessionParams};
use crate::stats::{EndpointCounters, Stats};
use crate::transport::send::ByteBudget;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
pub(crate) type Handler = Arc<dyn Fn(Connection) -> BoxFuture + Send + Sync>;

pub(crate) struct Endpoint {
    pub(crate) prefix: String,
    pub(crate) config: Config,
    handler: Handler,
    /// HTTP sessions by the client's session id.
    pub(crate) by_id: Registry<Arc<SessionHandle>>,
    /// Every live session (HTTP and websocket), by internal key; bounded by `max_sessions`.
    live: Registry<Arc<SessionHandle>>,
    next_key: AtomicU64,
    pub(crate) counters: EndpointCounters,
    shutting_down: AtomicBool,
    /// Notified when the last live session ends.
    idle: Notify,
    /// Live sessions per client IP, when `max_sessions_per_addr` is set (touched on open and
    /// end only).
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    /// Places for receiving connections (`max_receivers`).
    receivers: Arc<tokio::sync::Semaphore>,
    /// Bytes of send bodies held by all sessions (`max_send_bytes_per_endpoint`).
    pub(crate) send_bytes: ByteBudget,
    /// Rooms, users, presence (shared with other endpoints or not).
    pub(crate) hub: Hub,
    /// What the hub knows of this endpoint (its id in the hub, prefix, login policy).
    tag: Arc<EndpointTag>,
    /// The iframe page and its ETag.
    pub(crate) iframe: (Bytes, HeaderValue),
}

/// What a session is being created for.
pub(crate) struct NewSession {
    pub(crate) transport: Option<Transport>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) uri: http::Uri,
    pub(crate) remote_addr: Option<SocketAddr>,
}

/// Why no session could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The endpoint is at `max_sessions`.
    Full,
    /// The endpoint is shutting down.
    ShuttingDown,
    /// The client's address is at `max_sessions_per_addr`.
    AddrFull,
    /// The endpoint holds `max_receivers` receiving connections.
    TooManyReceivers,
}

/// The outcome of a broadcast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// Sessions the message was queued to.
    pub sent: usize,
    /// Sessions skipped because their outbound queue was full (slow clients).
    pub full: usize,
    /// Sessions skipped because they are closed.
    pub closed: usize,
}

impl Endpoint {
    /// The endpoint, registered with its hub for [`Hub::broadcast`] when `hub_broadcasts`.
    pub(crate) fn new(
        prefix: String,
        config: Config,
        handler: Handler,
        hub: Hub,
        policy: LoginPolicy,
        iframe: (Bytes, HeaderValue),
        hub_broadcasts: bool,
    ) -> Arc<Endpoint> {
        let tag = hub.inner.endpoint_tag(&prefix, policy);
        let endpoint = Arc::new(Endpoint {
            prefix,
            by_id: Registry::new(config.max_sessions),
            live: Registry::new(config.max_sessions),
            next_key: AtomicU64::new(0),
            counters: EndpointCounters::default(),
            shutting_down: AtomicBool::new(false),
            idle: Notify::new(),
            per_addr: Mutex::new(HashMap::new()),
            receivers: Arc::new(tokio::sync::Semaphore::new(config.max_receivers)),
            send_bytes: ByteBudget::new(config.max_send_bytes_per_endpoint),
            config,
            handler,
            hub,
            tag,
            iframe,
        });
        if hub_broadcasts {
            endpoint.hub.inner.register(&endpoint);
        }
        endpoint
    }

    /// Open a session: register it as live and build the application's connection. The
    /// handler is not started yet (see [`Endpoint::start`]).
    pub(crate) fn open(
        self: &Arc<Self>,
        new: NewSession,
    ) -> Result<(Arc<SessionHandle>, Connection), OpenError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(OpenError::ShuttingDown);
        }
        let cfg = &self.config;
        let addr = new.remote_addr.map(|a| a.ip());
        self.reserve_addr(addr)?;
        let (tx, rx) = mpsc::channel(cfg.max_inbound_queue);
        let info = Arc::new(RequestInfo {
            headers: new.headers,
            remote_addr: new.remote_addr,
            uri: new.uri,
            transport: new.transport,
        });
        let span = tracing::info_span!(
            "sockjs_session",
            endpoint = %self.prefix,
            transport = info.transport.map_or("raw_websocket", |t| t.as_str()),
            peer = ?info.remote_addr,
        );
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let session = SessionHandle::new(SessionParams {
            core: sockjs_core::Session::new(crate::session::now(), cfg),
            inbound: tx,
            policy: cfg.overflow_policy,
            max_message_size: cfg.max_message_size,
            info: Arc::clone(&info),
            key,
            span,
            max_sends_in_flight: cfg.max_sends_in_flight,
            max_send_bytes: cfg.max_send_bytes_per_session,
            write_timeout: cfg.write_timeout,
            member: Member::new(self.hub.clone(), Arc::clone(&self.tag)),
        });
        if self
            .live
            .get_or_insert_with(&key.to_string(), || Arc::clone(&session))
            .is_err()
        {
            self.release_addr(addr);
            return Err(OpenError::Full);
        }
        // A shutdown that began since the check above may have listed the live sessions
        // before this one was in the table, and would never close it. With the fences here
        // and in `shutdown`, either that listing sees this session or this load sees the flag.
        fence(Ordering::SeqCst);
        if self.shutting_down.load(Ordering::SeqCst) {
            self.discard(&session);
            return Err(OpenError::ShuttingDown);
        }
        let connection = Connection::new(Arc::clone(&session), rx, Arc::clone(self));
        Ok((session, connection))
    }

    /// Start the application's handler for a session that [`Endpoint::open`] made.
    pub(crate) fn start(&self, session: &SessionHandle, connection: Connection) {
        self.counters.opened(session.info.transport);
        let fut = (self.handler)(connection);
        let span = session.span.clone();
        tokio::spawn(
            async move {
                tracing::info!("session opened");
                fut.await;
            }
            .instrument(span),
        );
    }

    fn reserve_addr(&self, addr: Option<IpAddr>) -> Result<(), OpenError> {
        let (Some(limit), Some(addr)) = (self.config.max_sessions_per_addr, addr) else {
            return Ok(());
        };
        let mut map = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(addr).or_insert(0);
        if *n >= limit {
            return Err(OpenError::AddrFull);
        }
        *n += 1;
        Ok(())
    }

    fn release_addr(&self, addr: Option<IpAddr>) {
        let (Some(_), Some(addr)) = (self.config.max_sessions_per_addr, addr) else {
            return;
        };
        let mut map = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&addr);
            }
        }
    }

    /// A place for one receiving connection, or `TooManyReceivers`.
    pub(crate) fn receiver_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, OpenError> {
        Arc::clone(&self.receivers)
            .try_acquire_owned()
            .map_err(|_| OpenError::TooManyReceivers)
    }

    /// Forget a session that was opened but never started (it lost a race for its id).
    fn discard(&self, session: &SessionHandle) {
        if self
            .live
            .remove_if(&session.key.to_string(), |_| true)
            .is_some()
        {
            self.release_addr(session.info.remote_addr.map(|a| a.ip()));
        }
    }

    /// The session has ended for good: fold its counters into the endpoint's and forget it.
    pub(crate) fn retire(&self, session: &SessionHandle) {
        if self
            .live
            .remove_if(&session.key.to_string(), |_| true)
            .is_none()
        {
            return;
        }
        self.release_addr(session.info.remote_addr.map(|a| a.ip()));
        // Closed sessions have left the hub already; this covers any other way of ending.
        session.member.on_close();
        let cause = session.close_cause().unwrap_or(CloseCause::Interrupted);
        self.counters
            .retired(session.info.transport, &cause, session.counters());
        if self.live.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// The session `id` on an HTTP transport, created (with its handler and timer) if it does
    /// not exist or has expired.
    pub(crate) fn http_session(
        self: &Arc<Self>,
        id: &str,
        new: impl FnOnce() -> NewSession,
    ) -> Result<Arc<SessionHandle>, OpenError> {
        if let Some(session) = self.by_id.get(id).filter(|s| !s.is_expired()) {
            return Ok(session);
        }
        let (session, connection) = self.open(new())?;
        let placed = self
            .by_id
            .replace_if(id, |s| s.is_expired(), || Arc::clone(&session));
        match placed {
            Ok((winner, true)) if Arc::ptr_eq(&winner, &session) => {
                self.start(&session, connection);
                tokio::spawn(run_timer(Arc::clone(self), id.into(), Arc::clone(&session)));
                Ok(session)
            }
            Ok((winner, _)) => {
                // Another request created the session a moment ago: use that one.
                drop(connection);
                self.discard(&session);
                Ok(winner)
            }
            Err(_) => {
                drop(connection);
                self.discard(&session);
                Err(OpenError::Full)
            }
        }
    }

    /// Every live session.
    pub(crate) fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        self.live.snapshot()
    }

    pub(crate) fn session_count(&self) -> usize {
        self.live.len()
    }

    /// Queue `message` to every open session, encoding it once (once more for raw websocket
    /// sessions, which get it verbatim). Never waits: a session whose queue is full is
    /// skipped and counted, so one slow client cannot stall the others.
    pub(crate) fn broadcast(&self, message: &str) -> Result<BroadcastReport, SendError> {
        if message.len() > self.config.max_message_size {
            return Err(SendError::TooLarge);
        }
        let d = crate::hub::fan_out(self.live.snapshot().iter(), message);
        Ok(BroadcastReport {
            sent: d.sent,
            full: d.full,
            closed: d.closed + d.too_large,
        })
    }

    /// The live sessions logged in as `user` (the hub's user index: O(1) in the number of
    /// sessions).
    pub(crate) fn sessions_of(&self, user: &str) -> Vec<Arc<SessionHandle>> {
        self.hub.inner.user_sessions(user, Some(self.tag.id))
    }

    pub(crate) fn stats(&self) -> Stats {
        let live = self.live.snapshot();
        let mut open = Vec::with_capacity(live.len());
        let mut traffic = Counters::default();
        for s in &live {
            open.push(s.info.transport);
            let c = s.counters();
            traffic.messages_in += c.messages_in;
            traffic.bytes_in += c.bytes_in;
            traffic.messages_out += c.messages_out;
            traffic.bytes_out += c.bytes_out;
        }
        self.counters.snapshot(&open, traffic)
    }

    /// Refuse new sessions and close every live one with `code` and `reason` (queued messages
    /// first); the handlers see [`CloseCause::Shutdown`].
    pub(crate) fn shutdown(&self, code: u16, reason: &str) {
        self.shutting_down.store(true, Ordering::SeqCst);
        // Pairs with the fence in `open` (see there).
        fence(Ordering::SeqCst);
        for session in self.live.snapshot() {
            session.close_with(CloseCause::Shutdown, code, reason, true);
        }
    }

    /// Wait until no session is live.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.live.is_empty() {
                return;
            }
            idle.await;
        }
    }

    pub(crate) fn sender(session: Arc<SessionHandle>) -> ConnectionSender {
        ConnectionSender::new(session)
    }
}

/// The per-session timer of an HTTP session: heartbeats, expiry, then removal.
async fn run_timer(endpoint: Arc<Endpoint>, id: Box<str>, session: Arc<SessionHandle>) {
    while let Some(deadline) = session.poll_timeout() {
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                session.handle_timeout();
            }
            _ = session.wake_timer.notified() => {}
        }
    }
    endpoint.by_id.remove_if(&id, |s| Arc::ptr_eq(s, &session));
    endpoint.retire(&session);
}

//! One task per SockJS session: feeds the STOMP [`Session`] and performs its outputs.
//!
//! The task waits on four things at once: the client's next SockJS message, the session's
//! queue (messages from the fan-out and replies), its one timer (heart-beats and timeouts,
//! re-armed from `poll_timeout` when the deadline changes), and, while a `CONNECT` is being
//! decided, the authenticator. After each input it performs every output in order before
//! waiting again.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::FutureExt;
use sockjs_hyper::{Connection, RequestInfo, SendError};
use tokio::sync::mpsc;

use super::auth::{Access, Action, AuthResult, ConnectInfo, Refusal};
use super::registry::{Item, Key, Lookup, SessionShared, Target};
use super::stats::{add, sub};
use super::{AppMessage, Inner, PublishError, SlowSubscriber, StompBroker, StompSession};
use crate::encode::RESERVED_MESSAGE_HEADERS;
use crate::frame::Headers;
use crate::route::Route;
use crate::session::{
    CloseReason, DeliverError, OutboundMessage, Output, Publish, Session, SubscribeRequest,
    UnsubscribeRequest,
};

/// How often a session whose application handler is still running is checked for its end.
const HANDLER_CLOSE_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A subscription as the driver keeps it.
struct Sub {
    /// The destination as the client subscribed (what replies match).
    destination: String,
    /// Its broker destination, when the broker fans out to it.
    key: Option<Key>,
}

/// What draining the outputs ended with.
enum Step {
    /// Everything performed; wait for the next input.
    Idle,
    /// Ask the authenticator, then wait.
    Authenticate(BoxFuture<'static, AuthResult>),
}

struct Driver {
    inner: Arc<Inner>,
    broker: StompBroker,
    id: u64,
    session: Session,
    subs: HashMap<String, Sub>,
    queue: mpsc::Sender<Item>,
    shared: Arc<SessionShared>,
    request: Arc<RequestInfo>,
    user: Option<Arc<str>>,
    connected: bool,
    /// The destinations this session publishes to.
    destinations: Lookup,
}

pub(super) async fn run(inner: Arc<Inner>, conn: Connection) {
    let broker = StompBroker {
        inner: Arc::clone(&inner),
        endpoint: conn.endpoint(),
    };
    let (queue, mut items) = mpsc::channel(inner.session_queue);
    let counters = &inner.fanout.counters;
    add(&counters.sessions, 1);
    let mut d = Driver {
        id: inner.next_session.fetch_add(1, Ordering::Relaxed),
        session: Session::new(now(), Arc::clone(&inner.config)),
        inner: Arc::clone(&inner),
        broker,
        subs: HashMap::new(),
        queue,
        shared: Arc::new(SessionShared::default()),
        request: Arc::new(conn.request().clone()),
        user: None,
        connected: false,
        destinations: Lookup::default(),
    };
    let close_when_slow = inner.fanout.slow == SlowSubscriber::Close;
    let mut conn = conn;
    let mut auth: Option<BoxFuture<'static, AuthResult>> = None;
    let timer = tokio::time::sleep(std::time::Duration::ZERO);
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        // The session can end while the authenticator decides (the connect timeout, a client
        // sending too much meanwhile): its answer no longer matters, and the ERROR and close
        // must go out now, not whenever (if ever) the authenticator answers.
        if auth.is_some() && d.session.is_closed() {
            auth = None;
        }
        if auth.is_none() {
            if let Step::Authenticate(f) = d.drain(&conn).await {
                auth = Some(f);
            }
        }
        if d.session.is_closed() && auth.is_none() {
            break;
        }
        let deadline = d.session.poll_timeout();
        if deadline != armed {
            if let Some(at) = deadline {
                timer.as_mut().reset(tokio::time::Instant::from_std(at));
            }
            armed = deadline;
        }
        let shared = Arc::clone(&d.shared);
        tokio::select! {
            biased;
            message = conn.recv() => match message {
                Some(m) => d.session.handle_message(now(), &m),
                None => {
                    auth = None;
                    d.session.handle_close(now());
                }
            },
            result = async { match auth.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if auth.is_some() => {
                auth = None;
                d.authenticated(&conn, result).await;
            }
            () = shared.overflowed.notified(), if close_when_slow => {
                let dropped = d.shared.dropped.load(Ordering::Relaxed);
                d.session.fail(now(), &format!("slow consumer: {dropped} message(s) dropped"));
            }
            Some(item) = items.recv() => {
                d.item(item);
                // Take what else is queued now, up to a bound, before writing.
                for _ in 0..64 {
                    match items.try_recv() {
                        Ok(item) => d.item(item),
                        Err(_) => break,
                    }
                }
            }
            () = &mut timer, if armed.is_some() => {
                armed = None;
                d.session.handle_timeout(now());
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.unsubscribe_all();
        let counters = &self.inner.fanout.counters;
        sub(&counters.sessions);
        if self.connected {
            sub(&counters.connected);
        }
    }
}

impl Driver {
    /// Performs every output in order, until none is left or the authenticator must answer.
    async fn drain(&mut self, conn: &Connection) -> Step {
        let mut scratch = String::new();
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(frame) => {
                    let sent = conn.send(&frame).await;
                    self.sent(sent, frame.len());
                }
                Output::Message(message) => {
                    // Every MESSAGE of this wake-up is written in one buffer, so an idle
                    // session keeps none.
                    scratch.clear();
                    scratch.reserve(message.text_len_hint());
                    message.write(&mut scratch);
                    let sent = conn.send(&scratch).await;
                    self.sent(sent, scratch.len());
                }
                Output::Authenticate(connect) => {
                    let info = ConnectInfo {
                        connect,
                        request: Arc::clone(&self.request),
                    };
                    return Step::Authenticate((self.inner.authenticator)(info));
                }
                Output::Subscribe(req) => self.subscribe(req),
                Output::Unsubscribe(req) => self.unsubscribe(req),
                Output::Publish(p) => self.publish(conn, p).await,
                Output::Ack(a) => add(
                    &self.inner.fanout.counters.acked,
                    a.message_ids.len() as u64,
                ),
                Output::Nack(a) => {
                    add(
                        &self.inner.fanout.counters.nacked,
                        a.message_ids.len() as u64,
                    );
                }
                Output::Disconnect => self.unsubscribe_all(),
                Output::Close(reason) => {
                    if let CloseReason::Error(e) = &reason {
                        add(&self.inner.fanout.counters.errors, 1);
                        tracing::debug!(error = %e, "STOMP session ended with ERROR");
                    }
                    let (code, text) = reason.sockjs_close();
                    conn.close(code, text);
                }
            }
        }
        Step::Idle
    }

    /// What sending a frame of `len` bytes came to.
    fn sent(&mut self, result: Result<(), SendError>, len: usize) {
        match result {
            Ok(()) => {}
            Err(SendError::Closed) => self.session.handle_close(now()),
            Err(SendError::TooLarge) => {
                add(&self.inner.fanout.counters.dropped_too_large, 1);
                tracing::warn!(
                    len,
                    limit = self.inner.max_message_size,
                    "a STOMP frame larger than max_message_size was not sent"
                );
            }
            Err(e) => {
                add(&self.inner.fanout.counters.dropped_slow, 1);
                tracing::debug!(error = %e, "frame not sent");
            }
        }
    }

    async fn authenticated(&mut self, conn: &Connection, result: AuthResult) {
        let counters = &self.inner.fanout.counters;
        let user = match result {
            Ok(user) => user,
            Err(Refusal(message)) => {
                add(&counters.refused, 1);
                let _ = self.session.refuse(now(), &message);
                return;
            }
        };
        if let Some(name) = &user {
            if let Err(e) = conn.login(name).await {
                add(&counters.refused, 1);
                let _ = self.session.refuse(now(), &e.to_string());
                return;
            }
        }
        if self.session.accept(now(), user.clone()).is_ok() {
            self.user = user.map(Arc::from);
            self.connected = true;
            add(&counters.connected, 1);
        }
    }

    fn handle(&self) -> StompSession {
        StompSession {
            user: self.user.clone(),
            request: Arc::clone(&self.request),
            queue: self.queue.clone(),
            broker: self.broker.clone(),
        }
    }

    fn authorize(
        &self,
        action: Action,
        destination: &str,
        route: &Route,
        headers: &Headers,
    ) -> Result<(), Refusal> {
        let Some(authorizer) = &self.inner.authorizer else {
            return Ok(());
        };
        authorizer(&Access {
            action,
            destination,
            route,
            user: self.user.as_deref(),
            headers,
            request: &self.request,
        })
    }

    fn deny(&mut self, refusal: Refusal) {
        add(&self.inner.fanout.counters.denied, 1);
        self.session.fail(now(), &refusal.0);
    }

    fn subscribe(&mut self, req: SubscribeRequest) {
        if let Err(refusal) = self.authorize(
            Action::Subscribe,
            &req.destination,
            &req.route,
            &req.headers,
        ) {
            return self.deny(refusal);
        }
        let key = match req.route {
            Route::Broker => Some(Key::Topic(req.destination.clone())),
            Route::User {
                user: Some(user),
                destination,
            } => Some(Key::User { user, destination }),
            _ => None,
        };
        if let Some(key) = &key {
            let target = Target {
                session: self.id,
                subscription: Arc::from(req.id.as_str()),
                queue: self.queue.clone(),
                shared: Arc::clone(&self.shared),
            };
            let inner = &self.inner;
            if let Err(e) = inner.registry.subscribe(
                &inner.hub,
                &inner.namespace,
                &inner.fanout,
                key.clone(),
                target,
            ) {
                let message = format!("cannot subscribe to {:?}: {e}", req.destination);
                return self.session.fail(now(), &message);
            }
        }
        self.subs.insert(
            req.id,
            Sub {
                destination: req.destination,
                key,
            },
        );
    }

    fn unsubscribe(&mut self, req: UnsubscribeRequest) {
        if let Some(sub) = self.subs.remove(&req.id) {
            if let Some(key) = &sub.key {
                self.inner.registry.unsubscribe(key, self.id, &req.id);
            }
        }
    }

    fn unsubscribe_all(&mut self) {
        for (id, sub) in self.subs.drain() {
            if let Some(key) = &sub.key {
                self.inner.registry.unsubscribe(key, self.id, &id);
            }
        }
    }

    async fn publish(&mut self, conn: &Connection, mut p: Publish) {
        if let Err(refusal) = self.authorize(Action::Send, &p.destination, &p.route, &p.headers) {
            return self.deny(refusal);
        }
        let key = match std::mem::replace(&mut p.route, Route::Unmatched) {
            Route::Application { path } => return self.run_handler(conn, path, p).await,
            Route::Broker => Key::Topic(p.destination),
            Route::User {
                user: Some(user),
                destination,
            } => Key::User { user, destination },
            _ => {
                add(&self.inner.fanout.counters.unrouted, 1);
                tracing::debug!(destination = %p.destination, "SEND to a destination nothing handles dropped");
                return;
            }
        };
        let message = OutboundMessage {
            destination: key.destination().to_owned(),
            content_type: p.content_type,
            headers: p
                .headers
                .iter()
                .filter(|(n, _)| !RESERVED_MESSAGE_HEADERS.contains(n))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            body: p.body,
        };
        let local = self.destinations.get(&self.inner.registry, &key);
        match self.inner.publish(&key, local, message) {
            Ok(()) => {}
            Err(PublishError::Hub(sockjs_hyper::hub::HubError::Cluster { cause, .. })) => {
                tracing::warn!(error = %cause, "published on this node only");
            }
            Err(e) => self.session.fail(now(), &e.to_string()),
        }
    }

    async fn run_handler(&mut self, conn: &Connection, path: String, p: Publish) {
        let handler = match self
            .inner
            .handlers
            .get(&path)
            .or(self.inner.fallback.as_ref())
        {
            Some(h) => Arc::clone(h),
            None => {
                add(&self.inner.fanout.counters.unrouted, 1);
                tracing::debug!(destination = %p.destination, "no handler for this application destination");
                return;
            }
        };
        let message = AppMessage {
            destination: p.destination,
            path,
            content_type: p.content_type,
            headers: p.headers,
            body: p.body,
            session: self.handle(),
        };
        // The session's frames wait for its handler (in order, as Spring's are per session),
        // but a handler must not keep a session that has ended alive: while it runs, the
        // session is checked for its end now and then, and a handler still running then is
        // dropped. `biased`: a handler that is done when first polled never registers the
        // check's timer, so the common case costs no timer per message.
        let call = AssertUnwindSafe(handler(message)).catch_unwind();
        tokio::pin!(call);
        let mut check = tokio::time::interval(HANDLER_CLOSE_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            tokio::select! {
                biased;
                outcome = &mut call => break Some(outcome),
                _ = check.tick() => if conn.is_closed() { break None },
            }
        };
        match outcome {
            Some(Ok(())) => {}
            Some(Err(_)) => {
                add(&self.inner.fanout.counters.handler_panics, 1);
                tracing::error!("an application handler panicked; the session goes on");
            }
            None => {
                add(&self.inner.fanout.counters.handlers_abandoned, 1);
                tracing::warn!(
                    "an application handler was still running when its session ended; it was dropped"
                );
                self.session.handle_close(now());
            }
        }
    }

    fn item(&mut self, item: Item) {
        match item {
            Item::Deliver {
                subscription,
                message,
            } => {
                if self.subs.contains_key(&*subscription) {
                    self.deliver(&subscription, &message);
                }
            }
            Item::Reply {
                destination,
                message,
            } => {
                let ids: Vec<String> = self
                    .subs
                    .iter()
                    .filter(|(_, s)| s.destination == destination)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    self.deliver(&id, &message);
                }
            }
        }
    }

    fn deliver(&mut self, subscription: &str, message: &Arc<OutboundMessage>) {
        let counters = &self.inner.fanout.counters;
        match self.session.deliver(now(), subscription, message) {
            Ok(_) => add(&counters.delivered, 1),
            Err(DeliverError::TooManyUnacked) => add(&counters.dropped_unacked, 1),
            Err(_) => {}
        }
    }
}

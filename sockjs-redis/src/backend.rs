//! [`RedisBackend`]: the hub's [`Backend`] over Redis. This file is the side the hub calls
//! (non-blocking: a bounded outbox, a bounded claim queue, and small maps of pending state);
//! `task.rs` is the side that talks to Redis.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use sockjs_hyper::hub::{
    Backend, BackendError, BackendStatus, Envelope, Inbox, LoginClaim, NodeId, Topic,
};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{redact, RedisConfig, StartMode};
use crate::error::RedisError;
use crate::keys::Keys;
use crate::stats::{add, Counters, RedisStats};
use crate::task::{self, Link, OpenError};

/// The hub's cluster backend over Redis: build it with [`RedisBackend::connect`], give it
/// (or a clone) to [`Hub::with_backend`](sockjs_hyper::hub::Hub::with_backend), keep a clone
/// to read its [`stats`](RedisBackend::stats) and to [`shutdown`](RedisBackend::shutdown).
///
/// Cheap to clone (an `Arc` inside). One backend serves one hub. Its background task stops
/// when the last clone is dropped (the hub holds one), or at [`RedisBackend::shutdown`].
/// See the [crate documentation](crate) for the guarantees and the Redis layout.
#[derive(Clone)]
pub struct RedisBackend {
    handle: Arc<Handle>,
}

/// The user-facing handles' shared part: when the last one goes, the task stops.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.request_stop();
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.handle.shared;
        f.debug_struct("RedisBackend")
            .field("url", &s.url)
            .field("cluster", &s.config.cluster)
            .field("node", &s.node.get())
            .field("state", &*s.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Connected; registering this node and subscribing (publications are accepted and wait
    /// in the outbox).
    Starting,
    /// Registered and subscribed: cross-node traffic flows.
    Up,
    /// Not connected: cross-node operations fail; reconnecting with backoff.
    Down,
    /// Shut down.
    Stopped,
    /// Refused for good: another live process holds this node's id.
    Refused,
}

/// One envelope on its way to Redis.
pub(crate) struct Outgoing {
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
}

impl Outgoing {
    /// What it counts against [`RedisConfig::outbox_max_bytes`].
    pub(crate) fn cost(&self) -> usize {
        self.channel.len() + self.payload.len()
    }
}

/// A RefuseNewer claim waiting for Redis.
pub(crate) struct ClaimRequest {
    pub(crate) claim: LoginClaim,
    pub(crate) reply: oneshot::Sender<Result<bool, BackendError>>,
}

/// (scope, user) of a claim.
pub(crate) type ClaimKey = (Arc<str>, Arc<str>);

/// State the hub changed and the task has not written yet. Each map keeps only the latest
/// value per key, so it is bounded by the number of topics, users and claims, whatever the
/// rate of changes and however long Redis is away.
#[derive(Default)]
pub(crate) struct Pending {
    /// The topics the hub wants (the truth, to subscribe again after a reconnect).
    pub(crate) desired: HashSet<Topic>,
    /// Topics whose wanted state changed since the task last looked.
    pub(crate) sub_changes: HashMap<Topic, bool>,
    /// Users whose local session count changed, with the latest count.
    pub(crate) presence: HashMap<Arc<str>, usize>,
    /// Claims given up and not yet released in Redis.
    pub(crate) releases: HashSet<ClaimKey>,
    /// Claims this node holds (to take again after Redis restarted).
    pub(crate) held: HashSet<ClaimKey>,
}

/// What the task takes when the hub starts the backend.
pub(crate) struct TaskParts {
    pub(crate) outbox: mpsc::Receiver<Outgoing>,
    pub(crate) claims: mpsc::Receiver<ClaimRequest>,
    pub(crate) first: Option<Link>,
}

pub(crate) struct Shared {
    pub(crate) config: RedisConfig,
    /// The URL without its password, for logs.
    pub(crate) url: String,
    pub(crate) keys: Keys,
    pub(crate) client: redis::Client,
    runtime: tokio::runtime::Handle,
    pub(crate) node: OnceLock<NodeId>,
    /// This process's instance: random, what its liveness key holds, so that processes using
    /// one node id one after the other (restarts) are told apart.
    pub(crate) instance: u64,
    pub(crate) state: watch::Sender<LinkState>,
    /// Whether publications and claims are accepted (a connection exists).
    pub(crate) accepting: AtomicBool,
    /// Another live process holds this node's id: refused for good.
    pub(crate) refused: AtomicBool,
    outbox: mpsc::Sender<Outgoing>,
    claims: mpsc::Sender<ClaimRequest>,
    pub(crate) pending: Mutex<Pending>,
    /// Presence, releases: something for the writer.
    pub(crate) wake_writer: Notify,
    /// The node must register again (another node reaped it while it was alive).
    pub(crate) reregister: Notify,
    /// Subscriptions changed: something for the reader.
    pub(crate) wake_reader: Notify,
    pub(crate) counters: Counters,
    pub(crate) stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    parts: Mutex<Option<TaskParts>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn request_stop(&self) {
        self.accepting.store(false, Ordering::Release);
        self.stop.send_replace(true);
    }

    pub(crate) fn set_state(&self, state: LinkState) {
        self.state.send_replace(state);
    }

    pub(crate) fn outbox_len(&self) -> usize {
        self.outbox.max_capacity() - self.outbox.capacity()
    }
}

impl RedisBackend {
    /// Connect to Redis (a command connection and a subscription connection, then `PING`)
    /// and build the backend; the node registers itself in the cluster once the hub starts
    /// the backend ([`Hub::with_backend`](sockjs_hyper::hub::Hub::with_backend)).
    ///
    /// Fails with [`RedisError::Config`] for an invalid configuration, and, when Redis cannot
    /// be reached within [`RedisConfig::connect_timeout`], with [`RedisError::Unreachable`] or
    /// [`RedisError::Timeout`] — unless [`RedisConfig::start`] is [`StartMode::Degraded`]: then
    /// it logs a warning and returns a backend that is down and keeps trying. Must be called
    /// inside a tokio runtime (its task runs there).
    pub async fn connect(config: RedisConfig) -> Result<RedisBackend, RedisError> {
        let client = config.client()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RedisError::NoRuntime)?;
        let url = redact(&config.url);
        let first = match Link::open(&client, &config).await {
            Ok(link) => Some(link),
            Err(e) => {
                if config.start == StartMode::RequireRedis {
                    return Err(match e {
                        OpenError::Timeout => RedisError::Timeout {
                            url,
                            after: config.connect_timeout,
                        },
                        OpenError::Redis(e) => RedisError::Unreachable {
                            url,
                            source: Box::new(e),
                        },
                    });
                }
                tracing::warn!(url = %url, error = %e, "Redis unreachable at start: starting degraded (this node alone), reconnecting in the background");
                None
            }
        };
        let (outbox_tx, outbox_rx) = mpsc::channel(config.outbox_capacity);
        let (claims_tx, claims_rx) = mpsc::channel(config.claim_queue);
        let connected = first.is_some();
        let shared = Arc::new(Shared {
            keys: Keys::new(&config.cluster),
            url,
            client,
            runtime,
            node: OnceLock::new(),
            instance: rand::random(),
            state: watch::Sender::new(if connected {
                LinkState::Starting
            } else {
                LinkState::Down
            }),
            accepting: AtomicBool::new(connected),
            refused: AtomicBool::new(false),
            outbox: outbox_tx,
            claims: claims_tx,
            pending: Mutex::default(),
            wake_writer: Notify::new(),
            reregister: Notify::new(),
            wake_reader: Notify::new(),
            counters: Counters::default(),
            stop: watch::Sender::new(false),
            task: Mutex::new(None),
            parts: Mutex::new(Some(TaskParts {
                outbox: outbox_rx,
                claims: claims_rx,
                first,
            })),
            config,
        });
        Ok(RedisBackend {
            handle: Arc::new(Handle { shared }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RedisConfig {
        &self.shared().config
    }

    /// This node's id, once the hub started the backend.
    pub fn node(&self) -> Option<NodeId> {
        self.shared().node.get().copied()
    }

    /// Whether the node is connected, registered and subscribed (cross-node traffic flows).
    pub fn is_up(&self) -> bool {
        *self.shared().state.borrow() == LinkState::Up
    }

    /// Wait until the node is up (see [`is_up`](RedisBackend::is_up)), at most `timeout`;
    /// returns whether it is. Right after the hub is built the node needs a few round trips
    /// to register and subscribe; an application that must not lose its first cross-node
    /// messages (a test, a node that must be in the cluster before it is put behind the load
    /// balancer) waits here.
    pub async fn wait_until_up(&self, timeout: Duration) -> bool {
        let mut rx = self.shared().state.subscribe();
        let up = async {
            rx.wait_for(|s| matches!(s, LinkState::Up | LinkState::Stopped | LinkState::Refused))
                .await
                .is_ok_and(|s| *s == LinkState::Up)
        };
        tokio::time::timeout(timeout, up).await.unwrap_or(false)
    }

    /// Wait until the node has joined the cluster (see [`is_up`](RedisBackend::is_up)), at
    /// most `timeout`, and say why not: [`RedisError::NodeIdInUse`] when another live process
    /// holds this node's id (the node never joins; stop the process, or give it another id),
    /// [`RedisError::Timeout`] when it is not up in time (Redis unreachable or slow; the
    /// backend keeps trying).
    ///
    /// When the id's liveness key is held by another process instance, the node cannot tell
    /// at once a live holder from one that died without leaving (SIGKILL, then a restart with
    /// the same id): it waits until that key would have expired (at most
    /// [`RedisConfig::liveness_ttl`]) and looks again; a live holder has refreshed it by then.
    /// So a restart right after a crash takes up to one liveness TTL: give `timeout` more than
    /// that.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use sockjs_hyper::hub::Hub;
    /// use sockjs_redis::{RedisBackend, RedisConfig};
    ///
    /// let config = RedisConfig::new("redis://127.0.0.1:6379");
    /// let wait = config.liveness_ttl + Duration::from_secs(5);
    /// let redis = RedisBackend::connect(config).await?;
    /// let hub = Hub::builder().node("0a".parse()?).backend(redis.clone()).build()?;
    /// redis.joined(wait).await?; // NodeIdInUse if node 0a is running elsewhere
    /// # drop(hub);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn joined(&self, timeout: Duration) -> Result<(), RedisError> {
        let s = self.shared();
        let up = self.wait_until_up(timeout).await;
        if s.refused.load(Ordering::Acquire) {
            return Err(RedisError::NodeIdInUse {
                node: s.node.get().copied().unwrap_or(NodeId::from_u64(0)),
                cluster: s.config.cluster.clone(),
            });
        }
        if up {
            Ok(())
        } else {
            Err(RedisError::Timeout {
                url: s.url.clone(),
                after: timeout,
            })
        }
    }

    /// Whether this node was refused because another live process holds its node id (see
    /// [`joined`](RedisBackend::joined)). A refused node stays out of the cluster: local
    /// delivery works, cross-node operations fail with `Down`.
    pub fn node_id_conflict(&self) -> bool {
        self.shared().refused.load(Ordering::Acquire)
    }

    /// A snapshot of the backend's counters.
    pub fn stats(&self) -> RedisStats {
        let s = self.shared();
        let mut stats = RedisStats::from_counters(
            &s.counters,
            s.node.get().copied(),
            *s.state.borrow() == LinkState::Up,
            (s.config.outbox_capacity, s.config.outbox_max_bytes),
        );
        stats.outbox_len = s.outbox_len();
        stats.node_id_conflict = s.refused.load(Ordering::Acquire);
        stats
    }

    /// Leave the cluster cleanly and stop: write what the outbox holds, delete this node's
    /// liveness key, presence and claims, and tell the other nodes (its users leave their
    /// presence at once instead of after [`RedisConfig::presence_bound`]). Waits at most a
    /// few [`RedisConfig::command_timeout`]s. Cross-node operations fail with `Down`
    /// afterwards; local ones keep working.
    pub async fn shutdown(&self) {
        let s = self.shared();
        s.request_stop();
        let task = lock(&s.task).take();
        if let Some(task) = task {
            let limit = s.config.command_timeout * 4;
            if tokio::time::timeout(limit, task).await.is_err() {
                tracing::warn!("the Redis backend did not stop in time");
            }
        }
        if !s.refused.load(Ordering::Acquire) {
            s.set_state(LinkState::Stopped);
        }
    }
}

impl Backend for RedisBackend {
    fn start(&self, inbox: Inbox) {
        let s = self.shared();
        if s.node.set(inbox.node()).is_err() {
            tracing::warn!("a RedisBackend serves one hub; started twice, ignored");
            return;
        }
        let Some(parts) = lock(&s.parts).take() else {
            return;
        };
        if *s.stop.borrow() {
            return;
        }
        let task = s
            .runtime
            .spawn(task::run(Arc::clone(s), inbox, parts, s.stop.subscribe()));
        *lock(&s.task) = Some(task);
    }

    fn publish(&self, envelope: Envelope) -> Result<(), BackendError> {
        let s = self.shared();
        if !s.accepting.load(Ordering::Acquire) {
            add(&s.counters.refused_down, 1);
            return Err(BackendError::Down);
        }
        let item = Outgoing {
            channel: s.keys.topic_channel(&envelope.topic()),
            payload: envelope.encode(),
        };
        let cost = item.cost();
        let bytes = &s.counters.outbox_bytes;
        let max = s.config.outbox_max_bytes;
        if bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                (b + cost <= max).then_some(b + cost)
            })
            .is_err()
        {
            add(&s.counters.refused_full, 1);
            return Err(BackendError::Full);
        }
        match s.outbox.try_send(item) {
            Ok(()) => Ok(()),
            Err(e) => {
                bytes.fetch_sub(cost, Ordering::AcqRel);
                match e {
                    mpsc::error::TrySendError::Full(_) => {
                        add(&s.counters.refused_full, 1);
                        Err(BackendError::Full)
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        add(&s.counters.refused_down, 1);
                        Err(BackendError::Down)
                    }
                }
            }
        }
    }

    fn subscribe(&self, topic: &Topic) {
        self.want(topic, true);
    }

    fn unsubscribe(&self, topic: &Topic) {
        self.want(topic, false);
    }

    fn set_local_presence(&self, user: &str, count: usize) {
        let s = self.shared();
        lock(&s.pending).presence.insert(Arc::from(user), count);
        s.wake_writer.notify_one();
    }

    fn claim_login(&self, claim: LoginClaim) -> BoxFuture<'static, Result<bool, BackendError>> {
        let s = self.shared();
        if !s.accepting.load(Ordering::Acquire) {
            return Box::pin(std::future::ready(Err(BackendError::Down)));
        }
        let (reply, answer) = oneshot::channel();
        match s.claims.try_send(ClaimRequest { claim, reply }) {
            Ok(()) => Box::pin(async move { answer.await.unwrap_or(Err(BackendError::Down)) }),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Box::pin(std::future::ready(Err(BackendError::Full)))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Box::pin(std::future::ready(Err(BackendError::Down)))
            }
        }
    }

    fn release_login(&self, scope: &str, user: &str) {
        let s = self.shared();
        let key: ClaimKey = (Arc::from(scope), Arc::from(user));
        {
            let mut p = lock(&s.pending);
            p.held.remove(&key);
            p.releases.insert(key);
        }
        s.wake_writer.notify_one();
    }

    fn status(&self) -> BackendStatus {
        if self.is_up() {
            BackendStatus::Up
        } else {
            BackendStatus::Down
        }
    }
}

impl RedisBackend {
    fn want(&self, topic: &Topic, wanted: bool) {
        if *topic == Topic::Control {
            return;
        }
        let s = self.shared();
        {
            let mut p = lock(&s.pending);
            if wanted {
                p.desired.insert(topic.clone());
            } else {
                p.desired.remove(topic);
            }
            p.sub_changes.insert(topic.clone(), wanted);
        }
        s.wake_reader.notify_one();
    }
}

//! The broker: STOMP sessions served from a `sockjs-hyper` endpoint, with Spring's
//! conventions, fanning out through the endpoint's [`Hub`] (feature `broker`, on by default).
//!
//! This is the I/O driver of the protocol modules of this crate: one task per SockJS
//! session feeds a [`Session`](crate::Session) and performs its outputs; destinations are hub
//! channels. It lives behind a cargo feature rather than in a crate of its own so that a
//! Spring team depends on one crate (`sockjs-stomp`) and gets what `@EnableWebSocketMessageBroker`
//! gives them, while the protocol modules stay free of I/O: they never import this module,
//! they compile without tokio or hyper (`default-features = false`, which the fuzz crate
//! uses), and `scripts/test.sh` checks that build.
//!
//! ```no_run
//! use sockjs_stomp::broker::{Message, StompBroker};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spring's getting-started greeting app: `@MessageMapping("/hello")` + `@SendTo("/topic/greetings")`.
//! let broker = StompBroker::builder("/gs-guide-websocket")
//!     .route("/hello", |msg| async move {
//!         let name = msg.body.trim().to_owned();
//!         let reply = Message::json(format!("{{\"content\":\"Hello, {name}!\"}}"));
//!         if let Err(e) = msg.broker().publish("/topic/greetings", reply) {
//!             tracing::warn!(error = %e, "greeting not published");
//!         }
//!     })
//!     .build()?;
//! // Mount `broker.endpoint()` (a `SockJs` service) in your hyper or axum server, and publish
//! // from anywhere in the application with a clone of `broker`:
//! broker.send_to_user("alice", "/queue/notifications", Message::text("you have mail"))?;
//! # Ok(())
//! # }
//! ```
//!
//! # Destinations
//!
//! Routing is [`Routing`](crate::Routing)'s (Spring's defaults: application prefix `/app`,
//! broker prefixes `/topic` and `/queue`, user prefix `/user`):
//!
//! * **`SEND /app/...`** runs the handler registered with
//!   [`StompBrokerBuilder::route`] for the path after the prefix (`/app/hello` → `"/hello"`),
//!   or the [`fallback`](StompBrokerBuilder::fallback). The handler gets an [`AppMessage`]:
//!   body, headers, the session's user and opening request, and can reply to the sender
//!   ([`AppMessage::reply`]), publish to a topic or send to a user
//!   ([`AppMessage::broker`]). A `SEND` nothing handles is dropped and counted, as Spring
//!   drops it.
//! * **`SEND /topic/...` and `/queue/...`** go to every subscription of exactly that
//!   destination, on every node. **`/queue/x` behaves like `/topic/x`** (every subscriber
//!   gets every message), as in Spring's simple broker: frontends written for Spring expect
//!   that, and a point-to-point queue needs redelivery and persistence this broker does not
//!   have. Use user destinations to address one user.
//! * **User destinations**: `SUBSCRIBE /user/queue/x` subscribes the session to its user's
//!   `/queue/x`; [`StompBroker::send_to_user`]`("bob", "/queue/x", ..)` and a client's
//!   `SEND /user/bob/queue/x` reach every session of `bob` subscribed to it, on every node.
//!   The `MESSAGE` shows `destination:/user/queue/x`. An anonymous session's user
//!   subscription is its own: only [`AppMessage::reply`] reaches it (Spring's
//!   `@SendToUser` for a session without a principal).
//! * `SUBSCRIBE` to an application destination (Spring's `@SubscribeMapping`) or to one no
//!   prefix matches is accepted and kept in the session: [`AppMessage::reply`] can answer on
//!   it; nothing else reaches it.
//!
//! # Handlers run in order, one at a time per session
//!
//! A session runs its handler to completion before it reads its next frame, so one client's
//! messages are handled in the order sent (sessions do not wait for each other). `MESSAGE`
//! frames and heart-beats to that session wait meanwhile: keep handlers short and
//! [`tokio::spawn`] long work (an [`AppMessage`]'s [`StompSession`] is `'static` and can
//! reply later). A handler that panics is logged and counted; the session goes on. The
//! `RECEIPT` of a `SEND` to an application destination is sent once its handler returned.
//!
//! # Fan-out, queues and slow subscribers
//!
//! A publication (a client's `SEND`, or [`StompBroker::publish`] from server code) is queued
//! to this node's subscribers straight from the publishing task, and handed to the hub only
//! to reach the other nodes ([`Hub::publish_to_other_nodes`], with a backend such as
//! `sockjs-redis`; without one the hub is not involved at all). On a node with a backend,
//! each destination with subscribers there is one hub channel subscription ([`Hub::subscribe`])
//! whose task fans the other nodes' publications out to the node's sessions. So topics and
//! user destinations span the cluster with no change to the broker or the application.
//!
//! Every session has one bounded queue ([`StompBrokerBuilder::session_queue`], 1024 messages
//! by default) between the fan-out and its task, which writes `MESSAGE` frames to the SockJS
//! session (whose own outbound queue is bounded too, and waited for). When a session's queue
//! is full, the message is not queued for it: with [`SlowSubscriber::Skip`] (the default) it
//! is skipped and counted ([`BrokerStats::dropped_slow`]), and the session carries on; with
//! [`SlowSubscriber::Close`] the session also gets an `ERROR` frame and is closed, as
//! Spring closes a session whose send buffer overflows. Nothing is ever buffered without
//! bound, and a slow session never slows the others: the fan-out never waits. On a message's
//! way the only locks are short ones, never held across a wait: a destination's subscriber
//! list is an `Arc` snapshot copied under that destination's own lock (which otherwise only
//! `SUBSCRIBE` and `UNSUBSCRIBE` of that destination take); a session finds the destinations
//! it publishes to through its own cache, which goes back to the destination table (sharded
//! locks) only after a destination was added or removed on the node, while server code's
//! [`StompBroker::publish`] looks the destination up there each time (one shard lock);
//! a publication to the other nodes takes the hub's locks of [`Hub::publish_to_other_nodes`].
//!
//! # Acknowledgements
//!
//! `ack:client` and `ack:client-individual` subscriptions work as the STOMP spec says
//! (`ACK` and `NACK` are checked and counted, cumulative for `client`), with at most
//! [`Config::max_unacked`] messages unacknowledged per session: beyond it, messages for
//! those subscriptions are skipped and counted ([`BrokerStats::dropped_unacked`]) until
//! the client acknowledges. As in Spring's simple broker, nothing is redelivered: a `NACK`ed
//! or never acknowledged message is gone.
//!
//! # Delivery guarantee
//!
//! A message published on a node reaches every subscription to its destination **on that
//! node** whose session queue has room, once, in publication order per publisher; and **on
//! other nodes**, the hub's guarantee: *per sender node, in publication order, at most once,
//! to every node connected to the backend at the time* (a subscription made on another node
//! takes effect for this node's publications once that node's backend subscription is in
//! place, shortly after its `RECEIPT`). While the backend is unreachable, publishing from
//! server code returns [`PublishError::Hub`] with [`HubError::Cluster`] (the local
//! subscribers got the message), a client's `SEND` is delivered locally and logged.
//!
//! # Security and limits
//!
//! * **Authentication** ([`StompBrokerBuilder::authenticator`]) runs on `CONNECT` with the
//!   frame's headers (`login`, `passcode`, tokens) and the SockJS session's opening request
//!   (cookies, `Authorization`, the client's address): it names the user, connects
//!   anonymously, or refuses with a message (`ERROR`, close). The default connects everyone
//!   anonymously. A user is also logged in to the hub (its presence and
//!   [`LoginPolicy`]), so `hub.presence()` is the online list.
//! * **Authorization** ([`StompBrokerBuilder::authorizer`]) runs on every `SUBSCRIBE` and
//!   `SEND` (transactions: at `COMMIT`); a refusal ends the session with `ERROR`, as Spring
//!   does when a `ChannelInterceptor` throws.
//! * **Limits** are the session's ([`Config`]): frame size, headers, subscriptions per session,
//!   unacknowledged messages, transactions, the `CONNECT` timeout; the broker adds the session
//!   queue. A destination whose hub channel name would exceed 1024 bytes (about 1000 bytes of
//!   destination and user name) cannot be subscribed to (`ERROR`).
//!
//! Malformed frames get an `ERROR` and a close (see [`Session`](crate::Session)).
//!
//! # Heart-beats
//!
//! One timer per session drives the state machine's heart-beats and timeouts (see the
//! [crate docs](crate#heart-beats-sockjs-h-frames-and-proxies) for how STOMP heart-beats,
//! SockJS `h` frames and proxy read timeouts relate).

mod auth;
mod driver;
mod message;
mod registry;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::future::BoxFuture;
use sockjs_hyper::hub::{Hub, HubError, LoginPolicy};
use sockjs_hyper::{RequestInfo, SockJs};
use tokio::sync::mpsc;

pub use auth::{Access, Action, AuthResult, ConnectInfo, Refusal};
pub use message::Message;
pub use stats::BrokerStats;

use crate::config::{Config, ConfigError};
use crate::frame::Headers;
use crate::route::Route;
use crate::session::OutboundMessage;
use registry::{Destination, Fanout, Item, Key, Registry};
use stats::{add, Counters};

/// What the broker does with a session whose queue is full when a message arrives for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// Skip the message for that session and count it ([`BrokerStats::dropped_slow`]); the
    /// session carries on. The default.
    #[default]
    Skip,
    /// Skip it, send the session an `ERROR` frame and close it.
    Close,
}

type Handler = Arc<dyn Fn(AppMessage) -> BoxFuture<'static, ()> + Send + Sync>;

/// A STOMP broker with Spring's conventions, served from a SockJS endpoint (see the
/// [module docs](self)). Cheap to clone: publish from anywhere in the application.
#[derive(Clone)]
pub struct StompBroker {
    inner: Arc<Inner>,
    endpoint: SockJs,
}

impl fmt::Debug for StompBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StompBroker")
            .field("prefix", &self.endpoint.prefix())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: Arc<Config>,
    hub: Hub,
    namespace: String,
    handlers: HashMap<String, Handler>,
    fallback: Option<Handler>,
    authenticator: auth::Authenticator,
    authorizer: Option<auth::Authorizer>,
    registry: Registry,
    fanout: Fanout,
    session_queue: usize,
    next_session: AtomicU64,
    /// The endpoint's `max_message_size`: no `MESSAGE` frame may be larger.
    max_message_size: usize,
}

/// Why a broker could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The STOMP configuration cannot work.
    Config(ConfigError),
    /// The SockJS endpoint could not be built (its configuration or prefix).
    Endpoint(sockjs_hyper::Error),
    /// [`StompBrokerBuilder::session_queue`] is zero.
    ZeroSessionQueue,
    /// A handler path does not start with `/` (the path).
    InvalidRoute(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "STOMP configuration: {e}"),
            BuildError::Endpoint(e) => write!(f, "SockJS endpoint: {e}"),
            BuildError::ZeroSessionQueue => f.write_str("session_queue must be greater than zero"),
            BuildError::InvalidRoute(p) => {
                write!(f, "handler path {p:?} must start with '/'")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Endpoint(e) => Some(e),
            _ => None,
        }
    }
}

/// An endpoint's error as a build error (so that code building brokers and plain endpoints
/// together can use `?` on both).
impl From<sockjs_hyper::Error> for BuildError {
    fn from(e: sockjs_hyper::Error) -> BuildError {
        BuildError::Endpoint(e)
    }
}

/// Why a publication failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The destination is not under a broker prefix (nor a user destination naming one).
    NotBrokerDestination(String),
    /// The user name is empty.
    EmptyUser,
    /// A `MESSAGE` frame carrying it could be larger than the endpoint's `max_message_size`
    /// (`limit`), so no subscriber could be sent it: nothing was published. `size` is that
    /// frame's bound: the body, the headers as if every byte needed escaping, and room for
    /// the broker's own headers.
    TooLarge {
        /// The bound of the frame's size.
        size: usize,
        /// The endpoint's `max_message_size`.
        limit: usize,
    },
    /// The hub refused it: [`HubError::TooLarge`] or [`HubError::InvalidName`] (nothing was
    /// sent), or [`HubError::Cluster`] (this node's subscribers got it, the other nodes did
    /// not).
    Hub(HubError),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::NotBrokerDestination(d) => {
                write!(f, "{d:?} is not a broker or user destination")
            }
            PublishError::EmptyUser => f.write_str("the user name is empty"),
            PublishError::TooLarge { size, limit } => write!(
                f,
                "a MESSAGE frame for it could take {size} bytes, over max_message_size ({limit})"
            ),
            PublishError::Hub(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PublishError {}

/// Why [`StompSession::reply`] could not queue a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// The session's queue is full (counted like a skipped message).
    Full,
    /// The session has ended.
    Closed,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplyError::Full => "the session's queue is full",
            ReplyError::Closed => "the session has ended",
        })
    }
}

impl std::error::Error for ReplyError {}

impl StompBroker {
    /// A builder for a broker whose SockJS endpoint is mounted under `prefix` (what
    /// `registry.addEndpoint(prefix).withSockJS()` names in Spring).
    pub fn builder(prefix: &str) -> StompBrokerBuilder {
        StompBrokerBuilder {
            prefix: prefix.to_owned(),
            config: Config::default(),
            sockjs: sockjs_hyper::Config::default(),
            hub: None,
            policy: LoginPolicy::default(),
            namespace: "stomp".into(),
            handlers: HashMap::new(),
            fallback: None,
            authenticator: Arc::new(|_| Box::pin(async { Ok(None) })),
            authorizer: None,
            session_queue: 1024,
            slow: SlowSubscriber::Skip,
        }
    }

    /// The SockJS endpoint to mount in the server (a hyper `Service`; with
    /// `sockjs-hyper`'s `tower` feature, a tower one for axum).
    pub fn endpoint(&self) -> &SockJs {
        &self.endpoint
    }

    /// The hub the broker publishes through (the endpoint's).
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The STOMP configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// Publishes `message` to `destination`: a broker destination (`/topic/a`, `/queue/b`),
    /// reaching its subscribers on every node, or a user destination naming a user
    /// (`/user/bob/queue/b`, as [`send_to_user`](StompBroker::send_to_user)). What
    /// `SimpMessagingTemplate.convertAndSend` does in Spring. Never waits: the message is
    /// queued to this node's subscribers by this call (one `try_send` per local
    /// subscription, so its cost grows with their number) and handed to the hub for the
    /// other nodes.
    pub fn publish(
        &self,
        destination: &str,
        message: impl Into<Message>,
    ) -> Result<(), PublishError> {
        let key = match self.inner.config.routing.route_send(destination) {
            Route::Broker => Key::Topic(destination.to_owned()),
            Route::User {
                user: Some(user),
                destination,
            } => Key::User { user, destination },
            _ => return Err(PublishError::NotBrokerDestination(destination.to_owned())),
        };
        self.inner.publish_from_anywhere(&key, message.into())
    }

    /// Sends `message` to every session of `user` subscribed to `/user<destination>` (e.g.
    /// `destination` `/queue/private` reaches subscriptions to `/user/queue/private`), on
    /// every node. What `SimpMessagingTemplate.convertAndSendToUser` does. `destination` must
    /// be under a broker prefix.
    pub fn send_to_user(
        &self,
        user: &str,
        destination: &str,
        message: impl Into<Message>,
    ) -> Result<(), PublishError> {
        if user.is_empty() {
            return Err(PublishError::EmptyUser);
        }
        if self.inner.config.routing.route_send(destination) != Route::Broker
            || self.inner.config.routing.user_prefix.is_none()
        {
            return Err(PublishError::NotBrokerDestination(destination.to_owned()));
        }
        let key = Key::User {
            user: user.to_owned(),
            destination: destination.to_owned(),
        };
        self.inner.publish_from_anywhere(&key, message.into())
    }

    /// A snapshot of the broker's statistics on this node.
    pub fn stats(&self) -> BrokerStats {
        let (destinations, subscriptions) = self.inner.registry.counts();
        self.inner
            .fanout
            .counters
            .snapshot(destinations, subscriptions)
    }
}

impl Inner {
    /// Publishes from server code: looks the destination up in the table (a session's
    /// driver uses its own cache instead, see [`registry::Lookup`]).
    fn publish_from_anywhere(&self, key: &Key, message: Message) -> Result<(), PublishError> {
        let local = self.registry.lookup(key);
        self.publish(key, local, message.into_outbound(key.destination()))
    }

    /// Publishes `message` to `key`: queued to this node's subscribers (`local`, the
    /// destination's entry if it has any here) from the calling task, and handed to the hub
    /// for the other nodes when there is a backend.
    fn publish(
        &self,
        key: &Key,
        local: Option<Arc<Destination>>,
        message: OutboundMessage,
    ) -> Result<(), PublishError> {
        // What the hub would refuse is refused before anyone gets it, backend or not.
        if !key.channel_fits(&self.namespace) {
            return Err(PublishError::Hub(HubError::InvalidName));
        }
        if message::encoded_len(&message) > self.hub.config().max_message_size {
            return Err(PublishError::Hub(HubError::TooLarge));
        }
        // No subscriber could be sent a frame over the endpoint's limit. A user destination's
        // frames show the subscribed one, under the user prefix.
        let shown = key.destination().len()
            + match key {
                Key::User { .. } => self
                    .config
                    .routing
                    .user_prefix
                    .as_ref()
                    .map_or(0, String::len),
                Key::Topic(_) => 0,
            };
        let size = message::frame_bound(&message, shown);
        if size > self.max_message_size {
            return Err(PublishError::TooLarge {
                size,
                limit: self.max_message_size,
            });
        }
        add(&self.fanout.counters.published, 1);
        let message = Arc::new(message);
        if let Some(local) = local {
            local.deliver(&message, &self.fanout);
        }
        if !self.hub.has_backend() {
            return Ok(());
        }
        self.hub
            .publish_to_other_nodes(&key.channel(&self.namespace), message::encode(&message))
            .map(|_| ())
            .map_err(PublishError::Hub)
    }
}

/// Builds a [`StompBroker`]: see [`StompBroker::builder`].
pub struct StompBrokerBuilder {
    prefix: String,
    config: Config,
    sockjs: sockjs_hyper::Config,
    hub: Option<Hub>,
    policy: LoginPolicy,
    namespace: String,
    handlers: HashMap<String, Handler>,
    fallback: Option<Handler>,
    authenticator: auth::Authenticator,
    authorizer: Option<auth::Authorizer>,
    session_queue: usize,
    slow: SlowSubscriber,
}

impl fmt::Debug for StompBrokerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StompBrokerBuilder")
            .field("prefix", &self.prefix)
            .field("config", &self.config)
            .field("routes", &self.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl StompBrokerBuilder {
    /// The STOMP configuration: destination prefixes, heart-beats, limits (default
    /// [`Config::default`], Spring's defaults).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The SockJS endpoint's configuration (default [`sockjs_hyper::Config::default`]).
    pub fn sockjs_config(mut self, config: sockjs_hyper::Config) -> Self {
        self.sockjs = config;
        self
    }

    /// The hub to publish through (default: one of the endpoint's own, this process only).
    /// Give a hub with a cluster backend to span nodes, or share one hub with other
    /// endpoints. The broker's sessions take part in the hub's presence and user index, but
    /// not in [`Hub::broadcast`] (its raw text is not a STOMP frame): publish to a topic to
    /// reach every STOMP client.
    pub fn hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// What happens to a user's older or newer sessions when one connects (default
    /// [`LoginPolicy::Allow`]: any number of sessions per user).
    pub fn login_policy(mut self, policy: LoginPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The prefix of the hub channel names of this broker's destinations (default
    /// `"stomp"`). The brokers of a cluster (one per node, on hubs connected by a backend)
    /// share their destinations through it, so they must use the same one. Two brokers on
    /// one hub should use different ones: each delivers its own publications to its own
    /// subscribers, so with the same namespace each would get only the other nodes'
    /// publications of the other.
    pub fn channel_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The authenticator run on every `CONNECT` (see [`ConnectInfo`] and [`AuthResult`]).
    /// While it runs the session's timers keep going ([`Config::connect_timeout`]).
    ///
    /// ```
    /// use sockjs_stomp::broker::{Refusal, StompBroker};
    /// let builder = StompBroker::builder("/ws").authenticator(|info| async move {
    ///     match (info.login(), info.passcode()) {
    ///         (Some(user), Some("secret")) => Ok(Some(user.to_owned())),
    ///         _ => Err(Refusal::new("bad credentials")),
    ///     }
    /// });
    /// ```
    pub fn authenticator<F, Fut>(mut self, authenticator: F) -> Self
    where
        F: Fn(ConnectInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AuthResult> + Send + 'static,
    {
        self.authenticator = Arc::new(move |info| Box::pin(authenticator(info)));
        self
    }

    /// The authorization hook run on every `SUBSCRIBE` and `SEND`; a refusal ends the
    /// session with an `ERROR` frame carrying its message.
    ///
    /// ```
    /// use sockjs_stomp::broker::{Action, Refusal, StompBroker};
    /// let builder = StompBroker::builder("/ws").authorizer(|access| {
    ///     if access.action == Action::Send && access.destination.starts_with("/topic/") {
    ///         return Err(Refusal::new("clients publish through /app"));
    ///     }
    ///     Ok(())
    /// });
    /// ```
    pub fn authorizer<F>(mut self, authorizer: F) -> Self
    where
        F: Fn(&Access<'_>) -> Result<(), Refusal> + Send + Sync + 'static,
    {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }

    /// The handler of `SEND`s to the application destination `path` (the destination
    /// without its application prefix: `"/hello"` handles `/app/hello`), like
    /// `@MessageMapping("/hello")`.
    ///
    /// A session's frames are handled in order, so its next frames wait while its handler
    /// runs (other sessions do not); spawn a task for long work. A handler still running when
    /// its session ends is dropped within a second ([`BrokerStats::handlers_abandoned`]).
    pub fn route<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(AppMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers
            .insert(path.to_owned(), Arc::new(move |m| Box::pin(handler(m))));
        self
    }

    /// The handler of `SEND`s to application destinations no [`route`](Self::route)
    /// matches ([`AppMessage::path`] tells which).
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(AppMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.fallback = Some(Arc::new(move |m| Box::pin(handler(m))));
        self
    }

    /// The bound of each session's queue of messages waiting for its task (default 1024).
    pub fn session_queue(mut self, messages: usize) -> Self {
        self.session_queue = messages;
        self
    }

    /// What to do with a session whose queue is full (default [`SlowSubscriber::Skip`]).
    pub fn slow_subscriber(mut self, policy: SlowSubscriber) -> Self {
        self.slow = policy;
        self
    }

    /// The broker and its endpoint.
    pub fn build(self) -> Result<StompBroker, BuildError> {
        self.config.validate().map_err(BuildError::Config)?;
        if self.session_queue == 0 {
            return Err(BuildError::ZeroSessionQueue);
        }
        if let Some(bad) = self.handlers.keys().find(|p| !p.starts_with('/')) {
            return Err(BuildError::InvalidRoute(bad.clone()));
        }
        let hub = self.hub.unwrap_or_default();
        let inner = Arc::new(Inner {
            config: Arc::new(self.config),
            hub: hub.clone(),
            namespace: self.namespace,
            handlers: self.handlers,
            fallback: self.fallback,
            authenticator: self.authenticator,
            authorizer: self.authorizer,
            registry: Registry::new(),
            fanout: Fanout {
                counters: Arc::new(Counters::default()),
                slow: self.slow,
            },
            session_queue: self.session_queue,
            next_session: AtomicU64::new(0),
            max_message_size: self.sockjs.max_message_size,
        });
        let for_sessions = Arc::clone(&inner);
        let endpoint = SockJs::builder(&self.prefix)
            .config(self.sockjs)
            .hub(hub)
            .login_policy(self.policy)
            // A hub broadcast is raw text, which no STOMP client could parse as a frame.
            .hub_broadcasts(false)
            .build(move |conn| driver::run(Arc::clone(&for_sessions), conn))
            .map_err(BuildError::Endpoint)?;
        Ok(StompBroker { inner, endpoint })
    }
}

/// A `SEND` to an application destination, as its handler gets it (what a
/// `@MessageMapping` method's arguments are in Spring: payload, headers, principal).
#[derive(Debug)]
#[non_exhaustive]
pub struct AppMessage {
    /// The destination as the client wrote it (`/app/hello`).
    pub destination: String,
    /// The destination without the application prefix (`/hello`).
    pub path: String,
    /// The `content-type` header.
    pub content_type: Option<String>,
    /// Every header of the `SEND` frame.
    pub headers: Headers,
    /// The body.
    pub body: String,
    session: StompSession,
}

impl AppMessage {
    /// The sender's user, `None` when anonymous.
    pub fn user(&self) -> Option<&str> {
        self.session.user()
    }

    /// The sending session: a `'static` handle to reply later.
    pub fn session(&self) -> &StompSession {
        &self.session
    }

    /// The broker, to publish to topics or send to users.
    pub fn broker(&self) -> &StompBroker {
        &self.session.broker
    }

    /// Sends `message` to the sender's own subscriptions to `destination` (as it subscribed,
    /// e.g. `/user/queue/reply`), like Spring's `@SendToUser(broadcast = false)`; see
    /// [`StompSession::reply`].
    pub fn reply(&self, destination: &str, message: impl Into<Message>) -> Result<(), ReplyError> {
        self.session.reply(destination, message)
    }
}

/// A handle to one STOMP session, for replies (cheap to clone, `'static`).
#[derive(Clone)]
pub struct StompSession {
    user: Option<Arc<str>>,
    request: Arc<RequestInfo>,
    queue: mpsc::Sender<Item>,
    broker: StompBroker,
}

impl fmt::Debug for StompSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StompSession")
            .field("user", &self.user)
            .field("closed", &self.queue.is_closed())
            .finish_non_exhaustive()
    }
}

impl StompSession {
    /// The session's user, `None` when anonymous.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The HTTP request that opened the SockJS session.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Queues `message` for this session's subscriptions to `destination` (exactly as the
    /// client subscribed: `/user/queue/reply`, `/topic/a`, `/app/init`): one `MESSAGE` per
    /// such subscription, none if it has none. Never waits.
    pub fn reply(&self, destination: &str, message: impl Into<Message>) -> Result<(), ReplyError> {
        let message = Arc::new(message.into().into_outbound(destination));
        let item = Item::Reply {
            destination: destination.to_owned(),
            message,
        };
        self.queue.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                add(&self.broker.inner.fanout.counters.dropped_slow, 1);
                ReplyError::Full
            }
            mpsc::error::TrySendError::Closed(_) => ReplyError::Closed,
        })
    }
}

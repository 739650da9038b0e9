//! A Redis backend for the [`sockjs_hyper`] hub: the same rooms, user sends, kicks,
//! broadcasts, channels, presence and duplicate-login policy, across every server process
//! ("node") connected to one Redis.
//!
//! The application does not change: it calls the hub as in one process
//! ([`Hub::send_to_room`](sockjs_hyper::hub::Hub::send_to_room),
//! [`Hub::kick_user`](sockjs_hyper::hub::Hub::kick_user),
//! [`Connection::login`](sockjs_hyper::Connection::login), ...); only the hub is built with a
//! [`RedisBackend`].
//!
//! ```no_run
//! use std::time::Duration;
//! use sockjs_hyper::hub::{Hub, LoginPolicy};
//! use sockjs_hyper::{Connection, SockJs};
//! use sockjs_redis::{RedisBackend, RedisConfig};
//!
//! async fn chat(mut conn: Connection) {
//!     let Some(name) = conn.recv().await else { return };
//!     if conn.login(&name).await.is_err() || conn.join("lobby").is_err() {
//!         return;
//!     }
//!     while let Some(text) = conn.recv().await {
//!         // Reaches the lobby's members on every node.
//!         if let Err(e) = conn.hub().send_to_room("lobby", &format!("{name}: {text}")) {
//!             tracing::warn!(error = %e, "delivered on this node only");
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut config = RedisConfig::new("redis://127.0.0.1:6379");
//!     config.cluster = "chat".into();
//!     // Fails here, with a typed error, if Redis cannot be reached (see `StartMode`).
//!     let redis = RedisBackend::connect(config).await?;
//!     let hub = Hub::with_backend(redis.clone());
//!     redis.wait_until_up(Duration::from_secs(5)).await;
//!     let endpoint = SockJs::builder("/chat")
//!         .hub(hub)
//!         .login_policy(LoginPolicy::ReplaceOlder) // cluster-wide
//!         .build(chat)?;
//!     // ... serve `endpoint` with hyper or axum; on shutdown:
//!     redis.shutdown().await; // the other nodes drop this node's users at once
//!     # drop(endpoint);
//!     Ok(())
//! }
//! ```
//!
//! # Delivery guarantee
//!
//! **Per sending node, in publication order, at most once, to every node that is connected to
//! Redis (and, for a room or channel, subscribed to it) at the time; while Redis is
//! unreachable, cross-node operations fail visibly — an error to the caller
//! ([`HubError::Cluster`](sockjs_hyper::hub::HubError::Cluster) carrying
//! [`BackendError::Down`](sockjs_hyper::hub::BackendError::Down) or `Full`), a counter, a log
//! line — local delivery keeps working, and nothing is buffered without bound.**
//!
//! How: one connection writes every envelope of a node, in order, in pipelined `PUBLISH`es;
//! Redis pub/sub delivers a connection's publications to each subscriber in that order and
//! never twice; nothing is ever retried (an envelope whose write failed is counted as
//! dropped, and the receivers count the gap through the sequence numbers every envelope
//! carries, see [`HubStats::origins`](sockjs_hyper::hub::HubStats)). A node that is not
//! connected at the time misses the envelope (Redis pub/sub keeps no history).
//!
//! # Bounds (defaults in [`RedisConfig`])
//!
//! | what | bound | when exceeded |
//! |---|---|---|
//! | envelopes accepted, not yet written (the outbox) | [`outbox_capacity`](RedisConfig::outbox_capacity) 10 000 and [`outbox_max_bytes`](RedisConfig::outbox_max_bytes) 32 MiB | `publish` fails at once with `Full` (counted) |
//! | while Redis is unreachable | nothing accepted | `publish` fails at once with `Down` (counted); the outbox's content at the moment of the loss is dropped (counted) |
//! | RefuseNewer claims waiting | [`claim_queue`](RedisConfig::claim_queue) 1024 | the login fails with `Full`; each claim is also bounded by the hub's `claim_timeout` |
//! | presence changes, subscription changes, claim releases not yet written | one entry per user / topic / claim (the latest value wins) | never grows with the rate of changes or the length of an outage |
//! | a node killed without leaving (SIGKILL) | its users leave the others' presence within [`presence_bound`](RedisConfig::presence_bound) = [`liveness_ttl`](RedisConfig::liveness_ttl) + [`refresh_interval`](RedisConfig::refresh_interval) = 20 s (plus a round trip) | — |
//! | a node leaving cleanly ([`RedisBackend::shutdown`]) | at once (one message) | — |
//! | the cluster presence view | fresh within a pub/sub round trip while connected; after [`liveness_ttl`](RedisConfig::liveness_ttl) without Redis, a node forgets the others and rebuilds the view from Redis when it is back | — |
//! | a lost connection noticed | at the next failing command, at most [`refresh_interval`](RedisConfig::refresh_interval) + [`command_timeout`](RedisConfig::command_timeout) when idle | — |
//! | reconnection attempts | every [`reconnect_min`](RedisConfig::reconnect_min) 100 ms doubling to [`reconnect_max`](RedisConfig::reconnect_max) 5 s, ±25 % jitter | forever, until [`RedisBackend::shutdown`] |
//!
//! Incoming messages are handed to the hub as they arrive (the hub never waits on a session);
//! the Redis client's subscription reader queues them meanwhile, and Redis's own
//! `client-output-buffer-limit pubsub` bounds how far a subscriber may fall behind before
//! Redis disconnects it (which this backend then handles as a lost connection).
//!
//! # Failures
//!
//! - **Redis unreachable at start**: [`RedisBackend::connect`] fails with
//!   [`RedisError::Unreachable`] or [`RedisError::Timeout`]
//!   ([`RedisError::is_unreachable`]), unless [`RedisConfig::start`] is
//!   [`StartMode::Degraded`]: the node then starts alone and joins when Redis answers.
//! - **Redis lost while running** (restart, network): the node is down (the hub's
//!   [`BackendStatus::Down`](sockjs_hyper::hub::BackendStatus), `sockjs_redis_up 0`);
//!   cross-node operations fail as above; the backend reconnects with backoff, subscribes
//!   again to every topic, writes its liveness key, its **whole presence** and its claims
//!   again, says hello (every node re-reads its presence), and reads every live node's
//!   presence into the hub. No panic, no restart of the process needed.
//! - **Another node dies** (SIGKILL): its liveness key expires; the first survivor whose
//!   periodic scan notices runs one atomic script that removes the node's presence hash and
//!   claims and publishes `gone`; every node drops it from presence (`Left` events fire for
//!   users who had no session elsewhere).
//! - **This node stalls** longer than the TTL (a paused VM): the others drop it; at its next
//!   refresh it finds its key gone, registers again and says hello.
//!
//! # Duplicate logins across nodes
//!
//! [`LoginPolicy::ReplaceOlder`](sockjs_hyper::hub::LoginPolicy) needs nothing from Redis
//! but the kick envelope (the hub orders logins by their stamps). For
//! [`LoginPolicy::RefuseNewer`](sockjs_hyper::hub::LoginPolicy), each claim is one Lua script
//! run atomically in Redis: it grants the claim unless another node holds it *and that
//! node's liveness key exists* (claims of dead nodes do not count). Of two logins racing on
//! two nodes, exactly one is accepted. After a Redis restart each node takes its claims
//! again; if another node took one meanwhile, the conflict is logged and counted
//! ([`RedisStats::claims_lost`]).
//!
//! # Redis layout
//!
//! `{cluster}` is [`RedisConfig::cluster`] in braces (a Redis Cluster hash tag: every key of
//! one sockjs cluster is in one slot), `<node>` a node id in 16 hex digits.
//!
//! | name | kind | content |
//! |---|---|---|
//! | `sockjs:{cluster}:ctl` | channel | envelopes for every node: user sends, kicks, broadcasts |
//! | `sockjs:{cluster}:room:<room>` | channel | envelopes of a room; a node subscribes while it has members in it |
//! | `sockjs:{cluster}:channel:<channel>` | channel | envelopes of a hub channel; likewise |
//! | `sockjs:{cluster}:membership` | channel | presence changes, hellos, departures (see below) |
//! | `sockjs:{cluster}:nodes` | set | registered node ids |
//! | `sockjs:{cluster}:node:<node>` | string, TTL | liveness key (value: the process instance holding the node id, 16 hex digits, random per process), TTL [`liveness_ttl`](RedisConfig::liveness_ttl), refreshed every [`refresh_interval`](RedisConfig::refresh_interval) |
//! | `sockjs:{cluster}:presence:<node>` | hash | user → number of the node's logged-in sessions |
//! | `sockjs:{cluster}:claims:<node>` | set | the claim keys the node holds |
//! | `sockjs:{cluster}:claim:<len>:<scope>:<user>` | string | RefuseNewer claim on `user` at the endpoint prefix `scope` (`len` = the scope's length in bytes): the holder's node id |
//!
//! Envelopes are in the hub's binary wire format
//! ([`Envelope::encode`](sockjs_hyper::hub::Envelope::encode)). Membership messages are
//! `u8 version = 1, u8 kind (1 presence, 2 hello, 3 gone), u64 node` followed, for presence,
//! by `u64 count` and the user name (UTF-8, to the end), for hello by `u64 instance` (the
//! process instance, as in the liveness key); integers big-endian.
//!
//! # Node ids
//!
//! A node's id is its hub's: random by default, or chosen by the operator with
//! [`HubBuilder::node`](sockjs_hyper::hub::HubBuilder::node) (the conformance server's
//! `--node-id`, the chat example's `NODE_ID`), so that Redis keys, metrics and logs name a
//! process slot rather than a new random id at every start.
//!
//! - **Two live processes never share an id.** Registering takes the id's liveness key with
//!   one atomic script, only when it is absent or already this process's. When another
//!   process instance holds it, the node waits until that key would have expired (at most
//!   [`liveness_ttl`](RedisConfig::liveness_ttl)) and tries once more: the key of a process
//!   that died without leaving has expired by then, while a live process has refreshed its
//!   own, and this node is then **refused**: it stays out of the cluster for good (local
//!   delivery works, cross-node operations fail with `Down`), logs an error, sets
//!   `sockjs_redis_node_id_conflict 1`, and [`RedisBackend::joined`] returns
//!   [`RedisError::NodeIdInUse`] (the conformance server and the chat example exit). A node
//!   whose key is taken over while it runs (it stalled longer than the TTL and a new process
//!   took the id) is refused the same way at its next refresh, and never deletes the new
//!   holder's keys.
//! - **A restart may reuse the id.** A new process numbers its envelopes from the start
//!   again. Its hello (and its liveness key) carry its process instance; a node that knew the
//!   id under another instance calls
//!   [`Inbox::node_restarted`](sockjs_hyper::hub::Inbox::node_restarted) before handling
//!   anything the new process sent, so nothing it sends is dropped as a duplicate
//!   (`sockjs_redis_nodes_restarted_total` counts these). The new process takes over the
//!   old one's leftovers: it rewrites the presence hash and releases the old claims when it
//!   registers, so the old process's users leave presence at once.
//! - A process restarted after a **clean** stop (SIGTERM: [`RedisBackend::shutdown`]) takes its
//!   id at once; after a **crash** (SIGKILL), once the old liveness key expires (up to
//!   [`liveness_ttl`](RedisConfig::liveness_ttl), 15 s by default).
//!
//! # Metrics
//!
//! [`RedisBackend::stats`] → [`RedisStats::to_prometheus`] (`sockjs_redis_*`: published,
//! refused while down or full, dropped, received, reconnects, outbox depth and bound, peers,
//! claims), next to the hub's own
//! ([`HubStats::to_prometheus`](sockjs_hyper::hub::HubStats::to_prometheus):
//! cross-node traffic, gaps and duplicates per origin node) and the endpoint's
//! ([`Stats::to_prometheus`](sockjs_hyper::Stats::to_prometheus)).
//!
//! # Why the `redis` crate (redis-rs), not `fred`
//!
//! Both are async Redis clients for tokio that speak pub/sub and Lua; we compared redis 1.8
//! and fred 10.1 on what this backend needs:
//!
//! - **Maintenance**: redis-rs is the project of the `redis-rs` organisation with many
//!   contributors and frequent releases (1.8.0 and 1.8.1 a week apart); fred is the work of
//!   one maintainer.
//! - **Behaviour when Redis is down** (the deciding point): with redis-rs, a command on a
//!   broken multiplexed connection fails at once, and one on a frozen server fails after the
//!   response timeout we set; nothing is queued or retried behind our back, so `publish` can
//!   promise "never blocks, fails visibly, at most once". fred's defaults are the opposite for
//!   this use: commands issued while it reconnects are queued in memory
//!   (`max_command_buffer_len` 0 = unbounded), wait without a timeout
//!   (`default_command_timeout` 0), and a command in flight when a connection drops is sent
//!   again (`max_command_attempts` 3), which could deliver a message twice. All configurable,
//!   but each default would have to be fought.
//! - **Pub/sub with resubscription after a reconnect, reconnect/backoff control**: fred has
//!   both built in (`SubscriberClient::manage_subscriptions`, `ReconnectPolicy`); redis-rs's
//!   `ConnectionManager` has exponential backoff and (RESP3) automatic resubscription. We use
//!   neither: after a reconnect this backend must do more than resubscribe (write its presence
//!   and claims again, re-read everyone's, tell the hub) in a known order, so it owns the
//!   reconnect loop (its own backoff with jitter) over plain redis-rs connections — a
//!   multiplexed connection for commands and a dedicated `PubSub` connection.
//! - **Lua**: both (`redis::Script` sends `EVALSHA` and loads the script again after a
//!   restart).
//! - **Weight**: with the features used here (redis: `tokio-comp`, `script`, no defaults;
//!   fred: pub/sub, scripts, keys, hashes, sets, no defaults) redis pulls about 60 crates,
//!   fred about 80.
//!
//! # Testing against a real Redis
//!
//! [`testing::RedisServer`] starts a `redis-server` (the Debian package) on a free loopback
//! port in a temporary directory, and stops, pauses, resumes and restarts it: what this
//! crate's own tests use, for yours.
#![deny(missing_docs)]

mod backend;
mod config;
mod error;
mod keys;
mod scripts;
mod stats;
mod task;
pub mod testing;
mod wire;

pub use backend::RedisBackend;
pub use config::{ConfigError, RedisConfig, StartMode};
pub use error::RedisError;
pub use stats::RedisStats;

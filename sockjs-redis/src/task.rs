//! The backend's task: one per node. It owns the connections to Redis and runs, for each
//! connection it establishes (a *generation*):
//!
//! 1. **setup** — subscribe to the control and membership channels and to every topic the
//!    hub wants; register the node (liveness key, whole presence hash, claims), say hello;
//!    read every live node's presence and hand it to the hub; then the node is *up*;
//! 2. **writer** and **reader**, concurrently, until either fails:
//!    - the writer drains the outbox (pipelined `PUBLISH`es, in order), writes presence
//!      changes, releases and takes claims, and refreshes the liveness key;
//!    - the reader hands incoming envelopes and membership messages to the hub, keeps the
//!      subscriptions in line with what the hub wants, and scans for dead nodes.
//!
//! When a generation fails (Redis restarted, a command timed out, a connection closed), the
//! node is *down*: what the outbox held is dropped and counted, pending claims fail, and the
//! task reconnects with exponential backoff; after [`RedisConfig::liveness_ttl`] without
//! Redis it forgets the other nodes' presence. A new generation starts again at 1, which
//! re-publishes everything this node has.
//!
//! [`RedisConfig::liveness_ttl`]: crate::RedisConfig::liveness_ttl

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client};
use sockjs_hyper::hub::{BackendError, Envelope, Inbox, NodeId, Topic};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::backend::{lock, ClaimKey, ClaimRequest, LinkState, Outgoing, Shared, TaskParts};
use crate::config::RedisConfig;
use crate::scripts::{CLAIM, HEARTBEAT, LEAVE, REAP, REGISTER, RELEASE};
use crate::stats::add;
use crate::wire::Membership;

/// Envelopes per pipelined write, at most.
const BATCH_ENVELOPES: usize = 512;
/// Bytes per pipelined write, about (a larger envelope goes alone).
const BATCH_BYTES: usize = 1024 * 1024;
/// Hash fields or channels per command when writing or subscribing many at once.
const CHUNK: usize = 1000;

/// The two connections of a generation.
pub(crate) struct Link {
    cmd: MultiplexedConnection,
    sink: PubSubSink,
    stream: PubSubStream,
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    Timeout,
    Redis(redis::RedisError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Timeout => f.write_str("no answer in time"),
            OpenError::Redis(e) => e.fmt(f),
        }
    }
}

impl Link {
    /// Open both connections and check that Redis answers, within the connect timeout.
    pub(crate) async fn open(client: &Client, config: &RedisConfig) -> Result<Link, OpenError> {
        let open = async {
            let cfg = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.command_timeout));
            let mut cmd = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            redis::cmd("PING").query_async::<()>(&mut cmd).await?;
            let (sink, stream) = client.get_async_pubsub().await?.split();
            Ok(Link { cmd, sink, stream })
        };
        match tokio::time::timeout(config.connect_timeout, open).await {
            Ok(r) => r.map_err(OpenError::Redis),
            Err(_) => Err(OpenError::Timeout),
        }
    }
}

/// Why a generation ended.
#[derive(Debug)]
enum LinkError {
    Redis(redis::RedisError),
    Timeout,
    Closed,
    /// The hub was dropped: nothing is left to serve.
    HubGone,
    /// Another live process holds this node's id: refused for good.
    NodeIdInUse,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Redis(e) => e.fmt(f),
            LinkError::Timeout => f.write_str("Redis did not answer in time"),
            LinkError::Closed => f.write_str("the subscription connection closed"),
            LinkError::HubGone => f.write_str("the hub is gone"),
            LinkError::NodeIdInUse => f.write_str("another live process holds this node's id"),
        }
    }
}

impl From<redis::RedisError> for LinkError {
    fn from(e: redis::RedisError) -> Self {
        LinkError::Redis(e)
    }
}

/// Run `f` bounded by the command timeout.
async fn timed<T>(
    ctx: &Ctx,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(ctx.shared.config.command_timeout, f).await {
        Ok(r) => r.map_err(LinkError::Redis),
        Err(_) => Err(LinkError::Timeout),
    }
}

/// What every step needs.
struct Ctx {
    shared: Arc<Shared>,
    inbox: Inbox,
    me: NodeId,
    me_str: String,
    /// This process's instance, as its liveness key holds it.
    instance: String,
}

/// The other nodes this node has in its presence view, with their process instance when
/// known (from their liveness key or their hello).
#[derive(Default)]
struct Peers(HashMap<NodeId, Option<u64>>);

impl Peers {
    fn insert(&mut self, ctx: &Ctx, node: NodeId) -> bool {
        let new = !self.0.contains_key(&node);
        if new {
            self.0.insert(node, None);
        }
        ctx.shared
            .counters
            .peers
            .store(self.0.len(), Ordering::Relaxed);
        new
    }

    fn contains(&self, node: NodeId) -> bool {
        self.0.contains_key(&node)
    }

    /// `node` runs as process `instance`. When it ran as another one before, the node id was
    /// reused by a new process (a restart): the hub forgets the old process's sequence
    /// numbers, so the new one's, counted from the start again, are not taken for duplicates.
    /// Returns whether it was a restart.
    fn instance(&mut self, ctx: &Ctx, node: NodeId, instance: u64) -> bool {
        let before = self.0.insert(node, Some(instance));
        ctx.shared
            .counters
            .peers
            .store(self.0.len(), Ordering::Relaxed);
        let restarted = matches!(before, Some(Some(old)) if old != instance);
        if restarted {
            tracing::info!(node = %node, "node restarted (a new process with the same node id)");
            ctx.inbox.node_restarted(node);
            add(&ctx.shared.counters.nodes_restarted, 1);
        }
        restarted
    }

    /// Drop `node` from the view (its users leave presence on this node).
    fn gone(&mut self, ctx: &Ctx, node: NodeId) {
        if self.0.remove(&node).is_some() {
            tracing::info!(node = %node, "node left the cluster; its users leave presence");
            ctx.inbox.node_gone(node);
            add(&ctx.shared.counters.nodes_gone, 1);
        }
        ctx.shared
            .counters
            .peers
            .store(self.0.len(), Ordering::Relaxed);
    }
}

/// The task's main loop (see the module docs).
pub(crate) async fn run(
    shared: Arc<Shared>,
    inbox: Inbox,
    parts: TaskParts,
    mut stop: watch::Receiver<bool>,
) {
    let me = inbox.node();
    let ctx = Ctx {
        instance: format!("{:016x}", shared.instance),
        shared,
        inbox,
        me,
        me_str: me.to_string(),
    };
    let TaskParts {
        mut outbox,
        mut claims,
        mut first,
    } = parts;
    let mut peers = Peers::default();
    let mut attempt: u32 = 0;
    let mut ever_up = false;
    let mut lost_at: Option<Instant> = None;
    loop {
        let link = match first.take() {
            Some(link) => Ok(link),
            None => tokio::select! {
                r = Link::open(&ctx.shared.client, &ctx.shared.config) => r,
                _ = stopped(&mut stop) => break,
            },
        };
        match link {
            Ok(link) => {
                ctx.shared.accepting.store(true, Ordering::Release);
                if ctx.shared.state.borrow().eq(&LinkState::Down) {
                    ctx.shared.set_state(LinkState::Starting);
                }
                let mut cmd = link.cmd.clone();
                let mut up = false;
                let ended = tokio::select! {
                    e = generation(&ctx, link, &mut peers, &mut outbox, &mut claims, &mut up, ever_up) => Some(e),
                    _ = stopped(&mut stop) => None,
                };
                ever_up |= up;
                let error = match ended {
                    None | Some(LinkError::HubGone) => {
                        leave(&ctx, &mut cmd, &mut outbox, up).await;
                        break;
                    }
                    Some(LinkError::NodeIdInUse) => {
                        // Not ours to clean up: the keys belong to the live holder of the id.
                        ctx.shared.refused.store(true, Ordering::Release);
                        ctx.shared.accepting.store(false, Ordering::Release);
                        ctx.shared.set_state(LinkState::Refused);
                        fail_queued(&ctx, &mut outbox, &mut claims);
                        for node in peers.0.keys().copied().collect::<Vec<_>>() {
                            peers.gone(&ctx, node);
                        }
                        return;
                    }
                    Some(error) => error,
                };
                ctx.shared.accepting.store(false, Ordering::Release);
                ctx.shared.set_state(LinkState::Down);
                tracing::warn!(url = %ctx.shared.url, error = %error, "lost Redis: local delivery goes on, cross-node operations fail until it is back");
                fail_queued(&ctx, &mut outbox, &mut claims);
                if up {
                    attempt = 0;
                    lost_at = Some(Instant::now());
                }
            }
            Err(e) => {
                add(&ctx.shared.counters.connect_failures, 1);
                ctx.shared.accepting.store(false, Ordering::Release);
                ctx.shared.set_state(LinkState::Down);
                if attempt == 0 {
                    tracing::warn!(url = %ctx.shared.url, error = %e, "cannot reach Redis; retrying with backoff");
                } else {
                    tracing::debug!(url = %ctx.shared.url, error = %e, attempt, "cannot reach Redis");
                }
                fail_queued(&ctx, &mut outbox, &mut claims);
            }
        }
        // Away for longer than a liveness TTL: the other nodes have dropped this one; drop
        // them too (their presence is rebuilt from Redis when it is back).
        if lost_at.is_some_and(|t| t.elapsed() >= ctx.shared.config.liveness_ttl) {
            for node in peers.0.keys().copied().collect::<Vec<_>>() {
                peers.gone(&ctx, node);
            }
        }
        if ctx.inbox.is_closed() {
            break;
        }
        let delay = backoff(&ctx.shared.config, attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => break,
        }
    }
    ctx.shared.accepting.store(false, Ordering::Release);
    fail_queued(&ctx, &mut outbox, &mut claims);
    ctx.shared.set_state(LinkState::Stopped);
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means every sender is gone: stop too.
    let _ = stop.wait_for(|s| *s).await;
}

/// The delay before connection attempt `attempt` (0-based): `reconnect_min * 2^attempt`, at
/// most `reconnect_max`, with ±25 % jitter so that nodes losing Redis together do not
/// reconnect in lockstep.
pub(crate) fn backoff(config: &RedisConfig, attempt: u32) -> Duration {
    let base = config
        .reconnect_min
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(config.reconnect_max);
    base.mul_f64(rand::random_range(0.75..=1.25))
}

/// Drop what the outbox holds (counted) and fail the waiting claims.
fn fail_queued(
    ctx: &Ctx,
    outbox: &mut mpsc::Receiver<Outgoing>,
    claims: &mut mpsc::Receiver<ClaimRequest>,
) {
    let mut dropped = 0u64;
    while let Ok(item) = outbox.try_recv() {
        ctx.shared
            .counters
            .outbox_bytes
            .fetch_sub(item.cost(), Ordering::AcqRel);
        dropped += 1;
    }
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "envelopes in the outbox dropped: Redis was lost before they were written"
        );
        add(&ctx.shared.counters.dropped, dropped);
    }
    while let Ok(req) = claims.try_recv() {
        let _ = req.reply.send(Err(BackendError::Down));
    }
}

/// One generation: setup, then writer and reader until one fails.
async fn generation(
    ctx: &Ctx,
    link: Link,
    peers: &mut Peers,
    outbox: &mut mpsc::Receiver<Outgoing>,
    claims: &mut mpsc::Receiver<ClaimRequest>,
    up: &mut bool,
    reconnect: bool,
) -> LinkError {
    let Link {
        mut cmd,
        mut sink,
        stream,
    } = link;
    let setup = async {
        let actual = subscribe_all(ctx, &mut sink).await?;
        register(ctx, &mut cmd).await?;
        scan(ctx, &mut cmd, peers, true).await?;
        Ok::<_, LinkError>(actual)
    };
    let actual = match setup.await {
        Ok(actual) => actual,
        Err(e) => return e,
    };
    *up = true;
    if reconnect {
        add(&ctx.shared.counters.reconnects, 1);
    }
    ctx.shared.set_state(LinkState::Up);
    if reconnect {
        tracing::info!(url = %ctx.shared.url, node = %ctx.me, peers = peers.0.len(), "Redis is back: node registered again, presence re-published");
    } else {
        tracing::info!(url = %ctx.shared.url, node = %ctx.me, cluster = %ctx.shared.config.cluster, peers = peers.0.len(), "joined the cluster");
    }
    let mut reader_cmd = cmd.clone();
    let r = tokio::select! {
        r = writer(ctx, &mut cmd, outbox, claims) => r,
        r = reader(ctx, &mut reader_cmd, sink, stream, actual, peers) => r,
    };
    match r {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Subscribe to the control and membership channels and every wanted topic; returns the
/// topics subscribed.
async fn subscribe_all(ctx: &Ctx, sink: &mut PubSubSink) -> Result<HashSet<Topic>, LinkError> {
    let desired: HashSet<Topic> = {
        let mut p = lock(&ctx.shared.pending);
        p.sub_changes.clear();
        p.desired.clone()
    };
    let keys = &ctx.shared.keys;
    timed(
        ctx,
        sink.subscribe(&[keys.control_channel(), keys.membership_channel()]),
    )
    .await?;
    let channels: Vec<String> = desired.iter().map(|t| keys.topic_channel(t)).collect();
    for chunk in channels.chunks(CHUNK) {
        timed(ctx, sink.subscribe(chunk)).await?;
    }
    Ok(desired)
}

/// Register this node: liveness key, whole presence hash (from the hub), membership in the
/// nodes set, claims reconciled with what the hub holds, then a hello so every node reads
/// the presence hash.
async fn register(ctx: &Ctx, cmd: &mut MultiplexedConnection) -> Result<(), LinkError> {
    let keys = &ctx.shared.keys;
    take_node_key(ctx, cmd).await?;
    // What the hub has now supersedes the changes not yet written.
    lock(&ctx.shared.pending).presence.clear();
    let local = ctx.inbox.local_presence();
    let presence_key = keys.presence(ctx.me);
    let mut tx = redis::pipe();
    tx.atomic();
    tx.cmd("DEL").arg(&presence_key).ignore();
    for chunk in local.chunks(CHUNK) {
        let mut hset = redis::cmd("HSET");
        hset.arg(&presence_key);
        for (user, count) in chunk {
            hset.arg(&**user).arg(*count);
        }
        tx.add_command(hset).ignore();
    }
    timed(ctx, tx.query_async::<()>(cmd)).await?;

    // Claims: release what Redis says this node holds but the hub no longer does; take
    // again what the hub holds (Redis may have restarted empty).
    // The hub's list of claims it holds is the truth; ours also has the ones granted whose
    // login is finishing right now.
    let hub_claims = ctx.inbox.claims();
    let (held, releases) = {
        let mut p = lock(&ctx.shared.pending);
        p.held.extend(hub_claims);
        (p.held.clone(), std::mem::take(&mut p.releases))
    };
    let held_keys: HashMap<String, ClaimKey> = held
        .iter()
        .map(|k| (keys.claim(&k.0, &k.1), k.clone()))
        .collect();
    let in_redis: Vec<String> = timed(
        ctx,
        redis::cmd("SMEMBERS")
            .arg(keys.claims(ctx.me))
            .query_async(cmd),
    )
    .await?;
    let stale = in_redis
        .iter()
        .filter(|k| !held_keys.contains_key(*k))
        .cloned()
        .chain(releases.iter().map(|k| keys.claim(&k.0, &k.1)));
    for key in stale {
        release(ctx, cmd, &key).await?;
    }
    for (key, claim) in &held_keys {
        if !take_claim(ctx, cmd, key).await? {
            add(&ctx.shared.counters.claims_lost, 1);
            lock(&ctx.shared.pending).held.remove(claim);
            tracing::warn!(scope = %claim.0, user = %claim.1, "a RefuseNewer claim of this node was taken by another node while Redis was away: the user may have two sessions");
        }
    }
    let hello = Membership::Hello {
        node: ctx.me,
        instance: ctx.shared.instance,
    }
    .encode();
    timed(
        ctx,
        redis::cmd("PUBLISH")
            .arg(keys.membership_channel())
            .arg(hello)
            .query_async::<()>(cmd),
    )
    .await?;
    Ok(())
}

/// Take this node's liveness key for this process (`scripts::REGISTER`). When another process
/// instance holds it, this node cannot tell at once a live holder from a process that died
/// without leaving (SIGKILL, then a restart reusing the id): it waits until that key would
/// have expired (at most this node's liveness TTL) and tries once more. A dead holder's key
/// has expired by then and this process takes the id; a live holder has refreshed it, and this
/// node is refused ([`LinkError::NodeIdInUse`]): two live processes must never share an id.
async fn take_node_key(ctx: &Ctx, cmd: &mut MultiplexedConnection) -> Result<(), LinkError> {
    let keys = &ctx.shared.keys;
    let config = &ctx.shared.config;
    let mut waited = false;
    loop {
        let mut invocation = REGISTER.key(keys.node(ctx.me));
        invocation
            .key(keys.nodes())
            .arg(&ctx.instance)
            .arg(ttl_ms(config))
            .arg(&ctx.me_str);
        let (granted, holder, pttl): (i64, String, i64) =
            timed(ctx, invocation.invoke_async(cmd)).await?;
        if granted == 1 {
            if waited {
                tracing::info!(node = %ctx.me, "the previous process's liveness key expired: this process now has the node id");
            }
            return Ok(());
        }
        if waited || pttl < 0 {
            tracing::error!(node = %ctx.me, holder = %holder, cluster = %config.cluster, "node id in use by another live process: this node is refused and stays out of the cluster; give every process its own node id");
            return Err(LinkError::NodeIdInUse);
        }
        let wait = Duration::from_millis(u64::try_from(pttl).unwrap_or(0)).min(config.liveness_ttl)
            + Duration::from_millis(50);
        tracing::warn!(node = %ctx.me, holder = %holder, wait_ms = wait.as_millis() as u64, "node id held by another process instance: waiting for its liveness key to expire (a process that died without leaving) or to be refreshed (a live one: this node is then refused)");
        tokio::time::sleep(wait).await;
        waited = true;
    }
}

fn ttl_ms(config: &RedisConfig) -> u64 {
    u64::try_from(config.liveness_ttl.as_millis()).unwrap_or(u64::MAX)
}

async fn take_claim(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    key: &str,
) -> Result<bool, LinkError> {
    let keys = &ctx.shared.keys;
    let mut invocation = CLAIM.key(key);
    invocation
        .key(keys.claims(ctx.me))
        .arg(&ctx.me_str)
        .arg(keys.node_prefix());
    let granted: i64 = timed(ctx, invocation.invoke_async(cmd)).await?;
    Ok(granted == 1)
}

async fn release(ctx: &Ctx, cmd: &mut MultiplexedConnection, key: &str) -> Result<(), LinkError> {
    let mut invocation = RELEASE.key(key);
    invocation
        .key(ctx.shared.keys.claims(ctx.me))
        .arg(&ctx.me_str);
    timed(ctx, invocation.invoke_async::<()>(cmd)).await
}

/// A timer ticking every `period`, first after one period; late ticks are not bunched up.
fn every(period: Duration) -> tokio::time::Interval {
    let mut timer = tokio::time::interval_at(Instant::now() + period, period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

/// Run the reap script on `node` (see `scripts::REAP`); whether it was reaped (`false`: its
/// liveness key exists).
async fn reap(ctx: &Ctx, cmd: &mut MultiplexedConnection, node: NodeId) -> Result<bool, LinkError> {
    let keys = &ctx.shared.keys;
    let gone = Membership::Gone { node }.encode();
    let mut invocation = REAP.key(keys.node(node));
    invocation
        .key(keys.presence(node))
        .key(keys.claims(node))
        .key(keys.nodes())
        .arg(node.to_string())
        .arg(keys.membership_channel())
        .arg(gone);
    let reaped: i64 = timed(ctx, invocation.invoke_async(cmd)).await?;
    Ok(reaped == 1)
}

/// The writer half of a generation; returns only on failure.
async fn writer(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    outbox: &mut mpsc::Receiver<Outgoing>,
    claims: &mut mpsc::Receiver<ClaimRequest>,
) -> Result<Infallible, LinkError> {
    let config = &ctx.shared.config;
    let mut heartbeat = every(config.refresh_interval);
    loop {
        tokio::select! {
            biased;
            _ = ctx.shared.reregister.notified() => {
                tracing::warn!(node = %ctx.me, "this node was given up for dead by the cluster; registering again");
                register(ctx, cmd).await?;
            }
            _ = ctx.shared.wake_writer.notified() => flush_pending(ctx, cmd).await?,
            Some(req) = claims.recv() => claim(ctx, cmd, req).await?,
            Some(first) = outbox.recv() => publish_batch(ctx, cmd, outbox, first).await?,
            _ = heartbeat.tick() => {
                if ctx.inbox.is_closed() {
                    return Err(LinkError::HubGone);
                }
                let mut invocation = HEARTBEAT.key(ctx.shared.keys.node(ctx.me));
                invocation
                    .key(ctx.shared.keys.nodes())
                    .arg(&ctx.instance)
                    .arg(ttl_ms(config))
                    .arg(&ctx.me_str);
                let alive: i64 = timed(ctx, invocation.invoke_async(cmd)).await?;
                if alive < 0 {
                    tracing::error!(node = %ctx.me, "another process took this node's id (this one was given up for dead): leaving the cluster; local delivery goes on");
                    return Err(LinkError::NodeIdInUse);
                }
                if alive != 1 {
                    tracing::warn!(node = %ctx.me, "this node's liveness key had expired; registering again");
                    register(ctx, cmd).await?;
                }
            }
        }
    }
}

/// Write `first` and whatever else the outbox holds, up to a batch, in one pipeline (in
/// order: one connection, one pipeline, Redis runs them in sequence).
async fn publish_batch(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    outbox: &mut mpsc::Receiver<Outgoing>,
    first: Outgoing,
) -> Result<(), LinkError> {
    let mut pipe = redis::pipe();
    let mut n = 0usize;
    let mut bytes = 0usize;
    let mut next = Some(first);
    while let Some(item) = next.take() {
        bytes += item.cost();
        n += 1;
        pipe.cmd("PUBLISH")
            .arg(item.channel)
            .arg(&item.payload[..])
            .ignore();
        if n < BATCH_ENVELOPES && bytes < BATCH_BYTES {
            next = outbox.try_recv().ok();
        }
    }
    ctx.shared
        .counters
        .outbox_bytes
        .fetch_sub(bytes, Ordering::AcqRel);
    let n = n as u64;
    match timed(ctx, pipe.query_async::<()>(cmd)).await {
        Ok(()) => {
            add(&ctx.shared.counters.published, n);
            Ok(())
        }
        Err(e) => {
            // Perhaps written, perhaps not: never retried (at most once); receivers see gaps.
            add(&ctx.shared.counters.dropped, n);
            Err(e)
        }
    }
}

/// Write the presence changes and releases the hub made since the last time.
async fn flush_pending(ctx: &Ctx, cmd: &mut MultiplexedConnection) -> Result<(), LinkError> {
    flush_releases(ctx, cmd).await?;
    let presence: Vec<(Arc<str>, usize)> = std::mem::take(&mut lock(&ctx.shared.pending).presence)
        .into_iter()
        .collect();
    if presence.is_empty() {
        return Ok(());
    }
    let keys = &ctx.shared.keys;
    let hash = keys.presence(ctx.me);
    let channel = keys.membership_channel();
    for chunk in presence.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (user, count) in chunk {
            if *count == 0 {
                pipe.cmd("HDEL").arg(&hash).arg(&**user).ignore();
            } else {
                pipe.cmd("HSET")
                    .arg(&hash)
                    .arg(&**user)
                    .arg(*count)
                    .ignore();
            }
            let message = Membership::Presence {
                node: ctx.me,
                user: user.to_string(),
                count: *count as u64,
            };
            pipe.cmd("PUBLISH")
                .arg(&channel)
                .arg(message.encode())
                .ignore();
        }
        // A failure loses these changes here; the next generation writes the whole presence
        // again from the hub.
        timed(ctx, pipe.query_async::<()>(cmd)).await?;
    }
    Ok(())
}

async fn flush_releases(ctx: &Ctx, cmd: &mut MultiplexedConnection) -> Result<(), LinkError> {
    let releases = std::mem::take(&mut lock(&ctx.shared.pending).releases);
    for (scope, user) in releases {
        // A failure leaves the claim in Redis; the next generation's registration releases
        // every claim the hub no longer holds.
        release(ctx, cmd, &ctx.shared.keys.claim(&scope, &user)).await?;
    }
    Ok(())
}

/// A RefuseNewer claim, after the releases queued before it (a release and a later claim of
/// the same user must reach Redis in that order).
async fn claim(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    req: ClaimRequest,
) -> Result<(), LinkError> {
    if req.reply.is_closed() {
        return Ok(()); // the login gave up waiting
    }
    flush_releases(ctx, cmd).await?;
    let claim = (Arc::clone(&req.claim.scope), Arc::clone(&req.claim.user));
    let key = ctx.shared.keys.claim(&claim.0, &claim.1);
    let granted = match take_claim(ctx, cmd, &key).await {
        Ok(granted) => granted,
        Err(e) => {
            let _ = req.reply.send(Err(BackendError::Down));
            return Err(e);
        }
    };
    if !granted {
        add(&ctx.shared.counters.claims_refused, 1);
        let _ = req.reply.send(Ok(false));
        return Ok(());
    }
    add(&ctx.shared.counters.claims_granted, 1);
    // Held before the hub hears of it, so that a release right after the login finds it.
    lock(&ctx.shared.pending).held.insert(claim.clone());
    if req.reply.send(Ok(true)).is_err() {
        // Nobody is waiting for it any more: give it back.
        lock(&ctx.shared.pending).held.remove(&claim);
        release(ctx, cmd, &key).await?;
    }
    Ok(())
}

/// The reader half of a generation; returns only on failure.
async fn reader(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    mut actual: HashSet<Topic>,
    peers: &mut Peers,
) -> Result<Infallible, LinkError> {
    let config = &ctx.shared.config;
    let mut scan_timer = every(config.refresh_interval);
    let membership = ctx.shared.keys.membership_channel();
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return Err(LinkError::Closed) };
                if msg.get_channel_name() == membership {
                    on_membership(ctx, cmd, msg.get_payload_bytes(), peers).await?;
                } else {
                    on_envelope(ctx, msg.get_payload_bytes());
                }
            }
            _ = ctx.shared.wake_reader.notified() => {
                reconcile(ctx, &mut sink, &mut actual).await?;
            }
            _ = scan_timer.tick() => scan(ctx, cmd, peers, false).await?,
        }
    }
}

fn on_envelope(ctx: &Ctx, payload: &[u8]) {
    match Envelope::decode(payload) {
        Ok(envelope) if envelope.origin == ctx.me => {}
        Ok(envelope) => {
            add(&ctx.shared.counters.received, 1);
            ctx.inbox.deliver(envelope);
        }
        Err(e) => {
            add(&ctx.shared.counters.malformed, 1);
            tracing::debug!(error = %e, "undecodable message on a cluster channel ignored");
        }
    }
}

async fn on_membership(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    payload: &[u8],
    peers: &mut Peers,
) -> Result<(), LinkError> {
    let Ok(message) = Membership::decode(payload) else {
        add(&ctx.shared.counters.malformed, 1);
        tracing::debug!("undecodable membership message ignored");
        return Ok(());
    };
    match message {
        Membership::Presence { node, user, count } if node != ctx.me => {
            if peers.insert(ctx, node) {
                // A node this one has not read yet: all of its presence first.
                tracing::debug!(node = %node, "presence from a node not seen yet");
                fetch_presence(ctx, cmd, node).await?;
            }
            ctx.inbox
                .remote_presence(node, &user, usize::try_from(count).unwrap_or(usize::MAX));
        }
        Membership::Hello { node, instance } if node != ctx.me => {
            // Before anything this process published after its hello is handled.
            let new = !peers.contains(node);
            peers.instance(ctx, node, instance);
            fetch_presence(ctx, cmd, node).await?;
            if new {
                tracing::info!(node = %node, "node joined the cluster");
            }
        }
        Membership::Gone { node } if node == ctx.me => {
            // Reaped while alive (stalled for longer than the TTL): come back.
            ctx.shared.reregister.notify_one();
        }
        Membership::Gone { node } => peers.gone(ctx, node),
        _ => {} // our own presence and hello
    }
    Ok(())
}

/// Read `node`'s presence hash and give it to the hub as that node's whole presence.
async fn fetch_presence(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    node: NodeId,
) -> Result<(), LinkError> {
    let entries: Vec<(String, String)> = timed(
        ctx,
        redis::cmd("HGETALL")
            .arg(ctx.shared.keys.presence(node))
            .query_async(cmd),
    )
    .await?;
    let counts = entries
        .into_iter()
        .filter_map(|(user, n)| n.parse::<usize>().ok().map(|n| (user, n)));
    ctx.inbox.replace_node_presence(node, counts);
    Ok(())
}

/// Look at every registered node: reap the ones whose liveness key is gone (and drop them
/// from this node's view), read the presence of live ones this node does not know yet (all
/// of them with `full`, after a reconnect), forget nodes no longer registered.
async fn scan(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    peers: &mut Peers,
    full: bool,
) -> Result<(), LinkError> {
    let keys = &ctx.shared.keys;
    let members: Vec<String> = timed(
        ctx,
        redis::cmd("SMEMBERS").arg(keys.nodes()).query_async(cmd),
    )
    .await?;
    let others: Vec<NodeId> = members
        .iter()
        .filter_map(|m| m.parse::<NodeId>().ok())
        .filter(|n| *n != ctx.me)
        .collect();
    let mut pipe = redis::pipe();
    for node in &others {
        pipe.cmd("GET").arg(keys.node(*node));
    }
    let holders: Vec<Option<String>> = if others.is_empty() {
        Vec::new()
    } else {
        timed(ctx, pipe.query_async(cmd)).await?
    };
    let mut live = HashSet::new();
    for (node, holder) in others.into_iter().zip(holders) {
        // Not reaped: it registered again in between.
        let alive = holder.is_some() || !reap(ctx, cmd, node).await?;
        if !alive {
            tracing::info!(node = %node, "reaped a node whose liveness key expired");
            continue;
        }
        live.insert(node);
        let known = peers.contains(node);
        let instance = holder.and_then(|h| u64::from_str_radix(&h, 16).ok());
        let restarted = match instance {
            Some(i) => peers.instance(ctx, node, i),
            None => {
                peers.insert(ctx, node);
                false
            }
        };
        if full || !known || restarted {
            fetch_presence(ctx, cmd, node).await?;
        }
    }
    let known: Vec<NodeId> = peers.0.keys().copied().collect();
    for node in known {
        if !live.contains(&node) {
            peers.gone(ctx, node);
        }
    }
    Ok(())
}

/// Bring the subscriptions in line with what the hub wants now.
async fn reconcile(
    ctx: &Ctx,
    sink: &mut PubSubSink,
    actual: &mut HashSet<Topic>,
) -> Result<(), LinkError> {
    let changes = std::mem::take(&mut lock(&ctx.shared.pending).sub_changes);
    let (mut add_topics, mut remove_topics) = (Vec::new(), Vec::new());
    for (topic, wanted) in changes {
        if wanted && !actual.contains(&topic) {
            add_topics.push(topic);
        } else if !wanted && actual.contains(&topic) {
            remove_topics.push(topic);
        }
    }
    let keys = &ctx.shared.keys;
    for chunk in add_topics.chunks(CHUNK) {
        let channels: Vec<String> = chunk.iter().map(|t| keys.topic_channel(t)).collect();
        timed(ctx, sink.subscribe(channels)).await?;
        actual.extend(chunk.iter().cloned());
    }
    for chunk in remove_topics.chunks(CHUNK) {
        let channels: Vec<String> = chunk.iter().map(|t| keys.topic_channel(t)).collect();
        timed(ctx, sink.unsubscribe(channels)).await?;
        for t in chunk {
            actual.remove(t);
        }
    }
    Ok(())
}

/// Leave the cluster (shutdown): write the outbox, then remove this node from Redis and tell
/// the others. Best effort, bounded by the command timeout per step.
async fn leave(
    ctx: &Ctx,
    cmd: &mut MultiplexedConnection,
    outbox: &mut mpsc::Receiver<Outgoing>,
    up: bool,
) {
    if !up {
        return;
    }
    let result = async {
        if let Ok(first) = outbox.try_recv() {
            publish_batch(ctx, cmd, outbox, first).await?;
        }
        let mut invocation = LEAVE.key(ctx.shared.keys.node(ctx.me));
        invocation.arg(&ctx.instance);
        let mine: i64 = timed(ctx, invocation.invoke_async(cmd)).await?;
        if mine != 1 {
            // Another process has the id now: its keys are not ours to remove.
            return Ok(());
        }
        reap(ctx, cmd, ctx.me).await.map(|_| ())
    };
    match result.await {
        Ok(()) => tracing::info!(node = %ctx.me, "left the cluster"),
        Err(e) => {
            tracing::warn!(node = %ctx.me, error = %e, "could not leave the cluster cleanly; the other nodes drop this one when its liveness key expires");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_min_to_max_with_jitter() {
        let config = RedisConfig {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
            ..RedisConfig::default()
        };
        for (attempt, base) in [(0, 100), (1, 200), (3, 800), (5, 2000), (40, 2000)] {
            for _ in 0..20 {
                let d = backoff(&config, attempt).as_millis();
                assert!(
                    (base * 3 / 4..=base * 5 / 4).contains(&d),
                    "attempt {attempt}: {d} ms"
                );
            }
        }
    }
}

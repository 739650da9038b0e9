//! The Lua scripts: each one is a single atomic step in Redis (no other command runs while it
//! does), which is what makes a RefuseNewer claim, a liveness refresh and the reaping of a dead
//! node race-free between nodes. `redis::Script` sends them by SHA1 and loads them again when
//! Redis forgot them (after a restart).

use std::sync::LazyLock;

use redis::Script;

/// Take this node's liveness key for this process, unless another process instance holds it.
///
/// KEYS: node key, nodes set. ARGV: this process's instance, TTL in ms, node id.
/// Returns `{1, "", 0}` when the key is this process's now, `{0, holder, pttl}` when another
/// instance holds it (`pttl` in ms, -1 without a TTL).
pub(crate) static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return {0, holder, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return {1, '', 0}
",
    )
});

/// Refresh this node's liveness key, only if it is still this process's (else the node was
/// given up for dead, or Redis restarted: it must register again, with its whole presence; or
/// another process took the node id meanwhile).
///
/// KEYS: node key, nodes set. ARGV: this process's instance, TTL in ms, node id.
/// Returns 1 if refreshed, 0 if missing, -1 if another process instance holds it.
pub(crate) static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  return 0
end
if holder ~= ARGV[1] then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
",
    )
});

/// Delete this node's liveness key when leaving, only if it is this process's.
///
/// KEYS: node key. ARGV: this process's instance. Returns 1 if deleted.
pub(crate) static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// The RefuseNewer claim: take `(scope, user)` unless another *live* node holds it (a claim of
/// a node whose liveness key expired does not count).
///
/// KEYS: claim key, this node's claims set. ARGV: node id, liveness key prefix.
/// Returns 1 when this node holds the claim now, 0 when another live node does.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. holder) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
",
    )
});

/// Give a claim up, if this node still holds it.
///
/// KEYS: claim key, this node's claims set. ARGV: node id.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
redis.call('SREM', KEYS[2], KEYS[1])
return 1
",
    )
});

/// Remove a node whose liveness key is gone: its claims (those it still holds), its presence
/// hash, its claims set, its entry in the nodes set; then tell every node (`gone` on the
/// membership channel). Does nothing when the liveness key exists (the node is alive, or came
/// back between a scan and this script).
///
/// KEYS: its liveness key, its presence hash, its claims set, the nodes set.
/// ARGV: its node id, the membership channel, the `gone` message.
/// Returns 1 when it reaped the node, 0 when the node is alive.
pub(crate) static REAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for _, claim in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('GET', claim) == ARGV[1] then
    redis.call('DEL', claim)
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
",
    )
});

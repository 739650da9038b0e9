//! [`RedisConfig`]: where Redis is, the cluster's name, and every bound of the backend, with
//! documented defaults; checked by [`RedisConfig::validate`] before anything connects.

use std::fmt;
use std::time::Duration;

/// What [`RedisBackend::connect`](crate::RedisBackend::connect) does when Redis cannot be
/// reached at start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartMode {
    /// Fail with [`RedisError::Unreachable`](crate::RedisError::Unreachable) (the default): a
    /// node that cannot join its cluster does not start, so a wrong URL is found at deploy time.
    #[default]
    RequireRedis,
    /// Start anyway, as a node cut off from the cluster: local delivery works, cross-node
    /// operations fail with [`BackendError::Down`](sockjs_hyper::hub::BackendError::Down), and
    /// the backend keeps trying to connect (with backoff) and joins the cluster when Redis
    /// answers, exactly as after losing Redis while running.
    Degraded,
}

/// The Redis backend's configuration. Every field has a documented default
/// ([`RedisConfig::default`]); [`RedisConfig::new`] sets the URL.
///
/// ```
/// use std::time::Duration;
/// use sockjs_redis::RedisConfig;
///
/// let mut config = RedisConfig::new("redis://127.0.0.1:6379");
/// config.cluster = "chat".into();
/// config.liveness_ttl = Duration::from_secs(6);
/// config.refresh_interval = Duration::from_secs(2);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.presence_bound(), Duration::from_secs(8));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The server: `redis://[user:password@]host[:port][/db]`, or `unix:///path/to/socket`.
    /// Default `redis://127.0.0.1:6379`. (TLS, `rediss://`, is not compiled in.)
    pub url: String,
    /// The cluster's name: the nodes that share it form one cluster (one Redis can serve
    /// several). 1 to 64 ASCII letters, digits, `.`, `_` or `-`. Default `sockjs`.
    pub cluster: String,
    /// Envelopes accepted by [`publish`](sockjs_hyper::hub::Backend::publish) and not yet
    /// written to Redis, at most. Beyond it, a publication fails with
    /// [`BackendError::Full`](sockjs_hyper::hub::BackendError::Full) at once. Default 10 000.
    pub outbox_capacity: usize,
    /// The same bound in bytes (encoded envelopes). Default 32 MiB.
    pub outbox_max_bytes: usize,
    /// Duplicate-login claims (`RefuseNewer` logins) waiting for Redis, at most; beyond it a
    /// claim fails at once with `Full`. Default 1024.
    pub claim_queue: usize,
    /// How long this node's liveness key lives without a refresh. When a node dies (SIGKILL,
    /// power loss), its key expires after at most this long and the survivors drop its
    /// presence and claims. Default 15 s.
    pub liveness_ttl: Duration,
    /// How often this node refreshes its liveness key and scans the cluster for nodes whose
    /// key expired. Must be shorter than [`liveness_ttl`](RedisConfig::liveness_ttl) (a third
    /// of it or less leaves room for a slow refresh). Default 5 s.
    pub refresh_interval: Duration,
    /// Longest wait for a TCP connection and Redis's first answer. Default 3 s.
    pub connect_timeout: Duration,
    /// Longest wait for the answer to a command; a command without an answer in time ends the
    /// connection (it is treated as lost, then re-established). Default 3 s.
    pub command_timeout: Duration,
    /// First delay before reconnecting after Redis was lost; doubled at every failed attempt
    /// (with ±25 % jitter) up to [`reconnect_max`](RedisConfig::reconnect_max). Default 100 ms.
    pub reconnect_min: Duration,
    /// Longest delay between two connection attempts. Default 5 s.
    pub reconnect_max: Duration,
    /// Whether a node starts when Redis is unreachable. Default
    /// [`StartMode::RequireRedis`].
    pub start: StartMode,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            cluster: "sockjs".into(),
            outbox_capacity: 10_000,
            outbox_max_bytes: 32 * 1024 * 1024,
            claim_queue: 1024,
            liveness_ttl: Duration::from_secs(15),
            refresh_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(3),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            start: StartMode::RequireRedis,
        }
    }
}

/// A [`RedisConfig`] that cannot work; says which field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    why: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, why: impl Into<String>) -> ConfigError {
        ConfigError {
            field,
            why: why.into(),
        }
    }

    /// The field at fault.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Redis configuration: {}: {}",
            self.field, self.why
        )
    }
}

impl std::error::Error for ConfigError {}

/// The longest cluster name.
const MAX_CLUSTER_LEN: usize = 64;

impl RedisConfig {
    /// The defaults, with `url`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            ..RedisConfig::default()
        }
    }

    /// The documented bound on how long the users of a node that died without leaving stay
    /// in the other nodes' presence: [`liveness_ttl`](RedisConfig::liveness_ttl) (until its
    /// liveness key expires) plus [`refresh_interval`](RedisConfig::refresh_interval) (until a
    /// survivor's next scan notices), plus one command round trip.
    pub fn presence_bound(&self) -> Duration {
        self.liveness_ttl + self.refresh_interval
    }

    /// Check every field (the URL's syntax too; nothing connects).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.client().map(|_| ())
    }

    /// The validated configuration's client.
    pub(crate) fn client(&self) -> Result<redis::Client, ConfigError> {
        if self.cluster.is_empty()
            || self.cluster.len() > MAX_CLUSTER_LEN
            || !self
                .cluster
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ConfigError::new(
                "cluster",
                "1 to 64 ASCII letters, digits, '.', '_' or '-'",
            ));
        }
        for (value, field) in [
            (self.outbox_capacity, "outbox_capacity"),
            (self.outbox_max_bytes, "outbox_max_bytes"),
            (self.claim_queue, "claim_queue"),
        ] {
            if value == 0 {
                return Err(ConfigError::new(field, "must be at least 1"));
            }
        }
        for (value, field) in [
            (self.refresh_interval, "refresh_interval"),
            (self.connect_timeout, "connect_timeout"),
            (self.command_timeout, "command_timeout"),
            (self.reconnect_min, "reconnect_min"),
        ] {
            if value < Duration::from_millis(1) {
                return Err(ConfigError::new(field, "must be at least 1 ms"));
            }
        }
        if self.liveness_ttl <= self.refresh_interval {
            return Err(ConfigError::new(
                "liveness_ttl",
                "must be longer than refresh_interval",
            ));
        }
        if self.reconnect_max < self.reconnect_min {
            return Err(ConfigError::new(
                "reconnect_max",
                "must not be shorter than reconnect_min",
            ));
        }
        if self.url.starts_with("rediss://") {
            return Err(ConfigError::new(
                "url",
                "TLS (rediss://) is not compiled into sockjs-redis",
            ));
        }
        redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::new("url", format!("{}: {e}", redact(&self.url))))
    }
}

/// `url` with any password replaced by `***`, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                "***".to_string()
            };
            format!(
                "{}{masked}{}",
                &url[..scheme_end + 3],
                &url[scheme_end + 3 + at..]
            )
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_the_bound_is_ttl_plus_interval() {
        let c = RedisConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.presence_bound(), Duration::from_secs(20));
    }

    #[test]
    fn bad_values_name_their_field() {
        let check = |f: &dyn Fn(&mut RedisConfig)| {
            let mut c = RedisConfig::default();
            f(&mut c);
            c.validate().map_err(|e| e.field())
        };
        assert_eq!(check(&|c| c.cluster = String::new()), Err("cluster"));
        assert_eq!(check(&|c| c.cluster = "a b".into()), Err("cluster"));
        assert_eq!(check(&|c| c.cluster = "{x}".into()), Err("cluster"));
        assert_eq!(check(&|c| c.cluster = "x".repeat(65)), Err("cluster"));
        assert_eq!(check(&|c| c.cluster = "chat-1.eu_west".into()), Ok(()));
        assert_eq!(check(&|c| c.outbox_capacity = 0), Err("outbox_capacity"));
        assert_eq!(check(&|c| c.claim_queue = 0), Err("claim_queue"));
        assert_eq!(
            check(&|c| c.liveness_ttl = c.refresh_interval),
            Err("liveness_ttl")
        );
        assert_eq!(
            check(&|c| c.reconnect_max = Duration::from_millis(1)),
            Err("reconnect_max")
        );
        assert_eq!(
            check(&|c| c.command_timeout = Duration::ZERO),
            Err("command_timeout")
        );
        assert_eq!(check(&|c| c.url = "http://example".into()), Err("url"));
        assert_eq!(check(&|c| c.url = "rediss://h:1".into()), Err("url"));
        assert_eq!(check(&|c| c.url = "redis://h:1/2".into()), Ok(()));
    }

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(
            redact("redis://user:s3cret@h:6379/0"),
            "redis://user:***@h:6379/0"
        );
        assert_eq!(redact("redis://:s3cret@h"), "redis://:***@h");
        assert_eq!(redact("redis://token@h"), "redis://***@h");
        assert_eq!(redact("not a url"), "not a url");
        let e = RedisConfig::new("redis://u:pw@h:notaport").validate();
        assert!(e.is_err_and(|e| !e.to_string().contains("pw")));
    }
}

//! [`RedisError`]: why a Redis backend could not be built.

use std::fmt;
use std::time::Duration;

use sockjs_hyper::hub::NodeId;

use crate::config::ConfigError;

/// Why [`RedisBackend::connect`](crate::RedisBackend::connect) failed. (Once running, the
/// backend never fails: it reports Redis being away through the hub's errors, its status and
/// its counters, and reconnects on its own.)
#[derive(Debug)]
#[non_exhaustive]
pub enum RedisError {
    /// The configuration is invalid (nothing was tried).
    Config(ConfigError),
    /// Redis did not accept a connection or did not answer `PING` (with
    /// [`StartMode::RequireRedis`](crate::StartMode::RequireRedis)).
    Unreachable {
        /// The URL tried, password hidden.
        url: String,
        /// What went wrong (the client's error).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Redis did not answer within
    /// [`RedisConfig::connect_timeout`](crate::RedisConfig::connect_timeout) (with
    /// [`StartMode::RequireRedis`](crate::StartMode::RequireRedis)).
    Timeout {
        /// The URL tried, password hidden.
        url: String,
        /// How long it waited.
        after: Duration,
    },
    /// `connect` was called outside a tokio runtime.
    NoRuntime,
    /// Another live process of the cluster holds this node's id (its liveness key exists and
    /// is refreshed): this node was refused and never joins. Give every process its own id
    /// ([`HubBuilder::node`](sockjs_hyper::hub::HubBuilder::node)). Reported by
    /// [`RedisBackend::joined`](crate::RedisBackend::joined).
    NodeIdInUse {
        /// The node id.
        node: NodeId,
        /// The cluster's name.
        cluster: String,
    },
}

impl RedisError {
    /// Whether Redis could not be reached (refused, unreachable, or too slow to answer), as
    /// opposed to a mistake in the configuration.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            RedisError::Unreachable { .. } | RedisError::Timeout { .. }
        )
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Config(e) => e.fmt(f),
            RedisError::Unreachable { url, source } => {
                write!(f, "cannot reach Redis at {url}: {source}")
            }
            RedisError::Timeout { url, after } => {
                write!(f, "Redis at {url} did not answer within {after:?}")
            }
            RedisError::NoRuntime => f.write_str("RedisBackend::connect needs a tokio runtime"),
            RedisError::NodeIdInUse { node, cluster } => write!(
                f,
                "node id {node} is in use by another live process of cluster {cluster:?}: give every process its own node id"
            ),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Config(e) => Some(e),
            RedisError::Unreachable { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<ConfigError> for RedisError {
    fn from(e: ConfigError) -> Self {
        RedisError::Config(e)
    }
}

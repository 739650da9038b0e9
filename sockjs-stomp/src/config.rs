//! Settings of a STOMP endpoint, shared by its sessions.

use std::fmt;
use std::time::Duration;

use crate::decode::Limits;
use crate::route::Routing;

/// Configuration of a STOMP endpoint. Sessions share it through an `Arc`.
///
/// Construct it with [`Config::default`] and change the public fields you need;
/// [`Config::validate`] reports values that cannot work.
///
/// ```
/// use std::time::Duration;
/// let mut config = sockjs_stomp::Config::default();
/// config.heartbeat_send = Duration::from_secs(20);
/// config.routing.application_prefixes = vec!["/api".into()];
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How often the server offers to send heart-beats (`sx` in the `CONNECTED` frame's
    /// `heart-beat: sx,sy`); zero: never. Default: 10 s, Spring's default.
    pub heartbeat_send: Duration,
    /// How often the server asks the client to send heart-beats (`sy`); zero: the server
    /// does not watch the client. Default: 10 s, Spring's default.
    pub heartbeat_receive: Duration,
    /// A client silent for its negotiated heart-beat interval times this factor gets an
    /// `ERROR` and the session closes. Default: 3, Spring's multiplier (a 10 s interval
    /// allows 30 s of silence).
    pub heartbeat_tolerance: u32,
    /// A session whose client has not completed `CONNECT` (including the authenticator's
    /// answer) within this time gets an `ERROR` and closes. Default: 60 s.
    pub connect_timeout: Duration,
    /// The `server` header of `CONNECTED`; `None` leaves it out. Default: `"sockjs-stomp"`
    /// (no version number, so as not to advertise one).
    pub server_name: Option<String>,
    /// Bounds on each frame a client sends. Default: [`Limits::default`].
    pub limits: Limits,
    /// Most subscriptions one session may hold; one more gets an `ERROR`. Default: 128.
    pub max_subscriptions: usize,
    /// Most messages one session may hold unacknowledged across its `client` and
    /// `client-individual` subscriptions. At the bound, [`Session::deliver`](crate::Session::deliver)
    /// refuses further messages for those subscriptions with
    /// [`DeliverError::TooManyUnacked`](crate::DeliverError::TooManyUnacked) until the client
    /// acknowledges some (the broker decides whether to drop or hold them; `auto`
    /// subscriptions are not affected). Default: 1024.
    pub max_unacked: usize,
    /// Most transactions one session may have open at once. Default: 16.
    pub max_transactions: usize,
    /// Most bytes (headers and bodies) of `SEND`, `ACK` and `NACK` frames held in a
    /// session's open transactions until `COMMIT`. Default: 1 MiB.
    pub max_transaction_bytes: usize,
    /// Destination prefixes. Default: [`Routing::default`] (`/app`, `/topic` + `/queue`,
    /// `/user`).
    pub routing: Routing,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            heartbeat_send: Duration::from_secs(10),
            heartbeat_receive: Duration::from_secs(10),
            heartbeat_tolerance: 3,
            connect_timeout: Duration::from_secs(60),
            server_name: Some("sockjs-stomp".into()),
            limits: Limits::default(),
            max_subscriptions: 128,
            max_unacked: 1024,
            max_transactions: 16,
            max_transaction_bytes: 1024 * 1024,
            routing: Routing::default(),
        }
    }
}

/// A configuration value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit is zero (its name).
    ZeroLimit(&'static str),
    /// A destination prefix is empty or does not start with `/` (the prefix).
    InvalidPrefix(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroLimit(name) => write!(f, "{name} must be greater than zero"),
            ConfigError::InvalidPrefix(p) => write!(
                f,
                "destination prefix {p:?} must start with '/' and name at least one segment"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks that every value can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("heartbeat_tolerance", self.heartbeat_tolerance as usize),
            ("limits.max_frame_size", self.limits.max_frame_size),
            ("limits.max_body_size", self.limits.max_body_size),
            ("limits.max_headers", self.limits.max_headers),
            ("limits.max_header_line", self.limits.max_header_line),
            ("max_subscriptions", self.max_subscriptions),
            ("max_unacked", self.max_unacked),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroLimit("connect_timeout"));
        }
        let r = &self.routing;
        for prefix in r
            .application_prefixes
            .iter()
            .chain(&r.broker_prefixes)
            .chain(&r.user_prefix)
        {
            let trimmed = prefix.trim_end_matches('/');
            if !trimmed.starts_with('/') || trimmed.len() < 2 {
                return Err(ConfigError::InvalidPrefix(prefix.clone()));
            }
        }
        Ok(())
    }

    /// The `heart-beat` header values of `CONNECTED`, in milliseconds.
    pub fn heart_beat_header(&self) -> (u64, u64) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        (ms(self.heartbeat_send), ms(self.heartbeat_receive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_springs() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.heart_beat_header(), (10_000, 10_000));
    }

    #[test]
    fn zero_limits_are_rejected() {
        let c = Config {
            max_unacked: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::ZeroLimit("max_unacked")));
        let mut c = Config::default();
        c.limits.max_headers = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroLimit("limits.max_headers"))
        );
        let c = Config {
            connect_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn prefixes_must_be_paths() {
        for bad in ["", "/", "//", "app"] {
            let mut c = Config::default();
            c.routing.application_prefixes = vec![bad.into()];
            assert_eq!(
                c.validate(),
                Err(ConfigError::InvalidPrefix(bad.into())),
                "{bad:?}"
            );
        }
        let mut c = Config::default();
        c.routing.user_prefix = Some("user".into());
        assert!(c.validate().is_err());
    }
}

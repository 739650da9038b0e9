//! The hub's limits, and the duplicate-login policy an endpoint applies.

use std::fmt;
use std::time::Duration;

use sockjs_core::close::CloseCode;

/// `4009 "Replaced by a newer session"`: how [`LoginPolicy::ReplaceOlder`] closes the older
/// sessions of a user. sockjs-client reports 4000–4999 codes to `onclose` as they are.
pub const REPLACED: CloseCode = CloseCode {
    code: 4009,
    reason: "Replaced by a newer session",
};

/// `4008 "Already connected"`: how [`LoginPolicy::RefuseNewer`] closes a session whose user
/// already has one.
pub const REFUSED: CloseCode = CloseCode {
    code: 4008,
    reason: "Already connected",
};

/// What [`Connection::login`](crate::Connection::login) does when the user already has a
/// session on the same endpoint (the same prefix), on this node or, with a cluster backend,
/// on any node. Set per endpoint with
/// [`SockJsBuilder::login_policy`](crate::SockJsBuilder::login_policy). Across nodes, "the same
/// endpoint" is the same prefix: mount it under the same prefix on every node.
/// [`Connection::set_user`](crate::Connection::set_user) never applies the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginPolicy {
    /// Any number of sessions per user (the default).
    #[default]
    Allow,
    /// The new session stays; the user's older sessions on the endpoint are closed with
    /// [`REPLACED`] (`4009`). When two logins race on two nodes, the one with the later
    /// [`LoginStamp`](sockjs_core::cluster::LoginStamp) survives, on both nodes. With the
    /// backend down, only this node's older sessions are replaced (the failure is counted in
    /// [`HubStats::publish_failed`](super::HubStats) and logged; `login` still succeeds).
    ReplaceOlder,
    /// The older session stays; the new one is closed with [`REFUSED`] (`4008`) and `login`
    /// returns [`LoginError::Refused`](super::LoginError::Refused). Across nodes the decision
    /// is an atomic claim in the backend: of two racing logins exactly one is accepted.
    RefuseNewer,
}

/// A hub's limits. Every one is bounded; the defaults suit a chat or notification service.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubConfig {
    /// Largest message (or channel payload) the hub sends; larger ones fail with
    /// [`HubError::TooLarge`](super::HubError::TooLarge). Default 2 MiB, as
    /// [`Config::max_message_size`](crate::Config). A session whose endpoint has a smaller
    /// limit skips larger messages (counted in [`Delivery::too_large`](super::Delivery)).
    pub max_message_size: usize,
    /// Payloads each channel keeps for its slowest subscriber; a subscriber further behind
    /// loses the oldest and is told how many ([`Lagged`](super::Lagged)). Default 256.
    pub channel_capacity: usize,
    /// Presence events kept for the slowest [`PresenceEvents`](super::PresenceEvents)
    /// subscriber, likewise. Default 1024.
    pub presence_capacity: usize,
    /// How long a [`LoginPolicy::RefuseNewer`] login waits for the backend's claim before
    /// failing with [`LoginError::Backend`](super::LoginError::Backend). Default 5 s.
    pub claim_timeout: Duration,
    /// Rooms and channels this node keeps a sequence counter for (a few dozen bytes each);
    /// beyond it a counter is forgotten and its topic starts a new generation when used again.
    /// Default 65 536.
    pub max_sequence_topics: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            max_message_size: 2 * 1024 * 1024,
            channel_capacity: 256,
            presence_capacity: 1024,
            claim_timeout: Duration::from_secs(5),
            max_sequence_topics: 65_536,
        }
    }
}

/// A [`HubConfig`] value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfigError(&'static str);

impl fmt::Display for HubConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid hub configuration: {} must be at least 1",
            self.0
        )
    }
}

impl std::error::Error for HubConfigError {}

impl HubConfig {
    /// Check the values: every capacity must be at least 1, the claim timeout non-zero.
    pub fn validate(&self) -> Result<(), HubConfigError> {
        let checks = [
            (self.max_message_size, "max_message_size"),
            (self.channel_capacity, "channel_capacity"),
            (self.presence_capacity, "presence_capacity"),
            (self.max_sequence_topics, "max_sequence_topics"),
            (
                usize::from(!self.claim_timeout.is_zero()),
                "claim_timeout (in ns)",
            ),
        ];
        for (value, name) in checks {
            if value == 0 {
                return Err(HubConfigError(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_capacities_are_not() {
        assert_eq!(HubConfig::default().validate(), Ok(()));
        let c = HubConfig {
            channel_capacity: 0,
            ..HubConfig::default()
        };
        assert_eq!(c.validate(), Err(HubConfigError("channel_capacity")));
        let c = HubConfig {
            claim_timeout: Duration::ZERO,
            ..HubConfig::default()
        };
        assert!(c.validate().is_err());
    }
}

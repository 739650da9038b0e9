//! What hub operations report: the local outcome of a delivery, and the errors.

use std::fmt;

use super::backend::BackendError;

/// The outcome of a hub operation on this node's sessions (or channel subscribers), and
/// whether it was handed to the backend for the other nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Local sessions the message was queued to (for a kick: sessions it closed; for a
    /// channel publication: local subscriptions that will receive it).
    pub sent: usize,
    /// Local sessions skipped because their outbound queue was full (slow clients are skipped,
    /// never waited for).
    pub full: usize,
    /// Local sessions skipped because they had already closed.
    pub closed: usize,
    /// Local sessions skipped because the message is larger than their endpoint's
    /// `max_message_size`.
    pub too_large: usize,
    /// Whether the operation was handed to the cluster backend for the other nodes (`false`
    /// without a backend).
    pub published: bool,
}

/// Why a hub operation failed, entirely or across nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubError {
    /// The message is larger than [`HubConfig::max_message_size`](super::HubConfig): nothing
    /// was sent.
    TooLarge,
    /// A room, channel or user name is empty or longer than
    /// [`MAX_NAME_LEN`](sockjs_core::cluster::MAX_NAME_LEN) bytes.
    InvalidName,
    /// The session has closed (a closed session is in no room and logged in as nobody).
    Closed,
    /// The operation was applied on this node (`local` says how), but the backend could not
    /// carry it to the other nodes (`cause`); counted in
    /// [`HubStats::publish_failed`](super::HubStats).
    Cluster {
        /// What happened on this node.
        local: Delivery,
        /// Why the other nodes were not reached.
        cause: BackendError,
    },
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::TooLarge => f.write_str("the message exceeds the hub's max_message_size"),
            HubError::InvalidName => f.write_str("names are 1 to 1024 bytes"),
            HubError::Closed => f.write_str("the session is closed"),
            HubError::Cluster { cause, .. } => {
                write!(f, "delivered on this node only: {cause}")
            }
        }
    }
}

impl std::error::Error for HubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HubError::Cluster { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// Why [`Connection::login`](crate::Connection::login) did not log the session in.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The user name is empty or longer than
    /// [`MAX_NAME_LEN`](sockjs_core::cluster::MAX_NAME_LEN) bytes.
    InvalidName,
    /// The session has closed.
    Closed,
    /// [`LoginPolicy::RefuseNewer`](super::LoginPolicy::RefuseNewer): the user already has a
    /// session on this endpoint (on some node); this session has been closed with
    /// [`REFUSED`](super::REFUSED).
    Refused,
    /// [`LoginPolicy::RefuseNewer`](super::LoginPolicy::RefuseNewer) with a cluster backend that
    /// could not decide (down, or no answer within the claim timeout). The session stays
    /// open and logged in as nobody; the application decides (close it, or retry).
    Backend(BackendError),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::InvalidName => f.write_str("user names are 1 to 1024 bytes"),
            LoginError::Closed => f.write_str("the session is closed"),
            LoginError::Refused => f.write_str("the user already has a session"),
            LoginError::Backend(e) => write!(f, "the login could not be checked: {e}"),
        }
    }
}

impl std::error::Error for LoginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoginError::Backend(e) => Some(e),
            _ => None,
        }
    }
}

//! Errors of building an endpoint.

use std::fmt;

use sockjs_core::ConfigError;

/// An endpoint could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value cannot work.
    Config(ConfigError),
    /// The prefix must be empty or start with `/`, and contain no `?` or `#`.
    InvalidPrefix(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::InvalidPrefix(p) => write!(
                f,
                "invalid prefix {p:?}: it must be empty or start with '/', without '?' or '#'"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::InvalidPrefix(_) => None,
        }
    }
}

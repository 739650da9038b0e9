//! Close codes and why a session ended.

use std::fmt;

/// A close code with its reason, as written into a `c[code,"reason"]` frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseCode {
    /// The code (1000, 3000–4999 for applications, ...).
    pub code: u16,
    /// The human-readable reason.
    pub reason: &'static str,
}

/// `c[2010,"Another connection still open"]`: sent to a second receiving request.
pub const ANOTHER_CONNECTION: CloseCode = CloseCode {
    code: 2010,
    reason: "Another connection still open",
};
/// `c[1002,"Connection interrupted"]`: served after a receiving request was aborted.
pub const INTERRUPTED: CloseCode = CloseCode {
    code: 1002,
    reason: "Connection interrupted",
};
/// `c[1000,"Normal closure"]`: the application dropped every handle of the connection.
pub const NORMAL: CloseCode = CloseCode {
    code: 1000,
    reason: "Normal closure",
};
/// `c[1013,"Outbound queue full"]`: the outbound queue overflowed under
/// [`OverflowPolicy::Close`](crate::OverflowPolicy::Close).
pub const QUEUE_FULL: CloseCode = CloseCode {
    code: 1013,
    reason: "Outbound queue full",
};
/// `c[1009,"Message too big"]`: the client sent a message over the configured limit.
pub const TOO_BIG: CloseCode = CloseCode {
    code: 1009,
    reason: "Message too big",
};
/// `c[1001,"Server shutting down"]`: the endpoint is shutting down.
pub const GOING_AWAY: CloseCode = CloseCode {
    code: 1001,
    reason: "Server shutting down",
};

/// Why a session ended. The application sees it once the connection's receive side ends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The application closed the session with this code and reason.
    Server {
        /// The close code sent to the client.
        code: u16,
        /// The reason sent to the client.
        reason: String,
    },
    /// The client closed the connection (a websocket close handshake, or the raw connection
    /// ending in good order).
    ClientClosed,
    /// A receiving request or the websocket connection was cut before the server ended it
    /// (the client went away, a proxy dropped the connection, a network fault).
    Interrupted,
    /// No receiving request came back within the disconnect delay.
    TimedOut,
    /// The client broke the framing (for example broken JSON on a websocket).
    ProtocolError,
    /// A configured limit was exceeded (message size, outbound queue under the close policy).
    LimitExceeded,
    /// The server is shutting down.
    Shutdown,
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::Server { code, reason } => {
                write!(f, "closed by the server ({code} {reason:?})")
            }
            CloseCause::ClientClosed => f.write_str("closed by the client"),
            CloseCause::Interrupted => f.write_str("connection interrupted"),
            CloseCause::TimedOut => f.write_str("timed out waiting for the client"),
            CloseCause::ProtocolError => f.write_str("client protocol error"),
            CloseCause::LimitExceeded => f.write_str("limit exceeded"),
            CloseCause::Shutdown => f.write_str("server shutdown"),
        }
    }
}

impl CloseCause {
    /// A short stable label, for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            CloseCause::Server { .. } => "server",
            CloseCause::ClientClosed => "client",
            CloseCause::Interrupted => "interrupted",
            CloseCause::TimedOut => "timeout",
            CloseCause::ProtocolError => "protocol_error",
            CloseCause::LimitExceeded => "limit",
            CloseCause::Shutdown => "shutdown",
        }
    }
}

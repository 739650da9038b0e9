//! The handle an application's handler receives for each session.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Uri};
use sockjs_core::{CloseCause, Transport};
use tokio::sync::mpsc;

use crate::session::SessionHandle;

/// What the request that opened the session carried.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request headers (cookies, `Authorization`, `Origin`, `User-Agent`, ...).
    pub headers: HeaderMap,
    /// The client's address, when the server told the service (see
    /// [`SockJs::with_peer_addr`](crate::SockJs::with_peer_addr)).
    pub remote_addr: Option<SocketAddr>,
    /// The full request URI (path and query).
    pub uri: Uri,
    /// The transport the session was opened with; `None` for the raw `/websocket` endpoint.
    pub transport: Option<Transport>,
}

/// Why a message could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed; nothing more can be sent.
    Closed,
    /// The outbound queue is full and the configured policy is
    /// [`OverflowPolicy::Fail`](sockjs_core::OverflowPolicy::Fail) (or the send was a
    /// `try_send`).
    Full,
    /// The message is larger than the configured `max_message_size`.
    TooLarge,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the session is closed",
            SendError::Full => "the session's outbound queue is full",
            SendError::TooLarge => "the message exceeds max_message_size",
        })
    }
}

impl std::error::Error for SendError {}

/// One SockJS session as the application sees it: receive the client's messages, send
/// messages, close.
///
/// The session closes with `1000 "Normal closure"` when the `Connection` is dropped (the
/// application stopped listening); [`ConnectionSender`]s do not keep it open.
pub struct Connection {
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) inbound: mpsc::Receiver<String>,
    pub(crate) info: Arc<RequestInfo>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("transport", &self.info.transport)
            .field("remote_addr", &self.info.remote_addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The next message from the client, in order; `None` once the session has closed and
    /// every message received before the close has been returned.
    ///
    /// Cancel-safe: a message is never lost when this future is dropped (for example in a
    /// `tokio::select!` branch that did not win).
    pub async fn recv(&mut self) -> Option<String> {
        self.inbound.recv().await
    }

    /// Send `message` to the client. When the outbound queue is full this follows the
    /// endpoint's [`OverflowPolicy`](sockjs_core::OverflowPolicy): it waits (the default),
    /// fails with [`SendError::Full`], or closes the session.
    pub async fn send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.session.send(message.as_ref()).await
    }

    /// Send `message` if the outbound queue has room now.
    pub fn try_send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.session.try_send(message.as_ref())
    }

    /// Close the session with `code` and `reason`; the client's `onclose` sees both. Use 1000
    /// or an application code in 3000–4999. Messages already queued are delivered first.
    /// Returns false if the session was already closed.
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.session.close(code, reason)
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Why the session closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.session.close_cause()
    }

    /// What the opening request carried.
    pub fn request(&self) -> &RequestInfo {
        &self.info
    }

    /// A cloneable handle that can send and close from other tasks.
    pub fn sender(&self) -> ConnectionSender {
        ConnectionSender {
            session: Arc::clone(&self.session),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.session.close(
            sockjs_core::close::NORMAL.code,
            sockjs_core::close::NORMAL.reason,
        );
    }
}

/// A cloneable sending half of a [`Connection`], for broadcasting or writing from other
/// tasks.
#[derive(Clone)]
pub struct ConnectionSender {
    session: Arc<SessionHandle>,
}

impl fmt::Debug for ConnectionSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSender").finish_non_exhaustive()
    }
}

impl ConnectionSender {
    /// See [`Connection::send`].
    pub async fn send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.session.send(message.as_ref()).await
    }

    /// See [`Connection::try_send`].
    pub fn try_send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.session.try_send(message.as_ref())
    }

    /// See [`Connection::close`].
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.session.close(code, reason)
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }
}

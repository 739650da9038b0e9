//! The handle an application's handler receives for each session.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures::{Sink, Stream};
use http::{HeaderMap, Uri};
use sockjs_core::{CloseCause, Transport};
use tokio::sync::mpsc;

use crate::endpoint::Endpoint;
use crate::hub::{Hub, HubError, LoginError};
use crate::service::SockJs;
use crate::session::{Inbound, SessionHandle};

/// What the request that opened the session carried.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request headers (cookies, `Authorization`, `Origin`, `User-Agent`, ...), without
    /// the hop-by-hop and handshake ones (`Connection`, `Upgrade`, `Sec-WebSocket-*`, ...).
    /// At most [`Config::max_request_headers`](sockjs_core::Config::max_request_headers) of
    /// them: a request with more opens no session (431).
    pub headers: HeaderMap,
    /// The client's address, when the server told the service (see
    /// [`SockJs::with_peer_addr`](crate::SockJs::with_peer_addr)).
    pub remote_addr: Option<SocketAddr>,
    /// The endpoint's prefix and the opening request's query string. The
    /// `/<server>/<session>/<transport>` part of the path is left out: the session id is never
    /// given to the application (the protocol forbids it; it is the client's secret for the
    /// session).
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

type SendFuture = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + Sync>>;

/// The send in progress of a [`Sink`] (one message at a time, as `Sink` requires).
#[derive(Default)]
struct PendingSend(Option<SendFuture>);

impl PendingSend {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let Some(fut) = self.0.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = ready!(fut.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(result)
    }

    fn start(&mut self, session: &Arc<SessionHandle>, message: String) {
        let session = Arc::clone(session);
        self.0 = Some(Box::pin(async move { session.send(&message).await }));
    }
}

/// One SockJS session as the application sees it: receive the client's messages, send
/// messages, close.
///
/// It is a [`Stream`] of the client's messages and a [`Sink`] of outgoing ones, and can be
/// [`split`](Connection::split) into a reader and a writer for different tasks. The session
/// closes with `1000 "Normal closure"` when the `Connection` is dropped (the application
/// stopped listening); [`ConnectionSender`]s do not keep it open.
///
/// ```no_run
/// # async fn handler(mut conn: sockjs_hyper::Connection) {
/// use futures::{SinkExt, StreamExt};
/// // Authenticate from the opening request, then remember who this is.
/// let user = conn.request().headers.get("x-user").and_then(|v| v.to_str().ok()).map(String::from);
/// conn.set_user(user.as_deref());
/// while let Some(message) = conn.next().await {
///     if conn.send(message).await.is_err() {
///         break;
///     }
/// }
/// tracing::info!(cause = ?conn.close_cause(), "session ended");
/// # }
/// ```
pub struct Connection {
    /// The writing side; `Connection` delegates sending and closing to it.
    writer: ConnectionSender,
    inbound: mpsc::Receiver<Inbound>,
    endpoint: Arc<Endpoint>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.request();
        f.debug_struct("Connection")
            .field("transport", &info.transport)
            .field("remote_addr", &info.remote_addr)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(
        session: Arc<SessionHandle>,
        inbound: mpsc::Receiver<Inbound>,
        endpoint: Arc<Endpoint>,
    ) -> Connection {
        Connection {
            writer: ConnectionSender::new(session),
            inbound,
            endpoint,
        }
    }

    /// The next message from the client, in order; `None` once the session has closed and
    /// every message received before the close has been returned.
    ///
    /// Cancel-safe: a message is never lost when this future is dropped (for example in a
    /// `tokio::select!` branch that did not win).
    pub async fn recv(&mut self) -> Option<String> {
        loop {
            if let Some(message) = self.inbound.recv().await?.take() {
                return Some(message);
            }
        }
    }

    /// Send `message` to the client. When the outbound queue is full this follows the
    /// endpoint's [`OverflowPolicy`](sockjs_core::OverflowPolicy): it waits (the default),
    /// fails with [`SendError::Full`], or closes the session.
    pub async fn send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.writer.send(message).await
    }

    /// Send `message` if the outbound queue has room now.
    pub fn try_send(&self, message: impl AsRef<str>) -> Result<(), SendError> {
        self.writer.try_send(message)
    }

    /// Close the session with `code` and `reason`; the client's `onclose` sees both. Use 1000
    /// or an application code in 3000–4999 (4000–4999 makes sockjs-client report it as is).
    /// Messages already queued are delivered first. Returns false if the session was already
    /// closed.
    pub fn close(&self, code: u16, reason: &str) -> bool {
        self.writer.close(code, reason)
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }

    /// Why the session closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.writer.close_cause()
    }

    /// What the opening request carried.
    pub fn request(&self) -> &RequestInfo {
        self.writer.request()
    }

    /// The endpoint this session belongs to (to broadcast, list sessions, read statistics).
    pub fn endpoint(&self) -> SockJs {
        SockJs::from_endpoint(Arc::clone(&self.endpoint))
    }

    /// The endpoint's hub: rooms, users, presence, cluster operations (see [`crate::hub`]).
    pub fn hub(&self) -> &Hub {
        self.writer.hub()
    }

    /// Join `room` (see [`Hub::send_to_room`]): `Ok(true)` if the session was not a member,
    /// `Ok(false)` if it already was. O(1) whatever the room's size. The session leaves its
    /// rooms by itself when it ends.
    pub fn join(&self, room: &str) -> Result<bool, HubError> {
        self.writer.join(room)
    }

    /// Leave `room`; false if the session was not a member.
    pub fn leave(&self, room: &str) -> bool {
        self.writer.leave(room)
    }

    /// The rooms the session is in, sorted.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.writer.rooms()
    }

    /// Log the session in as `user`, applying the endpoint's
    /// [`LoginPolicy`](crate::hub::LoginPolicy) (cluster-wide with a backend):
    /// [`Allow`](crate::hub::LoginPolicy::Allow) logs in;
    /// [`ReplaceOlder`](crate::hub::LoginPolicy::ReplaceOlder) logs in and closes the user's
    /// older sessions on this endpoint with `4009`;
    /// [`RefuseNewer`](crate::hub::LoginPolicy::RefuseNewer) closes this session with `4008`
    /// and returns [`LoginError::Refused`] if the user already has one. The session then
    /// counts in the user's presence and is found by [`Hub::sessions_of`],
    /// [`Hub::send_to_user`] and [`Hub::kick_user`]. Logging in again as another user logs out
    /// of the first.
    pub async fn login(&self, user: &str) -> Result<(), LoginError> {
        self.writer.login(user).await
    }

    /// Attach an application identity (a user id) to the session, or remove it with `None`
    /// (log out). Like [`login`](Connection::login) with
    /// [`LoginPolicy::Allow`](crate::hub::LoginPolicy::Allow) whatever the endpoint's policy:
    /// the session enters the user index and presence, and no other session is replaced or
    /// refused. A name that is empty or longer than 1024 bytes is ignored.
    pub fn set_user(&self, user: Option<&str>) {
        self.writer.set_user(user);
    }

    /// The identity the session is logged in as ([`login`](Connection::login),
    /// [`set_user`](Connection::set_user)); `None` once it has closed.
    pub fn user(&self) -> Option<Arc<str>> {
        self.writer.user()
    }

    /// A cloneable handle that can send and close from other tasks.
    pub fn sender(&self) -> ConnectionSender {
        self.writer.clone()
    }

    /// Split into the reading half (this connection, a [`Stream`]) and a writing half (a
    /// cloneable [`ConnectionSender`], a [`Sink`]) for use in different tasks.
    pub fn split(self) -> (Connection, ConnectionSender) {
        let sender = self.sender();
        (self, sender)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let normal = sockjs_core::close::NORMAL;
        self.writer.close(normal.code, normal.reason);
    }
}

impl Stream for Connection {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        loop {
            match ready!(self.inbound.poll_recv(cx)) {
                Some(inbound) => {
                    if let Some(message) = inbound.take() {
                        return Poll::Ready(Some(message));
                    }
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

/// Sending through the `Sink` follows the overflow policy like [`Connection::send`];
/// closing the sink closes the session with `1000 "Normal closure"`.
impl Sink<String> for Connection {
    type Error = SendError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        Pin::new(&mut self.writer).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), SendError> {
        Pin::new(&mut self.writer).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        ready!(Pin::new(&mut self.writer).poll_flush(cx))?;
        let normal = sockjs_core::close::NORMAL;
        self.writer.close(normal.code, normal.reason);
        Poll::Ready(Ok(()))
    }
}

/// A cloneable sending half of a [`Connection`], for broadcasting or writing from other
/// tasks. Also a [`Sink`] of messages.
pub struct ConnectionSender {
    session: Arc<SessionHandle>,
    sink: PendingSend,
}

impl Clone for ConnectionSender {
    fn clone(&self) -> Self {
        ConnectionSender::new(Arc::clone(&self.session))
    }
}

impl fmt::Debug for ConnectionSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSender")
            .field("transport", &self.session.info.transport)
            .finish_non_exhaustive()
    }
}

impl ConnectionSender {
    pub(crate) fn new(session: Arc<SessionHandle>) -> ConnectionSender {
        ConnectionSender {
            session,
            sink: PendingSend::default(),
        }
    }

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

    /// Why the session closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        self.session.close_cause()
    }

    /// What the opening request carried.
    pub fn request(&self) -> &RequestInfo {
        &self.session.info
    }

    /// See [`Connection::user`].
    pub fn user(&self) -> Option<Arc<str>> {
        self.session.member.user()
    }

    /// See [`Connection::set_user`].
    pub fn set_user(&self, user: Option<&str>) {
        self.session.member.set_user(&self.session, user);
    }

    /// See [`Connection::login`].
    pub async fn login(&self, user: &str) -> Result<(), LoginError> {
        self.session.member.login(&self.session, user).await
    }

    /// See [`Connection::hub`].
    pub fn hub(&self) -> &Hub {
        &self.session.member.hub
    }

    /// See [`Connection::join`].
    pub fn join(&self, room: &str) -> Result<bool, HubError> {
        self.session.member.join(&self.session, room)
    }

    /// See [`Connection::leave`].
    pub fn leave(&self, room: &str) -> bool {
        self.session.member.leave(room)
    }

    /// See [`Connection::rooms`].
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.session.member.rooms()
    }
}

impl Sink<String> for ConnectionSender {
    type Error = SendError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.sink.poll(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), SendError> {
        let this = &mut *self;
        this.sink.start(&this.session, item);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.sink.poll(cx)
    }

    /// Flushes; closing a sender does not close the session (other halves may still use it).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.sink.poll(cx)
    }
}

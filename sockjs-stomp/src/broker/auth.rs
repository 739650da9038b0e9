//! Authentication on `CONNECT` and authorization of `SUBSCRIBE` and `SEND`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use sockjs_hyper::RequestInfo;

use crate::frame::{Headers, Version};
use crate::route::Route;
use crate::session::ConnectRequest;

/// Why a `CONNECT`, `SUBSCRIBE` or `SEND` was refused: the text becomes the `message` header
/// of the `ERROR` frame the client gets before the session closes (so keep secrets out of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal(message.into())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl From<&str> for Refusal {
    fn from(message: &str) -> Refusal {
        Refusal::new(message)
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal(message)
    }
}

/// What the authenticator sees: the `CONNECT` (or `STOMP`) frame and the SockJS session's
/// opening request (HTTP headers such as cookies or `Authorization`, the client's address).
#[derive(Clone, Debug)]
pub struct ConnectInfo {
    /// The `CONNECT` frame's headers and the version the session will speak.
    pub connect: ConnectRequest,
    /// The HTTP request that opened the SockJS session.
    pub request: Arc<RequestInfo>,
}

impl ConnectInfo {
    /// The `login` header.
    pub fn login(&self) -> Option<&str> {
        self.connect.login()
    }

    /// The `passcode` header.
    pub fn passcode(&self) -> Option<&str> {
        self.connect.passcode()
    }

    /// Any header of the `CONNECT` frame (e.g. a token a page puts in `connectHeaders`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.connect.headers.get(name)
    }

    /// The STOMP version the session will speak.
    pub fn version(&self) -> Version {
        self.connect.version
    }

    /// A header of the opening HTTP request (e.g. `cookie`), when it is valid text.
    pub fn http_header(&self, name: &str) -> Option<&str> {
        self.request.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address, when the server told the endpoint.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.request.remote_addr
    }
}

/// The authenticator's answer: `Ok(Some(user))` connects as `user` (the `CONNECTED` frame's
/// `user-name`, the key of user destinations, the hub's presence), `Ok(None)` connects
/// anonymously, `Err(refusal)` answers `ERROR` and closes.
pub type AuthResult = Result<Option<String>, Refusal>;

pub(crate) type Authenticator =
    Arc<dyn Fn(ConnectInfo) -> BoxFuture<'static, AuthResult> + Send + Sync>;

/// What a client asks to do with a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `SUBSCRIBE`.
    Subscribe,
    /// `SEND`.
    Send,
}

/// What the authorizer sees for each `SUBSCRIBE` and `SEND` (like a Spring
/// `ChannelInterceptor` on the inbound channel).
#[derive(Debug)]
#[non_exhaustive]
pub struct Access<'a> {
    /// `SUBSCRIBE` or `SEND`.
    pub action: Action,
    /// The destination as the client wrote it.
    pub destination: &'a str,
    /// Where it goes.
    pub route: &'a Route,
    /// The session's user, `None` when anonymous.
    pub user: Option<&'a str>,
    /// The frame's headers.
    pub headers: &'a Headers,
    /// The HTTP request that opened the SockJS session.
    pub request: &'a RequestInfo,
}

pub(crate) type Authorizer = Arc<dyn Fn(&Access<'_>) -> Result<(), Refusal> + Send + Sync>;

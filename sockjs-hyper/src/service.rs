//! The mountable service: routing under a prefix, the static answers (greeting, `/info`, the
//! iframe page, preflights, 404/405) and session creation.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use sockjs_core::{Config, Route, Transport};

use crate::body::{empty, full, ResponseBody};
use crate::connection::{Connection, ConnectionSender, SendError};
use crate::endpoint::{BroadcastReport, Endpoint, Handler};
use crate::error::Error;
use crate::headers;
use crate::hub::{Hub, LoginPolicy};
use crate::stats::Stats;
use crate::transport;

/// One SockJS endpoint mounted under a prefix: a cheap-to-clone hyper
/// [`Service`](hyper::service::Service).
///
/// Requests whose path is the prefix or below it are SockJS's; [`SockJs::matches`] tells the
/// surrounding router. Requests outside the prefix get 404.
#[derive(Clone)]
pub struct SockJs {
    pub(crate) endpoint: Arc<Endpoint>,
    peer: Option<SocketAddr>,
}

impl fmt::Debug for SockJs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SockJs")
            .field("prefix", &self.endpoint.prefix)
            .field("sessions", &self.endpoint.session_count())
            .finish_non_exhaustive()
    }
}

impl SockJs {
    /// An endpoint under `prefix` (e.g. `"/echo"`; `""` mounts at the root) that runs
    /// `handler` for every new session.
    ///
    /// ```
    /// # use sockjs_hyper::{SockJs, Config};
    /// let echo = SockJs::new("/echo", Config::default(), |mut conn| async move {
    ///     while let Some(message) = conn.recv().await {
    ///         if conn.send(message).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// })
    /// .unwrap();
    /// assert!(echo.matches("/echo/info"));
    /// assert!(!echo.matches("/echoes"));
    /// ```
    pub fn new<H, F>(prefix: &str, config: Config, handler: H) -> Result<SockJs, Error>
    where
        H: Fn(Connection) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        SockJs::builder(prefix).config(config).build(handler)
    }

    /// A builder for an endpoint under `prefix`: its configuration, a [`Hub`] shared with
    /// other endpoints, and its duplicate-login policy.
    ///
    /// ```
    /// use sockjs_hyper::hub::{Hub, LoginPolicy};
    /// use sockjs_hyper::{Connection, SockJs};
    ///
    /// async fn handler(conn: Connection) { /* ... */ }
    ///
    /// let hub = Hub::new();
    /// let chat = SockJs::builder("/chat")
    ///     .hub(hub.clone())
    ///     .login_policy(LoginPolicy::ReplaceOlder)
    ///     .build(handler)
    ///     .unwrap();
    /// let notifications = SockJs::builder("/notifications").hub(hub.clone()).build(handler).unwrap();
    /// // One hub: a user's sessions on both endpoints, one presence list, one broadcast.
    /// assert_eq!(chat.hub().node(), notifications.hub().node());
    /// ```
    pub fn builder(prefix: &str) -> SockJsBuilder {
        SockJsBuilder {
            prefix: prefix.to_string(),
            config: Config::default(),
            hub: None,
            policy: LoginPolicy::default(),
            hub_broadcasts: true,
        }
    }

    /// The endpoint's hub: rooms, users, presence, cluster operations.
    pub fn hub(&self) -> &Hub {
        &self.endpoint.hub
    }

    pub(crate) fn from_endpoint(endpoint: Arc<Endpoint>) -> SockJs {
        SockJs {
            endpoint,
            peer: None,
        }
    }

    /// The prefix the endpoint is mounted under.
    pub fn prefix(&self) -> &str {
        &self.endpoint.prefix
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &Config {
        &self.endpoint.config
    }

    /// Number of live sessions, all transports. A session on an HTTP transport stays live
    /// until it expires (the disconnect delay after its last request), even once closed.
    pub fn session_count(&self) -> usize {
        self.endpoint.session_count()
    }

    /// A sending handle to every live session (a snapshot).
    pub fn sessions(&self) -> Vec<ConnectionSender> {
        self.endpoint
            .sessions()
            .into_iter()
            .map(Endpoint::sender)
            .collect()
    }

    /// The live sessions of this endpoint logged in as `user` (with
    /// [`Connection::login`](crate::Connection::login) or
    /// [`Connection::set_user`](crate::Connection::set_user)): a lookup in the hub's user
    /// index, O(1) in the number of sessions. A session leaves the index when it closes. For
    /// every endpoint sharing the hub, see [`Hub::sessions_of`].
    pub fn sessions_of(&self, user: &str) -> Vec<ConnectionSender> {
        self.endpoint
            .sessions_of(user)
            .into_iter()
            .map(Endpoint::sender)
            .collect()
    }

    /// Send `message` to every open session. The message is encoded once and the encoded
    /// bytes are shared by all sessions; a session whose outbound queue is full is skipped
    /// (and counted in the report) rather than waited for, so one slow client never stalls a
    /// broadcast.
    pub fn broadcast(&self, message: &str) -> Result<BroadcastReport, SendError> {
        self.endpoint.broadcast(message)
    }

    /// A snapshot of the endpoint's statistics.
    pub fn stats(&self) -> Stats {
        self.endpoint.stats()
    }

    /// Graceful shutdown: refuse new sessions (503), close every live session with `1001
    /// "Server shutting down"` after the messages already queued, and wait up to `deadline` for
    /// the sessions to end. Returns whether they all ended in time. Handlers see
    /// [`CloseCause::Shutdown`](crate::CloseCause::Shutdown).
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        let code = sockjs_core::close::GOING_AWAY;
        self.endpoint.shutdown(code.code, code.reason);
        tokio::time::timeout(deadline, self.endpoint.wait_idle())
            .await
            .is_ok()
    }

    /// Whether `path` (a request's URI path) belongs to this endpoint.
    pub fn matches(&self, path: &str) -> bool {
        self.relative(path).is_some()
    }

    fn relative<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.endpoint.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// A copy of the service that reports `addr` as the client's address to the handler
    /// ([`RequestInfo::remote_addr`](crate::RequestInfo::remote_addr)). Call it once per accepted connection. A request
    /// extension of type `SocketAddr` is used when this is not set.
    pub fn with_peer_addr(&self, addr: SocketAddr) -> SockJs {
        SockJs {
            endpoint: Arc::clone(&self.endpoint),
            peer: Some(addr),
        }
    }

    /// Answer one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        let Some(rest) = self.relative(&path) else {
            return not_found();
        };
        let ep = &self.endpoint;
        let peer = self
            .peer
            .or_else(|| req.extensions().get::<SocketAddr>().copied());
        let route = Route::parse(rest);
        if !matches!(route, Route::Greeting | Route::NotFound) {
            if let Err(why) = ep.config.origins.check(&request_source(&req)) {
                tracing::debug!(%why, "origin refused");
                return text(StatusCode::FORBIDDEN, "Origin not allowed.\n");
            }
        }
        match route {
            Route::Greeting => match *req.method() {
                Method::GET | Method::HEAD => greeting(),
                _ => method_not_allowed("GET, HEAD"),
            },
            Route::Info => match *req.method() {
                Method::GET => info(ep, req.headers()),
                Method::OPTIONS => preflight(req.headers(), "OPTIONS, GET"),
                _ => method_not_allowed("OPTIONS, GET"),
            },
            Route::Iframe => match *req.method() {
                Method::GET | Method::HEAD => self.iframe(req.headers()),
                _ => method_not_allowed("GET, HEAD"),
            },
            Route::RawWebSocket if ep.config.enabled(Transport::WebSocket) => {
                if let Err(reject) = headers_fit(ep, &req) {
                    return reject.into_response();
                }
                transport::raw_websocket::handle(ep, req, peer)
            }
            Route::RawWebSocket => not_found(),
            Route::Session {
                session_id,
                transport: t,
                ..
            } => {
                if !ep.config.enabled(t) {
                    return not_found();
                }
                if !sockjs_core::route::valid_session_id(session_id, ep.config.max_session_id_len) {
                    return text(StatusCode::BAD_REQUEST, "Invalid session id.\n");
                }
                if t.is_receiving() {
                    if let Err(reject) = headers_fit(ep, &req) {
                        return reject.into_response();
                    }
                }
                let id = session_id.to_string();
                // Boxed: the transports' futures are large (kilobytes), and a caller that
                // stores this future inline (hyper keeps a slot of its size in every
                // connection, for the connection's whole life) would pay for them on every
                // connection, even while an `xhr_streaming` response is all it carries.
                Box::pin(transport::dispatch(ep, t, &id, req, peer)).await
            }
            Route::NotFound => not_found(),
        }
    }

    fn iframe(&self, request: &http::HeaderMap) -> Response<ResponseBody> {
        let (page, etag) = &self.endpoint.iframe;
        let matches = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == etag || tag.trim() == "*");
        let mut resp = if matches {
            response(StatusCode::NOT_MODIFIED, empty())
        } else {
            let mut r = response(StatusCode::OK, full(page.clone()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, headers::TEXT_HTML);
            r
        };
        headers::cache_for_a_year(resp.headers_mut());
        resp.headers_mut().insert(header::ETAG, etag.clone());
        // With an origin allow-list, only those origins may frame the page.
        if let Some(csp) = self
            .endpoint
            .config
            .origins
            .frame_ancestors()
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        resp
    }
}

/// Builds a [`SockJs`] endpoint: see [`SockJs::builder`].
#[derive(Debug)]
pub struct SockJsBuilder {
    prefix: String,
    config: Config,
    hub: Option<Hub>,
    policy: LoginPolicy,
    hub_broadcasts: bool,
}

impl SockJsBuilder {
    /// The endpoint's configuration (default [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The hub the endpoint uses (default: a hub of its own, in-process). Endpoints built
    /// with clones of one hub share its rooms, users, presence and broadcasts.
    pub fn hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// What [`Connection::login`](crate::Connection::login) does with a second session of a
    /// user on this endpoint (default [`LoginPolicy::Allow`]).
    pub fn login_policy(mut self, policy: LoginPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether [`Hub::broadcast`] reaches this endpoint's sessions (default `true`). Turn it
    /// off for an endpoint whose sessions speak a protocol of their own over SockJS (a STOMP
    /// broker's do: a broadcast's raw text is not a frame its clients could parse) when it
    /// shares its hub with endpoints that broadcast. Rooms, users and channels are not
    /// affected.
    pub fn hub_broadcasts(mut self, on: bool) -> Self {
        self.hub_broadcasts = on;
        self
    }

    /// The endpoint, running `handler` for every new session.
    pub fn build<H, F>(self, handler: H) -> Result<SockJs, Error>
    where
        H: Fn(Connection) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let SockJsBuilder {
            prefix,
            config,
            hub,
            policy,
            hub_broadcasts,
        } = self;
        config.validate().map_err(Error::Config)?;
        let prefix = prefix.trim_end_matches('/');
        if !(prefix.is_empty() || prefix.starts_with('/')) || prefix.contains(['?', '#']) {
            return Err(Error::InvalidPrefix(prefix.to_string()));
        }
        let iframe = sockjs_core::info::iframe_page(&config.sockjs_url);
        let iframe_etag = HeaderValue::from_str(&sockjs_core::info::etag(iframe.as_bytes()))
            .map_err(|_| Error::InvalidPrefix(prefix.to_string()))?;
        let handler: Handler = Arc::new(move |c| Box::pin(handler(c)));
        let endpoint = Endpoint::new(
            prefix.to_string(),
            config,
            handler,
            hub.unwrap_or_default(),
            policy,
            (Bytes::from(iframe), iframe_etag),
            hub_broadcasts,
        );
        Ok(SockJs::from_endpoint(endpoint))
    }
}

impl<B> hyper::service::Service<Request<B>> for SockJs
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(req).await) })
    }
}

/// With the `tower` feature: the endpoint as a `tower_service::Service`, for axum's
/// `Router::nest_service` and tower middleware. It is always ready.
///
/// axum strips the nesting prefix from the URI, so build the endpoint with the prefix `""`:
///
/// ```ignore
/// let echo = SockJs::new("", Config::default(), handler)?;
/// let app = axum::Router::new().nest_service("/echo", echo);
/// ```
#[cfg(feature = "tower")]
impl<B> tower_service::Service<Request<B>> for SockJs
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        hyper::service::Service::call(self, req)
    }
}

/// A request that opens or receives for a session must fit what a session keeps of its
/// headers (`max_request_headers`), or gets 431.
fn headers_fit<B>(ep: &Endpoint, req: &Request<B>) -> Result<(), transport::Reject> {
    let size = transport::kept_headers_size(req.headers());
    if size > ep.config.max_request_headers {
        tracing::debug!(size, "request headers too large for a session");
        return Err(transport::Reject::HeadersTooLarge);
    }
    Ok(())
}

/// What `req` says about where it comes from, for the origin policy. A header value that is
/// not visible ASCII becomes one that matches nothing.
fn request_source<B>(req: &Request<B>) -> sockjs_core::RequestSource<'_> {
    let h = req.headers();
    let value = |name: &str| h.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let mut source = sockjs_core::RequestSource::with_origin(value(header::ORIGIN.as_str()));
    source.sec_fetch_site = value("sec-fetch-site");
    source.referer = value(header::REFERER.as_str());
    source.host =
        value(header::HOST.as_str()).or_else(|| req.uri().authority().map(|a| a.as_str()));
    source
}

pub(crate) fn response(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut r = response(status, full(Bytes::from_static(body.as_bytes())));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, headers::TEXT_PLAIN);
    r
}

pub(crate) fn not_found() -> Response<ResponseBody> {
    text(StatusCode::NOT_FOUND, "404 Not Found\n")
}

/// 405 with `Allow`, no content type and an empty body, as the protocol wants it.
pub(crate) fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut r = response(StatusCode::METHOD_NOT_ALLOWED, empty());
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

pub(crate) fn preflight(
    request: &http::HeaderMap,
    methods: &'static str,
) -> Response<ResponseBody> {
    let mut r = response(StatusCode::NO_CONTENT, empty());
    headers::preflight(request, r.headers_mut(), methods);
    r
}

fn greeting() -> Response<ResponseBody> {
    text(StatusCode::OK, "Welcome to SockJS!\n")
}

fn info(ep: &Endpoint, request: &http::HeaderMap) -> Response<ResponseBody> {
    let body = sockjs_core::info::info_body(
        ep.config.enabled(Transport::WebSocket),
        ep.config.cookie_needed,
        rand::random::<u32>(),
    );
    let mut r = response(StatusCode::OK, full(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, headers::APPLICATION_JSON);
    headers::no_cache(h);
    headers::cors(request, h);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_request_future_stays_small() {
        // Callers (and hyper's connection, for its whole life) hold this future inline; the
        // transports' large futures are boxed behind it.
        let echo = SockJs::new("/echo", Config::default(), |_conn| async {}).unwrap();
        let req = Request::new(http_body_util::Empty::<Bytes>::new());
        let size = std::mem::size_of_val(&echo.handle(req));
        assert!(size <= 1024, "SockJs::handle's future is {size} bytes");
    }
}

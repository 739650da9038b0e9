//! The mountable service: routing under a prefix, the static answers (greeting, `/info`, the
//! iframe page, preflights, 404/405) and session creation.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use sockjs_core::{Config, Registry, Route, Transport};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::body::{empty, full, ResponseBody};
use crate::connection::{Connection, RequestInfo};
use crate::error::Error;
use crate::headers;
use crate::session::SessionHandle;
use crate::transport;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type Handler = Arc<dyn Fn(Connection) -> BoxFuture + Send + Sync>;

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
            .field("sessions", &self.endpoint.registry.len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Endpoint {
    pub(crate) prefix: String,
    pub(crate) config: Config,
    handler: Handler,
    pub(crate) registry: Registry<Arc<SessionHandle>>,
    /// Live websocket sessions (they are not in the registry: their ids may repeat).
    pub(crate) ws_sessions: AtomicUsize,
    iframe: Bytes,
    iframe_etag: HeaderValue,
}

/// What a session is being created for.
pub(crate) struct NewSession {
    pub(crate) transport: Option<Transport>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) uri: http::Uri,
    pub(crate) remote_addr: Option<SocketAddr>,
}

/// A session could not be created.
#[derive(Debug)]
pub(crate) struct SessionLimit;

impl Endpoint {
    /// Create a session, spawn its application handler, and hand back the driver's handle.
    pub(crate) fn new_session(&self, new: NewSession) -> (Arc<SessionHandle>, Connection) {
        let cfg = &self.config;
        let (tx, rx) = mpsc::channel(cfg.max_inbound_queue);
        let core = sockjs_core::Session::new(crate::session::now(), cfg);
        let raw = new.transport.is_none();
        let session = SessionHandle::new(core, tx, cfg.overflow_policy, cfg.max_message_size, raw);
        let info = Arc::new(RequestInfo {
            headers: new.headers,
            remote_addr: new.remote_addr,
            uri: new.uri,
            transport: new.transport,
        });
        let connection = Connection {
            session: Arc::clone(&session),
            inbound: rx,
            info,
        };
        (session, connection)
    }

    pub(crate) fn spawn_handler(&self, connection: Connection) {
        let span = tracing::info_span!(
            "sockjs_session",
            endpoint = %self.prefix,
            transport = connection.info.transport.map_or("raw_websocket", |t| t.as_str()),
            peer = ?connection.info.remote_addr,
        );
        let fut = (self.handler)(connection);
        tokio::spawn(
            async move {
                tracing::debug!("session opened");
                fut.await;
            }
            .instrument(span),
        );
    }

    /// The session `id` on an HTTP transport, created (with its handler and timer) if it does
    /// not exist or has expired.
    pub(crate) fn http_session(
        self: &Arc<Self>,
        id: &str,
        new: impl FnOnce() -> NewSession,
    ) -> Result<Arc<SessionHandle>, SessionLimit> {
        if self.registry.len() + self.ws_sessions.load(Ordering::Relaxed)
            >= self.config.max_sessions
            && self.registry.get(id).is_none()
        {
            return Err(SessionLimit);
        }
        let mut created = None;
        let (session, is_new) = self
            .registry
            .replace_if(
                id,
                |s| s.is_expired(),
                || {
                    let (session, connection) = self.new_session(new());
                    created = Some(connection);
                    session
                },
            )
            .map_err(|_| SessionLimit)?;
        if is_new {
            if let Some(connection) = created {
                self.spawn_handler(connection);
            }
            tokio::spawn(run_timer(Arc::clone(self), id.into(), Arc::clone(&session)));
        }
        Ok(session)
    }
}

/// The per-session timer of an HTTP session: heartbeats, expiry, then removal from the
/// registry.
async fn run_timer(endpoint: Arc<Endpoint>, id: Box<str>, session: Arc<SessionHandle>) {
    while let Some(deadline) = session.poll_timeout() {
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                session.handle_timeout();
            }
            _ = session.wake_timer.notified() => {}
        }
    }
    endpoint
        .registry
        .remove_if(&id, |s| Arc::ptr_eq(s, &session));
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
        config.validate().map_err(Error::Config)?;
        let prefix = prefix.trim_end_matches('/');
        if !(prefix.is_empty() || prefix.starts_with('/')) || prefix.contains(['?', '#']) {
            return Err(Error::InvalidPrefix(prefix.to_string()));
        }
        let iframe = sockjs_core::info::iframe_page(&config.sockjs_url);
        let iframe_etag = HeaderValue::from_str(&sockjs_core::info::etag(iframe.as_bytes()))
            .map_err(|_| Error::InvalidPrefix(prefix.to_string()))?;
        let registry = Registry::new(config.max_sessions);
        let handler: Handler = Arc::new(move |c| Box::pin(handler(c)));
        Ok(SockJs {
            endpoint: Arc::new(Endpoint {
                prefix: prefix.to_string(),
                config,
                handler,
                registry,
                ws_sessions: AtomicUsize::new(0),
                iframe: Bytes::from(iframe),
                iframe_etag,
            }),
            peer: None,
        })
    }

    /// The prefix the endpoint is mounted under.
    pub fn prefix(&self) -> &str {
        &self.endpoint.prefix
    }

    /// The endpoint's configuration.
    pub fn config(&self) -> &Config {
        &self.endpoint.config
    }

    /// Number of live sessions on HTTP transports plus websocket sessions.
    pub fn session_count(&self) -> usize {
        self.endpoint.registry.len() + self.endpoint.ws_sessions.load(Ordering::Relaxed)
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
    /// ([`RequestInfo::remote_addr`]). Call it once per accepted connection. A request
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
        match Route::parse(rest) {
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
                let id = session_id.to_string();
                transport::dispatch(ep, t, &id, req, peer).await
            }
            Route::NotFound => not_found(),
        }
    }

    fn iframe(&self, request: &http::HeaderMap) -> Response<ResponseBody> {
        let ep = &self.endpoint;
        let matches = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == ep.iframe_etag || tag.trim() == "*");
        let mut resp = if matches {
            response(StatusCode::NOT_MODIFIED, empty())
        } else {
            let mut r = response(StatusCode::OK, full(ep.iframe.clone()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, headers::TEXT_HTML);
            r
        };
        headers::cache_for_a_year(resp.headers_mut());
        resp.headers_mut()
            .insert(header::ETAG, ep.iframe_etag.clone());
        resp
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

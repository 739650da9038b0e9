//! The applications behind the runnable examples in `examples/`, as functions so that the
//! tests in `tests/` start exactly what the examples run.
//!
//! - [`serve_hyper`]: a plain hyper accept loop routing to several SockJS endpoints and the
//!   application's own routes.
//! - [`multi_endpoints`]: `/echo`, `/broadcast`, `/whoami` and a Prometheus `/metrics`.
//! - [`axum_router`]: the same endpoints nested in an axum `Router` beside axum's own routes.
//! - [`chat`]: the chat demo (presence, messages, admin kick with a 4000-range code).
//! - [`production`]: the production example's settings and server loop (origin rules, limits,
//!   graceful shutdown), with what they do and do not cover.
//! - [`tls`]: HTTPS with rustls, HTTP/2 and HTTP/1.1 on one port.
//! - [`stomp_greeting`]: Spring's getting-started STOMP greeting app, on `sockjs-stomp`.
//! - [`stomp_chat`]: a STOMP chat with private messages and an online list.
#![deny(missing_docs)]

pub mod chat;
pub mod production;
pub mod stomp_chat;
pub mod stomp_greeting;
pub mod tls;

pub use tls::serve_tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_hyper::{Config, Connection, ResponseBody, SockJs};

/// Log to stderr at `info` (or what `RUST_LOG` says), for the example binaries.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// The application's own answer for a path outside every SockJS endpoint.
pub type Fallback = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>
        + Send
        + Sync,
>;

/// A complete response with a body and a content type.
pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// Files the example servers serve themselves (client libraries given on the command line or
/// in the environment), by path: a [`Fallback`] answering them, the page at `/` and 404
/// elsewhere.
pub fn page_and_files(page: String, files: Vec<(String, Bytes)>) -> Fallback {
    let page = Bytes::from(page);
    let files = Arc::new(files);
    Arc::new(move |req: Request<Incoming>| {
        let page = page.clone();
        let file = files
            .iter()
            .find(|(path, _)| path == req.uri().path())
            .map(|(_, body)| body.clone());
        let root = req.uri().path() == "/";
        Box::pin(async move {
            match (root, file) {
                (true, _) => respond(StatusCode::OK, "text/html; charset=utf-8", page),
                (false, Some(js)) => {
                    respond(StatusCode::OK, "application/javascript; charset=utf-8", js)
                }
                _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            }
        })
    })
}

/// Serve `endpoints` (first match by prefix) and `fallback` for everything else on
/// `listener`, one task per connection, until the future is dropped.
pub async fn serve_hyper(
    listener: tokio::net::TcpListener,
    endpoints: Vec<SockJs>,
    fallback: Fallback,
) -> std::io::Result<()> {
    let endpoints = Arc::new(endpoints);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let endpoints = Arc::clone(&endpoints);
        let fallback = Arc::clone(&fallback);
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let endpoints = Arc::clone(&endpoints);
                let fallback = Arc::clone(&fallback);
                async move { Ok::<_, Infallible>(route(&endpoints, &fallback, peer, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}

/// Answer one request: the first endpoint whose prefix matches, else `fallback`.
pub async fn route(
    endpoints: &[SockJs],
    fallback: &Fallback,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let path = req.uri().path();
    match endpoints.iter().find(|e| e.matches(path)) {
        Some(endpoint) => endpoint.with_peer_addr(peer).handle(req).await,
        None => fallback(req).await,
    }
}

/// The demo page of the echo examples: a form sending to `/echo` and a log of what comes
/// back, with the transport sockjs-client chose and the HTTP version (`h2`, `http/1.1`) of
/// each finished request to this server. `/?transport=NAME` forces a transport.
/// `window.demo` records the transport, the messages received and the close code.
pub fn echo_page(title: &str, client_url: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script src="{client_url}"></script></head>
<body>
<h1>{title}</h1>
<form id="f"><input id="m" autocomplete="off" placeholder="message"> <button>send</button></form>
<pre id="log"></pre>
<script>
  // ?transport=xhr-streaming (or xhr-polling, eventsource, websocket, ...) forces one.
  const forced = new URLSearchParams(location.search).get('transport');
  const demo = window.demo = {{ transport: null, received: [], closed: null }};
  const log = (line) => document.getElementById('log').textContent += line + '\n';
  // The HTTP version of every finished request of this page to this server (h2 or http/1.1).
  demo.versions = () => performance.getEntriesByType('resource')
    .filter((e) => e.name.startsWith(location.origin))
    .map((e) => ({{ path: new URL(e.name).pathname, protocol: e.nextHopProtocol }}));
  const sock = new SockJS('/echo', null, forced ? {{ transports: [forced] }} : {{}});
  sock.onopen = () => {{
    demo.transport = sock.transport;
    log('open (' + sock.transport + '); requests: ' +
      demo.versions().map((v) => v.path.split('/').pop() + ' ' + v.protocol).join(', '));
  }};
  sock.onmessage = (e) => {{ demo.received.push(e.data); log('< ' + e.data); }};
  sock.onclose = (e) => {{ demo.closed = e.code; log('close ' + e.code + ' ' + e.reason); }};
  document.getElementById('f').onsubmit = (e) => {{
    e.preventDefault();
    const m = document.getElementById('m');
    sock.send(m.value); log('> ' + m.value); m.value = '';
  }};
</script>
</body></html>"#
    )
}

/// Echo every message back.
pub async fn echo(mut conn: Connection) {
    while let Some(message) = conn.recv().await {
        if conn.send(message).await.is_err() {
            break;
        }
    }
}

/// Tell the client the address and transport it came with, then echo.
pub async fn whoami(conn: Connection) {
    let info = conn.request();
    let peer = info
        .remote_addr
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    let transport = info.transport.map_or("raw_websocket", |t| t.as_str());
    if conn.send(format!("{peer} {transport}")).await.is_ok() {
        echo(conn).await;
    }
}

/// The endpoints of the multi-endpoint examples, mounted under `base` prefixes
/// (`"/echo"`, ... when `nested` is false; `""` each when a router strips the prefix).
pub struct Endpoints {
    /// Echo.
    pub echo: SockJs,
    /// Every message to every session of this endpoint.
    pub broadcast: SockJs,
    /// Answers the client's address and transport.
    pub whoami: SockJs,
}

/// Build the three endpoints. With `nested`, every prefix is `""` (for axum's
/// `nest_service`, which strips the prefix).
pub fn endpoints(config: &Config, nested: bool) -> Result<Endpoints, sockjs_hyper::Error> {
    let p = |prefix: &'static str| if nested { "" } else { prefix };
    let echo = SockJs::new(p("/echo"), config.clone(), echo)?;
    // The handler reaches its own endpoint from the connection to broadcast.
    let broadcast = SockJs::new(p("/broadcast"), config.clone(), |mut conn| async move {
        let endpoint = conn.endpoint();
        while let Some(message) = conn.recv().await {
            let _ = endpoint.broadcast(&message);
        }
    })?;
    let whoami = SockJs::new(p("/whoami"), config.clone(), whoami)?;
    Ok(Endpoints {
        echo,
        broadcast,
        whoami,
    })
}

/// The Prometheus text of every endpoint's statistics.
pub fn metrics(endpoints: &[(&str, &SockJs)]) -> String {
    endpoints
        .iter()
        .map(|(name, e)| e.stats().to_prometheus(name))
        .collect()
}

/// `/echo`, `/broadcast`, `/whoami` and the application's own `/` and `/metrics`, as a plain
/// hyper server (see `examples/multi.rs`).
pub fn multi_endpoints(config: &Config) -> Result<(Vec<SockJs>, Fallback), sockjs_hyper::Error> {
    let e = endpoints(config, false)?;
    let all = vec![e.echo.clone(), e.broadcast.clone(), e.whoami.clone()];
    let fallback: Fallback = Arc::new(move |req: Request<Incoming>| {
        let e = (e.echo.clone(), e.broadcast.clone(), e.whoami.clone());
        Box::pin(async move {
            match req.uri().path() {
                "/" => respond(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    "sockjs-rs: /echo, /broadcast, /whoami, /metrics\n",
                ),
                "/metrics" => respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    metrics(&[("/echo", &e.0), ("/broadcast", &e.1), ("/whoami", &e.2)]),
                ),
                _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            }
        })
    });
    Ok((all, fallback))
}

/// The same endpoints nested in an axum `Router` beside axum's own routes
/// (see `examples/axum.rs`).
pub fn axum_router(config: &Config) -> Result<axum::Router, sockjs_hyper::Error> {
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    let e = endpoints(config, true)?;
    let (echo, broadcast, whoami) = (e.echo.clone(), e.broadcast.clone(), e.whoami.clone());
    Ok(axum::Router::new()
        .route(
            "/",
            get(|| async { "axum + sockjs-rs: /echo, /broadcast, /whoami, /metrics\n" }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = metrics(&[
                    ("/echo", &echo),
                    ("/broadcast", &broadcast),
                    ("/whoami", &whoami),
                ]);
                async move { text }
            }),
        )
        .nest_service("/echo", e.echo)
        .nest_service("/broadcast", e.broadcast)
        .nest_service("/whoami", e.whoami)
        // sockjs-hyper reads the client address from a `SocketAddr` request extension;
        // axum provides it as `ConnectInfo` (with `into_make_service_with_connect_info`).
        .layer(axum::middleware::map_request(
            |mut req: axum::extract::Request| async move {
                if let Some(ConnectInfo(addr)) =
                    req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
                {
                    req.extensions_mut().insert(addr);
                }
                req
            },
        )))
}

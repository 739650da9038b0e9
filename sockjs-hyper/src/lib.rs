//! A SockJS server for hyper 1.x.
//!
//! [`SockJs`] is a hyper [`Service`](hyper::service::Service) serving one SockJS endpoint
//! under a prefix: mount it next to your own routes. Each new session runs your handler, a
//! plain async closure receiving a [`Connection`].
//!
//! ```no_run
//! use hyper::server::conn::http1;
//! use hyper_util::rt::TokioIo;
//! use sockjs_hyper::{Config, SockJs};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let echo = SockJs::new("/echo", Config::default(), |mut conn| async move {
//!     while let Some(message) = conn.recv().await {
//!         if conn.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//! })?;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     sockjs_hyper::prepare_tcp(&stream)?; // see its docs: write_timeout and slow readers
//!     let service = echo.with_peer_addr(peer);
//!     tokio::spawn(async move {
//!         let conn = http1::Builder::new()
//!             .serve_connection(TokioIo::new(stream), service)
//!             .with_upgrades(); // needed by the websocket transport
//!         if let Err(e) = conn.await {
//!             tracing::debug!(error = %e, "connection ended with an error");
//!         }
//!     });
//! }
//! # }
//! ```
//!
//! Transports served: `websocket`, `xhr` + `xhr_send`, `xhr_streaming`, `eventsource`,
//! `htmlfile`, `jsonp` + `jsonp_send`, the raw `/websocket` endpoint, plus the greeting,
//! `/info` and the iframe page. The protocol core (frames, session state machine,
//! configuration) is the `sockjs-core` crate, re-exported here as [`core`].
//!
//! # Mounting in axum
//!
//! With the `tower` feature, [`SockJs`] is a `tower_service::Service` and nests in an axum
//! `Router`. axum strips the nesting prefix, so build the endpoint with the prefix `""`:
//!
//! ```ignore
//! let echo = SockJs::new("", Config::default(), handler)?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my app" }))
//!     .nest_service("/echo", echo);
//! ```
//!
//! The crate's `examples/axum.rs` is a complete, tested version (client addresses through
//! `ConnectInfo` included).
//!
//! # HTTP/2 and TLS
//!
//! Every HTTP transport works over HTTP/2 as it does over HTTP/1.1: streaming responses send
//! each frame as it is produced, any number of sessions share one connection (each receiving
//! request and each send is a stream of its own), and no response carries a header that is
//! illegal in HTTP/2. Serve both versions on one port with hyper-util's `auto` builder, and
//! TLS with `tokio-rustls` in front of it (ALPN `h2` and `http/1.1`; the crate's
//! `examples/tls.rs` is a complete, tested HTTPS server).
//!
//! Websockets keep working over HTTP/1.1 on the same port (`serve_connection_with_upgrades`).
//! With the `http2` feature, the websocket transport and the raw `/websocket` endpoint also
//! accept RFC 8441 extended `CONNECT`, the HTTP/2 websocket handshake, which clients use only
//! once the server advertises it (`enable_connect_protocol`):
//!
//! ```no_run
//! use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
//! use hyper_util::server::conn::auto;
//!
//! # async fn run(echo: sockjs_hyper::SockJs) -> Result<(), Box<dyn std::error::Error>> {
//! let mut builder = auto::Builder::new(TokioExecutor::new());
//! builder.http2().timer(TokioTimer::new()).enable_connect_protocol();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     sockjs_hyper::prepare_tcp(&stream)?;
//!     let service = echo.with_peer_addr(peer);
//!     let builder = builder.clone();
//!     tokio::spawn(async move {
//!         let io = TokioIo::new(stream); // or a tokio-rustls stream
//!         let _ = builder.serve_connection_with_upgrades(io, service).await;
//!     });
//! }
//! # }
//! ```
//!
//! # Connections
//!
//! A [`Connection`] is a `futures::Stream` of the client's messages and a `futures::Sink` of
//! outgoing ones; [`Connection::split`] gives a reader and a cloneable writer
//! ([`ConnectionSender`]) for different tasks. [`Connection::recv`] is cancel-safe.
//! Sending follows the endpoint's [`OverflowPolicy`] when the session's bounded outbound
//! queue is full: wait (default), fail with [`SendError::Full`], or close with 1013.
//!
//! ```
//! # async fn handler(conn: sockjs_hyper::Connection) {
//! use futures::{SinkExt, StreamExt};
//! let (mut reader, mut writer) = conn.split();
//! let pump = tokio::spawn(async move {
//!     let _ = writer.send("welcome".to_string()).await;
//!     writer
//! });
//! while let Some(message) = reader.next().await {
//!     tracing::debug!(%message, "received");
//! }
//! let _ = pump.await;
//! # }
//! ```
//!
//! # Sessions, rooms, users and broadcast
//!
//! [`SockJs::sessions`] lists the live sessions, [`SockJs::session_count`] counts them, and
//! [`SockJs::broadcast`] encodes a message once and shares the bytes across sessions (a
//! session whose queue is full is skipped, never waited for).
//!
//! Rooms, users and presence are the endpoint's [`hub`], reached from every handler with
//! [`Connection::hub`] (and the endpoint itself with [`Connection::endpoint`]): a session
//! joins rooms ([`Connection::join`]), logs in as a user ([`Connection::login`], with the
//! endpoint's duplicate-login policy) and leaves both by itself when it ends.
//! [`SockJs::sessions_of`] finds a user's sessions in O(1), to kick them with a 4000-range
//! code that sockjs-client reports to `onclose`; [`Hub::kick_user`](hub::Hub::kick_user) does
//! it on every node of a cluster.
//!
//! ```
//! # async fn handler(conn: sockjs_hyper::Connection) {
//! let hub = conn.hub();
//! if conn.login("mallory").await.is_ok() {
//!     let _ = conn.join("lobby");
//! }
//! let report = hub.send_to_room("lobby", "mallory is here").unwrap();
//! tracing::info!(sent = report.sent, skipped = report.full, "room send");
//! hub.kick_user("mallory", 4001, "Kicked by admin").unwrap();
//! tracing::info!(online = ?hub.presence(), "who is online");
//! # }
//! ```
//!
//! # Why a session ended
//!
//! When [`Connection::recv`] returns `None`, [`Connection::close_cause`] says why:
//! [`CloseCause::ClientClosed`], [`CloseCause::Interrupted`] (receiver aborted, proxy cut),
//! [`CloseCause::TimedOut`] (no receiver within the disconnect delay),
//! [`CloseCause::Server`] (with the code and reason), [`CloseCause::LimitExceeded`],
//! [`CloseCause::ProtocolError`] (broken framing) or [`CloseCause::Shutdown`].
//!
//! # Delivery of client messages
//!
//! An HTTP send (`xhr_send`, `jsonp_send`) answers success only once [`Connection::recv`] has
//! returned every message of it, so a slow application slows the client down instead of
//! buffering. If the session closes first, the messages not yet returned are withdrawn:
//! `recv` never returns them, the send is answered 410 (sockjs-client then reports a failed
//! send) and [`Stats::messages_lost`] counts them. Send bodies are read within
//! `Config::body_read_timeout` and the `max_send_bytes_*` budgets, which are taken before a
//! byte of the body is read.
//!
//! # Observability
//!
//! Every session runs in a `tracing` span `sockjs_session` with the endpoint, transport and
//! peer address (never the session id), with `session opened` and `session closed` events
//! (the latter with the cause). [`SockJs::stats`] is a snapshot of sessions open by
//! transport, sessions opened and closed by cause, messages and bytes in and out, and failed
//! sends (timed out, refused, messages lost);
//! [`Stats::to_prometheus`] renders it in the Prometheus text format.
//!
//! # Shutdown
//!
//! [`SockJs::shutdown`] refuses new sessions, closes every live one (including sessions
//! parked between HTTP requests) with `1001 "Server shutting down"` after their queued
//! messages, and waits up to a deadline for them to end.
#![deny(missing_docs)]

mod body;
mod connection;
mod endpoint;
mod error;
mod headers;
pub mod hub;
mod service;
mod session;
mod stats;
mod tcp;
mod transport;

pub use body::ResponseBody;
pub use connection::{Connection, ConnectionSender, RequestInfo, SendError};
pub use endpoint::BroadcastReport;
pub use error::Error;
pub use service::{SockJs, SockJsBuilder};
/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use sockjs_core::{self as core, CloseCause, Config, OverflowPolicy, Transport, TransportSet};
pub use stats::Stats;
pub use tcp::{prepare_tcp, UNSENT_LIMIT};

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
//! `htmlfile`, `jsonp` + `jsonp_send`, plus the greeting, `/info` and the iframe page. The
//! protocol core (frames, session state machine, configuration) is the `sockjs-core` crate,
//! re-exported here.
#![deny(missing_docs)]

mod body;
mod connection;
mod endpoint;
mod error;
mod headers;
mod service;
mod session;
mod stats;
mod transport;

pub use body::ResponseBody;
pub use connection::{Connection, ConnectionSender, RequestInfo, SendError};
pub use endpoint::BroadcastReport;
pub use error::Error;
pub use service::SockJs;
pub use sockjs_core::{self as core, CloseCause, Config, OverflowPolicy, Transport, TransportSet};
pub use stats::Stats;

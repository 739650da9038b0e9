//! Several SockJS endpoints in one plain hyper server, beside the application's own routes,
//! with the endpoints' statistics served in the Prometheus text format at `/metrics`.
//!
//! Run it with `cargo run -p sockjs-examples --example multi`, then try
//! `curl http://127.0.0.1:8080/echo/info` and `curl http://127.0.0.1:8080/metrics`.
//! Environment: `LISTEN` (default `127.0.0.1:8080`).

use sockjs_examples::{multi_endpoints, serve_hyper};
use sockjs_hyper::Config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let (endpoints, fallback) = multi_endpoints(&Config::default())?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{}/", listener.local_addr()?);
    serve_hyper(listener, endpoints, fallback).await?;
    Ok(())
}

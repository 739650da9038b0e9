//! A production-shaped deployment: an origin allow-list that also covers script and iframe
//! loads, per-address and size limits (request headers kept per session included), a
//! heartbeat below the proxy's idle timeout, websocket ping liveness, a write timeout and a
//! header read timeout for slow clients, and a graceful shutdown on Ctrl-C that closes every
//! session with 1001 while still answering new connections (503 for new sessions).
//!
//! What these settings do and do not cover is spelled out in `src/production.rs` (the
//! settings and the server loop live there, so that `tests/apps.rs` runs exactly this).
//!
//! Run it with `cargo run -p sockjs-examples --example production`, then press Ctrl-C.
//! Environment: `LISTEN` (default `127.0.0.1:8080`), `ALLOWED_ORIGINS` (comma-separated,
//! default `http://127.0.0.1:8080,http://localhost:8080`). Non-browser clients must send an
//! `Origin` from that list.

use std::time::Duration;

use sockjs_examples::production;
use sockjs_hyper::SockJs;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let origins = std::env::var("ALLOWED_ORIGINS")
        .unwrap_or_else(|_| "http://127.0.0.1:8080,http://localhost:8080".into());

    let config = production::config(origins.split(',').map(str::trim))?;
    let echo = SockJs::new("/echo", config, sockjs_examples::echo)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{}/echo", listener.local_addr()?);

    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C; running until killed");
            std::future::pending::<()>().await;
        }
    };
    production::serve(listener, echo, ctrl_c, Duration::from_secs(10)).await;
    Ok(())
}

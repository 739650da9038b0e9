//! A production-shaped deployment: an origin allow-list, per-address, size and upload limits, a
//! heartbeat below the proxy's idle timeout, websocket ping liveness, a header read timeout
//! for slow clients, and a graceful shutdown on Ctrl-C that closes every session with 1001.
//!
//! Run it with `cargo run -p sockjs-examples --example production`, then press Ctrl-C.
//! Environment: `LISTEN` (default `127.0.0.1:8080`), `ALLOWED_ORIGINS` (comma-separated,
//! default `http://127.0.0.1:8080,http://localhost:8080`).

use std::convert::Infallible;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sockjs_hyper::core::OriginPolicy;
use sockjs_hyper::{Config, SockJs};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let origins = std::env::var("ALLOWED_ORIGINS")
        .unwrap_or_else(|_| "http://127.0.0.1:8080,http://localhost:8080".into());

    let mut config = Config::default();
    // Only these pages may open sessions (403 otherwise, on every transport).
    config.origins = OriginPolicy::allow(origins.split(',').map(str::trim))?;
    // Below nginx's default proxy_read_timeout (60 s) with room to spare.
    config.heartbeat_interval = Duration::from_secs(20);
    // Clients connect directly here; behind a proxy leave this off.
    config.max_sessions_per_addr = Some(64);
    config.max_request_body = 256 * 1024;
    config.max_message_size = 64 * 1024;
    // Uploads: a session holds one body's worth at most, the endpoint 16 MiB in all (503
    // beyond, before the body is read); a body must arrive within 10 s (408 otherwise).
    config.max_send_bytes_per_session = config.max_request_body;
    config.max_send_bytes_per_endpoint = 16 * 1024 * 1024;
    config.body_read_timeout = Duration::from_secs(10);
    config.websocket_ping_interval = Some(Duration::from_secs(30));

    let echo = SockJs::new("/echo", config, sockjs_examples::echo)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{}/echo", listener.local_addr()?);

    let accept = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let echo = echo.with_peer_addr(peer);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let echo = echo.clone();
                    async move { Ok::<_, Infallible>(echo.handle(req).await) }
                });
                let conn = http1::Builder::new()
                    // A client that does not finish its request head in time is dropped.
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection error");
                }
            });
        }
    };
    tokio::select! {
        () = accept => {}
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down: closing every session with 1001");
            let clean = echo.shutdown(Duration::from_secs(10)).await;
            tracing::info!(clean, "shutdown complete");
        }
    }
    Ok(())
}

//! The production-shaped deployment of `examples/production.rs`: its settings and its server
//! loop, as functions so that `tests/apps.rs` runs exactly what the example runs.
//!
//! What the settings cover, and what they do not:
//!
//! - **Origins.** Only the allowed pages may use the endpoint from a browser: a request with
//!   an `Origin` must name one; a request without one (script and iframe loads: jsonp,
//!   htmlfile, the iframe page) is judged by `Sec-Fetch-Site` and then by the `Referer`'s
//!   origin; a request with none of the three is refused here (`allow_unlabeled` off), so a
//!   non-browser client must send an allowed `Origin` itself. This protects the visitors of
//!   other sites from having their cookies used; it does not authenticate anyone — any
//!   non-browser client can send any header. Browsers send `Sec-Fetch-Site` only to HTTPS
//!   (and localhost) origins: serve over HTTPS.
//! - **Per-client limits.** At most 64 sessions per client address (the server faces clients
//!   directly; behind a proxy every client has the proxy's address, so turn it off there),
//!   16 KiB of request headers kept per session (431 beyond), 256 KiB bodies, 64 KiB
//!   messages; upload bodies held at once bounded to 256 KiB per session and 16 MiB in all
//!   (503 beyond, before the body is read), and a body must arrive within 10 s (408). Everything else keeps its documented bound (see the README's limits table).
//! - **Dead and slow clients.** `h` frames every 20 s, websocket pings every 30 s (a client
//!   that answers no ping for a whole interval is dropped), writes that make no progress for
//!   30 s drop the session (each connection is prepared with `sockjs_hyper::prepare_tcp`, so
//!   that a client reading slowly but steadily shows progress), and a request head must
//!   arrive within 10 s.
//! - **Shutdown.** [`serve`] keeps accepting connections while the sessions drain, so a new
//!   client is answered (503 for a new session) instead of waiting in the listen queue; the
//!   listener is closed when the drain ends.
//!
//! Not covered: TLS (terminate it in front, or wrap the accepted streams), authentication
//! (the handler's business: check a cookie or token from `Connection::request`), and rate
//! limits on message volume.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use sockjs_hyper::core::origin::InvalidOrigin;
use sockjs_hyper::core::OriginPolicy;
use sockjs_hyper::{Config, SockJs};

/// The endpoint configuration of the production example, allowing pages of `origins`.
pub fn config<I, S>(origins: I) -> Result<Config, InvalidOrigin>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut config = Config::default();
    // Only these pages may open sessions (403 otherwise, on every transport, /info and the
    // iframe page); clients that say nothing about where they come from are refused too.
    let mut policy = OriginPolicy::allow(origins)?;
    policy.allow_unlabeled = false;
    config.origins = policy;
    // Below nginx's default proxy_read_timeout (60 s) with room to spare.
    config.heartbeat_interval = Duration::from_secs(20);
    // Clients connect directly here; behind a proxy leave this off.
    config.max_sessions_per_addr = Some(64);
    config.max_request_body = 256 * 1024;
    config.max_message_size = 64 * 1024;
    config.max_request_headers = 16 * 1024;
    // Uploads: a session holds one body's worth at most, the endpoint 16 MiB in all (503
    // beyond, before the body is read); a body must arrive within 10 s (408 otherwise).
    config.max_send_bytes_per_session = config.max_request_body;
    config.max_send_bytes_per_endpoint = 16 * 1024 * 1024;
    config.body_read_timeout = Duration::from_secs(10);
    config.websocket_ping_interval = Some(Duration::from_secs(30));
    Ok(config)
}

/// Serve `endpoint` on `listener` until `shutdown` completes, then close every session with
/// 1001 and wait up to `drain` for them to end, still accepting connections meanwhile (new
/// sessions get 503). Returns whether every session ended in time; the listener is closed
/// on return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    endpoint: SockJs,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    let accept = accept_loop(&listener, &endpoint);
    tokio::pin!(accept);
    tokio::select! {
        () = &mut accept => {}
        () = shutdown => {}
    }
    tracing::info!("shutting down: closing every session with 1001");
    // Keep answering while the sessions drain: a connection accepted now gets its answer
    // (503 for a new session) instead of waiting in the listen queue until the process ends.
    let clean = tokio::select! {
        () = &mut accept => false,
        clean = endpoint.shutdown(drain) => clean,
    };
    tracing::info!(clean, "shutdown complete");
    clean
}

async fn accept_loop(listener: &tokio::net::TcpListener, endpoint: &SockJs) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // So that write_timeout sees a slow but steady reader's progress.
        crate::prepare(&stream);
        let endpoint = endpoint.with_peer_addr(peer);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let endpoint = endpoint.clone();
                async move { Ok::<_, Infallible>(endpoint.handle(req).await) }
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
}

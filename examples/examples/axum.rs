//! SockJS endpoints nested in an axum `Router` (`nest_service`, with sockjs-hyper's `tower`
//! feature) beside axum's own routes, the client address passed through `ConnectInfo`.
//!
//! Run it with `cargo run -p sockjs-examples --example axum`, then try
//! `curl http://127.0.0.1:8080/echo/info`. Environment: `LISTEN` (default `127.0.0.1:8080`).

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use sockjs_examples::axum_router;
use sockjs_hyper::Config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let app = axum_router(&Config::default())?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("listening on http://{}/", listener.local_addr()?);
    // Each accepted connection prepared as sockjs_hyper::prepare_tcp says.
    let listener = listener.tap_io(|tcp| sockjs_examples::prepare(tcp));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

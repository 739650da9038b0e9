//! The chat demo: open http://127.0.0.1:8080/?name=alice in one browser tab and
//! http://127.0.0.1:8080/?name=admin&token=letmein in another; the admin can type
//! `/kick alice`, and alice's page stops reconnecting (close code 4001).
//!
//! Run it with `cargo run -p sockjs-examples --example chat`. Environment: `LISTEN` (default
//! `127.0.0.1:8080`), `CHAT_ADMIN_TOKEN` (default `letmein`), `SOCKJS_CLIENT_URL` (the
//! sockjs-client bundle the page loads; default jsDelivr), or `SOCKJS_CLIENT_FILE` (a local
//! `sockjs.min.js` the server then serves itself at `/sockjs-client.js`).

use std::sync::Arc;

use hyper::StatusCode;
use sockjs_examples::{chat, respond, serve_hyper, Fallback};
use sockjs_hyper::Config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let token = std::env::var("CHAT_ADMIN_TOKEN").unwrap_or_else(|_| "letmein".into());
    let bundle = match std::env::var("SOCKJS_CLIENT_FILE") {
        Ok(path) => Some(std::fs::read(path)?),
        Err(_) => None,
    };
    let mut config = Config::default();
    if bundle.is_some() {
        config.sockjs_url = "/sockjs-client.js".into();
    } else if let Ok(url) = std::env::var("SOCKJS_CLIENT_URL") {
        config.sockjs_url = url;
    }
    let page = chat::page(&config.sockjs_url, "/chat");
    let endpoint = chat::endpoint("/chat", config, token)?;
    let bundle = bundle.map(bytes::Bytes::from);
    let fallback: Fallback = Arc::new(move |req| {
        let page = page.clone();
        let bundle = bundle.clone();
        Box::pin(async move {
            match (req.uri().path(), bundle) {
                ("/", _) => respond(StatusCode::OK, "text/html; charset=utf-8", page),
                ("/sockjs-client.js", Some(js)) => {
                    respond(StatusCode::OK, "application/javascript; charset=utf-8", js)
                }
                _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            }
        })
    });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("chat on http://{}/", listener.local_addr()?);
    tokio::select! {
        r = serve_hyper(listener, vec![endpoint.clone()], fallback) => r?,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            endpoint.shutdown(std::time::Duration::from_secs(5)).await;
        }
    }
    Ok(())
}

//! Spring's getting-started STOMP greeting app on sockjs-stomp: open http://127.0.0.1:8080/,
//! press Connect, type a name and Send; the greeting comes back on `/topic/greetings`.
//!
//! Run it with `cargo run -p sockjs-examples --example stomp_greeting`. Environment: `LISTEN`
//! (default `127.0.0.1:8080`), `SOCKJS_CLIENT_FILE` and `STOMPJS_FILE` (local copies of
//! `sockjs.min.js` and stomp.js 2.3.3's `stomp.min.js`, which the server then serves at the
//! WebJars paths Spring uses; without them the page loads both from jsDelivr).

use sockjs_examples::stomp_greeting::{self, Scripts, WEBJAR_SOCKJS, WEBJAR_STOMP};
use sockjs_examples::{page_and_files, serve_hyper};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut files = Vec::new();
    let mut scripts = Scripts {
        sockjs: "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js".into(),
        stomp: "https://cdn.jsdelivr.net/npm/stompjs@2.3.3/lib/stomp.min.js".into(),
    };
    let mut sockjs = sockjs_hyper::Config::default();
    if let Ok(path) = std::env::var("SOCKJS_CLIENT_FILE") {
        files.push((WEBJAR_SOCKJS.to_owned(), std::fs::read(path)?.into()));
        scripts.sockjs = WEBJAR_SOCKJS.into();
        sockjs.sockjs_url = WEBJAR_SOCKJS.into();
    }
    if let Ok(path) = std::env::var("STOMPJS_FILE") {
        files.push((WEBJAR_STOMP.to_owned(), std::fs::read(path)?.into()));
        scripts.stomp = WEBJAR_STOMP.into();
    }
    let broker = stomp_greeting::broker(sockjs)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("greeting app on http://{}/", listener.local_addr()?);
    let fallback = page_and_files(stomp_greeting::page(&scripts), files);
    serve_hyper(listener, vec![broker.endpoint().clone()], fallback).await?;
    Ok(())
}

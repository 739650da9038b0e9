//! A STOMP chat on sockjs-stomp: open http://127.0.0.1:8080/?name=alice and
//! http://127.0.0.1:8080/?name=bob, press Join in each; type in the room, or click a name in
//! the online list to send that user a private message (`/user/queue/private`).
//!
//! Run it with `cargo run -p sockjs-examples --example stomp_chat`. Environment: `LISTEN`
//! (default `127.0.0.1:8080`), `SOCKJS_CLIENT_FILE` and `STOMPJS_FILE` (local copies of
//! `sockjs.min.js` and @stomp/stompjs 7's `stomp.umd.min.js`, served by the server itself;
//! without them the page loads both from jsDelivr), `REDIS_URL` (and `REDIS_CLUSTER`, default
//! `stomp-chat`): a node of a cluster, where the room, private messages and the online list
//! span every node.

use std::time::Duration;

use sockjs_examples::{page_and_files, serve_hyper, stomp_chat};
use sockjs_hyper::hub::Hub;
use sockjs_redis::{RedisBackend, RedisConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockjs_examples::init_tracing();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut files = Vec::new();
    let mut sockjs_js =
        "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js".to_owned();
    let mut stomp_js =
        "https://cdn.jsdelivr.net/npm/@stomp/stompjs@7/bundles/stomp.umd.min.js".to_owned();
    let mut sockjs = sockjs_hyper::Config::default();
    if let Ok(path) = std::env::var("SOCKJS_CLIENT_FILE") {
        sockjs_js = "/sockjs.min.js".into();
        files.push((sockjs_js.clone(), std::fs::read(path)?.into()));
        sockjs.sockjs_url = sockjs_js.clone();
    }
    if let Ok(path) = std::env::var("STOMPJS_FILE") {
        stomp_js = "/stomp.umd.min.js".into();
        files.push((stomp_js.clone(), std::fs::read(path)?.into()));
    }
    let (hub, redis) = match std::env::var("REDIS_URL") {
        Err(_) => (Hub::new(), None),
        Ok(url) => {
            let mut config = RedisConfig::new(url);
            config.cluster = std::env::var("REDIS_CLUSTER").unwrap_or_else(|_| "stomp-chat".into());
            let redis = RedisBackend::connect(config).await?;
            let hub = Hub::with_backend(redis.clone());
            redis.wait_until_up(Duration::from_secs(5)).await;
            (hub, Some(redis))
        }
    };
    let broker = stomp_chat::broker(sockjs, hub)?;
    let _presence = stomp_chat::spawn_presence(&broker);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("STOMP chat on http://{}/", listener.local_addr()?);
    let fallback = page_and_files(stomp_chat::page(&sockjs_js, &stomp_js), files);
    let served = serve_hyper(listener, vec![broker.endpoint().clone()], fallback).await;
    if let Some(redis) = redis {
        redis.shutdown().await;
    }
    served?;
    Ok(())
}

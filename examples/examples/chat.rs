//! The chat demo: open http://127.0.0.1:8080/?name=alice in one browser tab and
//! http://127.0.0.1:8080/?name=admin&token=letmein in another; the admin can type
//! `/kick alice`, and alice's page stops reconnecting (close code 4001).
//!
//! Run it with `cargo run -p sockjs-examples --example chat`. Environment: `LISTEN` (default
//! `127.0.0.1:8080`), `CHAT_ADMIN_TOKEN` (default `letmein`), `SOCKJS_CLIENT_URL` (the
//! sockjs-client bundle the page loads; default jsDelivr), or `SOCKJS_CLIENT_FILE` (a local
//! `sockjs.min.js` the server then serves itself at `/sockjs-client.js`),
//! `CHAT_LOGIN_POLICY` (`allow`, the default: any number of tabs per name; `replace`: a new
//! tab closes the older ones with 4009; `refuse`: a second tab is closed with 4008).
//! `GET /metrics` serves Prometheus text (endpoint, hub, and Redis in cluster mode).
//!
//! **Cluster mode**: with `REDIS_URL` (e.g. `redis://127.0.0.1:6379`), this process is one
//! node of a chat cluster: run several, each with its own `LISTEN`, the same `REDIS_URL` and
//! `REDIS_CLUSTER` (default `chat`), behind a proxy that keeps each SockJS session on one node;
//! messages, the online list, kicks and the login policy then span every node. Redis must
//! answer at start (the process exits otherwise); `REDIS_LIVENESS_TTL_SECS` (default 15) bounds
//! how long a killed node's users stay online elsewhere (TTL + TTL/3). `NODE_ID` (1 to 16
//! hexadecimal digits, e.g. `0a`) names the node in Redis keys, metrics and logs instead of a
//! random id; a restart may reuse it (after a crash, start-up waits up to one TTL for the old
//! process's key to expire), and a process whose id another live process holds exits with an
//! error. Ctrl-C or SIGTERM leaves the cluster cleanly. `scripts/cluster-demo.sh` runs three
//! nodes behind nginx with one command.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 LISTEN=127.0.0.1:8081 cargo run -p sockjs-examples --example chat
//! REDIS_URL=redis://127.0.0.1:6379 LISTEN=127.0.0.1:8082 cargo run -p sockjs-examples --example chat
//! ```

use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use sockjs_examples::{chat, respond, serve_hyper, Fallback};
use sockjs_hyper::hub::{Hub, LoginPolicy, NodeId};
use sockjs_hyper::Config;
use sockjs_redis::{RedisBackend, RedisConfig, RedisError};

fn login_policy() -> Result<LoginPolicy, String> {
    match std::env::var("CHAT_LOGIN_POLICY").as_deref() {
        Err(_) | Ok("allow") => Ok(LoginPolicy::Allow),
        Ok("replace") => Ok(LoginPolicy::ReplaceOlder),
        Ok("refuse") => Ok(LoginPolicy::RefuseNewer),
        Ok(other) => Err(format!(
            "CHAT_LOGIN_POLICY={other:?}: expected allow, replace or refuse"
        )),
    }
}

/// The hub: in-process, or a node of the cluster named by `REDIS_URL` / `REDIS_CLUSTER`.
async fn hub() -> Result<(Hub, Option<RedisBackend>), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        return Ok((Hub::new(), None));
    };
    let mut config = RedisConfig::new(url);
    config.cluster = std::env::var("REDIS_CLUSTER").unwrap_or_else(|_| "chat".into());
    if let Ok(ttl) = std::env::var("REDIS_LIVENESS_TTL_SECS") {
        let ttl: f64 = ttl.parse()?;
        config.liveness_ttl = Duration::from_secs_f64(ttl);
        config.refresh_interval = config.liveness_ttl / 3;
    }
    let node: Option<NodeId> = match std::env::var("NODE_ID") {
        Ok(id) => Some(id.parse().map_err(|e| format!("NODE_ID={id:?}: {e}"))?),
        Err(_) => None,
    };
    let wait = config.liveness_ttl + Duration::from_secs(5);
    let redis = RedisBackend::connect(config).await?;
    let mut builder = Hub::builder().backend(redis.clone());
    if let Some(node) = node {
        builder = builder.node(node);
    }
    let hub = builder.build()?;
    match redis.joined(wait).await {
        Ok(()) => {}
        Err(e @ RedisError::NodeIdInUse { .. }) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "not in the cluster yet; this node is alone until it is")
        }
    }
    tracing::info!(node = %hub.node(), "cluster mode: chat node joined the cluster");
    Ok((hub, Some(redis)))
}

/// SIGINT, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

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
    let (hub, redis) = hub().await?;
    let endpoint =
        chat::endpoint_with_policy("/chat", config, token, hub.clone(), login_policy()?)?;
    let metrics_of = {
        let (endpoint, redis) = (endpoint.clone(), redis.clone());
        move || {
            let mut text = endpoint.stats().to_prometheus("/chat");
            text.push_str(&hub.stats().to_prometheus("/chat"));
            if let Some(redis) = &redis {
                text.push_str(&redis.stats().to_prometheus("/chat"));
            }
            text
        }
    };
    let bundle = bundle.map(bytes::Bytes::from);
    let fallback: Fallback = Arc::new(move |req| {
        let page = page.clone();
        let bundle = bundle.clone();
        let metrics = (req.uri().path() == "/metrics").then(&metrics_of);
        Box::pin(async move {
            match (req.uri().path(), bundle) {
                ("/", _) => respond(StatusCode::OK, "text/html; charset=utf-8", page),
                ("/metrics", _) => respond(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    metrics.unwrap_or_default(),
                ),
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
        _ = stop_signal() => {
            tracing::info!("shutting down");
            endpoint.shutdown(Duration::from_secs(5)).await;
        }
    }
    if let Some(redis) = redis {
        redis.shutdown().await;
    }
    Ok(())
}

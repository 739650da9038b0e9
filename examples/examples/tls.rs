//! An echo endpoint served over HTTPS with rustls, HTTP/2 and HTTP/1.1 on one port.
//!
//! Run it with `cargo run -p sockjs-examples --example tls`, then open
//! <https://localhost:8443/>. Without a certificate it makes a self-signed one at start-up
//! (the browser warns; accept it for this demo). The page shows the transport sockjs-client
//! chose and the HTTP version each of its requests used; `/?transport=xhr-streaming` (or
//! `xhr-polling`, `eventsource`, `websocket`, ...) forces a transport.
//!
//! Every SockJS transport works over HTTP/2 (the streams of all sessions share one
//! connection); websockets use an HTTP/1.1 upgrade or, where the browser does it, RFC 8441
//! over HTTP/2.
//!
//! Options (environment):
//! - `LISTEN` (default `127.0.0.1:8443`)
//! - `TLS_CERT`, `TLS_KEY`: PEM files of the certificate chain and its private key; both or
//!   neither (then a self-signed certificate for `localhost` and `127.0.0.1` is made)
//! - `SOCKJS_CLIENT_URL`: the sockjs-client bundle the page and the iframe transports load
//!   (default: the jsDelivr copy of sockjs-client 1.x)
//! - `HEARTBEAT_SECS`: the heartbeat interval (default 25)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use sockjs_examples::tls::{self, Identity};
use sockjs_examples::{echo, echo_page, init_tracing, respond, serve_tls, Fallback};
use sockjs_hyper::{Config, SockJs};

fn identity(listen: SocketAddr) -> Result<Identity, Box<dyn std::error::Error>> {
    let cert = std::env::var_os("TLS_CERT").map(PathBuf::from);
    let key = std::env::var_os("TLS_KEY").map(PathBuf::from);
    match (cert, key) {
        (Some(cert), Some(key)) => {
            tracing::info!(cert = %cert.display(), key = %key.display(), "certificate from files");
            Ok(Identity::from_pem_files(&cert, &key)?)
        }
        (None, None) => {
            let names = tls::self_signed_names(listen);
            tracing::warn!(
                ?names,
                "no TLS_CERT/TLS_KEY: using a self-signed certificate"
            );
            Ok(Identity::self_signed(names)?.identity)
        }
        _ => Err("set both TLS_CERT and TLS_KEY, or neither".into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_tracing();
    let listen: SocketAddr = std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8443".into())
        .parse()?;
    let mut config = Config::default();
    if let Ok(url) = std::env::var("SOCKJS_CLIENT_URL") {
        config.sockjs_url = url;
    }
    if let Ok(secs) = std::env::var("HEARTBEAT_SECS") {
        config.heartbeat_interval = Duration::from_secs_f64(secs.parse()?);
    }
    let index = echo_page("sockjs-rs echo over HTTPS", &config.sockjs_url);
    let tls_config = tls::server_config(identity(listen)?)?;

    let echo = SockJs::new("/echo", config, echo)?;
    let fallback: Fallback = Arc::new(move |req: Request<Incoming>| {
        let index = index.clone();
        Box::pin(async move {
            match req.uri().path() {
                "/" => respond(StatusCode::OK, "text/html; charset=utf-8", index),
                _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
            }
        })
    });

    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!("echo over TLS on https://{}/", listener.local_addr()?);
    tokio::select! {
        served = serve_tls(listener, tls_config, vec![echo], fallback, tls::FIRST_REQUEST_TIMEOUT) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

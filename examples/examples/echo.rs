//! An echo server mounted inside a plain hyper server, beside the application's own routes.
//!
//! Run it with `cargo run -p sockjs-examples --example echo`, then open
//! <http://127.0.0.1:8080/> in a browser. Options (environment):
//! `LISTEN` (default `127.0.0.1:8080`), `SOCKJS_CLIENT_URL` (the sockjs-client bundle the
//! page and the iframe transports load; default: the jsDelivr copy of sockjs-client 1.x).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sockjs_hyper::{Config, ResponseBody, SockJs};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listen: SocketAddr = std::env::var("LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()?;
    let mut config = Config::default();
    if let Ok(url) = std::env::var("SOCKJS_CLIENT_URL") {
        config.sockjs_url = url;
    }
    let index = Bytes::from(sockjs_examples::echo_page(
        "sockjs-rs echo",
        &config.sockjs_url,
    ));

    // The SockJS endpoint: a plain async closure per session.
    let echo = SockJs::new("/echo", config, |mut conn| async move {
        while let Some(message) = conn.recv().await {
            if conn.send(message).await.is_err() {
                break;
            }
        }
    })?;

    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!("echo demo on http://{}/", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // The kernel then holds little unsent data, so write_timeout sees slow readers' progress.
        sockjs_hyper::prepare_tcp(&stream)?;
        let echo = echo.with_peer_addr(peer);
        let index = index.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let echo = echo.clone();
                let index = index.clone();
                async move {
                    // SockJS owns its prefix; everything else is the application's.
                    if echo.matches(req.uri().path()) {
                        return Ok::<_, Infallible>(echo.handle(req).await);
                    }
                    let (status, body) = match req.uri().path() {
                        "/" => (200, index),
                        _ => (404, Bytes::from_static(b"not found\n")),
                    };
                    let mut resp: Response<ResponseBody> =
                        Response::new(Full::new(body).boxed_unsync());
                    *resp.status_mut() = hyper::StatusCode::from_u16(status)
                        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                    if status == 200 {
                        resp.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                    }
                    Ok(resp)
                }
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}

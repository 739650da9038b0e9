//! The SockJS conformance test server.
//!
//! ```text
//! sockjs-conformance-server [--listen 127.0.0.1:8081] [--heartbeat-secs 25] [--sockjs-url URL]
//! ```
//!
//! Serves `/echo`, `/disabled_websocket_echo`, `/cookie_needed_echo`, `/close`, `/ticker`,
//! `/broadcast` and `/amplify` (see the crate docs), over HTTP/1.1 and HTTP/2 with prior
//! knowledge (h2c) on the same port, websockets over HTTP/2 (RFC 8441) included. Logs go to
//! stderr; `RUST_LOG` sets the level (default `info`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use sockjs_protocol_tests::{serve, ServerOptions};

const USAGE: &str =
    "usage: sockjs-conformance-server [--listen ADDR:PORT] [--heartbeat-secs N] [--sockjs-url URL]";

fn parse_args() -> Result<(SocketAddr, ServerOptions), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8081).into();
    let mut opts = ServerOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--heartbeat-secs" => {
                let v = value("--heartbeat-secs")?;
                let secs: f64 = v
                    .parse()
                    .map_err(|e| format!("--heartbeat-secs {v}: {e}"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err(format!("--heartbeat-secs {v}: must be a positive number"));
                }
                opts.heartbeat = Duration::from_secs_f64(secs);
            }
            "--sockjs-url" => opts.sockjs_url = value("--sockjs-url")?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok((listen, opts))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (listen, opts) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tracing::info!(addr = %listener.local_addr()?, "sockjs conformance server listening");
        tokio::select! {
            r = serve(listener, opts) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

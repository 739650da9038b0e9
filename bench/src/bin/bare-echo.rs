//! The bare reference server of the benchmark: no SockJS, just hyper and tokio-tungstenite.
//!
//! ```text
//! bare-echo [--listen 127.0.0.1:8082] [--log]
//! ```
//!
//! A websocket upgrade at any path echoes every text and binary message; any other `POST`
//! answers 200 with its body (up to 1 MiB); anything else answers 200 `bare`. It uses the same
//! websocket buffer sizes as sockjs-rs. Prints `listening on ADDR` once bound; logging is off
//! unless `--log` is given.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: bare-echo [--listen ADDR:PORT] [--log]";

fn main() -> ExitCode {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8082).into();
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next().map(|v| v.parse()) {
                Some(Ok(a)) => listen = a,
                _ => return usage("--listen needs an address like 127.0.0.1:8082"),
            },
            "--log" => log = true,
            "-h" | "--help" => return usage(""),
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if log {
        sockjs_bench::servers::init_logging();
    }
    let served =
        sockjs_bench::servers::run_server(listen, sockjs_bench::servers::serve_bare, |addr| {
            println!("listening on {addr}");
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

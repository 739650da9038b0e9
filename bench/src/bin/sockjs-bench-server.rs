//! The sockjs-rs server of the benchmark.
//!
//! ```text
//! sockjs-bench-server [--listen 127.0.0.1:8080] [--auto] [--log]
//! ```
//!
//! `--auto` serves with hyper-util's `auto` builder (HTTP/1.1 or HTTP/2 with prior knowledge
//! on one port) instead of hyper's HTTP/1.1 connection, to measure what offering HTTP/2 beside
//! HTTP/1.1 costs HTTP/1.1 clients.
//!
//! Serves `/echo` (echo), `/broadcast` (every message to every session), `/room` (a hub room)
//! and `/stomp` (the STOMP broker with Spring's conventions) with the default
//! configuration: heartbeat 25 s, response limit 128 KiB. Prints `listening on ADDR` once
//! bound. Logging is off unless `--log` is given (then `RUST_LOG` sets the filter, default
//! `info`), so that it costs nothing in a measurement. The tokio runtime uses one worker per
//! CPU the process may run on (`taskset -c 0` gives one).

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "usage: sockjs-bench-server [--listen ADDR:PORT] [--auto] [--log]";

fn main() -> ExitCode {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut log = false;
    let mut protocols = sockjs_bench::servers::Protocols::Http1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next().map(|v| v.parse()) {
                Some(Ok(a)) => listen = a,
                _ => return usage("--listen needs an address like 127.0.0.1:8080"),
            },
            "--log" => log = true,
            "--auto" => protocols = sockjs_bench::servers::Protocols::Auto,
            "-h" | "--help" => return usage(""),
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if log {
        sockjs_bench::servers::init_logging();
    }
    let served = sockjs_bench::servers::run_server(
        listen,
        |listener| sockjs_bench::servers::serve_sockjs_with(listener, protocols),
        |addr| {
            println!("listening on {addr}");
        },
    );
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

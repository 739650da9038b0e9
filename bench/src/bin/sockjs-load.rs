//! The load generator of the benchmark.
//!
//! ```text
//! sockjs-load WORKLOAD [--target 127.0.0.1:8080] [--label NAME] [--prefix /echo]
//!             [--connections N] [--in-flight N] [--size BYTES]
//!             [--warmup SECS] [--duration SECS] [--drain SECS] [--timeout SECS]
//!             [--repetitions N] [--concurrency N] [--server-pid PID]
//!             [--ws-path PATH] [--subprotocol NAME] [--login USER] [--passcode PASS]
//!             [--json-out FILE] [--log]
//! ```
//!
//! WORKLOAD is one of `ws-echo`, `raw-ws-echo`, `ws-rtt`, `raw-ws-rtt`, `xhr-streaming`,
//! `xhr-polling`, `http-echo`, `broadcast`, `raw-broadcast`, `room-broadcast`, `idle`,
//! `raw-idle`, `idle-xhr-streaming`, `raw-idle-streaming`, `stomp-publish`, `stomp-fanout`,
//! `stomp-idle` and `raw-stomp-publish`, `raw-stomp-fanout`, `raw-stomp-idle` (see the
//! `sockjs_bench` crate docs). The plain websocket workloads open `--ws-path` (default
//! `PREFIX/websocket`), asking for `--subprotocol` if given: RabbitMQ's web-STOMP is
//! `--ws-path /ws --subprotocol v12.stomp`. The STOMP workloads log in as `--login` /
//! `--passcode` (default `guest` / `guest`). Prints one JSON line to stdout
//! (also appended to `--json-out FILE`) and one line for people to stderr. Exits 1 if the run
//! counted any error, 2 on bad arguments.
//!
//! It runs on one thread (a current-thread tokio runtime): pin it to its own CPU with
//! `taskset -c 1`, away from the server's. `--server-pid` lets it read the server's RSS (the
//! idle workloads need it) and CPU time from `/proc`.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use sockjs_bench::{LoadConfig, Workload};

const USAGE: &str =
    "usage: sockjs-load WORKLOAD [--target ADDR:PORT] [--label NAME] [--prefix PATH] \
[--connections N] [--in-flight N] [--size BYTES] [--warmup SECS] [--duration SECS] [--drain SECS] \
[--timeout SECS] [--repetitions N] [--concurrency N] [--server-pid PID] [--ws-path PATH] \
[--subprotocol NAME] [--login USER] [--passcode PASS] [--json-out FILE] [--log]";

struct Args {
    config: LoadConfig,
    json_out: Option<String>,
    log: bool,
}

fn secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
    if !(s >= 0.0 && s.is_finite()) {
        return Err(format!("{flag} {v}: must be a number of seconds >= 0"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("{flag} {v}: {e}"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let workload: Workload = match args.next() {
        Some(w) if w == "-h" || w == "--help" => return Err(String::new()),
        Some(w) => w.parse()?,
        None => return Err("missing WORKLOAD".into()),
    };
    let target: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut config = LoadConfig::new(workload, target);
    let mut json_out = None;
    let mut log = false;
    while let Some(flag) = args.next() {
        if flag == "--log" {
            log = true;
            continue;
        }
        let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => {
                config.target = number(&flag, &v)?;
                if !config.target.ip().is_loopback() {
                    return Err(format!(
                        "--target {v}: only loopback addresses may be loaded"
                    ));
                }
            }
            "--label" => config.label = v,
            "--prefix" => config.prefix = v.trim_end_matches('/').to_string(),
            "--connections" => config.connections = number(&flag, &v)?,
            "--in-flight" => config.in_flight = number(&flag, &v)?,
            "--size" => config.message_size = number(&flag, &v)?,
            "--warmup" => config.warmup = secs(&flag, &v)?,
            "--duration" => config.duration = secs(&flag, &v)?,
            "--drain" => config.drain = secs(&flag, &v)?,
            "--timeout" => config.hard_timeout = secs(&flag, &v)?,
            "--repetitions" => config.repetitions = number(&flag, &v)?,
            "--concurrency" => config.connect_concurrency = number(&flag, &v)?,
            "--server-pid" => config.server_pid = Some(number(&flag, &v)?),
            "--ws-path" => config.ws_path = Some(v),
            "--subprotocol" => config.subprotocol = Some(v),
            "--login" => config.login.0 = v,
            "--passcode" => config.login.1 = v,
            "--json-out" => json_out = Some(v),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Args {
        config,
        json_out,
        log,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.log {
        sockjs_bench::servers::init_logging();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(sockjs_bench::run(&args.config));
    let json = report.to_json();
    println!("{json}");
    eprintln!("{report}");
    if let Some(path) = &args.json_out {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{json}"));
        if let Err(e) = written {
            eprintln!("cannot append to {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

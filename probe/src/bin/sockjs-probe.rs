//! `sockjs-probe`: run issue 15's attacks against a running sockjs-rs server (loopback) and
//! report the server's memory and liveness around each.
//!
//! ```text
//! sockjs-probe run --addr 127.0.0.1:PORT --pid PID [--probe all|1,2a,...] [--origin ORIGIN]
//!                  [--prefix /echo] [--amplify-prefix /amplify] [--allow-shutdown] [--smoke]
//!                  [--jsonl FILE] [--server NAME]
//! sockjs-probe report FILE.jsonl...
//! sockjs-probe list
//! ```
//!
//! `run` prints a Markdown table (and appends JSON lines to `--jsonl`); it exits 1 if a probe
//! failed. `--origin` is an origin the server allows (sent on every request that is not an
//! attack). Probe 8 sends SIGINT to `--pid` and runs only with `--allow-shutdown`; `all`
//! leaves it out otherwise. `--server` names the server in the table. `--smoke` runs the
//! probes at a fraction of their size (`Sizes::smoke`, for tests). `report` turns JSON lines
//! into the Markdown table.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use sockjs_probe::{probe, report, ProbeInfo, ProbeReport, Sizes, Target, PROBES};

const USAGE: &str = "usage:
  sockjs-probe run --addr ADDR:PORT --pid PID [--probe all|ID,ID,...] [--origin ORIGIN]
                   [--prefix /echo] [--amplify-prefix /amplify] [--allow-shutdown] [--smoke]
                   [--jsonl FILE] [--server NAME]
  sockjs-probe report FILE.jsonl...
  sockjs-probe list";

struct RunArgs {
    target: Target,
    probes: Vec<ProbeInfo>,
    sizes: Sizes,
    jsonl: Option<String>,
}

fn parse_run(mut args: impl Iterator<Item = String>) -> Result<RunArgs, String> {
    let mut addr: Option<SocketAddr> = None;
    let mut pid: Option<u32> = None;
    let mut ids = String::from("all");
    let mut origin = None;
    let mut prefix = None;
    let mut amplify = None;
    let mut allow_shutdown = false;
    let mut sizes = Sizes::default();
    let mut jsonl = None;
    let mut label = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                addr = Some(v.parse().map_err(|e| format!("--addr {v}: {e}"))?);
            }
            "--pid" => {
                let v = value()?;
                pid = Some(v.parse().map_err(|e| format!("--pid {v}: {e}"))?);
            }
            "--probe" => ids = value()?,
            "--origin" => origin = Some(value()?),
            "--prefix" => prefix = Some(value()?),
            "--amplify-prefix" => amplify = Some(value()?),
            "--jsonl" => jsonl = Some(value()?),
            "--server" => label = Some(value()?),
            "--allow-shutdown" => allow_shutdown = true,
            "--smoke" => sizes = Sizes::smoke(),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--addr {addr}: the probes attack loopback servers only"
        ));
    }
    let mut target = Target::new(addr, pid.ok_or("--pid is required")?);
    target.origin = origin;
    target.allow_shutdown = allow_shutdown;
    target.label = label;
    if let Some(p) = prefix {
        target.prefix = p;
    }
    if let Some(p) = amplify {
        target.amplify_prefix = p;
    }
    let probes = if ids == "all" {
        PROBES
            .iter()
            .copied()
            .filter(|p| allow_shutdown || !p.ends_server)
            .collect()
    } else {
        ids.split(',')
            .map(|id| probe(id.trim()).ok_or_else(|| format!("no probe {id:?} (see `list`)")))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(RunArgs {
        target,
        probes,
        sizes,
        jsonl,
    })
}

fn run(args: RunArgs) -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut reports = Vec::new();
    for info in &args.probes {
        eprintln!("probe {} ({}) ...", info.id, info.title);
        let r = runtime.block_on(sockjs_probe::run(*info, &args.target, &args.sizes));
        eprintln!(
            "probe {}: {} — growth {} kB, serving {:?}, {}",
            r.probe,
            r.outcome,
            r.growth_kb,
            r.serving,
            if r.pass { "pass" } else { "FAIL" }
        );
        if let Some(path) = &args.jsonl {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{path}: {e}"))?;
            writeln!(file, "{}", r.to_json()).map_err(|e| format!("{path}: {e}"))?;
        }
        let ended = info.ends_server;
        reports.push(r);
        if ended {
            break;
        }
    }
    print!("{}", report::markdown(&reports));
    Ok(reports.iter().all(|r| r.pass))
}

fn read_reports(paths: impl Iterator<Item = String>) -> Result<Vec<ProbeReport>, String> {
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            out.push(serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?);
        }
    }
    Ok(out)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some("run") => parse_run(args).and_then(run),
        Some("report") => read_reports(args).map(|reports| {
            print!("{}", report::markdown(&reports));
            reports.iter().all(|r| r.pass)
        }),
        Some("list") => {
            for p in PROBES {
                println!("{:<3} item {}  {}", p.id, p.item, p.title);
            }
            Ok(true)
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

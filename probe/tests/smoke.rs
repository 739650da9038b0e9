//! Smoke test of `sockjs-probe`, so that the tool cannot rot: the `sockjs-probe` binary runs
//! every probe but the shutdown (8, which signals the server's process) in its reduced mode
//! (`--smoke`) against servers this test process serves on loopback — the conformance
//! endpoints, and `/echo` with the production example's settings (an origin allow-list). It
//! asserts what the server answered (statuses, close codes, echoes), that it still served
//! after each probe, and each probe's own verdict, which includes the bound of 64 MiB
//! of memory growth: the probes run in the child process, so this process's memory is the
//! servers' and the test harness's (at these sizes, a few MiB). Never a timing.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sockjs_probe::{ProbeReport, Serving};

const ORIGIN: &str = "http://app.example";

fn conformance() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        sockjs_protocol_tests::spawn_background(sockjs_protocol_tests::ServerOptions::default())
    })
}

/// `/echo` with the production example's settings allowing pages of [`ORIGIN`], but a 2 s
/// `body_read_timeout` (10 s there), under the smoke trickle's 3 s.
fn production() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let mut config = sockjs_examples::production::config([ORIGIN]).expect("a valid origin");
        config.body_read_timeout = Duration::from_secs(2);
        let echo = sockjs_hyper::SockJs::new("/echo", config, sockjs_examples::echo)
            .expect("a valid endpoint");
        sockjs_protocol_tests::spawn_endpoints(vec![echo])
    })
}

/// Run `sockjs-probe run --smoke` with `args` against `addr` (this process); its reports,
/// and whether it exited with success.
fn probe(addr: SocketAddr, args: &[&str]) -> (Vec<ProbeReport>, bool) {
    let dir = std::env::temp_dir().join(format!(
        "sockjs-probe-smoke-{}-{}",
        std::process::id(),
        sockjs_probe::http::session_id()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let jsonl = dir.join("probes.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_sockjs-probe"))
        .args(["run", "--smoke", "--addr", &addr.to_string()])
        .args(["--pid", &std::process::id().to_string()])
        .args(["--jsonl", jsonl.to_str().expect("a UTF-8 path")])
        .args(args)
        .output()
        .expect("run sockjs-probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let reports: Vec<ProbeReport> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    for r in &reports {
        assert!(
            stdout.contains(&format!("| {} |", r.probe)),
            "no table row for {}: {stdout}",
            r.probe
        );
    }
    (reports, out.status.success())
}

/// Each report by probe id, every one of `ids` present, passed and still serving.
fn passed(reports: &[ProbeReport], ok: bool, ids: &[&str]) {
    let got: Vec<&str> = reports.iter().map(|r| r.probe.as_str()).collect();
    assert_eq!(got, ids);
    for r in reports {
        assert_eq!(r.serving, Serving::Yes, "{r:?}");
        assert!(r.expected, "{r:?}");
        assert!(r.within_bound, "{r:?}");
        assert!(r.pass, "{r:?}");
    }
    assert!(ok, "sockjs-probe exited with a failure");
}

fn get<'a>(reports: &'a [ProbeReport], id: &str) -> &'a ProbeReport {
    reports
        .iter()
        .find(|r| r.probe == id)
        .unwrap_or_else(|| panic!("no report for probe {id}"))
}

#[test]
fn uploads_batches_and_headers_are_refused_on_the_conformance_server() {
    let ids = ["2a", "2b", "3a", "3b", "3c", "4a"];
    let (reports, ok) = probe(
        conformance(),
        &["--probe", &ids.join(","), "--server", "conformance"],
    );
    passed(&reports, ok, &ids);
    // One body at a time per session: the other five get 503, before their bodies are read.
    let one_session = &get(&reports, "2a").details["answers"];
    let count = |status: &str| one_session[status].as_u64().unwrap_or(0);
    assert!(count("204") >= 1, "{one_session}");
    assert_eq!(count("204") + count("503"), 6, "{one_session}");
    assert_eq!(get(&reports, "3a").details["answers"]["413"], 1);
    assert_eq!(get(&reports, "3b").details["answers"]["413"], 2);
    assert_eq!(get(&reports, "3c").details["answers"]["close 1009"], 2);
    let headers = &get(&reports, "4a").details;
    assert_eq!(headers["websocket 64 KB"]["431"], 2, "{headers}");
    assert_eq!(headers["xhr 64 KB"]["431"], 40, "{headers}");
}

#[test]
fn sessions_drips_slow_readers_and_violations_on_the_conformance_server() {
    let ids = ["4b", "5", "6", "7", "9"];
    let (reports, ok) = probe(
        conformance(),
        &["--probe", &ids.join(","), "--server", "conformance"],
    );
    passed(&reports, ok, &ids);
    let sessions = &get(&reports, "4b").details;
    assert_eq!(sessions["first_round"]["opened"], 40, "{sessions}");
    assert_eq!(sessions["second_round"]["opened"], 40, "{sessions}");
    let drip = &get(&reports, "5").details;
    assert_eq!(drip["hixie76_echoed"], drip["messages"], "{drip}");
    assert_eq!(drip["rfc6455_echoed"], drip["messages"], "{drip}");
    let slow = &get(&reports, "6").details;
    assert_eq!(slow["replies"], 2, "{slow}");
    assert!(slow["dropped"].is_null(), "{slow}");
    assert_eq!(get(&reports, "7").details["answer"], "410");
    let violations = get(&reports, "9")
        .details
        .as_object()
        .expect("one entry per violation");
    assert_eq!(violations.len(), 12);
    for (name, v) in violations {
        assert_eq!(v["got"], format!("close {}", v["expected"]), "{name}");
    }
}

#[test]
fn the_production_settings_refuse_cross_site_reads_and_trickled_uploads() {
    let ids = ["1", "2c", "7"];
    let (reports, ok) = probe(
        production(),
        &[
            "--probe",
            &ids.join(","),
            "--origin",
            ORIGIN,
            "--server",
            "production",
        ],
    );
    passed(&reports, ok, &ids);
    let origins = &get(&reports, "1").details;
    for route in ["jsonp", "htmlfile", "eventsource", "iframe"] {
        assert_eq!(origins["cross-site"][route], "403", "{route}");
        assert_eq!(origins["foreign Referer only"][route], "403", "{route}");
        assert_eq!(origins["same-origin (control)"][route], "200", "{route}");
    }
    assert_eq!(get(&reports, "2c").details["answers"]["408"], 4);
    assert_eq!(get(&reports, "7").details["answer"], "410");
}

#[test]
fn the_tool_reports_a_failure_when_the_server_does_not_hold() {
    // The conformance server has no origin allow-list: probe 1 must say so, and the tool
    // must exit with a failure.
    let (reports, ok) = probe(conformance(), &["--probe", "1"]);
    let open = get(&reports, "1");
    assert_eq!(open.details["cross-site"]["jsonp"], "200", "{open:?}");
    assert!(!open.expected && !open.pass, "{open:?}");
    assert_eq!(open.serving, Serving::Yes);
    assert!(
        !ok,
        "sockjs-probe exited with success although a probe failed"
    );
}

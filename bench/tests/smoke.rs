//! Smoke test of the benchmark, so it cannot rot: every workload of the load generator runs
//! for about a second, with a few connections, against the in-process sockjs-rs server (or
//! the bare server for the raw workloads but the STOMP ones), and must count messages and no
//! error. RabbitMQ, the STOMP workloads' other server, is not part of the tests (only of
//! `bench/run.sh`).
//!
//! The servers run on their own threads and runtimes, as separate processes would; the
//! numbers are meaningless here (the test shares the machine with everything else).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use sockjs_bench::servers::{serve_bare, serve_sockjs, spawn_background};
use sockjs_bench::{LoadConfig, RunReport, Workload};

fn sockjs_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| spawn_background(serve_sockjs).expect("sockjs-rs server starts"))
}

fn bare_server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| spawn_background(serve_bare).expect("bare server starts"))
}

/// A short run of `workload` with `connections` connections.
fn short(workload: Workload, connections: usize) -> LoadConfig {
    // The raw STOMP workloads use sockjs-rs's `/stomp/websocket`: the bare server has no
    // STOMP.
    let target = if workload.is_raw() && !workload.is_stomp() {
        bare_server()
    } else {
        sockjs_server()
    };
    let mut c = LoadConfig::new(workload, target);
    c.label = "smoke".into();
    c.connections = connections;
    c.in_flight = 4;
    c.warmup = Duration::from_millis(200);
    c.duration = Duration::from_millis(800);
    c.drain = Duration::from_secs(3);
    c.hard_timeout = Duration::from_secs(15);
    c.repetitions = 20;
    c.server_pid = Some(std::process::id());
    c
}

fn run(config: LoadConfig) -> RunReport {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let report = rt.block_on(sockjs_bench::run(&config));
    eprintln!("{report}");
    // The JSON line must be valid JSON with the headline number.
    let json: serde_json::Value =
        serde_json::from_str(&report.to_json()).expect("the report is JSON");
    assert_eq!(json["workload"], config.workload.as_str());
    assert!(json["value"].is_number());
    assert_eq!(
        report.errors, 0,
        "{}: errors {:?}",
        config.workload, report.error_samples
    );
    assert_eq!(report.sessions, config.connections, "every session opened");
    report
}

fn throughput(workload: Workload, connections: usize) {
    let r = run(short(workload, connections));
    assert!(r.messages > 0, "{workload}: no message in the window");
    assert!(r.msgs_per_sec > 0.0);
    assert!(r.latency_us.is_some(), "{workload}: latency samples");
    assert!(r.received_total <= r.sent_total);
}

#[test]
fn ws_echo() {
    throughput(Workload::WsEcho, 4);
}

#[test]
fn raw_ws_echo() {
    throughput(Workload::RawWsEcho, 4);
}

#[test]
fn ws_rtt() {
    let r = run(short(Workload::WsRtt, 1));
    assert!(r.messages > 0);
    assert!(r.value > 0.0, "rtt p50 reported");
    assert_eq!(r.in_flight, 1);
}

#[test]
fn raw_ws_rtt() {
    let r = run(short(Workload::RawWsRtt, 1));
    assert!(r.messages > 0);
    assert!(r.value > 0.0, "rtt p50 reported");
}

#[test]
fn xhr_streaming() {
    throughput(Workload::XhrStreaming, 4);
}

#[test]
fn xhr_streaming_renews_at_the_response_limit() {
    // 1 KiB messages: the 128 KiB response limit is reached within the second.
    let mut c = short(Workload::XhrStreaming, 2);
    c.message_size = 1024;
    let r = run(c);
    assert!(r.messages > 0);
    assert!(r.reconnects > 0, "streaming responses were renewed");
}

#[test]
fn xhr_polling() {
    throughput(Workload::XhrPolling, 4);
}

#[test]
fn http_echo() {
    throughput(Workload::HttpEcho, 4);
}

#[test]
fn broadcast() {
    broadcasts(Workload::Broadcast);
}

#[test]
fn raw_broadcast() {
    broadcasts(Workload::RawBroadcast);
}

#[test]
fn room_broadcast() {
    broadcasts(Workload::RoomBroadcast);
}

#[test]
fn endpoint_broadcast() {
    broadcasts(Workload::EndpointBroadcast);
}

fn broadcasts(workload: Workload) {
    let r = run(short(workload, 20));
    assert!(r.messages > 0, "{workload}: broadcasts received");
    let b = r.broadcast_ms.expect("broadcast latencies");
    assert!(b.count > 0 && b.p50 > 0.0);
    assert_eq!(r.messages % 20, 0, "every session got every broadcast");
}

#[test]
fn idle() {
    let r = run(short(Workload::Idle, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(r.received_total, 50, "every idle session echoed once");
}

#[test]
fn raw_idle() {
    let r = run(short(Workload::RawIdle, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(r.received_total, 50);
}

#[test]
fn idle_xhr_streaming() {
    let r = run(short(Workload::IdleXhrStreaming, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(r.metric, "rss_per_session");
    assert_eq!(r.unit, "kB");
    assert_eq!(r.received_total, 50, "every idle session echoed once");
    assert_eq!(r.reconnects, 0, "no streaming response was renewed");
}

#[test]
fn raw_idle_streaming() {
    let r = run(short(Workload::RawIdleStreaming, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(
        r.received_total, 50,
        "a line went through every held response"
    );
}

#[test]
fn stomp_publish() {
    throughput(Workload::StompPublish, 4);
}

#[test]
fn raw_stomp_publish() {
    throughput(Workload::RawStompPublish, 4);
}

#[test]
fn stomp_fanout() {
    broadcasts(Workload::StompFanout);
}

#[test]
fn raw_stomp_fanout() {
    broadcasts(Workload::RawStompFanout);
}

#[test]
fn stomp_idle() {
    let r = run(short(Workload::StompIdle, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(r.metric, "rss_per_session");
    assert_eq!(
        r.received_total, 50,
        "a message went through every idle session"
    );
}

#[test]
fn raw_stomp_idle() {
    let r = run(short(Workload::RawStompIdle, 50));
    assert!(r.kb_per_session.is_some(), "RSS read");
    assert_eq!(r.received_total, 50);
}

/// The STOMP workloads against an endpoint that is not a STOMP broker (`/echo` answers
/// `CONNECT` with `CONNECT`): every session fails to open, and each failure is counted.
#[test]
fn stomp_against_an_echo_endpoint_counts_errors() {
    for workload in [Workload::StompPublish, Workload::RawStompIdle] {
        let mut c = short(workload, 3);
        c.prefix = "/echo".into();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let r = rt.block_on(sockjs_bench::run(&c));
        assert_eq!(r.sessions, 0, "{workload}");
        assert_eq!(r.errors, 3, "{workload}: {:?}", r.error_samples);
        assert!(
            r.error_samples[0].contains("expected CONNECTED"),
            "{:?}",
            r.error_samples
        );
    }
}

/// A short run of `workload` with `connections` connections against a port nothing listens on.
fn against_a_dead_server(workload: Workload, connections: usize) -> RunReport {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port");
    let mut c = LoadConfig::new(workload, addr);
    c.connections = connections;
    c.warmup = Duration::ZERO;
    c.duration = Duration::from_millis(100);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let r = rt.block_on(sockjs_bench::run(&c));
    assert_eq!(r.errors, connections as u64, "{:?}", r.error_samples);
    assert_eq!(r.sessions, 0);
    r
}

#[test]
fn a_dead_server_is_counted_as_errors() {
    let r = against_a_dead_server(Workload::WsEcho, 2);
    assert_eq!(r.messages, 0);
}

#[test]
fn idle_xhr_streaming_against_a_dead_server_counts_errors() {
    let r = against_a_dead_server(Workload::IdleXhrStreaming, 3);
    assert_eq!(r.received_total, 0);
}

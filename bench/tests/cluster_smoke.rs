//! Smoke test of the cluster benchmark (`sockjs-cluster-bench`, `bench/cluster.sh`), so it
//! cannot rot: every workload and setup once, with a few sessions, over a real redis-server
//! and real node processes. The numbers mean nothing here; what is checked is that every
//! measurement is made and nothing is lost.

use std::process::Command;

#[test]
fn every_cluster_workload_runs_and_loses_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockjs-cluster-bench"))
        .args(["run", "--runs", "1", "--sessions", "30", "--rounds", "5"])
        .args(["--users", "6", "--senders", "2", "--window", "20"])
        .args(["--duration", "0.5", "--idle", "50", "--server-cpu", "none"])
        .output()
        .expect("run sockjs-cluster-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "broadcast 1 node                     p50_ms",
        "broadcast 1 node + redis             p50_ms",
        "broadcast 3 nodes + redis            p50_ms",
        "user 1 node                          msgs_per_s",
        "user 3 nodes + redis                 msgs_per_s",
        "idle plain session                   rss_bytes_per_session",
        "idle login + room                    rss_bytes_per_session",
        "idle login + room + redis            rss_bytes_per_session",
        "idle login + room + redis            redis_bytes_per_session",
        "target: broadcast p50 over 3 nodes",
        "target: idle session with the cluster layer on",
        "errors (incomplete rounds, lost user messages): 0",
    ] {
        assert!(
            stdout.contains(line),
            "missing {line:?} in:\n{stdout}\n{stderr}"
        );
    }
}

//! The server process as Linux's `/proc` shows it: resident memory, its high-water mark, CPU
//! time, and whether the process is still running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...).
fn status_field_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name != field {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Resident memory of `pid` now, in kB (`VmRSS`).
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_field_kb(pid, "VmRSS")
}

/// The most resident memory `pid` has had since it started, or since [`reset_peak`], in kB
/// (`VmHWM`).
pub fn peak_kb(pid: u32) -> Option<u64> {
    status_field_kb(pid, "VmHWM")
}

/// Reset `pid`'s `VmHWM` to its current resident memory (writing `5` to
/// `/proc/<pid>/clear_refs`, Linux 4.0 and later). Returns whether the kernel allowed it: it
/// needs the right to trace the process (the same user, or a child of ours).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (which may contain spaces and
/// parentheses): the first is the state (field 3 of proc(5)).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_owned).collect())
}

/// CPU time `pid` has used (user + system, every thread), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    // proc(5) numbers utime 14 and stime 15; `fields` starts at field 3.
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    // Clock ticks of USER_HZ, 100 per second on Linux.
    Some((ticks(14)? + ticks(15)?) as f64 / 100.0)
}

/// Whether `pid` is still running (it exists and is not a zombie waiting for its parent).
pub fn is_running(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|f| f.into_iter().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Samples a process's resident memory in the background and keeps the largest value seen,
/// for when `VmHWM` cannot be reset (see [`reset_peak`]).
pub struct Sampler {
    max_kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Start sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let max_kb = Arc::new(AtomicU64::new(rss_kb(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (max_kb, stop) = (Arc::clone(&max_kb), Arc::clone(&stop));
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kb) = rss_kb(pid) {
                        max_kb.fetch_max(kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(every).await;
                }
            }
        });
        Sampler { max_kb, stop, task }
    }

    /// Stop sampling; the largest resident memory seen, in kB.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.max_kb.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let rss = rss_kb(me).unwrap_or(0);
        assert!(rss > 0);
        assert!(peak_kb(me).unwrap_or(0) >= rss);
        assert!(cpu_seconds(me).is_some());
        assert!(is_running(me));
        assert!(!is_running(u32::MAX));
    }
}

//! A probe's result as a JSON line and as a row of a Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Outcome, ProbeInfo, GROWTH_BOUND_KB};

/// Whether the server still served after a probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Serving {
    /// `GET <prefix>/info` answered 200 and a websocket message was echoed.
    Yes,
    /// It did not: what failed.
    No(String),
    /// The process had exited (after the shutdown probe, as asked).
    Exited,
}

/// One probe's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The probe's id.
    pub probe: String,
    /// The issue item.
    pub item: u8,
    /// What the probe does.
    pub title: String,
    /// Which server it ran against (`--server`), if named.
    #[serde(default)]
    pub server: Option<String>,
    /// The answer the issue asks for.
    #[serde(default)]
    pub expect: String,
    /// What happened, in one line.
    pub outcome: String,
    /// Whether what the issue asks for held.
    pub expected: bool,
    /// `VmRSS` before the probe, kB.
    pub rss_before_kb: u64,
    /// The most resident memory during the probe and its settling time, kB.
    pub rss_peak_kb: u64,
    /// `VmRSS` after the probe and its settling time, kB (none if the process ended).
    pub rss_after_kb: Option<u64>,
    /// Peak minus before, kB.
    pub growth_kb: u64,
    /// After minus before, kB (negative when memory was returned below the start).
    pub retained_kb: Option<i64>,
    /// Whether the growth stayed under 64 MiB.
    pub within_bound: bool,
    /// Whether the peak includes `VmHWM` reset at the start of the probe (else it is the
    /// largest `VmRSS` sampled every 20 ms).
    pub peak_from_hwm: bool,
    /// Whether the server still served after the probe.
    pub serving: Serving,
    /// Whether the probe passed: expected outcome, bounded growth, still serving (or exited,
    /// for the shutdown probe).
    pub pass: bool,
    /// How long the attack took, seconds (before settling).
    pub elapsed_s: f64,
    /// Everything the probe measured.
    pub details: serde_json::Value,
}

#[allow(clippy::too_many_arguments)] // one call site, every value named there
pub(crate) fn build(
    info: ProbeInfo,
    server: Option<String>,
    outcome: Outcome,
    before: u64,
    peak: u64,
    after: Option<u64>,
    peak_from_hwm: bool,
    serving: Serving,
    elapsed: Duration,
) -> ProbeReport {
    let growth_kb = peak.saturating_sub(before);
    let within_bound = growth_kb < GROWTH_BOUND_KB;
    let serving_ok = match &serving {
        Serving::Yes => true,
        Serving::No(_) => false,
        Serving::Exited => info.ends_server,
    };
    ProbeReport {
        probe: info.id.into(),
        item: info.item,
        title: info.title.into(),
        server,
        expect: info.expect.into(),
        outcome: outcome.summary,
        expected: outcome.expected,
        rss_before_kb: before,
        rss_peak_kb: peak,
        rss_after_kb: after,
        growth_kb,
        retained_kb: after.map(|a| a as i64 - before as i64),
        within_bound,
        peak_from_hwm,
        serving,
        pass: outcome.expected && within_bound && serving_ok,
        elapsed_s: (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        details: outcome.details,
    }
}

impl ProbeReport {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn signed_mib(kb: i64) -> String {
    format!("{:+.1} MiB", kb as f64 / 1024.0)
}

/// A Markdown table of `reports`: probe, server, attack, the answer expected and the one
/// observed, memory before, growth at peak and once settled (the 64 MiB bound applies to the
/// peak), whether the server still served, and the verdict.
pub fn markdown(reports: &[ProbeReport]) -> String {
    let mut out = String::from(
        "| probe | server | attack | expected | observed | RSS before | peak growth | settled growth | still serving | result |\n\
         |---|---|---|---|---|---:|---:|---:|---|---|\n",
    );
    for r in reports {
        let serving = match &r.serving {
            Serving::Yes => "yes".to_string(),
            Serving::No(why) => format!("**no**: {why}"),
            Serving::Exited => "exited (as asked)".to_string(),
        };
        let settled = r.retained_kb.map_or_else(|| "–".to_string(), signed_mib);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}{} | {} | {}{} | {} | {} | {} |",
            r.probe,
            r.server.as_deref().unwrap_or("–"),
            r.title,
            r.expect,
            r.outcome.replace('|', "\\|"),
            if r.expected {
                ""
            } else {
                " **(not as the issue asks)**"
            },
            mib(r.rss_before_kb),
            signed_mib(r.growth_kb as i64),
            if r.within_bound {
                ""
            } else {
                " **(over 64 MiB)**"
            },
            settled,
            serving,
            if r.pass { "pass" } else { "**FAIL**" },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_and_a_json_line() {
        let info = crate::probe("7").unwrap();
        let outcome = Outcome {
            summary: "410 after 5.1 s".into(),
            expected: true,
            details: serde_json::json!({ "status": 410 }),
            settle: Duration::ZERO,
        };
        let r = build(
            info,
            Some("conformance".into()),
            outcome,
            10_240,
            20_480,
            Some(11_264),
            true,
            Serving::Yes,
            Duration::from_millis(5_120),
        );
        assert!(r.pass);
        assert_eq!((r.growth_kb, r.retained_kb), (10_240, Some(1_024)));
        let table = markdown(std::slice::from_ref(&r));
        assert!(table.contains(
            "| 7 | conformance | 10,000-message xhr_send, no receiver | 410 (not 204) | 410 after 5.1 s | 10.0 MiB | +10.0 MiB | +1.0 MiB | yes | pass |"
        ), "{table}");
        let back: ProbeReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(
            (back.probe.as_str(), back.details["status"].as_u64()),
            ("7", Some(410))
        );
        let over = build(
            info,
            None,
            Outcome {
                expected: true,
                ..r_outcome()
            },
            0,
            GROWTH_BOUND_KB,
            None,
            false,
            Serving::No("info: 503".into()),
            Duration::ZERO,
        );
        assert!(!over.within_bound && !over.pass);
    }

    fn r_outcome() -> Outcome {
        Outcome {
            summary: String::new(),
            expected: false,
            details: serde_json::Value::Null,
            settle: Duration::ZERO,
        }
    }
}

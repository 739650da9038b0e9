//! Probe 1: another site's page reading sessions through script and iframe loads, which
//! carry no `Origin`: jsonp and htmlfile (`<script>`/`<iframe src>`), eventsource, and the
//! iframe page. Each is requested as a browser labels it cross-site (`Sec-Fetch-Site:
//! cross-site` and a foreign `Referer`), as an older browser does (a foreign `Referer` only),
//! and, as a control, as the server's own page does (`Sec-Fetch-Site: same-origin`). Against
//! an allow-list the first two must be 403 and the control must not be.

use std::time::Duration;

use crate::http::{fetch_head, session_url, ProbeError, Request};
use crate::{Outcome, Target};

const EVIL: &str = "http://evil.example";

/// A route: its name, its path, and the `Sec-Fetch-Dest` a browser sends for it.
fn routes(prefix: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("jsonp", session_url(prefix, "jsonp?c=steal").1, "script"),
        (
            "htmlfile",
            session_url(prefix, "htmlfile?c=steal").1,
            "iframe",
        ),
        ("eventsource", session_url(prefix, "eventsource").1, "empty"),
        ("iframe", format!("{prefix}/iframe.html"), "iframe"),
    ]
}

/// `403 on all 4`, or each route's answer when they differ.
fn compact(answers: &[(&str, String)]) -> String {
    match answers {
        [(_, first), rest @ ..] if rest.iter().all(|(_, s)| s == first) => {
            format!("{first} on all {}", answers.len())
        }
        _ => answers
            .iter()
            .map(|(name, s)| format!("{name} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

pub(crate) async fn run(target: &Target) -> Result<Outcome, ProbeError> {
    let limit = Duration::from_secs(10);
    let own = format!("http://{}", target.addr);
    let mut details = serde_json::Map::new();
    let mut refused_everywhere = true;
    let mut control_ok = true;
    let mut parts = Vec::new();
    for variant in [
        "cross-site",
        "foreign Referer only",
        "same-origin (control)",
    ] {
        let mut row = serde_json::Map::new();
        let mut shown_all = Vec::new();
        for (name, path, dest) in routes(&target.prefix) {
            let req = Request::get(path);
            let req = match variant {
                "cross-site" => req
                    .header("Sec-Fetch-Site", "cross-site")
                    .header("Sec-Fetch-Mode", "no-cors")
                    .header("Sec-Fetch-Dest", dest)
                    .header("Referer", format!("{EVIL}/steal.html")),
                "foreign Referer only" => req.header("Referer", format!("{EVIL}/steal.html")),
                _ => req
                    .header("Sec-Fetch-Site", "same-origin")
                    .header("Sec-Fetch-Mode", "no-cors")
                    .header("Sec-Fetch-Dest", dest)
                    .header("Referer", format!("{own}/app.html")),
            };
            let status = fetch_head(target.addr, &req, limit).await.map(|h| h.status);
            let shown = super::kind(&status);
            match (variant, &status) {
                ("same-origin (control)", Ok(s)) => control_ok &= *s != 403,
                ("same-origin (control)", Err(_)) => control_ok = false,
                (_, Ok(403)) => {}
                _ => refused_everywhere = false,
            }
            shown_all.push((name, shown.clone()));
            row.insert(name.into(), serde_json::json!(shown));
        }
        details.insert(variant.into(), serde_json::Value::Object(row));
        parts.push(format!("{variant}: {}", compact(&shown_all)));
    }
    let summary = parts.join("; ");
    Ok(Outcome {
        summary,
        expected: refused_everywhere && control_ok,
        details: serde_json::Value::Object(details),
        settle: Duration::from_secs(1),
    })
}

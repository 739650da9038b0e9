//! Probe 8: the shutdown drain. With a polling session holding the drain open, the server gets
//! SIGINT; connections made during the drain must be answered (503 for a new session) rather
//! than left waiting, the held session's client is told 1001 when it comes back, and then the
//! process ends and stops listening. This ends the server: it runs only when asked.

use std::time::{Duration, Instant};

use super::{kind, open_xhr_session};
use crate::http::{fetch, session_url, Conn, ProbeError, Request};
use crate::procfs::is_running;
use crate::{Outcome, Target};

/// What a request made during the drain got, and how long it took.
async fn timed(target: &Target, req: Request) -> (String, Duration) {
    let started = Instant::now();
    let answer = fetch(target.addr, &req, Duration::from_secs(3)).await;
    (kind(&answer.map(|(h, _)| h.status)), started.elapsed())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

pub(crate) async fn run(target: &Target) -> Result<Outcome, ProbeError> {
    let held = open_xhr_session(target).await?;
    let signalled = std::process::Command::new("kill")
        .args(["-s", "INT", &target.pid.to_string()])
        .status()
        .map_err(ProbeError::Io)?;
    if !signalled.success() {
        return Err(ProbeError::Protocol(format!(
            "kill -INT {}: {signalled}",
            target.pid
        )));
    }
    let signalled_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (new_session, new_took) = timed(
        target,
        Request::post(session_url(&target.prefix, "xhr").1).origin(target.origin()),
    )
    .await;
    let (info, info_took) = timed(
        target,
        Request::get(format!("{}/info", target.prefix)).origin(target.origin()),
    )
    .await;
    let comeback = Request::post(format!("{held}/xhr")).origin(target.origin());
    let told = match fetch(target.addr, &comeback, Duration::from_secs(5)).await {
        Ok((_, body)) => String::from_utf8_lossy(&body).trim().to_string(),
        Err(e) => e.to_string(),
    };
    let mut exited_after = None;
    while signalled_at.elapsed() < Duration::from_secs(20) {
        if !is_running(target.pid) {
            exited_after = Some(signalled_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listening_after = match exited_after {
        Some(_) => Conn::open(target.addr).await.is_ok(),
        None => true,
    };

    let answered = |k: &str| k.parse::<u16>().is_ok();
    let expected = answered(&new_session)
        && new_session != "200"
        && answered(&info)
        && told.contains("c[1001,")
        && exited_after.is_some()
        && !listening_after;
    Ok(Outcome {
        summary: format!(
            "during the drain: new session {new_session} in {} ms, info {info} in {} ms; held \
             session told {told}; exited {} s after SIGINT; {}",
            ms(new_took),
            ms(info_took),
            exited_after.map_or("not within 20".into(), |d| format!(
                "{:.1}",
                d.as_secs_f64()
            )),
            if listening_after {
                "still listening"
            } else {
                "then refused connections"
            },
        ),
        expected,
        details: serde_json::json!({
            "new_session": new_session,
            "new_session_ms": ms(new_took),
            "info": info,
            "info_ms": ms(info_took),
            "held_session_told": told,
            "exited_after_s": exited_after.map(|d| d.as_secs_f64()),
            "listening_after_exit": listening_after,
        }),
        settle: Duration::ZERO,
    })
}

//! Probes 2a–2c: uploads that try to make the server hold more than its budgets (many large
//! `xhr_send` bodies at once, to one session and to many) or hold bodies forever (uploads that
//! trickle in and never complete).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{batch_of, kind, open_xhr_session, secs, upload, Pace, Tally};
use crate::http::ProbeError;
use crate::{Outcome, Sizes, Target};

/// Messages of this many characters fill the large bodies (well under any message limit).
const MESSAGE_LEN: usize = 1024;

/// Upload `body` (declaring `declared` bytes) once to each of `sessions` at `pace`, all at
/// once; the answers and, if any came, the time of the first and last.
async fn upload_all(
    target: &Target,
    sessions: Vec<String>,
    declared: usize,
    body: Arc<[u8]>,
    pace: Pace,
    limit: Duration,
) -> (Tally, Option<(Duration, Duration)>) {
    let mut tasks = JoinSet::new();
    for base in sessions {
        let (target, body) = (target.clone(), Arc::clone(&body));
        tasks.spawn(async move {
            let path = format!("{base}/xhr_send");
            upload(&target, &path, declared, body, pace, limit).await
        });
    }
    let mut tally = Tally::default();
    let mut times: Option<(Duration, Duration)> = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((answer, after)) => {
                if answer.is_ok() {
                    times = Some(times.map_or((after, after), |(first, last)| {
                        (first.min(after), last.max(after))
                    }));
                }
                tally.add(kind(&answer));
            }
            Err(e) => tally.add(format!("task failed: {e}")),
        }
    }
    (tally, times)
}

async fn sessions(target: &Target, n: usize) -> Result<Vec<String>, ProbeError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(open_xhr_session(target).await?);
    }
    Ok(out)
}

/// Whether every upload got an HTTP answer (none hung, none was cut without one).
fn all_answered(tally: &Tally) -> bool {
    tally.total() > 0 && tally.only(&["204", "408", "410", "413", "503"])
}

fn outcome(
    tally: &Tally,
    times: Option<(Duration, Duration)>,
    expected: bool,
    sizes: &Sizes,
) -> Outcome {
    let when = match times {
        Some((first, last)) => format!("answered after {}–{} s", secs(first), secs(last)),
        None => "none answered".to_string(),
    };
    Outcome {
        summary: format!("{}; {when}", tally.summary()),
        expected,
        details: serde_json::json!({
            "answers": tally.json(),
            "first_answer_s": times.map(|(first, _)| secs(first)),
            "last_answer_s": times.map(|(_, last)| secs(last)),
        }),
        settle: sizes.session_expiry + Duration::from_secs(1),
    }
}

/// 2a: `uploads` concurrent bodies of `upload_bytes` to one session.
pub(crate) async fn one_session(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let base = open_xhr_session(target).await?;
    let body: Arc<[u8]> = batch_of(sizes.upload_bytes, MESSAGE_LEN).into();
    let limit = sizes.session_expiry + Duration::from_secs(25);
    let (tally, times) = upload_all(
        target,
        vec![base; sizes.uploads],
        body.len(),
        body,
        Pace::AtOnce,
        limit,
    )
    .await;
    Ok(outcome(&tally, times, all_answered(&tally), sizes))
}

/// 2b: `uploads` concurrent bodies of `upload_bytes`, each to its own session.
pub(crate) async fn many_sessions(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let bases = sessions(target, sizes.uploads).await?;
    let body: Arc<[u8]> = batch_of(sizes.upload_bytes, MESSAGE_LEN).into();
    let limit = sizes.session_expiry + Duration::from_secs(25);
    let (tally, times) = upload_all(target, bases, body.len(), body, Pace::AtOnce, limit).await;
    Ok(outcome(&tally, times, all_answered(&tally), sizes))
}

/// 2c: `trickles` uploads, each to its own session, declaring `trickle_bytes` and sending one
/// byte less, spread over `trickle_for`. Each must be answered with an error (408 when the
/// server's body timeout ends it) rather than held open.
pub(crate) async fn trickle(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let bases = sessions(target, sizes.trickles).await?;
    let mut body = b"[\"".to_vec();
    body.resize(sizes.trickle_bytes.saturating_sub(1), b'x');
    let pace = Pace::Trickle {
        // A piece every 250 ms.
        pieces: (sizes.trickle_for.as_millis() / 250).max(1) as usize,
        over: sizes.trickle_for,
    };
    // Generous: the answer is due at the server's body_read_timeout, shorter than this.
    let limit = sizes.trickle_for * 2 + Duration::from_secs(10);
    let (tally, times) =
        upload_all(target, bases, sizes.trickle_bytes, body.into(), pace, limit).await;
    let expected = tally.total() > 0 && tally.only(&["408", "410", "413", "503"]);
    Ok(outcome(&tally, times, expected, sizes))
}

//! Probes 3a–3c: batches of a million one-character messages, which are small on the wire
//! and large once decoded: as `xhr_send` bodies (one, then several at once) and as websocket
//! messages. The server must refuse them (413, close 1009) without decoding them whole.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{batch_len, batch_of, kind, open_xhr_session, upload, Pace, Tally};
use crate::http::{within, ProbeError};
use crate::ws::{encode, Open, Ws, TEXT};
use crate::{Outcome, Sizes, Target};

/// 3a and 3b: `n` bodies at once, each to its own session.
pub(crate) async fn bodies(
    target: &Target,
    sizes: &Sizes,
    n: usize,
) -> Result<Outcome, ProbeError> {
    let mut bases = Vec::with_capacity(n);
    for _ in 0..n {
        bases.push(open_xhr_session(target).await?);
    }
    let body: Arc<[u8]> = batch_of(sizes.batch_bytes, 1).into();
    let messages = batch_len(sizes.batch_bytes, 1);
    let mut tasks = JoinSet::new();
    for base in bases {
        let (target, body) = (target.clone(), Arc::clone(&body));
        tasks.spawn(async move {
            let path = format!("{base}/xhr_send");
            let limit = Duration::from_secs(30);
            upload(&target, &path, body.len(), body, Pace::AtOnce, limit).await
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((answer, _)) => tally.add(kind(&answer)),
            Err(e) => tally.add(format!("task failed: {e}")),
        }
    }
    Ok(Outcome {
        summary: format!("{} ({messages} messages each)", tally.summary()),
        expected: tally.count("413") == n,
        details: serde_json::json!({
            "answers": tally.json(),
            "messages_per_body": messages,
            "body_bytes": body.len(),
        }),
        settle: sizes.session_expiry + Duration::from_secs(1),
    })
}

/// 3c: the same batch as one websocket message on each of `batches` sessions at once.
pub(crate) async fn websocket(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let frame: Arc<[u8]> = encode(0x80 | TEXT, &batch_of(sizes.batch_bytes, 1), true).into();
    let mut tasks = JoinSet::new();
    for _ in 0..sizes.batches {
        let (target, frame) = (target.clone(), Arc::clone(&frame));
        tasks.spawn(async move {
            within(Duration::from_secs(30), "a close frame", async {
                let open = Open::origin(target.origin());
                let mut ws = Ws::sockjs(target.addr, &target.prefix, &open).await?;
                // The server may close as soon as it has seen enough: a failed write still
                // leaves its close frame to read.
                let _ = ws.write(&frame).await;
                ws.until_close().await
            })
            .await
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        tally.add(match joined {
            Ok(Ok(Some(Some(code)))) => format!("close {code}"),
            Ok(Ok(Some(None))) => "close without a code".into(),
            Ok(Ok(None)) => "TCP closed without a close frame".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("task failed: {e}"),
        });
    }
    Ok(Outcome {
        summary: format!(
            "{} ({} messages each)",
            tally.summary(),
            batch_len(sizes.batch_bytes, 1)
        ),
        expected: tally.count("close 1009") == sizes.batches,
        details: serde_json::json!({ "answers": tally.json() }),
        settle: Duration::from_secs(1),
    })
}

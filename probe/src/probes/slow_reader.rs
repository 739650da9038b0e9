//! Probe 6: a websocket client that reads steadily but slowly, for longer than the server's
//! `write_timeout`. It asks `/amplify` for more than the socket buffers hold (so the server's
//! writes wait on the client), reads at a fixed rate with a small receive buffer, and then
//! reads the rest at full speed: a server that dropped it shows as an end of stream or a close
//! frame before every reply arrived.

use std::time::{Duration, Instant};

use super::secs;
use crate::http::{within, ProbeError, Reader};
use crate::ws::{read_frame, Open, Ws, CLOSE, TEXT};
use crate::{Outcome, Sizes, Target};

/// `/amplify` answers `2^18` characters to the message `18`.
const AMPLIFY: &str = "18";
const REPLY_LEN: usize = 1 << 18;

/// How the connection ended, if it did: when, and how.
type Ended = Option<(Duration, String)>;

pub(crate) async fn run(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let open = Open {
        origin: target.origin.clone(),
        headers: Vec::new(),
        recv_buffer: Some(4096),
    };
    let mut ws = Ws::sockjs(target.addr, &target.amplify_prefix, &open).await?;
    let asks = vec![format!("\"{AMPLIFY}\""); sizes.slow_replies].join(",");
    ws.send_text(&format!("[{asks}]")).await?;

    // Read at `slow_rate`, a tenth of it every 100 ms, for `slow_for`.
    let started = Instant::now();
    let tick = Duration::from_millis(100);
    let per_tick = (sizes.slow_rate / 10).max(1);
    let mut slow = Vec::new();
    let mut ended: Ended = None;
    let mut ticker = tokio::time::interval(tick);
    'reading: while started.elapsed() < sizes.slow_for {
        ticker.tick().await;
        let mut budget = per_tick;
        while budget > 0 {
            match tokio::time::timeout(tick, ws.reader.read_some(budget)).await {
                Err(_) => break,
                Ok(Ok(bytes)) if bytes.is_empty() => {
                    ended = Some((started.elapsed(), "end of stream".into()));
                    break 'reading;
                }
                Ok(Ok(bytes)) => {
                    budget -= bytes.len().min(budget);
                    slow.extend_from_slice(&bytes);
                }
                Ok(Err(_)) => {
                    ended = Some((started.elapsed(), "reset".into()));
                    break 'reading;
                }
            }
        }
    }
    let slow_for = started.elapsed();
    let slow_bytes = slow.len();

    // Then everything else at full speed, the slowly read bytes first.
    let Ws { reader, .. } = ws;
    let (io, rest) = reader.into_parts();
    slow.extend_from_slice(&rest);
    let mut reader = Reader::with_bytes(io, slow);
    let mut replies = 0;
    let fast = within(Duration::from_secs(60), "the remaining replies", async {
        while replies < sizes.slow_replies {
            match read_frame(&mut reader).await? {
                Some(f) if f.opcode == TEXT && f.payload.first() == Some(&b'a') => {
                    replies += serde_json::from_slice::<Vec<String>>(&f.payload[1..])
                        .map_or(0, |v| v.iter().filter(|r| r.len() == REPLY_LEN).count());
                }
                Some(f) if f.opcode == CLOSE => {
                    return Ok(Some(format!("close frame {:?}", f.close_code())));
                }
                Some(_) => {}
                None => return Ok(Some("end of stream".to_string())),
            }
        }
        Ok(None)
    })
    .await;
    if ended.is_none() {
        match fast {
            Ok(None) => {}
            Ok(Some(how)) => ended = Some((started.elapsed(), how)),
            Err(e) => ended = Some((started.elapsed(), e.to_string())),
        }
    }

    let rate = slow_bytes as f64 / slow_for.as_secs_f64().max(0.001) / 1000.0;
    let summary = match &ended {
        None => format!(
            "read {} KB in {} s (~{rate:.1} KB/s), never dropped; then all {replies} replies \
             ({} MiB) arrived",
            slow_bytes / 1000,
            secs(slow_for),
            sizes.slow_replies * REPLY_LEN / (1024 * 1024),
        ),
        Some((at, how)) => format!(
            "dropped at {} s ({how}) after {} KB read slowly and {replies}/{} replies",
            secs(*at),
            slow_bytes / 1000,
            sizes.slow_replies
        ),
    };
    Ok(Outcome {
        summary,
        expected: ended.is_none() && replies == sizes.slow_replies,
        details: serde_json::json!({
            "slow_read_s": secs(slow_for),
            "slow_read_bytes": slow_bytes,
            "slow_rate_kb_s": (rate * 10.0).round() / 10.0,
            "replies": replies,
            "replies_asked": sizes.slow_replies,
            "dropped": ended.as_ref().map(|(at, how)| serde_json::json!({ "at_s": secs(*at), "how": how })),
        }),
        settle: Duration::from_secs(1),
    })
}

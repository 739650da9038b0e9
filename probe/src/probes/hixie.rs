//! Probe 5: one large hixie-76 frame dripped in small pieces, which a decoder that rescans
//! its whole buffer for the end byte on every read pays for quadratically. The server's CPU
//! time for it is compared with the same bytes as one RFC 6455 frame, dripped the same way;
//! both carry the same messages, which the echo endpoint sends back.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

use super::{batch_len, batch_of};
use crate::http::{session_url, within, ProbeError};
use crate::procfs::cpu_seconds;
use crate::ws::{encode, Hixie76, Open, Ws, TEXT};
use crate::{Outcome, Sizes, Target};

/// Write `bytes` in pieces of `piece` bytes with `pause` after each.
async fn drip(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    piece: usize,
    pause: Duration,
) -> Result<(), ProbeError> {
    for p in bytes.chunks(piece.max(1)) {
        writer.write_all(p).await?;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    Ok(())
}

/// Messages in one SockJS `a[...]` frame's payload (0 for `o`, `h` and anything else).
fn echoed(payload: &[u8]) -> usize {
    match payload.split_first() {
        Some((b'a', array)) => serde_json::from_slice::<Vec<String>>(array).map_or(0, |v| v.len()),
        _ => 0,
    }
}

/// What one drip cost: messages echoed and the server's CPU seconds.
struct Drip {
    echoed: usize,
    cpu: f64,
}

pub(crate) async fn run(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let message_len = (sizes.drip_bytes / 64).saturating_sub(8).max(1);
    // The frame: 0x00, the payload, 0xFF: drip_bytes in all.
    let payload = batch_of(sizes.drip_bytes.saturating_sub(2), message_len);
    let messages = batch_len(sizes.drip_bytes.saturating_sub(2), message_len);
    let limit = Duration::from_secs(90);
    let pid = target.pid;

    let hixie = within(limit, "the hixie-76 echo", async {
        let (_, path) = session_url(&target.prefix, "websocket");
        let mut ws = Hixie76::open(target.addr, &path, target.origin()).await?;
        let before = cpu_seconds(pid).unwrap_or(0.0);
        let frame = [&[0x00][..], &payload, &[0xff]].concat();
        drip(&mut ws.writer, &frame, sizes.drip_piece, sizes.drip_pause).await?;
        let mut got = 0;
        while got < messages {
            match ws.next_text().await? {
                Some(text) => got += echoed(&text),
                None => break,
            }
        }
        let cpu = cpu_seconds(pid).unwrap_or(0.0) - before;
        Ok(Drip { echoed: got, cpu })
    })
    .await?;

    let rfc6455 = within(limit, "the RFC 6455 echo", async {
        let mut ws =
            Ws::sockjs(target.addr, &target.prefix, &Open::origin(target.origin())).await?;
        let before = cpu_seconds(pid).unwrap_or(0.0);
        let frame = encode(0x80 | TEXT, &payload, true);
        drip(&mut ws.writer, &frame, sizes.drip_piece, sizes.drip_pause).await?;
        let mut got = 0;
        while got < messages {
            match ws.next_frame().await? {
                Some(f) => got += echoed(&f.payload),
                None => break,
            }
        }
        let cpu = cpu_seconds(pid).unwrap_or(0.0) - before;
        Ok(Drip { echoed: got, cpu })
    })
    .await?;

    let pieces = sizes.drip_bytes.div_ceil(sizes.drip_piece.max(1));
    // Linear work: the same order as RFC 6455 framing (a quadratic search cost 30× more).
    let linear = hixie.cpu <= 4.0 * rfc6455.cpu + 0.3;
    let cpu_ok = linear || !sizes.judge_cpu;
    Ok(Outcome {
        summary: format!(
            "{} KiB in {pieces} pieces: hixie-76 echoed {}/{messages}, server CPU {:.2} s; \
             RFC 6455 echoed {}/{messages}, {:.2} s{}",
            sizes.drip_bytes / 1024,
            hixie.echoed,
            hixie.cpu,
            rfc6455.echoed,
            rfc6455.cpu,
            if sizes.judge_cpu {
                ""
            } else {
                " (CPU not judged at this size)"
            },
        ),
        expected: hixie.echoed == messages && rfc6455.echoed == messages && cpu_ok,
        details: serde_json::json!({
            "frame_bytes": sizes.drip_bytes,
            "pieces": pieces,
            "messages": messages,
            "hixie76_echoed": hixie.echoed,
            "hixie76_cpu_s": hixie.cpu,
            "rfc6455_echoed": rfc6455.echoed,
            "rfc6455_cpu_s": rfc6455.cpu,
            "cpu_linear": linear,
            "cpu_judged": sizes.judge_cpu,
        }),
        settle: Duration::from_secs(1),
    })
}

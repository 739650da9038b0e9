//! Probe 9: RFC 6455 violations by the client, each on a fresh SockJS websocket session. The
//! server must fail the connection with the close frame RFC 6455 asks for (1007 for text that
//! is not UTF-8, 1002 for the rest) before closing TCP, so the client learns why instead of
//! seeing 1006.

use std::time::Duration;

use crate::http::{within, ProbeError};
use crate::ws::{encode, Open, Ws};
use crate::{Outcome, Target};

/// FIN bit.
const FIN: u8 = 0x80;

/// Each violation: its name, the bytes that commit it, and the close code it must get.
fn violations() -> Vec<(&'static str, Vec<u8>, u16)> {
    let msg: &[u8] = b"[\"hello\"]";
    vec![
        // 0xC0 0x80 is an overlong encoding of NUL.
        (
            "invalid UTF-8",
            encode(FIN | 0x1, b"[\"\xc0\x80\"]", true),
            1007,
        ),
        (
            "UTF-8 cut across fragments",
            [
                encode(0x1, b"[\"\xf0\x9f\x98", true),
                encode(FIN, b"\"]", true),
            ]
            .concat(),
            1007,
        ),
        ("RSV1 bit", encode(FIN | 0x40 | 0x1, msg, true), 1002),
        ("RSV2 bit", encode(FIN | 0x20 | 0x1, msg, true), 1002),
        ("RSV3 bit", encode(FIN | 0x10 | 0x1, msg, true), 1002),
        ("unmasked frame", encode(FIN | 0x1, msg, false), 1002),
        (
            "ping over 125 bytes",
            encode(FIN | 0x9, &[b'p'; 200], true),
            1002,
        ),
        ("fragmented ping", encode(0x9, b"ping", true), 1002),
        ("stray continuation", encode(FIN, msg, true), 1002),
        (
            "text inside a fragmented message",
            [encode(0x1, b"[\"he", true), encode(FIN | 0x1, msg, true)].concat(),
            1002,
        ),
        (
            "reserved data opcode 0x5",
            encode(FIN | 0x5, msg, true),
            1002,
        ),
        (
            "reserved control opcode 0xD",
            encode(FIN | 0xD, b"", true),
            1002,
        ),
    ]
}

pub(crate) async fn run(target: &Target) -> Result<Outcome, ProbeError> {
    let mut details = serde_json::Map::new();
    let mut wrong = Vec::new();
    let total = violations().len();
    let utf8 = violations().iter().filter(|(_, _, c)| *c == 1007).count();
    for (name, bytes, code) in violations() {
        let got = within(Duration::from_secs(10), "a close frame", async {
            let mut ws =
                Ws::sockjs(target.addr, &target.prefix, &Open::origin(target.origin())).await?;
            let _ = ws.write(&bytes).await;
            ws.until_close().await
        })
        .await;
        let shown = match &got {
            Ok(Some(Some(c))) => format!("close {c}"),
            Ok(Some(None)) => "close without a code".into(),
            Ok(None) => "TCP closed without a close frame (1006)".into(),
            Err(e) => e.to_string(),
        };
        if !matches!(got, Ok(Some(Some(c))) if c == code) {
            wrong.push(format!("{name}: {shown}, expected {code}"));
        }
        details.insert(
            name.into(),
            serde_json::json!({ "got": shown, "expected": code }),
        );
    }
    let summary = if wrong.is_empty() {
        format!(
            "all {total} answered with their close frame (1007 ×{utf8}, 1002 ×{})",
            total - utf8
        )
    } else {
        format!("{}/{total} wrong: {}", wrong.len(), wrong.join("; "))
    };
    Ok(Outcome {
        summary,
        expected: wrong.is_empty(),
        details: serde_json::Value::Object(details),
        settle: Duration::from_secs(1),
    })
}

//! The extra endpoints sockjs-client's own tests use: `/ticker`, `/broadcast`, `/amplify`,
//! answering as sockjs-node's test server does (which those tests are written against).
mod common;

use common::*;

#[tokio::test]
async fn ticker_delivers_over_xhr_polling() {
    let url = session("/ticker");
    open_xhr_session(&url).await;
    // A poll waits until the next tick (every second), bounded by the read timeout.
    for tick in 1..=2 {
        let r = xhr(&url).await;
        assert_eq!(r.status, 200, "{r:?}");
        let messages = decode_messages(&r.text());
        assert!(
            !messages.is_empty() && messages.iter().all(|m| m == "tick!"),
            "poll #{tick} on /ticker carries ticks, exactly \"tick!\": {messages:?}"
        );
    }
}

#[tokio::test]
async fn broadcast_reaches_every_session() {
    let mut ws1 = ws_connect(&format!("{}/websocket", session("/broadcast"))).await;
    assert_eq!(ws_recv(&mut ws1).await, "o");
    let mut ws2 = ws_connect(&format!("{}/websocket", session("/broadcast"))).await;
    assert_eq!(ws_recv(&mut ws2).await, "o");

    // Other clients may broadcast at the same time: look for our own, unique message.
    let message = format!("hello {}", session_id());
    ws_send(&mut ws1, &encode_messages(&[&message])).await;
    for (who, ws) in [("the sender", &mut ws1), ("the other session", &mut ws2)] {
        let found = tokio::time::timeout(TIMEOUT, async {
            loop {
                let frame = ws_recv(ws).await;
                if frame != "h" && decode_messages(&frame).contains(&message) {
                    break;
                }
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "{who} never received the broadcast {message:?}"
        );
    }
    ws_close(ws1).await;
    ws_close(ws2).await;
}

#[tokio::test]
async fn amplify_answers_two_to_the_n() {
    let mut ws = ws_connect(&format!("{}/websocket", session("/amplify"))).await;
    assert_eq!(ws_recv(&mut ws).await, "o");
    // n = Math.floor(Number(message)), and 1 unless that is in 1..=18.
    for (n, len) in [
        ("2", 4),
        ("1", 2),
        ("5", 32),
        ("18", 1 << 18),
        ("19", 2),
        ("0", 2),
        ("-4", 2),
        ("3.7", 8),
        (" 6\n", 64),
        ("", 2),
        ("0x0a", 1024),
        ("1e1", 1024),
        ("Infinity", 2),
        ("six", 2),
    ] {
        ws_send(&mut ws, &encode_messages(&[n])).await;
        let frame = ws_recv(&mut ws).await;
        assert_eq!(
            decode_messages(&frame),
            ["x".repeat(len)],
            "amplify {n:?} answers {len} 'x'"
        );
    }
    ws_close(ws).await;
}

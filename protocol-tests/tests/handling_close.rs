//! Handling close: the close frame for later receivers, 2010 for a second receiver, and what
//! the next receiver sees after a client aborted a receiving request.
mod common;

use std::time::Duration;

use common::*;

/// Time granted to the server to register a pending poll before a second one arrives.
const GRACE: Duration = Duration::from_millis(500);
/// How long to wait between attempts while the server has not yet noticed an abort.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Upper bound of attempts (about 10 s) for the server to notice an aborted request.
const MAX_ATTEMPTS: usize = 50;

const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]\n";

#[tokio::test]
async fn close_frame() {
    let url = session("/close");
    let (_, mut r1) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r1.next_chunk_text().await, "o\n");
    assert_eq!(r1.next_chunk_text().await, "c[3000,\"Go away!\"]\n");

    // A later receiver gets the close frame, not "Another connection still open".
    let (_, mut r2) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r2.next_chunk_text().await, "c[3000,\"Go away!\"]\n");

    // Both streams end after the close frame.
    assert_eq!(
        r1.next_chunk().await,
        None,
        "the first stream ends after closing"
    );
    assert_eq!(
        r2.next_chunk().await,
        None,
        "the second stream ends after closing"
    );
}

#[tokio::test]
async fn close_request() {
    let url = session("/echo");
    let (_, mut r1) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r1.next_chunk_text().await, "o\n");

    let (_, mut r2) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r2.next_chunk_text().await, ANOTHER_CONNECTION);
    assert_eq!(
        r2.next_chunk().await,
        None,
        "a streaming request ends after its close frame"
    );

    // The first receiver is unaffected.
    xhr_send_ok(&url, r#"["still here"]"#).await;
    assert_eq!(r1.next_chunk_text().await, "a[\"still here\"]\n");
    r1.abort().await;
}

/// The next receiver after an abort gets `o` (a new session) or the 1002 close frame. While
/// the server has not noticed the abort yet it answers 2010, so that answer is retried.
async fn expect_interrupted_or_new<F, Fut>(mut receive: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    for _ in 0..MAX_ATTEMPTS {
        let frame = receive().await;
        if frame == ANOTHER_CONNECTION {
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        }
        assert!(
            frame == "o\n" || frame == "c[1002,\"Connection interrupted\"]\n",
            "after an aborted receiver the next one gets o or c[1002,...], got {frame:?}"
        );
        return;
    }
    panic!("the server never noticed that the receiving request was aborted (still 2010)");
}

#[tokio::test]
async fn abort_xhr_streaming() {
    let url = session("/echo");
    let (_, mut r1) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r1.next_chunk_text().await, "o\n");

    let (_, mut r2) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(r2.next_chunk_text().await, ANOTHER_CONNECTION);
    assert_eq!(r2.next_chunk().await, None);

    r1.abort().await;

    expect_interrupted_or_new(|| async {
        let (_, mut r3) = open_xhr_streaming(&url, &[]).await;
        let frame = r3.next_chunk_text().await;
        r3.abort().await;
        frame
    })
    .await;
}

#[tokio::test]
async fn abort_xhr_polling() {
    let url = session("/echo");
    open_xhr_session(&url).await;

    let r1 = Request::post(&format!("{url}/xhr")).start().await;
    tokio::time::sleep(GRACE).await;

    let r2 = xhr(&url).await;
    assert_eq!(r2.text(), ANOTHER_CONNECTION, "a second poll: {r2:?}");

    r1.abort().await;

    expect_interrupted_or_new(|| async { xhr(&url).await.text() }).await;
}

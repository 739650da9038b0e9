//! XHR streaming `/*/*/xhr_streaming`: preflight, prelude, one frame per chunk, and the end
//! of the response once `response_limit` (4096 on the test server) bytes were written.
mod common;

use common::*;

#[tokio::test]
async fn options() {
    assert_options("/echo/abc/abc/xhr_streaming", "OPTIONS, POST").await;
}

#[tokio::test]
async fn transport() {
    let url = session("/echo");
    let (head, mut conn) = open_xhr_streaming(&url, &[("Origin", "test")]).await;
    assert_content_type(&head.headers, "application/javascript;charset=UTF-8");
    assert_cors(&head.headers, Some("test"));
    assert_not_cached(&head.headers);

    assert_eq!(
        conn.next_chunk_text().await,
        "o\n",
        "the open frame is its own chunk"
    );

    xhr_send_ok(&url, r#"["x"]"#).await;
    assert_eq!(conn.next_chunk_text().await, "a[\"x\"]\n");

    xhr_send_ok(&url, r#"["y","z"]"#).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let chunk = conn.next_chunk_text().await;
        assert!(
            chunk.ends_with('\n'),
            "one whole frame per chunk: {chunk:?}"
        );
        got.extend(decode_messages(&chunk));
    }
    assert_eq!(got, ["y", "z"]);
    conn.abort().await;
}

#[tokio::test]
async fn response_limit() {
    let url = session("/echo");
    let (_, mut conn) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(conn.next_chunk_text().await, "o\n");

    // With response_limit 4096 the 31st frame of 128 'x' crosses the limit
    // (2 + 31 * 135 = 4187 bytes after the prelude).
    let msg = format!("\"{}\"", "x".repeat(128));
    for i in 1..=31 {
        xhr_send_ok(&url, &format!("[{msg}]")).await;
        assert_eq!(
            conn.next_chunk_text().await,
            format!("a[{msg}]\n"),
            "frame #{i} arrives as its own chunk"
        );
    }
    assert_eq!(
        conn.next_chunk().await,
        None,
        "the response ends once the response limit is reached"
    );
}

#[tokio::test]
async fn next_receiver_after_limit_gets_queued_messages() {
    let url = session("/echo");
    let (_, mut conn) = open_xhr_streaming(&url, &[]).await;
    assert_eq!(conn.next_chunk_text().await, "o\n");
    let msg = format!("\"{}\"", "x".repeat(4096));
    xhr_send_ok(&url, &format!("[{msg}]")).await;
    assert_eq!(conn.next_chunk_text().await, format!("a[{msg}]\n"));
    assert_eq!(
        conn.next_chunk().await,
        None,
        "one big frame crosses the limit"
    );

    // The session lives on: the next receiver sees no open frame, just new messages.
    xhr_send_ok(&url, r#"["after"]"#).await;
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "a[\"after\"]\n");
}

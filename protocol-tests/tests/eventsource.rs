//! EventSource `/*/*/eventsource`: headers, the `\r\n` prelude, `data: <frame>\r\n\r\n` one
//! frame per chunk, the response limit, percent-escaping for sockjs-client's `decodeURI()`,
//! and GET only.
mod common;

use common::*;

/// The content type of an eventsource response, exactly (no charset parameter).
const EVENT_STREAM: &str = "text/event-stream";

/// `GET <session>/eventsource` with `headers`; checks the status and the `\r\n` prelude chunk.
async fn open_eventsource(session: &str, headers: &[(&str, &str)]) -> (Head, HttpConn) {
    let (head, mut conn) = Request::get(&format!("{session}/eventsource"))
        .headers(headers)
        .open()
        .await;
    assert_eq!(head.status, 200, "eventsource on {session}: {head:?}");
    assert_eq!(
        conn.next_chunk_text().await,
        "\r\n",
        "the first chunk of eventsource is the \\r\\n prelude"
    );
    (head, conn)
}

/// An eventsource event carrying `frame`, as the suite expects it byte for byte.
fn event(frame: &str) -> String {
    format!("data: {frame}\r\n\r\n")
}

/// Decode `%XX` escapes the way `decodeURIComponent()` does (bytes, then UTF-8); panics on a
/// `%` that is not followed by two hex digits, where `decodeURI()` throws a `URIError`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| {
                    panic!(
                        "a '%' not followed by two hex digits at byte {i}: decodeURI() throws \
                         URIError on {text:?}"
                    )
                });
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("percent-decoded data line is UTF-8")
}

#[tokio::test]
async fn transport() {
    let url = session("/echo");
    let (head, mut conn) = open_eventsource(&url, &[]).await;
    assert_eq!(
        head.headers.single("content-type"),
        Some(EVENT_STREAM),
        "Content-Type of eventsource is exactly text/event-stream: {head:?}"
    );
    // A GET: it must never be cached.
    assert_not_cached(&head.headers);

    assert_eq!(
        conn.next_chunk_text().await,
        event("o"),
        "the open frame is its own event"
    );

    xhr_send_ok(&url, r#"["x"]"#).await;
    assert_eq!(conn.next_chunk_text().await, event(r#"a["x"]"#));

    // Leading spaces, NUL, LF and CR inside a message: JSON encoding keeps them off the wire
    // as raw bytes, so they cannot break the event format.
    xhr_send_ok(&url, r#"["  \u0000\n\r "]"#).await;
    assert_eq!(conn.next_chunk_text().await, event(r#"a["  \u0000\n\r "]"#));
    conn.abort().await;
}

#[tokio::test]
async fn several_messages_one_frame_per_chunk() {
    let url = session("/echo");
    let (_, mut conn) = open_eventsource(&url, &[]).await;
    assert_eq!(conn.next_chunk_text().await, event("o"));
    xhr_send_ok(&url, r#"["y","z"]"#).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let chunk = conn.next_chunk_text().await;
        let frame = chunk
            .strip_prefix("data: ")
            .and_then(|c| c.strip_suffix("\r\n\r\n"))
            .unwrap_or_else(|| panic!("one whole event per chunk: {chunk:?}"));
        got.extend(decode_messages(frame));
    }
    assert_eq!(got, ["y", "z"]);
    conn.abort().await;
}

#[tokio::test]
async fn response_limit() {
    let url = session("/echo");
    let (_, mut conn) = open_eventsource(&url, &[]).await;
    assert_eq!(conn.next_chunk_text().await, event("o"));

    // One 4096-byte message crosses the 4096-byte limit of the test server on its own.
    let msg = format!("\"{}\"", "x".repeat(4096));
    xhr_send_ok(&url, &format!("[{msg}]")).await;
    assert_eq!(conn.next_chunk_text().await, event(&format!("a[{msg}]")));
    assert_eq!(
        conn.next_chunk().await,
        None,
        "the response ends once the response limit is reached"
    );
}

/// sockjs-client runs `decodeURI()` on every eventsource data line, so a `%` must arrive as
/// `%25` (and CR, LF escaped likewise) or the client throws / mangles the frame.
#[tokio::test]
async fn percent_is_escaped_for_decode_uri() {
    let url = session("/echo");
    let (_, mut conn) = open_eventsource(&url, &[]).await;
    assert_eq!(conn.next_chunk_text().await, event("o"));

    let messages = [
        "100%",
        // Would turn into a newline under decodeURI() if sent verbatim.
        "50%0A",
        "%zz",
        "cr\r lf\n crlf\r\n end",
        "mixed % \r\n %25 %",
    ];
    xhr_send_ok(&url, &encode_messages(&messages)).await;

    let mut got: Vec<String> = Vec::new();
    let mut saw_100 = false;
    while got.len() < messages.len() {
        let chunk = conn.next_chunk_text().await;
        let line = chunk
            .strip_prefix("data: ")
            .and_then(|c| c.strip_suffix("\r\n\r\n"))
            .unwrap_or_else(|| panic!("one whole event per chunk: {chunk:?}"));
        assert!(
            !line.contains(['\r', '\n']),
            "no raw CR or LF inside the data line: {line:?}"
        );
        saw_100 |= line.contains("100%25");
        got.extend(decode_messages(&percent_decode(line)));
    }
    assert!(
        saw_100,
        "\"100%\" arrives as 100%25 in the data line (got {got:?})"
    );
    assert_eq!(
        got, messages,
        "decodeURI() of the data line gives back the frame"
    );
    conn.abort().await;
}

#[tokio::test]
async fn post_is_405() {
    let r = post("/echo/abc/abc/eventsource", "").await;
    assert_405(&r, "POST eventsource");
}

/// EventSource is a same-origin GET for sockjs-client: a request without an Origin header
/// (and so without CORS) must simply work.
#[tokio::test]
async fn works_without_origin_or_cors() {
    let url = session("/echo");
    let (head, mut conn) = open_eventsource(&url, &[]).await;
    assert_eq!(head.headers.single("content-type"), Some(EVENT_STREAM));
    assert_eq!(conn.next_chunk_text().await, event("o"));
    conn.abort().await;

    let url = session("/echo");
    let (_, mut conn) = open_eventsource(&url, &[("Origin", "http://example.com")]).await;
    assert_eq!(conn.next_chunk_text().await, event("o"));
    conn.abort().await;
}

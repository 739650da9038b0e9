//! HtmlFile `/*/*/htmlfile`: the padded callback page, one `<script>` per frame, callback
//! validation, the response limit, and messages that must not close the script element.
//!
//! sockjs-node 0.3.24 fails `message_cannot_close_the_script_element` by design: it writes the
//! frame with `JSON.stringify`, which leaves `</script>` in a message as it is, so a message
//! can end the `<script>` element early and inject markup into the htmlfile page. We write
//! `<` as `\u003c` inside the JavaScript string.
mod common;

use common::*;

/// The page that opens every htmlfile response, before padding, with `{callback}` where the
/// callback name goes. Byte for byte as the protocol defines it (after trimming whitespace).
const HEAD_TEMPLATE: &str = "<!doctype html>
<html><head>
  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />
  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.{callback};
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>";

fn head_for(callback: &str) -> String {
    HEAD_TEMPLATE.replace("{callback}", callback)
}

/// One frame as an htmlfile chunk, for frames whose JS string form is plain JSON escaping.
fn script(frame: &str) -> String {
    let js = serde_json::to_string(frame).expect("encode JSON string");
    format!("<script>\np({js});\n</script>\r\n")
}

/// The frame inside `<script>\np("...");\n</script>\r\n`, the string argument decoded as
/// JSON (which also reads `\uXXXX` escapes such as `\u003c`).
fn frame_of(chunk: &str) -> String {
    let arg = chunk
        .strip_prefix("<script>\np(")
        .and_then(|c| c.strip_suffix(");\n</script>\r\n"))
        .unwrap_or_else(|| panic!("not an htmlfile frame chunk: {chunk:?}"));
    serde_json::from_str(arg)
        .unwrap_or_else(|e| panic!("p()'s argument is not a JSON string ({e}): {arg:?}"))
}

/// `GET <session>/htmlfile?c=<callback_param>`; checks the status and the padded page.
async fn open_htmlfile(session: &str, callback_param: &str, callback: &str) -> (Head, HttpConn) {
    let (head, mut conn) = Request::get(&format!("{session}/htmlfile?c={callback_param}"))
        .open()
        .await;
    assert_eq!(head.status, 200, "htmlfile on {session}: {head:?}");
    let page = conn.next_chunk_text().await;
    assert_eq!(
        page.trim(),
        head_for(callback),
        "the first chunk is the callback page"
    );
    assert!(
        page.len() > 1024,
        "the page is padded past 1024 bytes, got {} bytes",
        page.len()
    );
    (head, conn)
}

#[tokio::test]
async fn transport() {
    let url = session("/echo");
    // `%63allback` is `callback` percent-encoded: the query value is decoded.
    let (head, mut conn) = open_htmlfile(&url, "%63allback", "callback").await;
    assert_content_type(&head.headers, "text/html;charset=UTF-8");
    // A GET: it must never be cached.
    assert_not_cached(&head.headers);

    assert_eq!(
        conn.next_chunk_text().await,
        "<script>\np(\"o\");\n</script>\r\n",
        "the open frame is its own chunk"
    );

    xhr_send_ok(&url, r#"["x"]"#).await;
    assert_eq!(
        conn.next_chunk_text().await,
        "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
    );
    conn.abort().await;
}

#[tokio::test]
async fn no_callback() {
    let r = get("/echo/a/a/htmlfile").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(
        r.text().contains("\"callback\" parameter required"),
        "{r:?}"
    );
}

#[tokio::test]
async fn invalid_callback() {
    // Anything outside [a-zA-Z0-9-_.] is refused, before or after percent-decoding.
    for callback in ["%20", "*", "abc(", "abc%28"] {
        let r = get(&format!("/echo/a/a/htmlfile?c={callback}")).await;
        assert_eq!(r.status, 500, "callback {callback:?}: {r:?}");
        assert!(
            r.text().contains("invalid \"callback\" parameter"),
            "callback {callback:?}: {r:?}"
        );
    }
}

#[tokio::test]
async fn response_limit() {
    let url = session("/echo");
    let (_, mut conn) = open_htmlfile(&url, "callback", "callback").await;
    assert_eq!(conn.next_chunk_text().await, script("o"));

    // One 4096-byte message crosses the 4096-byte limit of the test server on its own.
    let msg = "x".repeat(4096);
    xhr_send_ok(&url, &format!("[\"{msg}\"]")).await;
    assert_eq!(
        conn.next_chunk_text().await,
        format!("<script>\np(\"a[\\\"{msg}\\\"]\");\n</script>\r\n")
    );
    assert_eq!(
        conn.next_chunk().await,
        None,
        "the response ends once the response limit is reached"
    );
}

/// A message is application data inside a `<script>` element: whatever it holds, the HTML
/// parser must not see the element end before the frame does.
#[tokio::test]
async fn message_cannot_close_the_script_element() {
    let url = session("/echo");
    let (_, mut conn) = open_htmlfile(&url, "callback", "callback").await;
    assert_eq!(conn.next_chunk_text().await, script("o"));

    let evil = [
        "</script><script>alert(1)</script>",
        "</SCRIPT ><script>alert(2)</Script>",
        "<!-- <script>",
    ];
    xhr_send_ok(&url, &encode_messages(&evil)).await;

    let mut got = Vec::new();
    while got.len() < evil.len() {
        let chunk = conn.next_chunk_text().await;
        let lower = chunk.to_ascii_lowercase();
        assert_eq!(
            lower.matches("</script").count(),
            1,
            "only the frame's own </script> may close the element: {chunk:?}"
        );
        assert!(
            !lower.contains("<!--"),
            "no HTML comment opener inside a script element: {chunk:?}"
        );
        got.extend(decode_messages(&frame_of(&chunk)));
    }
    assert_eq!(got, evil, "the messages still arrive intact");
    conn.abort().await;
}

#[tokio::test]
async fn post_is_405() {
    let r = post("/echo/abc/abc/htmlfile?c=callback", "").await;
    assert_405(&r, "POST htmlfile");
}

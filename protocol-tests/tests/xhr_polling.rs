//! XHR polling `/*/*/xhr` and `/*/*/xhr_send`: preflight, transport headers, unknown session,
//! bad payloads, any Content-Type, echoed request headers, empty frames, a POST without
//! Content-Length.
mod common;

use common::*;

#[tokio::test]
async fn options() {
    for suffix in ["/xhr", "/xhr_send"] {
        assert_options(&format!("/echo/abc/abc{suffix}"), "OPTIONS, POST").await;
    }
}

#[tokio::test]
async fn transport() {
    let url = session("/echo");
    let r = post_with(&format!("{url}/xhr"), &[("Origin", "test")], "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
    assert_content_type(&r.headers, "application/javascript;charset=UTF-8");
    assert_cors(&r.headers, Some("test"));
    assert_not_cached(&r.headers);

    let r = post_with(
        &format!("{url}/xhr_send"),
        &[("Origin", "test")],
        r#"["x"]"#,
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    // Even on a 204 the content type is text/plain (Firefox assumes XML otherwise).
    assert_content_type(&r.headers, "text/plain;charset=UTF-8");
    assert_cors(&r.headers, Some("test"));
    assert_not_cached(&r.headers);

    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "a[\"x\"]\n");
}

#[tokio::test]
async fn transport_cors_without_origin() {
    let url = session("/echo");
    let r = xhr(&url).await;
    assert_eq!(r.text(), "o\n");
    assert_cors(&r.headers, None);
    let r = xhr_send(&url, r#"["x"]"#).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_cors(&r.headers, None);
}

#[tokio::test]
async fn invalid_session() {
    let r = xhr_send(&session("/echo"), r#"["x"]"#).await;
    assert_404(&r, "xhr_send to an unknown session");
}

#[tokio::test]
async fn invalid_json() {
    let url = session("/echo");
    open_xhr_session(&url).await;

    let r = xhr_send(&url, r#"["x"#).await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(
        r.text().contains("Broken JSON encoding."),
        "broken JSON: {r:?}"
    );

    let r = xhr_send(&url, "").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.text().contains("Payload expected."), "empty body: {r:?}");

    // The session survives both.
    xhr_send_ok(&url, r#"["a"]"#).await;
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "a[\"a\"]\n");
}

#[tokio::test]
async fn content_types() {
    let url = session("/echo");
    open_xhr_session(&url).await;

    let ctypes = [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ];
    for ct in ctypes {
        let r = post_with(
            &format!("{url}/xhr_send"),
            &[("Content-Type", ct)],
            r#"["a"]"#,
        )
        .await;
        assert_eq!(r.status, 204, "Content-Type {ct:?}: {r:?}");
        assert!(r.body.is_empty(), "Content-Type {ct:?}: {r:?}");
    }

    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    let expected = format!("a[{}]\n", vec!["\"a\""; ctypes.len()].join(","));
    assert_eq!(r.text(), expected, "every message arrives in one frame");
}

#[tokio::test]
async fn request_headers_cors() {
    let r = common::options(
        &format!("{}/xhr", session("/echo")),
        &[
            ("Origin", "test"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "a, b, c"),
        ],
    )
    .await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert_cors(&r.headers, Some("test"));
    assert_eq!(
        r.headers.single("access-control-allow-headers"),
        Some("a, b, c"),
        "Access-Control-Request-Headers is echoed: {r:?}"
    );

    let r = common::options(
        &format!("{}/xhr", session("/echo")),
        &[
            ("Origin", "test"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", ""),
        ],
    )
    .await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert_cors(&r.headers, Some("test"));
    assert!(
        !r.headers.has_value("access-control-allow-headers"),
        "an empty Access-Control-Request-Headers is not echoed: {r:?}"
    );

    let r = common::options(
        &format!("{}/xhr", session("/echo")),
        &[
            ("Origin", "test"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert_cors(&r.headers, Some("test"));
    assert!(
        !r.headers.has_value("access-control-allow-headers"),
        "no Access-Control-Allow-Headers without a request for them: {r:?}"
    );
}

#[tokio::test]
async fn sending_empty_frame() {
    let url = session("/echo");
    open_xhr_session(&url).await;
    let r = xhr_send(&url, "[]").await;
    assert_eq!(r.status, 204, "an empty frame [] is allowed: {r:?}");
    xhr_send_ok(&url, r#"["a"]"#).await;
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "a[\"a\"]\n", "[] delivered no message");
}

/// http-quirks: a POST without Content-Length must not break the server.
#[tokio::test]
async fn post_without_content_length() {
    let url = session("/echo");
    let r = Request::post(&format!("{url}/xhr"))
        .without_content_length()
        .send()
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
}

//! The iframe page `/iframe*.html`: exact body with a configurable client URL, strongly
//! cacheable, answers `If-None-Match` with 304.
mod common;

use common::*;

/// The page before the client URL.
const BEFORE_URL: &str = "<!DOCTYPE html>
<html>
<head>
  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />
  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />
  <script src=\"";

/// The page after the client URL.
const AFTER_URL: &str = "\"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>";

/// Check one iframe URL and return its response.
async fn verify_iframe(path: &str) -> Response {
    let r = get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    assert_content_type(&r.headers, "text/html;charset=UTF-8");
    assert_cacheable_for_long(&r.headers);
    assert!(
        r.headers.has_value("etag"),
        "GET {path}: ETag expected: {r:?}"
    );
    assert!(
        !r.headers.has_value("last-modified"),
        "GET {path}: no Last-Modified: {r:?}"
    );
    assert_no_cookie(&r.headers);

    // The body must be exactly the template, apart from the client URL (anything but `"`).
    let text = r.text();
    let body = text.trim();
    let rest = body
        .strip_prefix(BEFORE_URL)
        .unwrap_or_else(|| panic!("GET {path}: body does not start like the template:\n{body}"));
    let end = rest
        .find('"')
        .unwrap_or_else(|| panic!("GET {path}: unterminated script src:\n{body}"));
    let (sockjs_url, tail) = rest.split_at(end);
    assert_eq!(tail, AFTER_URL, "GET {path}: body after the client URL");
    assert!(
        sockjs_url.starts_with('/') || sockjs_url.starts_with("http"),
        "GET {path}: the client URL must be absolute or rooted: {sockjs_url:?}"
    );
    r
}

#[tokio::test]
async fn simple_url() {
    verify_iframe("/echo/iframe.html").await;
}

#[tokio::test]
async fn versioned_url() {
    for suffix in [
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
    ] {
        verify_iframe(&format!("/echo{suffix}")).await;
    }
}

#[tokio::test]
async fn queried_url() {
    for suffix in [
        "/iframe-a.html?t=1234",
        "/iframe-0.1.2.html?t=123414",
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
    ] {
        verify_iframe(&format!("/echo{suffix}")).await;
    }
}

#[tokio::test]
async fn invalid_url() {
    for suffix in [
        "/iframe.htm",
        "/iframe",
        "/IFRAME.HTML",
        "/IFRAME",
        "/iframe.HTML",
        "/iframe.xml",
        "/iframe-/.html",
    ] {
        let path = format!("/echo{suffix}");
        assert_404(&get(&path).await, &format!("GET {path}"));
    }
}

#[tokio::test]
async fn same_page_for_every_variant() {
    let plain = verify_iframe("/echo/iframe.html").await;
    let versioned = verify_iframe("/echo/iframe-0.1.2.html?t=1").await;
    assert_eq!(
        plain.body, versioned.body,
        "every variant serves the same page"
    );
}

#[tokio::test]
async fn cacheability() {
    let r1 = get("/echo/iframe.html").await;
    let r2 = get("/echo/iframe.html").await;
    let etag = r1
        .headers
        .single("etag")
        .unwrap_or_else(|| panic!("ETag expected: {r1:?}"))
        .to_string();
    assert!(!etag.is_empty(), "ETag must not be empty");
    assert_eq!(
        r2.headers.single("etag"),
        Some(etag.as_str()),
        "the ETag is stable between requests"
    );

    let r = get_with("/echo/iframe.html", &[("If-None-Match", &etag)]).await;
    assert_eq!(r.status, 304, "If-None-Match with the current ETag: {r:?}");
    assert!(
        !r.headers.has_value("content-type"),
        "a 304 carries no Content-Type: {r:?}"
    );
    assert!(r.body.is_empty(), "a 304 has no body: {r:?}");
}

//! JSESSIONID cookies on `/cookie_needed_echo`: set on every session URL (xhr, xhr_send,
//! xhr_streaming, eventsource, htmlfile, jsonp, jsonp_send), a client's value echoed, never on
//! `/info` or the iframe page, and never on an endpoint that does not need cookies.
mod common;

use common::*;

/// `Set-Cookie` must be `JSESSIONID=<value>; path=/` (the attribute case-insensitive).
fn assert_cookie(headers: &Headers, value: &str) {
    let cookie = headers
        .single("set-cookie")
        .unwrap_or_else(|| panic!("Set-Cookie expected: {headers:?}"));
    let mut parts = cookie.split(';');
    assert_eq!(
        parts.next().map(str::trim),
        Some(format!("JSESSIONID={value}").as_str()),
        "Set-Cookie {cookie:?}"
    );
    assert_eq!(
        parts.next().map(|p| p.trim().to_ascii_lowercase()),
        Some("path=/".to_string()),
        "Set-Cookie {cookie:?}"
    );
}

#[tokio::test]
async fn info_has_cookie_needed_and_no_cookie() {
    let r = get("/cookie_needed_echo/info").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_no_cookie(&r.headers);
    let data: serde_json::Value = serde_json::from_slice(&r.body).expect("/info is JSON");
    assert_eq!(data["cookie_needed"], serde_json::json!(true), "{data}");
}

#[tokio::test]
async fn iframe_has_no_cookie() {
    let r = get("/cookie_needed_echo/iframe.html").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_no_cookie(&r.headers);
}

#[tokio::test]
async fn xhr() {
    let url = session("/cookie_needed_echo");
    let r = common::xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
    assert_cookie(&r.headers, "dummy");

    // A cookie the client already has is echoed back.
    let url = session("/cookie_needed_echo");
    let r = post_with(
        &format!("{url}/xhr"),
        &[("Cookie", "JSESSIONID=abcdef")],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
    assert_cookie(&r.headers, "abcdef");
}

#[tokio::test]
async fn xhr_send() {
    let url = session("/cookie_needed_echo");
    open_xhr_session(&url).await;
    let r = common::xhr_send(&url, r#"["a"]"#).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_cookie(&r.headers, "dummy");
}

#[tokio::test]
async fn xhr_streaming() {
    let url = session("/cookie_needed_echo");
    let (head, conn) = Request::post(&format!("{url}/xhr_streaming")).open().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_cookie(&head.headers, "dummy");
    conn.abort().await;
}

#[tokio::test]
async fn no_cookie_when_not_needed() {
    let url = session("/echo");
    let r = common::xhr(&url).await;
    assert_eq!(r.text(), "o\n");
    assert_no_cookie(&r.headers);
}

#[tokio::test]
async fn eventsource() {
    let url = session("/cookie_needed_echo");
    let (head, conn) = Request::get(&format!("{url}/eventsource")).open().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_cookie(&head.headers, "dummy");
    conn.abort().await;
}

#[tokio::test]
async fn htmlfile() {
    let url = session("/cookie_needed_echo");
    let (head, conn) = Request::get(&format!("{url}/htmlfile?c=%63allback"))
        .open()
        .await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_cookie(&head.headers, "dummy");
    conn.abort().await;
}

#[tokio::test]
async fn jsonp() {
    let url = session("/cookie_needed_echo");
    let r = get(&format!("{url}/jsonp?c=%63allback")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_cookie(&r.headers, "dummy");
    assert_eq!(r.text(), "/**/callback(\"o\");\r\n");

    let r = post_with(
        &format!("{url}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "d=%5B%22x%22%5D",
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "ok");
    assert_cookie(&r.headers, "dummy");
}

#[tokio::test]
async fn jsonp_echoes_the_clients_cookie() {
    let url = session("/cookie_needed_echo");
    let r = get_with(
        &format!("{url}/jsonp?c=x"),
        &[("Cookie", "JSESSIONID=abcdef")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"o\");\r\n");
    assert_cookie(&r.headers, "abcdef");
}

#[tokio::test]
async fn no_cookie_on_info_or_iframe_variants() {
    for path in [
        "/cookie_needed_echo/info",
        "/cookie_needed_echo/iframe.html",
        "/cookie_needed_echo/iframe-abc.html",
        "/cookie_needed_echo/iframe.html?t=1",
    ] {
        // Even when the client already holds a JSESSIONID.
        for headers in [&[][..], &[("Cookie", "JSESSIONID=abcdef")][..]] {
            let r = get_with(path, headers).await;
            assert_eq!(r.status, 200, "GET {path}: {r:?}");
            assert_no_cookie(&r.headers);
        }
    }
}

#[tokio::test]
async fn no_cookie_on_other_transports_when_not_needed() {
    let url = session("/echo");
    let (head, conn) = Request::get(&format!("{url}/eventsource")).open().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_no_cookie(&head.headers);
    conn.abort().await;

    let url = session("/echo");
    let (head, conn) = Request::get(&format!("{url}/htmlfile?c=x")).open().await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_no_cookie(&head.headers);
    conn.abort().await;

    let url = session("/echo");
    let r = get(&format!("{url}/jsonp?c=x")).await;
    assert_eq!(r.text(), "/**/x(\"o\");\r\n");
    assert_no_cookie(&r.headers);
    let r = post_with(
        &format!("{url}/jsonp_send"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "d=%5B%22x%22%5D",
    )
    .await;
    assert_eq!(r.text(), "ok");
    assert_no_cookie(&r.headers);
}

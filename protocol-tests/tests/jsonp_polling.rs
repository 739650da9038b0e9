//! JSONP polling `/*/*/jsonp` and `/*/*/jsonp_send`: the `/**/callback("frame");` answer,
//! callback validation, form and raw bodies, bad payloads, close, empty frames, unknown
//! sessions.
mod common;

use common::*;

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `GET <session>/jsonp?c=<callback>`.
async fn jsonp(session: &str, callback: &str) -> Response {
    get(&format!("{session}/jsonp?c={callback}")).await
}

/// `POST <session>/jsonp_send` with a form-encoded body.
async fn jsonp_send_form(session: &str, body: &str) -> Response {
    post_with(&format!("{session}/jsonp_send"), &[FORM], body).await
}

/// `jsonp_send` must answer 200 `ok`.
fn assert_ok(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r:?}");
    assert_eq!(r.text(), "ok", "{what}: {r:?}");
}

/// The JSONP answer carrying `frame` with callback `callback`, as the suite expects it.
fn jsonp_frame(callback: &str, frame: &str) -> String {
    let js = serde_json::to_string(frame).expect("encode JSON string");
    format!("/**/{callback}({js});\r\n")
}

/// Open a session with callback `x`.
async fn open(session: &str) {
    let r = jsonp(session, "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"o\");\r\n");
}

#[tokio::test]
async fn transport() {
    let url = session("/echo");
    // `%63allback` is `callback` percent-encoded: the query value is decoded.
    let r = jsonp(&url, "%63allback").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_content_type(&r.headers, "application/javascript;charset=UTF-8");
    assert_eq!(
        r.headers
            .single("x-content-type-options")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("nosniff"),
        "JSONP answers carry X-Content-Type-Options: nosniff: {r:?}"
    );
    // A GET: it must never be cached.
    assert_not_cached(&r.headers);
    assert_eq!(r.text(), "/**/callback(\"o\");\r\n");

    let r = jsonp_send_form(&url, "d=%5B%22x%22%5D").await;
    // `ok` rather than an empty 204 (Konqueror misbehaves on 204).
    assert_ok(&r, "jsonp_send");
    assert_content_type(&r.headers, "text/plain;charset=UTF-8");
    assert_not_cached(&r.headers);

    let r = jsonp(&url, "%63allback").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/callback(\"a[\\\"x\\\"]\");\r\n");
}

#[tokio::test]
async fn no_callback() {
    let r = get("/echo/a/a/jsonp").await;
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
        let r = get(&format!("/echo/a/a/jsonp?c={callback}")).await;
        assert_eq!(r.status, 500, "callback {callback:?}: {r:?}");
        assert!(
            r.text().contains("invalid \"callback\" parameter"),
            "callback {callback:?}: {r:?}"
        );
    }
}

#[tokio::test]
async fn invalid_json() {
    let url = session("/echo");
    open(&url).await;

    let r = jsonp_send_form(&url, "d=%5B%22x").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.text().contains("Broken JSON encoding."), "{r:?}");

    for body in ["", "d=", "p=p"] {
        let r = jsonp_send_form(&url, body).await;
        assert_eq!(r.status, 500, "body {body:?}: {r:?}");
        assert!(
            r.text().contains("Payload expected."),
            "body {body:?}: {r:?}"
        );
    }

    // The session survived the bad requests.
    assert_ok(
        &jsonp_send_form(&url, "d=%5B%22b%22%5D").await,
        "jsonp_send",
    );
    let r = jsonp(&url, "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"a[\\\"b\\\"]\");\r\n");
}

#[tokio::test]
async fn content_types() {
    let url = session("/echo");
    open(&url).await;

    assert_ok(
        &jsonp_send_form(&url, "d=%5B%22abc%22%5D").await,
        "form body",
    );
    // A raw body is JSON as it stands: it is NOT percent-decoded.
    let r = post_with(
        &format!("{url}/jsonp_send"),
        &[("Content-Type", "text/plain")],
        r#"["%61bc"]"#,
    )
    .await;
    assert_ok(&r, "text/plain body");

    let r = jsonp(&url, "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n");
}

#[tokio::test]
async fn close() {
    let url = session("/close");
    open(&url).await;
    // Every poll after the application closed the session gets the close frame.
    for _ in 0..2 {
        let r = jsonp(&url, "x").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.text(), "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
    }
}

#[tokio::test]
async fn sending_empty_frame() {
    let url = session("/echo");
    open(&url).await;
    // A frame with no messages is allowed and delivers nothing.
    assert_ok(&jsonp_send_form(&url, "d=%5B%5D").await, "empty frame");
    assert_ok(
        &jsonp_send_form(&url, "d=%5B%22x%22%5D").await,
        "jsonp_send",
    );
    let r = jsonp(&url, "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "/**/x(\"a[\\\"x\\\"]\");\r\n");
}

#[tokio::test]
async fn send_to_unknown_session_is_404() {
    let r = jsonp_send_form(&session("/echo"), "d=%5B%22x%22%5D").await;
    assert_404(&r, "jsonp_send to an unknown session");
}

#[tokio::test]
async fn plus_in_a_form_value_is_a_space() {
    let url = session("/echo");
    open(&url).await;
    // Form decoding: `+` is a space, `%2B` a plus. A raw body keeps its `+` as it is.
    assert_ok(
        &jsonp_send_form(&url, "d=%5B%22a+b%22%2C%22c%2Bd%22%5D").await,
        "form body",
    );
    let r = post_with(
        &format!("{url}/jsonp_send"),
        &[("Content-Type", "text/plain")],
        r#"["e+f"]"#,
    )
    .await;
    assert_ok(&r, "text/plain body");
    let r = jsonp(&url, "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), jsonp_frame("x", r#"a["a b","c+d","e+f"]"#));
}

#[tokio::test]
async fn form_field_among_others() {
    let url = session("/echo");
    open(&url).await;
    // The payload is the `d` field wherever it is in the form.
    assert_ok(
        &jsonp_send_form(&url, "a=1&d=%5B%22y%22%5D&z=2").await,
        "form body with other fields",
    );
    let r = jsonp(&url, "x").await;
    assert_eq!(r.text(), jsonp_frame("x", r#"a["y"]"#));
}

#[tokio::test]
async fn wrong_methods_are_405() {
    let r = post("/echo/abc/abc/jsonp?c=x", "").await;
    assert_405(&r, "POST jsonp");
    let r = get("/echo/abc/abc/jsonp_send").await;
    assert_405(&r, "GET jsonp_send");
}

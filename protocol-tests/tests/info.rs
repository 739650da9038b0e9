//! `/info`: capabilities, entropy, CORS, not cached; its CORS preflight.
mod common;

use common::*;

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("/info body is not JSON ({e}): {:?}", r.text()))
}

fn entropy(r: &Response) -> u64 {
    let data = json(r);
    let value = &data["entropy"];
    let n = value
        .as_u64()
        .unwrap_or_else(|| panic!("entropy must be a non-negative integer, got {value}"));
    assert!(
        n <= u64::from(u32::MAX),
        "entropy must be in 0..=2^32-1, got {n}"
    );
    n
}

#[tokio::test]
async fn basic() {
    let r = get_with("/echo/info", &[("Origin", "test")]).await;
    assert_eq!(r.status, 200, "GET /echo/info: {r:?}");
    assert_content_type(&r.headers, "application/json;charset=UTF-8");
    assert_no_cookie(&r.headers);
    assert_not_cached(&r.headers);
    assert_cors(&r.headers, Some("test"));

    let data = json(&r);
    assert_eq!(
        data["websocket"],
        serde_json::json!(true),
        "websocket: {data}"
    );
    assert!(
        data["cookie_needed"].is_boolean(),
        "cookie_needed is a boolean: {data}"
    );
    assert_eq!(
        data["origins"],
        serde_json::json!(["*:*"]),
        "origins: {data}"
    );
    entropy(&r);
}

#[tokio::test]
async fn cors_without_origin() {
    let r = get("/echo/info").await;
    assert_eq!(r.status, 200, "GET /echo/info: {r:?}");
    assert_cors(&r.headers, None);
    assert_not_cached(&r.headers);
}

#[tokio::test]
async fn entropy_differs_between_calls() {
    let e1 = entropy(&get("/echo/info").await);
    let e2 = entropy(&get("/echo/info").await);
    assert_ne!(e1, e2, "every /info call carries fresh entropy");
}

#[tokio::test]
async fn options() {
    assert_options("/echo/info", "OPTIONS, GET").await;
}

#[tokio::test]
async fn options_null_origin() {
    let r = common::options(
        "/echo/info",
        &[
            ("Origin", "null"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .await;
    assert!(r.status == 204 || r.status == 200, "{r:?}");
    assert!(r.body.is_empty(), "empty body: {r:?}");
    assert_eq!(
        r.headers.single("access-control-allow-origin"),
        Some("null"),
        "Origin null is echoed as null: {r:?}"
    );
}

#[tokio::test]
async fn disabled_websocket() {
    let r = get("/disabled_websocket_echo/info").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json(&r)["websocket"], serde_json::json!(false));
}

#[tokio::test]
async fn cookie_needed() {
    let r = get("/cookie_needed_echo/info").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_no_cookie(&r.headers);
    assert_eq!(json(&r)["cookie_needed"], serde_json::json!(true));
}

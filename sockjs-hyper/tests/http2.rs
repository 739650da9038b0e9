//! Requests as hyper's HTTP/2 server hands them over (`Version::HTTP_2`, an absolute URI, no
//! `Host`, no connection headers), called in memory: no answer may carry a header that is
//! illegal in HTTP/2 or a `101`, whatever the route, and the websocket route takes RFC 8441
//! extended `CONNECT` with the `http2` feature.
//!
//! hyper strips connection-specific headers from HTTP/2 responses (with a warning) rather than
//! failing, so a black-box client would not see such a header; this test looks before hyper.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use sockjs_hyper::{Config, ResponseBody, SockJs};

/// Headers HTTP/2 forbids in a response (RFC 9113 section 8.2.2).
const CONNECTION_SPECIFIC: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

fn endpoint(config: Config) -> SockJs {
    SockJs::new("/echo", config, |mut conn| async move {
        while let Some(message) = conn.recv().await {
            if conn.send(message).await.is_err() {
                break;
            }
        }
    })
    .unwrap()
}

fn h2_request(method: Method, path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .version(Version::HTTP_2)
        .uri(format!("http://example.test{path}"))
        .header("origin", "http://app.example.test")
        .header("cookie", "JSESSIONID=abc")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[track_caller]
fn assert_legal_in_h2(what: &str, resp: &Response<ResponseBody>) {
    assert_ne!(
        resp.status(),
        StatusCode::SWITCHING_PROTOCOLS,
        "{what}: HTTP/2 has no 101"
    );
    for name in CONNECTION_SPECIFIC {
        assert!(
            resp.headers().get(name).is_none(),
            "{what}: {name} is illegal in an HTTP/2 response: {:?}",
            resp.headers()
        );
    }
}

#[tokio::test]
async fn no_answer_carries_a_connection_specific_header() {
    for cookie_needed in [false, true] {
        let mut config = Config::default();
        config.cookie_needed = cookie_needed;
        let echo = endpoint(config);
        let s = "/echo/000/h2session";
        let requests = [
            (Method::GET, "/echo".to_string(), ""),
            (Method::POST, "/echo".to_string(), ""),
            (Method::GET, "/echo/info".to_string(), ""),
            (Method::OPTIONS, "/echo/info".to_string(), ""),
            (Method::GET, "/echo/iframe.html".to_string(), ""),
            (Method::GET, "/echo/nowhere".to_string(), ""),
            (Method::POST, format!("{s}/xhr"), ""),
            (Method::OPTIONS, format!("{s}/xhr"), ""),
            (Method::POST, format!("{s}/xhr_send"), "[\"a\"]"),
            (Method::POST, format!("{s}/xhr_send"), ""),
            (Method::POST, format!("{s}/xhr_send"), "[broken"),
            (
                Method::POST,
                "/echo/000/unknown/xhr_send".to_string(),
                "[\"a\"]",
            ),
            (
                Method::POST,
                "/echo/000/h2stream/xhr_streaming".to_string(),
                "",
            ),
            (Method::GET, "/echo/000/h2es/eventsource".to_string(), ""),
            (Method::GET, "/echo/000/h2hf/htmlfile?c=cb".to_string(), ""),
            (Method::GET, "/echo/000/h2hf2/htmlfile".to_string(), ""),
            (Method::GET, "/echo/000/h2jp/jsonp?c=cb".to_string(), ""),
            (
                Method::POST,
                "/echo/000/h2jp/jsonp_send".to_string(),
                "d=%5B%22x%22%5D",
            ),
            // The websocket URLs without an HTTP/2 handshake: refused, never upgraded.
            (Method::GET, format!("{s}/websocket"), ""),
            (Method::POST, format!("{s}/websocket"), ""),
            (Method::GET, "/echo/websocket".to_string(), ""),
            (Method::GET, "/echo/000/a.b/xhr".to_string(), ""),
        ];
        for (method, path, body) in requests {
            let what = format!("{method} {path} (cookie_needed {cookie_needed})");
            let resp = echo.handle(h2_request(method, &path, body)).await;
            assert_legal_in_h2(&what, &resp);
        }
    }
}

/// An RFC 8441 handshake: `CONNECT` with the `:protocol` pseudo-header.
#[cfg(feature = "http2")]
fn extended_connect(
    path: &str,
    protocol: &'static str,
    version: &'static str,
) -> Request<Full<Bytes>> {
    let mut req = h2_request(Method::CONNECT, path, "");
    req.headers_mut().insert(
        "sec-websocket-version",
        http::HeaderValue::from_static(version),
    );
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static(protocol));
    req
}

#[cfg(feature = "http2")]
#[tokio::test]
async fn extended_connect_is_the_websocket_handshake_over_h2() {
    let echo = endpoint(Config::default());
    for path in ["/echo/000/ws/websocket", "/echo/websocket"] {
        let resp = echo.handle(extended_connect(path, "websocket", "13")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.headers().get("sec-websocket-accept").is_none());
        assert!(resp.headers().get("content-length").is_none());
        assert_legal_in_h2(path, &resp);
    }
    let path = "/echo/000/ws/websocket";
    let resp = echo
        .handle(extended_connect(path, "webtransport", "13"))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "another :protocol");
    let resp = echo.handle(extended_connect(path, "websocket", "8")).await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "websocket version 8"
    );
    assert_eq!(resp.headers()["sec-websocket-version"], "13");
    // A CONNECT without :protocol is no websocket handshake.
    let resp = echo.handle(h2_request(Method::CONNECT, path, "")).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Websockets switched off: no handshake either.
    let mut config = Config::default();
    config.websocket = false;
    let no_ws = endpoint(config);
    let resp = no_ws
        .handle(extended_connect(path, "websocket", "13"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[cfg(not(feature = "http2"))]
#[tokio::test]
async fn without_the_http2_feature_connect_is_refused() {
    let echo = endpoint(Config::default());
    let resp = echo
        .handle(h2_request(Method::CONNECT, "/echo/000/ws/websocket", ""))
        .await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

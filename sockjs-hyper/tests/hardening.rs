//! Limits and policies facing the open internet: origin allow-list, session id safety,
//! per-address and batch limits, concurrent sends — driven in memory.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use sockjs_hyper::core::OriginPolicy;
use sockjs_hyper::{Config, Connection, ResponseBody, SockJs};

fn req(method: &str, uri: &str, origin: Option<&str>, body: &'static str) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    b.body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn text(body: ResponseBody) -> String {
    String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

async fn echo(mut conn: Connection) {
    while let Some(m) = conn.recv().await {
        if conn.send(m).await.is_err() {
            break;
        }
    }
}

fn endpoint(config: Config) -> SockJs {
    SockJs::new("/s", config, echo).unwrap()
}

#[tokio::test(start_paused = true)]
async fn refused_origins_get_403_everywhere_and_no_session() {
    let mut config = Config::default();
    config.origins = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let sockjs = endpoint(config);
    let evil = Some("https://evil.example.net");
    for (method, uri) in [
        ("GET", "/s/info"),
        ("OPTIONS", "/s/info"),
        ("GET", "/s/iframe.html"),
        ("POST", "/s/0/a/xhr"),
        ("POST", "/s/0/a/xhr_streaming"),
        ("POST", "/s/0/a/xhr_send"),
        ("GET", "/s/0/a/eventsource"),
        ("GET", "/s/0/a/htmlfile?c=cb"),
        ("GET", "/s/0/a/jsonp?c=cb"),
        ("POST", "/s/0/a/jsonp_send"),
        ("GET", "/s/0/a/websocket"),
        ("GET", "/s/websocket"),
    ] {
        let r = sockjs.handle(req(method, uri, evil, "")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {uri}");
    }
    assert_eq!(sockjs.session_count(), 0, "no session for a refused origin");
    // the allowed origin works, with CORS echoing it
    let r = sockjs
        .handle(req(
            "POST",
            "/s/0/a/xhr",
            Some("https://app.example.com"),
            "",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(text(r.into_body()).await, "o\n");
    // no Origin header (same-origin GET, non-browser client): allowed by default
    let r = sockjs.handle(req("GET", "/s/info", None, "")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // the greeting carries nothing and stays public
    let r = sockjs.handle(req("GET", "/s", evil, "")).await;
    assert_eq!(r.status(), StatusCode::OK);
}

fn req_with(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    b.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test(start_paused = true)]
async fn requests_without_origin_are_judged_by_sec_fetch_site_and_referer() {
    let mut config = Config::default();
    config.origins = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let sockjs = endpoint(config);
    // What a browser sends when a page of another site loads these as a script, an iframe
    // or an EventSource without CORS: no Origin.
    let routes = [
        ("GET", "/s/0/j1/jsonp?c=steal"),
        ("GET", "/s/0/h1/htmlfile?c=steal"),
        ("GET", "/s/0/e1/eventsource"),
        ("GET", "/s/iframe.html"),
        ("GET", "/s/info"),
        ("POST", "/s/0/x1/xhr"),
        ("GET", "/s/0/w1/websocket"),
    ];
    let refused: [&[(&str, &str)]; 4] = [
        &[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-dest", "script"),
            ("referer", "http://evil.example/"),
        ],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("sec-fetch-site", "same-site"),
            ("referer", "https://x.example.com/"),
        ],
        &[("referer", "http://evil.example/page")],
    ];
    for headers in refused {
        for (method, uri) in routes {
            let r = sockjs.handle(req_with(method, uri, headers)).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{method} {uri} {headers:?}"
            );
        }
    }
    assert_eq!(
        sockjs.session_count(),
        0,
        "no session for a refused request"
    );
    // The allowed page loading the same (its Referer), the server's own pages, a user's own
    // navigation and clients that send nothing at all are served.
    let allowed: [&[(&str, &str)]; 5] = [
        &[
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://app.example.com/chat"),
        ],
        &[("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "none")],
        &[
            ("host", "sockjs.example.com"),
            ("referer", "http://sockjs.example.com/s/iframe.html"),
        ],
        &[],
    ];
    for (i, headers) in allowed.iter().enumerate() {
        let uri = format!("/s/0/ok{i}/jsonp?c=cb");
        let r = sockjs.handle(req_with("GET", &uri, headers)).await;
        assert_eq!(r.status(), StatusCode::OK, "{headers:?}");
        assert_eq!(text(r.into_body()).await, "/**/cb(\"o\");\r\n");
        let r = sockjs
            .handle(req_with("GET", "/s/iframe.html", headers))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{headers:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn unlabeled_requests_can_be_refused() {
    let mut config = Config::default();
    let mut origins = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    origins.allow_unlabeled = false;
    config.origins = origins;
    let sockjs = endpoint(config);
    let r = sockjs
        .handle(req_with("GET", "/s/0/u/jsonp?c=cb", &[]))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // a non-browser client names an allowed origin itself
    let r = sockjs
        .handle(req_with(
            "GET",
            "/s/0/u/jsonp?c=cb",
            &[("origin", "https://app.example.com")],
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn iframe_page_limits_its_framers() {
    let mut config = Config::default();
    config.origins = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let r = endpoint(config)
        .handle(req("GET", "/s/iframe.html", None, ""))
        .await;
    assert_eq!(
        r.headers()["content-security-policy"],
        "frame-ancestors 'self' https://app.example.com"
    );
    let r = endpoint(Config::default())
        .handle(req("GET", "/s/iframe.html", None, ""))
        .await;
    assert!(r.headers().get("content-security-policy").is_none());
}

#[tokio::test(start_paused = true)]
async fn require_origin_refuses_requests_without_one() {
    let mut config = Config::default();
    let mut origins = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    origins.require_origin = true;
    config.origins = origins;
    let r = endpoint(config)
        .handle(req("POST", "/s/0/a/xhr", None, ""))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(start_paused = true)]
async fn unsafe_or_overlong_session_ids_are_refused() {
    let mut config = Config::default();
    config.max_session_id_len = 16;
    let sockjs = endpoint(config);
    for id in ["a%22%3Cb", "0123456789abcdef"] {
        let r = sockjs
            .handle(req("POST", &format!("/s/0/{id}/xhr"), None, ""))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{id}");
    }
    for id in ["0123456789abcdefg", "a{b}", "a|b", "a\\b"] {
        // Characters the URI parser itself refuses cannot reach the server at all.
        let Ok(request) = Request::post(format!("/s/0/{id}/xhr")).body(Empty::<Bytes>::new())
        else {
            continue;
        };
        let r = sockjs.handle(request).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(text(r.into_body()).await, "Invalid session id.\n");
    }
    assert_eq!(sockjs.session_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn per_address_session_limit() {
    let mut config = Config::default();
    config.max_sessions_per_addr = Some(2);
    let sockjs = endpoint(config);
    let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:1000".parse().unwrap();
    for id in ["x1", "x2"] {
        let r = sockjs
            .with_peer_addr(a)
            .handle(req("POST", &format!("/s/0/{id}/xhr"), None, ""))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = sockjs
        .with_peer_addr(a)
        .handle(req("POST", "/s/0/x3/xhr", None, ""))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        text(r.into_body()).await,
        "Too many sessions from this address.\n"
    );
    let r = sockjs
        .with_peer_addr(b)
        .handle(req("POST", "/s/0/y1/xhr", None, ""))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "another address is not affected"
    );
    // once a's sessions expire, a may open new ones
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let r = sockjs
        .with_peer_addr(a)
        .handle(req("POST", "/s/0/x4/xhr", None, ""))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn oversized_batches_get_413_and_deliver_nothing() {
    let mut config = Config::default();
    config.max_batch_messages = 3;
    let sockjs = endpoint(config);
    let r = sockjs.handle(req("POST", "/s/0/b/xhr", None, "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let r = sockjs
        .handle(req(
            "POST",
            "/s/0/b/xhr_send",
            None,
            "[\"1\",\"2\",\"3\",\"4\"]",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = sockjs
        .handle(req("POST", "/s/0/b/xhr_send", None, "[\"1\",\"2\",\"3\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = sockjs.handle(req("POST", "/s/0/b/xhr", None, "")).await;
    assert_eq!(text(r.into_body()).await, "a[\"1\",\"2\",\"3\"]\n");
}

#[tokio::test(start_paused = true)]
async fn concurrent_sends_per_session_are_bounded() {
    let mut config = Config::default();
    config.max_sends_in_flight = 1;
    config.max_inbound_queue = 1;
    // a handler that never reads: the first send holds its permit while it waits
    let sockjs = SockJs::new("/s", config, |conn: Connection| async move {
        let _keep = conn;
        std::future::pending::<()>().await;
    })
    .unwrap();
    let r = sockjs.handle(req("POST", "/s/0/c/xhr", None, "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    let first = {
        let sockjs = sockjs.clone();
        tokio::spawn(async move {
            sockjs
                .handle(req("POST", "/s/0/c/xhr_send", None, "[\"1\",\"2\",\"3\"]"))
                .await
                .status()
        })
    };
    tokio::task::yield_now().await;
    let r = sockjs
        .handle(req("POST", "/s/0/c/xhr_send", None, "[\"x\"]"))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    first.abort();
}

#[tokio::test(start_paused = true)]
async fn a_streaming_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut config = Config::default();
    config.write_timeout = std::time::Duration::from_secs(10);
    let sockjs = SockJs::new("/s", config, move |mut conn: Connection| {
        let tx = tx.clone();
        async move {
            while conn.recv().await.is_some() {}
            let _ = tx.send(conn.close_cause());
        }
    })
    .unwrap();
    let r = sockjs
        .handle(req("POST", "/s/0/st/xhr_streaming", None, ""))
        .await;
    let mut body = r.into_body();
    body.frame().await.unwrap().unwrap(); // prelude
    body.frame().await.unwrap().unwrap(); // o
    body.frame().await.unwrap().unwrap(); // pulled: waiting for the next frame
                                          // ... that pull was the first heartbeat after 25 s. Now the "client" stops reading: the
                                          // body is never pulled again.
    let started = tokio::time::Instant::now();
    assert_eq!(
        rx.recv().await,
        Some(Some(sockjs_hyper::CloseCause::Interrupted))
    );
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(10));
    // a client that does read is not affected: covered by the heartbeat tests, which pull
    // for minutes of simulated time.
    drop(body);
}

#[tokio::test(start_paused = true)]
async fn receiving_connections_are_bounded() {
    let mut config = Config::default();
    config.max_receivers = 1;
    let sockjs = endpoint(config);
    // one streaming receiver holds the only place while its response is open
    let held = sockjs
        .handle(req("POST", "/s/0/r1/xhr_streaming", None, ""))
        .await;
    assert_eq!(held.status(), StatusCode::OK);
    let r = sockjs.handle(req("POST", "/s/0/r2/xhr", None, "")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        text(r.into_body()).await,
        "Too many receiving connections.\n"
    );
    let r = sockjs
        .handle(req("GET", "/s/0/r3/websocket", None, ""))
        .await;
    assert_ne!(r.status(), StatusCode::OK);
    // once it ends, the place is free again
    drop(held);
    let r = sockjs.handle(req("POST", "/s/0/r2/xhr", None, "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
    // a finished poll gave its place back too
    let r = sockjs.handle(req("POST", "/s/0/r4/xhr", None, "")).await;
    assert_eq!(text(r.into_body()).await, "o\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_opened_during_shutdown_escapes_the_1001() {
    // Sessions opened on other threads at the very moment shutdown() runs: each must be
    // either refused (503) or closed by the shutdown; one that slipped between the shutdown's
    // flag and its list of sessions would stay open and hold the drain to its deadline.
    for round in 0..100 {
        let sockjs = endpoint(Config::default());
        let openers: Vec<_> = (0..2)
            .map(|t| {
                let sockjs = sockjs.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let uri = format!("/s/0/r{round}t{t}i{i}/xhr");
                        let r = sockjs.handle(req("POST", &uri, None, "")).await;
                        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                            break;
                        }
                        assert_eq!(r.status(), StatusCode::OK);
                    }
                })
            })
            .collect();
        while sockjs.session_count() < 4 {
            tokio::task::yield_now().await;
        }
        sockjs.shutdown(std::time::Duration::ZERO).await;
        for opener in openers {
            opener.await.unwrap();
        }
        for session in sockjs.sessions() {
            assert_eq!(
                session.close_cause(),
                Some(sockjs_hyper::CloseCause::Shutdown),
                "round {round}: a session opened during shutdown is still open"
            );
        }
    }
}

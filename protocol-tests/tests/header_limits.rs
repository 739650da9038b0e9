//! `max_request_headers` (16 KiB by default) over TCP: a request that would open or receive for
//! a session with more headers than a session keeps gets 431 on every such route; sends are
//! not affected, and headers within the limit reach the session.
mod common;

use common::*;

/// `n` headers of 4000 bytes each.
fn padding(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("X-Pad-{i}"), "p".repeat(4000)))
        .collect()
}

fn with(req: Request, headers: &[(String, String)]) -> Request {
    headers
        .iter()
        .fold(req, |req, (name, value)| req.header(name, value))
}

#[tokio::test]
async fn oversized_headers_get_431_on_every_session_route() {
    let big = padding(5); // 20 KB
    let s = session("/echo");
    let routes = [
        Request::post(&format!("{s}/xhr")),
        Request::post(&format!("{s}/xhr_streaming")),
        Request::get(&format!("{s}/eventsource")),
        Request::get(&format!("{s}/htmlfile?c=cb")),
        Request::get(&format!("{s}/jsonp?c=cb")),
        ws_handshake_request(&format!("{s}/websocket")),
        ws_handshake_request("/echo/websocket"),
    ];
    for route in routes {
        let r = with(route, &big).send().await;
        assert_eq!(r.status, 431, "{r:?}");
    }
    // Nothing was opened: the session does not exist for a send.
    let r = xhr_send(&s, "[\"x\"]").await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn headers_within_the_limit_open_a_session_and_sends_are_not_limited() {
    let fits = padding(3); // 12 KB
    let s = session("/echo");
    let r = with(Request::post(&format!("{s}/xhr")), &fits).send().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");
    // A send keeps no headers: large ones are the HTTP server's business, not a session's.
    let r = with(Request::post(&format!("{s}/xhr_send")), &padding(5))
        .body("[\"x\"]")
        .send()
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = xhr(&s).await;
    assert_eq!(r.text(), "a[\"x\"]\n");
}

//! Behind nginx: the streaming transports (`xhr_streaming`, `eventsource`, `htmlfile`) answer
//! `X-Accel-Buffering: no`, so that nginx passes their frames on as they come even where
//! `proxy_buffering` was left on; responses that end at once (polls, sends, `/info`) do not
//! need it and do not carry it.
mod common;

use common::*;

#[tokio::test]
async fn streaming_responses_ask_proxies_not_to_buffer_them() {
    for (method, transport) in [
        ("POST", "xhr_streaming"),
        ("GET", "eventsource"),
        ("GET", "htmlfile?c=callback"),
    ] {
        let url = format!("{}/{transport}", session("/echo"));
        let request = if method == "POST" {
            Request::post(&url)
        } else {
            Request::get(&url)
        };
        let (head, conn) = request.open().await;
        assert_eq!(head.status, 200, "{transport}: {head:?}");
        assert_eq!(
            head.headers.single("x-accel-buffering"),
            Some("no"),
            "{transport}: {head:?}"
        );
        conn.abort().await;
    }
}

#[tokio::test]
async fn polls_and_sends_end_at_once_and_need_no_such_header() {
    let url = session("/echo");
    let r = post(&format!("{url}/xhr"), "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.headers.get("x-accel-buffering"), None, "{r:?}");
    let r = get("/echo/info").await;
    assert_eq!(r.headers.get("x-accel-buffering"), None, "{r:?}");
}

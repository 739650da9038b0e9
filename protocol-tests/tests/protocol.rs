//! Protocol and framing, shown over xhr polling: open frame, send, receive, a second receiver,
//! and a session the server closes.
mod common;

use std::time::Duration;

use common::*;

/// Time granted to the server to register a pending poll before a second one arrives.
const GRACE: Duration = Duration::from_millis(500);

#[tokio::test]
async fn simple_session() {
    let url = session("/echo");
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n", "a new session starts with the open frame");

    xhr_send_ok(&url, r#"["a"]"#).await;

    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "a[\"a\"]\n",
        "the echo comes back as an 'a' frame"
    );
}

#[tokio::test]
async fn send_to_unknown_session_is_404() {
    let r = xhr_send(&session("/echo"), r#"["a"]"#).await;
    assert_404(&r, "xhr_send to a session that does not exist");
    let r = xhr_send("/echo/000/bad_session", r#"["a"]"#).await;
    assert_404(&r, "xhr_send to /echo/000/bad_session");
}

#[tokio::test]
async fn second_receiver_gets_2010() {
    let url = session("/echo");
    open_xhr_session(&url).await;

    // A first poll waits for data; its answer is never read.
    let first = Request::post(&format!("{url}/xhr")).start().await;
    tokio::time::sleep(GRACE).await;

    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "c[2010,\"Another connection still open\"]\n",
        "a second receiving request on the session gets the 2010 close frame"
    );
    first.abort().await;
}

#[tokio::test]
async fn close_session() {
    let url = session("/close");
    let r = xhr(&url).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text(), "o\n");

    // Until the session expires every receive gets the close frame.
    for attempt in 1..=2 {
        let r = xhr(&url).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.text(),
            "c[3000,\"Go away!\"]\n",
            "receive #{attempt} after the app closed the session"
        );
    }
}

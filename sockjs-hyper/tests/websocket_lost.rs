//! Client messages a websocket session received but never handed to the application are
//! counted in `Stats::messages_lost`, as those of `xhr_send`/`jsonp_send` are.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sockjs_hyper::{Config, Connection, SockJs};
use tokio_tungstenite::tungstenite::Message;

/// Every wait for something to happen over the network is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

/// Wait (bounded) until `check` holds.
async fn until(what: &str, check: impl Fn() -> bool) {
    tokio::time::timeout(LIMIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("waited too long for {what}"));
}

#[tokio::test]
async fn messages_a_websocket_session_could_not_hand_over_before_it_closed_are_counted_lost() {
    let mut config = Config::default();
    config.max_inbound_queue = 1;
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let sockjs = SockJs::new("/s", config, move |conn: Connection| {
        let mut go = go_rx.clone();
        async move {
            // Busy elsewhere: reads nothing, then closes the session.
            let _ = go.wait_for(|go| *go).await;
            conn.close(3000, "bye");
        }
    })
    .unwrap();
    let addr = support::serve(vec![sockjs.clone()]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/s/0/a/websocket"))
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("o"));
    // Five messages: one fits the application's queue, four wait for room.
    ws.send(Message::text(r#"["1","2","3","4","5"]"#))
        .await
        .unwrap();
    until("the server to decode the batch", || {
        sockjs.stats().messages_in == 5
    })
    .await;
    go_tx.send(true).unwrap();
    let close = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
    assert_eq!(close.unwrap().unwrap(), Message::text(r#"c[3000,"bye"]"#));
    drop(ws);
    until("the session to end", || sockjs.session_count() == 0).await;
    // The four never reached the application's queue: lost, and counted. (The one in its
    // queue was the application's to take.)
    assert_eq!(sockjs.stats().messages_lost, 4);
}

//! `idle` and `raw-idle`: open N websocket sessions and leave them idle; the server's RSS
//! before and after gives the memory one idle session costs. Afterwards every session must
//! still answer one echo (so none was silently dropped).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::config::LoadConfig;
use crate::frame::{self, Kind};
use crate::payload;
use crate::procfs;
use crate::stats::{Outcome, Stats};
use crate::ws::{self, Ws};

/// How long each session may take to answer the final echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let before = config.server_pid.and_then(procfs::rss_kb);
    if config.server_pid.is_some() && before.is_none() {
        stats.error("cannot read the server's RSS from /proc");
    }
    // Small client buffers: ten thousand connections must fit in the client too.
    let conns = ws::connect_all(config, stats, 4096).await;
    let sessions = conns.len();
    tokio::time::sleep(config.warmup).await;
    let after = config.server_pid.and_then(procfs::rss_kb);

    let sockjs = !config.workload.is_raw();
    let size = config.message_size;
    let concurrency = config.connect_concurrency.max(1);
    futures::stream::iter(conns)
        .map(|mut c| async move {
            let r = tokio::time::timeout(ECHO_TIMEOUT, echo_once(&mut c, sockjs, size)).await;
            let r = r.unwrap_or_else(|_| Err("an idle session did not echo in time".into()));
            (c, r)
        })
        .buffer_unordered(concurrency)
        .for_each_concurrent(concurrency, |(c, r)| async {
            match r {
                Ok(()) => {
                    stats.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => stats.error(e),
            }
            ws::close(c).await;
        })
        .await;
    Outcome {
        sessions,
        rss_kb: before.zip(after),
        ..Outcome::default()
    }
}

/// Send one message and wait for its echo (skipping heartbeats).
async fn echo_once(ws: &mut Ws, sockjs: bool, size: usize) -> Result<(), String> {
    let p = payload::make(0, size);
    let text = if sockjs {
        format!("[\"{p}\"]")
    } else {
        p.clone()
    };
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        let t = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => return Err(format!("unexpected {other:?}")),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("the connection ended".into()),
        };
        if !sockjs {
            return payload::check(0, size, t.as_str())
                .map_err(|m| payload::describe(0, &m, t.as_str()));
        }
        let mut result = Err("no message".to_string());
        match frame::parse(t.as_str(), |m| {
            result = payload::check(0, size, m).map_err(|e| payload::describe(0, &e, m));
        })? {
            Kind::Heartbeat => continue,
            Kind::Messages(1) => return result,
            other => return Err(format!("unexpected frame {other:?}")),
        }
    }
}

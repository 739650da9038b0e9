//! `http-echo`: plain HTTP `POST` echo on keep-alive connections, one request in flight per
//! connection (the bare server's counterpart of the polling transports).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio::task::JoinSet;

use crate::config::LoadConfig;
use crate::http_client::HttpConn;
use crate::payload;
use crate::stats::{measure, Outcome, Stats, Window};

pub(crate) async fn run(config: &LoadConfig, stats: &Arc<Stats>) -> Outcome {
    let addr = config.target;
    let opened: Vec<Result<HttpConn, String>> = futures::stream::iter(0..config.connections)
        .map(|_| HttpConn::connect(addr))
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect()
        .await;
    let window = Window::starting_now(config);
    let path = format!("{}/post", config.prefix);
    let mut tasks = JoinSet::new();
    let mut sessions = 0;
    for c in opened {
        match c {
            Ok(c) => {
                sessions += 1;
                tasks.spawn(connection(
                    c,
                    path.clone(),
                    config.message_size,
                    window,
                    Arc::clone(stats),
                ));
            }
            Err(e) => stats.error(e),
        }
    }
    let measured = measure(config, stats, window).await;
    while tasks.join_next().await.is_some() {}
    Outcome {
        measured: Some(measured),
        sessions,
        ..Outcome::default()
    }
}

async fn connection(
    mut conn: HttpConn,
    path: String,
    size: usize,
    window: Window,
    stats: Arc<Stats>,
) {
    let mut latencies = Vec::new();
    let mut body = String::new();
    let mut seq = 0;
    while Instant::now() < window.to {
        body.clear();
        payload::write(seq, size, &mut body);
        let sent = Instant::now();
        let result = async {
            conn.send("POST", &path, body.as_bytes()).await?;
            stats.sent.fetch_add(1, Ordering::Relaxed);
            let head = conn.head().await?;
            let answer = conn.body(&head).await?;
            if head.status != 200 {
                return Err(format!("POST answered {}", head.status));
            }
            let text = std::str::from_utf8(&answer).map_err(|_| "an answer that is not UTF-8")?;
            payload::check(seq, size, text).map_err(|m| payload::describe(seq, &m, text))
        }
        .await;
        if let Err(e) = result {
            stats.error(e);
            break;
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if window.contains(now) {
            latencies.push(u64::try_from((now - sent).as_nanos()).unwrap_or(u64::MAX));
        }
        seq += 1;
    }
    stats.add_latencies(latencies);
}

//! Benchmarks for sockjs-rs: the servers under test and the load generator.
//!
//! Three servers are compared (see `bench/BENCHMARKS.md` for the method and the results):
//!
//! * **sockjs-rs** — [`servers::serve_sockjs`]: `/echo`, `/broadcast` and `/room` (a hub room)
//!   with the default [`Config`](sockjs_hyper::Config) (heartbeat 25 s, response limit 128 KiB);
//! * **sockjs-node 0.3.24** — `bench/node/server.js`, the same two endpoints;
//! * **bare** — [`servers::serve_bare`]: a plain websocket echo (any path), a plain websocket
//!   broadcast room (`/broadcast`), an HTTP `POST` echo and held HTTP streaming responses
//!   (`/stream/<id>`) on hyper + tokio-tungstenite, no SockJS at all: the ceiling.
//!
//! The load generator is [`run`]: one [`LoadConfig`] in, one [`RunReport`] out. Every message
//! carries a sequence number and a pattern derived from it; every echo is checked intact and in
//! order, and anything unexpected is counted in [`RunReport::errors`]. A run is bounded by its
//! warm-up plus duration and, whatever happens, by a hard timeout.
//!
//! | workload        | transport                          | measures                         |
//! |-----------------|------------------------------------|----------------------------------|
//! | `ws-echo`       | SockJS websocket, `["m"]` / `a["m"]` | echoed messages per second     |
//! | `raw-ws-echo`   | plain websocket text echo (bare)   | echoed messages per second       |
//! | `ws-rtt`        | SockJS websocket, 1 in flight      | round trip p50 / p90 / p99       |
//! | `raw-ws-rtt`    | plain websocket, 1 in flight       | round trip p50 / p90 / p99       |
//! | `xhr-streaming` | `xhr_send` in, `xhr_streaming` out | echoed messages per second       |
//! | `xhr-polling`   | `xhr_send` in, `xhr` polls out     | echoed messages per second       |
//! | `http-echo`     | plain HTTP `POST` echo (bare)      | echoed messages per second       |
//! | `broadcast`     | N websocket sessions on `/broadcast` | send → last receipt, p50       |
//! | `raw-broadcast` | N plain websockets on `/broadcast` (bare) | send → last receipt, p50  |
//! | `room-broadcast` | N websocket sessions in a hub room (`/room`) | send → last receipt, p50 |
//! | `endpoint-broadcast` | N websocket sessions, `SockJs::broadcast` (`/all`) | send → last receipt, p50 |
//! | `idle`          | N idle SockJS websocket sessions   | server RSS per session           |
//! | `raw-idle`      | N idle plain websockets (bare)     | server RSS per session           |
//! | `idle-xhr-streaming` | N idle SockJS `xhr_streaming` sessions | server RSS per session      |
//! | `raw-idle-streaming` | N idle plain HTTP streaming responses (bare) | server RSS per response |
//! | `stomp-publish` | STOMP over SockJS websocket: each session publishes to its own topic | delivered messages per second |
//! | `stomp-fanout`  | STOMP over SockJS websocket: N subscribers of one topic | send → last delivery, p50 |
//! | `stomp-idle`    | N idle STOMP sessions, one subscription each | server RSS per session |
//! | `raw-stomp-*`   | the same over plain websockets (RabbitMQ web-STOMP, SockJS raw websocket) | the same |
//!
//! The STOMP workloads run against sockjs-rs's `/stomp` endpoint and against RabbitMQ's
//! web-STOMP plugin with the same client (see the `stomp` module).
#![deny(missing_docs)]

mod broadcast;
mod config;
mod frame;
mod framing;
mod http_client;
mod http_echo;
mod idle;
mod payload;
pub mod procfs;
mod report;
pub mod servers;
mod stats;
mod stomp;
mod stomp_frame;
mod ws;
mod xhr;

use std::sync::Arc;

pub use config::{LoadConfig, Workload};
pub use report::{Latency, RunReport};

use stats::Stats;

/// Run one workload as `config` describes and report what happened. Never panics on what a
/// server does: failures are counted in [`RunReport::errors`], with a few samples in
/// [`RunReport::error_samples`].
pub async fn run(config: &LoadConfig) -> RunReport {
    let stats = Arc::new(Stats::default());
    let started = std::time::Instant::now();
    let work = async {
        match config.workload {
            Workload::WsEcho | Workload::RawWsEcho | Workload::WsRtt | Workload::RawWsRtt => {
                ws::run(config, &stats).await
            }
            Workload::XhrStreaming | Workload::XhrPolling => xhr::run(config, &stats).await,
            Workload::HttpEcho => http_echo::run(config, &stats).await,
            Workload::Broadcast
            | Workload::RawBroadcast
            | Workload::RoomBroadcast
            | Workload::EndpointBroadcast => broadcast::run(config, &stats).await,
            Workload::Idle
            | Workload::RawIdle
            | Workload::IdleXhrStreaming
            | Workload::RawIdleStreaming => idle::run(config, &stats).await,
            Workload::StompPublish
            | Workload::RawStompPublish
            | Workload::StompFanout
            | Workload::RawStompFanout
            | Workload::StompIdle
            | Workload::RawStompIdle => stomp::run(config, &stats).await,
        }
    };
    let outcome = match tokio::time::timeout(config.hard_timeout, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            stats.error(format_args!(
                "hard timeout after {:.1} s",
                config.hard_timeout.as_secs_f64()
            ));
            stats::Outcome::default()
        }
    };
    report::build(config, &stats, outcome, started.elapsed())
}

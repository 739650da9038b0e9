//! The SockJS conformance test server.
//!
//! ```text
//! sockjs-conformance-server [--listen 127.0.0.1:8081] [--heartbeat-secs 25] [--sockjs-url URL]
//!                           [--redis redis://HOST:PORT [--cluster NAME] [--liveness-ttl-secs 15]
//!                            [--node-id HEX] [--login-policy allow|replace|refuse]]
//! ```
//!
//! Serves `/echo`, `/disabled_websocket_echo`, `/cookie_needed_echo`, `/close`, `/ticker`,
//! `/broadcast`, `/amplify` and the STOMP broker `/stomp` (see the crate docs), over HTTP/1.1 and HTTP/2 with prior
//! knowledge (h2c) on the same port, websockets over HTTP/2 (RFC 8441) included. Logs go to
//! stderr; `RUST_LOG` sets the level (default `info`).
//!
//! With `--redis`, the server is a node of a cluster: `/broadcast` reaches every `/broadcast`
//! session of every node started with the same Redis and `--cluster` (default
//! `sockjs-conformance`), `?user=NAME` logs a session in (cluster presence), and `/metrics`
//! serves Prometheus text (`/stomp`'s topics and user destinations span the nodes too),
//! `GET /cluster` describes the node as JSON and
//! `POST /cluster/kick?user=NAME` kicks a user off every node (see the crate docs). Redis must
//! answer at start (else exit code 1). The liveness TTL bounds how long a killed node's users
//! stay in the others' presence (TTL + TTL/3); the nodes refresh their key every TTL/3. SIGINT
//! or SIGTERM leave the cluster cleanly.
//!
//! `--node-id HEX` (1 to 16 hexadecimal digits, e.g. `0a`) names the node in Redis keys,
//! metrics and logs instead of a random id. A restarted process may reuse its id (after a
//! crash it waits up to one liveness TTL for the old process's key to expire); a process
//! whose id is held by another live process exits with code 1. `--login-policy` is
//! `/broadcast`'s duplicate-login policy for `?user=` logins: `allow` (default), `replace`
//! (older sessions closed with 4009), `refuse` (the new session closed with 4008).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use sockjs_hyper::hub::{LoginPolicy, NodeId};
use sockjs_protocol_tests::{serve, Cluster, ServerOptions};
use sockjs_redis::RedisConfig;

const USAGE: &str = "usage: sockjs-conformance-server [--listen ADDR:PORT] [--heartbeat-secs N] \
[--sockjs-url URL] [--redis redis://HOST:PORT [--cluster NAME] [--liveness-ttl-secs N] \
[--node-id HEX] [--login-policy allow|replace|refuse]]";

fn positive_secs(flag: &str, v: &str) -> Result<Duration, String> {
    let secs: f64 = v.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("{flag} {v}: must be a positive number"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What `--redis` and its companions ask for.
struct ClusterArgs {
    config: RedisConfig,
    node: Option<NodeId>,
    login_policy: LoginPolicy,
}

fn parse_args() -> Result<(SocketAddr, ServerOptions, Option<ClusterArgs>), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8081).into();
    let mut opts = ServerOptions::default();
    let mut redis: Option<String> = None;
    let mut cluster = "sockjs-conformance".to_string();
    let mut ttl: Option<Duration> = None;
    let mut node: Option<NodeId> = None;
    let mut policy: Option<LoginPolicy> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--heartbeat-secs" => {
                opts.heartbeat = positive_secs("--heartbeat-secs", &value("--heartbeat-secs")?)?;
            }
            "--sockjs-url" => opts.sockjs_url = value("--sockjs-url")?,
            "--redis" => redis = Some(value("--redis")?),
            "--cluster" => cluster = value("--cluster")?,
            "--liveness-ttl-secs" => {
                ttl = Some(positive_secs(
                    "--liveness-ttl-secs",
                    &value("--liveness-ttl-secs")?,
                )?);
            }
            "--node-id" => {
                let v = value("--node-id")?;
                node = Some(v.parse().map_err(|e| format!("--node-id {v}: {e}"))?);
            }
            "--login-policy" => {
                policy = Some(match value("--login-policy")?.as_str() {
                    "allow" => LoginPolicy::Allow,
                    "replace" => LoginPolicy::ReplaceOlder,
                    "refuse" => LoginPolicy::RefuseNewer,
                    other => {
                        return Err(format!(
                            "--login-policy {other}: expected allow, replace or refuse"
                        ))
                    }
                });
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let redis = match redis {
        None if ttl.is_some() || node.is_some() || policy.is_some() => {
            return Err("--liveness-ttl-secs, --node-id and --login-policy need --redis".into())
        }
        None => None,
        Some(url) => {
            let mut config = RedisConfig::new(url);
            config.cluster = cluster;
            if let Some(ttl) = ttl {
                config.liveness_ttl = ttl;
                config.refresh_interval = ttl / 3;
            }
            config.validate().map_err(|e| e.to_string())?;
            Some(ClusterArgs {
                config,
                node,
                login_policy: policy.unwrap_or_default(),
            })
        }
    };
    Ok((listen, opts, redis))
}

/// SIGINT, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (listen, mut opts, redis) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        if let Some(args) = redis {
            let mut cluster = Cluster::connect_as(args.config, args.node)
                .await
                .map_err(std::io::Error::other)?;
            cluster.login_policy = args.login_policy;
            tracing::info!(node = %cluster.hub.node(), policy = ?cluster.login_policy, "cluster mode: /broadcast spans the cluster");
            opts.cluster = Some(cluster);
        }
        let cluster = opts.cluster.clone();
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tracing::info!(addr = %listener.local_addr()?, "sockjs conformance server listening");
        let r = tokio::select! {
            r = serve(listener, opts) => r,
            _ = stop_signal() => Ok(()),
        };
        if let Some(cluster) = cluster {
            cluster.redis.shutdown().await;
        }
        r
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

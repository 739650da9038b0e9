//! The STOMP broker across nodes: two brokers in this process, each on its own hub with a
//! Redis backend (one real redis-server), each served on its own port; real STOMP clients
//! over websockets. A topic publication on node A reaches node B's subscribers once, and a
//! user destination reaches the user's session on the other node.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::stomp::{Client, Frame};
use sockjs_hyper::hub::Hub;
use sockjs_protocol_tests::spawn_endpoints;
use sockjs_redis::testing::RedisServer;
use sockjs_redis::{RedisBackend, RedisConfig};
use sockjs_stomp::broker::StompBroker;

/// Generous bound on any condition (the machine is shared); never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(40);

struct Node {
    broker: StompBroker,
    url: String,
    redis: RedisBackend,
}

async fn node(redis: &RedisServer, cluster: &str) -> Node {
    let mut config = RedisConfig::new(redis.url());
    config.cluster = cluster.into();
    let backend = RedisBackend::connect(config).await.unwrap();
    let hub = Hub::with_backend(backend.clone());
    assert!(backend.wait_until_up(PATIENCE).await, "node never joined");
    let broker = StompBroker::builder("/stomp")
        .hub(hub)
        .authenticator(|info| {
            let user = info.login().map(str::to_owned);
            async move { Ok(user) }
        })
        .build()
        .unwrap();
    let addr = spawn_endpoints(vec![broker.endpoint().clone()]);
    Node {
        url: format!("http://{addr}/stomp"),
        broker,
        redis: backend,
    }
}

/// The next frame within `wait`, if any.
async fn frame_within(c: &mut Client, wait: Duration) -> Option<Frame> {
    tokio::time::timeout(wait, c.next_frame())
        .await
        .ok()
        .map(|r| r.unwrap())
}

/// Calls `ping` every 100 ms until `c` receives a `MESSAGE` whose body starts with "ping"
/// (the other node's backend subscription is then in place), then reads past the pings
/// still on their way: returns the first other frame.
async fn warm_up(c: &mut Client, mut ping: impl FnMut(usize)) {
    let deadline = Instant::now() + PATIENCE;
    for n in 0.. {
        ping(n);
        if let Some(f) = frame_within(c, Duration::from_millis(100)).await {
            assert!(f.body.starts_with("ping"), "unexpected {f:?}");
            return;
        }
        assert!(Instant::now() < deadline, "the other node never delivered");
    }
}

/// The next frame that is not a ping.
async fn next_real(c: &mut Client) -> Frame {
    loop {
        let f = c.next().await.unwrap();
        if !f.body.starts_with("ping") {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_user_destinations_span_nodes_once() {
    let redis = RedisServer::start().unwrap();
    let cluster = format!("stomp-{}", common::session_id());
    let a = node(&redis, &cluster).await;
    let b = node(&redis, &cluster).await;
    assert_ne!(a.broker.hub().node(), b.broker.hub().node());

    // Topic: subscribers on both nodes, a client publishes on node A.
    let mut on_b = Client::login(&b.url, "reader-b").await;
    on_b.subscribe("t", "/topic/news", &[]).await;
    let mut on_a = Client::login(&a.url, "reader-a").await;
    on_a.subscribe("t", "/topic/news", &[]).await;
    let broker_a = a.broker.clone();
    warm_up(&mut on_b, |n| {
        broker_a
            .publish("/topic/news", format!("ping {n}"))
            .unwrap();
    })
    .await;
    let mut publisher = Client::login(&a.url, "writer").await;
    for body in ["breaking", "end"] {
        publisher
            .send(
                "SEND",
                &[
                    ("destination", "/topic/news"),
                    ("content-type", "text/plain"),
                ],
                body,
            )
            .await;
    }
    for reader in [&mut on_a, &mut on_b] {
        let m = next_real(reader).await;
        assert_eq!(
            (m.body.as_str(), m.header("destination")),
            ("breaking", Some("/topic/news"))
        );
        assert_eq!(m.header("content-type"), Some("text/plain"));
        // Once: the next one is the following publication, not a copy.
        assert_eq!(reader.next().await.unwrap().body, "end");
    }

    // User destination: bob is on node B; carol on node A sends to him, and so does node
    // A's server code.
    let mut bob = Client::login(&b.url, "bob").await;
    bob.subscribe("inbox", "/user/queue/inbox", &[]).await;
    let broker_a = a.broker.clone();
    warm_up(&mut bob, |n| {
        broker_a
            .send_to_user("bob", "/queue/inbox", format!("ping {n}"))
            .unwrap();
    })
    .await;
    let mut carol = Client::login(&a.url, "carol").await;
    carol
        .send(
            "SEND",
            &[
                ("destination", "/user/bob/queue/inbox"),
                ("receipt", "sent"),
            ],
            "hi bob",
        )
        .await;
    // Published (on node A) once its RECEIPT is back: the server's message follows it.
    carol.expect("RECEIPT").await;
    a.broker
        .send_to_user("bob", "/queue/inbox", "from the server")
        .unwrap();
    let m = next_real(&mut bob).await;
    assert_eq!(
        (m.body.as_str(), m.header("destination")),
        ("hi bob", Some("/user/queue/inbox"))
    );
    assert_eq!(bob.next().await.unwrap().body, "from the server");

    // Node B saw node A's envelopes in order, none lost, none twice.
    let stats = b.broker.hub().stats();
    assert_eq!((stats.gaps, stats.duplicates), (0, 0), "{stats:?}");
    a.redis.shutdown().await;
    b.redis.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_servers_stomp_endpoint_spans_nodes_with_redis() {
    use sockjs_protocol_tests::{spawn_background, Cluster, ServerOptions};
    let redis = RedisServer::start().unwrap();
    let mut config = RedisConfig::new(redis.url());
    config.cluster = format!("conformance-stomp-{}", common::session_id());
    let mut urls = Vec::new();
    let mut clusters = Vec::new();
    for _ in 0..2 {
        let cluster = Cluster::connect(config.clone()).await.unwrap();
        let opts = ServerOptions {
            cluster: Some(cluster.clone()),
            ..ServerOptions::default()
        };
        urls.push(format!("http://{}/stomp", spawn_background(opts)));
        clusters.push(cluster);
    }
    let mut reader = Client::login(&urls[1], "reader").await;
    reader.subscribe("e", "/topic/echo", &[]).await;
    let mut writer = Client::login(&urls[0], "writer").await;
    // SEND /app/echo on node 0 republishes to /topic/echo, which reaches node 1.
    let deadline = Instant::now() + PATIENCE;
    for n in 0.. {
        writer
            .send(
                "SEND",
                &[("destination", "/app/echo")],
                &format!("ping {n}"),
            )
            .await;
        if frame_within(&mut reader, Duration::from_millis(100))
            .await
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 never got node 0's echo");
    }
    writer
        .send(
            "SEND",
            &[
                ("destination", "/app/echo"),
                ("content-type", "application/json"),
            ],
            "{\"x\":1}",
        )
        .await;
    let m = next_real(&mut reader).await;
    assert_eq!(m.body, "{\"x\":1}");
    assert_eq!(m.header("content-type"), Some("application/json"));
    for c in clusters {
        c.redis.shutdown().await;
    }
}

//! Redis failing: unreachable at start (typed error, or a degraded start), stopped and
//! restarted mid-test, frozen. Local delivery keeps working, cross-node sends fail visibly,
//! memory stays bounded, and everything resumes on its own.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use sockjs_hyper::hub::{
    Backend, BackendError, BackendStatus, Envelope, Hub, HubError, LoginPolicy, Operation,
};
use sockjs_redis::{RedisBackend, RedisConfig, RedisError, StartMode};
use support::{config, eventually, redis, subscribers, Node};

/// A loopback URL where nothing listens.
fn nowhere() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("redis://127.0.0.1:{port}")
}

#[tokio::test]
async fn unreachable_redis_at_start_is_a_typed_error() {
    support::init_tracing();
    let err = RedisBackend::connect(config(&nowhere())).await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(matches!(err, RedisError::Unreachable { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("cannot reach Redis at redis://127.0.0.1:"));

    let mut bad = RedisConfig::new("redis://127.0.0.1:1");
    bad.cluster = "no spaces".into();
    let err = RedisBackend::connect(bad).await.unwrap_err();
    assert!(
        matches!(err, RedisError::Config(ref e) if e.field() == "cluster"),
        "{err:?}"
    );
    assert!(!err.is_unreachable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_start_works_alone_then_joins_when_redis_comes() {
    let mut redis = redis();
    let url = redis.url();
    redis.stop();
    let mut c = config(&url);
    c.start = StartMode::Degraded;
    let lonely = Node::start(c, LoginPolicy::Allow).await;
    assert_eq!(lonely.hub.stats().backend, BackendStatus::Down);
    let mut client = lonely.client().await;
    assert_eq!(client.cmd("join r").await, "Ok(())");
    // local delivery works; the cross-node part fails visibly
    let answer = client.cmd("say r alone").await;
    assert_eq!(
        answer,
        "error: delivered on this node only: the cluster backend is down"
    );
    assert_eq!(client.messages(1).await, ["alone"]);
    assert!(lonely.redis.stats().refused_down >= 1);
    assert!(lonely.hub.stats().publish_failed >= 1);

    redis.restart().unwrap();
    lonely.up().await;
    let other = Node::start(config(&url), LoginPolicy::Allow).await;
    other.up().await;
    let mut far = other.client().await;
    assert_eq!(far.cmd("join r").await, "Ok(())");
    eventually("both nodes subscribed", || {
        subscribers(&redis, "room:r") == 2
    })
    .await;
    assert_eq!(client.cmd("say r together").await, "ok");
    assert_eq!(far.messages(1).await, ["together"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_test_local_delivery_goes_on_cross_node_fails_visibly_then_resumes() {
    let mut redis = redis();
    let url = redis.url();
    let mut cfg = config(&url);
    cfg.outbox_capacity = 64;
    let a = Node::start(cfg, LoginPolicy::Allow).await;
    let b = Node::start(config(&url), LoginPolicy::Allow).await;
    a.up().await;
    b.up().await;
    let mut a1 = a.client().await;
    let mut b1 = b.client().await;
    assert_eq!(a1.cmd("login alice").await, "ok");
    assert_eq!(b1.cmd("login bob").await, "ok");
    for c in [&mut a1, &mut b1] {
        assert_eq!(c.cmd("join r").await, "Ok(())");
    }
    let both = vec![("alice".to_string(), 1), ("bob".to_string(), 1)];
    eventually("presence of both nodes on a", || a.presence() == both).await;
    eventually("room subscribed on both", || {
        subscribers(&redis, "room:r") == 2
    })
    .await;
    assert_eq!(a1.cmd("say r before").await, "ok");
    assert_eq!(b1.messages(1).await, ["before"]);
    assert_eq!(a1.messages(1).await, ["before"]);

    redis.stop();
    eventually("node a noticed", || {
        a.hub.stats().backend == BackendStatus::Down
    })
    .await;
    let failed_before = a.hub.stats().publish_failed;
    // Local delivery keeps working; the caller sees the cross-node failure.
    match a.hub.send_to_room("r", "during") {
        Err(HubError::Cluster { local, cause }) => {
            assert_eq!(local.sent, 1);
            assert_eq!(cause, BackendError::Down);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a1.messages(1).await, ["during"]);
    // Many more while down (on a channel nobody here subscribes to): every one refused at
    // once, nothing piles up.
    for i in 0..20_000 {
        let r = a.hub.publish("ticks", format!("lost {i}"));
        assert!(matches!(r, Err(HubError::Cluster { .. })), "{r:?}");
        let s = a.redis.stats();
        assert!(s.outbox_len <= s.outbox_capacity);
    }
    let (hs, rs) = (a.hub.stats(), a.redis.stats());
    assert!(hs.publish_failed >= failed_before + 20_001, "{hs:?}");
    assert!(rs.refused_down >= 20_001, "{rs:?}");
    assert_eq!((rs.outbox_len, rs.outbox_bytes), (0, 0), "{rs:?}");
    assert!(!rs.up);
    let text = rs.to_prometheus("/s");
    assert!(text.contains("sockjs_redis_up{hub=\"/s\""), "{text}");

    redis.restart().unwrap();
    a.up().await;
    b.up().await;
    assert!(a.redis.stats().reconnects >= 1);
    assert_eq!(a.hub.stats().backend, BackendStatus::Up);
    // presence rebuilt from an empty Redis
    for node in [&a, &b] {
        eventually("presence of both nodes again", || node.presence() == both).await;
    }
    eventually("room subscribed again on both", || {
        subscribers(&redis, "room:r") == 2
    })
    .await;
    b.hub.send_to_room("r", "after").unwrap();
    assert_eq!(a1.messages(1).await, ["after"]);
    assert_eq!(b1.messages(1).await, ["after"]);
    let stats = a.hub.stats();
    assert_eq!(stats.duplicates, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_fills_the_outbox_to_its_bound_and_no_further() {
    let redis = redis();
    let mut cfg = config(&redis.url());
    cfg.outbox_capacity = 100;
    cfg.command_timeout = Duration::from_millis(1500);
    let backend = RedisBackend::connect(cfg).await.unwrap();
    let hub = Hub::with_backend(backend.clone());
    assert!(backend.wait_until_up(support::PATIENCE).await);
    let me = hub.node();

    redis.pause().unwrap();
    // Publish directly through the backend: never blocks; accepted up to the bound (plus the
    // batch the writer took before it got stuck), then Full, and Down once it noticed.
    let mut accepted = 0;
    let mut full = 0;
    for seq in 1..=5_000u64 {
        let envelope = Envelope {
            origin: me,
            seq,
            op: Operation::Broadcast {
                message: "x".repeat(100).into(),
            },
        };
        match backend.publish(envelope) {
            Ok(()) => accepted += 1,
            Err(BackendError::Full) => full += 1,
            Err(BackendError::Down) => {}
            Err(e) => panic!("{e:?}"),
        }
        let s = backend.stats();
        assert!(s.outbox_len <= 100, "{s:?}");
        assert!(s.outbox_bytes <= s.outbox_max_bytes, "{s:?}");
    }
    assert!(accepted <= 100 + 512, "accepted {accepted}");
    assert!(full > 0);
    assert_eq!(backend.stats().refused_full, full);
    eventually("the stuck write timed out", || !backend.is_up()).await;
    let s = backend.stats();
    assert_eq!(
        s.outbox_len, 0,
        "dropped when the connection was given up: {s:?}"
    );
    assert_eq!(s.dropped, accepted, "{s:?}");

    redis.resume().unwrap();
    assert!(backend.wait_until_up(support::PATIENCE).await);
    let other = Hub::with_backend(RedisBackend::connect(config(&redis.url())).await.unwrap());
    let mut news = other.subscribe("news").unwrap();
    eventually("subscribed", || subscribers(&redis, "channel:news") == 1).await;
    hub.publish("news", "back").unwrap();
    assert_eq!(
        tokio::time::timeout(support::PATIENCE, news.recv())
            .await
            .expect("a publication"),
        Some(Ok("back".into()))
    );
    let seen = other.stats();
    assert_eq!(seen.origins.len(), 1);
    assert_eq!(seen.origins[0].node, me);
}

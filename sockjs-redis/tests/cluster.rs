//! Cluster behaviour over a real redis-server: several nodes (hubs with a `RedisBackend`,
//! each serving a SockJS endpoint over TCP) in this process; clients are real websockets.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::HashMap;

use sockjs_hyper::hub::{
    BackendError, BackendStatus, Hub, HubError, LoginPolicy, PresenceKind, REFUSED, REPLACED,
};
use sockjs_redis::testing::RedisServer;
use support::{both, config, eventually, redis, subscribers, Client, Node, Seen};

async fn nodes(redis: &RedisServer, n: usize, policy: LoginPolicy) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(Node::start(config(&redis.url()), policy).await);
    }
    for node in &nodes {
        node.up().await;
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_send_across_three_nodes_reaches_every_member_once_in_order_per_sender() {
    let redis = redis();
    let nodes = nodes(&redis, 3, LoginPolicy::Allow).await;
    // Two members per node; the first of each node also sends.
    let mut members = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            let mut c = node.client().await;
            assert_eq!(c.cmd("join r").await, "Ok(())");
            members.push(c);
        }
    }
    eventually("every node subscribed to the room", || {
        subscribers(&redis, "room:r") == 3
    })
    .await;
    const PER_SENDER: usize = 40;
    let senders = [0usize, 2, 4];
    for i in 0..PER_SENDER {
        for (s, &m) in senders.iter().enumerate() {
            let answer = members[m].cmd(&format!("say r s{s}-{i}")).await;
            assert_eq!(answer, "ok");
        }
    }
    let total = PER_SENDER * senders.len();
    for (k, member) in members.iter_mut().enumerate() {
        let got = member.messages(total).await;
        let mut per_sender: HashMap<&str, Vec<usize>> = HashMap::new();
        for m in &got {
            let (s, i) = m.split_once('-').unwrap();
            per_sender.entry(s).or_default().push(i.parse().unwrap());
        }
        for s in ["s0", "s1", "s2"] {
            assert_eq!(
                per_sender[s],
                (0..PER_SENDER).collect::<Vec<_>>(),
                "member {k}: everything from {s}, once, in order"
            );
        }
    }
    // and nothing more arrives: a marker sent last is the next message everyone sees
    members[1].cmd("say r end").await;
    for member in &mut members {
        assert_eq!(member.messages(1).await, ["end"]);
    }
    for node in &nodes {
        let s = node.hub.stats();
        assert_eq!((s.gaps, s.duplicates), (0, 0), "{s:?}");
        assert_eq!(s.backend, BackendStatus::Up);
        let r = node.redis.stats();
        assert_eq!(r.dropped + r.refused_down + r.refused_full, 0, "{r:?}");
        assert!(r.received >= (2 * PER_SENDER) as u64, "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_user_and_kick_user_reach_sessions_on_other_nodes() {
    let redis = redis();
    let nodes = nodes(&redis, 3, LoginPolicy::Allow).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut b1 = b.client().await;
    let mut b2 = b.client().await;
    let mut c1 = c.client().await;
    let mut bob = c.client().await;
    for client in [&mut b1, &mut b2, &mut c1] {
        assert_eq!(client.cmd("login alice").await, "ok");
    }
    assert_eq!(bob.cmd("login bob").await, "ok");
    eventually("node a sees alice's three sessions", || {
        a.hub.online("alice") == 3
    })
    .await;
    let d = a.hub.send_to_user("alice", "hi alice").unwrap();
    assert_eq!(d.sent, 0, "no local session on a");
    assert!(d.published);
    for client in [&mut b1, &mut b2, &mut c1] {
        assert_eq!(client.messages(1).await, ["hi alice"]);
    }
    a.hub.kick_user("alice", 4001, "Kicked by admin").unwrap();
    for client in [&mut b1, &mut b2, &mut c1] {
        assert_eq!(client.closed().await, (4001, "Kicked by admin".to_string()));
    }
    for node in &nodes {
        eventually("alice left everyone's presence, bob stays", || {
            node.presence() == [("bob".to_string(), 1)]
        })
        .await;
    }
    // bob was not touched
    assert_eq!(bob.cmd("join x").await, "Ok(())");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_follow_logins_and_closes_across_nodes() {
    let redis = redis();
    let nodes = nodes(&redis, 3, LoginPolicy::Allow).await;
    let mut events = nodes[2].hub.presence_events();
    let mut a1 = nodes[0].client().await;
    let mut a2 = nodes[0].client().await;
    let mut b1 = nodes[1].client().await;
    let mut bob = nodes[2].client().await;
    for client in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(client.cmd("login alice").await, "ok");
    }
    assert_eq!(bob.cmd("login bob").await, "ok");
    let want = vec![("alice".to_string(), 3), ("bob".to_string(), 1)];
    for node in &nodes {
        eventually("alice 3, bob 1 everywhere", || node.presence() == want).await;
    }
    a1.close().await;
    a2.close().await;
    for node in &nodes {
        eventually("alice 1 after two closes", || {
            node.presence() == [("alice".to_string(), 1), ("bob".to_string(), 1)]
        })
        .await;
    }
    b1.close().await;
    for node in &nodes {
        eventually("alice gone", || node.presence() == [("bob".to_string(), 1)]).await;
    }
    // node c saw alice join once and leave once (it never had a session of hers)
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = tokio::time::timeout(support::PATIENCE, events.recv())
            .await
            .expect("presence events")
            .unwrap()
            .unwrap();
        seen.push((e.user.to_string(), e.kind));
    }
    let alice: Vec<PresenceKind> = seen
        .iter()
        .filter(|(u, _)| u == "alice")
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(alice, [PresenceKind::Joined, PresenceKind::Left]);
    assert!(seen.contains(&("bob".to_string(), PresenceKind::Joined)));
    // the Redis side: node c's hash holds bob, the others' are empty
    let c = nodes[2].redis.node().unwrap();
    assert_eq!(
        redis
            .cli(&["HGETALL", &format!("sockjs:{{test}}:presence:{c}")])
            .unwrap(),
        "bob\n1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_older_across_nodes_leaves_exactly_one_of_two_racing_logins() {
    let redis = redis();
    let nodes = nodes(&redis, 2, LoginPolicy::ReplaceOlder).await;
    for round in 0..6 {
        let user = format!("u{round}");
        let mut x = nodes[0].client().await;
        let mut y = nodes[1].client().await;
        let login = format!("login {user}");
        let (ax, ay) = both(x.cmd(&login), y.cmd(&login)).await;
        assert_eq!((ax.as_str(), ay.as_str()), ("ok", "ok"));
        // exactly one of them is replaced, and it is told so with 4009
        let (replaced, mut survivor) = tokio::select! {
            s = x.next() => (s, y),
            s = y.next() => (s, x),
        };
        assert_eq!(
            replaced,
            Some(Seen::Closed(REPLACED.code, REPLACED.reason.to_string())),
            "round {round}"
        );
        for node in &nodes {
            eventually("one session of the user in the cluster", || {
                node.hub.online(&user) == 1
            })
            .await;
        }
        // the survivor still works
        assert_eq!(survivor.cmd("join r").await, "Ok(())");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_newer_across_nodes_accepts_exactly_one_of_two_racing_logins() {
    let redis = redis();
    let nodes = nodes(&redis, 2, LoginPolicy::RefuseNewer).await;
    for round in 0..8 {
        let user = format!("u{round}");
        let mut x = nodes[0].client().await;
        let mut y = nodes[1].client().await;
        let login = format!("login {user}");
        let (ax, ay) = both(x.cmd(&login), y.cmd(&login)).await;
        let accepted = [&ax, &ay].iter().filter(|a| a.as_str() == "ok").count();
        assert_eq!(accepted, 1, "round {round}: {ax} / {ay}");
        let (mut refused, winner) = if ax == "ok" { (y, x) } else { (x, y) };
        assert_eq!(
            refused.closed().await,
            (REFUSED.code, REFUSED.reason.to_string())
        );
        // Once the winner is gone, its claim is released: a new login elsewhere succeeds.
        let winner_node = if ax == "ok" { 0 } else { 1 };
        winner.close().await;
        let other = &nodes[1 - winner_node];
        eventually("the user is offline", || other.hub.online(&user) == 0).await;
        let mut again = other.client().await;
        let mut answer = again.cmd(&login).await;
        // the release reaches Redis shortly after presence does; retry on a new session
        while answer != "ok" {
            again = other.client().await;
            answer = again.cmd(&login).await;
        }
        assert_eq!(answer, "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_held_by_a_dead_node_does_not_count() {
    let redis = redis();
    let nodes = nodes(&redis, 1, LoginPolicy::RefuseNewer).await;
    // A claim of a node that has no liveness key (it died before anyone reaped it).
    let claim = "sockjs:{test}:claim:2:/s:zed";
    redis.cli(&["SET", claim, "00000000deadbeef"]).unwrap();
    let mut c = nodes[0].client().await;
    assert_eq!(c.cmd("login zed").await, "ok");
    let me = nodes[0].redis.node().unwrap().to_string();
    assert_eq!(redis.cli(&["GET", claim]).unwrap().trim(), me);
    // A claim of a live node does count.
    let live = "sockjs:{test}:claim:2:/s:amy";
    redis.cli(&["SET", live, "00000000000000aa"]).unwrap();
    redis
        .cli(&[
            "SET",
            "sockjs:{test}:node:00000000000000aa",
            "x",
            "PX",
            "60000",
        ])
        .unwrap();
    let mut d = nodes[0].client().await;
    assert_eq!(d.cmd("login amy").await, format!("closed {}", REFUSED.code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_channels_cross_nodes() {
    let redis = redis();
    let nodes = nodes(&redis, 2, LoginPolicy::Allow).await;
    let mut b = nodes[1].client().await;
    let mut sub = nodes[1].hub.subscribe("prices").unwrap();
    eventually("node b subscribed to the channel", || {
        subscribers(&redis, "channel:prices") == 1
    })
    .await;
    nodes[0].hub.broadcast("to everyone").unwrap();
    assert_eq!(b.messages(1).await, ["to everyone"]);
    nodes[0].hub.publish("prices", "42").unwrap();
    assert_eq!(
        tokio::time::timeout(support::PATIENCE, sub.recv())
            .await
            .expect("a publication"),
        Some(Ok("42".into()))
    );
    drop(sub);
    eventually("node b unsubscribed", || {
        subscribers(&redis, "channel:prices") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_leaving_cleanly_leaves_presence_at_once_and_removes_its_keys() {
    let redis = redis();
    let nodes = nodes(&redis, 2, LoginPolicy::Allow).await;
    let mut c = nodes[1].client().await;
    assert_eq!(c.cmd("login carol").await, "ok");
    eventually("node a sees carol", || nodes[0].hub.online("carol") == 1).await;
    let b = nodes[1].redis.node().unwrap();
    nodes[1].redis.shutdown().await;
    eventually("carol left node a's presence", || {
        nodes[0].hub.online("carol") == 0
    })
    .await;
    let keys = redis.cli(&["KEYS", &format!("*{b}*")]).unwrap();
    assert_eq!(keys.trim(), "", "no key of node b left");
    assert!(!redis
        .cli(&["SMEMBERS", "sockjs:{test}:nodes"])
        .unwrap()
        .contains(&b.to_string()));
    // node b still works locally and fails visibly across nodes
    assert_eq!(nodes[1].hub.stats().backend, BackendStatus::Down);
    match nodes[1].hub.send_to_user("carol", "still here") {
        Err(HubError::Cluster { local, cause }) => {
            assert_eq!(local.sent, 1);
            assert_eq!(cause, BackendError::Down);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.messages(1).await, ["still here"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_given_up_for_dead_while_alive_registers_again() {
    let redis = redis();
    let nodes = nodes(&redis, 2, LoginPolicy::Allow).await;
    let mut c = nodes[1].client().await;
    assert_eq!(c.cmd("login dan").await, "ok");
    eventually("node a sees dan", || nodes[0].hub.online("dan") == 1).await;
    // As if node b had stalled past its TTL and a survivor had reaped it: its liveness key,
    // presence hash and membership are gone. (Whether node a's scan or node b's refresh
    // notices first is a race; either way node b must come back whole.)
    let b = nodes[1].redis.node().unwrap();
    let node_key = format!("sockjs:{{test}}:node:{b}");
    let hash = format!("sockjs:{{test}}:presence:{b}");
    redis.cli(&["DEL", &node_key, &hash]).unwrap();
    redis
        .cli(&["SREM", "sockjs:{test}:nodes", &b.to_string()])
        .unwrap();
    eventually("node b registered again with its presence", || {
        redis.cli(&["HGET", &hash, "dan"]).unwrap().trim() == "1"
            && redis.cli(&["EXISTS", &node_key]).unwrap().trim() == "1"
            && redis
                .cli(&["SMEMBERS", "sockjs:{test}:nodes"])
                .unwrap()
                .contains(&b.to_string())
    })
    .await;
    let ttl: i64 = redis
        .cli(&["PTTL", &node_key])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0, "the liveness key has a TTL: {ttl}");
    eventually("dan in node a's presence", || {
        nodes[0].hub.online("dan") == 1
    })
    .await;
    // and cross-node traffic works both ways
    nodes[0].hub.send_to_user("dan", "still there?").unwrap();
    assert_eq!(c.messages(1).await, ["still there?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_without_sessions_still_count_presence_from_other_nodes() {
    // A hub with no endpoint at all (a worker process) sees the cluster's presence.
    let redis = redis();
    let nodes = nodes(&redis, 1, LoginPolicy::Allow).await;
    let observer = sockjs_redis::RedisBackend::connect(config(&redis.url()))
        .await
        .unwrap();
    let hub = Hub::with_backend(observer.clone());
    assert!(observer.wait_until_up(support::PATIENCE).await);
    let mut c: Client = nodes[0].client().await;
    assert_eq!(c.cmd("login erin").await, "ok");
    eventually("the observer sees erin", || hub.online("erin") == 1).await;
    assert_eq!(observer.stats().peers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_hub_takes_the_node_out_of_the_cluster() {
    let redis = redis();
    let backend = sockjs_redis::RedisBackend::connect(config(&redis.url()))
        .await
        .unwrap();
    let hub = Hub::with_backend(backend.clone());
    assert!(backend.wait_until_up(support::PATIENCE).await);
    let node = backend.node().unwrap().to_string();
    assert!(redis
        .cli(&["SMEMBERS", "sockjs:{test}:nodes"])
        .unwrap()
        .contains(&node));
    // The application keeps the backend (for its stats) but drops the hub.
    drop(hub);
    eventually("the node is no longer up", || !backend.is_up()).await;
    eventually("the node left the nodes set", || {
        !redis
            .cli(&["SMEMBERS", "sockjs:{test}:nodes"])
            .unwrap()
            .contains(&node)
    })
    .await;
}

//! Node ids chosen by the operator (`HubBuilder::node`) over a real redis-server: a second
//! live process with the same id is refused and the first one is untouched; a process
//! restarted after a crash (or a clean stop) reuses its id, and the other nodes apply its
//! envelopes instead of dropping them as duplicates of the previous process's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use sockjs_hyper::hub::{BackendError, Hub, HubError, LoginPolicy, NodeId};
use sockjs_redis::{RedisBackend, RedisConfig, RedisError};
use support::{config, eventually, redis, subscribers, Node, PATIENCE};

fn id(s: &str) -> NodeId {
    s.parse().unwrap()
}

fn liveness_key(node: NodeId) -> String {
    format!("sockjs:{{test}}:node:{node}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_live_process_with_the_same_node_id_is_refused_and_the_first_is_untouched() {
    let redis = redis();
    let a = Node::start_as(config(&redis.url()), id("0a"), LoginPolicy::Allow).await;
    a.redis.joined(PATIENCE).await.unwrap();
    assert_eq!(a.hub.node().to_string(), "000000000000000a");
    let holder = redis.cli(&["GET", &liveness_key(id("0a"))]).unwrap();
    let other = Node::start(config(&redis.url()), LoginPolicy::Allow).await;
    other.up().await;
    let mut alice = a.client().await;
    assert_eq!(alice.cmd("login alice").await, "ok");
    eventually("the other node sees alice", || {
        other.hub.online("alice") == 1
    })
    .await;

    // A twin with the same id: it waits out the key (it cannot tell a live holder from a
    // dead one at once), sees it refreshed, and is refused.
    let twin_backend = RedisBackend::connect(config(&redis.url())).await.unwrap();
    let twin = Hub::builder()
        .node(id("0a"))
        .backend(twin_backend.clone())
        .build()
        .unwrap();
    match twin_backend.joined(PATIENCE).await {
        Err(RedisError::NodeIdInUse { node, cluster }) => {
            assert_eq!((node, cluster.as_str()), (id("0a"), "test"));
        }
        other => panic!("expected NodeIdInUse, got {other:?}"),
    }
    assert!(twin_backend.node_id_conflict());
    assert!(!twin_backend.is_up());
    let stats = twin_backend.stats();
    assert!(stats.node_id_conflict);
    assert!(stats
        .to_prometheus("t")
        .contains("sockjs_redis_node_id_conflict{hub=\"t\",node=\"000000000000000a\"} 1"));
    assert!(matches!(
        twin.broadcast("from the twin"),
        Err(HubError::Cluster {
            cause: BackendError::Down,
            ..
        })
    ));
    let e = RedisError::NodeIdInUse {
        node: id("0a"),
        cluster: "test".into(),
    };
    assert!(e.to_string().contains("000000000000000a"), "{e}");
    drop(twin);
    drop(twin_backend);

    // The first process keeps its id, its keys and its place in the cluster.
    assert_eq!(
        redis.cli(&["GET", &liveness_key(id("0a"))]).unwrap(),
        holder
    );
    assert!(a.redis.is_up());
    assert!(!a.redis.node_id_conflict());
    assert_eq!(other.hub.online("alice"), 1);
    other.hub.send_to_user("alice", "still yours").unwrap();
    assert_eq!(alice.messages(1).await, ["still yours"]);
}

/// Runs a node in a runtime of its own on a thread, so that the test can make it vanish the
/// way a SIGKILLed process does: its tasks stop mid-flight (no clean leave), its connections
/// close, and its liveness key stays in Redis until its TTL runs out.
struct Crashable {
    commands: std::sync::mpsc::Sender<Option<(String, String)>>,
    thread: std::thread::JoinHandle<()>,
}

impl Crashable {
    fn start(config: RedisConfig, node: NodeId) -> Crashable {
        let (commands, rx) = std::sync::mpsc::channel::<Option<(String, String)>>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let hub = runtime.block_on(async {
                let redis = RedisBackend::connect(config).await.unwrap();
                let hub = Hub::builder()
                    .node(node)
                    .backend(redis.clone())
                    .build()
                    .unwrap();
                redis.joined(PATIENCE).await.unwrap();
                (hub, redis)
            });
            ready_tx.send(()).unwrap();
            // Room sends on request, until told to crash.
            while let Ok(Some((room, text))) = rx.recv() {
                hub.0.send_to_room(&room, &text).unwrap();
                hub.0.send_to_user("rita", &text).unwrap();
            }
            std::mem::forget(hub); // no Drop, no clean leave: gone as with SIGKILL
            runtime.shutdown_background();
        });
        ready_rx.recv_timeout(PATIENCE).expect("the node started");
        Crashable { commands, thread }
    }

    fn send(&self, room: &str, text: &str) {
        self.commands
            .send(Some((room.into(), text.into())))
            .unwrap();
    }

    fn crash(self) {
        self.commands.send(None).unwrap();
        self.thread.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_restarted_with_its_node_id_is_heard_after_a_crash_and_after_a_clean_stop() {
    let redis = redis();
    // The receiving node scans rarely, so that it does not reap the crashed process before
    // the new one registers: it must recognise the restart from the new process's hello.
    let mut slow_scan = config(&redis.url());
    slow_scan.liveness_ttl = Duration::from_secs(120);
    slow_scan.refresh_interval = Duration::from_secs(60);
    let r = Node::start(slow_scan, LoginPolicy::Allow).await;
    r.up().await;
    let mut rita = r.client().await;
    assert_eq!(rita.cmd("login rita").await, "ok");
    assert_eq!(rita.cmd("join r").await, "Ok(())");
    eventually("node r subscribed to the room", || {
        subscribers(&redis, "room:r") == 1
    })
    .await;

    let x = Crashable::start(config(&redis.url()), id("0b"));
    for i in 0..3 {
        x.send("r", &format!("old{i}"));
    }
    let got = rita.messages(6).await;
    assert_eq!(got, ["old0", "old0", "old1", "old1", "old2", "old2"]);
    x.crash();
    let key = liveness_key(id("0b"));
    let old_holder = redis.cli(&["GET", &key]).unwrap();
    assert!(
        !old_holder.trim().is_empty(),
        "the crashed process left its key"
    );

    // The same id again, in a new process: it waits for the old key to expire, then joins.
    let x2 = Node::start_as(config(&redis.url()), id("0b"), LoginPolicy::Allow).await;
    x2.redis.joined(PATIENCE).await.unwrap();
    assert_ne!(redis.cli(&["GET", &key]).unwrap(), old_holder);
    x2.hub.send_to_room("r", "new room message").unwrap();
    x2.hub.send_to_user("rita", "new user message").unwrap();
    assert_eq!(
        rita.messages(2).await,
        ["new room message", "new user message"]
    );
    let s = r.hub.stats();
    assert_eq!(s.duplicates, 0, "{s:?}");
    assert_eq!(r.redis.stats().nodes_restarted, 1);

    // A clean stop, then the id again: taken at once, heard as well.
    x2.redis.shutdown().await;
    drop(x2);
    let x3 = Node::start_as(config(&redis.url()), id("0b"), LoginPolicy::Allow).await;
    x3.redis.joined(PATIENCE).await.unwrap();
    x3.hub.send_to_room("r", "third process").unwrap();
    assert_eq!(rita.messages(1).await, ["third process"]);
    assert_eq!(r.hub.stats().duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_id_is_taken_over_while_it_runs_is_refused_and_leaves_the_new_keys_alone() {
    let redis = redis();
    let a = Node::start_as(config(&redis.url()), id("0d"), LoginPolicy::Allow).await;
    a.redis.joined(PATIENCE).await.unwrap();
    // As if node a had stalled past its TTL and a new process had taken the id meanwhile.
    let key = liveness_key(id("0d"));
    redis
        .cli(&["SET", &key, "00000000000000ff", "PX", "60000"])
        .unwrap();
    eventually("node a notices at its next refresh", || {
        a.redis.node_id_conflict()
    })
    .await;
    assert!(matches!(
        a.redis.joined(Duration::from_millis(1)).await,
        Err(RedisError::NodeIdInUse { .. })
    ));
    assert!(!a.redis.is_up());
    a.redis.shutdown().await;
    assert_eq!(
        redis.cli(&["GET", &key]).unwrap().trim(),
        "00000000000000ff",
        "the new holder's key is not removed"
    );
}

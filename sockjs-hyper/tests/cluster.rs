//! The hub across nodes: two hubs in one process connected by `MemoryBus` (an in-memory
//! backend), and a capturing test backend that injects envelopes — rooms, user sends, kicks,
//! presence, duplicate-login races, gap and duplicate counting, and a backend that goes down.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use sockjs_hyper::hub::{
    Backend, BackendError, BackendStatus, Envelope, Hub, HubError, Inbox, LoginClaim, LoginPolicy,
    MemoryBackend, MemoryBus, NodeId, Operation, PresenceKind, Topic,
};
use sockjs_hyper::SockJs;
use support::{commands, Client};

struct Node {
    hub: Hub,
    sockjs: SockJs,
    backend: Arc<MemoryBackend>,
}

fn node(bus: &MemoryBus, policy: LoginPolicy) -> Node {
    node_as(bus, policy, None)
}

/// A node on `bus` with its own id when `id` is given.
fn node_as(bus: &MemoryBus, policy: LoginPolicy, id: Option<NodeId>) -> Node {
    let backend = Arc::new(bus.backend());
    let mut builder = Hub::builder().backend(Arc::clone(&backend));
    if let Some(id) = id {
        builder = builder.node(id);
    }
    let hub = builder.build().unwrap();
    let sockjs = SockJs::builder("/s")
        .hub(hub.clone())
        .login_policy(policy)
        .build(commands)
        .unwrap();
    Node {
        hub,
        sockjs,
        backend,
    }
}

fn presence(hub: &Hub) -> Vec<(String, usize)> {
    hub.presence()
        .iter()
        .map(|(u, n)| (u.to_string(), n))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_room_send_reaches_members_on_both_nodes_once_and_in_order() {
    let bus = MemoryBus::new();
    let (a, b) = (
        node(&bus, LoginPolicy::Allow),
        node(&bus, LoginPolicy::Allow),
    );
    let a1 = Client::open(&a.sockjs, "a1").await;
    let b1 = Client::open(&b.sockjs, "b1").await;
    let b2 = Client::open(&b.sockjs, "b2").await;
    let outsider = Client::open(&b.sockjs, "b3").await;
    for c in [&a1, &b1, &b2] {
        assert_eq!(c.cmd("join r").await, "Ok(true)");
    }
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for m in &sent {
        assert_eq!(
            a1.cmd(&format!("room r {m}")).await,
            "Ok(1)",
            "one local member"
        );
    }
    bus.settle().await;
    assert_eq!(a1.receive(20).await, sent);
    assert_eq!(b1.receive(20).await, sent);
    assert_eq!(b2.receive(20).await, sent);
    // and back
    assert_eq!(b2.cmd("room r from b").await, "Ok(2)");
    bus.settle().await;
    assert_eq!(a1.receive(1).await, ["from b"]);
    assert_eq!(outsider.cmd("rooms").await, "[]");
    assert!(outsider.take().is_empty(), "not a member, nothing received");
    let (sa, sb) = (a.hub.stats(), b.hub.stats());
    assert_eq!((sb.received, sb.gaps, sb.duplicates), (20, 0, 0));
    assert_eq!((sa.received, sa.gaps, sa.duplicates), (1, 0, 0));
    assert_eq!(sb.origins.len(), 1);
    assert_eq!(sb.origins[0].node, a.hub.node());
    assert_eq!(sa.published, 20);
    assert_eq!(sa.backend, BackendStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn users_are_reached_and_kicked_on_every_node() {
    let bus = MemoryBus::new();
    let (a, b) = (
        node(&bus, LoginPolicy::Allow),
        node(&bus, LoginPolicy::Allow),
    );
    let alice_a = Client::open(&a.sockjs, "aa").await;
    let alice_b = Client::open(&b.sockjs, "ab").await;
    let admin = Client::open(&a.sockjs, "admin").await;
    alice_a.cmd("login alice").await;
    alice_b.cmd("login alice").await;
    admin.cmd("login admin").await;
    bus.settle().await;
    assert_eq!(admin.cmd("to alice hi").await, "Ok(1)", "one local session");
    bus.settle().await;
    assert_eq!(alice_a.receive(1).await, ["hi"]);
    assert_eq!(alice_b.receive(1).await, ["hi"]);

    assert_eq!(admin.cmd("kick alice 4001 Kicked by admin").await, "Ok(1)");
    bus.settle().await;
    assert_eq!(alice_a.closed().await, (4001, "Kicked by admin".into()));
    assert_eq!(alice_b.closed().await, (4001, "Kicked by admin".into()));
    bus.settle().await;
    assert_eq!(presence(&a.hub), [("admin".into(), 1)]);
    assert_eq!(presence(&b.hub), [("admin".into(), 1)]);

    // a broadcast reaches every session of every node
    let c = Client::open(&b.sockjs, "c").await;
    assert_eq!(admin.cmd("all to everyone").await, "Ok(1)");
    bus.settle().await;
    assert_eq!(c.receive(1).await, ["to everyone"]);
}

#[tokio::test(start_paused = true)]
async fn presence_is_cluster_wide_with_events_on_every_node() {
    let bus = MemoryBus::new();
    let (a, b) = (
        node(&bus, LoginPolicy::Allow),
        node(&bus, LoginPolicy::Allow),
    );
    let mut events_b = b.hub.presence_events();
    let a1 = Client::open(&a.sockjs, "a1").await;
    let a2 = Client::open(&a.sockjs, "a2").await;
    let b1 = Client::open(&b.sockjs, "b1").await;
    a1.cmd("login alice").await;
    a2.cmd("login alice").await;
    b1.cmd("login bob").await;
    b1.cmd("join lobby").await;
    bus.settle().await;
    let everyone = [("alice".to_string(), 2), ("bob".to_string(), 1)];
    assert_eq!(presence(&a.hub), everyone);
    assert_eq!(presence(&b.hub), everyone);
    assert_eq!(a.hub.online("bob"), 1);
    assert_eq!(
        a.hub.sessions_of("bob").len(),
        0,
        "the session is on the other node"
    );
    let s = a.hub.stats();
    assert_eq!(
        (s.users, s.user_sessions, s.online_users, s.online_sessions),
        (1, 2, 2, 3)
    );

    // alice's first session on the other node: one Joined; her last one gone: one Left
    a1.send("close 4000 bye").await;
    a1.closed().await;
    bus.settle().await;
    assert_eq!(b.hub.online("alice"), 1);
    a2.send("close 4000 bye").await;
    a2.closed().await;
    bus.settle().await;
    assert_eq!(presence(&b.hub), [("bob".into(), 1)]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = events_b.recv().await.unwrap().unwrap();
        seen.push((e.user.to_string(), e.kind));
    }
    assert_eq!(
        seen,
        [
            ("alice".into(), PresenceKind::Joined),
            ("bob".into(), PresenceKind::Joined),
            ("alice".into(), PresenceKind::Left)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn channels_span_nodes() {
    let bus = MemoryBus::new();
    let (a, b) = (
        node(&bus, LoginPolicy::Allow),
        node(&bus, LoginPolicy::Allow),
    );
    let mut on_b = b.hub.subscribe("/topic/prices").unwrap();
    let mut on_a = a.hub.subscribe("/topic/prices").unwrap();
    for i in 0..5 {
        let d = a.hub.publish("/topic/prices", format!("p{i}")).unwrap();
        assert_eq!((d.sent, d.published), (1, true));
    }
    bus.settle().await;
    for i in 0..5 {
        assert_eq!(on_b.recv().await, Some(Ok(format!("p{i}").into())));
        assert_eq!(on_a.recv().await, Some(Ok(format!("p{i}").into())));
    }
    // no subscriber left on b: b unsubscribes, and publications stop reaching it
    drop(on_b);
    a.hub.publish("/topic/prices", "later").unwrap();
    bus.settle().await;
    assert_eq!(b.hub.stats().received, 5);
}

#[tokio::test(start_paused = true)]
async fn publishing_to_other_nodes_skips_this_nodes_subscriptions_only() {
    let bus = MemoryBus::new();
    let (a, b) = (
        node(&bus, LoginPolicy::Allow),
        node(&bus, LoginPolicy::Allow),
    );
    assert!(a.hub.has_backend());
    let mut on_a = a.hub.subscribe("/topic/q").unwrap();
    let mut on_b = b.hub.subscribe("/topic/q").unwrap();
    // Interleaved with ordinary publications: b gets all of them, in order; a only its
    // ordinary ones (its own node's subscribers are the caller's business).
    let mut expected_on_a = Vec::new();
    for i in 0..6 {
        let payload = format!("p{i}");
        let d = if i % 2 == 0 {
            a.hub.publish_to_other_nodes("/topic/q", payload).unwrap()
        } else {
            expected_on_a.push(payload.clone());
            a.hub.publish("/topic/q", payload).unwrap()
        };
        assert_eq!((d.sent, d.published), (usize::from(i % 2 == 1), true));
    }
    // b's own publication to others reaches a, not b.
    b.hub.publish_to_other_nodes("/topic/q", "from-b").unwrap();
    expected_on_a.push("from-b".into());
    bus.settle().await;
    for i in 0..6 {
        assert_eq!(on_b.recv().await, Some(Ok(format!("p{i}").into())));
    }
    for payload in expected_on_a {
        assert_eq!(on_a.recv().await, Some(Ok(payload.into())));
    }
    assert!(
        futures::FutureExt::now_or_never(on_a.recv()).is_none(),
        "nothing else on a"
    );
    assert!(
        futures::FutureExt::now_or_never(on_b.recv()).is_none(),
        "nothing else on b"
    );
    assert_eq!(b.hub.stats().gaps, 0);
    assert_eq!(
        a.hub.publish_to_other_nodes("", "x"),
        Err(HubError::InvalidName)
    );
}

/// Runs `rounds` races of two logins of one user, one on each node, on a multi-threaded
/// runtime; returns each round's two outcomes (a reply, or the close frame).
async fn race(
    policy: LoginPolicy,
    rounds: usize,
) -> (
    Vec<[Result<String, (u16, String)>; 2]>,
    Node,
    Node,
    MemoryBus,
) {
    let bus = MemoryBus::new();
    let (a, b) = (node(&bus, policy), node(&bus, policy));
    let mut outcomes = Vec::new();
    for round in 0..rounds {
        let ca = Client::open(&a.sockjs, &format!("a{round}")).await;
        let cb = Client::open(&b.sockjs, &format!("b{round}")).await;
        let login = format!("login user{round}");
        let (ra, rb) = tokio::join!(
            async {
                ca.send(&login).await;
                ca.reply_or_close().await
            },
            async {
                cb.send(&login).await;
                cb.reply_or_close().await
            }
        );
        bus.settle().await;
        // a replacement reaches the older session through the bus: see what each has now
        let ra = match (ra, a.hub.sessions_of(&format!("user{round}")).is_empty()) {
            (Ok(_), true) => Err(ca.closed().await),
            (r, _) => r,
        };
        let rb = match (rb, b.hub.sessions_of(&format!("user{round}")).is_empty()) {
            (Ok(_), true) => Err(cb.closed().await),
            (r, _) => r,
        };
        outcomes.push([ra, rb]);
    }
    bus.settle().await;
    (outcomes, a, b, bus)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_older_across_nodes_leaves_exactly_one_of_two_racing_logins() {
    let (outcomes, a, b, _bus) = race(LoginPolicy::ReplaceOlder, 20).await;
    for (round, [ra, rb]) in outcomes.iter().enumerate() {
        let replaced = (4009, "Replaced by a newer session".to_string());
        let ok = Ok("Ok(())".to_string());
        assert!(
            (*ra == ok && *rb == Err(replaced.clone())) || (*ra == Err(replaced) && *rb == ok),
            "round {round}: {ra:?} / {rb:?}"
        );
        let user = format!("user{round}");
        assert_eq!(a.hub.online(&user), 1, "round {round}: presence on a");
        assert_eq!(b.hub.online(&user), 1, "round {round}: presence on b");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_newer_across_nodes_accepts_exactly_one_of_two_racing_logins() {
    let (outcomes, a, b, bus) = race(LoginPolicy::RefuseNewer, 20).await;
    for (round, [ra, rb]) in outcomes.iter().enumerate() {
        let refused = Err((4008, "Already connected".to_string()));
        let ok = Ok("Ok(())".to_string());
        assert!(
            (*ra == ok && *rb == refused) || (*ra == refused && *rb == ok),
            "round {round}: {ra:?} / {rb:?}"
        );
        assert_eq!(a.hub.online(&format!("user{round}")), 1);
    }
    // the survivor of round 0 leaves: its claim is released, the user may log in elsewhere
    let [r0a, _] = &outcomes[0];
    let (winner, other) = if r0a.is_ok() { (&a, &b) } else { (&b, &a) };
    for s in winner.hub.sessions_of("user0") {
        s.close(4000, "bye");
    }
    bus.settle().await;
    let again = Client::open(&other.sockjs, "again").await;
    assert_eq!(again.cmd("login user0").await, "Ok(())");
}

/// A backend that records what the hub gives it and lets the test inject envelopes.
#[derive(Default)]
struct Capture {
    inbox: Mutex<Option<Inbox>>,
    published: Mutex<Vec<Envelope>>,
    topics: Mutex<Vec<(bool, Topic)>>,
    presence: Mutex<Vec<(String, usize)>>,
}

impl Backend for Capture {
    fn start(&self, inbox: Inbox) {
        *self.inbox.lock().unwrap() = Some(inbox);
    }
    fn publish(&self, envelope: Envelope) -> Result<(), BackendError> {
        self.published.lock().unwrap().push(envelope);
        Ok(())
    }
    fn subscribe(&self, topic: &Topic) {
        self.topics.lock().unwrap().push((true, topic.clone()));
    }
    fn unsubscribe(&self, topic: &Topic) {
        self.topics.lock().unwrap().push((false, topic.clone()));
    }
    fn set_local_presence(&self, user: &str, count: usize) {
        self.presence.lock().unwrap().push((user.into(), count));
    }
    fn claim_login(&self, _: LoginClaim) -> BoxFuture<'static, Result<bool, BackendError>> {
        Box::pin(async { Ok(true) })
    }
    fn release_login(&self, _: &str, _: &str) {}
    fn status(&self) -> BackendStatus {
        BackendStatus::Up
    }
}

/// A hub with the capturing backend, an endpoint, and a client in room `r`.
async fn capturing_node() -> (Arc<Capture>, Hub, SockJs, Client, Inbox) {
    let capture = Arc::new(Capture::default());
    let hub = Hub::with_backend(Arc::clone(&capture));
    let sockjs = SockJs::builder("/s")
        .hub(hub.clone())
        .build(commands)
        .unwrap();
    let c = Client::open(&sockjs, "c").await;
    c.cmd("join r").await;
    let inbox = capture.inbox.lock().unwrap().clone().unwrap();
    (capture, hub, sockjs, c, inbox)
}

#[tokio::test(start_paused = true)]
async fn gaps_and_duplicates_are_counted_per_origin_and_duplicates_dropped() {
    let (capture, hub, _sockjs, c, inbox) = capturing_node().await;
    c.cmd("login alice").await;
    assert_eq!(inbox.node(), hub.node());
    let other = NodeId::from_u64(42);
    let room = |seq: u64, text: &str| Envelope {
        origin: other,
        seq,
        op: Operation::Room {
            room: "r".into(),
            message: text.into(),
        },
    };
    for (seq, text) in [
        (1, "m1"),
        (2, "m2"),
        (2, "m2 again"),
        (5, "m5"),
        (4, "m4 late"),
    ] {
        inbox.deliver(room(seq, text));
    }
    // a room with no member here, and this node's own envelope: ignored, not counted
    inbox.deliver(Envelope {
        op: Operation::Room {
            room: "elsewhere".into(),
            message: "x".into(),
        },
        ..room(1, "")
    });
    inbox.deliver(Envelope {
        origin: hub.node(),
        ..room(9, "mine")
    });
    // control topic: sequence numbers of their own
    inbox.deliver(Envelope {
        origin: other,
        seq: 1,
        op: Operation::User {
            user: "alice".into(),
            message: "direct".into(),
        },
    });
    assert_eq!(c.receive(4).await, ["m1", "m2", "m5", "direct"]);
    let s = hub.stats();
    assert_eq!((s.received, s.gaps, s.duplicates), (4, 2, 2));
    assert_eq!(s.origins.len(), 1);
    assert_eq!((s.origins[0].node, s.origins[0].gaps), (other, 2));
    assert!(s.to_prometheus("test").contains(&format!(
        "sockjs_hub_duplicates_total{{hub=\"test\",node=\"{}\",origin=\"{other}\"}} 2",
        hub.node()
    )));

    // what this node publishes: its own origin, consecutive numbers per topic
    c.cmd("room r one").await;
    c.cmd("room r two").await;
    c.cmd("to bob hey").await;
    let published = capture.published.lock().unwrap().clone();
    assert_eq!(published.len(), 3);
    assert!(published.iter().all(|e| e.origin == hub.node()));
    assert_eq!(published[1].seq, published[0].seq + 1);
    assert_eq!(published[0].topic(), Topic::Room("r".into()));
    assert_eq!(
        (published[2].topic(), published[2].seq),
        (Topic::Control, 1)
    );
    // interest and presence went to the backend in order
    assert_eq!(
        *capture.topics.lock().unwrap(),
        [(true, Topic::Room("r".into()))]
    );
    assert_eq!(*capture.presence.lock().unwrap(), [("alice".into(), 1)]);
    c.send("close 4000 bye").await;
    c.closed().await;
    assert_eq!(
        *capture.topics.lock().unwrap(),
        [
            (true, Topic::Room("r".into())),
            (false, Topic::Room("r".into()))
        ]
    );
    assert_eq!(
        *capture.presence.lock().unwrap(),
        [("alice".into(), 1), ("alice".into(), 0)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_off_the_backend_fails_cluster_calls_visibly_and_still_delivers_locally() {
    let bus = MemoryBus::new();
    let a = node(&bus, LoginPolicy::RefuseNewer);
    let b = node(&bus, LoginPolicy::RefuseNewer);
    let a1 = Client::open(&a.sockjs, "a1").await;
    let b1 = Client::open(&b.sockjs, "b1").await;
    a1.cmd("join r").await;
    b1.cmd("join r").await;
    a1.cmd("login alice").await;
    bus.settle().await;
    assert_eq!(b.hub.online("alice"), 1);

    a.backend.set_down(true);
    assert_eq!(a.hub.stats().backend, BackendStatus::Down);
    // the other node drops a's presence, as it would once a's liveness key expires
    assert_eq!(b.hub.online("alice"), 0);
    match a.hub.send_to_room("r", "local only") {
        Err(HubError::Cluster { local, cause }) => {
            assert_eq!((local.sent, local.published), (1, false));
            assert_eq!(cause, BackendError::Down);
        }
        other => panic!("expected a cluster error, got {other:?}"),
    }
    assert_eq!(
        a1.cmd("room r again").await,
        "Err(Cluster { local: Delivery { sent: 1, full: 0, closed: 0, too_large: 0, published: false }, cause: Down })"
    );
    assert_eq!(a1.receive(2).await, ["local only", "again"]);
    bus.settle().await;
    assert_eq!(b1.cmd("rooms").await, "[\"r\"]");
    assert!(b1.take().is_empty(), "nothing crossed");
    let s = a.hub.stats();
    assert_eq!((s.published, s.publish_failed), (0, 2));
    assert_eq!(
        a.hub
            .kick_user("nobody", 4001, "x")
            .unwrap_err()
            .to_string(),
        "delivered on this node only: the cluster backend is down"
    );
    // a RefuseNewer login cannot be decided: the session stays open, logged in as nobody
    let a2 = Client::open(&a.sockjs, "a2").await;
    assert_eq!(a2.cmd("login bob").await, "Err(Backend(Down))");
    assert_eq!(a2.cmd("user").await, "None");
    assert_eq!(a.hub.stats().claims_failed, 1);

    // back on the medium: presence exchanged again, cross-node delivery resumes
    a.backend.set_down(false);
    assert_eq!(b.hub.online("alice"), 1);
    assert_eq!(a1.cmd("room r back").await, "Ok(1)");
    bus.settle().await;
    assert_eq!(b1.receive(1).await, ["back"]);
    assert_eq!(a.hub.stats().backend, BackendStatus::Up);
    // a took its login claim back: alice is still refused on b
    let b2 = Client::open(&b.sockjs, "b2").await;
    b2.send("login alice").await;
    assert_eq!(b2.closed().await, (4008, "Already connected".into()));
}

#[tokio::test(start_paused = true)]
async fn a_full_outbox_fails_the_publication_at_once() {
    let bus = MemoryBus::with_capacity(1);
    let a = node(&bus, LoginPolicy::Allow);
    let _b = node(&bus, LoginPolicy::Allow);
    // the bus's task has not run yet: the first fills the outbox, the second finds it full
    assert!(a.hub.broadcast("one").is_ok());
    match a.hub.broadcast("two") {
        Err(HubError::Cluster { cause, .. }) => assert_eq!(cause, BackendError::Full),
        other => panic!("expected a full outbox, got {other:?}"),
    }
    bus.settle().await;
    assert!(a.hub.broadcast("three").is_ok());
}

fn node_with_id(bus: &MemoryBus, id: NodeId) -> Node {
    node_as(bus, LoginPolicy::Allow, Some(id))
}

#[tokio::test(start_paused = true)]
async fn a_chosen_node_id_is_the_hubs_its_envelopes_origin_and_its_metrics_label() {
    let id: NodeId = "0a".parse().unwrap();
    let capture = Arc::new(Capture::default());
    let hub = Hub::builder()
        .node(id)
        .backend(Arc::clone(&capture))
        .build()
        .unwrap();
    assert_eq!(hub.node(), id);
    assert_eq!(hub.node().to_string(), "000000000000000a");
    assert_eq!(capture.inbox.lock().unwrap().as_ref().unwrap().node(), id);
    hub.broadcast("x").unwrap();
    assert_eq!(capture.published.lock().unwrap()[0].origin, id);
    assert!(hub
        .stats()
        .to_prometheus("t")
        .contains("node=\"000000000000000a\""));
    // without a choice, ids are random (and two hubs differ)
    assert_ne!(Hub::new().node(), Hub::new().node());
}

#[tokio::test(start_paused = true)]
async fn node_restarted_makes_a_new_process_numbering_from_the_start_be_applied() {
    let (_capture, hub, _sockjs, c, inbox) = capturing_node().await;
    let x = NodeId::from_u64(0x0b);
    let room = |seq: u64, text: &str| Envelope {
        origin: x,
        seq,
        op: Operation::Room {
            room: "r".into(),
            message: text.into(),
        },
    };
    let first_generation = 1 << 32;
    for n in 1..=3 {
        inbox.deliver(room(first_generation | n, &format!("old {n}")));
    }
    // the same id, a new process: its numbers start again
    inbox.deliver(room(first_generation | 1, "dropped: looks like a replay"));
    inbox.node_restarted(x);
    inbox.deliver(room(first_generation | 1, "new 1"));
    inbox.deliver(room(first_generation | 2, "new 2"));
    assert_eq!(
        c.receive(5).await,
        ["old 1", "old 2", "old 3", "new 1", "new 2"]
    );
    let s = hub.stats();
    assert_eq!((s.received, s.gaps, s.duplicates), (5, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_hub_built_with_a_dropped_hubs_id_is_that_node_restarted() {
    let bus = MemoryBus::new();
    let id: NodeId = "0a".parse().unwrap();
    let a = node_with_id(&bus, id);
    let b = node(&bus, LoginPolicy::Allow);
    let member = Client::open(&b.sockjs, "m").await;
    member.cmd("join r").await;
    let sender = Client::open(&a.sockjs, "s").await;
    sender.cmd("join r").await;
    for i in 0..5 {
        sender.cmd(&format!("room r old{i}")).await;
    }
    bus.settle().await;
    assert_eq!(member.receive(5).await.len(), 5);
    // The process ends (its sessions, then the hub); a new one takes the same id.
    sender.send("close 4000 bye").await;
    sender.closed().await;
    drop(sender);
    drop(a);
    // Once its last session has ended the old hub is gone and the id is free (until then a
    // new hub with the id would be refused as a live twin). The member keeps polling.
    let mut attempts = 0;
    let a = loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await; // (paused clock)
        assert_eq!(member.cmd("rooms").await, "[\"r\"]");
        let a = node_with_id(&bus, id);
        if a.backend.status() == BackendStatus::Up {
            break a;
        }
        attempts += 1;
        assert!(attempts < 60, "the old hub never went away");
    };
    let sender = Client::open(&a.sockjs, "s2").await;
    sender.cmd("join r").await;
    for i in 0..3 {
        assert_eq!(sender.cmd(&format!("room r new{i}")).await, "Ok(1)");
    }
    bus.settle().await;
    assert_eq!(member.receive(3).await, ["new0", "new1", "new2"]);
    assert_eq!(b.hub.stats().duplicates, 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_live_hub_with_the_same_id_stays_off_the_bus() {
    let bus = MemoryBus::new();
    let id: NodeId = "0c".parse().unwrap();
    let a = node_with_id(&bus, id);
    let b = node(&bus, LoginPolicy::Allow);
    let twin = node_with_id(&bus, id);
    assert_eq!(twin.backend.status(), BackendStatus::Down);
    twin.backend.set_down(false);
    assert_eq!(twin.backend.status(), BackendStatus::Down, "for good");
    assert!(matches!(
        twin.hub.broadcast("from the twin"),
        Err(HubError::Cluster {
            cause: BackendError::Down,
            ..
        })
    ));
    // the first one is untouched
    assert_eq!(a.backend.status(), BackendStatus::Up);
    let member = Client::open(&b.sockjs, "m").await;
    member.cmd("join r").await;
    bus.settle().await;
    a.hub.send_to_room("r", "from a").unwrap();
    bus.settle().await;
    assert_eq!(member.receive(1).await, ["from a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_coming_back_does_not_deadlock_with_logins_ending_on_it() {
    // `set_down(false)` takes the node's claims back while sessions of that node log out (a
    // RefuseNewer login releases its claim under the user's lock). The two must not wait for
    // each other's lock: before the fix this hung within a few hundred rounds.
    let bus = MemoryBus::new();
    let a = node(&bus, LoginPolicy::RefuseNewer);
    let _b = node(&bus, LoginPolicy::RefuseNewer);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let toggler = {
        let backend = Arc::clone(&a.backend);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                backend.set_down(true);
                backend.set_down(false);
                rounds += 1;
            }
            rounds
        })
    };
    let mut clients = Vec::new();
    for i in 0..4 {
        clients.push(Client::open(&a.sockjs, &format!("c{i}")).await);
    }
    let logins = clients.iter().enumerate().map(|(i, c)| async move {
        for _ in 0..300 {
            // Accepted, or undecided while the node is off the bus; never refused: nobody
            // else is this user.
            let r = c.cmd(&format!("login u{i}")).await;
            assert!(r == "Ok(())" || r == "Err(Backend(Down))", "{r}");
            assert_eq!(c.cmd("logout").await, "ok");
        }
    });
    futures::future::join_all(logins).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(toggler.join().unwrap() > 0);
}

//! The hub in one process: rooms, the user index, presence and its events, the duplicate-login
//! policies, channels, shared hubs — sessions driven in memory on tokio's paused clock.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use futures::StreamExt;
use sockjs_hyper::hub::{Hub, HubConfig, HubError, Lagged, LoginPolicy, PresenceKind};
use sockjs_hyper::{Config, Connection, SockJs};
use support::{commands, Client};

fn endpoint(prefix: &str, hub: &Hub, policy: LoginPolicy) -> SockJs {
    SockJs::builder(prefix)
        .hub(hub.clone())
        .login_policy(policy)
        .build(commands)
        .unwrap()
}

fn presence(hub: &Hub) -> Vec<(String, usize)> {
    hub.presence()
        .iter()
        .map(|(u, n)| (u.to_string(), n))
        .collect()
}

async fn next_event(events: &mut sockjs_hyper::hub::PresenceEvents) -> (String, PresenceKind) {
    let e = events.next().await.unwrap().unwrap();
    (e.user.to_string(), e.kind)
}

#[tokio::test(start_paused = true)]
async fn rooms_send_to_members_only_and_forget_sessions_that_close() {
    let hub = Hub::new();
    let s = endpoint("/s", &hub, LoginPolicy::Allow);
    let (a, b, c) = (
        Client::open(&s, "a").await,
        Client::open(&s, "b").await,
        Client::open(&s, "c").await,
    );
    assert_eq!(a.cmd("join r").await, "Ok(true)");
    assert_eq!(a.cmd("join r").await, "Ok(false)", "already a member");
    assert_eq!(b.cmd("join r").await, "Ok(true)");
    assert_eq!(b.cmd("join other").await, "Ok(true)");
    assert_eq!(b.cmd("rooms").await, "[\"other\", \"r\"]");
    assert_eq!(hub.room_len("r"), 2);
    assert_eq!(hub.rooms(), ["other".into(), "r".into()]);

    assert_eq!(
        c.cmd("room r hello").await,
        "Ok(2)",
        "a non-member may send"
    );
    assert_eq!(a.receive(1).await, ["hello"]);
    assert_eq!(b.receive(1).await, ["hello"]);
    assert_eq!(c.cmd("rooms").await, "[]");
    assert!(c.take().is_empty(), "c is not a member");

    assert_eq!(a.cmd("leave r").await, "true");
    assert_eq!(a.cmd("leave r").await, "false");
    assert_eq!(c.cmd("room r again").await, "Ok(1)");
    assert_eq!(b.receive(1).await, ["again"]);

    // b closes: it leaves both rooms by itself
    b.send("close 4000 bye").await;
    assert_eq!(b.closed().await, (4000, "bye".into()));
    assert_eq!(hub.room_len("r"), 0);
    assert_eq!(hub.room_len("other"), 0);
    assert!(hub.rooms().is_empty());
    assert_eq!(c.cmd("room r anyone").await, "Ok(0)");
    let stats = hub.stats();
    assert_eq!((stats.rooms, stats.room_members), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_user_index_finds_sessions_and_presence_counts_them() {
    let hub = Hub::new();
    let s = endpoint("/s", &hub, LoginPolicy::Allow);
    let mut events = hub.presence_events();
    let a1 = Client::open(&s, "a1").await;
    let a2 = Client::open(&s, "a2").await;
    let b = Client::open(&s, "b").await;
    assert_eq!(a1.cmd("login alice").await, "Ok(())");
    assert_eq!(a2.cmd("login alice").await, "Ok(())");
    assert_eq!(b.cmd("set_user bob").await, "ok");
    assert_eq!(b.cmd("user").await, "Some(\"bob\")");
    assert_eq!(presence(&hub), [("alice".into(), 2), ("bob".into(), 1)]);
    assert_eq!(hub.online("alice"), 2);
    assert_eq!(s.sessions_of("alice").len(), 2);
    assert_eq!(hub.sessions_of("bob").len(), 1);
    assert_eq!(
        next_event(&mut events).await,
        ("alice".into(), PresenceKind::Joined)
    );
    assert_eq!(
        next_event(&mut events).await,
        ("bob".into(), PresenceKind::Joined)
    );

    assert_eq!(b.cmd("to alice psst").await, "Ok(2)");
    assert_eq!(a1.receive(1).await, ["psst"]);
    assert_eq!(a2.receive(1).await, ["psst"]);

    // one of alice's sessions ends: no event, one session left
    a1.send("close 4000 bye").await;
    a1.closed().await;
    assert_eq!(hub.online("alice"), 1);
    assert_eq!(s.sessions_of("alice").len(), 1);
    // the other logs out, then bob switches identity to carol
    assert_eq!(a2.cmd("logout").await, "ok");
    assert_eq!(b.cmd("login carol").await, "Ok(())");
    assert_eq!(presence(&hub), [("carol".into(), 1)]);
    assert_eq!(
        next_event(&mut events).await,
        ("alice".into(), PresenceKind::Left)
    );
    assert_eq!(
        next_event(&mut events).await,
        ("bob".into(), PresenceKind::Left)
    );
    assert_eq!(
        next_event(&mut events).await,
        ("carol".into(), PresenceKind::Joined)
    );
    let stats = hub.stats();
    assert_eq!((stats.users, stats.user_sessions), (1, 1));
    assert_eq!((stats.online_users, stats.online_sessions), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn kick_user_closes_every_session_of_the_user_with_the_code() {
    let hub = Hub::new();
    let s = endpoint("/s", &hub, LoginPolicy::Allow);
    let a1 = Client::open(&s, "a1").await;
    let a2 = Client::open(&s, "a2").await;
    let admin = Client::open(&s, "admin").await;
    a1.cmd("login alice").await;
    a2.cmd("login alice").await;
    admin.cmd("login admin").await;
    assert_eq!(admin.cmd("kick alice 4001 Kicked by admin").await, "Ok(2)");
    assert_eq!(a1.closed().await, (4001, "Kicked by admin".into()));
    assert_eq!(a2.closed().await, (4001, "Kicked by admin".into()));
    assert_eq!(presence(&hub), [("admin".into(), 1)]);
    assert_eq!(admin.cmd("kick alice 4001 again").await, "Ok(0)");
}

#[tokio::test(start_paused = true)]
async fn replace_older_closes_the_older_session_with_4009() {
    let hub = Hub::new();
    let s = endpoint("/s", &hub, LoginPolicy::ReplaceOlder);
    let old = Client::open(&s, "old").await;
    let new = Client::open(&s, "new").await;
    assert_eq!(old.cmd("login alice").await, "Ok(())");
    assert_eq!(new.cmd("login alice").await, "Ok(())");
    assert_eq!(
        old.closed().await,
        (4009, "Replaced by a newer session".into())
    );
    assert_eq!(presence(&hub), [("alice".into(), 1)]);
    assert_eq!(new.cmd("user").await, "Some(\"alice\")");
    // logging in again as the same user replaces nothing
    assert_eq!(new.cmd("login alice").await, "Ok(())");
    assert_eq!(hub.online("alice"), 1);
}

#[tokio::test(start_paused = true)]
async fn refuse_newer_closes_the_new_session_with_4008_until_the_first_one_ends() {
    let hub = Hub::new();
    let s = endpoint("/s", &hub, LoginPolicy::RefuseNewer);
    let first = Client::open(&s, "first").await;
    let second = Client::open(&s, "second").await;
    assert_eq!(first.cmd("login alice").await, "Ok(())");
    second.send("login alice").await;
    assert_eq!(second.closed().await, (4008, "Already connected".into()));
    assert_eq!(presence(&hub), [("alice".into(), 1)]);
    assert_eq!(
        first.cmd("login alice").await,
        "Ok(())",
        "the same session again"
    );
    // once the first session ends, alice may log in again
    first.send("close 4000 bye").await;
    first.closed().await;
    let third = Client::open(&s, "third").await;
    assert_eq!(third.cmd("login alice").await, "Ok(())");
    assert_eq!(presence(&hub), [("alice".into(), 1)]);
}

#[tokio::test(start_paused = true)]
async fn the_policy_applies_per_endpoint_of_a_shared_hub() {
    let hub = Hub::new();
    let chat = endpoint("/chat", &hub, LoginPolicy::RefuseNewer);
    let news = endpoint("/news", &hub, LoginPolicy::RefuseNewer);
    let c = Client::open(&chat, "c").await;
    let n = Client::open(&news, "n").await;
    assert_eq!(c.cmd("login alice").await, "Ok(())");
    assert_eq!(
        n.cmd("login alice").await,
        "Ok(())",
        "another endpoint, another scope"
    );
    assert_eq!(presence(&hub), [("alice".into(), 2)]);
    assert_eq!(
        chat.sessions_of("alice").len(),
        1,
        "this endpoint's sessions"
    );
    assert_eq!(
        hub.sessions_of("alice").len(),
        2,
        "every endpoint's sessions"
    );
    // a hub broadcast reaches both endpoints, an endpoint broadcast its own sessions
    assert_eq!(hub.broadcast("to all").unwrap().sent, 2);
    assert_eq!(c.receive(1).await, ["to all"]);
    assert_eq!(n.receive(1).await, ["to all"]);
    assert_eq!(chat.broadcast("chat only").unwrap().sent, 1);
    assert_eq!(c.receive(1).await, ["chat only"]);
    assert_eq!(n.cmd("user").await, "Some(\"alice\")");
    assert!(n.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_can_keep_out_of_hub_broadcasts_and_keep_everything_else() {
    // An endpoint whose sessions speak their own protocol (a STOMP broker's) shares the hub
    // for rooms, users and channels but must not get another endpoint's raw broadcasts.
    let hub = Hub::new();
    let chat = endpoint("/chat", &hub, LoginPolicy::Allow);
    let stomp = SockJs::builder("/stomp")
        .hub(hub.clone())
        .hub_broadcasts(false)
        .build(commands)
        .unwrap();
    let c = Client::open(&chat, "c").await;
    let s = Client::open(&stomp, "s").await;
    assert_eq!(s.cmd("join r").await, "Ok(true)");
    assert_eq!(
        hub.broadcast("to all").unwrap().sent,
        1,
        "the chat session only"
    );
    assert_eq!(c.receive(1).await, ["to all"]);
    // still in the hub's rooms and user index
    assert_eq!(c.cmd("room r for the room").await, "Ok(1)");
    assert_eq!(s.cmd("login alice").await, "Ok(())");
    assert_eq!(c.cmd("to alice for alice").await, "Ok(1)");
    assert_eq!(s.receive(2).await, ["for the room", "for alice"]);
}

#[tokio::test(start_paused = true)]
async fn a_handler_reaches_its_endpoint_and_hub_from_the_connection() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let s = SockJs::new("/s", Config::default(), move |conn: Connection| {
        let tx = tx.clone();
        async move {
            let endpoint = conn.endpoint();
            let _ = tx.send((
                endpoint.prefix().to_string(),
                endpoint.session_count(),
                conn.hub().node() == endpoint.hub().node(),
            ));
        }
    })
    .unwrap();
    let _a = Client::open(&s, "a").await;
    assert_eq!(rx.recv().await.unwrap(), ("/s".into(), 1, true));
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_members_in_one_room() {
    const N: usize = 10_000;
    let hub = Hub::new();
    let s = SockJs::builder("/big")
        .hub(hub.clone())
        .build(|conn: Connection| async move {
            let _ = conn.join("big");
            commands(conn).await;
        })
        .unwrap();
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        clients.push(Client::open(&s, &format!("s{i}")).await);
    }
    // every handler has run its join once the last one answers a command
    assert_eq!(clients[N - 1].cmd("rooms").await, "[\"big\"]");
    assert_eq!(hub.room_len("big"), N);
    let d = hub.send_to_room("big", "to ten thousand").unwrap();
    assert_eq!((d.sent, d.full, d.closed), (N, 0, 0));
    for c in &clients {
        assert_eq!(c.receive(1).await, ["to ten thousand"]);
    }
    // half of them close: the room shrinks by as many
    for c in clients.iter().step_by(2) {
        c.send("close 4000 bye").await;
    }
    for c in clients.iter().step_by(2) {
        c.closed().await;
    }
    assert_eq!(hub.room_len("big"), N / 2);
    assert_eq!(hub.send_to_room("big", "half").unwrap().sent, N / 2);
    assert_eq!(hub.room_members("big").len(), N / 2);
}

#[tokio::test(start_paused = true)]
async fn channels_fan_out_and_report_lag() {
    let mut config = HubConfig::default();
    config.channel_capacity = 4;
    let hub = Hub::builder().config(config).build().unwrap();
    let mut fast = hub.subscribe("prices").unwrap();
    let mut slow = hub.subscribe("prices").unwrap();
    assert_eq!(slow.channel(), "prices");
    assert_eq!(hub.publish("prices", "p0").unwrap().sent, 2);
    assert_eq!(fast.recv().await, Some(Ok("p0".into())));
    for i in 1..=10 {
        hub.publish("prices", format!("p{i}")).unwrap();
        assert_eq!(fast.recv().await, Some(Ok(format!("p{i}").into())));
    }
    // slow never read: it missed the oldest 7 of 11, then gets the last 4
    assert_eq!(slow.recv().await, Some(Err(Lagged(7))));
    for i in 7..=10 {
        assert_eq!(slow.next().await, Some(Ok(format!("p{i}").into())));
    }
    let stats = hub.stats();
    assert_eq!(
        (stats.channels, stats.subscriptions, stats.lagged),
        (1, 2, 7)
    );
    drop(slow);
    assert_eq!(hub.stats().subscriptions, 1);
    drop(fast);
    assert_eq!(hub.stats().channels, 0);
    assert_eq!(hub.publish("prices", "nobody").unwrap().sent, 0);
}

#[tokio::test(start_paused = true)]
async fn presence_events_report_lag() {
    let mut config = HubConfig::default();
    config.presence_capacity = 2;
    let hub = Hub::builder().config(config).build().unwrap();
    let s = endpoint("/s", &hub, LoginPolicy::Allow);
    let mut events = hub.presence_events();
    let mut clients = Vec::new();
    for i in 0..5 {
        let c = Client::open(&s, &format!("c{i}")).await;
        c.cmd(&format!("login u{i}")).await;
        clients.push(c);
    }
    assert_eq!(events.recv().await, Some(Err(Lagged(3))));
    assert_eq!(
        next_event(&mut events).await,
        ("u3".into(), PresenceKind::Joined)
    );
    assert_eq!(
        next_event(&mut events).await,
        ("u4".into(), PresenceKind::Joined)
    );
    assert_eq!(hub.stats().lagged, 3);
}

#[tokio::test(start_paused = true)]
async fn names_and_sizes_are_bounded() {
    let mut config = HubConfig::default();
    config.max_message_size = 8;
    let hub = Hub::builder().config(config).build().unwrap();
    let s = endpoint("/s", &hub, LoginPolicy::Allow);
    let a = Client::open(&s, "a").await;
    assert_eq!(a.cmd("join r").await, "Ok(true)");
    let long = "x".repeat(1025);
    assert_eq!(a.cmd(&format!("join {long}")).await, "Err(InvalidName)");
    assert_eq!(a.cmd(&format!("login {long}")).await, "Err(InvalidName)");
    assert_eq!(a.cmd("room r 123456789").await, "Err(TooLarge)");
    assert_eq!(hub.send_to_room("", "x"), Err(HubError::InvalidName));
    assert_eq!(hub.broadcast("123456789"), Err(HubError::TooLarge));
    assert!(matches!(hub.subscribe(""), Err(HubError::InvalidName)));
    assert_eq!(a.cmd("room r 12345678").await, "Ok(1)");
    assert_eq!(a.receive(1).await, ["12345678"]);
}

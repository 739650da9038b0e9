//! What a load-generator run does.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// The kind of load (see the crate docs for the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// SockJS websocket echo: `connections` sessions, `in_flight` messages outstanding each.
    WsEcho,
    /// Plain websocket text echo (the bare server).
    RawWsEcho,
    /// SockJS websocket round trip: one message in flight on each connection.
    WsRtt,
    /// Plain websocket round trip (the bare server).
    RawWsRtt,
    /// `xhr_send` in, one `xhr_streaming` response out (renewed at the response limit).
    XhrStreaming,
    /// `xhr_send` in, `xhr` long polls out.
    XhrPolling,
    /// Plain HTTP `POST` echo over keep-alive connections (the bare server).
    HttpEcho,
    /// `connections` websocket sessions on the broadcast endpoint; one sends, all receive.
    Broadcast,
    /// The same over plain websockets (the bare server's `/broadcast` room).
    RawBroadcast,
    /// `connections` websocket sessions in one hub room (sockjs-rs's `/room`: each session
    /// joins the room, each message goes out with `Hub::send_to_room`); one sends, all receive.
    RoomBroadcast,
    /// `connections` websocket sessions on sockjs-rs's `/all`, where each message goes to
    /// every session of the endpoint with `SockJs::broadcast`; one sends, all receive.
    EndpointBroadcast,
    /// `connections` idle SockJS websocket sessions; server RSS per session.
    Idle,
    /// `connections` idle plain websockets (the bare server); server RSS per connection.
    RawIdle,
    /// `connections` idle SockJS `xhr_streaming` sessions (each one open streaming response);
    /// server RSS per session.
    IdleXhrStreaming,
    /// `connections` idle plain HTTP streaming responses (the bare server's `/stream/<id>`);
    /// server RSS per response.
    RawIdleStreaming,
    /// STOMP over SockJS websocket sessions: each of `connections` subscribes to its own
    /// topic and publishes to it, `in_flight` messages outstanding; delivered messages per
    /// second.
    StompPublish,
    /// The same over plain websockets (RabbitMQ's web-STOMP, a SockJS raw websocket).
    RawStompPublish,
    /// STOMP over SockJS websocket sessions: `connections` subscribers of one topic, the
    /// first also the publisher; send to last delivery.
    StompFanout,
    /// The same over plain websockets.
    RawStompFanout,
    /// `connections` idle STOMP sessions over SockJS websockets, each connected and
    /// subscribed to its own topic; server RSS per session.
    StompIdle,
    /// The same over plain websockets.
    RawStompIdle,
}

impl Workload {
    /// Every workload, in the order the reports list them.
    pub const ALL: [Workload; 21] = [
        Workload::WsEcho,
        Workload::RawWsEcho,
        Workload::WsRtt,
        Workload::RawWsRtt,
        Workload::XhrStreaming,
        Workload::XhrPolling,
        Workload::HttpEcho,
        Workload::Broadcast,
        Workload::RawBroadcast,
        Workload::RoomBroadcast,
        Workload::EndpointBroadcast,
        Workload::Idle,
        Workload::RawIdle,
        Workload::IdleXhrStreaming,
        Workload::RawIdleStreaming,
        Workload::StompPublish,
        Workload::RawStompPublish,
        Workload::StompFanout,
        Workload::RawStompFanout,
        Workload::StompIdle,
        Workload::RawStompIdle,
    ];

    /// The workload's command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::WsEcho => "ws-echo",
            Workload::RawWsEcho => "raw-ws-echo",
            Workload::WsRtt => "ws-rtt",
            Workload::RawWsRtt => "raw-ws-rtt",
            Workload::XhrStreaming => "xhr-streaming",
            Workload::XhrPolling => "xhr-polling",
            Workload::HttpEcho => "http-echo",
            Workload::Broadcast => "broadcast",
            Workload::RawBroadcast => "raw-broadcast",
            Workload::RoomBroadcast => "room-broadcast",
            Workload::EndpointBroadcast => "endpoint-broadcast",
            Workload::Idle => "idle",
            Workload::RawIdle => "raw-idle",
            Workload::IdleXhrStreaming => "idle-xhr-streaming",
            Workload::RawIdleStreaming => "raw-idle-streaming",
            Workload::StompPublish => "stomp-publish",
            Workload::RawStompPublish => "raw-stomp-publish",
            Workload::StompFanout => "stomp-fanout",
            Workload::RawStompFanout => "raw-stomp-fanout",
            Workload::StompIdle => "stomp-idle",
            Workload::RawStompIdle => "raw-stomp-idle",
        }
    }

    /// Whether the workload speaks plain websocket / HTTP rather than SockJS.
    pub fn is_raw(self) -> bool {
        matches!(
            self,
            Workload::RawWsEcho
                | Workload::RawWsRtt
                | Workload::HttpEcho
                | Workload::RawBroadcast
                | Workload::RawIdle
                | Workload::RawIdleStreaming
                | Workload::RawStompPublish
                | Workload::RawStompFanout
                | Workload::RawStompIdle
        )
    }

    /// Whether the workload speaks STOMP.
    pub fn is_stomp(self) -> bool {
        matches!(
            self,
            Workload::StompPublish
                | Workload::RawStompPublish
                | Workload::StompFanout
                | Workload::RawStompFanout
                | Workload::StompIdle
                | Workload::RawStompIdle
        )
    }

    /// The default endpoint prefix: `/broadcast` for the broadcast workloads, `/room` for
    /// `room-broadcast`, `/all` for `endpoint-broadcast`, `/stream` for `raw-idle-streaming`,
    /// `/stomp` for the STOMP ones,
    /// `/echo` otherwise.
    pub fn default_prefix(self) -> &'static str {
        match self {
            Workload::Broadcast | Workload::RawBroadcast => "/broadcast",
            Workload::RoomBroadcast => "/room",
            Workload::EndpointBroadcast => "/all",
            Workload::RawIdleStreaming => "/stream",
            w if w.is_stomp() => "/stomp",
            _ => "/echo",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Workload::ALL.iter().map(|w| w.as_str()).collect();
                format!("unknown workload {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// One run of the load generator.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadConfig {
    /// What to do.
    pub workload: Workload,
    /// The server (a loopback address).
    pub target: SocketAddr,
    /// Endpoint prefix, e.g. `/echo` (the bare server answers at any path).
    pub prefix: String,
    /// Name of the server in the report (`sockjs-rs`, `sockjs-node`, `bare`).
    pub label: String,
    /// Connections (or sessions).
    pub connections: usize,
    /// Messages outstanding per connection (echo workloads; `xhr_send` batches up to this
    /// many). The rtt workloads always use 1.
    pub in_flight: usize,
    /// Message size in bytes (at least 12: a sequence number and a check pattern).
    pub message_size: usize,
    /// Load before measuring (also the settle time of the idle workloads).
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// How long to wait at the end for the answers still in flight; missing ones are errors.
    pub drain: Duration,
    /// The whole run (connecting included) is abandoned after this, with an error.
    pub hard_timeout: Duration,
    /// Broadcast: the maximum number of measured broadcasts (also bounded by `duration`).
    pub repetitions: usize,
    /// Connections being opened at once.
    pub connect_concurrency: usize,
    /// The server's process id: its RSS (idle workloads) and CPU time are read from `/proc`.
    pub server_pid: Option<u32>,
    /// Plain websocket workloads: the path to open instead of `<prefix>/websocket` (e.g.
    /// `/ws`, RabbitMQ web-STOMP's).
    pub ws_path: Option<String>,
    /// The websocket subprotocol to ask for (e.g. `v12.stomp`); none by default.
    pub subprotocol: Option<String>,
    /// STOMP workloads: the `login` and `passcode` of `CONNECT` (default `guest`, `guest`,
    /// RabbitMQ's loopback-only default user).
    pub login: (String, String),
}

impl LoadConfig {
    /// A configuration with the defaults of `workload` against `target`.
    pub fn new(workload: Workload, target: SocketAddr) -> Self {
        let (connections, in_flight) = match workload {
            Workload::WsEcho | Workload::RawWsEcho => (50, 8),
            Workload::WsRtt | Workload::RawWsRtt => (1, 1),
            Workload::XhrStreaming | Workload::XhrPolling => (50, 4),
            Workload::HttpEcho => (50, 1),
            Workload::Broadcast
            | Workload::RawBroadcast
            | Workload::RoomBroadcast
            | Workload::EndpointBroadcast => (1000, 1),
            Workload::Idle
            | Workload::RawIdle
            | Workload::IdleXhrStreaming
            | Workload::RawIdleStreaming
            | Workload::StompIdle
            | Workload::RawStompIdle => (10_000, 1),
            Workload::StompPublish | Workload::RawStompPublish => (50, 8),
            Workload::StompFanout | Workload::RawStompFanout => (1000, 1),
        };
        LoadConfig {
            workload,
            target,
            prefix: workload.default_prefix().to_string(),
            label: "server".to_string(),
            connections,
            in_flight,
            message_size: 64,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            drain: Duration::from_secs(2),
            hard_timeout: Duration::from_secs(120),
            repetitions: 200,
            connect_concurrency: 128,
            server_pid: None,
            ws_path: None,
            subprotocol: None,
            login: ("guest".to_string(), "guest".to_string()),
        }
    }

    /// Messages outstanding per connection, as the workload uses it.
    pub fn effective_in_flight(&self) -> usize {
        match self.workload {
            Workload::WsRtt | Workload::RawWsRtt | Workload::HttpEcho => 1,
            _ => self.in_flight.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.as_str().parse::<Workload>(), Ok(w));
            assert_eq!(w.to_string(), w.as_str());
        }
        let mut names: Vec<&str> = Workload::ALL.iter().map(|w| w.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Workload::ALL.len(), "names are unique");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = "idle-xhr".parse::<Workload>().unwrap_err();
        assert!(e.contains("idle-xhr-streaming"), "{e}");
    }

    #[test]
    fn idle_xhr_streaming() {
        let w: Workload = "idle-xhr-streaming".parse().unwrap();
        assert_eq!(w, Workload::IdleXhrStreaming);
        assert!(!w.is_raw(), "it speaks SockJS");
        let c = LoadConfig::new(w, ([127, 0, 0, 1], 1).into());
        assert_eq!(c.connections, 10_000);
        assert_eq!(c.prefix, "/echo");
        assert_eq!(c.effective_in_flight(), 1);
    }

    #[test]
    fn stomp_workloads() {
        for (name, raw) in [
            ("stomp-publish", false),
            ("raw-stomp-publish", true),
            ("stomp-fanout", false),
            ("raw-stomp-fanout", true),
            ("stomp-idle", false),
            ("raw-stomp-idle", true),
        ] {
            let w: Workload = name.parse().unwrap();
            assert!(w.is_stomp(), "{name}");
            assert_eq!(w.is_raw(), raw, "{name}");
            assert_eq!(w.default_prefix(), "/stomp");
        }
        assert!(!Workload::WsEcho.is_stomp());
        let c = LoadConfig::new(Workload::RawStompFanout, ([127, 0, 0, 1], 1).into());
        assert_eq!(c.connections, 1000);
        assert_eq!(c.login, ("guest".to_string(), "guest".to_string()));
    }

    #[test]
    fn raw_idle_streaming() {
        let w: Workload = "raw-idle-streaming".parse().unwrap();
        assert_eq!(w, Workload::RawIdleStreaming);
        assert!(
            w.is_raw(),
            "the bare server's counterpart of idle-xhr-streaming"
        );
        let c = LoadConfig::new(w, ([127, 0, 0, 1], 1).into());
        assert_eq!(c.connections, 10_000);
        assert_eq!(c.prefix, "/stream");
    }
}

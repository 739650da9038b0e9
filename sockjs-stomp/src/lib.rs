//! STOMP 1.0, 1.1 and 1.2 over SockJS, without I/O.
//!
//! `sockjs-stomp` is the protocol half of a STOMP broker that serves the frontends Spring
//! applications have (`Stomp.over(new SockJS('/ws'))` with stompjs 2.3.3, or @stomp/stompjs 7
//! with a SockJS factory) unchanged: the frame codec ([`decode`], [`encode`]), heart-beating
//! ([`heartbeat`]), destination routing with Spring's conventions ([`Routing`]) and the
//! per-session state machine ([`Session`]). Like `sockjs-core` these modules have no sockets,
//! no clock reads, no runtime and no globals: time is an argument of every input, and tests
//! step a simulated clock.
//!
//! The [`broker`] module (the `broker` feature, on by default) is the driver: a STOMP broker
//! with Spring's conventions served from a `sockjs-hyper` endpoint, fanning out through the
//! endpoint's hub, so that it spans nodes with a hub backend. Depend on the crate with
//! `default-features = false` for the protocol modules alone (the fuzz crate does): they
//! never use the broker, and build without tokio or hyper.
//!
//! # Porting a Spring `@EnableWebSocketMessageBroker` application
//!
//! The frontend does not change (same endpoint path, destinations, headers and client
//! library). On the server, each piece of the Spring configuration has a counterpart:
//!
//! | Spring | sockjs-stomp |
//! |---|---|
//! | `@EnableWebSocketMessageBroker`, a `WebSocketMessageBrokerConfigurer` | [`StompBroker::builder`](broker::StompBroker::builder), then mount [`endpoint()`](broker::StompBroker::endpoint) in your hyper or axum server |
//! | `registry.addEndpoint("/ws").withSockJS()` | the builder's prefix `"/ws"`; SockJS settings with [`sockjs_config`](broker::StompBrokerBuilder::sockjs_config) |
//! | `setApplicationDestinationPrefixes("/app")` | [`Routing::application_prefixes`] (default `["/app"]`) in [`Config::routing`] |
//! | `enableSimpleBroker("/topic", "/queue")` | [`Routing::broker_prefixes`] (default `["/topic", "/queue"]`) |
//! | `setUserDestinationPrefix("/user")` | [`Routing::user_prefix`] (default `Some("/user")`) |
//! | `@MessageMapping("/hello")` method | [`route("/hello", handler)`](broker::StompBrokerBuilder::route); the handler gets an [`AppMessage`](broker::AppMessage) (body, headers, user) |
//! | `@SendTo("/topic/greetings")` | `msg.broker().publish("/topic/greetings", ..)` in the handler |
//! | `@SendToUser("/queue/reply")` | [`msg.reply("/user/queue/reply", ..)`](broker::AppMessage::reply) (the sending session, `broadcast = false`) or `msg.broker().send_to_user(user, "/queue/reply", ..)` (every session of the user) |
//! | `SimpMessagingTemplate.convertAndSend(dest, payload)` | [`StompBroker::publish`](broker::StompBroker::publish) on a clone of the broker, from anywhere |
//! | `convertAndSendToUser(user, dest, payload)` | [`StompBroker::send_to_user`](broker::StompBroker::send_to_user) |
//! | the `Principal` (HTTP authentication, or a `ChannelInterceptor` on `CONNECT`) | [`authenticator`](broker::StompBrokerBuilder::authenticator): `CONNECT` headers, HTTP headers and address → a user or a refusal |
//! | a `ChannelInterceptor` checking `SUBSCRIBE`/`SEND` | [`authorizer`](broker::StompBrokerBuilder::authorizer) (a refusal: `ERROR` + close, as in Spring) |
//! | `setHeartbeatValue(new long[]{10000, 10000})` | [`Config::heartbeat_send`] / [`Config::heartbeat_receive`] (the same defaults) |
//! | `setMessageSizeLimit`, `setSendBufferSizeLimit`, `setSendTimeLimit` | [`Config::limits`], [`session_queue`](broker::StompBrokerBuilder::session_queue) with [`SlowSubscriber`](broker::SlowSubscriber), and SockJS's `write_timeout` |
//! | `SimpUserRegistry` (who is online) | the hub's presence: `broker.hub().presence()`, `presence_events()` |
//! | `enableStompBrokerRelay` (RabbitMQ) to run several nodes | a hub backend (`sockjs-redis`): `.hub(Hub::with_backend(redis))` |
//! | `@SubscribeMapping` | not a handler here: a `SUBSCRIBE` to `/app/..` is accepted and kept in the session, and a handler can [`reply`](broker::AppMessage::reply) on it; or have the page `SEND` a request after subscribing (the `stomp_chat` example's `/app/who`) |
//!
//! Like Spring's simple broker: `/queue/x` is a topic (every subscriber gets every message),
//! nothing is persisted or redelivered (`NACK` drops), a `SEND` to a destination nothing
//! handles is dropped.
//!
//! # Limits and defaults
//!
//! | what | default | setting |
//! |---|---|---|
//! | client frame (headers and body) | 64 KiB | [`Config::limits`] `.max_frame_size` |
//! | body | 64 KiB | `.max_body_size` |
//! | headers per frame / header line | 64 / 8 KiB | `.max_headers` / `.max_header_line` |
//! | subscriptions per session | 128 | [`Config::max_subscriptions`] |
//! | unacknowledged messages per session | 1024 (more are skipped and counted) | [`Config::max_unacked`] |
//! | open transactions per session | 16, holding at most 1 MiB | [`Config::max_transactions`], [`Config::max_transaction_bytes`] |
//! | time to complete `CONNECT` | 60 s | [`Config::connect_timeout`] |
//! | heart-beats (server's offer) | 10 s each way, a client silent 3× its interval gets `ERROR` | [`Config::heartbeat_send`], [`Config::heartbeat_receive`], [`Config::heartbeat_tolerance`] |
//! | messages waiting for a session's task | 1024, then the slow-subscriber policy (skip and count) | [`session_queue`](broker::StompBrokerBuilder::session_queue), [`slow_subscriber`](broker::StompBrokerBuilder::slow_subscriber) |
//! | frames waiting to be written to the client | SockJS's outbound queue: 4096 messages / 1 MiB, waited for | `sockjs_hyper::Config::max_queued_messages` / `max_queued_bytes` |
//! | a publication | 2 MiB, and its `MESSAGE` frame (headers counted twice, 256 bytes for the broker's own) within the endpoint's `max_message_size`: beyond, [`PublishError::TooLarge`](broker::PublishError::TooLarge) to server code, an `ERROR` to a client's `SEND` | the hub's `HubConfig::max_message_size`, `sockjs_hyper::Config::max_message_size` |
//! | publications a destination may fall behind on one node | 256 (then lost, counted as `lagged`) | the hub's `HubConfig::channel_capacity` |
//! | destination (with the user name for user destinations) | about 1000 bytes (a hub channel name is at most 1024) | — |
//!
//! # Delivery across nodes
//!
//! With a hub backend, a publication reaches the subscribers of its destination on every node
//! connected to the backend at the time, **at most once, in publication order per publishing
//! node**; on the publishing node, every subscription whose session queue has room gets it
//! once, in order. While the backend is unreachable, publishing from server code returns
//! [`PublishError::Hub`](broker::PublishError::Hub) (local subscribers got the message), and
//! a client's `SEND` is delivered locally and logged. See the [`broker`] module.
//!
//! # The contract with the driver
//!
//! ```text
//!                inputs (time is always an argument)              outputs, in order
//!  SockJS msg ──► Session::handle_message(now, &str)     ┐
//!  timer      ──► Session::handle_timeout(now)           │   Session::poll_output() until None:
//!  broker     ──► Session::deliver(now, sub_id, &msg)    ├──►  Transmit(String)   send as one SockJS message
//!  auth done  ──► Session::accept(now, user)             │     Authenticate(req)  run the authenticator
//!            or   Session::refuse(now, message)          │     Subscribe / Unsubscribe / Publish / Ack / Nack
//!  output     ──► Session::fail(now, message)            │     Disconnect         drop the session's broker state
//!  failed                                                │     Close(reason)      close the SockJS session
//!  SockJS end ──► Session::handle_close(now)             ┘   Session::poll_timeout() = next timer deadline
//! ```
//!
//! After every input the driver performs each output in order before polling the next one
//! (so a `RECEIPT` that follows a `Subscribe` is sent after the subscription exists), then
//! re-arms its one timer from `poll_timeout`. When performing an output fails (authorization
//! of a `SUBSCRIBE` or `SEND` denied, the broker unavailable) the driver calls
//! [`Session::fail`]: the outputs not polled yet are dropped and the session answers `ERROR`
//! (with `receipt-id` when that frame asked for a receipt) and closes. The output queue only
//! ever holds what the last input produced.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use sockjs_stomp::{Config, Output, OutboundMessage, Route, Session};
//!
//! let start = Instant::now(); // the driver's clock; tests use any Instant and add durations
//! let mut session = Session::new(start, Arc::new(Config::default()));
//!
//! // stompjs opens with CONNECT; the session asks the driver's authenticator.
//! session.handle_message(start, "CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:10000,10000\nlogin:alice\n\n\0");
//! let Some(Output::Authenticate(request)) = session.poll_output() else { unreachable!() };
//! assert_eq!(request.login(), Some("alice"));
//! session.accept(start, Some("alice".into())).unwrap();
//! assert_eq!(
//!     session.poll_output(),
//!     Some(Output::Transmit(
//!         "CONNECTED\nversion:1.2\nheart-beat:10000,10000\nserver:sockjs-stomp\nuser-name:alice\n\n\0".into()
//!     )),
//! );
//!
//! // A subscription with a receipt: register it in the broker, then send the RECEIPT.
//! session.handle_message(start, "SUBSCRIBE\nid:sub-0\ndestination:/topic/greetings\nreceipt:r1\n\n\0");
//! let Some(Output::Subscribe(sub)) = session.poll_output() else { unreachable!() };
//! assert_eq!((sub.id.as_str(), sub.route), ("sub-0", Route::Broker));
//! assert_eq!(session.poll_output(), Some(Output::Transmit("RECEIPT\nreceipt-id:r1\n\n\0".into())));
//!
//! // The broker delivers a message on that subscription (one message, shared by all the
//! // subscribers it goes to); the MESSAGE frame is written where it is sent.
//! let message = Arc::new(OutboundMessage {
//!     destination: "/topic/greetings".into(),
//!     content_type: Some("application/json".into()),
//!     body: "{\"content\":\"Hello, alice!\"}".into(),
//!     ..OutboundMessage::default()
//! });
//! session.deliver(start, "sub-0", &message).unwrap();
//! let Some(Output::Message(frame)) = session.poll_output() else { unreachable!() };
//! assert!(frame.encode().starts_with("MESSAGE\nsubscription:sub-0\nmessage-id:0\ndestination:/topic/greetings\n"));
//!
//! // Nothing from the server for 10 s: a heart-beat is due (an EOL, as its own message).
//! assert_eq!(session.poll_timeout(), Some(start + Duration::from_secs(10)));
//! session.handle_timeout(start + Duration::from_secs(10));
//! assert_eq!(session.poll_output(), Some(Output::Transmit("\n".into())));
//! ```
//!
//! # What the broker must know
//!
//! * **Routing**: [`Routing::route_send`] and [`Routing::route_subscribe`] (already applied
//!   to every [`Output::Publish`] and [`Output::Subscribe`]) tell application, broker and
//!   user destinations apart; see [`route`] for Spring's rules, user destinations included.
//! * **Delivery guarantee**: a message handed to [`Session::deliver`] that returns `Ok` is
//!   queued as exactly one `MESSAGE` frame, after every frame queued before it; nothing is
//!   redelivered by this crate. `NACK`ed and abandoned messages are reported
//!   ([`Output::Nack`], [`UnsubscribeRequest::unacked`], [`Output::Disconnect`]); whether
//!   to redeliver them is the broker's policy.
//! * **Acknowledgement**: `client` subscriptions acknowledge cumulatively (an `ACK` covers
//!   every earlier unacknowledged message of the subscription, and a `NACK` likewise),
//!   `client-individual` ones message by message. At most [`Config::max_unacked`] messages
//!   may wait for an acknowledgement per session; beyond it `deliver` answers
//!   [`DeliverError::TooManyUnacked`] and sends nothing, until an `ACK` or `NACK` frees room.
//! * **Transactions**: `SEND`, `ACK` and `NACK` frames with a `transaction` header are held
//!   (bounded by [`Config::max_transaction_bytes`]) and produce their outputs at `COMMIT`,
//!   in order; `ABORT`, `DISCONNECT` and the end of the session discard them.
//!
//! # Frames split over SockJS messages
//!
//! Both client libraries send each frame as one SockJS message unless it is large:
//!
//! * **@stomp/stompjs 7** splits only with `splitLargeFrames: true` (off by default; meant
//!   for Spring servers), into chunks of `maxWebSocketChunkSize` (default 8 × 1024) UTF-16 code
//!   units taken with `String.substring`, each sent as its own message; binary frames are
//!   never split.
//! * **stompjs 2.3.3** (`Stomp.over`) always splits a frame longer than
//!   `maxWebSocketFrameSize` (16 × 1024) UTF-16 code units the same way.
//!
//! The decoder reassembles both shapes (and any other split), and reads several frames from
//! one message. One limitation, shared with Spring: a cut can fall between the two halves of
//! a surrogate pair (a character outside the BMP, e.g. an emoji). Each half then travels as
//! a lone surrogate, which SockJS decoding turns into U+FFFD, and the frame's
//! `content-length` no longer matches: the session answers `ERROR`. Nothing is lost silently.
//!
//! # Heart-beats, SockJS `h` frames and proxies
//!
//! STOMP heart-beats (see [`heartbeat`]) and SockJS's `h` frames are independent layers:
//!
//! * **SockJS `h` frames** (every 25 s by default, `sockjs-core`'s `heartbeat_interval`) go
//!   from server to client on every receiving transport. sockjs-client consumes them: the
//!   STOMP client never sees them, so they do not satisfy its heart-beat check. They keep
//!   streaming and polling responses and the websocket alive through proxies, and they cover
//!   sessions that have no STOMP heart-beats (before `CONNECTED`, STOMP 1.0, or a client
//!   asking for none).
//! * **STOMP heart-beats** are SockJS messages holding `"\n"`, each way. The server sends one
//!   when it has sent nothing for the negotiated interval (10 s with Spring's default and
//!   stompjs's), which also resets any proxy's read timer; it ends the session with `ERROR`
//!   when the client has sent nothing for the negotiated interval times
//!   [`Config::heartbeat_tolerance`] (3, so 30 s by default). This detects a dead client
//!   even on a websocket whose TCP connection vanished without a close.
//! * **Proxies**: nginx's `proxy_read_timeout` (60 s by default, often set lower) cuts a
//!   connection when the upstream sends nothing for that long. Keep the server's STOMP
//!   heart-beat (or the SockJS `h` interval, whichever is shorter) below it: with the 10 s
//!   default a 30 s `proxy_read_timeout` is safe. Spring switches SockJS's `h` frames off
//!   once STOMP heart-beats are negotiated; here both may run (an `h` frame costs 2 bytes),
//!   and the driver may lengthen the SockJS interval instead.
//! * **Background tabs** throttle timers (Chrome may run a hidden page's timers once a
//!   minute), which delays a client's heart-beats; raise [`Config::heartbeat_receive`] or the
//!   tolerance if such pages get disconnected. @stomp/stompjs's `heartbeatStrategy: Worker`
//!   avoids the throttling.
//!
//! # Limits
//!
//! Every buffer is bounded, with documented defaults: a client frame ([`decode::Limits`]:
//! 64 KiB frames and bodies, 64 headers of at most 8 KiB), subscriptions per session (128),
//! unacknowledged messages per session (1024), open transactions (16, holding at most
//! 1 MiB), bytes received while the authenticator decides (one frame's limit), and the time
//! to complete `CONNECT` (60 s). Anything malformed or beyond a bound gets an `ERROR` frame
//! and a close, never a panic.
#![deny(missing_docs)]

#[cfg(feature = "broker")]
pub mod broker;
mod config;
pub mod decode;
pub mod encode;
pub mod frame;
pub mod heartbeat;
pub mod route;
pub mod session;

pub use config::{Config, ConfigError};
pub use decode::{DecodeError, Decoder, Limits};
pub use frame::{Command, Frame, Headers, Version};
pub use route::{Route, Routing};
pub use session::{
    AckMode, AckRequest, CloseReason, ConnectRequest, DeliverError, MessageOut, NotAuthenticating,
    OutboundMessage, Output, Publish, Session, SessionError, SubscribeRequest, UnsubscribeRequest,
};

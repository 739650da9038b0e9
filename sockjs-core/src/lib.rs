//! The SockJS protocol without I/O.
//!
//! `sockjs-core` knows everything about SockJS that does not involve a socket, a clock or an
//! HTTP library: the frames and their JSON escaping ([`frame`]), how each transport wraps
//! frames on the wire ([`framing`]), the URL grammar ([`Route`]), the per-session state
//! machine ([`Session`]), the session registry ([`Registry`]), the `/info` and iframe bodies
//! ([`info`]), the configuration with the protocol's defaults ([`Config`]), and the
//! vocabulary and wire format a hub uses to talk to other nodes ([`cluster`]).
//!
//! An I/O driver (such as `sockjs-hyper`) owns the sockets, the tasks and the timers. The
//! contract between the two:
//!
//! ```text
//!            inputs (time is always an argument)           outputs
//!  request  ──► Route::parse(path)                  ──► which endpoint / transport
//!  receive  ──► Session::attach(now, framing, mode) ──► ReceiverId or c[2010] to write
//!  app send ──► Session::send(EncodedMessage)       ──► queued, or Full / Closed
//!  app close──► Session::close(code, reason)
//!  client   ──► frame::decode_messages_bounded(..)  ──► messages for the application
//!  write    ──► Session::poll_transmit(now, id)     ──► Frame { data, end } | Idle | Ended
//!  abort    ──► Session::detach(now, id, true)
//!  timer    ──► Session::handle_timeout(now)        ──► Session::poll_timeout() = next deadline
//!  events   ──► Session::take_close_event()         ──► why the session closed (once)
//! ```
//!
//! After every input the driver calls `poll_transmit` for the attached receiver until it
//! answers `Idle` or `Ended`, and re-arms its timer from `poll_timeout`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sockjs_core::{Config, Session, Transmit, ReceiveMode, framing::Framing, frame::EncodedMessage};
//!
//! let start = Instant::now(); // the driver's clock; tests use any Instant and add durations
//! let config = Config::default();
//! let mut session = Session::new(start, &config);
//! let rx = session.attach(start, Framing::Newline, ReceiveMode::Polling).unwrap();
//! assert_eq!(
//!     session.poll_transmit(start, rx),
//!     Transmit::Frame { data: "o\n".into(), end: true }
//! );
//! session.send(EncodedMessage::new("hello")).unwrap();
//! let rx = session.attach(start, Framing::Newline, ReceiveMode::Polling).unwrap();
//! assert_eq!(
//!     session.poll_transmit(start, rx),
//!     Transmit::Frame { data: "a[\"hello\"]\n".into(), end: true }
//! );
//! // No receiver comes back: the session expires after the disconnect delay.
//! session.handle_timeout(start + Duration::from_secs(5));
//! assert!(session.is_expired());
//! ```
#![deny(missing_docs)]

pub mod close;
pub mod cluster;
mod config;
pub mod frame;
pub mod framing;
pub mod info;
pub mod origin;
pub mod registry;
pub mod route;
pub mod session;

pub use close::CloseCause;
pub use config::{Config, ConfigError, OverflowPolicy, DEFAULT_SOCKJS_URL};
pub use origin::{OriginPolicy, OriginRefusal, RequestSource};
pub use registry::Registry;
pub use route::{Route, Transport, TransportSet};
pub use session::{AttachError, ReceiveMode, ReceiverId, SendError, Session, Transmit};

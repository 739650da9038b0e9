//! How the load generator's payloads travel in websocket text messages: as SockJS messages
//! ([`SockJsFraming`]), as plain websocket messages ([`RawFraming`]), or as the bodies of
//! STOMP frames (`stomp::StompFraming`). The echo, broadcast and idle workloads are written
//! once against [`Framing`], so every protocol is driven by the same client loop.

use crate::frame::{self, Kind};
use crate::payload;

/// One connection's way of putting payloads into websocket text messages and taking them out.
pub(crate) trait Framing {
    /// Append the websocket text message that carries payload `seq` of `size` bytes (see
    /// [`payload::write`]).
    fn write(&mut self, seq: u64, size: usize, out: &mut String);

    /// Call `on_payload` for each payload the websocket text message `message` carries, in
    /// order (a heartbeat carries none). An error (from the message or from `on_payload`)
    /// ends the connection.
    fn read(
        &mut self,
        message: &str,
        on_payload: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String>;
}

/// SockJS framing: `["…"]` out, `a[…]` and `h` in; another `o` or a `c` frame is an error.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SockJsFraming;

impl Framing for SockJsFraming {
    fn write(&mut self, seq: u64, size: usize, out: &mut String) {
        out.push_str("[\"");
        payload::write(seq, size, out);
        out.push_str("\"]");
    }

    fn read(
        &mut self,
        message: &str,
        mut on_payload: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut bad = None;
        let kind = frame::parse(message, |m| {
            if bad.is_none() {
                bad = on_payload(m).err();
            }
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        match kind {
            Kind::Messages(_) | Kind::Heartbeat => Ok(()),
            Kind::Open => Err("a second open frame".into()),
            Kind::Close(c) => Err(format!("the server closed the session: {c}")),
        }
    }
}

/// Plain websocket framing: each text message is one payload.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawFraming;

impl Framing for RawFraming {
    fn write(&mut self, seq: u64, size: usize, out: &mut String) {
        payload::write(seq, size, out);
    }

    fn read(
        &mut self,
        message: &str,
        mut on_payload: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        on_payload(message)
    }
}

/// SockJS or plain framing, as the workload says (`raw` for the plain websocket workloads).
#[derive(Clone, Copy, Debug)]
pub(crate) enum EchoFraming {
    /// [`SockJsFraming`].
    SockJs(SockJsFraming),
    /// [`RawFraming`].
    Raw(RawFraming),
}

impl EchoFraming {
    /// Plain framing for `raw` workloads, SockJS framing otherwise.
    pub(crate) fn new(raw: bool) -> EchoFraming {
        if raw {
            EchoFraming::Raw(RawFraming)
        } else {
            EchoFraming::SockJs(SockJsFraming)
        }
    }
}

impl Framing for EchoFraming {
    fn write(&mut self, seq: u64, size: usize, out: &mut String) {
        match self {
            EchoFraming::SockJs(f) => f.write(seq, size, out),
            EchoFraming::Raw(f) => f.write(seq, size, out),
        }
    }

    fn read(
        &mut self,
        message: &str,
        on_payload: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        match self {
            EchoFraming::SockJs(f) => f.read(message, on_payload),
            EchoFraming::Raw(f) => f.read(message, on_payload),
        }
    }
}

/// Every payload `message` carries, for tests.
#[cfg(test)]
pub(crate) fn read_all(f: &mut impl Framing, message: &str) -> Result<Vec<String>, String> {
    let mut got = Vec::new();
    f.read(message, |p| {
        got.push(p.to_string());
        Ok(())
    })?;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockjs() {
        let mut f = EchoFraming::new(false);
        let mut out = String::new();
        f.write(3, 12, &mut out);
        assert_eq!(out, format!("[\"{}\"]", payload::make(3, 12)));
        assert_eq!(
            read_all(&mut f, "a[\"x\",\"y\"]"),
            Ok(vec!["x".into(), "y".into()])
        );
        assert_eq!(read_all(&mut f, "h"), Ok(vec![]));
        assert!(read_all(&mut f, "o").is_err());
        assert!(read_all(&mut f, "c[3000,\"Go away!\"]").is_err());
        assert_eq!(
            f.read("a[\"x\",\"y\"]", |_| Err("no".into())),
            Err("no".into()),
            "the first failed payload is the error"
        );
    }

    #[test]
    fn raw() {
        let mut f = EchoFraming::new(true);
        let mut out = String::new();
        f.write(3, 12, &mut out);
        assert_eq!(out, payload::make(3, 12));
        assert_eq!(read_all(&mut f, "a[\"x\"]"), Ok(vec!["a[\"x\"]".into()]));
    }
}

//! How each transport wraps a SockJS frame on the wire, and the preludes of streaming
//! responses.

use bytes::Bytes;

use crate::frame;

/// The wire format of one receiving transport.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// `xhr` and `xhr_streaming`: the frame followed by `\n`.
    Newline,
    /// `websocket`: the frame is one text message, nothing added.
    WebSocket,
    /// `eventsource`: `data: <frame>\r\n\r\n`, with `%`, `\r`, `\n` and NUL percent-escaped
    /// because sockjs-client runs `decodeURI()` on every data line.
    EventSource,
    /// `htmlfile`: `<script>\np("<frame as a JS string>");\n</script>\r\n`.
    HtmlFile {
        /// The validated callback name (see [`valid_callback`]).
        callback: String,
    },
    /// `jsonp`: `/**/<callback>("<frame as a JS string>");\r\n`.
    Jsonp {
        /// The validated callback name (see [`valid_callback`]).
        callback: String,
    },
    /// The raw `/websocket` endpoint: no SockJS framing at all. No open frame and no
    /// heartbeats; each message is one websocket text message, verbatim (queue them with
    /// [`EncodedMessage::verbatim`](crate::frame::EncodedMessage::verbatim)); a close is
    /// [`Transmit::Close`](crate::Transmit::Close), for a websocket close frame.
    Raw,
}

impl Framing {
    /// Append `frame` (e.g. `o`, `a["x"]`) wrapped for this transport to `out`.
    pub fn wrap_into(&self, frame: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::Newline => {
                out.extend_from_slice(frame);
                out.push(b'\n');
            }
            Framing::WebSocket | Framing::Raw => out.extend_from_slice(frame),
            Framing::EventSource => {
                out.extend_from_slice(b"data: ");
                for &b in frame {
                    match b {
                        b'%' => out.extend_from_slice(b"%25"),
                        b'\r' => out.extend_from_slice(b"%0D"),
                        b'\n' => out.extend_from_slice(b"%0A"),
                        0 => out.extend_from_slice(b"%00"),
                        b => out.push(b),
                    }
                }
                out.extend_from_slice(b"\r\n\r\n");
            }
            Framing::HtmlFile { callback: _ } => {
                out.extend_from_slice(b"<script>\np(");
                push_js_string(frame, out);
                out.extend_from_slice(b");\n</script>\r\n");
            }
            Framing::Jsonp { callback } => {
                out.extend_from_slice(b"/**/");
                out.extend_from_slice(callback.as_bytes());
                out.push(b'(');
                push_js_string(frame, out);
                out.extend_from_slice(b");\r\n");
            }
        }
    }

    /// `frame` wrapped for this transport, without copying it when the transport adds nothing
    /// (websocket, raw).
    pub fn wrap_bytes(&self, frame: Bytes) -> Bytes {
        match self {
            Framing::WebSocket | Framing::Raw => frame,
            _ => self.wrap(&frame),
        }
    }

    /// `frame` wrapped for this transport.
    pub fn wrap(&self, frame: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(frame.len() + 16);
        self.wrap_into(frame, &mut out);
        Bytes::from(out)
    }
}

/// Append `frame` as a JavaScript string literal safe inside an HTML `<script>` element: JSON
/// string escaping with SockJS's extra escapes, and `<` written as `\u003c` so that no message
/// can close the script element (`</script>`) or open a comment.
fn push_js_string(frame: &[u8], out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(frame);
    let mut quoted = String::with_capacity(text.len() + 2);
    frame::encode_json_string(&text, &mut quoted);
    for b in quoted.bytes() {
        if b == b'<' {
            out.extend_from_slice(b"\\u003c");
        } else {
            out.push(b);
        }
    }
}

/// Whether `callback` is an acceptable JSONP/htmlfile callback name: non-empty and made only
/// of `[a-zA-Z0-9_.-]`.
pub fn valid_callback(callback: &str) -> bool {
    !callback.is_empty()
        && callback
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The 2 KiB prelude of `xhr_streaming` (2048 `h` then `\n`): it pushes old browsers past
/// their buffering threshold so they hand the following chunks to the page at once.
pub fn xhr_streaming_prelude() -> Bytes {
    /// Built at compile time: every streaming response shares it, nothing is allocated.
    static PRELUDE: [u8; 2049] = {
        let mut p = [b'h'; 2049];
        p[2048] = b'\n';
        p
    };
    Bytes::from_static(&PRELUDE)
}

/// The prelude of `eventsource` (`\r\n`).
pub fn eventsource_prelude() -> Bytes {
    Bytes::from_static(b"\r\n")
}

/// The prelude of `htmlfile`: the page that calls `parent.<callback>`, padded past 1024 bytes
/// so browsers start rendering (and running the scripts) at once. `callback` must be valid
/// (see [`valid_callback`]).
pub fn htmlfile_prelude(callback: &str) -> Bytes {
    let mut page = format!(
        "<!doctype html>\n\
<html><head>\n\
\x20 <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n\
\x20 <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
</head><body><h2>Don't panic!</h2>\n\
\x20 <script>\n\
\x20   document.domain = document.domain;\n\
\x20   var c = parent.{callback};\n\
\x20   c.start();\n\
\x20   function p(d) {{c.message(d);}};\n\
\x20   window.onload = function() {{c.stop();}};\n\
\x20 </script>"
    );
    let target = 1025;
    if page.len() < target {
        page.extend(std::iter::repeat_n(' ', target - page.len()));
    }
    page.push_str("\r\n");
    Bytes::from(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(f: &Framing, frame: &str) -> String {
        String::from_utf8(f.wrap(frame.as_bytes()).to_vec()).unwrap()
    }

    #[test]
    fn newline_and_websocket() {
        assert_eq!(wrap(&Framing::Newline, "o"), "o\n");
        assert_eq!(wrap(&Framing::WebSocket, "a[\"x\"]"), "a[\"x\"]");
    }

    #[test]
    fn eventsource_escapes_what_decode_uri_would_eat() {
        assert_eq!(
            wrap(&Framing::EventSource, "a[\"x\"]"),
            "data: a[\"x\"]\r\n\r\n"
        );
        assert_eq!(
            wrap(&Framing::EventSource, "a[\"100%\"]\r\n\0"),
            "data: a[\"100%25\"]%0D%0A%00\r\n\r\n"
        );
    }

    #[test]
    fn jsonp_and_htmlfile() {
        let j = Framing::Jsonp {
            callback: "cb".into(),
        };
        assert_eq!(wrap(&j, "a[\"x\"]"), "/**/cb(\"a[\\\"x\\\"]\");\r\n");
        let h = Framing::HtmlFile {
            callback: "cb".into(),
        };
        assert_eq!(wrap(&h, "o"), "<script>\np(\"o\");\n</script>\r\n");
        let evil = wrap(&h, "a[\"</script><script>alert(1)</script>\"]");
        assert!(!evil.contains("</script><"), "{evil}");
        assert_eq!(evil.matches("</script>").count(), 1);
    }

    #[test]
    fn callbacks() {
        for ok in ["callback", "a.b_c-9", "jQuery123"] {
            assert!(valid_callback(ok), "{ok}");
        }
        for bad in ["", " ", "*", "abc(", "abc%28", "a/b", "é"] {
            assert!(!valid_callback(bad), "{bad}");
        }
    }

    #[test]
    fn preludes() {
        let x = xhr_streaming_prelude();
        assert_eq!(x.len(), 2049);
        assert!(x[..2048].iter().all(|&b| b == b'h'));
        assert_eq!(x[2048], b'\n');
        let h = htmlfile_prelude("callback");
        assert!(h.len() > 1024);
        let text = std::str::from_utf8(&h).unwrap();
        assert!(text.contains("var c = parent.callback;"));
        assert!(text.ends_with("\r\n"));
    }
}

//! The client's side of SockJS framing: `o`, `h`, `a[...]`, `c[...]` in; `["..."]` out.

/// What a server frame was.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `o`
    Open,
    /// `h`
    Heartbeat,
    /// `a[...]` with this many messages (each given to the callback).
    Messages(usize),
    /// `c[code,"reason"]`, as received.
    Close(String),
}

/// Parse one server frame (without its transport's trailing newline), calling `on_message`
/// for each message of an `a` frame, in order.
pub(crate) fn parse(frame: &str, mut on_message: impl FnMut(&str)) -> Result<Kind, String> {
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Ok(Kind::Open),
        Some(b'h') if frame.len() == 1 => Ok(Kind::Heartbeat),
        Some(b'c') => Ok(Kind::Close(frame[1..].to_string())),
        Some(b'a') => {
            let array = &frame[1..];
            if !array.contains('\\') {
                // Fast path: no escapes, so the strings cannot contain `"`; split on `","`.
                let inner = array
                    .strip_prefix('[')
                    .and_then(|a| a.strip_suffix(']'))
                    .ok_or_else(|| format!("malformed frame {}", shorten(frame)))?;
                if inner.is_empty() {
                    return Ok(Kind::Messages(0));
                }
                let strings = inner
                    .strip_prefix('"')
                    .and_then(|a| a.strip_suffix('"'))
                    .ok_or_else(|| format!("malformed frame {}", shorten(frame)))?;
                let mut n = 0;
                for m in strings.split("\",\"") {
                    on_message(m);
                    n += 1;
                }
                return Ok(Kind::Messages(n));
            }
            let messages: Vec<String> = serde_json::from_str(array)
                .map_err(|e| format!("bad JSON in frame {}: {e}", shorten(frame)))?;
            for m in &messages {
                on_message(m);
            }
            Ok(Kind::Messages(messages.len()))
        }
        _ => Err(format!("unexpected frame {}", shorten(frame))),
    }
}

/// The first 60 characters of `s`, for error messages.
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(frame: &str) -> (Result<Kind, String>, Vec<String>) {
        let mut v = Vec::new();
        let k = parse(frame, |m| v.push(m.to_string()));
        (k, v)
    }

    #[test]
    fn frames() {
        assert_eq!(collect("o").0, Ok(Kind::Open));
        assert_eq!(collect("h").0, Ok(Kind::Heartbeat));
        assert_eq!(
            collect("c[3000,\"Go away!\"]").0,
            Ok(Kind::Close("[3000,\"Go away!\"]".into()))
        );
        let (k, v) = collect("a[\"x\",\"y z\"]");
        assert_eq!(k, Ok(Kind::Messages(2)));
        assert_eq!(v, ["x", "y z"]);
        let (k, v) = collect("a[\"q\\\"\\u0041\"]");
        assert_eq!(k, Ok(Kind::Messages(1)));
        assert_eq!(v, ["q\"A"]);
        assert!(collect("a[\"x\"").0.is_err());
        assert!(collect("x").0.is_err());
    }
}

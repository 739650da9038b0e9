//! Which browser origins may use an endpoint.
//!
//! A browser sends `Origin` on websocket handshakes and on cross-origin XHR/EventSource
//! requests; a page of another origin must not be able to open a session with the visitor's
//! cookies and read its data. The policy is checked the same way on every transport, `/info`
//! and the iframe page. Requests without an `Origin` header (same-origin navigations,
//! non-browser clients) are allowed unless [`OriginPolicy::require_origin`] is set.

use std::fmt;

/// One allowed origin: `https://app.example.com`, `https://*.example.com` (any subdomain,
/// not the domain itself), `http://localhost:8080`, `null` (pages from `file://`), or `*`.
#[derive(Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Lowercase host; for a wildcard, the suffix after `*.` (with its leading dot).
    host: String,
    wildcard: bool,
    port: Option<u16>,
    kind: PatternKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PatternKind {
    Any,
    Null,
    Host,
}

/// A pattern that is not an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidOrigin(pub String);

impl fmt::Display for InvalidOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid origin pattern {:?}: expected scheme://host[:port], scheme://*.domain[:port], null or *",
            self.0
        )
    }
}

impl std::error::Error for InvalidOrigin {}

/// The parts of a serialized origin (`scheme://host[:port]`).
fn split_origin(origin: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, rest) = origin.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => {
            if p.contains(']') {
                (rest, None)
            } else {
                (h, Some(p.parse().ok()?))
            }
        }
        _ => (rest, None),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

impl OriginPattern {
    /// Parse a pattern.
    pub fn parse(pattern: &str) -> Result<OriginPattern, InvalidOrigin> {
        let p = pattern.trim();
        let simple = |kind| OriginPattern {
            scheme: String::new(),
            host: String::new(),
            wildcard: false,
            port: None,
            kind,
        };
        match p {
            "*" => return Ok(simple(PatternKind::Any)),
            "null" => return Ok(simple(PatternKind::Null)),
            _ => {}
        }
        let (scheme, host, port) = split_origin(p).ok_or_else(|| InvalidOrigin(pattern.into()))?;
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(rest) if !rest.is_empty() && !rest.contains('*') => (true, format!(".{rest}")),
            None if !host.contains('*') => (false, host.to_string()),
            _ => return Err(InvalidOrigin(pattern.into())),
        };
        let scheme = scheme.to_ascii_lowercase();
        Ok(OriginPattern {
            port: port.or_else(|| default_port(&scheme)),
            scheme,
            host: host.to_ascii_lowercase(),
            wildcard,
            kind: PatternKind::Host,
        })
    }

    /// Whether `origin` (the value of an `Origin` header) matches.
    pub fn matches(&self, origin: &str) -> bool {
        match self.kind {
            PatternKind::Any => true,
            PatternKind::Null => origin == "null",
            PatternKind::Host => {
                let Some((scheme, host, port)) = split_origin(origin) else {
                    return false;
                };
                let scheme = scheme.to_ascii_lowercase();
                if scheme != self.scheme || port.or_else(|| default_port(&scheme)) != self.port {
                    return false;
                }
                let host = host.to_ascii_lowercase();
                if self.wildcard {
                    host.len() > self.host.len() && host.ends_with(&self.host)
                } else {
                    host == self.host
                }
            }
        }
    }

    /// The pattern as a CSP `frame-ancestors` source expression.
    pub fn csp_source(&self) -> String {
        match self.kind {
            PatternKind::Any => "*".into(),
            PatternKind::Null => "'none'".into(),
            PatternKind::Host => {
                let host = if self.wildcard {
                    format!("*{}", self.host)
                } else {
                    self.host.clone()
                };
                match self.port {
                    Some(p) if Some(p) != default_port(&self.scheme) => {
                        format!("{}://{host}:{p}", self.scheme)
                    }
                    _ => format!("{}://{host}", self.scheme),
                }
            }
        }
    }
}

impl fmt::Debug for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PatternKind::Any => f.write_str("*"),
            PatternKind::Null => f.write_str("null"),
            PatternKind::Host => f.write_str(&self.csp_source()),
        }
    }
}

/// The origin policy of an endpoint. The default allows every origin (what the protocol's
/// conformance suite and sockjs-client's own tests expect); production deployments should set
/// an allow-list.
///
/// ```
/// use sockjs_core::OriginPolicy;
/// let policy = OriginPolicy::allow(["https://app.example.com", "https://*.example.org"]).unwrap();
/// assert!(policy.allows(Some("https://app.example.com")));
/// assert!(policy.allows(Some("https://chat.example.org")));
/// assert!(!policy.allows(Some("https://evil.example.net")));
/// assert!(policy.allows(None), "no Origin header: same-origin or non-browser client");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Option<Vec<OriginPattern>>,
    /// Refuse requests that carry no `Origin` header at all. Off by default: browsers omit it
    /// on same-origin GETs and script/iframe loads, and non-browser clients rarely send it.
    pub require_origin: bool,
}

impl OriginPolicy {
    /// Every origin (the default).
    pub fn any() -> Self {
        OriginPolicy::default()
    }

    /// Only the origins matching one of `patterns`.
    pub fn allow<I, S>(patterns: I) -> Result<Self, InvalidOrigin>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allowed = patterns
            .into_iter()
            .map(|p| OriginPattern::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OriginPolicy {
            allowed: Some(allowed),
            require_origin: false,
        })
    }

    /// Whether this policy allows every origin.
    pub fn is_any(&self) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p.kind == PatternKind::Any))
    }

    /// Whether a request with this `Origin` header value (or none) may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match origin {
            None => !self.require_origin,
            Some(o) => match &self.allowed {
                None => true,
                Some(list) => list.iter().any(|p| p.matches(o)),
            },
        }
    }

    /// The `Content-Security-Policy` value for the iframe page: `frame-ancestors` limited to
    /// the allowed origins (and the page's own origin); `None` when every origin is allowed.
    pub fn frame_ancestors(&self) -> Option<String> {
        if self.is_any() {
            return None;
        }
        let mut value = String::from("frame-ancestors 'self'");
        for p in self.allowed.iter().flatten() {
            if p.kind == PatternKind::Host {
                value.push(' ');
                value.push_str(&p.csp_source());
            }
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wildcard_null_any() {
        let p = OriginPolicy::allow([
            "https://app.example.com",
            "http://localhost:8080",
            "https://*.example.org",
            "null",
        ])
        .unwrap();
        for ok in [
            "https://app.example.com",
            "https://APP.example.com",
            "https://app.example.com:443",
            "http://localhost:8080",
            "https://a.example.org",
            "https://a.b.example.org",
            "null",
        ] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        for bad in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.net",
            "https://evilapp.example.com",
            "http://localhost:8081",
            "https://example.org",
            "https://evil-example.org",
            "",
            "garbage",
            "https://",
        ] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
        assert!(p.allows(None));
        let strict = OriginPolicy {
            require_origin: true,
            ..p.clone()
        };
        assert!(!strict.allows(None));
        assert!(OriginPolicy::any().allows(Some("https://anything.example")));
        assert!(OriginPolicy::allow(["*"]).unwrap().is_any());
    }

    #[test]
    fn invalid_patterns_are_errors() {
        for bad in [
            "example.com",
            "https://*",
            "https://a.*.com",
            "https://x/path",
            "://x",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csp_frame_ancestors() {
        let p =
            OriginPolicy::allow(["https://app.example.com", "https://*.example.org:8443"]).unwrap();
        assert_eq!(
            p.frame_ancestors().as_deref(),
            Some("frame-ancestors 'self' https://app.example.com https://*.example.org:8443")
        );
        assert_eq!(OriginPolicy::any().frame_ancestors(), None);
    }
}

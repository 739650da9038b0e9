//! Which browser origins may use an endpoint.
//!
//! A page of another site must not be able to open a session with the visitor's cookies and
//! read its data. With an allow-list ([`OriginPolicy::allow`]) every request to an endpoint
//! (every transport, `/info` and the iframe page; not the greeting) is judged by
//! [`OriginPolicy::check`] on what the browser says about where it comes from, in this order:
//!
//! 1. `Origin`, when present (websocket handshakes, cross-origin XHR and EventSource, every
//!    POST): it must match the list.
//! 2. Without `Origin` (a `<script>` load such as jsonp, an iframe navigation such as the
//!    iframe page or htmlfile, a same-origin GET), `Sec-Fetch-Site`, which every current
//!    browser sends to secure origins (HTTPS and localhost) and a page cannot change:
//!    `same-origin` (a page of this server) and `none` (the user typed the URL or followed a
//!    bookmark) are allowed; `same-site`, `cross-site` and any other value are allowed only if
//!    the `Referer`'s origin matches the list.
//! 3. Without either, the `Referer`'s origin (older browsers, plain HTTP): it must match the
//!    list or be the server's own origin (the request's `Host`).
//! 4. A request with none of the three is *unlabeled*: a non-browser client (curl,
//!    sockjs-client in Node, a native app), or an old browser over plain HTTP whose page
//!    suppressed the `Referer`. It is allowed when [`OriginPolicy::allow_unlabeled`] is on (the
//!    default) and refused otherwise; a non-browser client can always send an allowed
//!    `Origin` itself.
//!
//! [`OriginPolicy::require_origin`] refuses every request without `Origin`, which also
//! refuses jsonp and the iframe-based transports (browsers never send `Origin` on them).
//!
//! The policy protects browsers' users from other sites; it does not authenticate clients,
//! which can send any header they like.

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
    if scheme.is_empty() {
        return None;
    }
    let (host, port) = split_authority(rest)?;
    Some((scheme, host, port))
}

/// The host and port of an authority (`host[:port]`, `[v6]:port`), without user info.
fn split_authority(rest: &str) -> Option<(&str, Option<u16>)> {
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
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
    Some((host, port))
}

/// The origin (`scheme://authority`) of a URL such as a `Referer`, or `None` if it has none.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    split_authority(&rest[..end])?;
    Some(&url[..scheme.len() + 3 + end])
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

/// What a request says about where it comes from: the headers [`OriginPolicy::check`] looks
/// at (see the [module documentation](self) for the rules). Header values that are not
/// visible ASCII should be passed as something that matches nothing (e.g. `"\u{fffd}"`), not
/// left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestSource<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub sec_fetch_site: Option<&'a str>,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
    /// The request's `Host` (the server's own authority as the client addressed it).
    pub host: Option<&'a str>,
}

impl<'a> RequestSource<'a> {
    /// A request with this `Origin` header (or none) and no other information.
    pub fn with_origin(origin: Option<&'a str>) -> Self {
        RequestSource {
            origin,
            ..RequestSource::default()
        }
    }
}

/// Why [`OriginPolicy::check`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginRefusal {
    /// The `Origin` header names an origin that is not allowed.
    OriginNotAllowed,
    /// There is no `Origin` header and [`OriginPolicy::require_origin`] is set.
    OriginRequired,
    /// No `Origin`; `Sec-Fetch-Site` says another site (or another origin of this site) made
    /// the request, and the `Referer` does not name an allowed origin.
    CrossSite,
    /// Neither `Origin` nor `Sec-Fetch-Site`; the `Referer` names an origin that is neither
    /// allowed nor the server's own.
    RefererNotAllowed,
    /// None of `Origin`, `Sec-Fetch-Site` and `Referer`, and
    /// [`OriginPolicy::allow_unlabeled`] is off.
    Unlabeled,
}

impl fmt::Display for OriginRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginRefusal::OriginNotAllowed => "the Origin is not allowed",
            OriginRefusal::OriginRequired => "an Origin header is required",
            OriginRefusal::CrossSite => {
                "a cross-site request (Sec-Fetch-Site) without an allowed Referer"
            }
            OriginRefusal::RefererNotAllowed => "the Referer's origin is not allowed",
            OriginRefusal::Unlabeled => "no Origin, Sec-Fetch-Site or Referer",
        })
    }
}

impl std::error::Error for OriginRefusal {}

/// The origin policy of an endpoint. The default allows every origin, with credentials (what
/// the protocol's conformance suite and sockjs-client's own tests expect): any site can then
/// open a session in a visitor's browser with the visitor's cookies and read it. An
/// application that trusts cookies (or anything else the browser adds by itself) must set an
/// allow-list.
///
/// ```
/// use sockjs_core::origin::{OriginPolicy, OriginRefusal, RequestSource};
/// let policy = OriginPolicy::allow(["https://app.example.com", "https://*.example.org"]).unwrap();
/// assert!(policy.allows(Some("https://app.example.com")));
/// assert!(policy.allows(Some("https://chat.example.org")));
/// assert!(!policy.allows(Some("https://evil.example.net")));
///
/// // A <script> (jsonp) loaded by another site: no Origin, but the browser says so.
/// let mut script = RequestSource::default();
/// script.sec_fetch_site = Some("cross-site");
/// script.referer = Some("https://evil.example.net/page");
/// assert_eq!(policy.check(&script), Err(OriginRefusal::CrossSite));
/// // ... and by the application's own page.
/// script.referer = Some("https://app.example.com/chat");
/// assert_eq!(policy.check(&script), Ok(()));
/// // A client that says nothing at all (curl, a native app) is allowed by default.
/// assert_eq!(policy.check(&RequestSource::default()), Ok(()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Option<Vec<OriginPattern>>,
    /// Refuse requests that carry no `Origin` header at all, whatever else they carry. Off by
    /// default: browsers omit it on same-origin GETs and on script and iframe loads, so this
    /// also refuses the jsonp and iframe-based transports and the iframe page.
    pub require_origin: bool,
    /// With an allow-list, allow requests that carry none of `Origin`, `Sec-Fetch-Site` and
    /// `Referer` (non-browser clients; also an old browser over plain HTTP whose page
    /// suppressed the `Referer`, which is why a deployment that only serves browsers should
    /// turn this off). On by default. Without an allow-list everything is allowed anyway.
    pub allow_unlabeled: bool,
}

impl Default for OriginPolicy {
    fn default() -> Self {
        OriginPolicy {
            allowed: None,
            require_origin: false,
            allow_unlabeled: true,
        }
    }
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
            ..OriginPolicy::default()
        })
    }

    /// Whether this policy allows every origin.
    pub fn is_any(&self) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p.kind == PatternKind::Any))
    }

    /// Whether a request with this `Origin` header value (or none) and nothing else to judge
    /// it by may proceed: [`check`](OriginPolicy::check) with only the `Origin`.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        self.check(&RequestSource::with_origin(origin)).is_ok()
    }

    /// Whether `origin` (a serialized origin) is on the list (any origin without a list).
    fn listed(&self, origin: &str) -> bool {
        match &self.allowed {
            None => true,
            Some(list) => list.iter().any(|p| p.matches(origin)),
        }
    }

    /// Whether a request from `source` may proceed; the rules are in the
    /// [module documentation](self).
    pub fn check(&self, source: &RequestSource<'_>) -> Result<(), OriginRefusal> {
        if let Some(origin) = source.origin {
            return if self.listed(origin) {
                Ok(())
            } else {
                Err(OriginRefusal::OriginNotAllowed)
            };
        }
        if self.require_origin {
            return Err(OriginRefusal::OriginRequired);
        }
        if self.is_any() {
            return Ok(());
        }
        let referer = source.referer.map(origin_of);
        let referer_listed = referer.flatten().is_some_and(|o| self.listed(o));
        match source.sec_fetch_site.map(str::trim) {
            Some(site)
                if site.eq_ignore_ascii_case("same-origin")
                    || site.eq_ignore_ascii_case("none") =>
            {
                Ok(())
            }
            // same-site, cross-site, or a value browsers do not send: only an allowed page.
            Some(_) if referer_listed => Ok(()),
            Some(_) => Err(OriginRefusal::CrossSite),
            None => match referer {
                Some(_) if referer_listed => Ok(()),
                Some(Some(o)) if same_authority(o, source.host) => Ok(()),
                Some(_) => Err(OriginRefusal::RefererNotAllowed),
                None if self.allow_unlabeled => Ok(()),
                None => Err(OriginRefusal::Unlabeled),
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

/// Whether `origin` (a serialized origin) is the server's own, as addressed by `host` (a
/// `Host` header: the port defaults to the origin's scheme's).
fn same_authority(origin: &str, host: Option<&str>) -> bool {
    let (Some((scheme, o_host, o_port)), Some((h_host, h_port))) =
        (split_origin(origin), host.and_then(split_authority))
    else {
        return false;
    };
    let default = default_port(&scheme.to_ascii_lowercase());
    o_host.eq_ignore_ascii_case(h_host) && o_port.or(default) == h_port.or(default)
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

    fn source<'a>(
        sec_fetch_site: Option<&'a str>,
        referer: Option<&'a str>,
        host: Option<&'a str>,
    ) -> RequestSource<'a> {
        RequestSource {
            origin: None,
            sec_fetch_site,
            referer,
            host,
        }
    }

    #[test]
    fn without_origin_the_browsers_other_headers_decide() {
        use OriginRefusal::*;
        let p = OriginPolicy::allow(["https://app.example.com"]).unwrap();
        let app = Some("https://app.example.com/chat?room=1");
        let evil = Some("https://evil.example.net/");
        let host = Some("sockjs.example.com");
        for (site, referer, expected) in [
            // Sec-Fetch-Site decides; same-origin and a user's own navigation pass
            (Some("same-origin"), None, Ok(())),
            (Some("same-origin"), evil, Ok(())),
            (Some("none"), None, Ok(())),
            (Some("cross-site"), None, Err(CrossSite)),
            (Some("cross-site"), evil, Err(CrossSite)),
            (Some("cross-site"), app, Ok(())),
            (Some("Cross-Site"), evil, Err(CrossSite)),
            (
                Some("same-site"),
                Some("https://other.example.com/"),
                Err(CrossSite),
            ),
            (Some("same-site"), app, Ok(())),
            (Some("bogus"), None, Err(CrossSite)),
            (Some("\u{fffd}"), app, Ok(())),
            // without it, the Referer: an allowed page, or the server's own
            (None, app, Ok(())),
            (None, Some("https://app.example.com"), Ok(())),
            (None, evil, Err(RefererNotAllowed)),
            (
                None,
                Some("https://sockjs.example.com/echo/iframe.html"),
                Ok(()),
            ),
            (None, Some("http://SOCKJS.example.com:80/x"), Ok(())),
            (
                None,
                Some("https://sockjs.example.com:8443/x"),
                Err(RefererNotAllowed),
            ),
            (
                None,
                Some("https://sockjs.example.com.evil.net/"),
                Err(RefererNotAllowed),
            ),
            (
                None,
                Some("https://user@app.example.com/"),
                Err(RefererNotAllowed),
            ),
            (None, Some("not a url"), Err(RefererNotAllowed)),
            (None, Some(""), Err(RefererNotAllowed)),
            // nothing at all: a non-browser client
            (None, None, Ok(())),
        ] {
            assert_eq!(
                p.check(&source(site, referer, host)),
                expected,
                "Sec-Fetch-Site {site:?}, Referer {referer:?}"
            );
        }
        // the server's own origin on another port than the Host's
        let on_port = source(None, Some("http://localhost:8080/"), Some("localhost:8080"));
        assert_eq!(p.check(&on_port), Ok(()));
        let other_port = source(None, Some("http://localhost:8081/"), Some("localhost:8080"));
        assert_eq!(p.check(&other_port), Err(RefererNotAllowed));
        let v6 = source(None, Some("http://[::1]:8080/"), Some("[::1]:8080"));
        assert_eq!(p.check(&v6), Ok(()));
        // an Origin header decides alone
        let mut with_origin = source(Some("same-origin"), app, host);
        with_origin.origin = Some("https://evil.example.net");
        assert_eq!(p.check(&with_origin), Err(OriginNotAllowed));
        // unlabeled requests can be refused
        let strict = OriginPolicy {
            allow_unlabeled: false,
            ..p.clone()
        };
        assert_eq!(strict.check(&source(None, None, host)), Err(Unlabeled));
        assert_eq!(
            strict.check(&source(Some("same-origin"), None, host)),
            Ok(())
        );
        // require_origin refuses them all
        let required = OriginPolicy {
            require_origin: true,
            ..p
        };
        assert_eq!(
            required.check(&source(Some("same-origin"), None, host)),
            Err(OriginRequired)
        );
    }

    #[test]
    fn without_an_allow_list_everything_passes() {
        let any = OriginPolicy::any();
        assert!(any.allow_unlabeled);
        for site in [None, Some("cross-site")] {
            let s = source(site, Some("https://evil.example.net/"), None);
            assert_eq!(any.check(&s), Ok(()));
        }
        assert_eq!(any.check(&RequestSource::default()), Ok(()));
        assert!(OriginPolicy::allow(["*"]).unwrap().allow_unlabeled);
    }

    #[test]
    fn referer_origins() {
        assert_eq!(
            origin_of("https://a.example:8443/p?q#f"),
            Some("https://a.example:8443")
        );
        assert_eq!(origin_of("http://a.example?x"), Some("http://a.example"));
        assert_eq!(origin_of("http://a.example#x"), Some("http://a.example"));
        assert_eq!(origin_of("http://u:p@a.example/"), None);
        assert_eq!(origin_of("http:///path"), None);
        assert_eq!(origin_of("about:blank"), None);
    }
}

//! All header policy in one place: content types, caching, CORS and the JSESSIONID cookie.

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderValue};

/// `text/plain; charset=UTF-8`
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=UTF-8");
/// `application/json; charset=UTF-8`
pub(crate) const APPLICATION_JSON: HeaderValue =
    HeaderValue::from_static("application/json; charset=UTF-8");
/// `application/javascript; charset=UTF-8`
pub(crate) const APPLICATION_JAVASCRIPT: HeaderValue =
    HeaderValue::from_static("application/javascript; charset=UTF-8");
/// `text/html; charset=UTF-8`
pub(crate) const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=UTF-8");
/// `text/event-stream`
pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

const NO_CACHE: HeaderValue =
    HeaderValue::from_static("no-store, no-cache, no-transform, must-revalidate, max-age=0");
const ONE_YEAR_SECS: u64 = 31_536_000;
const CACHE_ONE_YEAR: HeaderValue = HeaderValue::from_static("public, max-age=31536000");
const MAX_AGE_ONE_YEAR: HeaderValue = HeaderValue::from_static("31536000");

/// `X-Accel-Buffering: no`: nginx passes this response on as it comes instead of buffering it
/// (a streaming transport's frames must not wait in a proxy's buffer).
pub(crate) fn no_proxy_buffering(headers: &mut HeaderMap) {
    headers.insert(
        header::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
}

/// Responses to private, dynamic requests must never be cached (iOS 6 even caches POSTs).
pub(crate) fn no_cache(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, NO_CACHE);
}

/// Strongly cacheable responses (OPTIONS preflights, the iframe page).
pub(crate) fn cache_for_a_year(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, CACHE_ONE_YEAR);
    let expires = SystemTime::now() + Duration::from_secs(ONE_YEAR_SECS);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
        headers.insert(header::EXPIRES, v);
    }
}

/// CORS for the XHR transports and `/info`: with an `Origin`, echo it and allow credentials
/// (so the JSESSIONID cookie can flow); without one, allow any origin without credentials.
/// `Origin: null` (pages from `file://`) is echoed as `null`.
pub(crate) fn cors(request: &HeaderMap, headers: &mut HeaderMap) {
    match request.get(header::ORIGIN).filter(|o| !o.is_empty()) {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
}

/// A CORS preflight answer allowing `methods`: cacheable for a year, echoing
/// `Access-Control-Request-Headers` only when it is non-empty.
pub(crate) fn preflight(request: &HeaderMap, headers: &mut HeaderMap, methods: &'static str) {
    cache_for_a_year(headers);
    cors(request, headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_ONE_YEAR);
    if let Some(h) = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|h| !h.is_empty())
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
}

/// `Set-Cookie: JSESSIONID=<value>; path=/` for load balancers doing sticky sessions by that
/// cookie: the client's own JSESSIONID is echoed when it is a plain cookie value, otherwise
/// `dummy` is set.
pub(crate) fn jsessionid(request: &HeaderMap, headers: &mut HeaderMap) {
    let value = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "JSESSIONID")
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty() && v.len() <= 256 && v.bytes().all(is_cookie_octet))
        .unwrap_or("dummy");
    if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={value}; path=/")) {
        headers.insert(header::SET_COOKIE, v);
    }
}

/// RFC 6265 `cookie-octet`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cors_with_and_without_origin() {
        let mut out = HeaderMap::new();
        cors(&req(&[("origin", "https://a.example")]), &mut out);
        assert_eq!(out["access-control-allow-origin"], "https://a.example");
        assert_eq!(out["access-control-allow-credentials"], "true");
        let mut out = HeaderMap::new();
        cors(&req(&[]), &mut out);
        assert_eq!(out["access-control-allow-origin"], "*");
        assert!(out.get("access-control-allow-credentials").is_none());
        let mut out = HeaderMap::new();
        cors(&req(&[("origin", "null")]), &mut out);
        assert_eq!(out["access-control-allow-origin"], "null");
    }

    #[test]
    fn preflight_echoes_non_empty_request_headers() {
        let mut out = HeaderMap::new();
        preflight(
            &req(&[("origin", "t"), ("access-control-request-headers", "a, b")]),
            &mut out,
            "OPTIONS, POST",
        );
        assert_eq!(out["access-control-allow-headers"], "a, b");
        assert_eq!(out["access-control-max-age"], "31536000");
        assert!(out.contains_key("expires"));
        let mut out = HeaderMap::new();
        preflight(
            &req(&[("access-control-request-headers", "")]),
            &mut out,
            "OPTIONS, POST",
        );
        assert!(out.get("access-control-allow-headers").is_none());
    }

    #[test]
    fn jsessionid_echoes_or_defaults() {
        let mut out = HeaderMap::new();
        jsessionid(&req(&[]), &mut out);
        assert_eq!(out["set-cookie"], "JSESSIONID=dummy; path=/");
        let mut out = HeaderMap::new();
        jsessionid(&req(&[("cookie", "a=1; JSESSIONID=abcdef")]), &mut out);
        assert_eq!(out["set-cookie"], "JSESSIONID=abcdef; path=/");
        let mut out = HeaderMap::new();
        jsessionid(&req(&[("cookie", "JSESSIONID=a\"b")]), &mut out);
        assert_eq!(out["set-cookie"], "JSESSIONID=dummy; path=/");
    }
}

//! The bodies of `/info` and of the iframe page.

/// The JSON body of `/info`.
///
/// `entropy` must come from a good random source chosen by the caller (the core reads none);
/// `origins` is always `["*:*"]` as the protocol fixes it.
///
/// ```
/// let body = sockjs_core::info::info_body(true, false, 42);
/// assert_eq!(body, r#"{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":42}"#);
/// ```
pub fn info_body(websocket: bool, cookie_needed: bool, entropy: u32) -> String {
    format!(
        r#"{{"websocket":{websocket},"cookie_needed":{cookie_needed},"origins":["*:*"],"entropy":{entropy}}}"#
    )
}

/// The iframe page: it loads the client library from `sockjs_url` and bootstraps the
/// cross-domain iframe transports. The URL is HTML-escaped into the `src` attribute.
pub fn iframe_page(sockjs_url: &str) -> String {
    let mut url = String::with_capacity(sockjs_url.len());
    for c in sockjs_url.chars() {
        match c {
            '&' => url.push_str("&amp;"),
            '"' => url.push_str("&quot;"),
            '<' => url.push_str("&lt;"),
            '>' => url.push_str("&gt;"),
            c => url.push(c),
        }
    }
    format!(
        "<!DOCTYPE html>\n\
<html>\n\
<head>\n\
\x20 <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n\
\x20 <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
\x20 <script src=\"{url}\"></script>\n\
\x20 <script>\n\
\x20   document.domain = document.domain;\n\
\x20   SockJS.bootstrap_iframe();\n\
\x20 </script>\n\
</head>\n\
<body>\n\
\x20 <h2>Don't panic!</h2>\n\
\x20 <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n\
</body>\n\
</html>"
    )
}

/// A strong ETag for `body`, stable across processes and builds (a 64-bit FNV-1a digest), so
/// several servers behind one load balancer agree on it.
pub fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iframe_page_shape() {
        let page = iframe_page("/sockjs.js");
        assert!(page.starts_with("<!DOCTYPE html>\n<html>\n<head>\n"));
        assert!(page.contains("\n  <script src=\"/sockjs.js\"></script>\n  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n</head>"));
        assert!(page.ends_with("</body>\n</html>"));
    }

    #[test]
    fn iframe_url_is_escaped() {
        let page = iframe_page("http://x/?a=1&b=\"<>");
        assert!(page.contains("src=\"http://x/?a=1&amp;b=&quot;&lt;&gt;\""));
    }

    #[test]
    fn etag_is_stable_and_distinct() {
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
        assert!(etag(b"").starts_with('"') && etag(b"").ends_with('"'));
    }

    #[test]
    fn info_body_is_json() {
        let v: serde_json::Value = serde_json::from_str(&info_body(false, true, u32::MAX)).unwrap();
        assert_eq!(v["websocket"], false);
        assert_eq!(v["cookie_needed"], true);
        assert_eq!(v["origins"][0], "*:*");
        assert_eq!(v["entropy"], u64::from(u32::MAX));
    }
}

//! Base URL greeting: `/<prefix>` and `/<prefix>/` greet; other simple paths are 404.
mod common;

use common::*;

#[tokio::test]
async fn greeting_with_and_without_trailing_slash() {
    for path in ["/echo", "/echo/"] {
        let r = get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {r:?}");
        assert_content_type(&r.headers, "text/plain;charset=UTF-8");
        assert_eq!(r.text(), "Welcome to SockJS!\n", "GET {path} body");
        assert_no_cookie(&r.headers);
    }
}

#[tokio::test]
async fn greeting_on_every_endpoint() {
    for endpoint in ["/close", "/disabled_websocket_echo", "/cookie_needed_echo"] {
        let r = get(endpoint).await;
        assert_eq!(r.status, 200, "GET {endpoint}: {r:?}");
        assert_eq!(r.text(), "Welcome to SockJS!\n", "GET {endpoint} body");
    }
}

#[tokio::test]
async fn other_simple_paths_are_not_found() {
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"] {
        let path = format!("/echo{suffix}");
        assert_404(&get(&path).await, &format!("GET {path}"));
    }
}

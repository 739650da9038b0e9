//! HTTP/1.0 and HTTP/1.1 framing: Content-Length or close-delimited bodies for 1.0, chunked
//! streaming for 1.1, keep-alive reuse of a connection.
mod common;

use common::*;

const GREETING: &str = "Welcome to SockJS!\n";

fn lower(h: &Head, name: &str) -> String {
    h.header(name).unwrap_or("").trim().to_ascii_lowercase()
}

#[tokio::test]
async fn http10_synchronous() {
    let req = Request::get("/echo")
        .http10()
        .header("Connection", "Keep-Alive");
    let mut conn = HttpConn::connect().await;
    let head = conn.send(&req).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.minor_version <= 1, "{head:?}");
    assert!(
        !head.headers.has_value("transfer-encoding"),
        "no Transfer-Encoding for an HTTP/1.0 client: {head:?}"
    );

    match head.header("content-length") {
        None => {
            assert_eq!(
                lower(&head, "connection"),
                "close",
                "without Content-Length the body is close-delimited: {head:?}"
            );
            assert_eq!(conn.read_body().await, GREETING.as_bytes());
            assert!(
                conn.is_closed().await,
                "the connection closes after the body"
            );
        }
        Some(len) => {
            assert_eq!(len.trim(), "19", "{head:?}");
            assert_eq!(conn.read_exact(19).await, GREETING.as_bytes());
            let connection = lower(&head, "connection");
            if connection == "close" || connection.is_empty() {
                // HTTP/1.0 defaults to closing.
                assert!(
                    conn.is_closed().await,
                    "Connection: {connection:?} but still open"
                );
            } else {
                assert_eq!(connection, "keep-alive", "{head:?}");
                let again = conn.request(&req).await;
                assert_eq!(
                    again.status, 200,
                    "a second request on a kept-alive connection"
                );
                assert_eq!(again.body, GREETING.as_bytes());
            }
        }
    }
}

#[tokio::test]
async fn http10_streaming() {
    let url = session("/close");
    let req = Request::post(&format!("{url}/xhr_streaming"))
        .http10()
        .header("Connection", "Keep-Alive");
    let mut conn = HttpConn::connect().await;
    let head = conn.send(&req).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert!(
        !head.headers.has_value("transfer-encoding"),
        "no Transfer-Encoding for an HTTP/1.0 client: {head:?}"
    );
    assert!(
        !head.headers.has_value("content-length"),
        "a stream has no Content-Length: {head:?}"
    );

    assert_eq!(
        conn.read_exact(2049).await,
        xhr_streaming_prelude().as_bytes(),
        "prelude"
    );
    assert_eq!(conn.read_exact(2).await, b"o\n");
    assert_eq!(conn.read_exact(19).await, b"c[3000,\"Go away!\"]\n");
    assert!(
        conn.is_closed().await,
        "an HTTP/1.0 stream ends by closing the connection"
    );
}

#[tokio::test]
async fn http11_synchronous() {
    let req = Request::get("/echo").header("Connection", "Keep-Alive");
    let mut conn = HttpConn::connect().await;
    let head = conn.send(&req).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.minor_version, 1, "{head:?}");
    let connection = lower(&head, "connection");
    assert!(
        connection == "keep-alive" || connection.is_empty(),
        "keep-alive is the HTTP/1.1 default: {head:?}"
    );
    if head.headers.has_value("content-length") {
        assert_eq!(head.header("content-length").map(str::trim), Some("19"));
        assert!(
            !head.headers.has_value("transfer-encoding"),
            "Content-Length or chunked, not both: {head:?}"
        );
        assert_eq!(conn.read_exact(19).await, GREETING.as_bytes());
    } else {
        assert_eq!(lower(&head, "transfer-encoding"), "chunked", "{head:?}");
        assert_eq!(conn.next_chunk_text().await, GREETING);
        assert_eq!(conn.next_chunk().await, None, "then the terminating chunk");
    }

    // The same connection serves another request.
    let again = conn.request(&req).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body, GREETING.as_bytes());
}

#[tokio::test]
async fn http11_streaming() {
    let url = session("/close");
    let req = Request::post(&format!("{url}/xhr_streaming")).header("Connection", "Keep-Alive");
    let mut conn = HttpConn::connect().await;
    let head = conn.send(&req).await;
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(
        lower(&head, "transfer-encoding"),
        "chunked",
        "HTTP/1.1 streams are chunked: {head:?}"
    );
    assert!(
        !head.headers.has_value("content-length"),
        "a stream has no Content-Length: {head:?}"
    );

    assert_eq!(
        conn.next_chunk_text().await,
        xhr_streaming_prelude(),
        "prelude chunk"
    );
    assert_eq!(conn.next_chunk_text().await, "o\n");
    assert_eq!(conn.next_chunk_text().await, "c[3000,\"Go away!\"]\n");
    assert_eq!(conn.next_chunk().await, None, "then the terminating chunk");
}

#[tokio::test]
async fn http11_keep_alive_across_endpoints() {
    let mut conn = HttpConn::connect().await;
    let url = session("/echo");
    let r = conn.request(&Request::post(&format!("{url}/xhr"))).await;
    assert_eq!(r.text(), "o\n", "{r:?}");
    let r = conn
        .request(&Request::post(&format!("{url}/xhr_send")).body(r#"["k"]"#))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = conn.request(&Request::get("/echo/info")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = conn.request(&Request::post(&format!("{url}/xhr"))).await;
    assert_eq!(r.text(), "a[\"k\"]\n", "{r:?}");
}

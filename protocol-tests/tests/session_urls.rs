//! Session URLs `/<server>/<session>/<transport>`: any non-empty values without `/` or `.`;
//! the server id is ignored.
mod common;

use common::*;

#[tokio::test]
async fn any_value() {
    let r = session_id();
    let paths = [
        format!("/a/a{r}"),
        format!("/_/_{r}"),
        format!("/1/{r}"),
        format!("/abcdefgh_i-j%20/abcdefg_i-j%20{r}"),
    ];
    for session_part in paths {
        let path = format!("/echo{session_part}/xhr");
        let resp = post(&path, "").await;
        assert_eq!(resp.status, 200, "POST {path}: {resp:?}");
        assert_eq!(resp.text(), "o\n", "POST {path}");
    }
}

#[tokio::test]
async fn invalid_paths() {
    for suffix in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
        let path = format!("/echo{suffix}/xhr");
        assert_404(&get(&path).await, &format!("GET {path}"));
        assert_404(&post(&path, "").await, &format!("POST {path}"));
    }
}

#[tokio::test]
async fn ignoring_server_id() {
    let id = session_id();
    open_xhr_session(&format!("/echo/000/{id}")).await;
    xhr_send_ok(&format!("/echo/000/{id}"), r#"["a"]"#).await;
    let r = xhr(&format!("/echo/999/{id}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "a[\"a\"]\n",
        "the message sent under server 000 arrives under server 999"
    );
}

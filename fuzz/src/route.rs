//! The URL grammar.

use sockjs_core::route::valid_session_id;
use sockjs_core::{Route, Transport};

/// Target `route_parse`: an arbitrary path (lossily made UTF-8).
///
/// * [`Route::parse`] and [`valid_session_id`] never panic;
/// * the server and session ids of a session route are non-empty and contain no `/` or `.`;
/// * a session route written back as `/<server>/<session>/<transport>` parses to the same
///   route;
/// * an id accepted by [`valid_session_id`] is non-empty, within the length limit and free of
///   `/` and `.` too.
pub fn route_parse(data: &[u8]) {
    let path = String::from_utf8_lossy(data);
    let route = Route::parse(&path);
    for max_len in [1, 8, 128] {
        if valid_session_id(&path, max_len) {
            assert!(!path.is_empty() && path.len() <= max_len);
            assert!(!path.contains(['/', '.']), "{path:?}");
        }
    }
    match route {
        Route::Session {
            server_id,
            session_id,
            transport,
        } => {
            for id in [server_id, session_id] {
                assert!(!id.is_empty(), "empty id in {path:?}");
                assert!(!id.contains(['/', '.']), "id {id:?} from {path:?}");
            }
            assert!(Transport::ALL.contains(&transport));
            let again = format!("/{server_id}/{session_id}/{}", transport.as_str());
            assert_eq!(
                again, *path,
                "a session route is exactly its three segments"
            );
            assert_eq!(Route::parse(&again), route);
        }
        Route::Greeting => assert!(path.is_empty() || path == "/", "{path:?}"),
        Route::Info => assert_eq!(path, "/info"),
        Route::RawWebSocket => assert_eq!(path, "/websocket"),
        Route::Iframe => {
            assert!(
                path.starts_with("/iframe") && path.ends_with(".html"),
                "{path:?}"
            );
            assert!(!path[1..].contains('/'), "{path:?}");
        }
        Route::NotFound => {}
    }
}

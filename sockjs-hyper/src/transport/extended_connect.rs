//! Websockets over HTTP/2 (RFC 8441, "extended CONNECT"), with the `http2` feature.
//!
//! HTTP/2 has no `Upgrade`: a client opens a websocket as a stream of its own, a `CONNECT`
//! request with the `:protocol` pseudo-header `websocket`, once the server has advertised
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL` (hyper's `http2::Builder::enable_connect_protocol`).
//! The server answers `200` (no `Sec-WebSocket-Accept`: the stream itself is the proof), and
//! the stream then carries ordinary websocket frames, which the same session loop serves as
//! on an HTTP/1.1 connection. hyper hands the stream over through the same
//! [`hyper::upgrade::on`] as an HTTP/1.1 upgrade.

use http::Request;
use hyper::upgrade::OnUpgrade;

use super::Reject;
use crate::body::ResponseBody;

/// An extended `CONNECT` handshake: `None` for any other request (left to the RFC 6455
/// handshake), else the `200` answer and the pending stream, or the error answer.
#[cfg(feature = "http2")]
pub(crate) fn accept<B>(
    req: &mut Request<B>,
) -> Option<Result<(http::Response<ResponseBody>, OnUpgrade), Reject>> {
    use http::header;
    use http::{Method, StatusCode, Version};

    if req.method() != Method::CONNECT || req.version() != Version::HTTP_2 {
        return None;
    }
    let protocol = req.extensions().get::<hyper::ext::Protocol>()?;
    if !protocol.as_str().eq_ignore_ascii_case("websocket") {
        return Some(Err(Reject::BadRequest(
            "Can \"Upgrade\" only to \"WebSocket\".",
        )));
    }
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return Some(Err(Reject::UnsupportedWebSocketVersion));
    }
    let on_upgrade = hyper::upgrade::on(req);
    let ok = crate::service::response(StatusCode::OK, crate::body::empty());
    Some(Ok((ok, on_upgrade)))
}

/// Without the `http2` feature no request is an extended `CONNECT`: hyper does not expose the
/// `:protocol` pseudo-header, and a `CONNECT` gets the RFC 6455 handshake's 405.
#[cfg(not(feature = "http2"))]
pub(crate) fn accept<B>(
    _req: &mut Request<B>,
) -> Option<Result<(http::Response<ResponseBody>, OnUpgrade), Reject>> {
    None
}

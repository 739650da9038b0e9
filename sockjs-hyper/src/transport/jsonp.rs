//! `jsonp` (polling with `GET`, `/**/<callback>("<frame>");\r\n`) and `jsonp_send` (a form
//! field `d` or a raw JSON body, answered with `ok` once the application has taken every
//! message; see [`send`](super::send)).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use sockjs_core::framing::Framing;
use sockjs_core::{ReceiveMode, Transport};

use super::{callback, poll_once, receive, receiving_response, sending_headers};
use crate::body::{full, ResponseBody};
use crate::endpoint::Endpoint;
use crate::headers::APPLICATION_JAVASCRIPT;
use crate::service::{method_not_allowed, response};

pub(crate) async fn handle<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    if req.method() != Method::GET {
        return method_not_allowed("GET");
    }
    let callback = match callback(req.uri()) {
        Ok(c) => c,
        Err(reject) => return reject.into_response(),
    };
    let receiving = match receive(
        ep,
        id,
        &req,
        Transport::Jsonp,
        peer,
        Framing::Jsonp { callback },
        ReceiveMode::Polling,
    ) {
        Ok(r) => r,
        Err(reject) => return reject.into_response(),
    };
    let frame = poll_once(receiving).await;
    let mut r = receiving_response(
        &ep.config,
        req.headers(),
        APPLICATION_JAVASCRIPT,
        full(frame),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub(crate) async fn handle_send<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: Request<B>,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    let (parts, body) = req.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let payload_of = |raw: Bytes| if is_form { form_payload(&raw) } else { raw };
    match super::send::receive(ep, id, &parts.headers, body, payload_of).await {
        Ok(()) => {
            let mut r = response(StatusCode::OK, full(Bytes::from_static(b"ok")));
            sending_headers(&ep.config, &parts.headers, r.headers_mut());
            r
        }
        Err(e) => e.into_response(&ep.config, &parts.headers),
    }
}

/// The `d` field of a form body (percent- and `+`-decoded); empty when absent.
fn form_payload(body: &[u8]) -> Bytes {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "d")
        .map(|(_, v)| Bytes::from(v.into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::form_payload;

    #[test]
    fn form_field_d() {
        assert_eq!(&form_payload(b"d=%5B%22x%22%5D")[..], b"[\"x\"]");
        assert_eq!(&form_payload(b"a=1&d=%5B%22a+b%22%5D")[..], b"[\"a b\"]");
        assert!(form_payload(b"").is_empty());
        assert!(form_payload(b"d=").is_empty());
        assert!(form_payload(b"p=p").is_empty());
    }
}

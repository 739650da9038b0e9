//! `xhr_send`: a JSON array of messages from the client, answered with 204 once the
//! application has taken every one of them (see [`send`](super::send)).

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use super::sending_headers;
use crate::body::{empty, ResponseBody};
use crate::endpoint::Endpoint;
use crate::service::{method_not_allowed, preflight, response};

pub(crate) async fn handle<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: Request<B>,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match *req.method() {
        Method::POST => {}
        Method::OPTIONS => return preflight(req.headers(), "OPTIONS, POST"),
        _ => return method_not_allowed("OPTIONS, POST"),
    }
    let (parts, body) = req.into_parts();
    match super::send::receive(ep, id, &parts.headers, body, |raw| raw).await {
        Ok(()) => {
            let mut r = response(StatusCode::NO_CONTENT, empty());
            sending_headers(&ep.config, &parts.headers, r.headers_mut());
            r
        }
        Err(e) => e.into_response(&ep.config, &parts.headers),
    }
}

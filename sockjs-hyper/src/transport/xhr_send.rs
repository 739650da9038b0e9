//! `xhr_send`: a JSON array of messages from the client, answered with 204.

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use super::{deliver, read_body, sending_headers};
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
    if ep.by_id.get(id).is_none() {
        return super::SendFailure::UnknownSession.into_response(&ep.config, &parts.headers);
    }
    let result = match read_body(body, &parts.headers, ep.config.max_request_body).await {
        Ok(payload) => deliver(ep, id, &payload).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let mut r = response(StatusCode::NO_CONTENT, empty());
            sending_headers(&ep.config, &parts.headers, r.headers_mut());
            r
        }
        Err(e) => e.into_response(&ep.config, &parts.headers),
    }
}

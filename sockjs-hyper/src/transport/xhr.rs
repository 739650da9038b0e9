//! `xhr`: long polling with `POST`; one frame per response, `\n`-terminated.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use sockjs_core::framing::Framing;
use sockjs_core::{ReceiveMode, Transport};

use super::{poll_once, receive, receiving_response};
use crate::body::{full, ResponseBody};
use crate::endpoint::Endpoint;
use crate::headers::APPLICATION_JAVASCRIPT;
use crate::service::{method_not_allowed, preflight};

pub(crate) async fn handle<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    match *req.method() {
        Method::POST => {}
        Method::OPTIONS => return preflight(req.headers(), "OPTIONS, POST"),
        _ => return method_not_allowed("OPTIONS, POST"),
    }
    let receiving = match receive(
        ep,
        id,
        &req,
        Transport::Xhr,
        peer,
        Framing::Newline,
        ReceiveMode::Polling,
    ) {
        Ok(r) => r,
        Err(reject) => return reject.into_response(),
    };
    let frame = poll_once(receiving).await;
    receiving_response(
        &ep.config,
        req.headers(),
        APPLICATION_JAVASCRIPT,
        full(frame),
    )
}

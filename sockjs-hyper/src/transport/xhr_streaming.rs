//! `xhr_streaming`: a `POST` whose response streams frames, `\n`-terminated, after a 2 KiB
//! prelude, until the response limit.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use sockjs_core::framing::{self, Framing};
use sockjs_core::{ReceiveMode, Transport};

use super::{receive, stream, streaming_response};
use crate::body::ResponseBody;
use crate::endpoint::Endpoint;
use crate::headers::APPLICATION_JAVASCRIPT;
use crate::service::{method_not_allowed, preflight};

pub(crate) fn handle<B>(
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
    match receive(
        ep,
        id,
        &req,
        Transport::XhrStreaming,
        peer,
        Framing::Newline,
        ReceiveMode::Streaming,
    ) {
        Ok(receiving) => streaming_response(
            &ep.config,
            req.headers(),
            APPLICATION_JAVASCRIPT,
            stream(framing::xhr_streaming_prelude(), receiving),
        ),
        Err(reject) => reject.into_response(),
    }
}

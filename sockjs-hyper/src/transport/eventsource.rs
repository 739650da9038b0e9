//! `eventsource`: server-sent events; `data: <frame>\r\n\r\n` after a `\r\n` prelude.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use sockjs_core::framing::{self, Framing};
use sockjs_core::{ReceiveMode, Transport};

use super::{receive, stream, streaming_response};
use crate::body::ResponseBody;
use crate::endpoint::Endpoint;
use crate::headers::EVENT_STREAM;
use crate::service::method_not_allowed;

pub(crate) fn handle<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    if req.method() != Method::GET {
        return method_not_allowed("GET");
    }
    match receive(
        ep,
        id,
        &req,
        Transport::EventSource,
        peer,
        Framing::EventSource,
        ReceiveMode::Streaming,
    ) {
        Ok(receiving) => streaming_response(
            &ep.config,
            req.headers(),
            EVENT_STREAM,
            stream(framing::eventsource_prelude(), receiving),
        ),
        Err(reject) => reject.into_response(),
    }
}

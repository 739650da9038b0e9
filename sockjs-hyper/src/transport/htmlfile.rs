//! `htmlfile`: a streaming HTML page calling `parent.<callback>`; one `<script>` per frame.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use sockjs_core::framing::{self, Framing};
use sockjs_core::{ReceiveMode, Transport};

use super::{callback, receive, stream, streaming_response};
use crate::body::ResponseBody;
use crate::endpoint::Endpoint;
use crate::headers::TEXT_HTML;
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
    let callback = match callback(req.uri()) {
        Ok(c) => c,
        Err(reject) => return reject.into_response(),
    };
    let prelude = framing::htmlfile_prelude(&callback);
    match receive(
        ep,
        id,
        &req,
        Transport::HtmlFile,
        peer,
        Framing::HtmlFile { callback },
        ReceiveMode::Streaming,
    ) {
        Ok(receiving) => streaming_response(
            &ep.config,
            req.headers(),
            TEXT_HTML,
            stream(prelude, receiving),
        ),
        Err(reject) => reject.into_response(),
    }
}

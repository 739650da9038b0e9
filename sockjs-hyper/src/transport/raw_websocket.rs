//! The raw `/websocket` endpoint: plain websocket messages both ways, no open frame, no
//! heartbeats, no `a[...]` framing; a close by the application becomes a websocket close
//! frame carrying its code and reason. For command-line and non-browser clients.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};

use super::websocket::{serve, Mode};
use crate::body::ResponseBody;
use crate::endpoint::Endpoint;

pub(crate) fn handle<B>(
    ep: &Arc<Endpoint>,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody> {
    serve(ep, req, peer, Mode::Raw)
}

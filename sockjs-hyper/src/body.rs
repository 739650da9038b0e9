//! The response body type of the service.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// The body of every response the service produces: a complete body, or a stream of frames
/// (each frame is written as its own HTTP chunk).
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into()).boxed_unsync()
}

pub(crate) fn empty() -> ResponseBody {
    Empty::new().boxed_unsync()
}

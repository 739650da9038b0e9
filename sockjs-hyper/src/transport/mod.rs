//! The transports, one file each, and what they share: opening a receiver on a session,
//! polling and streaming bodies, reading and delivering client messages.

pub(crate) mod eventsource;
pub(crate) mod extended_connect;
pub(crate) mod hixie76;
pub(crate) mod htmlfile;
pub(crate) mod jsonp;
pub(crate) mod raw_websocket;
pub(crate) mod send;
pub(crate) mod websocket;
pub(crate) mod xhr;
pub(crate) mod xhr_send;
pub(crate) mod xhr_streaming;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use sockjs_core::framing::Framing;
use sockjs_core::{AttachError, Config, ReceiveMode, Transport};

use crate::body::ResponseBody;
use crate::endpoint::{Endpoint, NewSession, OpenError};
use crate::headers;
use crate::service::{response, text};
use crate::session::ReceiverGuard;

pub(crate) async fn dispatch<B>(
    ep: &Arc<Endpoint>,
    transport: Transport,
    id: &str,
    req: Request<B>,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match transport {
        Transport::WebSocket => websocket::handle(ep, req, peer),
        Transport::Xhr => xhr::handle(ep, id, req, peer).await,
        Transport::XhrSend => xhr_send::handle(ep, id, req).await,
        Transport::XhrStreaming => xhr_streaming::handle(ep, id, req, peer),
        Transport::EventSource => eventsource::handle(ep, id, req, peer),
        Transport::HtmlFile => htmlfile::handle(ep, id, req, peer),
        Transport::Jsonp => jsonp::handle(ep, id, req, peer).await,
        Transport::JsonpSend => jsonp::handle_send(ep, id, req).await,
        _ => crate::service::not_found(),
    }
}

pub(crate) fn new_session<B>(
    ep: &Endpoint,
    req: &Request<B>,
    transport: Option<Transport>,
    peer: Option<SocketAddr>,
) -> NewSession {
    NewSession {
        transport,
        headers: detached_headers(req.headers()),
        uri: redacted_uri(&ep.prefix, req.uri()),
        remote_addr: peer,
    }
}

/// Headers that concern only the hop or the handshake, not the application: left out of
/// [`RequestInfo::headers`](crate::RequestInfo::headers).
const HOP_HEADERS: [header::HeaderName; 10] = [
    header::CONNECTION,
    header::UPGRADE,
    header::TE,
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::ACCESS_CONTROL_REQUEST_METHOD,
    header::ACCESS_CONTROL_REQUEST_HEADERS,
];

/// Whether a session keeps header `name` for the application.
fn kept(name: &header::HeaderName) -> bool {
    !HOP_HEADERS.contains(name) && name.as_str() != "keep-alive"
}

/// What a kept header costs besides its name and value, in
/// [`Config::max_request_headers`]'s measure (HTTP/2's for a header list).
const ENTRY_OVERHEAD: usize = 32;

/// The size of the headers a session opened by a request with `headers` would keep, in
/// [`Config::max_request_headers`]'s measure.
pub(crate) fn kept_headers_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .filter(|(name, _)| kept(name))
        .map(|(name, value)| name.as_str().len() + value.len() + ENTRY_OVERHEAD)
        .sum()
}

/// A copy of `headers`, without the hop-by-hop and handshake ones, that owns its bytes.
/// hyper's header values are slices of the connection's read buffer; a plain clone would keep
/// that whole buffer (8 KiB or more) alive for the life of the session, which for an idle
/// websocket was most of its memory. The values are copied into one buffer that they share,
/// so a session's headers are one allocation (freed with the session), not one per header.
fn detached_headers(headers: &HeaderMap) -> HeaderMap {
    let names = headers.keys().filter(|n| kept(n)).count();
    let kept_values = || headers.iter().filter(|(n, _)| kept(n));
    let total = kept_values().map(|(_, v)| v.len()).sum();
    let mut values = bytes::BytesMut::with_capacity(total);
    for (_, value) in kept_values() {
        values.extend_from_slice(value.as_bytes());
    }
    let mut values = values.freeze();
    let mut copy = HeaderMap::with_capacity(names);
    for (name, value) in kept_values() {
        let bytes = values.split_to(value.len());
        let Ok(name) = http::header::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        let mut owned =
            HeaderValue::from_maybe_shared(bytes).unwrap_or_else(|_| HeaderValue::from_static(""));
        owned.set_sensitive(value.is_sensitive());
        copy.append(name, owned);
    }
    copy
}

/// The URI the application sees: the endpoint's prefix and the request's query, without the
/// `/<server>/<session>/<transport>` part — the protocol forbids exposing the session id to
/// the application.
fn redacted_uri(prefix: &str, uri: &http::Uri) -> http::Uri {
    let path = if prefix.is_empty() { "/" } else { prefix };
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    http::Uri::from_parts(parts).unwrap_or_default()
}

/// A receiving request, attached to its session or refused with a close frame.
pub(crate) enum Receiving {
    Attached(ReceiverGuard),
    Refused(Bytes),
}

/// Find or create the session `id` and attach a receiver with `framing`.
pub(crate) fn receive<B>(
    ep: &Arc<Endpoint>,
    id: &str,
    req: &Request<B>,
    transport: Transport,
    peer: Option<SocketAddr>,
    framing: Framing,
    mode: ReceiveMode,
) -> Result<Receiving, Reject> {
    let slot = ep.receiver_slot().map_err(Reject::Unavailable)?;
    // A session found a moment before it expired is replaced on the second round.
    for _ in 0..2 {
        let session = ep
            .http_session(id, || new_session(ep, req, Some(transport), peer))
            .map_err(Reject::Unavailable)?;
        match session.attach(framing.clone(), mode) {
            Ok(rid) => {
                return Ok(Receiving::Attached(ReceiverGuard {
                    session,
                    id: rid,
                    _slot: slot,
                }))
            }
            Err(AttachError::AnotherConnection { frame }) => return Ok(Receiving::Refused(frame)),
            Err(AttachError::Expired) => continue,
        }
    }
    Err(Reject::Unavailable(OpenError::Full))
}

/// A request refused before any session work, with its protocol answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// 405 with this `Allow` header.
    MethodNotAllowed(&'static str),
    /// 400 with this explanation.
    BadRequest(&'static str),
    /// 400 for a websocket version other than 13, advertising 13.
    UnsupportedWebSocketVersion,
    /// 503: no session can be opened now.
    Unavailable(OpenError),
    /// 500: jsonp/htmlfile without a `c` parameter.
    CallbackRequired,
    /// 500: a `c` parameter outside `[a-zA-Z0-9_.-]`.
    CallbackInvalid,
    /// 431: the headers a session would keep exceed `max_request_headers`.
    HeadersTooLarge,
}

impl Reject {
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        match self {
            Reject::MethodNotAllowed(allow) => crate::service::method_not_allowed(allow),
            Reject::BadRequest(why) => text(StatusCode::BAD_REQUEST, why),
            Reject::UnsupportedWebSocketVersion => {
                let mut r = text(StatusCode::BAD_REQUEST, "Unsupported WebSocket version.");
                r.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                r
            }
            Reject::Unavailable(OpenError::Full) => {
                text(StatusCode::SERVICE_UNAVAILABLE, "Too many sessions.\n")
            }
            Reject::Unavailable(OpenError::ShuttingDown) => {
                text(StatusCode::SERVICE_UNAVAILABLE, "Server shutting down.\n")
            }
            Reject::Unavailable(OpenError::TooManyReceivers) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many receiving connections.\n",
            ),
            Reject::Unavailable(OpenError::AddrFull) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sessions from this address.\n",
            ),
            Reject::CallbackRequired => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "\"callback\" parameter required",
            ),
            Reject::CallbackInvalid => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid \"callback\" parameter",
            ),
            Reject::HeadersTooLarge => text(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request headers too large.\n",
            ),
        }
    }
}

/// The one frame a polling request answers with.
pub(crate) async fn poll_once(receiving: Receiving) -> Bytes {
    match receiving {
        Receiving::Refused(frame) => frame,
        Receiving::Attached(guard) => guard
            .session
            .next_frame(guard.id)
            .await
            .map(|(data, _)| data)
            .unwrap_or_default(),
    }
}

struct StreamState {
    queued: VecDeque<Bytes>,
    guard: Option<ReceiverGuard>,
}

/// Frames larger than this go to hyper in pieces of this size (slices of the frame, not
/// copies). hyper asks for the next piece when it has room for it, that is when the client has
/// taken some of the previous ones: each ask is progress, and the write timeout counts from
/// the last one (see [`SessionHandle::progress`](crate::session::SessionHandle::progress)).
/// Whole frames would make a client that reads a large frame slowly look stalled.
const PIECE: usize = 8 * 1024;

/// A streaming body: `prelude`, then each frame (in pieces of at most [`PIECE`] bytes) until
/// the receiver ends. Dropping the body early (the client went away) detaches the receiver
/// as interrupted.
pub(crate) fn stream(prelude: Bytes, receiving: Receiving) -> ResponseBody {
    let mut queued = VecDeque::from([prelude]);
    let guard = match receiving {
        Receiving::Attached(guard) => Some(guard),
        Receiving::Refused(frame) => {
            queued.push_back(frame);
            None
        }
    };
    let state = StreamState { queued, guard };
    let frames = futures::stream::unfold(state, |mut st| async move {
        if let Some(chunk) = st.queued.pop_front() {
            if let Some(guard) = &st.guard {
                guard.session.progress(guard.id);
            }
            return Some((Ok::<_, Infallible>(Frame::data(chunk)), st));
        }
        let guard = st.guard.as_ref()?;
        let (mut data, _end) = guard.session.next_frame(guard.id).await?;
        if data.len() > PIECE {
            let first = data.split_to(PIECE);
            while data.len() > PIECE {
                st.queued.push_back(data.split_to(PIECE));
            }
            st.queued.push_back(data);
            data = first;
        }
        Some((Ok(Frame::data(data)), st))
    });
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

/// Headers of a receiving response.
pub(crate) fn receiving_headers(
    config: &Config,
    request: &HeaderMap,
    headers: &mut HeaderMap,
    content_type: HeaderValue,
) {
    headers.insert(header::CONTENT_TYPE, content_type);
    headers::no_cache(headers);
    headers::cors(request, headers);
    if config.cookie_needed {
        headers::jsessionid(request, headers);
    }
}

/// Headers of a sending (`xhr_send`, `jsonp_send`) response, success or error.
pub(crate) fn sending_headers(config: &Config, request: &HeaderMap, headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_TYPE, headers::TEXT_PLAIN);
    headers::no_cache(headers);
    headers::cors(request, headers);
    if config.cookie_needed {
        headers::jsessionid(request, headers);
    }
}

/// A streaming response (`xhr_streaming`, `eventsource`, `htmlfile`): a receiving response
/// that also tells nginx not to buffer it (`X-Accel-Buffering: no`), so its frames reach the
/// client as they are written even behind a proxy configured with `proxy_buffering on` (the
/// default).
pub(crate) fn streaming_response(
    config: &Config,
    request: &HeaderMap,
    content_type: HeaderValue,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut r = receiving_response(config, request, content_type, body);
    headers::no_proxy_buffering(r.headers_mut());
    r
}

/// A receiving response with a complete body.
pub(crate) fn receiving_response(
    config: &Config,
    request: &HeaderMap,
    content_type: HeaderValue,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut r = response(StatusCode::OK, body);
    receiving_headers(config, request, r.headers_mut(), content_type);
    r
}

/// The validated `c` query parameter of `jsonp` and `htmlfile`.
pub(crate) fn callback(uri: &http::Uri) -> Result<String, Reject> {
    let value = uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "c"))
        .map(|(_, v)| v.into_owned());
    match value.filter(|c| !c.is_empty()) {
        None => Err(Reject::CallbackRequired),
        Some(c) if !sockjs_core::framing::valid_callback(&c) => Err(Reject::CallbackInvalid),
        Some(c) => Ok(c),
    }
}

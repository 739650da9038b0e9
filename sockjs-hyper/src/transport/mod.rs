//! The transports, one file each, and what they share: opening a receiver on a session,
//! polling and streaming bodies, reading and delivering client messages.

pub(crate) mod eventsource;
pub(crate) mod extended_connect;
pub(crate) mod hixie76;
pub(crate) mod htmlfile;
pub(crate) mod jsonp;
pub(crate) mod raw_websocket;
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
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::Frame;
use sockjs_core::frame::PayloadError;
use sockjs_core::framing::Framing;
use sockjs_core::{AttachError, Config, ReceiveMode, Transport};

use crate::body::ResponseBody;
use crate::endpoint::{Endpoint, NewSession, OpenError};
use crate::headers;
use crate::service::{response, text};
use crate::session::{Inbound, ReceiverGuard};

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

/// A copy of `headers`, without the hop-by-hop and handshake ones, that owns its bytes.
/// hyper's header values are slices of the connection's read buffer; a plain clone would keep
/// that whole buffer (8 KiB or more) alive for the life of the session, which for an idle
/// websocket was most of its memory.
fn detached_headers(headers: &HeaderMap) -> HeaderMap {
    let kept = headers.keys().filter(|n| !HOP_HEADERS.contains(n)).count();
    let mut copy = HeaderMap::with_capacity(kept);
    for (name, value) in headers {
        if HOP_HEADERS.contains(name) || name.as_str() == "keep-alive" {
            continue;
        }
        let Ok(name) = http::header::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        let mut owned = HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
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

/// A streaming body: `prelude`, then one chunk per frame until the receiver ends. Dropping
/// the body early (the client went away) detaches the receiver as interrupted.
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
            return Some((Ok::<_, Infallible>(Frame::data(chunk)), st));
        }
        let guard = st.guard.as_ref()?;
        let (data, _end) = guard.session.next_frame(guard.id).await?;
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

/// Why a send request failed, with its protocol answer.
pub(crate) enum SendFailure {
    UnknownSession,
    Payload(PayloadError),
    TooLarge,
    BadBody,
    /// The session already has `max_sends_in_flight` send requests being processed.
    Busy,
}

impl SendFailure {
    pub(crate) fn into_response(
        self,
        config: &Config,
        request: &HeaderMap,
    ) -> Response<ResponseBody> {
        let (status, body) = match self {
            SendFailure::UnknownSession => return crate::service::not_found(),
            SendFailure::Payload(PayloadError::Empty) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.")
            }
            SendFailure::Payload(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Broken JSON encoding."),
            SendFailure::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large."),
            SendFailure::BadBody => (StatusCode::BAD_REQUEST, "Bad request body."),
            SendFailure::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many concurrent sends.",
            ),
        };
        let mut r = text(status, body);
        sending_headers(config, request, r.headers_mut());
        r
    }
}

/// Read a request body of at most `limit` bytes.
pub(crate) async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, SendFailure>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(SendFailure::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(SendFailure::TooLarge),
        Err(e) => {
            tracing::debug!(error = %e, "reading a send body failed");
            Err(SendFailure::BadBody)
        }
    }
}

/// Decode `payload` and hand its messages to the session's application, waiting for room in
/// the inbound queue (so a slow application slows the client instead of buffering).
pub(crate) async fn deliver(ep: &Endpoint, id: &str, payload: &[u8]) -> Result<(), SendFailure> {
    let session = ep
        .by_id
        .get(id)
        .filter(|s| !s.is_expired())
        .ok_or(SendFailure::UnknownSession)?;
    let _in_flight = session.begin_send().ok_or(SendFailure::Busy)?;
    let messages = sockjs_core::frame::decode_messages(payload).map_err(SendFailure::Payload)?;
    if messages.len() > ep.config.max_batch_messages {
        return Err(SendFailure::TooLarge);
    }
    if messages
        .iter()
        .any(|m| m.len() > session.max_message_size())
    {
        return Err(SendFailure::TooLarge);
    }
    let bytes: usize = messages.iter().map(String::len).sum();
    session.record_inbound(messages.len() as u64, bytes as u64);
    match session.inbound() {
        Some(inbound) => {
            let count = messages.len();
            let mut taken = None;
            for (i, message) in messages.into_iter().enumerate() {
                // The last message of the batch tells us when the application has taken it.
                let ack = (i + 1 == count).then(|| {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    taken = Some(rx);
                    tx
                });
                let message = message.into_boxed_str();
                if inbound.send(Inbound { message, ack }).await.is_err() {
                    tracing::debug!("the application stopped receiving; messages dropped");
                    return Ok(());
                }
            }
            drop(inbound);
            if let Some(taken) = taken {
                // Err means the application dropped its connection: nothing more to wait for.
                let _ = taken.await;
            }
        }
        None if !messages.is_empty() => {
            tracing::debug!(
                count = messages.len(),
                "messages for a closed session dropped"
            );
        }
        None => {}
    }
    Ok(())
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

//! What `xhr_send` and `jsonp_send` share: taking the session's send permit and room in the
//! byte budgets before a byte of the body is read, reading the body within its size and time
//! limits, decoding it within the batch limits, and handing its messages to the application.
//!
//! A send answers success only when the application has taken every one of its messages
//! (`Connection::recv` returned them). If the session closes first, the messages not taken
//! yet are withdrawn (the application never sees them), counted in the endpoint's
//! `messages_lost`, and the send is answered 410, which sockjs-client treats as a failed send.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use sockjs_core::frame::{DecodeError, DecodeLimits, PayloadError};
use sockjs_core::Config;

use crate::body::ResponseBody;
use crate::endpoint::Endpoint;
use crate::service::text;
use crate::session::{Inbound, SessionHandle};

/// Why a send request failed, with its protocol answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// 404: no such session (or it has expired).
    UnknownSession,
    /// 500: an empty or malformed payload.
    Payload(PayloadError),
    /// 413: a body over `max_request_body`, or a batch over the batch or message limits.
    TooLarge,
    /// 400: the body could not be read (a broken chunked encoding, ...).
    BadBody,
    /// 503: the session already has `max_sends_in_flight` send requests being processed.
    Busy,
    /// 503: the session's or the endpoint's send byte budget has no room for the body.
    OverBudget,
    /// 408: the body did not arrive within `body_read_timeout`.
    TimedOut,
    /// 410: the session closed before the application took this many of the messages.
    Lost(usize),
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
            SendFailure::OverBudget => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many bytes being sent.",
            ),
            SendFailure::TimedOut => (StatusCode::REQUEST_TIMEOUT, "Request body timeout."),
            SendFailure::Lost(_) => (
                StatusCode::GONE,
                "Session closed before the application received every message.",
            ),
        };
        let mut r = text(status, body);
        super::sending_headers(config, request, r.headers_mut());
        r
    }
}

/// Receive one send request for session `id`: find the session, take a send permit and room
/// for the body (before reading any of it), read the body, turn it into the JSON payload with
/// `payload_of` (`jsonp_send`'s form field), decode it and deliver the messages. Failures are
/// counted in the endpoint's statistics.
pub(crate) async fn receive<B>(
    ep: &Endpoint,
    id: &str,
    headers: &HeaderMap,
    body: B,
    payload_of: impl FnOnce(Bytes) -> Bytes,
) -> Result<(), SendFailure>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let result = async {
        let session = ep
            .by_id
            .get(id)
            .filter(|s| !s.is_expired())
            .ok_or(SendFailure::UnknownSession)?;
        let _in_flight = session.begin_send().ok_or(SendFailure::Busy)?;
        let mut held = Reservation::new(&session.send_bytes, &ep.send_bytes);
        let raw = read_body(body, headers, &ep.config, &mut held).await?;
        deliver(ep, &session, payload_of(raw)).await
    }
    .await;
    if let Err(failure) = &result {
        ep.counters.send_failed(failure);
    }
    result
}

/// Bytes of send bodies held at once, against a maximum: one per session, one per endpoint.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    max: usize,
}

impl ByteBudget {
    pub(crate) fn new(max: usize) -> ByteBudget {
        ByteBudget {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Take `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes held now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The bytes one send request holds of its session's and its endpoint's budgets, given back
/// when the request ends.
struct Reservation<'a> {
    session: &'a ByteBudget,
    endpoint: &'a ByteBudget,
    bytes: usize,
}

impl<'a> Reservation<'a> {
    fn new(session: &'a ByteBudget, endpoint: &'a ByteBudget) -> Self {
        Reservation {
            session,
            endpoint,
            bytes: 0,
        }
    }

    /// Hold `n` more bytes, or fail with [`SendFailure::OverBudget`].
    fn grow(&mut self, n: usize) -> Result<(), SendFailure> {
        if !self.session.take(n) {
            return Err(SendFailure::OverBudget);
        }
        if !self.endpoint.take(n) {
            self.session.give_back(n);
            return Err(SendFailure::OverBudget);
        }
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.session.give_back(self.bytes);
        self.endpoint.give_back(self.bytes);
    }
}

/// Read a send body of at most `max_request_body` bytes within `body_read_timeout`, holding
/// room for it in `held`: a declared `Content-Length` is held in full before anything is
/// read, a chunked body as it arrives.
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    config: &Config,
    held: &mut Reservation<'_>,
) -> Result<Bytes, SendFailure>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = config.max_request_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared = match declared.map(usize::try_from) {
        Some(Ok(n)) if n <= limit => Some(n),
        Some(_) => return Err(SendFailure::TooLarge),
        None => None,
    };
    if let Some(n) = declared {
        held.grow(n)?;
    }
    let read = async {
        let mut body = std::pin::pin!(body);
        // The usual body is one frame, kept as it is; later frames are appended to a copy.
        let mut first: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut len = 0usize;
        while let Some(frame) = body.as_mut().frame().await {
            let frame = frame.map_err(|e| {
                let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                tracing::debug!(error = %e, "reading a send body failed");
                SendFailure::BadBody
            })?;
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers
            };
            let n = data.remaining();
            if len + n > limit {
                return Err(SendFailure::TooLarge);
            }
            if declared.is_none() {
                held.grow(n)?;
            }
            len += n;
            let data = data.copy_to_bytes(n);
            match (&mut first, &mut joined) {
                (None, _) => first = Some(data),
                (Some(head), None) => {
                    let mut buf = BytesMut::with_capacity(declared.unwrap_or(len).max(len));
                    buf.extend_from_slice(head);
                    buf.extend_from_slice(&data);
                    joined = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        Ok(match joined {
            Some(buf) => buf.freeze(),
            None => first.unwrap_or_default(),
        })
    };
    match tokio::time::timeout(config.body_read_timeout, read).await {
        Ok(read) => read,
        Err(_) => Err(SendFailure::TimedOut),
    }
}

/// The messages of one send on their way to the application: how many there are, how many it
/// has taken, and whether the send gave up on the rest (the session closed first).
pub(crate) struct Batch {
    /// Messages taken, plus [`WITHDRAWN`] once the send has given up.
    state: AtomicUsize,
    total: usize,
    /// Notified when the application takes the last message.
    done: tokio::sync::Notify,
}

/// The bit of [`Batch::state`] that marks a withdrawn batch.
const WITHDRAWN: usize = 1 << (usize::BITS - 1);

impl Batch {
    fn new(total: usize) -> Batch {
        Batch {
            state: AtomicUsize::new(0),
            total,
            done: tokio::sync::Notify::new(),
        }
    }

    /// The application takes one message: `false` if the send has withdrawn it.
    pub(crate) fn take(&self) -> bool {
        let taken = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & WITHDRAWN == 0).then_some(s + 1)
            });
        match taken {
            Ok(before) => {
                if before + 1 == self.total {
                    self.done.notify_one();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Wait until the application has taken every message.
    async fn all_taken(&self) {
        while self.state.load(Ordering::Acquire) != self.total {
            self.done.notified().await;
        }
    }

    /// Give up on the messages not taken yet (the application will not see them); how many.
    fn withdraw(&self) -> usize {
        let before = self.state.fetch_or(WITHDRAWN, Ordering::AcqRel);
        self.total - (before & !WITHDRAWN)
    }
}

/// Decode `payload` and hand its messages to the session's application, waiting for room in
/// the inbound queue (so a slow application slows the client instead of buffering) and then
/// for the application to take the last one. If the session closes first, the messages not
/// taken are withdrawn and reported as [`SendFailure::Lost`].
async fn deliver(
    ep: &Endpoint,
    session: &Arc<SessionHandle>,
    payload: Bytes,
) -> Result<(), SendFailure> {
    let limits = DecodeLimits::from_config(&ep.config);
    let messages =
        sockjs_core::frame::decode_messages_bounded(&payload, &limits).map_err(|e| match e {
            DecodeError::Payload(e) => SendFailure::Payload(e),
            _ => SendFailure::TooLarge,
        })?;
    // The raw body is no longer needed while the messages wait for the application.
    drop(payload);
    let total = messages.len();
    if total == 0 {
        return Ok(());
    }
    let bytes: usize = messages.iter().map(String::len).sum();
    session.record_inbound(total as u64, bytes as u64);
    let Some(inbound) = session.inbound() else {
        tracing::debug!(count = total, "messages for a closed session not delivered");
        return Err(SendFailure::Lost(total));
    };
    let batch = Arc::new(Batch::new(total));
    let handed_over = async {
        for message in messages {
            let message = Inbound {
                message: message.into_boxed_str(),
                batch: Some(Arc::clone(&batch)),
            };
            if inbound.send(message).await.is_err() {
                // The application dropped its connection.
                return false;
            }
        }
        drop(inbound);
        batch.all_taken().await;
        true
    };
    let taken = tokio::select! {
        biased;
        taken = handed_over => taken,
        () = session.closed() => false,
    };
    if taken {
        return Ok(());
    }
    match batch.withdraw() {
        0 => Ok(()),
        lost => {
            tracing::debug!(
                lost,
                total,
                "the session closed before the application took a send's messages"
            );
            Err(SendFailure::Lost(lost))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_shared_and_given_back() {
        let session = ByteBudget::new(10);
        let endpoint = ByteBudget::new(15);
        let other = ByteBudget::new(10);
        let mut a = Reservation::new(&session, &endpoint);
        assert_eq!(a.grow(6), Ok(()));
        let mut b = Reservation::new(&session, &endpoint);
        assert_eq!(
            b.grow(5),
            Err(SendFailure::OverBudget),
            "the session's budget"
        );
        assert_eq!(b.grow(4), Ok(()));
        let mut c = Reservation::new(&other, &endpoint);
        assert_eq!(
            c.grow(6),
            Err(SendFailure::OverBudget),
            "the endpoint's budget"
        );
        assert_eq!(other.used(), 0, "a refused reservation holds nothing");
        assert_eq!(c.grow(5), Ok(()));
        assert_eq!((session.used(), endpoint.used()), (10, 15));
        drop(a);
        drop(b);
        drop(c);
        assert_eq!((session.used(), other.used(), endpoint.used()), (0, 0, 0));
    }

    #[test]
    fn a_withdrawn_batch_is_not_taken() {
        let batch = Batch::new(3);
        assert!(batch.take());
        assert_eq!(batch.withdraw(), 2);
        assert!(!batch.take());
        assert_eq!(batch.withdraw(), 2, "withdrawing again changes nothing");
        let done = Batch::new(1);
        assert!(done.take());
        assert_eq!(done.withdraw(), 0);
    }
}

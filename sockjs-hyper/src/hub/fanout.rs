//! Queue one message to many sessions: encoded once (once more, verbatim, if raw `/websocket`
//! sessions are among them), never waiting for a full queue.

use std::sync::Arc;

use sockjs_core::frame::EncodedMessage;

use super::Delivery;
use crate::connection::SendError;
use crate::session::SessionHandle;

/// Queue `message` to each of `sessions` with `try_send`, counting the outcomes. Call it with
/// no lock held: a session may close itself here (overflow policy `Close`), which re-enters
/// the hub.
pub(crate) fn fan_out<'a>(
    sessions: impl IntoIterator<Item = &'a Arc<SessionHandle>>,
    message: &str,
) -> Delivery {
    let mut encoded = None;
    let mut verbatim = None;
    let mut d = Delivery::default();
    for session in sessions {
        if message.len() > session.max_message_size() {
            d.too_large += 1;
            continue;
        }
        let m = if session.is_raw() {
            verbatim.get_or_insert_with(|| EncodedMessage::verbatim(message))
        } else {
            encoded.get_or_insert_with(|| EncodedMessage::new(message))
        };
        match session.try_send_encoded(m.clone()) {
            Ok(()) => d.sent += 1,
            Err(SendError::Full) => d.full += 1,
            Err(_) => d.closed += 1,
        }
    }
    d
}

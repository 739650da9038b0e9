//! Probe 7: a send of many messages to a session whose client never polls, so the session
//! expires while the application can still take only part of them. The send must not be
//! answered 204 (which says the application has every message).

use std::time::Duration;

use super::{kind, open_xhr_session, secs, upload, Pace};
use crate::http::ProbeError;
use crate::{Outcome, Sizes, Target};

pub(crate) async fn run(target: &Target, sizes: &Sizes) -> Result<Outcome, ProbeError> {
    let base = open_xhr_session(target).await?;
    let messages = vec!["\"x\""; sizes.lost_messages].join(",");
    let body = format!("[{messages}]").into_bytes();
    let limit = sizes.session_expiry + Duration::from_secs(25);
    let path = format!("{base}/xhr_send");
    let (answer, after) = upload(target, &path, body.len(), body.into(), Pace::AtOnce, limit).await;
    let shown = kind(&answer);
    Ok(Outcome {
        summary: format!(
            "{shown} after {} s ({} messages, nobody polling)",
            secs(after),
            sizes.lost_messages
        ),
        expected: matches!(answer, Ok(status) if status != 204 && status >= 400),
        details: serde_json::json!({
            "answer": shown,
            "after_s": secs(after),
            "messages": sizes.lost_messages,
        }),
        settle: Duration::from_secs(1),
    })
}

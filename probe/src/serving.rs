//! Whether the server still serves: `GET <prefix>/info` answers 200, and a websocket session
//! echoes a message.

use std::time::Duration;

use crate::http::{fetch, Request};
use crate::ws::{Open, Ws, TEXT};
use crate::Target;

const LIMIT: Duration = Duration::from_secs(10);

/// `Ok` when both work; else what failed.
pub(crate) async fn check(target: &Target) -> Result<(), String> {
    let info = Request::get(format!("{}/info", target.prefix)).origin(target.origin());
    match fetch(target.addr, &info, LIMIT).await {
        Ok((head, _)) if head.status == 200 => {}
        Ok((head, _)) => return Err(format!("info answered {}", head.status)),
        Err(e) => return Err(format!("info: {e}")),
    }
    echo(target)
        .await
        .map_err(|e| format!("websocket echo: {e}"))
}

async fn echo(target: &Target) -> Result<(), crate::http::ProbeError> {
    use crate::http::{within, ProbeError};
    within(LIMIT, "a websocket echo", async {
        let mut ws =
            Ws::sockjs(target.addr, &target.prefix, &Open::origin(target.origin())).await?;
        ws.send_text(r#"["still serving?"]"#).await?;
        while let Some(frame) = ws.next_frame().await? {
            match (frame.opcode, frame.text().as_str()) {
                (TEXT, r#"a["still serving?"]"#) => return Ok(()),
                (TEXT, "h") => continue,
                _ => return Err(ProbeError::Protocol(format!("got {frame:?}"))),
            }
        }
        Err(ProbeError::Closed("the echo"))
    })
    .await
}

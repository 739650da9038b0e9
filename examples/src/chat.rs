//! The chat demo: several browsers exchange messages, see who is online, and an admin can kick
//! a user with an application close code (4001) so that user's page stops reconnecting.
//!
//! Wire protocol (JSON text messages over SockJS):
//!
//! | direction | message |
//! |---|---|
//! | client → server | `{"type":"join","name":"alice"}` (first message; `"token"` too for `admin`) |
//! | client → server | `{"type":"say","text":"hello"}`; the admin may say `/kick <name>` |
//! | server → client | `{"type":"presence","users":["admin","alice"]}` |
//! | server → client | `{"type":"message","from":"alice","text":"hello"}` |
//! | server → client | `{"type":"system","text":"bob left (closed by the client)"}` |
//!
//! The presence list and the user lookup come from the endpoint's own session table
//! ([`SockJs::sessions`], [`SockJs::sessions_of`]): the application keeps no list of its own.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::json;
use sockjs_hyper::{Config, Connection, SockJs};

/// The close code of a kicked user; sockjs-client reports it to `onclose` as is.
pub const KICKED: u16 = 4001;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Incoming {
    Join {
        name: String,
        #[serde(default)]
        token: Option<String>,
    },
    Say {
        text: String,
    },
}

/// The chat endpoint under `prefix`. `admin_token` is what a user named `admin` must present.
pub fn endpoint(
    prefix: &str,
    config: Config,
    admin_token: String,
) -> Result<SockJs, sockjs_hyper::Error> {
    let slot: Arc<OnceLock<SockJs>> = Arc::default();
    let for_handler = Arc::clone(&slot);
    let admin_token: Arc<str> = admin_token.into();
    let endpoint = SockJs::new(prefix, config, move |conn| {
        let slot = Arc::clone(&for_handler);
        let token = Arc::clone(&admin_token);
        async move {
            if let Some(chat) = slot.get() {
                session(chat.clone(), conn, token).await;
            }
        }
    })?;
    let _ = slot.set(endpoint.clone());
    Ok(endpoint)
}

fn online(chat: &SockJs) -> Vec<String> {
    let names: BTreeSet<String> = chat
        .sessions()
        .iter()
        .filter(|s| !s.is_closed())
        .filter_map(|s| s.user().map(|u| u.to_string()))
        .collect();
    names.into_iter().collect()
}

fn announce(chat: &SockJs, value: serde_json::Value) {
    let _ = chat.broadcast(&value.to_string());
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

async fn session(chat: SockJs, mut conn: Connection, admin_token: Arc<str>) {
    // The first message must be a join.
    let name = match conn
        .recv()
        .await
        .map(|m| serde_json::from_str::<Incoming>(&m))
    {
        Some(Ok(Incoming::Join { name, token })) if valid_name(&name) => {
            if name == "admin" && token.as_deref() != Some(&*admin_token) {
                conn.close(4003, "Admin token required");
                return;
            }
            name
        }
        Some(_) => {
            conn.close(4000, "Join with a valid name first");
            return;
        }
        None => return,
    };
    conn.set_user(Some(&name));
    announce(
        &chat,
        json!({"type": "system", "text": format!("{name} joined")}),
    );
    announce(&chat, json!({"type": "presence", "users": online(&chat)}));

    while let Some(raw) = conn.recv().await {
        let Ok(Incoming::Say { text }) = serde_json::from_str::<Incoming>(&raw) else {
            let _ = conn.try_send(json!({"type": "error", "text": "unknown message"}).to_string());
            continue;
        };
        if let Some(target) = text.strip_prefix("/kick ") {
            if name != "admin" {
                let _ = conn
                    .try_send(json!({"type": "error", "text": "only admin can kick"}).to_string());
                continue;
            }
            let sessions = chat.sessions_of(target.trim());
            for s in &sessions {
                s.close(KICKED, "Kicked by admin");
            }
            let text = format!(
                "{} was kicked ({} session(s))",
                target.trim(),
                sessions.len()
            );
            announce(&chat, json!({"type": "system", "text": text}));
            announce(&chat, json!({"type": "presence", "users": online(&chat)}));
            continue;
        }
        announce(
            &chat,
            json!({"type": "message", "from": name, "text": text}),
        );
    }
    let cause = conn
        .close_cause()
        .map_or_else(|| "gone".to_string(), |c| c.to_string());
    conn.set_user(None);
    announce(
        &chat,
        json!({"type": "system", "text": format!("{name} left ({cause})")}),
    );
    announce(&chat, json!({"type": "presence", "users": online(&chat)}));
}

/// The chat page; it loads sockjs-client from `client_url` and connects to `prefix`.
pub fn page(client_url: &str, prefix: &str) -> String {
    PAGE.replace("{{CLIENT_URL}}", client_url)
        .replace("{{PREFIX}}", prefix)
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sockjs-rs chat</title>
<script src="{{CLIENT_URL}}"></script>
<style>
 body { font-family: sans-serif; margin: 2em; display: grid; grid-template-columns: 1fr 12em; gap: 1em; }
 #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; white-space: pre-wrap; }
 #users { border: 1px solid #ccc; padding: .5em; }
 .system { color: #777; } .error { color: #b00; }
</style></head>
<body>
<div>
  <h1>sockjs-rs chat</h1>
  <div id="status">connecting…</div>
  <div id="log"></div>
  <form id="say"><input id="text" autocomplete="off" size="40" placeholder="message, or /kick name (admin)"> <button>send</button></form>
</div>
<div><h2>Online</h2><ul id="users"></ul></div>
<script>
  const params = new URLSearchParams(location.search);
  const name = params.get('name') || ('guest' + Math.floor(Math.random() * 1000));
  const token = params.get('token');
  const transports = params.get('transport') ? [params.get('transport')] : undefined;
  const log = (text, cls) => {
    const line = document.createElement('div');
    line.textContent = text; if (cls) line.className = cls;
    const el = document.getElementById('log'); el.appendChild(line); el.scrollTop = el.scrollHeight;
  };
  let sock = null, delay = 500;
  window.chat = { kicked: false, received: [], transport: null };
  function connect() {
    sock = new SockJS('{{PREFIX}}', null, transports ? { transports } : {});
    sock.onopen = () => {
      delay = 500;
      window.chat.transport = sock.transport;
      document.getElementById('status').textContent = 'connected as ' + name + ' (' + sock.transport + ')';
      sock.send(JSON.stringify(token ? { type: 'join', name, token } : { type: 'join', name }));
    };
    sock.onmessage = (e) => {
      const m = JSON.parse(e.data); window.chat.received.push(m);
      if (m.type === 'message') log(m.from + ': ' + m.text);
      else if (m.type === 'presence') {
        const ul = document.getElementById('users'); ul.innerHTML = '';
        for (const u of m.users) { const li = document.createElement('li'); li.textContent = u; ul.appendChild(li); }
      } else log(m.text, m.type);
    };
    sock.onclose = (e) => {
      if (e.code >= 4000 && e.code <= 4999) {
        // An application close (kicked, refused): do not come back.
        window.chat.kicked = e.code === 4001;
        document.getElementById('users').innerHTML = '';
        document.getElementById('status').textContent = 'disconnected: ' + e.code + ' ' + e.reason;
        log('closed by the server: ' + e.code + ' ' + e.reason, 'error');
        return;
      }
      document.getElementById('status').textContent = 'reconnecting…';
      setTimeout(connect, delay); delay = Math.min(delay * 2, 10000);
    };
  }
  document.getElementById('say').onsubmit = (e) => {
    e.preventDefault();
    const input = document.getElementById('text');
    if (sock && input.value) sock.send(JSON.stringify({ type: 'say', text: input.value }));
    input.value = '';
  };
  connect();
</script>
</body></html>
"#;

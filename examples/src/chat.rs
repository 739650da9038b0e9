//! The chat demo: several browsers exchange messages, see who is online, and an admin can kick
//! a user with an application close code (4001) so that user's page stops reconnecting.
//!
//! Wire protocol (JSON text messages over SockJS):
//!
//! | direction | message |
//! |---|---|
//! | client → server | `{"type":"join","name":"alice"}` (first message; `"token"` too for `admin`) |
//! | client → server | `{"type":"say","text":"hello"}`; the admin may say `/kick <name>` |
//! | server → client | `{"type":"welcome","node":"000000000000000a"}` (after the join: the node serving this session, shown on the page) |
//! | server → client | `{"type":"presence","users":["admin","alice"]}` |
//! | server → client | `{"type":"message","from":"alice","text":"hello"}` |
//! | server → client | `{"type":"system","text":"bob left (closed by the client)"}` |
//!
//! Everything is the endpoint's hub ([`Connection::hub`]): a user logs in with
//! [`Connection::login`] and joins the `lobby` room, messages go to the room, the presence
//! list is the hub's presence, and the admin's kick is [`Hub::kick_user`]. The application
//! keeps no list of its own, and the same code works on several nodes once the hub has a
//! cluster backend.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use sockjs_hyper::hub::{Hub, HubError, LoginPolicy};
use sockjs_hyper::{Config, Connection, SockJs};

/// The close code of a kicked user; sockjs-client reports it to `onclose` as is.
pub const KICKED: u16 = 4001;

/// The room every joined user is in.
pub const ROOM: &str = "lobby";

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
    endpoint_with_hub(prefix, config, admin_token, Hub::new())
}

/// [`endpoint`] on a given hub (for example one with a cluster backend).
pub fn endpoint_with_hub(
    prefix: &str,
    config: Config,
    admin_token: String,
    hub: Hub,
) -> Result<SockJs, sockjs_hyper::Error> {
    endpoint_with_policy(prefix, config, admin_token, hub, LoginPolicy::Allow)
}

/// [`endpoint_with_hub`] with a duplicate-login policy for the chat's users (the chat demo's
/// `CHAT_LOGIN_POLICY`): a second tab of the same name replaces the first, or is refused.
pub fn endpoint_with_policy(
    prefix: &str,
    config: Config,
    admin_token: String,
    hub: Hub,
    policy: LoginPolicy,
) -> Result<SockJs, sockjs_hyper::Error> {
    let admin_token: Arc<str> = admin_token.into();
    SockJs::builder(prefix)
        .config(config)
        .hub(hub)
        .login_policy(policy)
        .build(move |conn| session(conn, Arc::clone(&admin_token)))
}

/// Who is online (the hub's presence: users with at least one session).
fn online(hub: &Hub) -> Vec<String> {
    hub.presence().users().map(String::from).collect()
}

/// Send to everyone in the room (on every node).
fn announce(hub: &Hub, value: serde_json::Value) {
    if let Err(e) = hub.send_to_room(ROOM, &value.to_string()) {
        tracing::warn!(error = %e, "announcement not delivered everywhere");
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

async fn session(mut conn: Connection, admin_token: Arc<str>) {
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
    let hub = conn.hub().clone();
    if let Err(e) = conn.login(&name).await {
        tracing::info!(error = %e, "login refused");
        return;
    }
    if conn.join(ROOM).is_err() {
        return; // closed meanwhile
    }
    // Which node serves this session (in a cluster, the page shows it).
    let _ = conn.try_send(json!({"type": "welcome", "node": hub.node().to_string()}).to_string());
    announce(
        &hub,
        json!({"type": "system", "text": format!("{name} joined")}),
    );
    announce(&hub, json!({"type": "presence", "users": online(&hub)}));

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
            let target = target.trim();
            // Every session of the user, on every node; this node's are closed (and out of
            // the presence) when the call returns.
            let kicked = match hub.kick_user(target, KICKED, "Kicked by admin") {
                Ok(d) => d.sent,
                Err(HubError::Cluster { local, cause }) => {
                    tracing::warn!(error = %cause, "kick reached this node only");
                    local.sent
                }
                Err(e) => {
                    let _ =
                        conn.try_send(json!({"type": "error", "text": e.to_string()}).to_string());
                    continue;
                }
            };
            let text = format!("{target} was kicked ({kicked} session(s))");
            announce(&hub, json!({"type": "system", "text": text}));
            announce(&hub, json!({"type": "presence", "users": online(&hub)}));
            continue;
        }
        announce(&hub, json!({"type": "message", "from": name, "text": text}));
    }
    // The session has ended: it has left the room and the presence list already.
    let cause = conn
        .close_cause()
        .map_or_else(|| "gone".to_string(), |c| c.to_string());
    announce(
        &hub,
        json!({"type": "system", "text": format!("{name} left ({cause})")}),
    );
    announce(&hub, json!({"type": "presence", "users": online(&hub)}));
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
  window.chat = { kicked: false, received: [], transport: null, node: null };
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
      if (m.type === 'welcome') {
        window.chat.node = m.node;
        document.getElementById('status').textContent = 'connected as ' + name + ' (' + sock.transport + ') on node ' + m.node;
      } else if (m.type === 'message') log(m.from + ': ' + m.text);
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

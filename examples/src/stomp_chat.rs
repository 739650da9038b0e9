//! A STOMP chat on `sockjs-stomp`: a public room, private messages to a user, and the list of
//! who is online. The page uses @stomp/stompjs 7 over sockjs-client.
//!
//! | the page | destination | the server |
//! |---|---|---|
//! | `CONNECT` with `login:NAME` | | the authenticator takes the name (1 to 32 characters) |
//! | `SUBSCRIBE /topic/chat` | | room messages `{"from","text"}` |
//! | `SUBSCRIBE /user/queue/private` | | private messages `{"from","to","text"}` to every tab of the recipient, and of the sender |
//! | `SUBSCRIBE /topic/online` | | the sorted list of names online, on every change |
//! | `SEND /app/chat` (text) | `/topic/chat` | `{"from","text"}` |
//! | `SEND /app/private` (`{"to","text"}`) | `/user/queue/private` | [`StompBroker::send_to_user`] to both |
//! | `SEND /app/who` | `/topic/online` of that session only | the current list ([`AppMessage::reply`]) |
//!
//! Who is online is the hub's presence: each connected user is logged in to the hub, and
//! [`spawn_presence`] publishes the list on every presence change. With a cluster backend on
//! the hub, the room, the private messages and the list span the nodes.

use serde::Deserialize;
use serde_json::json;
use sockjs_hyper::hub::Hub;
use sockjs_stomp::broker::{AppMessage, BuildError, Message, Refusal, StompBroker};

/// The endpoint's prefix.
pub const ENDPOINT: &str = "/chat-stomp";

/// The longest name accepted.
pub const MAX_NAME: usize = 32;

fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_NAME).contains(&n) && !name.chars().any(|c| c.is_control() || c == '/')
}

#[derive(Deserialize)]
struct Private {
    to: String,
    text: String,
}

fn sender(message: &AppMessage) -> String {
    message.user().unwrap_or("anonymous").to_owned()
}

async fn chat(message: AppMessage) {
    let body = json!({ "from": sender(&message), "text": message.body });
    if let Err(e) = message
        .broker()
        .publish("/topic/chat", Message::json(body.to_string()))
    {
        tracing::warn!(error = %e, "chat message not published");
    }
}

async fn private(message: AppMessage) {
    let Ok(Private { to, text }) = serde_json::from_str(&message.body) else {
        return;
    };
    let from = sender(&message);
    let body = Message::json(json!({ "from": from, "to": to, "text": text }).to_string());
    // To every tab of the recipient and of the sender (so the sender's tabs show it too).
    for user in [to.as_str(), from.as_str()] {
        if let Err(e) = message
            .broker()
            .send_to_user(user, "/queue/private", body.clone())
        {
            tracing::warn!(error = %e, %user, "private message not sent");
        }
        if to == from {
            break;
        }
    }
}

/// The names online, sorted.
pub fn online(hub: &Hub) -> Vec<String> {
    let mut users: Vec<String> = hub.presence().users().map(String::from).collect();
    users.sort();
    users
}

async fn who(message: AppMessage) {
    let list = json!(online(message.broker().hub())).to_string();
    let _ = message.reply("/topic/online", Message::json(list));
}

/// The chat's broker on `hub` (give one with a cluster backend to span nodes).
pub fn broker(sockjs: sockjs_hyper::Config, hub: Hub) -> Result<StompBroker, BuildError> {
    StompBroker::builder(ENDPOINT)
        .sockjs_config(sockjs)
        .hub(hub)
        .authenticator(|info| {
            let name = info.login().unwrap_or_default().trim().to_owned();
            async move {
                if valid_name(&name) {
                    Ok(Some(name))
                } else {
                    Err(Refusal::new(format!(
                        "Choose a name of 1 to {MAX_NAME} characters, without '/'"
                    )))
                }
            }
        })
        .route("/chat", chat)
        .route("/private", private)
        .route("/who", who)
        .build()
}

/// Publishes the online list to `/topic/online` on every presence change, until the hub is
/// gone. Call it once, inside the runtime.
pub fn spawn_presence(broker: &StompBroker) -> tokio::task::JoinHandle<()> {
    let broker = broker.clone();
    let mut events = broker.hub().presence_events();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Err(lagged) = event {
                tracing::debug!(%lagged, "presence events missed; publishing the list anyway");
            }
            let list = json!(online(broker.hub())).to_string();
            if let Err(e) = broker.publish("/topic/online", Message::json(list)) {
                tracing::warn!(error = %e, "online list not published");
            }
        }
    })
}

/// The chat page; `sockjs` and `stomp` are where it loads sockjs-client and @stomp/stompjs 7
/// (UMD bundle) from. `/?name=alice` fills the name in.
pub fn page(sockjs: &str, stomp: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>STOMP chat</title>
<style>
  body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
  #main {{ display: flex; gap: 2em; }}
  #log {{ width: 34em; height: 20em; overflow-y: auto; border: 1px solid #ccc; padding: .5em; }}
  #log div {{ margin: .2em 0; }}
  #log .private {{ color: #7a2a9a; }}
  #log .system {{ color: #777; font-style: italic; }}
  #users {{ list-style: none; padding: 0; margin: 0; min-width: 10em; }}
  #users li {{ padding: .2em .4em; cursor: pointer; }}
  #users li.me {{ font-weight: bold; }}
  form {{ margin-top: .8em; }}
  input {{ padding: .35em; }}
  #text {{ width: 26em; }}
</style>
<script src="{sockjs}"></script>
<script src="{stomp}"></script>
</head>
<body>
<h1>STOMP chat</h1>
<form id="join"><input id="name" placeholder="your name" maxlength="32"> <button>Join</button>
  <button id="leave" type="button" disabled>Leave</button></form>
<p id="status">not connected</p>
<div id="main">
  <div>
    <div id="log"></div>
    <form id="say"><input id="to" placeholder="to (empty: everyone)" size="12">
      <input id="text" autocomplete="off" placeholder="message"> <button>Send</button></form>
  </div>
  <div><h3>Online</h3><ul id="users"></ul></div>
</div>
<script>
  const chat = window.chat = {{ connected: false, me: null, online: [], received: [], errors: [] }};
  const $ = (id) => document.getElementById(id);
  function line(text, cls) {{
    const div = document.createElement('div');
    div.textContent = text;
    if (cls) div.className = cls;
    $('log').appendChild(div);
    $('log').scrollTop = $('log').scrollHeight;
  }}
  function showOnline(users) {{
    chat.online = users;
    $('users').innerHTML = '';
    for (const u of users) {{
      const li = document.createElement('li');
      li.textContent = u;
      if (u === chat.me) li.className = 'me';
      li.onclick = () => {{ $('to').value = u === chat.me ? '' : u; $('text').focus(); }};
      $('users').appendChild(li);
    }}
  }}
  const client = new StompJs.Client({{
    webSocketFactory: () => new SockJS('{endpoint}'),
    reconnectDelay: 0,
    debug: () => {{}},
  }});
  client.onConnect = (frame) => {{
    chat.connected = true;
    chat.me = frame.headers['user-name'];
    $('status').textContent = 'connected as ' + chat.me;
    $('leave').disabled = false;
    $('join').querySelector('button').disabled = true;
    client.subscribe('/topic/chat', (m) => {{
      const msg = JSON.parse(m.body);
      chat.received.push({{ kind: 'room', ...msg }});
      line(msg.from + ': ' + msg.text);
    }});
    client.subscribe('/user/queue/private', (m) => {{
      const msg = JSON.parse(m.body);
      chat.received.push({{ kind: 'private', ...msg }});
      line(msg.from === chat.me ? '(to ' + msg.to + ') ' + msg.text : '(private) ' + msg.from + ': ' + msg.text, 'private');
    }});
    client.subscribe('/topic/online', (m) => showOnline(JSON.parse(m.body)));
    client.publish({{ destination: '/app/who' }});
  }};
  client.onStompError = (frame) => {{
    chat.errors.push(frame.headers.message);
    line('error: ' + frame.headers.message, 'system');
  }};
  client.onWebSocketClose = (e) => {{
    chat.connected = false;
    $('status').textContent = 'disconnected (' + e.code + ')';
    $('leave').disabled = true;
    $('join').querySelector('button').disabled = false;
    showOnline([]);
  }};
  $('join').onsubmit = (e) => {{
    e.preventDefault();
    client.connectHeaders = {{ login: $('name').value }};
    client.activate();
  }};
  $('leave').onclick = () => client.deactivate();
  $('say').onsubmit = (e) => {{
    e.preventDefault();
    const to = $('to').value.trim(), text = $('text').value;
    if (!text) return;
    if (to) client.publish({{ destination: '/app/private', body: JSON.stringify({{ to, text }}) }});
    else client.publish({{ destination: '/app/chat', body: text }});
    $('text').value = '';
  }};
  const fromUrl = new URLSearchParams(location.search).get('name');
  if (fromUrl) {{ $('name').value = fromUrl; }}
</script>
</body>
</html>
"#,
        endpoint = ENDPOINT,
    )
}

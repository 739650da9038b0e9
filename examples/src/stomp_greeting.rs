//! Spring's getting-started STOMP app ("Using WebSocket to build an interactive web
//! application") rebuilt on `sockjs-stomp`: the page sends `{"name":"Fred"}` to `/app/hello`,
//! the server answers `{"content":"Hello, Fred!"}` on `/topic/greetings`.
//!
//! | Spring | here |
//! |---|---|
//! | `registry.addEndpoint("/gs-guide-websocket").withSockJS()` | `StompBroker::builder("/gs-guide-websocket")` |
//! | `config.setApplicationDestinationPrefixes("/app")` | the default [`Routing`](sockjs_stomp::Routing) |
//! | `config.enableSimpleBroker("/topic")` | the default broker prefixes (`/topic`, `/queue`) |
//! | `@MessageMapping("/hello") @SendTo("/topic/greetings")` | `.route("/hello", greet)` publishing to `/topic/greetings` |
//!
//! The page is written the way the tutorial's is: `<script>` tags for sockjs-client and
//! stomp.js 2.3.3 (at the WebJars paths Spring serves them from), `Stomp.over(new
//! SockJS('/gs-guide-websocket'))`, Connect and Disconnect buttons, a name field and a table
//! of greetings. The server serves the two libraries itself from files it is given (the
//! tests pass the npm packages' files), or the page loads them from a CDN.

use serde::Deserialize;
use sockjs_stomp::broker::{AppMessage, BuildError, Message, StompBroker};

/// The endpoint's prefix, the tutorial's.
pub const ENDPOINT: &str = "/gs-guide-websocket";

#[derive(Deserialize)]
struct HelloMessage {
    name: String,
}

/// `@MessageMapping("/hello")`: a greeting for the name, to `/topic/greetings`.
pub async fn greet(message: AppMessage) {
    let name = match serde_json::from_str::<HelloMessage>(&message.body) {
        Ok(hello) => hello.name,
        Err(e) => {
            tracing::debug!(error = %e, "not a HelloMessage; ignored");
            return;
        }
    };
    let greeting = serde_json::json!({ "content": format!("Hello, {name}!") });
    if let Err(e) = message
        .broker()
        .publish("/topic/greetings", Message::json(greeting.to_string()))
    {
        tracing::warn!(error = %e, "greeting not published");
    }
}

/// The broker of the greeting app, on the tutorial's endpoint.
pub fn broker(sockjs: sockjs_hyper::Config) -> Result<StompBroker, BuildError> {
    StompBroker::builder(ENDPOINT)
        .sockjs_config(sockjs)
        .route("/hello", greet)
        .build()
}

/// Where the page loads the client libraries from.
#[derive(Clone, Debug)]
pub struct Scripts {
    /// sockjs-client (the tutorial: `/webjars/sockjs-client/sockjs.min.js`).
    pub sockjs: String,
    /// stomp.js 2.3.3 (the tutorial: `/webjars/stomp-websocket/stomp.min.js`).
    pub stomp: String,
}

/// The WebJars paths this server answers when it is given the files.
pub const WEBJAR_SOCKJS: &str = "/webjars/sockjs-client/sockjs.min.js";
/// See [`WEBJAR_SOCKJS`].
pub const WEBJAR_STOMP: &str = "/webjars/stomp-websocket/stomp.min.js";

/// The page (`index.html` and `app.js` of the tutorial, in one file).
pub fn page(scripts: &Scripts) -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Hello WebSocket</title>
<style>
  body {{ font-family: sans-serif; margin: 2em; color: #222; }}
  .row {{ display: flex; gap: 3em; align-items: flex-end; margin-bottom: 1.5em; }}
  button {{ padding: .4em 1em; margin-right: .3em; }}
  input {{ padding: .35em; }}
  table {{ border-collapse: collapse; min-width: 30em; }}
  th, td {{ border-bottom: 1px solid #ccc; text-align: left; padding: .4em; }}
  #conversation {{ display: none; }}
</style>
<script src="{sockjs}"></script>
<script src="{stomp}"></script>
</head>
<body>
<noscript><h2>This page needs JavaScript.</h2></noscript>
<div class="row">
  <form id="connection">
    <label>WebSocket connection:</label>
    <button id="connect" type="submit">Connect</button>
    <button id="disconnect" type="button" disabled>Disconnect</button>
  </form>
  <form id="greet">
    <label for="name">What is your name?</label>
    <input type="text" id="name" placeholder="Your name here...">
    <button id="send" type="submit">Send</button>
  </form>
</div>
<table id="conversation">
  <thead><tr><th>Greetings</th></tr></thead>
  <tbody id="greetings"></tbody>
</table>
<script>
var stompClient = null;

function setConnected(connected) {{
  document.getElementById('connect').disabled = connected;
  document.getElementById('disconnect').disabled = !connected;
  document.getElementById('conversation').style.display = connected ? 'table' : 'none';
  document.getElementById('greetings').innerHTML = '';
}}

function connect() {{
  var socket = new SockJS('{endpoint}');
  stompClient = Stomp.over(socket);
  stompClient.connect({{}}, function (frame) {{
    setConnected(true);
    console.log('Connected: ' + frame);
    stompClient.subscribe('/topic/greetings', function (greeting) {{
      showGreeting(JSON.parse(greeting.body).content);
    }});
  }});
}}

function disconnect() {{
  if (stompClient !== null) {{
    stompClient.disconnect();
  }}
  setConnected(false);
  console.log('Disconnected');
}}

function sendName() {{
  stompClient.send('/app/hello', {{}}, JSON.stringify({{'name': document.getElementById('name').value}}));
}}

function showGreeting(message) {{
  var row = document.createElement('tr');
  var cell = document.createElement('td');
  cell.textContent = message;
  row.appendChild(cell);
  document.getElementById('greetings').appendChild(row);
}}

document.getElementById('connection').onsubmit = function (e) {{ e.preventDefault(); connect(); }};
document.getElementById('disconnect').onclick = function () {{ disconnect(); }};
document.getElementById('greet').onsubmit = function (e) {{ e.preventDefault(); sendName(); }};
</script>
</body>
</html>
"#,
        sockjs = scripts.sockjs,
        stomp = scripts.stomp,
        endpoint = ENDPOINT,
    )
}

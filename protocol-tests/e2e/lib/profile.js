'use strict';

// What the suite expects where servers deliberately differ.
//
// The default, `sockjs-rs`, is our server. `SOCKJS_E2E_PROFILE=sockjs-node`
// expects sockjs-node 0.3.24 (protocol-tests/reference-node), so the suite
// itself can be validated against the reference implementation:
//   - lone surrogate: sockjs-client sends '\ud800' as the JSON escape
//     "\ud800"; our server documents that it becomes U+FFFD, sockjs-node
//     echoes it as it came.
//   - websocket heartbeat: our server sends `h` frames, which fire
//     sockjs-client's `heartbeat` event; sockjs-node sends a websocket ping,
//     which the client never sees, so that test is skipped for it.
const PROFILES = {
  'sockjs-rs': { loneSurrogateEcho: '\ufffd', websocketHeartbeatFrames: true },
  'sockjs-node': { loneSurrogateEcho: '\ud800', websocketHeartbeatFrames: false },
};

function profileName() {
  return process.env.SOCKJS_E2E_PROFILE || 'sockjs-rs';
}

function profile() {
  const name = profileName();
  const p = PROFILES[name];
  if (!p) {
    throw new Error(
      `SOCKJS_E2E_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}, not ${JSON.stringify(name)}`,
    );
  }
  return p;
}

module.exports = { profile, profileName, PROFILES };

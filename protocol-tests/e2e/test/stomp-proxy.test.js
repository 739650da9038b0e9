'use strict';

// STOMP heart-beats keep a session alive behind a proxy whose read timeout is shorter than
// the idle time: a real nginx (lib/nginx.js) with proxy_read_timeout 15 s in front of the
// conformance server, whose SockJS `h` frames come every 25 s (the protocol default, so they
// alone would not keep the line up) and whose /stomp offers STOMP heart-beats every 10 s
// (Spring's default).
//
//   (a) @stomp/stompjs 7 on websocket and (b) stompjs 2.3.3 on xhr-streaming, both asking
//       for heart-beats (10000,10000): idle for 35 s, still connected, and an echo
//       round trip works afterwards;
//   (c) the control: @stomp/stompjs 7 on websocket without heart-beats (0,0): nginx cuts
//       the idle session (close 1006) before the 35 s are over.
//
// The three run in parallel (about 40 s). Skipped with SOCKJS_URL.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const SockJS = require('sockjs-client');
const StompJs = require('@stomp/stompjs');
const Stomp = require('stompjs');

const { startConformanceServer } = require('../lib/process');
const { startNginx } = require('../lib/nginx');
const { connect, subscribed } = require('../lib/stomp-scenarios');

const PROXY_READ_TIMEOUT_SECS = 15;
const IDLE_MS = 35_000;
const BOUNDED = { timeout: 90_000 };
const SKIP = process.env.SOCKJS_URL ? 'SOCKJS_URL is set: this test starts its own server and proxy' : false;

describe(`STOMP heart-beats behind nginx (proxy_read_timeout ${PROXY_READ_TIMEOUT_SECS}s)`, { skip: SKIP, concurrency: 3 }, () => {
  let server;
  let nginx;

  before(async () => {
    server = await startConformanceServer({ name: 'stomp-proxy', heartbeatSecs: 25 });
    nginx = await startNginx({
      name: 'stomp-proxy',
      proxies: [{ upstreamPort: server.port, readTimeoutSecs: PROXY_READ_TIMEOUT_SECS }],
    });
  });

  after(async () => {
    if (nginx) await nginx.stop();
    if (server) await server.stop();
  });

  const env = (lib, transport) => ({ SockJS, StompJs, Stomp, base: nginx.urls[0], transport, lib });

  /** Resolves with the close event if the session closed within `ms`, else null. */
  const idleFor = (conn, ms) => Promise.race([conn.closed, new Promise((r) => setTimeout(() => r(null), ms))]);

  for (const [lib, transport, label] of [
    ['v7', 'websocket', '@stomp/stompjs 7'],
    ['v2', 'xhr-streaming', 'stompjs 2.3.3'],
  ]) {
    it(`${label} on ${transport} with heart-beats stays connected ${IDLE_MS / 1000} s idle`, BOUNDED, async () => {
      const conn = await connect(env(lib, transport), { login: `idle-${lib}`, heartbeat: [10000, 10000] });
      try {
        assert.equal(conn.connected['heart-beat'], '10000,10000');
        const sub = await subscribed(conn, '/topic/echo');
        const close = await idleFor(conn, IDLE_MS);
        assert.equal(close, null, `the session closed while idle: ${conn.describe()}\n${nginx.describe()}`);
        // 35 s at one heart-beat per 10 s from the server.
        assert.ok(conn.heartBeats >= 2, `server heart-beats seen: ${conn.heartBeats}`);
        const body = `after ${IDLE_MS / 1000} s idle (${lib})`;
        conn.send('/app/echo', body);
        await sub.inbox.next((m) => m.body === body, 'the echo after the idle period');
        if (transport === 'xhr-streaming') {
          // sockjs-client silently reopens a streaming request that ends, so a cut would not
          // show as a close: the one streaming request must still be open (nginx logs a
          // request when it ends).
          const ended = nginx
            .accessLog(0)
            .split('\n')
            .filter((l) => l.includes('/xhr_streaming'));
          assert.deepEqual(ended, [], 'no xhr_streaming request ended during the idle period');
        }
      } finally {
        await conn.disconnect();
      }
    });
  }

  it('control: without heart-beats nginx cuts the idle websocket session', BOUNDED, async () => {
    const conn = await connect(env('v7', 'websocket'), { login: 'idle-none', heartbeat: [0, 0] });
    // The server offers 10000,10000; a client asking for 0,0 negotiates none either way.
    assert.equal(conn.connected['heart-beat'], '10000,10000');
    const close = await idleFor(conn, IDLE_MS);
    assert.ok(close, `nginx did not cut the idle session: ${conn.describe()}`);
    assert.equal(close.code, 1006, `the proxy's cut is an abnormal close: ${conn.describe()}`);
    assert.match(nginx.errorLog(), /upstream timed out/, "nginx says it cut the connection for its read timeout");
  });
});

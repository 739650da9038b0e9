'use strict';

// Why the heartbeat matters: a real nginx in front of the server cuts a
// connection on which no byte has crossed for proxy_read_timeout (10 s here),
// and the browser (here sockjs-client in Node) sees close code 1006. The
// server's `h` frame every N seconds keeps the line busy when N is below that
// timeout.
//
//   (a) server heartbeat 25 s: an idle websocket session is cut after ~10 s;
//   (b) server heartbeat 5 s: idle websocket and xhr-streaming sessions stay
//       up for 30 s and still echo afterwards.
//
// The nginx config is what a SockJS deployment needs (lib/nginx.js):
// proxy_http_version 1.1, the websocket Upgrade/Connection headers (via a
// map), proxy_buffering off, proxy_read_timeout 10s. The three cases run in
// parallel (about 35 s in all). Skipped with SOCKJS_URL: the heartbeat of a
// server we do not start is not ours to set.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startConformanceServer } = require('../lib/process');
const { startNginx } = require('../lib/nginx');
const { openClient, closeAll } = require('../lib/client');

const PROXY_READ_TIMEOUT_SECS = 10;
const IDLE_MS = 30_000;
const TEST_TIMEOUT_MS = 75_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };
const SKIP = process.env.SOCKJS_URL
  ? 'SOCKJS_URL is set: the proxy tests start servers with their own heartbeat intervals'
  : false;

describe(`SockJS behind nginx (proxy_read_timeout ${PROXY_READ_TIMEOUT_SECS}s)`, { skip: SKIP, concurrency: 3 }, () => {
  let slow; // heartbeat 25 s (the protocol default), above the proxy's timeout
  let fast; // heartbeat 5 s, below it
  let nginx;
  const SLOW = 0;
  const FAST = 1;

  before(async () => {
    [slow, fast] = await Promise.all([
      startConformanceServer({ name: 'proxy-hb25', heartbeatSecs: 25 }),
      startConformanceServer({ name: 'proxy-hb5', heartbeatSecs: 5 }),
    ]);
    nginx = await startNginx({
      name: 'proxy',
      proxies: [
        { upstreamPort: slow.port, readTimeoutSecs: PROXY_READ_TIMEOUT_SECS },
        { upstreamPort: fast.port, readTimeoutSecs: PROXY_READ_TIMEOUT_SECS },
      ],
    });
  });

  after(async () => {
    if (nginx) await nginx.stop();
    await Promise.all([slow?.stop(), fast?.stop()]);
  });

  /** Opens through nginx and proves the path works with one echo; resolves when that echo is back. */
  async function openThroughProxy(which, transport) {
    const client = await openClient(`${nginx.urls[which]}/echo`, { transports: [transport] });
    try {
      client.send('through the proxy');
      await client.waitMessageEqual('through the proxy');
      return client;
    } catch (err) {
      closeAll(client);
      err.message += `\n${nginx.describe()}`;
      throw err;
    }
  }

  /** Stays idle for `ms`; resolves with the close event if the session closed meanwhile, else null. */
  function idleFor(client, ms) {
    return client.waitClose(ms).then(
      (ev) => ev,
      () => null,
    );
  }

  it('(a) heartbeat 25 s: nginx cuts an idle websocket session, the client sees 1006 after ~10 s', BOUNDED, async () => {
    const client = await openThroughProxy(SLOW, 'websocket');
    try {
      const idleSince = Date.now();
      const ev = await idleFor(client, 20_000);
      const idleMs = Date.now() - idleSince;
      assert.ok(
        ev,
        `nginx did not cut the idle session within 20 s; client: ${client.describe()}\n${nginx.describe()}`,
      );
      assert.equal(ev.code, 1006, `close code; client: ${client.describe()}\n${nginx.describe()}`);
      // The cut comes from proxy_read_timeout (10 s without a byte), not from anything earlier.
      assert.ok(
        idleMs >= (PROXY_READ_TIMEOUT_SECS - 1) * 1000 && idleMs <= 16_000,
        `the session was cut after ${idleMs} ms idle, expected ~${PROXY_READ_TIMEOUT_SECS} s ` +
          `(10-15 s); client: ${client.describe()}`,
      );
      assert.equal(client.heartbeats, 0, `no heartbeat expected before the cut; client: ${client.describe()}`);
      assert.match(
        nginx.errorLog(),
        /upstream timed out .* while proxying upgraded connection/,
        'nginx must say it cut the websocket for its read timeout',
      );
    } finally {
      closeAll(client);
    }
  });

  for (const transport of ['websocket', 'xhr-streaming']) {
    it(`(b) heartbeat 5 s: an idle ${transport} session stays up ${IDLE_MS / 1000} s and still echoes`, BOUNDED, async () => {
      const client = await openThroughProxy(FAST, transport);
      try {
        const beatsBefore = client.heartbeats;
        const ev = await idleFor(client, IDLE_MS);
        assert.equal(
          ev,
          null,
          `the session closed while idle; client: ${client.describe()}\n${nginx.describe()}`,
        );
        // 30 s at one `h` every 5 s is 6; at least 4 leaves room for timer slack.
        assert.ok(
          client.heartbeats - beatsBefore >= 4,
          `expected at least 4 heartbeats in ${IDLE_MS / 1000} s idle; client: ${client.describe()}`,
        );
        if (transport === 'xhr-streaming') {
          // sockjs-client silently re-polls when a streaming response ends, so a cut
          // would not show as a close: the one streaming request must still be open,
          // i.e. not yet in nginx's access log (a line is written when a request ends).
          const ended = nginx
            .accessLog(FAST)
            .split('\n')
            .filter((l) => l.includes('/xhr_streaming'));
          assert.deepEqual(ended, [], 'no xhr_streaming request may have ended during the idle period');
        }
        client.send('after 30 s idle');
        await client.waitMessageEqual('after 30 s idle');
      } finally {
        closeAll(client);
      }
    });
  }
});

'use strict';

// sockjs-client 1.6.1 in headless Chromium against the conformance server,
// one forced transport at a time, including the browser-only ones (iframe-*,
// jsonp-polling) that the Node tests cannot run.
//
// The test page comes from a static server on another loopback port than the
// SockJS server, so every request is cross-origin: /info and the xhr
// transports use CORS with credentials, and the iframe transports load the
// server's /iframe.html, whose script (--sockjs-url) is the same local bundle.
// Nothing is loaded from the internet.
//
// One browser for the whole file; one page per transport.
//
// SOCKJS_E2E_BROWSER_TRANSPORTS=websocket,jsonp-polling limits a run to some
// transports. With SOCKJS_URL (an external server) this file is skipped: the
// iframe page of a server we do not start cannot be pointed at the local bundle.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startConformanceServer } = require('../lib/process');
const { launchBrowser, startStaticServer, harnessRoutes, PageClient } = require('../lib/browser');
const { echoBatch, assertBatch } = require('../lib/messages');

const ALL_BROWSER_TRANSPORTS = Object.freeze([
  'websocket',
  'xhr-streaming',
  'xhr-polling',
  'eventsource',
  'iframe-eventsource',
  'iframe-htmlfile',
  'iframe-xhr-polling',
  'jsonp-polling',
]);

function browserTransports() {
  const override = process.env.SOCKJS_E2E_BROWSER_TRANSPORTS;
  if (!override) return ALL_BROWSER_TRANSPORTS;
  return override.split(',').map((s) => s.trim()).filter(Boolean);
}

const HEARTBEAT_SECS = 1;
const TEST_TIMEOUT_MS = 90_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };
const SKIP = process.env.SOCKJS_URL
  ? 'SOCKJS_URL is set: the browser tests need a server they start (its --sockjs-url must be the local bundle)'
  : false;

describe('sockjs-client in Chromium', { skip: SKIP }, () => {
  let statics;
  let server;
  let browser;

  before(async () => {
    statics = await startStaticServer(harnessRoutes());
    // A 1 s heartbeat for the whole file: `h` frames then interleave with the
    // data of every test, and the heartbeat test takes seconds.
    server = await startConformanceServer({
      name: 'browser',
      heartbeatSecs: HEARTBEAT_SECS,
      sockjsUrl: `${statics.origin}/sockjs.min.js`,
    });
    browser = await launchBrowser({ name: 'browser' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (statics) await statics.close();
  });

  const url = (endpoint) => `${server.baseUrl}${endpoint}`;

  /** A fresh page of the static origin with sockjs-client and the harness loaded. */
  async function openPage() {
    const page = await browser.newPage();
    await page.goto(`${statics.origin}/index.html`, { timeout: 15_000 });
    await page.waitForFunction(() => window.SockJS && window.harness, null, { timeout: 15_000 });
    return page;
  }

  for (const transport of browserTransports()) {
    describe(`browser transport ${transport}`, () => {
      const transports = [transport];
      let page;
      const open = (endpoint) => PageClient.open(page, browser.pageErrors, url(endpoint), { transports });

      before(async () => {
        page = await openPage();
      });

      after(async () => {
        if (page) await page.close();
      });

      it('opens on the forced transport, echoes, and closes cleanly with 1000', BOUNDED, async () => {
        const client = await open('/echo');
        try {
          assert.equal((await client.state()).transport, transport);
          await client.send('ping');
          await client.waitMessageEqual('ping');
          await client.close();
          const ev = await client.waitClose();
          assert.equal(ev.code, 1000, `close code; client: ${await client.describe()}`);
          assert.equal(ev.wasClean, true, `wasClean; client: ${await client.describe()}`);
        } finally {
          await client.close();
        }
      });

      // The whole batch on every transport, 1 MiB included: even jsonp-polling's
      // url-encoded form POST (well over 1 MiB on the wire) and its script-tag polls take it.
      it('echoes an ordered batch of tricky and large messages (up to 1 MiB) intact', BOUNDED, async () => {
        const batch = echoBatch();
        const client = await open('/echo');
        try {
          await client.send(...batch.map((m) => m.sent));
          const received = await client.waitMessages(batch.length, 75_000);
          assertBatch(received, batch);
          assert.equal((await client.state()).close, null, `no close expected; client: ${await client.describe()}`);
        } finally {
          await client.close();
        }
      });

      it('/close: opens, then reports 3000 "Go away!"', BOUNDED, async () => {
        const client = await PageClient.create(page, browser.pageErrors, url('/close'), { transports });
        try {
          const ev = await client.waitClose();
          const st = await client.state();
          assert.equal(st.opened, true, `the open event must come first; client: ${await client.describe()}`);
          assert.equal(st.transport, transport);
          assert.equal(ev.code, 3000, `close code; client: ${await client.describe()}`);
          assert.equal(ev.reason, 'Go away!', `close reason; client: ${await client.describe()}`);
          assert.equal(ev.wasClean, true, `wasClean; client: ${await client.describe()}`);
        } finally {
          await client.close();
        }
      });

      it(`fires heartbeat events on an idle connection (server heartbeat ${HEARTBEAT_SECS} s)`, BOUNDED, async () => {
        const client = await open('/echo');
        try {
          // Only heartbeats after the open count (the xhr-streaming prelude is taken
          // for one); two of them prove a cadence. The bound is not a timing check.
          const atOpen = (await client.state()).heartbeats;
          await client.waitHeartbeats(atOpen + 2, (HEARTBEAT_SECS * 2 + 8) * 1000);
          await client.send('still alive');
          await client.waitMessageEqual('still alive');
        } finally {
          await client.close();
        }
      });

      if (transport.startsWith('iframe-')) {
        it("the server's iframe page loaded the local bundle given by --sockjs-url", BOUNDED, () => {
          // Chromium sends the iframe's origin (the SockJS server) as Referer.
          const fromIframe = statics.requests.filter(
            (r) => r.path === '/sockjs.min.js' && r.referer && r.referer.startsWith(server.baseUrl),
          );
          assert.ok(
            fromIframe.length > 0,
            `no request for /sockjs.min.js from ${server.baseUrl}; the static server saw ` +
              JSON.stringify(statics.requests.slice(-20)),
          );
        });
      }

      it('the page saw no uncaught script errors', BOUNDED, () => {
        // sockjs-client cannot abort a jsonp poll: after close() removes its
        // callback, the poll's answer (a heartbeat here) still runs as a script
        // and calls the missing callback. That, and only that, is expected.
        const known = /^_jp\.a[0-9a-z]+ is not a function$/;
        const errors = browser.pageErrors(page).filter((e) => !(transport === 'jsonp-polling' && known.test(e)));
        assert.deepEqual(errors, [], 'uncaught errors in the page (see test-output/browser-console.log)');
      });
    });
  }

  describe('browser endpoints (transport chosen by sockjs-client unless stated)', () => {
    let page;
    const create = (endpoint, opts) => PageClient.create(page, browser.pageErrors, url(endpoint), opts);
    const open = (endpoint, opts) => PageClient.open(page, browser.pageErrors, url(endpoint), opts);

    before(async () => {
      page = await openPage();
    });

    after(async () => {
      if (page) await page.close();
    });

    it('/broadcast: a message reaches two clients (websocket and xhr-streaming)', BOUNDED, async () => {
      let a;
      let b;
      try {
        a = await open('/broadcast', { transports: ['websocket'] });
        b = await open('/broadcast', { transports: ['xhr-streaming'] });
        const id = `browser ${process.pid} ${Date.now()} ${Math.random()}`;
        // A client that gets its own hello back is in the broadcast set.
        await a.send(`hello a ${id}`);
        await b.send(`hello b ${id}`);
        await Promise.all([a.waitMessageEqual(`hello a ${id}`), b.waitMessageEqual(`hello b ${id}`)]);
        const token = `broadcast ${id}`;
        await a.send(token);
        await Promise.all([a.waitMessageEqual(token), b.waitMessageEqual(token)]);
      } finally {
        if (a) await a.close();
        if (b) await b.close();
      }
    });

    it('/amplify: message n answers 2^n "x" characters, in order', BOUNDED, async () => {
      const ns = [1, 4, 10, 16];
      const client = await open('/amplify');
      try {
        await client.send(...ns.map(String));
        const received = await client.waitMessages(ns.length);
        ns.forEach((n, i) => {
          const got = received[i];
          assert.ok(
            got === 'x'.repeat(2 ** n),
            `answer #${i} to ${n}: expected ${2 ** n} "x", got ${typeof got} of length ${got?.length} ` +
              `starting ${JSON.stringify(String(got).slice(0, 20))}`,
          );
        });
      } finally {
        await client.close();
      }
    });

    it('/ticker: delivers at least 2 messages', BOUNDED, async () => {
      const client = await open('/ticker');
      try {
        await client.waitMessages(2, 10_000);
      } finally {
        await client.close();
      }
    });

    it('/disabled_websocket_echo: opens on a non-websocket transport and echoes', BOUNDED, async () => {
      const client = await open('/disabled_websocket_echo');
      try {
        const { transport } = await client.state();
        assert.ok(
          transport && transport !== 'websocket',
          `expected a non-websocket transport (/info says "websocket": false); client: ${await client.describe()}`,
        );
        const messages = ['one', 'two \u2028 "three"', '😀'];
        await client.send(...messages);
        assert.deepEqual(await client.waitMessages(messages.length), messages);
      } finally {
        await client.close();
      }
    });

    it('/disabled_websocket_echo with only websocket allowed fails with 2000', BOUNDED, async () => {
      const client = await create('/disabled_websocket_echo', { transports: ['websocket'] });
      try {
        const ev = await client.waitClose();
        assert.equal((await client.state()).opened, false, `must not open; client: ${await client.describe()}`);
        assert.equal(ev.code, 2000, `close code; client: ${await client.describe()}`);
      } finally {
        await client.close();
      }
    });

    for (const transports of [undefined, ['xhr-polling']]) {
      const label = transports ? `forced ${transports[0]}` : 'any transport';
      it(`/cookie_needed_echo (${label}): echoes, and the browser keeps JSESSIONID`, BOUNDED, async () => {
        if (transports) await browser.context.clearCookies();
        const client = await open('/cookie_needed_echo', { transports });
        try {
          const messages = ['a', 'b', 'c'];
          await client.send(...messages);
          assert.deepEqual(await client.waitMessages(messages.length), messages);
          if (transports) {
            // Set by a cross-origin, credentialed XHR: stored only if the CORS
            // answer allowed credentials.
            const cookies = await browser.context.cookies(server.baseUrl);
            assert.ok(
              cookies.some((c) => c.name === 'JSESSIONID'),
              `JSESSIONID cookie expected for ${server.baseUrl}, the browser has ` +
                `${JSON.stringify(cookies)}; client: ${await client.describe()}`,
            );
          }
        } finally {
          await client.close();
        }
      });
    }
  });
});

'use strict';

// sockjs-client 1.6.1 in headless Chromium against the TLS example
// (examples/examples/tls.rs): HTTPS with a self-signed certificate that this
// test makes with openssl, HTTP/2 and HTTP/1.1 on one port by ALPN. Chromium
// runs with --ignore-certificate-errors.
//
// For xhr-streaming, xhr-polling, eventsource and websocket, one forced
// transport at a time, checking which HTTP version the page actually used:
//   - the test harness page (served by an HTTPS static server on another port,
//     so every request is cross-origin with CORS): the echo batch (1 MiB
//     message included), heartbeats, a clean close, and the DevTools
//     protocol's Network events: the protocol of every response, streaming
//     ones included, and the status of the websocket handshake (200 is an
//     RFC 8441 extended CONNECT over HTTP/2, 101 an HTTP/1.1 upgrade);
//   - the example's own page (same origin, as a person uses it): a message
//     typed into its form comes back, and the page's Resource Timing
//     (nextHopProtocol, which cross-origin requests do not expose) says h2;
//   - Chromium with --disable-http2: the same page on the same port works over
//     HTTP/1.1, the websocket with a 101 upgrade.
//
// The TLS binary is target/debug/examples/tls (scripts/test.sh builds it;
// SOCKJS_TLS_BIN overrides).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { startProcess, freePort, REPO_ROOT } = require('../lib/process');
const { launchBrowser, startStaticServer, harnessRoutes, PageClient } = require('../lib/browser');
const { echoBatch, assertBatch } = require('../lib/messages');

const TRANSPORTS = Object.freeze(['xhr-streaming', 'xhr-polling', 'eventsource', 'websocket']);
const HEARTBEAT_SECS = 1;
const TEST_TIMEOUT_MS = 90_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };

function tlsBin() {
  return process.env.SOCKJS_TLS_BIN || path.join(REPO_ROOT, 'target', 'debug', 'examples', 'tls');
}

/** A throwaway self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
function makeCertificate(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe', timeout: 30_000 },
  );
  return { cert, key };
}

describe('sockjs-client in Chromium over HTTPS (HTTP/2)', () => {
  let certDir;
  let statics;
  let server;
  let browser;
  let http1Browser;
  let baseUrl;

  before(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockjs-e2e-tls-'));
    const { cert, key } = makeCertificate(certDir);
    statics = await startStaticServer(harnessRoutes(), { tls: { cert, key } });
    const port = await freePort();
    server = await startProcess({
      name: 'tls-server',
      command: tlsBin(),
      args: [],
      ports: [port],
      env: {
        LISTEN: `127.0.0.1:${port}`,
        TLS_CERT: cert,
        TLS_KEY: key,
        SOCKJS_CLIENT_URL: `${statics.origin}/sockjs.min.js`,
        HEARTBEAT_SECS: String(HEARTBEAT_SECS),
        RUST_LOG: process.env.RUST_LOG || 'info',
      },
    });
    baseUrl = `https://127.0.0.1:${port}`;
    browser = await launchBrowser({ name: 'tls', extraArgs: ['--ignore-certificate-errors'] });
  });

  after(async () => {
    if (browser) await browser.close();
    if (http1Browser) await http1Browser.close();
    if (server) await server.stop();
    if (statics) await statics.close();
    if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
  });

  /**
   * A fresh page of `b` at `url`, with a record of the Network events of its
   * requests to the TLS server.
   */
  async function openPage(b, url) {
    const page = await b.newPage();
    const cdp = await b.context.newCDPSession(page);
    const responses = [];
    const handshakes = [];
    cdp.on('Network.responseReceived', ({ response }) => {
      if (response.url.startsWith(baseUrl)) {
        responses.push({ path: new URL(response.url).pathname, protocol: response.protocol, status: response.status });
      }
    });
    cdp.on('Network.webSocketHandshakeResponseReceived', ({ response }) => {
      handshakes.push({ status: response.status });
    });
    await cdp.send('Network.enable');
    await page.goto(url, { timeout: 15_000 });
    return { page, responses, handshakes };
  }

  /** The path every transport's receiving requests end with (none for websocket). */
  const RECEIVER = { 'xhr-streaming': '/xhr_streaming', 'xhr-polling': '/xhr', eventsource: '/eventsource' };

  /**
   * Checks that /info and the transport's own requests were made, all over
   * `protocol` (CDP's names: h2, http/1.1), and that the websocket handshake,
   * if any, had `wsStatus`.
   */
  function assertProtocols(transport, { responses, handshakes }, protocol, wsStatus) {
    const seen = `Network responses: ${JSON.stringify(responses)}, websocket handshakes: ${JSON.stringify(handshakes)}`;
    assert.ok(responses.some((r) => r.path === '/echo/info'), seen);
    for (const r of responses) assert.equal(r.protocol, protocol, seen);
    const receiver = RECEIVER[transport];
    if (receiver) {
      assert.ok(responses.some((r) => r.path.endsWith(receiver) && r.status === 200), `${receiver}: ${seen}`);
      assert.ok(responses.some((r) => r.path.endsWith('/xhr_send')), `xhr_send: ${seen}`);
      assert.equal(handshakes.length, 0, seen);
    } else {
      assert.deepEqual(handshakes.map((h) => h.status), [wsStatus], seen);
    }
  }

  /** Opens the example's page forcing `transport`, types a message, and waits for its echo. */
  async function useExamplePage(b, transport) {
    const opened = await openPage(b, `${baseUrl}/?transport=${transport}`);
    const { page } = opened;
    await page.waitForFunction(() => window.demo && window.demo.transport, null, { timeout: 20_000 });
    assert.equal(await page.evaluate(() => window.demo.transport), transport);
    const text = `typed over ${transport}`;
    await page.fill('#m', text);
    await page.click('button');
    await page.waitForFunction((t) => window.demo.received.includes(t), text, { timeout: 15_000 });
    return opened;
  }

  for (const transport of TRANSPORTS) {
    it(`${transport}: the harness page echoes, beats and closes, all over HTTP/2`, BOUNDED, async () => {
      const opened = await openPage(browser, `${statics.origin}/index.html`);
      const { page } = opened;
      let client;
      try {
        await page.waitForFunction(() => window.SockJS && window.harness, null, { timeout: 15_000 });
        client = await PageClient.open(page, browser.pageErrors, `${baseUrl}/echo`, { transports: [transport] });
        const batch = echoBatch();
        await client.send(...batch.map((m) => m.sent));
        assertBatch(await client.waitMessages(batch.length, 60_000), batch);
        await client.waitHeartbeats(1, 15_000);
        await client.close();
        const ev = await client.waitClose();
        assert.equal(ev.code, 1000, `close code; client: ${await client.describe()}`);
        // Websockets too: Chromium opens them as RFC 8441 streams of the HTTP/2
        // connection when the server advertises extended CONNECT.
        assertProtocols(transport, opened, 'h2', 200);
      } finally {
        if (client) await client.close();
        await page.close();
      }
    });

    it(`${transport}: the example's own page works, its Resource Timing says h2`, BOUNDED, async () => {
      const opened = await useExamplePage(browser, transport);
      try {
        assertProtocols(transport, opened, 'h2', 200);
        const timings = await opened.page.evaluate(() => window.demo.versions());
        const seen = `Resource Timing: ${JSON.stringify(timings)}`;
        assert.ok(timings.some((t) => t.path === '/echo/info'), seen);
        for (const t of timings) assert.equal(t.protocol, 'h2', seen);
      } finally {
        await opened.page.close();
      }
    });
  }

  describe('Chromium without HTTP/2', () => {
    before(async () => {
      http1Browser = await launchBrowser({
        name: 'tls-http1',
        extraArgs: ['--ignore-certificate-errors', '--disable-http2'],
      });
    });

    for (const transport of TRANSPORTS) {
      it(`${transport}: the same port serves HTTP/1.1, websockets by upgrade`, BOUNDED, async () => {
        const opened = await useExamplePage(http1Browser, transport);
        try {
          assertProtocols(transport, opened, 'http/1.1', 101);
          const timings = await opened.page.evaluate(() => window.demo.versions());
          for (const t of timings) assert.equal(t.protocol, 'http/1.1', `Resource Timing: ${JSON.stringify(timings)}`);
        } finally {
          await opened.page.close();
        }
      });
    }
  });
});

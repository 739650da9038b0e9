'use strict';

// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core,
// a tiny static HTTP server for the test pages, and PageClient: the page-side
// counterpart of lib/client.js (the recorder itself runs in the page, see
// pages/harness.js).
//
// Environment:
//   SOCKJS_E2E_CHROMIUM   the Chromium executable (default /usr/bin/chromium)
//
// playwright-core never downloads a browser; `npx playwright install` is not
// used (and not possible here): scripts/test.sh installs Debian's chromium.

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const { logDir } = require('./process');

const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);
const LAUNCH_TIMEOUT_MS = 30_000;

function chromiumPath() {
  return process.env.SOCKJS_E2E_CHROMIUM || '/usr/bin/chromium';
}

/** The sockjs-client bundle installed by npm (the same version the Node tests use). */
function sockjsBundlePath() {
  return require.resolve('sockjs-client/dist/sockjs.min.js');
}

/**
 * The STOMP client bundles installed by npm, by the path a test page loads them from:
 * @stomp/stompjs 7 (UMD, `window.StompJs`) and stompjs 2.3.3 (`window.Stomp`).
 */
function stompBundleRoutes() {
  const js = 'application/javascript; charset=utf-8';
  // The package's `exports` map hides its bundles from require.resolve; its main entry
  // is bundles/stomp.umd.js, beside the minified one.
  const umd = path.join(path.dirname(require.resolve('@stomp/stompjs')), 'stomp.umd.min.js');
  return {
    '/stomp.umd.min.js': { type: js, file: umd },
    '/stomp-2.3.3.min.js': { type: js, file: require.resolve('stompjs/lib/stomp.min.js') },
  };
}

/**
 * Launches Chromium with a fresh user-data-dir (removed again by close()).
 * Every page's console output and uncaught errors go to
 * test-output/<name>-console.log. `extraArgs` are added to CHROMIUM_ARGS
 * (e.g. --ignore-certificate-errors for a test's self-signed certificate).
 *
 * @returns {Promise<{context: import('playwright-core').BrowserContext,
 *                    newPage: () => Promise<import('playwright-core').Page>,
 *                    pageErrors: (page) => string[], close: () => Promise<void>}>}
 */
async function launchBrowser({ name, extraArgs = [] }) {
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: install Debian's package (apt-get install chromium; ` +
        'scripts/test.sh does) or set SOCKJS_E2E_CHROMIUM',
    );
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockjs-e2e-chromium-'));
  const consoleLog = fs.createWriteStream(path.join(logDir(), `${name}-console.log`));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      timeout: LAUNCH_TIMEOUT_MS,
      viewport: { width: 1000, height: 700 },
    });
  } catch (err) {
    consoleLog.end();
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }

  const errors = new WeakMap();
  let pageNo = 0;
  const attach = (page) => {
    pageNo += 1;
    const label = `page${pageNo}`;
    errors.set(page, []);
    page.on('console', (msg) => consoleLog.write(`[${label} ${msg.type()}] ${msg.text()}\n`));
    page.on('pageerror', (err) => {
      consoleLog.write(`[${label} pageerror] ${err.stack || err}\n`);
      errors.get(page).push(String(err.message || err));
    });
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) consoleLog.write(`[${label}] navigated to ${frame.url()}\n`);
    });
  };
  for (const p of context.pages()) attach(p);
  context.on('page', attach);

  let closing = null;
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      if (!errors.has(page)) attach(page);
      return page;
    },
    pageErrors: (page) => errors.get(page) || [],
    close() {
      if (!closing) {
        closing = (async () => {
          try {
            await context.close();
          } finally {
            await new Promise((resolve) => consoleLog.end(resolve));
            fs.rmSync(userDataDir, { recursive: true, force: true });
          }
        })();
      }
      return closing;
    },
  };
}

/**
 * A static HTTP server on a free loopback port. `routes` maps a path to
 * { type, file } or { type, body }. Everything else is 404. `requests` lists
 * what was asked for: { path, referer, status }. With `tls` ({ cert, key },
 * PEM), it serves HTTPS instead.
 */
function startStaticServer(routes, { tls } = {}) {
  const requests = [];
  return new Promise((resolve, reject) => {
    const handler = (req, res) => {
      const { pathname } = new URL(req.url, 'http://x');
      const route = routes[pathname];
      requests.push({ path: pathname, referer: req.headers.referer ?? null, status: route ? 200 : 404 });
      if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found\n');
        return;
      }
      const body = route.file ? fs.readFileSync(route.file) : Buffer.from(route.body);
      res.writeHead(200, {
        'Content-Type': route.type,
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const server = tls
      ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler)
      : http.createServer(handler);
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      resolve({
        port,
        origin: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/**
 * The routes of the test harness page for startStaticServer: the page
 * (also at `/`), pages/harness.js and the sockjs-client bundle.
 */
function harnessRoutes() {
  const pages = path.join(__dirname, '..', 'pages');
  const html = { type: 'text/html; charset=utf-8', file: path.join(pages, 'index.html') };
  const js = 'application/javascript; charset=utf-8';
  return {
    '/': html,
    '/index.html': html,
    '/harness.js': { type: js, file: path.join(pages, 'harness.js') },
    '/sockjs.min.js': { type: js, file: sockjsBundlePath() },
    '/favicon.ico': { type: 'image/x-icon', body: '' },
  };
}

// Strings cross the DevTools protocol as UTF-8 JSON, where a lone surrogate
// would silently become U+FFFD. Both directions therefore carry JSON text that
// is pure ASCII (every other code unit as \uXXXX), decoded on the other side.
function encodeAscii(value) {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Runs a harness function in the page; a failure carries the page's errors. */
async function callHarness(page, pageErrors, fn, ...args) {
  try {
    return await page.evaluate(({ fn: name, args: a }) => window.harness[name](...a), { fn, args });
  } catch (err) {
    const errs = pageErrors(page);
    if (errs.length) err.message += `\n  page errors: ${errs.slice(-5).join(' | ')}`;
    throw err;
  }
}

/**
 * A sockjs-client SockJS object living in a browser page, recorded by
 * pages/harness.js. Mirrors lib/client.js: every wait is bounded in the page
 * and a timeout says what was awaited and the client's state.
 */
class PageClient {
  constructor(page, pageErrors, id) {
    this.page = page;
    this.pageErrors = pageErrors;
    this.id = id;
  }

  static _nextId = 0;

  /** Creates the SockJS object without waiting for anything. */
  static async create(page, pageErrors, url, { transports, timeoutMs } = {}) {
    PageClient._nextId += 1;
    const id = `c${PageClient._nextId}`;
    await callHarness(page, pageErrors, 'create', id, url, transports ?? null, timeoutMs ?? null);
    return new PageClient(page, pageErrors, id);
  }

  /** Creates it and waits for the open event; with one forced transport, checks it. */
  static async open(page, pageErrors, url, { transports, timeoutMs } = {}) {
    const client = await PageClient.create(page, pageErrors, url, { transports });
    try {
      const transport = await client.waitOpen(timeoutMs);
      if (transports && transports.length === 1 && transport !== transports[0]) {
        throw new Error(
          `opened on transport ${JSON.stringify(transport)}, expected ${JSON.stringify(transports[0])}` +
            `\n  client: ${await client.describe()}`,
        );
      }
      return client;
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
  }

  _call(fn, ...args) {
    return callHarness(this.page, this.pageErrors, fn, this.id, ...args);
  }

  waitOpen(timeoutMs) {
    return this._call('waitOpen', timeoutMs ?? null);
  }

  /** Sends each string in order (one sock.send() each). */
  send(...messages) {
    return this._call('send', encodeAscii(messages));
  }

  /** Waits for `count` messages in total; resolves with all of them (decoded in Node). */
  async waitMessages(count, timeoutMs) {
    return JSON.parse(await this._call('waitMessages', count, timeoutMs ?? null));
  }

  waitMessageEqual(expected, timeoutMs) {
    return this._call('waitMessageEqual', encodeAscii(expected), timeoutMs ?? null);
  }

  waitHeartbeats(count, timeoutMs) {
    return this._call('waitHeartbeats', count, timeoutMs ?? null);
  }

  /** Resolves with {code, reason, wasClean}. */
  waitClose(timeoutMs) {
    return this._call('waitClose', timeoutMs ?? null);
  }

  /** {opened, transport, messages, heartbeats, close} */
  state() {
    return this._call('state');
  }

  describe() {
    return this._call('describe');
  }

  close(code, reason) {
    return this._call('close', code ?? null, reason ?? null);
  }
}

module.exports = {
  launchBrowser,
  startStaticServer,
  harnessRoutes,
  sockjsBundlePath,
  stompBundleRoutes,
  chromiumPath,
  encodeAscii,
  PageClient,
  CHROMIUM_ARGS,
};

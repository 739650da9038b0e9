'use strict';

// STOMP over SockJS in headless Chromium: the scenarios of lib/stomp-scenarios.js (the
// same the Node test runs) inside a page that loads sockjs-client, @stomp/stompjs 7 and
// stompjs 2.3.3 from node_modules (through the test's static server, another origin than
// the STOMP server), on websocket, xhr-streaming and xhr-polling. One browser, one page
// per library and transport, one page at a time: Chromium allows 6 HTTP/1.1 connections per
// host for all its pages, and a scenario holds up to three streaming sessions and their
// sends at once.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { startConformanceServer } = require('../lib/process');
const { launchBrowser, startStaticServer, harnessRoutes, stompBundleRoutes } = require('../lib/browser');
const scenarios = require('../lib/stomp-scenarios');
const expectations = require('../lib/stomp-expectations');

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
const LIBS = { v7: '@stomp/stompjs 7', v2: 'stompjs 2.3.3' };
const BOUNDED = { timeout: 60_000 };
const SKIP = process.env.SOCKJS_URL ? 'SOCKJS_URL is set: the browser tests start their own server' : false;

function stompPageRoutes() {
  const pages = path.join(__dirname, '..', 'pages');
  const js = 'application/javascript; charset=utf-8';
  return {
    ...harnessRoutes(),
    ...stompBundleRoutes(),
    '/stomp.html': { type: 'text/html; charset=utf-8', file: path.join(pages, 'stomp.html') },
    '/stomp-scenarios.js': { type: js, file: path.join(__dirname, '..', 'lib', 'stomp-scenarios.js') },
  };
}

describe('STOMP over SockJS in Chromium: @stomp/stompjs 7 and stompjs 2.3.3', { skip: SKIP, concurrency: 1 }, () => {
  let statics;
  let server;
  let browser;

  before(async () => {
    statics = await startStaticServer(stompPageRoutes());
    server = await startConformanceServer({ name: 'stomp-browser', sockjsUrl: `${statics.origin}/sockjs.min.js` });
    browser = await launchBrowser({ name: 'stomp-browser' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (statics) await statics.close();
  });

  for (const [lib, label] of Object.entries(LIBS)) {
    for (const transport of TRANSPORTS) {
      it(`${label} on ${transport}: ${scenarios.names.join(', ')}`, BOUNDED, async () => {
        const page = await browser.newPage();
        try {
          await page.goto(`${statics.origin}/stomp.html`, { timeout: 15_000 });
          await page.waitForFunction(() => window.SockJS && window.StompJs && window.Stomp && window.stompScenarios, null, {
            timeout: 15_000,
          });
          for (const name of scenarios.names) {
            let summary;
            try {
              summary = await page.evaluate(
                ({ name: n, env }) =>
                  window.stompScenarios.run(n, {
                    ...env,
                    SockJS: window.SockJS,
                    StompJs: window.StompJs,
                    Stomp: window.Stomp,
                  }),
                { name, env: { base: server.baseUrl, transport, lib } },
              );
            } catch (err) {
              const errors = browser.pageErrors(page);
              err.message = `${name}: ${err.message}${errors.length ? `\n  page errors: ${errors.join(' | ')}` : ''}\n${server.describe()}`;
              throw err;
            }
            expectations[name](summary, { lib, transport, assert });
          }
          assert.deepEqual(browser.pageErrors(page), [], 'no uncaught errors in the page');
        } finally {
          await page.close();
        }
      });
    }
  }
});

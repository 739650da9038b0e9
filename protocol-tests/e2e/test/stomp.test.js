'use strict';

// STOMP over SockJS with the real client libraries in Node, against the conformance
// server's /stomp (Spring's defaults): @stomp/stompjs 7 and stompjs 2.3.3, each over
// sockjs-client on websocket, xhr-streaming and xhr-polling. The scenarios are in
// lib/stomp-scenarios.js (shared with the Chromium test, test/stomp-browser.test.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const SockJS = require('sockjs-client');
const StompJs = require('@stomp/stompjs');
const Stomp = require('stompjs');

const { startServer } = require('../lib/server');
const scenarios = require('../lib/stomp-scenarios');

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
const LIBS = { v7: '@stomp/stompjs 7', v2: 'stompjs 2.3.3' };
const BOUNDED = { timeout: 60_000 };

/** What each scenario's summary must show, for either library (shared with the browser test). */
const expectations = require('../lib/stomp-expectations');

describe('STOMP over SockJS in Node: @stomp/stompjs 7 and stompjs 2.3.3', { concurrency: 6 }, () => {
  let server;
  before(async () => {
    server = await startServer({ name: 'stomp' });
  });
  after(async () => {
    if (server) await server.stop();
  });

  for (const [lib, label] of Object.entries(LIBS)) {
    for (const transport of TRANSPORTS) {
      describe(`${label} on ${transport}`, () => {
        for (const name of scenarios.names) {
          it(name, BOUNDED, async () => {
            const env = { SockJS, StompJs, Stomp, base: server.baseUrl, transport, lib };
            let summary;
            try {
              summary = await scenarios.run(name, env);
            } catch (err) {
              err.message += `\n${server.describe()}`;
              throw err;
            }
            expectations[name](summary, { lib, transport, assert });
          });
        }
      });
    }
  }
});

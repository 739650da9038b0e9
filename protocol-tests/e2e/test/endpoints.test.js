'use strict';

// Endpoints whose options change what sockjs-client negotiates.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startServer } = require('../lib/server');
const { Client, openClient, closeAll } = require('../lib/client');

const TEST_TIMEOUT_MS = 60_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };

let server;

before(async () => {
  server = await startServer({ name: 'endpoints' });
});

after(async () => {
  if (server) await server.stop();
});

describe('/disabled_websocket_echo', () => {
  it('with no transport restriction, opens on a non-websocket transport and echoes', BOUNDED, async () => {
    const client = await openClient(`${server.baseUrl}/disabled_websocket_echo`);
    try {
      assert.ok(
        client.sock.transport && client.sock.transport !== 'websocket',
        `expected a non-websocket transport (/info says "websocket": false); client: ${client.describe()}`,
      );
      const messages = ['one', 'two \u2028 "three"', '😀'];
      for (const m of messages) client.send(m);
      assert.deepEqual(await client.waitMessages(messages.length), messages);
    } finally {
      closeAll(client);
    }
  });

  it('with only websocket allowed, fails to open ("All transports failed")', BOUNDED, async () => {
    const client = new Client(`${server.baseUrl}/disabled_websocket_echo`, { transports: ['websocket'] });
    try {
      const ev = await client.waitClose();
      assert.equal(client.opened, false, `must not open; client: ${client.describe()}`);
      assert.equal(ev.code, 2000, `close code; client: ${client.describe()}`);
    } finally {
      closeAll(client);
    }
  });
});

describe('/cookie_needed_echo', () => {
  it('opens on xhr-polling and echoes', BOUNDED, async () => {
    const client = await openClient(`${server.baseUrl}/cookie_needed_echo`, { transports: ['xhr-polling'] });
    try {
      const messages = ['a', 'b', 'c'];
      for (const m of messages) client.send(m);
      assert.deepEqual(await client.waitMessages(messages.length), messages);
    } finally {
      closeAll(client);
    }
  });
});

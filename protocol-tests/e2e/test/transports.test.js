'use strict';

// The real sockjs-client, one forced transport at a time, against the
// conformance server's endpoints.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startServer } = require('../lib/server');
const { Client, openClient, closeAll } = require('../lib/client');
const { echoBatch, assertBatch } = require('../lib/messages');
const { transportsUnderTest } = require('../lib/transports');

// Backstop per test; the awaited conditions have their own, shorter bounds.
const TEST_TIMEOUT_MS = 60_000;
const BOUNDED = { timeout: TEST_TIMEOUT_MS };

let server;

before(async () => {
  server = await startServer({ name: 'transports' });
});

after(async () => {
  if (server) await server.stop();
});

for (const transport of transportsUnderTest()) {
  describe(`transport ${transport}`, () => {
    const transports = [transport];
    const url = (endpoint) => `${server.baseUrl}${endpoint}`;

    it('opens on the forced transport, echoes, and closes cleanly with 1000', BOUNDED, async () => {
      const client = await openClient(url('/echo'), { transports });
      try {
        assert.equal(client.sock.transport, transport);
        client.send('ping');
        await client.waitMessageEqual('ping');
        client.close();
        const ev = await client.waitClose();
        assert.equal(ev.code, 1000, `close code; client: ${client.describe()}`);
        assert.equal(ev.wasClean, true, `wasClean; client: ${client.describe()}`);
      } finally {
        closeAll(client);
      }
    });

    it('echoes an ordered batch of tricky and large messages intact', BOUNDED, async () => {
      const batch = echoBatch();
      const client = await openClient(url('/echo'), { transports });
      try {
        for (const { sent } of batch) client.send(sent);
        const received = await client.waitMessages(batch.length, 45_000);
        assertBatch(received, batch);
        assert.equal(client.closeEvent, null, `no close expected; client: ${client.describe()}`);
      } finally {
        closeAll(client);
      }
    });

    it('/close: opens, then reports 3000 "Go away!"', BOUNDED, async () => {
      const client = new Client(url('/close'), { transports });
      try {
        const ev = await client.waitClose();
        assert.equal(client.opened, true, `the open event must come first; client: ${client.describe()}`);
        assert.equal(client.openTransport, transport);
        assert.equal(ev.code, 3000, `close code; client: ${client.describe()}`);
        assert.equal(ev.reason, 'Go away!', `close reason; client: ${client.describe()}`);
        assert.equal(ev.wasClean, true, `wasClean; client: ${client.describe()}`);
      } finally {
        closeAll(client);
      }
    });

    it('/amplify: message n answers 2^n "x" characters, in order', BOUNDED, async () => {
      const ns = [1, 4, 10, 16];
      const client = await openClient(url('/amplify'), { transports });
      try {
        for (const n of ns) client.send(String(n));
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
        closeAll(client);
      }
    });

    it('/broadcast: a message reaches two clients', BOUNDED, async () => {
      let a;
      let b;
      try {
        a = await openClient(url('/broadcast'), { transports });
        b = await openClient(url('/broadcast'), { transports });
        // Unique, so other sessions of a shared (SOCKJS_URL) server cannot confuse us.
        const id = `${transport} ${process.pid} ${Date.now()} ${Math.random()}`;
        // The `o` frame may reach a client before the server's handler has put its
        // session in the broadcast set. A client that gets its own hello back is
        // in the set: that event, not a delay, tells us both are ready.
        a.send(`hello a ${id}`);
        b.send(`hello b ${id}`);
        await Promise.all([a.waitMessageEqual(`hello a ${id}`), b.waitMessageEqual(`hello b ${id}`)]);
        const token = `broadcast ${id}`;
        a.send(token);
        await Promise.all([a.waitMessageEqual(token), b.waitMessageEqual(token)]);
      } finally {
        closeAll(a, b);
      }
    });

    it('/ticker: delivers at least 2 messages', BOUNDED, async () => {
      const client = await openClient(url('/ticker'), { transports });
      try {
        // The ticker sends one message a second; 10 s is a bound, not a timing check.
        await client.waitMessages(2, 10_000);
      } finally {
        closeAll(client);
      }
    });
  });
}

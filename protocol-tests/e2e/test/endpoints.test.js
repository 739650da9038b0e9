'use strict';

// Every endpoint of the conformance server, as sockjs-client's own test cases
// expect it: they are written against sockjs-node's test server, whose facts
// are these.
//   /echo                     echo, response limit 4096
//   /disabled_websocket_echo  echo, websocket off
//   /cookie_needed_echo       echo, JSESSIONID cookie on
//   /close                    every new session closed with 3000 "Go away!"
//   /ticker                   "tick!" a second after open, then every second
//   /broadcast                every message to every open session, sender included
//   /amplify                  n = Math.floor(Number(message)); 2^n "x" when
//                             0 < n < 19, else 2 ("xx")

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const { startServer } = require('../lib/server');
const { Client, openClient, closeAll } = require('../lib/client');

const TEST_TIMEOUT_MS = 60_000;
// Unique per run, so sessions of a shared (SOCKJS_URL) server cannot confuse us.
const RUN_ID = `${process.pid} ${Date.now()} ${Math.random()}`;
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

/** GET <endpoint>/info as JSON. */
async function info(endpoint) {
  const res = await fetch(`${server.baseUrl}${endpoint}/info`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200, `${endpoint}/info status`);
  return res.json();
}

describe('/info of every endpoint', () => {
  it('says which options each endpoint has', BOUNDED, async () => {
    const expected = {
      '/echo': { websocket: true, cookie_needed: false },
      '/disabled_websocket_echo': { websocket: false, cookie_needed: false },
      '/cookie_needed_echo': { websocket: true, cookie_needed: true },
      '/close': { websocket: true, cookie_needed: false },
      '/ticker': { websocket: true, cookie_needed: false },
      '/broadcast': { websocket: true, cookie_needed: false },
      '/amplify': { websocket: true, cookie_needed: false },
    };
    for (const [endpoint, options] of Object.entries(expected)) {
      const body = await info(endpoint);
      assert.equal(body.websocket, options.websocket, `${endpoint}/info websocket: ${JSON.stringify(body)}`);
      assert.equal(body.cookie_needed, options.cookie_needed, `${endpoint}/info cookie_needed: ${JSON.stringify(body)}`);
    }
  });
});

describe('/echo', () => {
  it('echoes in order across its 4096-byte response limit (xhr-streaming reconnects)', BOUNDED, async () => {
    const client = await openClient(`${server.baseUrl}/echo`, { transports: ['xhr-streaming'] });
    try {
      // 64 frames of ~140 bytes: the streaming response ends twice on the way.
      const messages = Array.from({ length: 64 }, (_, i) => `${i} ${'x'.repeat(128)}`);
      for (const m of messages) client.send(m);
      assert.deepEqual(await client.waitMessages(messages.length, 30_000), messages);
      assert.equal(client.closeEvent, null, `no close expected; client: ${client.describe()}`);
    } finally {
      closeAll(client);
    }
  });
});

describe('/close', () => {
  it('opens, then closes with 3000 "Go away!" (no transport restriction)', BOUNDED, async () => {
    const client = new Client(`${server.baseUrl}/close`);
    try {
      const ev = await client.waitClose();
      assert.equal(client.opened, true, `the open event must come first; client: ${client.describe()}`);
      assert.deepEqual(
        [ev.code, ev.reason, ev.wasClean],
        [3000, 'Go away!', true],
        `close event; client: ${client.describe()}`,
      );
      assert.deepEqual(client.messages, [], 'no message before the close');
    } finally {
      closeAll(client);
    }
  });
});

describe('/ticker', () => {
  for (const transports of [undefined, ['xhr-polling']]) {
    const label = transports ? transports.join(',') : 'any transport';
    it(`sends exactly "tick!", once a second, until closed (${label})`, BOUNDED, async () => {
      const client = await openClient(`${server.baseUrl}/ticker`, { transports });
      try {
        // One a second: three arrive well within the bound (not a timing check).
        const ticks = await client.waitMessages(3, 15_000);
        assert.deepEqual(ticks.slice(0, 3), ['tick!', 'tick!', 'tick!']);
        // Messages from the client are ignored.
        client.send('ignored');
        const more = await client.waitMessages(ticks.length + 1, 15_000);
        assert.ok(more.every((m) => m === 'tick!'), `only ticks: ${JSON.stringify(more)}`);
        client.close();
        const ev = await client.waitClose();
        assert.equal(ev.code, 1000, `close code; client: ${client.describe()}`);
      } finally {
        closeAll(client);
      }
    });
  }
});

describe('/broadcast', () => {
  it('writes every message to every open session, the sender included, once each', BOUNDED, async () => {
    const clients = [];
    try {
      // Three sessions on different transports.
      for (const transports of [['websocket'], ['xhr-streaming'], ['xhr-polling']]) {
        clients.push(await openClient(`${server.baseUrl}/broadcast`, { transports }));
      }
      // A client that gets its own hello back is in the broadcast set: that event,
      // not a delay, tells us all of them are ready.
      clients.forEach((c, i) => c.send(`hello ${i} ${RUN_ID}`));
      await Promise.all(clients.map((c, i) => c.waitMessageEqual(`hello ${i} ${RUN_ID}`)));
      const tokens = clients.map((_, i) => `from ${i} ${RUN_ID}`);
      clients.forEach((c, i) => c.send(tokens[i]));
      for (const c of clients) {
        for (const t of tokens) await c.waitMessageEqual(t);
      }
      // Once each: a last token from the first client marks the end of the others.
      const last = `last ${RUN_ID}`;
      clients[0].send(last);
      await Promise.all(clients.map((c) => c.waitMessageEqual(last)));
      for (const c of clients) {
        for (const t of [...tokens, last]) {
          const times = c.messages.filter((m) => m === t).length;
          assert.equal(times, 1, `${JSON.stringify(t)} received ${times} times; client: ${c.describe()}`);
        }
      }
    } finally {
      closeAll(...clients);
    }
  });

  it('a closed session receives nothing more, the others go on', BOUNDED, async () => {
    let a;
    let b;
    try {
      a = await openClient(`${server.baseUrl}/broadcast`, { transports: ['websocket'] });
      b = await openClient(`${server.baseUrl}/broadcast`, { transports: ['websocket'] });
      b.send(`ready ${RUN_ID}`);
      await Promise.all([a.waitMessageEqual(`ready ${RUN_ID}`), b.waitMessageEqual(`ready ${RUN_ID}`)]);
      a.close();
      await a.waitClose();
      const after = `after a closed ${RUN_ID}`;
      b.send(after);
      await b.waitMessageEqual(after);
      assert.ok(!a.messages.includes(after), `a closed client got ${JSON.stringify(after)}`);
    } finally {
      closeAll(a, b);
    }
  });
});

describe('/amplify', () => {
  // [message, n]: n = Math.floor(Number(message)) when 0 < n < 19, else 1.
  const cases = [
    ['1', 1],
    ['5', 5],
    ['18', 18],
    ['19', 1],
    ['20', 1],
    ['0', 1],
    ['-3', 1],
    ['2.9', 2],
    ['0.5', 1],
    ['  7  ', 7],
    ['', 1],
    ['0x10', 16],
    ['1e1', 10],
    ['Infinity', 1],
    ['abc', 1],
  ];
  for (const transports of [undefined, ['xhr-streaming']]) {
    const label = transports ? transports.join(',') : 'any transport';
    it(`answers 2^n "x" with sockjs-node's folding of n (${label})`, BOUNDED, async () => {
      const client = await openClient(`${server.baseUrl}/amplify`, { transports });
      try {
        for (const [message] of cases) client.send(message);
        const received = await client.waitMessages(cases.length, 30_000);
        cases.forEach(([message, n], i) => {
          const got = received[i];
          assert.ok(
            got === 'x'.repeat(2 ** n),
            `answer to ${JSON.stringify(message)}: expected ${2 ** n} "x", got ${typeof got} of length ` +
              `${got?.length} starting ${JSON.stringify(String(got).slice(0, 20))}`,
          );
        });
      } finally {
        closeAll(client);
      }
    });
  }
});

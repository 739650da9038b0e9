'use strict';

// scripts/cluster-demo.sh, the one-command cluster demo, as a newcomer runs it
// (here with free ports and the chat binary already built): it starts
// redis-server, three chat nodes (NODE_ID 0a, 0b, 0c) and nginx with
// deploy/nginx/sockjs-cluster.conf; the page and the chat work through nginx
// (sockjs-client in Node joins and is welcomed by one of the three nodes,
// which all see each other); and stopping the script (SIGTERM, as Ctrl-C
// does) stops every process it started.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');

const { Client } = require('../lib/client');
const { startProcess, freePort, REPO_ROOT } = require('../lib/process');
const { sockjsBundlePath } = require('../lib/browser');
const { getText, metric, eventually } = require('../lib/cluster');

const WAIT_MS = 30_000;
const BOUNDED = { timeout: 90_000 };

function chatBin() {
  return process.env.SOCKJS_CHAT_BIN || path.join(REPO_ROOT, 'target', 'debug', 'examples', 'chat');
}

function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('scripts/cluster-demo.sh', () => {
  let demo;
  let ports;

  before(async () => {
    ports = { nginx: await freePort(), nodes: [await freePort(), await freePort(), await freePort()], redis: await freePort() };
    demo = await startProcess({
      name: 'cluster-demo',
      command: '/bin/bash',
      args: [path.join(REPO_ROOT, 'scripts', 'cluster-demo.sh')],
      ports: [ports.nginx],
      startupTimeoutMs: 60_000,
      env: {
        DEMO_PORT: String(ports.nginx),
        DEMO_NODE_PORTS: ports.nodes.join(' '),
        DEMO_REDIS_PORT: String(ports.redis),
        DEMO_CHAT_BIN: chatBin(),
        REDIS_LIVENESS_TTL_SECS: '2',
      },
    });
  });

  after(async () => {
    if (demo) await demo.stop();
  });

  it('serves the chat through nginx from three nodes, then stops everything', BOUNDED, async () => {
    await eventually('the banner', () => demo.output().includes('Ctrl-C stops everything.'), { timeoutMs: WAIT_MS });
    const base = `http://127.0.0.1:${ports.nginx}`;
    assert.match(await getText(`${base}/?name=alice`), /sockjs-rs chat/);
    // The nodes are the three NODE_IDs and each knows the two others.
    for (const [i, port] of ports.nodes.entries()) {
      const m = await getText(`http://127.0.0.1:${port}/metrics`);
      assert.match(m, new RegExp(`node="00000000000000${['0a', '0b', '0c'][i]}"`));
      await eventually(`node ${i} sees its two peers`, async () =>
        metric(await getText(`http://127.0.0.1:${port}/metrics`), 'sockjs_redis_peers') === 2,
      );
    }
    // The page's bundle is the local one when protocol-tests/e2e/node_modules has it.
    assert.equal(await getText(`${base}/sockjs-client.js`), require('node:fs').readFileSync(sockjsBundlePath(), 'utf8'));
    const client = new Client(`${base}/chat`, { transports: ['xhr-polling'] });
    try {
      await client.waitOpen(WAIT_MS);
      client.send(JSON.stringify({ type: 'join', name: 'newcomer' }));
      await client.waitFor('the welcome', () => client.messages.some((m) => JSON.parse(m).type === 'welcome'), WAIT_MS);
      const welcome = client.messages.map((m) => JSON.parse(m)).find((m) => m.type === 'welcome');
      assert.match(welcome.node, /^00000000000000(0a|0b|0c)$/);
    } finally {
      client.close();
    }

    demo.signal('SIGTERM');
    const exit = await demo.exited;
    assert.equal(exit.code, 130, JSON.stringify(exit));
    assert.match(demo.output(), /stopped: redis node-0a node-0b node-0c nginx/);
    for (const port of [ports.nginx, ports.redis, ...ports.nodes]) {
      await eventually(`nothing listens on ${port} any more`, async () => !(await accepts(port)));
    }
  });
});

'use strict';

// A sockjs-rs cluster behind nginx, end to end: a real redis-server, three
// conformance-server nodes in cluster mode (--redis, --node-id 0a/0b/0c,
// liveness TTL 2 s), and nginx running the repository's own
// deploy/nginx/sockjs-cluster.conf (only its addresses changed), all started
// on loopback by this file; the clients are the real sockjs-client in Node
// on websocket, xhr-streaming and xhr-polling, all through nginx.
//
// In order (the steps share the cluster):
//   1. clients spread over all three nodes on every transport (each logs in
//      as its own user; each node's GET /cluster says whose sessions it has);
//   2. a /broadcast from one sender per node reaches every client on every
//      node exactly once, in order per sender; after an nginx reload (SIGHUP)
//      the open sessions keep working and new ones open;
//   3. cluster presence is right on every node after joins and leaves;
//   4. a kick issued on one node (POST /cluster/kick) closes the user's
//      sessions on the others with 4001;
//   5. duplicate-login replace across two nodes (a second pair of nodes with
//      --login-policy replace behind their own nginx) closes the older
//      session with 4009;
//   6. SIGKILL of node 0c: its clients see their session end, reconnect
//      through nginx and land on 0a/0b; presence is clean (the dead node's
//      users gone, the reconnected ones counted once) within the documented
//      bound (TTL + TTL/3, waited for with a deadline);
//   7. Redis killed while clients send (local delivery goes on, cross-node
//      sends fail visibly), then started again: the nodes reconnect,
//      re-publish presence, cross-node delivery resumes; no node panicked,
//      and their memory stayed bounded (RSS before and after).
// Then the chat demo on two nodes behind the same nginx configuration in
// headless Chromium: two pages on different nodes see each other online and
// exchange messages. And the cookie alternative,
// deploy/nginx/sockjs-cluster-jsessionid.conf, in Chromium: nginx picks the
// JSESSIONID, the node echoes it, and every request of the browser's sessions
// (xhr-polling and xhr-streaming with their sends) reaches one node.
//
// Every wait has a deadline; nothing asserts on timings.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { Client } = require('../lib/client');
const { startProcess, startConformanceServer, freePort, REPO_ROOT } = require('../lib/process');
const { launchBrowser, sockjsBundlePath, startStaticServer, harnessRoutes, PageClient } = require('../lib/browser');
const {
  startClusterNginx,
  NGINX_JSESSIONID_CONF,
  startRedis,
  startConformanceNode,
  describeNode,
  getText,
  rssKb,
  metric,
  eventually,
} = require('../lib/cluster');

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
const TTL_SECS = 2;
// The nodes' heartbeat: a client whose heartbeats stop for SILENCE_MS treats its session as
// dead (see the SIGKILL step).
const HEARTBEAT_SECS = 1;
const SILENCE_MS = 5_000;
const WAIT_MS = 30_000;
// Clients opened at most per transport while looking for one on every node
// (consistent hashing of random session ids: (2/3)^24 per node of missing).
const MAX_CLIENTS_PER_TRANSPORT = 24;
const BATCH = 6;
const BOUNDED = { timeout: 90_000 };

describe('a cluster of three nodes behind nginx', { concurrency: false }, () => {
  let redis;
  let nodes = []; // [0a, 0b, 0c]
  let nginx;
  let pair = []; // the --login-policy replace pair
  let pairNginx;
  /** Every client opened: { user, transport, client, node }. */
  const clients = [];
  let nextUser = 0;

  before(async () => {
    redis = await startRedis({ name: 'cluster' });
    for (const nodeId of ['0a', '0b', '0c']) {
      nodes.push(
        await startConformanceNode({
          name: 'cluster',
          redisUrl: redis.url,
          cluster: 'e2e',
          nodeId,
          ttlSecs: TTL_SECS,
          heartbeatSecs: HEARTBEAT_SECS,
        }),
      );
    }
    for (const node of nodes) {
      await eventually(`node ${node.nodeId} up`, async () => (await describeNode(node)).up);
    }
    nginx = await startClusterNginx({ name: 'cluster', nodePorts: nodes.map((n) => n.port) });
  });

  after(async () => {
    for (const c of clients) c.client.close();
    if (nginx) await nginx.stop();
    if (pairNginx) await pairNginx.stop();
    for (const n of [...nodes, ...pair]) await n.stop();
    if (redis) await redis.stop();
  });

  const live = () => clients.filter((c) => !c.client.closeEvent);
  const nodeById = (id) => nodes.find((n) => n.nodeId === id);
  const describeAll = (list = nodes) => Promise.all(list.map((n) => describeNode(n)));

  /** Opens a client as a new user through `base` (default: the cluster's nginx). */
  async function open(transport, { user, base } = {}) {
    user = user || `u${(nextUser += 1)}-${transport}`;
    const client = new Client(`${base || nginx.url}/broadcast?user=${encodeURIComponent(user)}`, {
      transports: [transport],
    });
    const got = await client.waitOpen(WAIT_MS);
    assert.equal(got, transport, client.describe());
    const entry = { user, transport, client, node: null };
    clients.push(entry);
    return entry;
  }

  /** Sets `entry.node` for the given clients from the nodes' GET /cluster (their login is asynchronous). */
  async function locate(entries, list = nodes) {
    await eventually(
      'every client logged in on some node',
      async () => {
        const seen = await describeAll(list);
        for (const e of entries) {
          const d = seen.find((s) => (s.local[e.user] || 0) > 0);
          e.node = d ? d.node.slice(-2) : null;
        }
        return entries.every((e) => e.node);
      },
      { state: () => entries.map((e) => [e.user, e.node]) },
    );
  }

  /** The presence every node should show: each live client's user, counted per session. */
  function expectedPresence() {
    const p = {};
    for (const c of live()) p[c.user] = (p[c.user] || 0) + 1;
    return p;
  }

  const sameCounts = (a, b) => {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
  };

  async function presenceIsExpected(what, list = nodes) {
    await eventually(
      what,
      async () => {
        const want = expectedPresence();
        return (await describeAll(list)).every((d) => sameCounts(d.presence, want));
      },
      { state: async () => ({ want: expectedPresence(), got: (await describeAll(list)).map((d) => [d.node, d.presence]) }) },
    );
  }

  it('spreads clients over all three nodes on websocket, xhr-streaming and xhr-polling', BOUNDED, async () => {
    for (const transport of TRANSPORTS) {
      const mine = [];
      while (new Set(mine.map((c) => c.node)).size < nodes.length) {
        assert.ok(
          mine.length < MAX_CLIENTS_PER_TRANSPORT,
          `${transport}: ${mine.length} clients did not reach all nodes: ${JSON.stringify(mine.map((c) => c.node))}`,
        );
        const batch = await Promise.all(Array.from({ length: BATCH }, () => open(transport)));
        await locate(batch);
        mine.push(...batch);
      }
    }
    const perNode = {};
    for (const c of clients) perNode[`${c.node} ${c.transport}`] = (perNode[`${c.node} ${c.transport}`] || 0) + 1;
    // Every node holds sessions of every transport; every request of each reached its node
    // (an xhr session whose requests were split would not have logged in, nor stayed open).
    for (const n of nodes) for (const t of TRANSPORTS) assert.ok(perNode[`${n.nodeId} ${t}`] > 0, JSON.stringify(perNode));
    for (const c of clients) assert.equal(c.client.closeEvent, null, c.client.describe());
    const sessions = (await describeAll()).reduce((sum, d) => sum + d.sessions, 0);
    assert.equal(sessions, clients.length, 'each client is one session on one node');
  });

  it('a broadcast reaches every client on every node exactly once, in order per sender', BOUNDED, async () => {
    const senders = nodes.map((n) => live().find((c) => c.node === n.nodeId));
    const PER_SENDER = 10;
    for (let i = 0; i < PER_SENDER; i += 1) {
      for (const s of senders) s.client.send(`${s.user}#${i}`);
    }
    // Each sender ends with a marker: in order per sender, so once a client has every
    // marker it has everything the senders sent before them.
    for (const s of senders) s.client.send(`${s.user}#end`);
    for (const c of live()) {
      for (const s of senders) await c.client.waitMessageEqual(`${s.user}#end`, WAIT_MS);
      const got = c.client.messages;
      assert.equal(got.length, senders.length * (PER_SENDER + 1), `${c.user} on ${c.node}: ${JSON.stringify(got)}`);
      for (const s of senders) {
        const fromS = got.filter((m) => m.startsWith(`${s.user}#`));
        assert.deepEqual(
          fromS,
          [...Array.from({ length: PER_SENDER }, (_, i) => `${s.user}#${i}`), `${s.user}#end`],
          `${c.user} (${c.transport} on ${c.node}) got ${s.user}'s messages once, in order`,
        );
      }
    }
    for (const n of nodes) {
      const m = await getText(`${n.url}/metrics`);
      assert.equal(metric(m, 'sockjs_hub_gaps_total'), 0, m);
      assert.equal(metric(m, 'sockjs_hub_duplicates_total'), 0, m);
    }
  });

  it('an nginx reload (SIGHUP) keeps open sessions working and routes new ones', BOUNDED, async () => {
    const before = nginx.errorLog();
    nginx.signal('SIGHUP');
    await eventually('nginx reloaded', () => /reconfiguring/.test(nginx.errorLog().slice(before.length)));
    // New sessions on every transport, through the new workers.
    const fresh = await Promise.all(TRANSPORTS.map((t) => open(t)));
    await locate(fresh);
    // Every session, old and new, still gets a broadcast (the polls and sends of the old xhr
    // sessions now go through the new workers, to the same nodes).
    const sender = live().find((c) => c.transport === 'xhr-polling');
    sender.client.send('after the reload');
    for (const c of live()) await c.client.waitMessageEqual('after the reload', WAIT_MS);
    for (const c of live()) assert.equal(c.client.closeEvent, null, c.client.describe());
  });

  it('presence is right on every node after joins and leaves', BOUNDED, async () => {
    await presenceIsExpected('every node shows every client once');
    // Leaves: one client per node closes.
    const leaving = nodes.map((n) => live().find((c) => c.node === n.nodeId));
    for (const c of leaving) c.client.close();
    for (const c of leaving) await c.client.waitClose(WAIT_MS);
    // Joins: a second session of an existing user, and a new user.
    const twice = live()[0];
    const again = await open('xhr-polling', { user: twice.user });
    await open('websocket');
    await presenceIsExpected('the leaves and joins on every node');
    const d = await describeNode(nodes[0]);
    assert.equal(d.presence[twice.user], 2, `${twice.user} has two sessions: ${JSON.stringify(d.presence)}`);
    await locate([again]);
  });

  it('a kick issued on one node closes the user\'s sessions on the others with 4001', BOUNDED, async () => {
    const kims = [];
    for (const t of TRANSPORTS) kims.push(await open(t, { user: 'kim' }));
    await locate(kims);
    // The issuing node: one with the fewest of kim's sessions, so that most are elsewhere.
    const count = (id) => kims.filter((k) => k.node === id).length;
    const issuer = [...nodes].sort((a, b) => count(a.nodeId) - count(b.nodeId))[0];
    assert.ok(kims.some((k) => k.node !== issuer.nodeId), 'kim has sessions on another node');
    const answer = JSON.parse(await getText(`${issuer.url}/cluster/kick?user=kim&code=4001&reason=Kicked%20by%20admin`, { method: 'POST' }));
    assert.equal(answer.published, true, JSON.stringify(answer));
    for (const k of kims) {
      const ev = await k.client.waitClose(WAIT_MS);
      assert.deepEqual([ev.code, ev.reason], [4001, 'Kicked by admin'], `kim on ${k.node} (${k.transport})`);
    }
    await presenceIsExpected('kim is gone everywhere');
  });

  it('a second login of a user on another node replaces the first (4009)', BOUNDED, async () => {
    for (const nodeId of ['0d', '0e']) {
      pair.push(
        await startConformanceNode({
          name: 'cluster-replace',
          redisUrl: redis.url,
          cluster: 'e2e-replace',
          nodeId,
          ttlSecs: TTL_SECS,
          loginPolicy: 'replace',
        }),
      );
    }
    for (const n of pair) await eventually(`node ${n.nodeId} up`, async () => (await describeNode(n)).up);
    pairNginx = await startClusterNginx({ name: 'cluster-replace', nodePorts: pair.map((n) => n.port) });
    let current = await open('websocket', { user: 'ria', base: pairNginx.url });
    await locate([current], pair);
    const first = current;
    // New logins of ria until one lands on the other node; each one replaces the one before.
    for (let attempt = 0; ; attempt += 1) {
      assert.ok(attempt < 20, 'no login of ria reached the other node');
      const transport = TRANSPORTS[attempt % TRANSPORTS.length];
      const next = await open(transport, { user: 'ria', base: pairNginx.url });
      const ev = await current.client.waitClose(WAIT_MS);
      assert.deepEqual([ev.code, ev.reason], [4009, 'Replaced by a newer session'], current.client.describe());
      await locate([next], pair);
      const crossed = next.node !== current.node;
      current = next;
      if (crossed) break;
    }
    assert.notEqual(current.node, undefined);
    assert.ok(first.client.closeEvent, 'the first session was replaced');
    for (const d of await describeAll(pair)) assert.equal(d.presence.ria, 1, JSON.stringify(d));
    current.client.close();
  });

  it('SIGKILL of a node: its clients come back through nginx on the others, presence is clean', BOUNDED, async () => {
    const victim = nodeById('0c');
    const survivors = nodes.filter((n) => n !== victim);
    const onVictim = live().filter((c) => c.node === victim.nodeId);
    assert.ok(onVictim.length >= TRANSPORTS.length, `clients on 0c: ${onVictim.length}`);
    // One of them will not come back: its user (who has no session elsewhere) must leave
    // presence.
    const gone = onVictim.find((c) => live().filter((o) => o.user === c.user).length === 1);
    assert.ok(gone, 'a user with a session on 0c only');
    victim.signal('SIGKILL');
    await victim.exited;
    nodes = survivors;
    // Each client sees its session end: websocket and xhr-polling with a close event (1006:
    // the connection dropped, or nginx answered the next poll with 502). An xhr-streaming
    // response cut mid-stream never ends for sockjs-client's Node driver (Node emits no 'end'
    // for it; a browser's XHR reports an error and sockjs-client closes with 1006), so there,
    // as an application does, the client takes a session whose heartbeats stopped for dead.
    for (const c of onVictim) {
      const how = await endedOrSilent(c.client);
      if (how === 'silent') {
        assert.equal(c.transport, 'xhr-streaming', `${c.user} (${c.transport}) was neither closed nor heard`);
        c.client.close();
        await c.client.waitClose(WAIT_MS);
      } else {
        assert.equal(how.code, 1006, `${c.user} (${c.transport}): ${JSON.stringify(how)}`);
      }
    }
    // The application reconnects (sockjs-client does not by itself): a new session, through
    // nginx, which sends it to a live node.
    const back = [];
    for (const c of onVictim.filter((v) => v !== gone)) back.push(await open(c.transport, { user: c.user }));
    await locate(back);
    for (const b of back) assert.ok(['0a', '0b'].includes(b.node), `${b.user} came back on ${b.node}`);
    assert.ok(!expectedPresence()[gone.user]);
    // The dead node's users leave within TTL + TTL/3 (a deadline here, not a measurement).
    await presenceIsExpected('presence without the dead node, with the reconnected users once');
  });

  it('Redis killed and started again: cross-node delivery resumes, no panic, bounded memory', BOUNDED, async () => {
    const [a, b] = nodes;
    const onA = live().find((c) => c.node === a.nodeId);
    const onB = live().filter((c) => c.node === b.nodeId);
    assert.ok(onA && onB.length > 0);
    const rssBefore = nodes.map((n) => rssKb(n.pid));
    const failedBefore = metric(await getText(`${a.url}/metrics`), 'sockjs_hub_publish_failed_total');

    await redis.kill();
    await eventually('both nodes see Redis down', async () => (await describeAll()).every((d) => !d.up));
    // While Redis is away: 300 messages from a client on node a. They reach node a's clients
    // (local delivery goes on); they fail to cross (counted), and nothing piles up.
    const OUTAGE = 300;
    for (let i = 0; i < OUTAGE; i += 1) onA.client.send(`outage#${i}`);
    await onA.client.waitMessageEqual(`outage#${OUTAGE - 1}`, WAIT_MS);
    await eventually('the failed cross-node sends are counted', async () => {
      const m = await getText(`${a.url}/metrics`);
      return metric(m, 'sockjs_hub_publish_failed_total') >= failedBefore + OUTAGE;
    });

    await redis.start();
    await eventually('both nodes are up again', async () => (await describeAll()).every((d) => d.up));
    await presenceIsExpected('presence re-published by both nodes after the restart');
    // Cross-node delivery resumes: a marker from node a reaches node b's clients.
    const marker = `after-restart-${Date.now()}`;
    await eventually(
      'a broadcast from node a reaches node b again',
      async () => {
        onA.client.send(marker);
        await onB[0].client.waitMessageEqual(marker, 2_000).catch(() => null);
        return onB[0].client.messages.includes(marker);
      },
      { timeoutMs: WAIT_MS },
    );
    for (const c of onB) await c.client.waitMessageEqual(marker, WAIT_MS);
    for (const c of onB) {
      assert.ok(!c.client.messages.some((m) => m.startsWith('outage#')), 'nothing sent while Redis was away crossed later');
    }

    const rssAfter = nodes.map((n) => rssKb(n.pid));
    for (const [i, n] of nodes.entries()) {
      assert.equal(n.exitInfo(), null, `node ${n.nodeId} is alive`);
      assert.ok(!/panicked/.test(fs.readFileSync(n.logPath, 'utf8')), `node ${n.nodeId} did not panic`);
      // Bounded: the outbox refuses while Redis is away, so the outage leaves no backlog.
      // (Allocator noise of a debug build is a few MB; a backlog of the outage would be
      // unbounded in the number of messages.)
      const grewKb = rssAfter[i] - rssBefore[i];
      console.log(`node ${n.nodeId}: RSS ${rssBefore[i]} kB before, ${rssAfter[i]} kB after the Redis restart`);
      assert.ok(grewKb < 32 * 1024, `node ${n.nodeId} grew by ${grewKb} kB`);
    }
  });
});

/**
 * Resolves with the client's close event, or 'silent' once neither a heartbeat nor a message
 * arrived for SILENCE_MS (a session the client must give up on). Bounded by WAIT_MS.
 */
async function endedOrSilent(client) {
  const deadline = Date.now() + WAIT_MS;
  let seen = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    if (client.closeEvent) return client.closeEvent;
    const now = client.heartbeats + client.messages.length;
    if (now !== seen) {
      seen = now;
      since = Date.now();
    } else if (Date.now() - since > SILENCE_MS) {
      return 'silent';
    }
    // Poll interval of a bounded wait on the client's state.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`neither closed nor silent: ${client.describe()}`);
}

function chatBin() {
  return process.env.SOCKJS_CHAT_BIN || path.join(REPO_ROOT, 'target', 'debug', 'examples', 'chat');
}

describe('the chat demo on two nodes behind nginx, in Chromium', () => {
  let redis;
  const chats = [];
  let nginx;
  let browser;

  before(async () => {
    redis = await startRedis({ name: 'cluster-chat' });
    for (const nodeId of ['1a', '1b']) {
      const port = await freePort();
      chats.push(
        await startProcess({
          name: `cluster-chat-${nodeId}`,
          command: chatBin(),
          args: [],
          ports: [port],
          env: {
            LISTEN: `127.0.0.1:${port}`,
            REDIS_URL: redis.url,
            REDIS_CLUSTER: 'e2e-chat',
            REDIS_LIVENESS_TTL_SECS: String(TTL_SECS),
            NODE_ID: nodeId,
            SOCKJS_CLIENT_FILE: sockjsBundlePath(),
            RUST_LOG: process.env.RUST_LOG || 'info',
          },
        }),
      );
      chats[chats.length - 1].port = port;
    }
    nginx = await startClusterNginx({ name: 'cluster-chat', nodePorts: chats.map((c) => c.port) });
    browser = await launchBrowser({ name: 'cluster-chat' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (nginx) await nginx.stop();
    for (const c of chats) await c.stop();
    if (redis) await redis.stop();
  });

  const pageState = (page) =>
    page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      users: [...document.querySelectorAll('#users li')].map((li) => li.textContent),
      log: [...document.querySelectorAll('#log div')].map((d) => d.textContent),
      chat: window.chat,
    }));

  const waitState = (page, what, check) =>
    eventually(what, async () => check(await pageState(page)) && pageState(page), {
      timeoutMs: WAIT_MS,
      state: () => pageState(page),
    });

  it('two pages on different nodes see each other online and exchange messages', BOUNDED, async () => {
    // The node ids name the nodes in their metrics.
    assert.match(await getText(`http://127.0.0.1:${chats[0].port}/metrics`), /node="000000000000001a"/);
    const alice = await browser.newPage();
    await alice.goto(`${nginx.url}/?name=alice`, { timeout: WAIT_MS });
    const a = await waitState(alice, "alice's page connected to a node", (s) => s.chat.node);
    // bob's page, on xhr-polling (every request of its session must reach its node): load
    // it again until its session is on the other node (nginx hashes the session id).
    let bob;
    let b;
    for (let attempt = 0; ; attempt += 1) {
      assert.ok(attempt < 20, 'no page of bob reached the other node');
      bob = await browser.newPage();
      await bob.goto(`${nginx.url}/?name=bob&transport=xhr-polling`, { timeout: WAIT_MS });
      b = await waitState(bob, "bob's page connected to a node", (s) => s.chat.node);
      if (b.chat.node !== a.chat.node) break;
      await bob.close();
    }
    assert.match(b.status, /^connected as bob \(xhr-polling\) on node 00000000000000(1a|1b)$/);
    for (const [page, name] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ]) {
      await waitState(page, `${name}'s online list [alice, bob]`, (s) => s.users.join(',') === 'alice,bob');
    }
    await alice.fill('#text', 'hello bob, from the other node');
    await alice.press('#text', 'Enter');
    await waitState(bob, "alice's message on bob's page", (s) => s.log.includes('alice: hello bob, from the other node'));
    await bob.fill('#text', 'hi alice');
    await bob.press('#text', 'Enter');
    await waitState(alice, "bob's message on alice's page", (s) => s.log.includes('bob: hi alice'));
  });
});

describe('the JSESSIONID alternative (sockjs-cluster-jsessionid.conf) in Chromium', () => {
  const servers = [];
  let nginx;
  let statics;
  let browser;

  before(async () => {
    statics = await startStaticServer(harnessRoutes());
    for (let i = 0; i < 3; i += 1) servers.push(await startConformanceServer({ name: `cluster-jsessionid-${i}` }));
    nginx = await startClusterNginx({
      name: 'cluster-jsessionid',
      nodePorts: servers.map((s) => Number(new URL(s.baseUrl).port)),
      file: NGINX_JSESSIONID_CONF,
    });
    browser = await launchBrowser({ name: 'cluster-jsessionid' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (nginx) await nginx.stop();
    for (const s of servers) await s.stop();
    if (statics) await statics.close();
  });

  it('nginx picks the cookie, the node echoes it, every request of the browser reaches one node', BOUNDED, async () => {
    const page = await browser.newPage();
    await page.goto(`${statics.origin}/index.html`, { timeout: WAIT_MS });
    await page.waitForFunction(() => window.SockJS && window.harness, null, { timeout: WAIT_MS });
    // /cookie_needed_echo is each node's own echo (cookie_needed on): a send reaching another
    // node than its session's would be refused (404) and end the session.
    for (const transport of ['xhr-polling', 'xhr-streaming']) {
      const client = await PageClient.open(page, browser.pageErrors, `${nginx.url}/cookie_needed_echo`, {
        transports: [transport],
      });
      const sent = Array.from({ length: 5 }, (_, i) => `${transport} ${i}`);
      for (const m of sent) await client.send(m);
      assert.deepEqual(await client.waitMessages(sent.length, WAIT_MS), sent);
      await client.close();
    }
    const cookies = await browser.context.cookies(nginx.url);
    const jsessionid = cookies.find((c) => c.name === 'JSESSIONID');
    assert.ok(jsessionid, JSON.stringify(cookies));
    assert.match(jsessionid.value, /^[0-9a-f]{32}$/, 'the value nginx chose ($request_id), not the nodes\' "dummy"');
    // Every session request was hashed on that value, to one node.
    const sessionLines = nginx
      .accessLog(0)
      .split('\n')
      .filter((l) => /\/cookie_needed_echo\/[^/]+\/[^/]+\/xhr/.test(l));
    assert.ok(sessionLines.length >= 4, nginx.accessLog(0));
    const nodesUsed = new Set(sessionLines.map((l) => /node=(\S+)/.exec(l)[1]));
    assert.equal(nodesUsed.size, 1, sessionLines.join('\n'));
    assert.ok(sessionLines.slice(1).every((l) => l.includes(`key=${jsessionid.value}`)), sessionLines.join('\n'));
  });
});

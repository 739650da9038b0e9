'use strict';

// The chat demo (examples/examples/chat.rs) as a person uses it, in headless
// Chromium: alice and the admin each have a page, they type into the form and
// press send, see each other in the presence list, the admin kicks alice with
// `/kick alice`, and alice's page shows the disconnect (close 4001) and does
// not come back. A screenshot of each page goes to test-output/ (chat.png is
// alice's page after the kick, chat-admin.png the admin's).
//
// The chat binary is target/debug/examples/chat (scripts/test.sh builds it;
// SOCKJS_CHAT_BIN overrides). It serves the page and, with
// SOCKJS_CLIENT_FILE, the local sockjs-client bundle: nothing comes from the
// internet.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');

const { startProcess, freePort, logDir, REPO_ROOT } = require('../lib/process');
const { launchBrowser, sockjsBundlePath } = require('../lib/browser');

const WAIT_MS = 15_000;
// How long alice's page is watched after the kick: the page's reconnect delay
// starts at 500 ms, so a page that reconnects would do so several times.
const NO_RECONNECT_WATCH_MS = 4_000;
const BOUNDED = { timeout: 60_000 };

function chatBin() {
  return process.env.SOCKJS_CHAT_BIN || path.join(REPO_ROOT, 'target', 'debug', 'examples', 'chat');
}

describe('chat demo in Chromium', () => {
  let chat;
  let baseUrl;
  let browser;
  let alice;
  let admin;
  // Requests and websockets alice's page opens towards the chat server.
  const aliceTraffic = [];

  before(async () => {
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const token = crypto.randomBytes(8).toString('hex');
    chat = await startProcess({
      name: 'chat',
      command: chatBin(),
      args: [],
      ports: [port],
      env: {
        LISTEN: `127.0.0.1:${port}`,
        CHAT_ADMIN_TOKEN: token,
        SOCKJS_CLIENT_FILE: sockjsBundlePath(),
        RUST_LOG: process.env.RUST_LOG || 'info',
      },
    });
    browser = await launchBrowser({ name: 'chat' });
    alice = await browser.newPage();
    admin = await browser.newPage();
    alice.on('request', (r) => aliceTraffic.push({ at: Date.now(), what: `${r.method()} ${r.url()}` }));
    alice.on('websocket', (ws) => aliceTraffic.push({ at: Date.now(), what: `websocket ${ws.url()}` }));
    await alice.goto(`${baseUrl}/?name=alice`, { timeout: WAIT_MS });
    await admin.goto(`${baseUrl}/?name=admin&token=${token}`, { timeout: WAIT_MS });
  });

  after(async () => {
    if (browser) await browser.close();
    if (chat) await chat.stop();
  });

  /** What a failure message needs: the page's status, presence list, log and window.chat. */
  async function pageState(page) {
    return page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      users: [...document.querySelectorAll('#users li')].map((li) => li.textContent),
      log: [...document.querySelectorAll('#log div')].map((d) => d.textContent),
      chat: window.chat,
    }));
  }

  /** Waits (bounded) until check(state) is true for the page's state; fails with that state. */
  async function waitState(page, what, check) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const state = await pageState(page);
      if (check(state)) return state;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; page state: ${JSON.stringify(state)}`);
      }
      // Poll interval of a bounded wait on page state (the page exposes no events to us).
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  it('both pages connect and list alice and admin as online', BOUNDED, async () => {
    for (const [page, name] of [
      [alice, 'alice'],
      [admin, 'admin'],
    ]) {
      const st = await waitState(page, `${name}'s presence list [admin, alice]`, (s) =>
        sameList(s.users, ['admin', 'alice']),
      );
      assert.match(st.status, new RegExp(`^connected as ${name} \\(`), `${name}'s status line`);
      assert.ok(st.chat.transport, `${name}'s page records its transport`);
    }
  });

  it('alice types a message and the admin sees it (and back)', BOUNDED, async () => {
    const fromAlice = `hello from alice ✓ ${Date.now()}`;
    await alice.bringToFront(); // as a person switches tabs; a background tab's click is slow
    await alice.fill('#text', fromAlice);
    await alice.click('#say button');
    for (const [page, name] of [
      [admin, 'admin'],
      [alice, 'alice'],
    ]) {
      const st = await waitState(page, `alice's message on ${name}'s page`, (s) =>
        s.log.includes(`alice: ${fromAlice}`),
      );
      assert.ok(
        st.chat.received.some((m) => m.type === 'message' && m.from === 'alice' && m.text === fromAlice),
        `${name}'s window.chat.received has alice's message: ${JSON.stringify(st.chat.received)}`,
      );
    }
    assert.equal(await alice.inputValue('#text'), '', 'the form is cleared after sending');

    const fromAdmin = `hi alice, admin here "quoted" <b>not bold</b> ${Date.now()}`;
    await admin.bringToFront();
    await admin.fill('#text', fromAdmin);
    await admin.press('#text', 'Enter');
    const st = await waitState(alice, "the admin's message on alice's page", (s) =>
      s.log.includes(`admin: ${fromAdmin}`),
    );
    assert.ok(
      st.chat.received.some((m) => m.type === 'message' && m.from === 'admin' && m.text === fromAdmin),
      `alice's window.chat.received has the admin's message: ${JSON.stringify(st.chat.received)}`,
    );
    // Rendered as text, not markup.
    assert.equal(await alice.locator('#log b').count(), 0, 'a message must not inject markup');
  });

  let kickedAt = 0;
  let receivedAtKick = 0;

  it('the admin kicks alice: her page shows the disconnect (4001)', BOUNDED, async () => {
    await admin.fill('#text', '/kick alice');
    await admin.press('#text', 'Enter');
    const st = await waitState(alice, 'window.chat.kicked on alice\'s page', (s) => s.chat.kicked === true);
    kickedAt = Date.now();
    receivedAtKick = st.chat.received.length;
    assert.match(st.status, /^disconnected: 4001 Kicked by admin$/, "alice's status line");
    assert.ok(
      st.log.includes('closed by the server: 4001 Kicked by admin'),
      `alice's log shows the close: ${JSON.stringify(st.log)}`,
    );
    const adminSt = await waitState(admin, "the admin's presence list [admin]", (s) => sameList(s.users, ['admin']));
    assert.ok(
      adminSt.log.some((l) => /^alice was kicked \(1 session\(s\)\)$/.test(l)),
      `the admin's log announces the kick: ${JSON.stringify(adminSt.log)}`,
    );
  });

  it('alice stays disconnected: no reconnect attempt, nothing more received', BOUNDED, async () => {
    assert.ok(kickedAt, 'needs the kick of the previous test');
    // Observing an absence takes a fixed watch period.
    await new Promise((r) => setTimeout(r, NO_RECONNECT_WATCH_MS));
    const after = aliceTraffic.filter((t) => t.at > kickedAt && t.what.includes(new URL(baseUrl).host));
    assert.deepEqual(after, [], "alice's page must not contact the chat server after the kick");
    const st = await pageState(alice);
    assert.equal(st.chat.kicked, true);
    assert.match(st.status, /^disconnected: 4001/, "alice's status line still says disconnected");
    assert.equal(st.chat.received.length, receivedAtKick, 'alice received nothing after the kick');
    const adminSt = await pageState(admin);
    assert.deepEqual(adminSt.users, ['admin'], 'alice did not come back in the presence list');
  });

  it('screenshots: test-output/chat.png (alice, kicked) and chat-admin.png', BOUNDED, async () => {
    const dir = logDir();
    await alice.screenshot({ path: path.join(dir, 'chat.png'), fullPage: true });
    await admin.screenshot({ path: path.join(dir, 'chat-admin.png'), fullPage: true });
  });
});

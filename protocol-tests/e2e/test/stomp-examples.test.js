'use strict';

// The STOMP examples as a person uses them, in headless Chromium:
//
//   - stomp_greeting (examples/examples/stomp_greeting.rs): Spring's getting-started page
//     (stomp.js 2.3.3 + sockjs-client script tags, Stomp.over(new SockJS(..))): Connect,
//     type a name, Send, "Hello, NAME!" appears in the table, on a second page too;
//     Disconnect.
//   - stomp_chat (examples/examples/stomp_chat.rs): alice, bob and carol join; the online
//     list shows all three; alice talks in the room; alice sends bob a private message,
//     which bob sees and carol does not.
//
// The binaries are target/debug/examples/stomp_greeting and stomp_chat (scripts/test.sh
// builds them; SOCKJS_STOMP_GREETING_BIN and SOCKJS_STOMP_CHAT_BIN override). They serve the
// client libraries from node_modules (SOCKJS_CLIENT_FILE, STOMPJS_FILE): nothing comes from
// the internet. Screenshots go to test-output/stomp-greeting.png and stomp-chat.png (the
// ones in docs/ were taken this way).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { startProcess, freePort, logDir, REPO_ROOT } = require('../lib/process');
const { launchBrowser, sockjsBundlePath, stompBundleRoutes } = require('../lib/browser');

const WAIT_MS = 15_000;
const BOUNDED = { timeout: 60_000 };

const bin = (env, name) => process.env[env] || path.join(REPO_ROOT, 'target', 'debug', 'examples', name);

async function startExample(name, binEnv, stompFile) {
  const port = await freePort();
  const proc = await startProcess({
    name,
    command: bin(binEnv, name),
    args: [],
    ports: [port],
    env: {
      LISTEN: `127.0.0.1:${port}`,
      SOCKJS_CLIENT_FILE: sockjsBundlePath(),
      STOMPJS_FILE: stompFile,
      RUST_LOG: process.env.RUST_LOG || 'info',
    },
  });
  return { ...proc, baseUrl: `http://127.0.0.1:${port}` };
}

/** Waits (bounded) until `check(state)` holds for `read(page)`; fails with the last state. */
async function waitFor(page, what, read, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const state = await read(page);
    if (check(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; page state: ${JSON.stringify(state)}`);
    }
    // Poll interval of a bounded wait on page state (the pages expose no events to us).
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('STOMP examples in Chromium', { concurrency: 1 }, () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ name: 'stomp-examples' });
  });
  after(async () => {
    if (browser) await browser.close();
  });

  describe('the greeting app (stomp.js 2.3.3 page)', () => {
    let app;
    before(async () => {
      app = await startExample('stomp_greeting', 'SOCKJS_STOMP_GREETING_BIN', stompBundleRoutes()['/stomp-2.3.3.min.js'].file);
    });
    after(async () => {
      if (app) await app.stop();
    });

    const greetingState = (page) =>
      page.evaluate(() => ({
        connectDisabled: document.getElementById('connect').disabled,
        disconnectDisabled: document.getElementById('disconnect').disabled,
        greetings: [...document.querySelectorAll('#greetings td')].map((td) => td.textContent),
      }));

    it('Connect, send a name, see the greeting on both pages, Disconnect', BOUNDED, async () => {
      const [page, other] = [await browser.newPage(), await browser.newPage()];
      for (const p of [page, other]) {
        await p.goto(`${app.baseUrl}/`, { timeout: WAIT_MS });
        await p.bringToFront();
        await p.click('#connect');
        await waitFor(p, 'connected', greetingState, (s) => s.connectDisabled && !s.disconnectDisabled);
      }
      await page.bringToFront();
      await page.fill('#name', 'Fred');
      await page.click('#send');
      for (const p of [page, other]) {
        const st = await waitFor(p, 'the greeting', greetingState, (s) => s.greetings.length > 0);
        assert.deepEqual(st.greetings, ['Hello, Fred!']);
      }
      await page.fill('#name', 'Ada <b>Lovelace</b>');
      await page.press('#name', 'Enter');
      const st = await waitFor(page, 'the second greeting', greetingState, (s) => s.greetings.length > 1);
      assert.deepEqual(st.greetings, ['Hello, Fred!', 'Hello, Ada <b>Lovelace</b>!'], 'shown as text');
      await page.screenshot({ path: path.join(logDir(), 'stomp-greeting.png') });
      await page.click('#disconnect');
      const off = await greetingState(page);
      assert.equal(off.connectDisabled, false, 'Connect is enabled again');
      assert.deepEqual(browser.pageErrors(page), []);
      await other.close();
      await page.close();
    });
  });

  describe('the STOMP chat (@stomp/stompjs 7 page)', () => {
    let app;
    before(async () => {
      app = await startExample('stomp_chat', 'SOCKJS_STOMP_CHAT_BIN', stompBundleRoutes()['/stomp.umd.min.js'].file);
    });
    after(async () => {
      if (app) await app.stop();
    });

    const chatState = (page) =>
      page.evaluate(() => ({
        status: document.getElementById('status').textContent,
        users: [...document.querySelectorAll('#users li')].map((li) => li.textContent),
        log: [...document.querySelectorAll('#log div')].map((d) => d.textContent),
        chat: window.chat,
      }));
    const pages = {};

    it('alice, bob and carol join and see each other online', BOUNDED, async () => {
      for (const name of ['alice', 'bob', 'carol']) {
        const p = await browser.newPage();
        pages[name] = p;
        await p.goto(`${app.baseUrl}/?name=${name}`, { timeout: WAIT_MS });
        await p.bringToFront();
        await p.click('#join button');
        await waitFor(p, `${name} connected`, chatState, (s) => s.chat.connected);
      }
      for (const [name, p] of Object.entries(pages)) {
        const st = await waitFor(p, `${name}'s online list`, chatState, (s) => s.users.length === 3);
        assert.deepEqual(st.users, ['alice', 'bob', 'carol']);
        assert.equal(st.status, `connected as ${name}`);
      }
    });

    it('alice talks in the room and sends bob a private message', BOUNDED, async () => {
      const alice = pages.alice;
      await alice.bringToFront();
      await alice.fill('#text', 'hello everyone');
      await alice.press('#text', 'Enter');
      for (const [name, p] of Object.entries(pages)) {
        await waitFor(p, `the room message on ${name}'s page`, chatState, (s) => s.log.includes('alice: hello everyone'));
      }
      // Clicking bob in the online list addresses him.
      await alice.click('#users li:has-text("bob")');
      assert.equal(await alice.inputValue('#to'), 'bob');
      await alice.fill('#text', 'psst, bob');
      await alice.press('#text', 'Enter');
      await waitFor(pages.bob, "the private message on bob's page", chatState, (s) =>
        s.log.includes('(private) alice: psst, bob'),
      );
      await waitFor(alice, "the sent private message on alice's page", chatState, (s) =>
        s.log.includes('(to bob) psst, bob'),
      );
      // carol got the room message and nothing private: after a later room message, still
      // no private one.
      await alice.fill('#to', '');
      await alice.fill('#text', 'bye');
      await alice.press('#text', 'Enter');
      const carol = await waitFor(pages.carol, "the last room message on carol's page", chatState, (s) =>
        s.log.includes('alice: bye'),
      );
      assert.deepEqual(
        carol.chat.received.filter((m) => m.kind === 'private'),
        [],
        'carol received no private message',
      );
      await pages.bob.bringToFront();
      await pages.bob.screenshot({ path: path.join(logDir(), 'stomp-chat.png') });
    });

    it('carol leaves: the others see her go', BOUNDED, async () => {
      await pages.carol.bringToFront();
      await pages.carol.click('#leave');
      for (const name of ['alice', 'bob']) {
        const st = await waitFor(pages[name], `carol gone from ${name}'s list`, chatState, (s) => s.users.length === 2);
        assert.deepEqual(st.users, ['alice', 'bob']);
      }
      for (const p of Object.values(pages)) {
        assert.deepEqual(browser.pageErrors(p), []);
        await p.close();
      }
    });
  });
});

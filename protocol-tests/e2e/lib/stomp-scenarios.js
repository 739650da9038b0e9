'use strict';

// STOMP scenarios run by the real client libraries over sockjs-client against the
// conformance server's /stomp endpoint: the same code in Node (required by
// test/stomp.test.js) and in a Chromium page (loaded by pages/stomp.html, run by
// test/stomp-browser.test.js).
//
// Two libraries behind one small adapter:
//   'v7' @stomp/stompjs 7 (Client with a SockJS webSocketFactory; STOMP 1.2)
//   'v2' stompjs 2.3.3    (Stomp.over(new SockJS(..)), what Spring's tutorials load; STOMP 1.1)
//
// A scenario gets env = { SockJS, StompJs, Stomp, base, transport, lib } and resolves
// with a summary of what it saw, or rejects with what it waited for. Every wait is
// bounded (WAIT_MS). Destinations and bodies carry random tokens: tests run in parallel
// against one server.

(function (root, factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory();
  else root.stompScenarios = factory();
})(typeof self !== 'undefined' ? self : this, function () {
  const WAIT_MS = 10000;

  const token = () => Math.random().toString(36).slice(2, 10);

  /** A promise with a bound: rejects after ms with `what` and the state `describe()` gives. */
  function within(promise, what, describe, ms = WAIT_MS) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}; ${describe ? describe() : ''}`)),
        ms,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** A queue of items with bounded waits for the next matching one. */
  class Inbox {
    constructor(label) {
      this.label = label;
      this.items = [];
      this.waiters = [];
    }

    push(item) {
      this.items.push(item);
      this.waiters = this.waiters.filter((w) => {
        const i = this.items.findIndex(w.match);
        if (i < 0) return true;
        w.resolve(this.items.splice(i, 1)[0]);
        return false;
      });
    }

    /** The next item matching `match` (default: any), taken out of the inbox. */
    next(match = () => true, what = 'an item') {
      const i = this.items.findIndex(match);
      if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
      const p = new Promise((resolve) => this.waiters.push({ match, resolve }));
      return within(p, `${what} on ${this.label}`, () => `items: ${JSON.stringify(this.items.map(brief))}`);
    }
  }

  const brief = (m) => (m && m.body !== undefined ? { headers: m.headers, body: String(m.body).slice(0, 60) } : m);

  /**
   * Opens a STOMP session with `lib`. Resolves with a connection:
   *   connected   the CONNECTED frame's headers
   *   subscribe(destination, headers) -> { id, inbox, unsubscribe(headers) }
   *   send(destination, body, headers), receipt(id) -> Promise, raw(text)
   *   errors (Inbox of ERROR frames), closed (Promise of the SockJS close event)
   *   disconnect() -> Promise, sends (count of SockJS messages sent)
   */
  function connect(env, { login, heartbeat = [10000, 10000], splitLargeFrames = false } = {}) {
    const url = `${env.base}/stomp`;
    const headers = login ? { login, passcode: 'any' } : {};
    const receipts = new Inbox('receipts');
    const errors = new Inbox('errors');
    let sock = null;
    let closeEvent = null;
    let resolveClosed;
    const closed = new Promise((r) => (resolveClosed = r));
    const state = { sends: 0, heartBeats: 0 };
    const makeSock = () => {
      sock = new env.SockJS(url, null, { transports: [env.transport] });
      const send = sock.send.bind(sock);
      sock.send = (data) => {
        state.sends += 1;
        return send(data);
      };
      // The server's STOMP heart-beats: SockJS messages holding one EOL.
      sock.addEventListener('message', (e) => {
        if (e.data === '\n') state.heartBeats += 1;
      });
      sock.addEventListener('close', (e) => {
        closeEvent = { code: e.code, reason: e.reason };
        resolveClosed(closeEvent);
      });
      return sock;
    };
    const describe = () =>
      `lib ${env.lib}, transport ${env.transport}, socket transport ${sock && sock.transport}, close ${JSON.stringify(closeEvent)}, ` +
      `errors ${JSON.stringify(errors.items.map(brief))}`;
    // The connection both libraries' sessions are seen through, once CONNECTED: `lib` says how
    // the library subscribes, sends and disconnects.
    const wrap = (connected, lib) =>
      within(connected, 'CONNECTED', describe).then((connectedHeaders) => ({
        connected: connectedHeaders,
        transport: sock.transport,
        errors,
        closed,
        get sends() {
          return state.sends;
        },
        get heartBeats() {
          return state.heartBeats;
        },
        subscribe(destination, subHeaders = {}) {
          const inbox = new Inbox(`subscription to ${destination}`);
          return { inbox, ...lib.subscribe(destination, (m) => inbox.push(m), subHeaders) };
        },
        send(destination, body, sendHeaders = {}) {
          lib.send(destination, body, sendHeaders);
        },
        receipt(id) {
          return receipts.next((r) => r === id, `RECEIPT ${id}`);
        },
        raw(text) {
          sock.send(text);
        },
        async disconnect() {
          await lib.disconnect();
        },
        describe,
      }));

    if (env.lib === 'v7') {
      const client = new env.StompJs.Client({
        webSocketFactory: makeSock,
        connectHeaders: headers,
        heartbeatOutgoing: heartbeat[0],
        heartbeatIncoming: heartbeat[1],
        reconnectDelay: 0,
        splitLargeFrames,
        debug: () => {},
      });
      client.onStompError = (frame) => errors.push({ headers: frame.headers, body: frame.body });
      client.onUnhandledReceipt = (frame) => receipts.push(frame.headers['receipt-id']);
      const connected = new Promise((resolve) => {
        client.onConnect = (frame) => resolve(frame.headers);
      });
      client.activate();
      return wrap(connected, {
        subscribe: (destination, onMessage, subHeaders) => {
          const sub = client.subscribe(destination, onMessage, subHeaders);
          return { id: sub.id, unsubscribe: (h) => sub.unsubscribe(h) };
        },
        send: (destination, body, sendHeaders) => client.publish({ destination, body, headers: sendHeaders }),
        disconnect: () => within(client.deactivate(), 'deactivate', describe),
      });
    }

    // stompjs 2.3.3
    const client = env.Stomp.over(makeSock());
    client.debug = null;
    client.heartbeat.outgoing = heartbeat[0];
    client.heartbeat.incoming = heartbeat[1];
    client.onreceipt = (frame) => receipts.push(frame.headers['receipt-id']);
    const connected = new Promise((resolve) => {
      client.connect(
        headers,
        (frame) => resolve(frame.headers),
        (error) => {
          if (typeof error === 'object') errors.push({ headers: error.headers, body: error.body });
        },
      );
    });
    return wrap(connected, {
      subscribe: (destination, onMessage, subHeaders) => {
        const sub = client.subscribe(destination, onMessage, subHeaders);
        return { id: sub.id, unsubscribe: () => sub.unsubscribe() };
      },
      send: (destination, body, sendHeaders) => client.send(destination, sendHeaders, body),
      disconnect: () => new Promise((resolve) => client.disconnect(resolve)),
    });
  }

  function check(condition, message, conn) {
    if (!condition) throw new Error(`${message}${conn ? `; ${conn.describe()}` : ''}`);
  }

  /** Subscribes and waits until the subscription exists (its RECEIPT). */
  async function subscribed(conn, destination, headers = {}) {
    const receipt = `sub-${token()}`;
    const sub = conn.subscribe(destination, { ...headers, receipt });
    await conn.receipt(receipt);
    return sub;
  }

  const withBody = (body) => (m) => m.body === body;

  const scenarios = {
    /** Connect with heart-beats, subscribe, SEND to /app/echo with a receipt, get the reply on /topic/echo. */
    async echo(env) {
      const login = `e-${token()}`;
      const conn = await connect(env, { login });
      try {
        const sub = await subscribed(conn, '/topic/echo');
        const body = JSON.stringify({ hello: `${login} ✓` });
        conn.send('/app/echo', body, { 'content-type': 'application/json', receipt: 'r-send' });
        await conn.receipt('r-send');
        const m = await sub.inbox.next(withBody(body), 'the echo');
        return {
          transport: conn.transport,
          connected: conn.connected,
          login,
          message: { headers: m.headers, body: m.body },
        };
      } finally {
        await conn.disconnect();
      }
    },

    /** /user/queue/... reaches both sessions of one user, and not another user. */
    async userDestinations(env) {
      const user = `u-${token()}`;
      const [a, b, other] = await Promise.all([
        connect(env, { login: user }),
        connect(env, { login: user }),
        connect(env, { login: `o-${token()}` }),
      ]);
      try {
        const subs = await Promise.all([a, b, other].map((c) => subscribed(c, '/user/queue/private')));
        const body = `private ${token()}`;
        other.send(`/user/${user}/queue/private`, body);
        const got = await Promise.all(subs.slice(0, 2).map((s) => s.inbox.next(withBody(body), 'the private message')));
        // The sender (another user) got nothing: its first message is its own marker.
        const marker = `marker ${token()}`;
        other.send(`/user/${other.connected['user-name']}/queue/private`, marker);
        const first = await subs[2].inbox.next(() => true, "the other user's marker");
        check(first.body === marker, `the other user received ${JSON.stringify(first.body)}`, other);
        return { destinations: got.map((m) => m.headers.destination), users: [a, b].map((c) => c.connected['user-name']) };
      } finally {
        await Promise.all([a, b, other].map((c) => c.disconnect()));
      }
    },

    /** ack:client (cumulative ACK) and ack:client-individual with ACK and NACK, each with a receipt. */
    async ackModes(env) {
      const conn = await connect(env, { login: `ack-${token()}` });
      const seen = {};
      try {
        for (const mode of ['client', 'client-individual']) {
          const dest = `/queue/ack-${token()}`;
          const sub = await subscribed(conn, dest, { ack: mode });
          const bodies = ['one', 'two', 'three'].map((b) => `${b} ${token()}`);
          for (const b of bodies) conn.send(dest, b);
          const msgs = [];
          for (const b of bodies) msgs.push(await sub.inbox.next(withBody(b), `message ${b}`));
          if (mode === 'client') {
            msgs[2].ack({ receipt: 'ack-all' });
            await conn.receipt('ack-all');
          } else {
            msgs[0].ack({ receipt: 'ack-0' });
            msgs[1].nack({ receipt: 'nack-1' });
            msgs[2].ack({ receipt: 'ack-2' });
            for (const r of ['ack-0', 'nack-1', 'ack-2']) await conn.receipt(r);
          }
          seen[mode] = msgs.map((m) => ({ ack: m.headers.ack ?? null, messageId: m.headers['message-id'] }));
        }
        check(conn.errors.items.length === 0, 'no ERROR after acknowledgements', conn);
        return seen;
      } finally {
        await conn.disconnect();
      }
    },

    /** A malformed frame gets an ERROR frame (with a message header), then the session closes. */
    async badFrame(env) {
      const conn = await connect(env, { login: `bad-${token()}` });
      conn.raw('BOGUS\ndestination:/topic/x\n\nnot a frame\0');
      const error = await conn.errors.next(() => true, 'ERROR');
      const close = await within(conn.closed, 'the close after ERROR', conn.describe);
      return { message: error.headers.message, close };
    },

    /** A 40 KiB message, split over several SockJS messages by the client, echoed back whole. */
    async largeMessage(env) {
      const conn = await connect(env, { login: `big-${token()}`, splitLargeFrames: true });
      try {
        const sub = await subscribed(conn, '/topic/echo');
        const head = `big ${token()} `;
        let body = head;
        while (body.length < 40 * 1024) body += 'é-abcdefghijklmnopqrstuvwxyz0123456789 ';
        const before = conn.sends;
        conn.send('/app/echo', body, { 'content-type': 'text/plain' });
        const m = await sub.inbox.next(withBody(body), 'the 40 KiB echo');
        return { chunks: conn.sends - before, length: m.body.length };
      } finally {
        await conn.disconnect();
      }
    },

    /** UNSUBSCRIBE stops one subscription (the other keeps receiving), then DISCONNECT. */
    async unsubscribeDisconnect(env) {
      const conn = await connect(env, { login: `un-${token()}` });
      const dest = `/topic/un-${token()}`;
      const one = await subscribed(conn, dest);
      const two = await subscribed(conn, dest);
      if (env.lib === 'v7') {
        one.unsubscribe({ receipt: 'unsub' });
        await conn.receipt('unsub');
      } else {
        one.unsubscribe();
      }
      const bodies = [`first ${token()}`, `second ${token()}`];
      for (const b of bodies) conn.send(dest, b);
      for (const b of bodies) await two.inbox.next(withBody(b), b);
      // Both went out on subscription two after the UNSUBSCRIBE; one got none of them.
      check(one.inbox.items.length === 0, `the unsubscribed subscription got ${one.inbox.items.length} message(s)`, conn);
      await conn.disconnect();
      const close = await within(conn.closed, 'the close after DISCONNECT', conn.describe);
      return { close };
    },
  };

  /** Runs scenario `name` with `env`; resolves with its summary. */
  function run(name, env) {
    const scenario = scenarios[name];
    if (!scenario) return Promise.reject(new Error(`no scenario ${name}`));
    return scenario(env);
  }

  return { run, connect, subscribed, within, names: Object.keys(scenarios), WAIT_MS };
});

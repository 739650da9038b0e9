'use strict';

// A thin recorder around a sockjs-client SockJS object: it keeps every event
// and lets a test await a condition on them, bounded in time. A timeout is a
// test failure that says what was awaited and what had happened so far.

const SockJS = require('sockjs-client');

// sockjs-client gives a transport max(options.timeout, RTO * roundTrips) to
// send `o`; the RTO of a loopback connection is ~300 ms, which a debug build on
// a busy 2-core CI machine can miss. We are testing the protocol, not latency.
const TRANSPORT_OPEN_TIMEOUT_MS = 10_000;

const DEFAULT_WAIT_MS = 15_000;

const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

function preview(s, max = 60) {
  if (typeof s !== 'string') return String(s);
  const shown = JSON.stringify(s.length > max ? s.slice(0, max) : s);
  return s.length > max ? `${shown}... (${s.length} chars)` : shown;
}

class Client {
  /**
   * @param {string} url            the SockJS endpoint, e.g. http://127.0.0.1:1234/echo
   * @param {object} [opts]
   * @param {string[]} [opts.transports]  forced transports (undefined: no restriction)
   */
  constructor(url, { transports } = {}) {
    this.url = url;
    this.requested = transports;
    this.opened = false;
    this.openTransport = null;
    this.messages = [];
    this.heartbeats = 0;
    this.errors = 0;
    this.closeEvent = null;
    this._waiters = new Set();

    const options = { timeout: TRANSPORT_OPEN_TIMEOUT_MS };
    if (transports) options.transports = transports;
    this.sock = new SockJS(url, null, options);

    this.sock.addEventListener('open', () => {
      this.opened = true;
      this.openTransport = this.sock.transport;
      this._notify();
    });
    this.sock.addEventListener('message', (e) => {
      this.messages.push(e.data);
      this._notify();
    });
    this.sock.addEventListener('heartbeat', () => {
      this.heartbeats += 1;
      this._notify();
    });
    this.sock.addEventListener('error', () => {
      this.errors += 1;
      this._notify();
    });
    this.sock.addEventListener('close', (e) => {
      this.closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      this._notify();
    });
  }

  describe() {
    const ce = this.closeEvent;
    return (
      `[${this.url} transports=${JSON.stringify(this.requested ?? 'any')}` +
      ` readyState=${READY_STATES[this.sock.readyState] ?? this.sock.readyState}` +
      ` opened=${this.opened} transport=${this.openTransport}` +
      ` messages=${this.messages.length}` +
      (this.messages.length ? ` last=${preview(this.messages[this.messages.length - 1])}` : '') +
      ` heartbeats=${this.heartbeats}` +
      ` close=${ce ? `${ce.code} ${JSON.stringify(ce.reason)} wasClean=${ce.wasClean}` : 'none'}]`
    );
  }

  _notify() {
    for (const check of [...this._waiters]) check();
  }

  /**
   * Resolves with predicate()'s truthy result as soon as it has one (checked
   * now and after every event). predicate may throw to fail at once.
   */
  waitFor(what, predicate, timeoutMs = DEFAULT_WAIT_MS) {
    return new Promise((resolve, reject) => {
      let timer = null;
      const finish = (fn, value) => {
        this._waiters.delete(check);
        if (timer) clearTimeout(timer);
        fn(value);
      };
      const check = () => {
        let value;
        try {
          value = predicate();
        } catch (err) {
          err.message = `while waiting for ${what}: ${err.message}\n  client: ${this.describe()}`;
          finish(reject, err);
          return;
        }
        if (value) finish(resolve, value);
      };
      this._waiters.add(check);
      timer = setTimeout(() => {
        finish(
          reject,
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n  client: ${this.describe()}`),
        );
      }, timeoutMs);
      check();
    });
  }

  _failIfClosed() {
    if (this.closeEvent) {
      const { code, reason } = this.closeEvent;
      throw new Error(`the connection closed (${code} ${JSON.stringify(reason)})`);
    }
  }

  /** Waits for the open event; resolves with sock.transport. */
  waitOpen(timeoutMs) {
    return this.waitFor(
      'the open event',
      () => {
        if (this.opened) return this.openTransport;
        this._failIfClosed();
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits until `count` messages in total have arrived; resolves with all of them. */
  waitMessages(count, timeoutMs) {
    return this.waitFor(
      `${count} message(s)`,
      () => {
        if (this.messages.length >= count) return this.messages.slice();
        this._failIfClosed();
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits for a message equal to `expected` (other messages are ignored). */
  waitMessageEqual(expected, timeoutMs) {
    return this.waitFor(
      `the message ${preview(expected)}`,
      () => {
        if (this.messages.includes(expected)) return true;
        this._failIfClosed();
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits until `count` heartbeat events have been seen. */
  waitHeartbeats(count, timeoutMs) {
    return this.waitFor(
      `${count} heartbeat event(s)`,
      () => {
        if (this.heartbeats >= count) return true;
        this._failIfClosed();
        return false;
      },
      timeoutMs,
    );
  }

  /** Waits for the close event; resolves with {code, reason, wasClean}. */
  waitClose(timeoutMs) {
    return this.waitFor('the close event', () => this.closeEvent, timeoutMs);
  }

  send(data) {
    this.sock.send(data);
  }

  /** Closes the connection if it is not closed already (safe in `finally`). */
  close(code, reason) {
    if (this.sock.readyState === SockJS.CONNECTING || this.sock.readyState === SockJS.OPEN) {
      this.sock.close(code, reason);
    }
  }
}

/**
 * Opens a client and waits for it to be open; with `transports`, also checks
 * that the transport in use is the forced one.
 */
async function openClient(url, { transports, timeoutMs } = {}) {
  const client = new Client(url, { transports });
  try {
    const transport = await client.waitOpen(timeoutMs);
    if (transports && transports.length === 1 && transport !== transports[0]) {
      throw new Error(
        `opened on transport ${JSON.stringify(transport)}, expected ${JSON.stringify(transports[0])}` +
          `\n  client: ${client.describe()}`,
      );
    }
    return client;
  } catch (err) {
    client.close();
    throw err;
  }
}

/** Closes every client given (ignores ones already closed). */
function closeAll(...clients) {
  for (const c of clients) if (c) c.close();
}

module.exports = { Client, openClient, closeAll, preview, DEFAULT_WAIT_MS };

// The in-page half of lib/browser.js's PageClient: it records every event of
// each SockJS object it creates and lets the test await a condition on them,
// bounded in time. A timeout rejects with what was awaited and the client's
// state (the same wording as lib/client.js).
//
// Strings cross the DevTools protocol as pure-ASCII JSON (see encodeAscii in
// lib/browser.js), so a lone surrogate survives the trip both ways.
(function () {
  'use strict';

  // sockjs-client gives a transport max(options.timeout, RTO * roundTrips) to
  // open; a debug server build on a busy 2-core machine can be slow.
  var TRANSPORT_OPEN_TIMEOUT_MS = 10000;
  var DEFAULT_WAIT_MS = 15000;
  var READY_STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

  function encodeAscii(value) {
    return JSON.stringify(value).replace(/[^\x20-\x7e]/g, function (c) {
      return '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');
    });
  }

  function preview(s, max) {
    max = max || 60;
    if (typeof s !== 'string') return String(s);
    var shown = encodeAscii(s.length > max ? s.slice(0, max) : s);
    return s.length > max ? shown + '... (' + s.length + ' chars)' : shown;
  }

  var clients = {};

  function Recorder(id, url, transports, timeoutMs) {
    var self = this;
    this.id = id;
    this.url = url;
    this.requested = transports;
    this.opened = false;
    this.openTransport = null;
    this.messages = [];
    this.heartbeats = 0;
    this.errors = 0;
    this.closeEvent = null;
    this.waiters = [];
    var options = { timeout: timeoutMs || TRANSPORT_OPEN_TIMEOUT_MS };
    if (transports) options.transports = transports;
    this.sock = new SockJS(url, null, options);
    this.sock.addEventListener('open', function () {
      self.opened = true;
      self.openTransport = self.sock.transport;
      self.notify();
    });
    this.sock.addEventListener('message', function (e) {
      self.messages.push(e.data);
      self.notify();
    });
    this.sock.addEventListener('heartbeat', function () {
      self.heartbeats += 1;
      self.notify();
    });
    this.sock.addEventListener('error', function () {
      self.errors += 1;
      self.notify();
    });
    this.sock.addEventListener('close', function (e) {
      self.closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      self.notify();
    });
  }

  Recorder.prototype.describe = function () {
    var ce = this.closeEvent;
    var last = this.messages.length ? ' last=' + preview(this.messages[this.messages.length - 1]) : '';
    return (
      '[browser ' + this.url + ' transports=' + JSON.stringify(this.requested || 'any') +
      ' readyState=' + (READY_STATES[this.sock.readyState] || this.sock.readyState) +
      ' opened=' + this.opened + ' transport=' + this.openTransport +
      ' messages=' + this.messages.length + last +
      ' heartbeats=' + this.heartbeats + ' errors=' + this.errors +
      ' close=' + (ce ? ce.code + ' ' + JSON.stringify(ce.reason) + ' wasClean=' + ce.wasClean : 'none') + ']'
    );
  };

  Recorder.prototype.notify = function () {
    this.waiters.slice().forEach(function (check) { check(); });
  };

  Recorder.prototype.waitFor = function (what, predicate, timeoutMs) {
    var self = this;
    timeoutMs = timeoutMs || DEFAULT_WAIT_MS;
    return new Promise(function (resolve, reject) {
      var timer = null;
      var check;
      var finish = function (fn, value) {
        var i = self.waiters.indexOf(check);
        if (i >= 0) self.waiters.splice(i, 1);
        if (timer) clearTimeout(timer);
        fn(value);
      };
      check = function () {
        var value;
        try {
          value = predicate();
        } catch (err) {
          finish(reject, new Error('while waiting for ' + what + ': ' + err.message + '\n  client: ' + self.describe()));
          return;
        }
        if (value) finish(resolve, value);
      };
      self.waiters.push(check);
      timer = setTimeout(function () {
        finish(reject, new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what + '\n  client: ' + self.describe()));
      }, timeoutMs);
      check();
    });
  };

  Recorder.prototype.failIfClosed = function () {
    if (this.closeEvent) {
      throw new Error('the connection closed (' + this.closeEvent.code + ' ' + JSON.stringify(this.closeEvent.reason) + ')');
    }
  };

  function get(id) {
    var c = clients[id];
    if (!c) throw new Error('no client ' + id + ' in this page');
    return c;
  }

  window.harness = {
    create: function (id, url, transports, timeoutMs) {
      clients[id] = new Recorder(id, url, transports, timeoutMs);
      return id;
    },
    waitOpen: function (id, timeoutMs) {
      var c = get(id);
      return c.waitFor('the open event', function () {
        if (c.opened) return c.openTransport;
        c.failIfClosed();
        return false;
      }, timeoutMs);
    },
    send: function (id, encoded) {
      var c = get(id);
      JSON.parse(encoded).forEach(function (m) { c.sock.send(m); });
      return true;
    },
    waitMessages: function (id, count, timeoutMs) {
      var c = get(id);
      return c.waitFor(count + ' message(s)', function () {
        if (c.messages.length >= count) return true;
        c.failIfClosed();
        return false;
      }, timeoutMs).then(function () { return encodeAscii(c.messages); });
    },
    waitMessageEqual: function (id, encoded, timeoutMs) {
      var c = get(id);
      var expected = JSON.parse(encoded);
      return c.waitFor('the message ' + preview(expected), function () {
        if (c.messages.indexOf(expected) >= 0) return true;
        c.failIfClosed();
        return false;
      }, timeoutMs);
    },
    waitHeartbeats: function (id, count, timeoutMs) {
      var c = get(id);
      return c.waitFor(count + ' heartbeat event(s)', function () {
        if (c.heartbeats >= count) return true;
        c.failIfClosed();
        return false;
      }, timeoutMs);
    },
    waitClose: function (id, timeoutMs) {
      var c = get(id);
      return c.waitFor('the close event', function () { return c.closeEvent; }, timeoutMs);
    },
    state: function (id) {
      var c = get(id);
      return {
        opened: c.opened,
        transport: c.openTransport,
        messages: c.messages.length,
        heartbeats: c.heartbeats,
        errors: c.errors,
        close: c.closeEvent,
      };
    },
    describe: function (id) {
      return get(id).describe();
    },
    close: function (id, code, reason) {
      var c = get(id);
      if (c.sock.readyState === SockJS.CONNECTING || c.sock.readyState === SockJS.OPEN) {
        if (code === null) c.sock.close();
        else c.sock.close(code, reason);
      }
      return true;
    },
  };
})();

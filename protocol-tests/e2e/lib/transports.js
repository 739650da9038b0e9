'use strict';

// The sockjs-client transports the suite forces one at a time
// (`new SockJS(url, null, { transports: [t] })`).
//
// Only transports that work in Node can be listed: the iframe-based ones,
// htmlfile, jsonp-polling and the xdr-* ones need a browser DOM.
//
// eventsource works in Node through the `eventsource` npm package that
// sockjs-client 1.6.1 depends on. sockjs-client runs decodeURI() on every
// eventsource `data:` line, so the server must percent-encode '%', '\r', '\n'
// and '\0' in it; the echo batch contains '%' sequences to catch that.
const ENABLED_TRANSPORTS = Object.freeze(['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource']);
const PENDING_TRANSPORTS = Object.freeze([]);

// SOCKJS_E2E_TRANSPORTS=websocket,eventsource overrides the list for one run
// (e.g. to try a transport that is still pending against sockjs-node).
function transportsUnderTest() {
  const override = process.env.SOCKJS_E2E_TRANSPORTS;
  if (!override) return ENABLED_TRANSPORTS;
  const list = override.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new Error('SOCKJS_E2E_TRANSPORTS is set but names no transport');
  return Object.freeze(list);
}

module.exports = { ENABLED_TRANSPORTS, PENDING_TRANSPORTS, transportsUnderTest };

// The reference implementation (sockjs-node 0.3.24) serving the same endpoints as our
// conformance server, so the black-box tests in ../tests can be checked against it.
//
//   npm ci && node server.js --port 8081
//   SOCKJS_URL=http://127.0.0.1:8081 cargo test -p sockjs-protocol-tests
'use strict';

const http = require('http');
const sockjs = require('sockjs');

function parsePort(argv) {
  const i = argv.indexOf('--port');
  if (i < 0 || i + 1 >= argv.length) {
    return 8081;
  }
  const port = Number.parseInt(argv[i + 1], 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error('--port needs a number in 0..65535, got ' + argv[i + 1]);
  }
  return port;
}

const quiet = { log: () => {} };
const CLIENT_URL = 'https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js';

function endpoint(prefix, options, onConnection) {
  const server = sockjs.createServer(Object.assign({ sockjs_url: CLIENT_URL }, quiet, options));
  server.on('connection', onConnection);
  return { prefix, server };
}

function echo(conn) {
  conn.on('data', (message) => conn.write(message));
}

const broadcastMembers = new Set();

const endpoints = [
  endpoint('/echo', { response_limit: 4096 }, echo),
  endpoint('/disabled_websocket_echo', { websocket: false }, echo),
  endpoint('/cookie_needed_echo', { jsessionid: true }, echo),
  endpoint('/close', {}, (conn) => conn.close(3000, 'Go away!')),
  endpoint('/ticker', {}, (conn) => {
    const timer = setInterval(() => conn.write('tick!'), 1000);
    conn.on('close', () => clearInterval(timer));
  }),
  endpoint('/broadcast', {}, (conn) => {
    broadcastMembers.add(conn);
    conn.on('data', (message) => {
      for (const member of broadcastMembers) {
        member.write(message);
      }
    });
    conn.on('close', () => broadcastMembers.delete(conn));
  }),
  endpoint('/amplify', {}, (conn) => {
    conn.on('data', (message) => {
      // The exponent as sockjs-node's own test server reads it: JavaScript's number
      // conversion, rounded down, and 1 unless that lands in 1..18.
      const floored = Math.floor(Number(message));
      const n = floored >= 1 && floored <= 18 ? floored : 1;
      conn.write('x'.repeat(2 ** n));
    });
  }),
];

// Requests that match no prefix fall through to these listeners: sockjs's installHandlers
// overshadows the listeners present when it is called, so they must be added first.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' });
  res.end('Not found\n');
});
httpServer.on('upgrade', (req, socket) => {
  socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
});
for (const { prefix, server } of endpoints) {
  server.installHandlers(httpServer, { prefix });
}

const port = parsePort(process.argv);
httpServer.listen(port, '127.0.0.1', () => {
  const address = httpServer.address();
  process.stdout.write('listening on http://127.0.0.1:' + address.port + '\n');
});

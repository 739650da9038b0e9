// The sockjs-node 0.3.24 server of the benchmark: /echo and /broadcast with sockjs-node's
// default options (heartbeat 25 s, response limit 128 KiB), logging off.
//
//   npm ci && node server.js --port 8081     (--port 0 picks a free port)
//
// Prints "listening on 127.0.0.1:PORT" once bound; exits on SIGTERM or SIGINT.
'use strict';

const http = require('http');
const sockjs = require('sockjs');

function portFrom(argv) {
  const i = argv.indexOf('--port');
  if (i < 0) {
    return 8081;
  }
  const port = Number(argv[i + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('--port needs a number in 0..65535');
    process.exit(2);
  }
  return port;
}

function silent() {}

const echo = sockjs.createServer({ log: silent });
echo.on('connection', (conn) => {
  conn.on('data', (message) => conn.write(message));
});

const members = new Set();
const broadcast = sockjs.createServer({ log: silent });
broadcast.on('connection', (conn) => {
  members.add(conn);
  conn.on('data', (message) => {
    for (const member of members) {
      member.write(message);
    }
  });
  conn.on('close', () => members.delete(conn));
});

const server = http.createServer((req, res) => {
  // Requests outside both prefixes (the handlers below take theirs first).
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('404 Not Found\n');
});
echo.installHandlers(server, { prefix: '/echo' });
broadcast.installHandlers(server, { prefix: '/broadcast' });

server.listen(portFrom(process.argv), '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`listening on ${address}:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}

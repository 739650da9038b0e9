'use strict';

// Starts the conformance server under test as a child process, or uses one
// that is already running.
//
// Environment:
//   SOCKJS_URL              base URL of an already-running server (e.g.
//                           http://127.0.0.1:8081); nothing is started then.
//   SOCKJS_HEARTBEAT_SECS   with SOCKJS_URL: that server's heartbeat interval,
//                           which enables the heartbeat tests.
//   SOCKJS_SERVER_BIN       the server binary to start; default
//                           <repo>/target/debug/sockjs-conformance-server.
//   SOCKJS_E2E_LOG_DIR      where the started server's output is written;
//                           default protocol-tests/e2e/test-output/.
//
// Waiting for the port is a bounded poll of TCP connects (the child prints
// nothing we could rely on); a child that exits early fails at once.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const DEFAULT_BIN = path.join(REPO_ROOT, 'target', 'debug', 'sockjs-conformance-server');
const STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** Asks the OS for a free TCP port on 127.0.0.1 by binding port 0. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = srv.address();
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Resolves once one TCP connect to host:port succeeds. */
function tryConnect(host, port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      sock.removeAllListeners();
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts (or attaches to) the server under test.
 *
 * @param {object} opts
 * @param {string} opts.name          a label for the log file (e.g. the test file)
 * @param {number} [opts.heartbeatSecs] passed as --heartbeat-secs
 * @returns {Promise<{baseUrl: string, heartbeatSecs: number|null, external: boolean,
 *                    stop: () => Promise<void>, describe: () => string}>}
 */
async function startServer({ name, heartbeatSecs } = {}) {
  const external = process.env.SOCKJS_URL;
  if (external) {
    const hb = process.env.SOCKJS_HEARTBEAT_SECS;
    return {
      baseUrl: external.replace(/\/+$/, ''),
      heartbeatSecs: hb ? Number(hb) : null,
      external: true,
      stop: async () => {},
      describe: () => `external server at ${external}`,
    };
  }

  const bin = process.env.SOCKJS_SERVER_BIN || DEFAULT_BIN;
  if (!fs.existsSync(bin)) {
    throw new Error(
      `server binary not found: ${bin}\n` +
        'Build it with `cargo build -p sockjs-protocol-tests`, set SOCKJS_SERVER_BIN to it, ' +
        'or set SOCKJS_URL to an already-running server.',
    );
  }

  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`];
  if (heartbeatSecs !== undefined) args.push('--heartbeat-secs', String(heartbeatSecs));

  const logDir = process.env.SOCKJS_E2E_LOG_DIR || path.join(__dirname, '..', 'test-output');
  fs.mkdirSync(logDir, { recursive: true });
  const logPath = path.join(logDir, `${name || 'server'}-server.log`);
  const log = fs.createWriteStream(logPath);
  let output = '';
  const record = (chunk) => {
    log.write(chunk);
    output = tail(output + chunk.toString('utf8'), 200);
  };

  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { RUST_LOG: 'info', ...process.env },
  });
  child.stdout.on('data', record);
  child.stderr.on('data', record);
  const command = `${bin} ${args.join(' ')}`;

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      exitInfo = { code: null, signal: null, error: err };
      resolve(exitInfo);
    });
  });
  // Never leave the child behind, even if this process dies on a failure.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const describe = () =>
    `server \`${command}\` (log: ${logPath})` +
    (exitInfo ? `, exited with ${JSON.stringify(exitInfo)}` : '') +
    `\n--- last server output ---\n${tail(output)}\n---`;

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!exitInfo) {
      child.kill('SIGTERM');
      let timer;
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
      });
      if ((await Promise.race([exited, timedOut])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
      clearTimeout(timer);
    }
    await new Promise((resolve) => log.end(resolve));
  };

  // Bounded wait until the port accepts connections.
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (exitInfo) {
      await stop();
      throw new Error(`the server exited before accepting connections: ${describe()}`);
    }
    if (await tryConnect('127.0.0.1', port)) break;
    if (Date.now() > deadline) {
      const message =
        `the server did not accept connections on 127.0.0.1:${port} within ` +
        `${STARTUP_TIMEOUT_MS} ms: ${describe()}`;
      await stop();
      throw new Error(message);
    }
    // Poll interval of the bounded readiness probe (there is no event to await).
    await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
  }

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    heartbeatSecs: heartbeatSecs ?? null,
    external: false,
    stop,
    describe,
  };
}

module.exports = { startServer, freePort, REPO_ROOT };

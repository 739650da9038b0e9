'use strict';

// Starts a helper process the browser, proxy and chat tests need (the
// conformance server with extra arguments, nginx, the chat example), waits a
// bounded time for it to accept TCP connections on a loopback port, and stops
// it (only that process, by its pid) at the end, also on failure.
//
// lib/server.js does the same for the plain conformance server of the Node
// tests; this one takes any command line.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const { freePort, REPO_ROOT } = require('./server');

const DEFAULT_STARTUP_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

function logDir() {
  const dir = process.env.SOCKJS_E2E_LOG_DIR || path.join(__dirname, '..', 'test-output');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

/** Resolves true once one TCP connect to host:port succeeds, false on failure. */
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

/**
 * Spawns `command args` and waits until every port in `ports` accepts TCP
 * connections on 127.0.0.1.
 *
 * @param {object} o
 * @param {string} o.name         label for the log file test-output/<name>.log
 * @param {string} o.command      executable
 * @param {string[]} o.args
 * @param {number[]} o.ports      loopback ports that must accept connections
 * @param {object} [o.env]        extra environment variables
 * @param {string} [o.stopSignal] default SIGTERM (nginx: SIGQUIT for a graceful stop)
 * @param {number} [o.startupTimeoutMs]
 * @returns {Promise<{pid: number, logPath: string, stop: () => Promise<void>,
 *                    describe: () => string, output: () => string,
 *                    signal: (sig: string) => void, exited: Promise<object>,
 *                    exitInfo: () => object|null}>}
 *   signal() sends a signal (e.g. SIGKILL to simulate a crash); `exited`
 *   resolves with {code, signal} once the process has ended.
 */
async function startProcess({ name, command, args, ports, env, stopSignal = 'SIGTERM', startupTimeoutMs }) {
  if (!fs.existsSync(command)) {
    throw new Error(`${name}: executable not found: ${command}`);
  }
  const logPath = path.join(logDir(), `${name}.log`);
  const log = fs.createWriteStream(logPath);
  let output = '';
  const record = (chunk) => {
    log.write(chunk);
    output = tail(output + chunk.toString('utf8'), 200);
  };

  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  child.stdout.on('data', record);
  child.stderr.on('data', record);
  const commandLine = `${command} ${args.join(' ')}`;

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      exitInfo = { code: null, signal: null, error: String(err) };
      resolve(exitInfo);
    });
  });
  // Never leave the child behind, even if the test process dies on a failure.
  const killOnExit = () => {
    if (!exitInfo) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const describe = () =>
    `${name} \`${commandLine}\` (log: ${logPath})` +
    (exitInfo ? `, exited with ${JSON.stringify(exitInfo)}` : '') +
    `\n--- last ${name} output ---\n${tail(output)}\n---`;

  let stopping = null;
  const stop = () => {
    if (!stopping) {
      stopping = (async () => {
        process.removeListener('exit', killOnExit);
        if (!exitInfo) {
          child.kill(stopSignal);
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
      })();
    }
    return stopping;
  };

  const timeoutMs = startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    for (;;) {
      if (exitInfo) {
        await stop();
        throw new Error(`${name} exited before accepting connections: ${describe()}`);
      }
      if (await tryConnect('127.0.0.1', port)) break;
      if (Date.now() > deadline) {
        const message = `${name} did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms: ${describe()}`;
        await stop();
        throw new Error(message);
      }
      // Poll interval of the bounded readiness probe (there is no event to await).
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
  }

  const signal = (sig) => {
    if (!exitInfo) child.kill(sig);
  };
  return { pid: child.pid, logPath, stop, describe, output: () => output, signal, exited, exitInfo: () => exitInfo };
}

/**
 * Starts the conformance server with extra options (the Node tests' lib/server.js
 * passes only --listen and --heartbeat-secs). Honours SOCKJS_SERVER_BIN.
 */
async function startConformanceServer({ name, heartbeatSecs, sockjsUrl }) {
  const bin =
    process.env.SOCKJS_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'sockjs-conformance-server');
  if (!fs.existsSync(bin)) {
    throw new Error(
      `server binary not found: ${bin}\n` +
        'Build it with `cargo build -p sockjs-protocol-tests` or set SOCKJS_SERVER_BIN to it.',
    );
  }
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`];
  if (heartbeatSecs !== undefined) args.push('--heartbeat-secs', String(heartbeatSecs));
  if (sockjsUrl !== undefined) args.push('--sockjs-url', sockjsUrl);
  const proc = await startProcess({
    name: `${name}-server`,
    command: bin,
    args,
    ports: [port],
    env: { RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  return { ...proc, port, baseUrl: `http://127.0.0.1:${port}` };
}

module.exports = { startProcess, startConformanceServer, freePort, logDir, REPO_ROOT };

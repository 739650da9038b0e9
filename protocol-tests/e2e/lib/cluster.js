'use strict';

// A sockjs-rs cluster on loopback for the end-to-end tests: a real
// redis-server, nodes (the conformance server with --redis, or the chat
// example with REDIS_URL), and nginx running the repository's own
// deploy/nginx/sockjs-cluster.conf with only the addresses changed (its
// `listen` line and the `server` lines of its upstream block).
//
// Environment:
//   SOCKJS_E2E_REDIS   the redis-server executable (default: redis-server on PATH)

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { startProcess, freePort, REPO_ROOT } = require('./process');
const { startNginxWith } = require('./nginx');

const NGINX_CONF = path.join(REPO_ROOT, 'deploy', 'nginx', 'sockjs-cluster.conf');
/** The cookie-sticky alternative. */
const NGINX_JSESSIONID_CONF = path.join(REPO_ROOT, 'deploy', 'nginx', 'sockjs-cluster-jsessionid.conf');

function redisPath() {
  if (process.env.SOCKJS_E2E_REDIS) return process.env.SOCKJS_E2E_REDIS;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, 'redis-server');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error("redis-server not found: install Debian's redis-server package (scripts/test.sh does) or set SOCKJS_E2E_REDIS");
}

/**
 * deploy/nginx/sockjs-cluster.conf with nginx listening on `listenPort` and the
 * upstream's nodes at `nodePorts` (each keeps the file's server parameters).
 * Fails if the file no longer has the lines this replaces.
 */
function clusterNginxConf({ listenPort, nodePorts, file = NGINX_CONF }) {
  const text = fs.readFileSync(file, 'utf8');
  const listen = /^(\s*)listen 127\.0\.0\.1:\d+;$/m;
  const server = /^(\s*)server 127\.0\.0\.1:\d+( [^;\n]*)?;\n/gm;
  const servers = [...text.matchAll(server)];
  if (!listen.test(text) || servers.length === 0) {
    throw new Error(`${file}: no 'listen 127.0.0.1:PORT;' line or no 'server 127.0.0.1:PORT ...;' lines to replace`);
  }
  const [, indent, params = ''] = servers[0];
  const ours = nodePorts.map((port) => `${indent}server 127.0.0.1:${port}${params};\n`).join('');
  let first = true;
  return text.replace(listen, `$1listen 127.0.0.1:${listenPort};`).replace(server, () => {
    const replacement = first ? ours : '';
    first = false;
    return replacement;
  });
}

/**
 * nginx with the repository's cluster configuration (`file`, default
 * sockjs-cluster.conf) in front of `nodePorts`. Its access log
 * (test-output/<name>-nginx-access.log) has the routing key and the node of
 * every request. Resolves with { url, ...nginx }.
 */
async function startClusterNginx({ name, nodePorts, file = NGINX_CONF }) {
  const listenPort = await freePort();
  const conf = clusterNginxConf({ listenPort, nodePorts, file });
  const key = file === NGINX_CONF ? '$sockjs_route' : '$sockjs_sticky';
  const nginx = await startNginxWith({
    name,
    ports: [listenPort],
    logs: ['access.log'],
    httpAccessLog: { file: 'access.log', format: 'sockjs_cluster' },
    http: () => `    log_format sockjs_cluster '$request_method $uri key=${key} node=$upstream_addr status=$status';
${conf}`,
  });
  return { ...nginx, url: `http://127.0.0.1:${listenPort}` };
}

/**
 * A redis-server on a free loopback port, without persistence, in its own
 * temporary directory. kill() ends it with SIGKILL (as a crash); start()
 * starts it again, empty, on the same port.
 */
async function startRedis({ name }) {
  const bin = redisPath();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockjs-e2e-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  let generation = 0;
  const spawn = () =>
    startProcess({ name: `${name}-redis${generation ? `-${generation}` : ''}`, command: bin, args, ports: [port] });
  let proc = await spawn();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    describe: () => proc.describe(),
    async kill() {
      proc.signal('SIGKILL');
      await proc.exited;
      await proc.stop();
    },
    async start() {
      generation += 1;
      proc = await spawn();
    },
    async stop() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function conformanceBin() {
  return process.env.SOCKJS_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'sockjs-conformance-server');
}

/**
 * A conformance server in cluster mode (--redis) on a free port.
 * Resolves with the process handle plus { port, url, nodeId }.
 */
async function startConformanceNode({ name, redisUrl, cluster, nodeId, ttlSecs, loginPolicy, heartbeatSecs }) {
  const bin = conformanceBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary not found: ${bin}\nBuild it with \`cargo build -p sockjs-protocol-tests\` or set SOCKJS_SERVER_BIN.`);
  }
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--redis', redisUrl, '--cluster', cluster, '--node-id', nodeId];
  if (ttlSecs !== undefined) args.push('--liveness-ttl-secs', String(ttlSecs));
  if (loginPolicy !== undefined) args.push('--login-policy', loginPolicy);
  if (heartbeatSecs !== undefined) args.push('--heartbeat-secs', String(heartbeatSecs));
  const proc = await startProcess({
    name: `${name}-node-${nodeId}`,
    command: bin,
    args,
    ports: [port],
    env: { RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1' },
  });
  return { ...proc, port, url: `http://127.0.0.1:${port}`, nodeId };
}

/** GET `url` + `path`, resolves with the body as text (non-2xx is an error). */
async function getText(url, { method = 'GET' } = {}) {
  const res = await fetch(url, { method });
  const body = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${body}`);
  return body;
}

/** A conformance node's GET /cluster. */
async function describeNode(node) {
  return JSON.parse(await getText(`${node.url}/cluster`));
}

/** Resident set size of a process in kB (/proc/<pid>/status VmRSS). */
function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** The sum of a metric's samples in Prometheus text. */
function metric(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * Polls `check()` (sync or async) until it returns a truthy value, which it
 * resolves with; fails after `timeoutMs` with `what` and the last value of
 * `state()` (if given). A bounded wait, never a timing assertion.
 */
async function eventually(what, check, { timeoutMs = 30_000, state } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const seen = state ? `\n  state: ${JSON.stringify(await state())}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}${seen}`);
    }
    // Poll interval of a bounded wait (the nodes push no events to the test).
    await new Promise((r) => setTimeout(r, 50));
  }
}

module.exports = {
  NGINX_CONF,
  NGINX_JSESSIONID_CONF,
  clusterNginxConf,
  startClusterNginx,
  startRedis,
  startConformanceNode,
  describeNode,
  getText,
  rssKb,
  metric,
  eventually,
};

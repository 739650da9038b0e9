'use strict';

// A real nginx on loopback, started by the test itself: its own config, pid
// file, logs and temp directories in a fresh mkdtemp directory; never the
// system's nginx service. It runs in the foreground (daemon off) as our child,
// and is stopped by its pid (SIGQUIT: graceful).
//
// Environment:
//   SOCKJS_E2E_NGINX   the nginx executable (default /usr/sbin/nginx)

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { startProcess, freePort } = require('./process');

function nginxPath() {
  return process.env.SOCKJS_E2E_NGINX || '/usr/sbin/nginx';
}

/**
 * The reverse-proxy block a SockJS deployment needs: HTTP/1.1 upstream,
 * websocket upgrade headers, no response buffering (streaming transports), and
 * the read timeout under test.
 */
function proxyServerBlock({ listenPort, upstreamPort, readTimeoutSecs, accessLog }) {
  return `
    server {
        listen 127.0.0.1:${listenPort};
        access_log ${accessLog};
        location / {
            proxy_pass http://127.0.0.1:${upstreamPort};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout ${readTimeoutSecs}s;
        }
    }`;
}

/**
 * Starts nginx with one proxy (a `server` block on its own port) per entry of
 * `proxies` ({ upstreamPort, readTimeoutSecs }). Resolves with
 * { urls: [base URL per proxy], accessLog(i): text of proxy i's access log,
 *   errorLog(), describe(), stop() }. An access log line is written when a
 * request ends, so a streaming request still open is not in it yet.
 */
async function startNginx({ name, proxies }) {
  const ports = [];
  for (let i = 0; i < proxies.length; i += 1) ports.push(await freePort());
  const logs = proxies.map((_, i) => `access-${i}.log`);
  const nginx = await startNginxWith({
    name,
    ports,
    logs,
    http: (p) =>
      `    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
${proxies
  .map((proxy, i) =>
    proxyServerBlock({
      listenPort: ports[i],
      upstreamPort: proxy.upstreamPort,
      readTimeoutSecs: proxy.readTimeoutSecs,
      accessLog: p(logs[i]),
    }),
  )
  .join('\n')}`,
  });
  return { ...nginx, urls: ports.map((port) => `http://127.0.0.1:${port}`) };
}

/**
 * Starts nginx with the text `http(p)` inside its `http { }` block (`p(file)`
 * is a path in nginx's own temporary directory, for logs), and waits until it
 * accepts connections on every port of `ports` (which the text must listen
 * on). `logs` are file names under p() to keep next to the test output.
 * `httpAccessLog` ({ file, format }, format declared by the text) is the
 * http-level access log (default: off).
 * Resolves with { dir, accessLog(i), errorLog(), describe(), stop() }.
 */
async function startNginxWith({ name, ports, logs = [], http, httpAccessLog }) {
  const bin = nginxPath();
  if (!fs.existsSync(bin)) {
    throw new Error(
      `nginx not found at ${bin}: install Debian's package (apt-get install nginx; scripts/test.sh does) ` +
        'or set SOCKJS_E2E_NGINX',
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockjs-e2e-nginx-'));
  // nginx started as root runs its workers as `nobody`, which must reach the
  // temp directories (a request body larger than the buffer goes to disk).
  fs.chmodSync(dir, 0o755);
  const p = (f) => path.join(dir, f);
  const conf = `# written by protocol-tests/e2e/lib/nginx.js
worker_processes 1;
daemon off;
pid ${p('nginx.pid')};
error_log ${p('error.log')} info;
events { worker_connections 256; }
http {${httpAccessLog ? '' : '\n    access_log off;'}
    client_body_temp_path ${p('client_body')};
    proxy_temp_path ${p('proxy')};
    fastcgi_temp_path ${p('fastcgi')};
    uwsgi_temp_path ${p('uwsgi')};
    scgi_temp_path ${p('scgi')};
    client_max_body_size 8m;
${http(p)}
${httpAccessLog ? `    access_log ${p(httpAccessLog.file)} ${httpAccessLog.format};` : ''}
}
`;
  fs.writeFileSync(p('nginx.conf'), conf);
  let proc;
  try {
    proc = await startProcess({
      name: `${name}-nginx`,
      command: bin,
      // -e: the early error log (before the config is read) goes to stderr, not /var/log.
      args: ['-p', dir, '-c', p('nginx.conf'), '-e', 'stderr'],
      ports,
      stopSignal: 'SIGQUIT',
    });
  } catch (err) {
    err.message += `\n--- nginx.conf ---\n${conf}\n--- error.log ---\n${readOr(p('error.log'))}`;
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    /** Signals the master process (SIGHUP: reload the configuration, as `nginx -s reload`). */
    signal: (sig) => proc.signal(sig),
    accessLog: (i) => readOr(p(logs[i])),
    errorLog: () => readOr(p('error.log')),
    describe: () => `${proc.describe()}\n--- nginx error.log (tail) ---\n${readOr(p('error.log')).split('\n').slice(-15).join('\n')}`,
    async stop() {
      await proc.stop();
      // Keep the logs next to the other test output, then remove the directory.
      const files = ['error.log', 'nginx.conf', ...logs];
      for (const f of files) {
        const kept = f === 'nginx.conf' ? `${name}-nginx.conf` : `${name}-nginx-${f}`;
        if (fs.existsSync(p(f))) fs.copyFileSync(p(f), path.join(path.dirname(proc.logPath), kept));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readOr(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

module.exports = { startNginx, startNginxWith, nginxPath, proxyServerBlock };

#!/usr/bin/env bash
# The chat demo as a cluster, in one command (from anywhere):
#
#     bash scripts/cluster-demo.sh
#
# It installs Debian's redis-server and nginx when they are missing (apt-get, as root or
# through sudo), builds the chat example, then starts on 127.0.0.1:
#
#   - redis-server (no persistence, in a temporary directory),
#   - three chat nodes with NODE_ID 0a, 0b and 0c sharing that Redis (REDIS_URL),
#   - nginx with deploy/nginx/sockjs-cluster.conf (only its addresses changed),
#
# prints the URL to open, and runs until Ctrl-C, which stops all of them (each by its own pid)
# and removes the temporary directory. Open the URL in two browser tabs with different names:
# each page says which node serves it; messages, the online list, the admin's `/kick NAME` and
# the duplicate-login policy span the three nodes. Kill a node (`kill -9 PID`, PIDs printed)
# to watch its pages reconnect through nginx to the others.
#
# Settings (environment variables, defaults in brackets):
#   DEMO_PORT [8080]              nginx's port (the URL you open)
#   DEMO_NODE_PORTS ["8081 8082 8083"]  the nodes' ports (a port in use: the next free one)
#   DEMO_REDIS_PORT [6390]        Redis's port (likewise)
#   DEMO_PROFILE [debug]          debug or release build of the chat example
#   DEMO_CHAT_BIN                 use this chat binary instead of building one
#   CHAT_ADMIN_TOKEN [letmein]    the admin's token (open ...?name=admin&token=letmein)
#   CHAT_LOGIN_POLICY [allow]     allow, replace or refuse a second tab with the same name
#   REDIS_LIVENESS_TTL_SECS [6]   how long a killed node's users stay online elsewhere
#                                 (at most TTL + TTL/3)
#
# The page loads sockjs-client from protocol-tests/e2e/node_modules when it is there (after
# `npm ci` in protocol-tests/e2e), else from jsDelivr.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

DEMO_PORT=${DEMO_PORT:-8080}
DEMO_NODE_PORTS=${DEMO_NODE_PORTS:-"8081 8082 8083"}
DEMO_REDIS_PORT=${DEMO_REDIS_PORT:-6390}
DEMO_PROFILE=${DEMO_PROFILE:-debug}
NODE_IDS=(0a 0b 0c)
export CHAT_ADMIN_TOKEN=${CHAT_ADMIN_TOKEN:-letmein}
export CHAT_LOGIN_POLICY=${CHAT_LOGIN_POLICY:-allow}
export REDIS_LIVENESS_TTL_SECS=${REDIS_LIVENESS_TTL_SECS:-6}

# Whether something accepts TCP connections on 127.0.0.1:$1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The first port from $1 up that nothing listens on.
free_port_from() {
  local port=$1
  while listening "$port"; do
    port=$((port + 1))
  done
  echo "$port"
}

# Wait (at most 30 s) until $2 listens on port $1; fail if the process $3 exits first.
wait_listening() {
  local port=$1 what=$2 pid=$3 i
  for ((i = 0; i < 300; i++)); do
    listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || die "$what exited at start; its log: $DIR/$what.log
$(tail -n 20 "$DIR/$what.log" 2>/dev/null)"
    sleep 0.1
  done
  die "$what did not listen on 127.0.0.1:$port within 30 s; its log: $DIR/$what.log"
}

echo "==> redis-server and nginx (Debian packages, installed when missing)"
ensure_apt_packages redis-server nginx
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$REDIS_SERVER" ] || die "redis-server not found after installing it"
[ -x "$NGINX" ] || die "nginx not found after installing it"

if [ -n "${DEMO_CHAT_BIN:-}" ]; then
  CHAT_BIN=$DEMO_CHAT_BIN
else
  echo "==> building the chat example ($DEMO_PROFILE)"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
  if [ "$DEMO_PROFILE" = release ]; then
    cargo build --workspace --release --example chat
  else
    cargo build --workspace --example chat
  fi
  TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  CHAT_BIN="${TARGET_DIR:-$REPO_ROOT/target}/$DEMO_PROFILE/examples/chat"
fi
[ -x "$CHAT_BIN" ] || die "the chat binary is missing: $CHAT_BIN"

listening "$DEMO_PORT" && die "port $DEMO_PORT is in use: set DEMO_PORT to a free one"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/sockjs-cluster-demo.XXXXXX")
# nginx started as root runs its workers as `nobody`, which must reach its temp directories.
chmod 755 "$DIR"
PIDS=()
NAMES=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  done
  for ((i = 0; i < 50; i++)); do
    local alive=0 pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
  echo "stopped: ${NAMES[*]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND...: run it in the background, its output in $DIR/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}

REDIS_PORT=$(free_port_from "$DEMO_REDIS_PORT")
echo "==> redis-server on 127.0.0.1:$REDIS_PORT"
start redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$DIR" --daemonize no
wait_listening "$REDIS_PORT" redis "${PIDS[-1]}"

CLIENT_FILE="$REPO_ROOT/protocol-tests/e2e/node_modules/sockjs-client/dist/sockjs.min.js"
NODE_PORTS=()
next=8081
for i in 0 1 2; do
  wanted=$(echo "$DEMO_NODE_PORTS" | awk -v n=$((i + 1)) '{print $n}')
  port=$(free_port_from "${wanted:-$next}")
  for used in "${NODE_PORTS[@]}"; do
    [ "$port" = "$used" ] && port=$(free_port_from $((port + 1)))
  done
  next=$((port + 1))
  NODE_PORTS+=("$port")
  id=${NODE_IDS[$i]}
  echo "==> chat node $id on 127.0.0.1:$port"
  node_env=(LISTEN="127.0.0.1:$port" NODE_ID="$id" REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    REDIS_CLUSTER=demo RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1)
  [ -f "$CLIENT_FILE" ] && node_env+=(SOCKJS_CLIENT_FILE="$CLIENT_FILE")
  start "node-$id" env "${node_env[@]}" "$CHAT_BIN"
  wait_listening "$port" "node-$id" "${PIDS[-1]}"
done

echo "==> nginx on 127.0.0.1:$DEMO_PORT (deploy/nginx/sockjs-cluster.conf)"
{
  echo "# deploy/nginx/sockjs-cluster.conf with the demo's addresses"
  awk -v listen="$DEMO_PORT" -v ports="${NODE_PORTS[*]}" '
    BEGIN { n = split(ports, p, " ") }
    /^[[:space:]]*listen 127\.0\.0\.1:[0-9]+;$/ { sub(/127\.0\.0\.1:[0-9]+/, "127.0.0.1:" listen) }
    /^[[:space:]]*server 127\.0\.0\.1:[0-9]+/ {
      if (done) next
      done = 1
      indent = $0; sub(/[^[:space:]].*$/, "", indent)
      params = $0; sub(/^[[:space:]]*server 127\.0\.0\.1:[0-9]+/, "", params)
      for (i = 1; i <= n; i++) print indent "server 127.0.0.1:" p[i] params
      next
    }
    { print }
  ' deploy/nginx/sockjs-cluster.conf
} >"$DIR/sockjs-cluster.conf"
cat >"$DIR/nginx.conf" <<EOF
# written by scripts/cluster-demo.sh
worker_processes 1;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log info;
events { worker_connections 1024; }
http {
    access_log $DIR/nginx-access.log;
    client_body_temp_path $DIR/client_body;
    proxy_temp_path $DIR/proxy;
    fastcgi_temp_path $DIR/fastcgi;
    uwsgi_temp_path $DIR/uwsgi;
    scgi_temp_path $DIR/scgi;
    include $DIR/sockjs-cluster.conf;
}
EOF
start nginx "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e stderr
wait_listening "$DEMO_PORT" nginx "${PIDS[-1]}"

cat <<EOF

The chat demo runs on three nodes behind nginx:

    open http://127.0.0.1:$DEMO_PORT/?name=alice
         http://127.0.0.1:$DEMO_PORT/?name=bob&transport=xhr-polling
         http://127.0.0.1:$DEMO_PORT/?name=admin&token=$CHAT_ADMIN_TOKEN   (type /kick alice)

  nodes:  0a 127.0.0.1:${NODE_PORTS[0]} (pid ${PIDS[1]})   0b 127.0.0.1:${NODE_PORTS[1]} (pid ${PIDS[2]})   0c 127.0.0.1:${NODE_PORTS[2]} (pid ${PIDS[3]})
          metrics: http://127.0.0.1:${NODE_PORTS[0]}/metrics ...
  redis:  redis://127.0.0.1:$REDIS_PORT (pid ${PIDS[0]})      logs: $DIR
  try:    kill -9 ${PIDS[3]}   (node 0c: its pages reconnect to 0a/0b; its users leave the
          online list within ${REDIS_LIVENESS_TTL_SECS} s + a third)

Ctrl-C stops everything.
EOF

# Run until Ctrl-C; Redis or nginx ending ends the demo (a node may be killed on purpose).
while true; do
  for i in 0 4; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "${NAMES[$i]} exited; its log:"
      tail -n 20 "$DIR/${NAMES[$i]}.log" || true
      exit 1
    fi
  done
  sleep 1
done

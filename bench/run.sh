#!/usr/bin/env bash
# The benchmark, in one command (from anywhere):
#
#     bench/run.sh
#
# Builds the Rust binaries in release mode, installs sockjs-node 0.3.24 (`npm ci`), then runs
# every workload against sockjs-rs, sockjs-node and the bare tokio-tungstenite/hyper server
# (where the workload applies), and the STOMP workloads against sockjs-rs's `/stomp` and
# RabbitMQ's web-STOMP plugin, BENCH_RUNS times each, with the server pinned to CPU 0 and the
# load generator to CPU 1. Each run gets a freshly started server. Results:
#
#     bench/report/results.jsonl   one JSON line per run (sockjs-load's output)
#     bench/report/meta.json       machine, versions, load average
#     bench/report/REPORT.md       table: median (min–max), ratios rs/node and rs/bare, targets
#     bench/report/chart.svg       bar chart of the same
#
# Settings (environment variables, defaults in brackets):
#     BENCH_RUNS [3]                 runs of each workload and server
#     BENCH_DURATION [5]             measured seconds of each throughput / latency run
#     BENCH_WARMUP [1]               seconds of load before measuring (idle workloads: settle
#                                    time between opening the sessions and reading the RSS)
#     BENCH_ECHO_CONNECTIONS [100]   ws-echo / raw-ws-echo connections (issue 6's reference
#                                    figures use 100 connections x 10 in flight)
#     BENCH_IN_FLIGHT [10]           ws-echo messages in flight per connection
#     BENCH_XHR_SESSIONS [50]        xhr-streaming / xhr-polling sessions (and http-echo conns)
#     BENCH_XHR_IN_FLIGHT [4]        xhr messages in flight per session
#     BENCH_SIZE [64]                message size in bytes
#     BENCH_BROADCAST_SESSIONS [1000]
#     BENCH_IDLE_SESSIONS [10000]    idle, idle-xhr-streaming and stomp-idle sessions
#     BENCH_SERVERS ["sockjs-rs sockjs-node bare rabbitmq"]
#     BENCH_WORKLOADS ["ws-echo ws-rtt xhr-streaming xhr-polling broadcast room-broadcast
#                       endpoint-broadcast idle idle-xhr-streaming stomp-publish stomp-fanout
#                       stomp-idle"]
#                                    (room-broadcast, the hub's room, and endpoint-broadcast,
#                                    SockJs::broadcast, run on sockjs-rs only)
#                                    (the stomp-* workloads run on sockjs-rs twice, over SockJS
#                                    websocket sessions and over the endpoint's raw websocket
#                                    (the raw-stomp-* workloads), and on rabbitmq over plain
#                                    websockets (raw-stomp-*); stomp-publish uses the ws-echo
#                                    connections and in-flight settings, stomp-fanout
#                                    BENCH_BROADCAST_SESSIONS, stomp-idle BENCH_IDLE_SESSIONS)
#                                    (the bare server runs raw-* counterparts: plain websockets,
#                                    http-echo for xhr-polling, raw-idle-streaming (held plain
#                                    HTTP streaming responses) for idle-xhr-streaming, and has
#                                    none for xhr-streaming)
#     BENCH_SERVER_CPU [0], BENCH_CLIENT_CPU [1]
#     BENCH_QUIET_WAIT [0]           before each run, wait up to this many seconds for the rest
#                                    of the machine to use less than BENCH_QUIET_MAX [15] percent
#                                    of a core (for shared machines; each run records how much
#                                    CPU other processes used, and REPORT.md flags disturbed runs)
#     BENCH_NICE [0]                 nice level of servers and load generator (negative needs
#                                    root: on a shared machine it keeps other work off the
#                                    measured CPUs at the price of slowing that work down)
#     BENCH_APPEND [0]               1: add to an existing results.jsonl instead of starting anew
#                                    (more runs; the report prefers undisturbed ones)
#     BENCH_OUT [bench/report]
#
# With the defaults: 87 runs (29 per pass, 9 of them STOMP), about 15-20 minutes after the
# build on a 2-core machine (each RabbitMQ run adds its start, about ten seconds, and its
# 10,000 idle STOMP sessions take about a minute to open).
#
# A quick check of the whole pipeline (about two minutes, every workload and server once):
#     BENCH_RUNS=1 BENCH_DURATION=1 BENCH_IDLE_SESSIONS=1000 BENCH_OUT=/tmp/bench bench/run.sh
#
# RabbitMQ: Debian's rabbitmq-server (installed with apt-get when missing and a STOMP workload
# is to run on it) with the rabbitmq_web_stomp plugin, a private instance per run: its own node
# name, data, log and config files under a temporary directory, web-STOMP on a free loopback
# port (path /ws), no AMQP or plain STOMP listener, Erlang distribution and a private epmd on
# free loopback ports. Its memory is the beam.smp process's RSS. Nothing of a system-wide
# RabbitMQ (if the package runs one) is used or touched.
#
# Everything runs on 127.0.0.1 only. Needs: cargo, node + npm, python3, taskset.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
ECHO_CONNECTIONS=${BENCH_ECHO_CONNECTIONS:-100}
IN_FLIGHT=${BENCH_IN_FLIGHT:-10}
XHR_SESSIONS=${BENCH_XHR_SESSIONS:-50}
XHR_IN_FLIGHT=${BENCH_XHR_IN_FLIGHT:-4}
SIZE=${BENCH_SIZE:-64}
BROADCAST_SESSIONS=${BENCH_BROADCAST_SESSIONS:-1000}
IDLE_SESSIONS=${BENCH_IDLE_SESSIONS:-10000}
SERVERS=${BENCH_SERVERS:-"sockjs-rs sockjs-node bare rabbitmq"}
WORKLOADS=${BENCH_WORKLOADS:-"ws-echo ws-rtt xhr-streaming xhr-polling broadcast room-broadcast endpoint-broadcast idle idle-xhr-streaming stomp-publish stomp-fanout stomp-idle"}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
OUT=${BENCH_OUT:-$BENCH_DIR/report}
QUIET_WAIT=${BENCH_QUIET_WAIT:-0}
NICE=${BENCH_NICE:-0}
APPEND=${BENCH_APPEND:-0}
QUIET_MAX=${BENCH_QUIET_MAX:-15}

# Ten thousand idle sessions need ten thousand descriptors in the server and in the client,
# plus IDLE_CONCURRENCY more for the idle workloads' final echo check (idle-xhr-streaming sends
# it over that many shared connections).
IDLE_CONCURRENCY=256
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-file limit: $(ulimit -n)"
FDS_NEEDED=$((IDLE_SESSIONS + IDLE_CONCURRENCY + 100))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$FDS_NEEDED" ]; then
    echo "warning: open-file limit $(ulimit -n) is below $FDS_NEEDED" \
        "(BENCH_IDLE_SESSIONS=$IDLE_SESSIONS + $IDLE_CONCURRENCY + 100)" >&2
fi

echo "== build"
(cd "$ROOT" && cargo build --release -p sockjs-bench --bins)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release
echo "== npm ci (sockjs-node 0.3.24)"
(cd "$BENCH_DIR/node" && npm ci --no-audit --no-fund --loglevel=error)

RABBIT_BIN=/usr/lib/rabbitmq/bin
case " $SERVERS " in *" rabbitmq "*)
    case " $WORKLOADS " in *" stomp-"*)
        if [ ! -x "$RABBIT_BIN/rabbitmq-server" ]; then
            echo "== apt-get install rabbitmq-server"
            sudo=
            [ "$(id -u)" -eq 0 ] || sudo=sudo
            $sudo apt-get update
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server
        fi
        ;;
    esac
    ;;
esac

mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
[ "$APPEND" = 1 ] || : >"$RESULTS"
SCRATCH=$(mktemp -d)
SERVER_PID=
SERVER=
# The private epmd of the RabbitMQ instances (started by the first one, stopped at the end).
EPMD_PORT=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        stop_server
    fi
    if [ -n "$EPMD_PORT" ]; then
        ERL_EPMD_PORT=$EPMD_PORT epmd -kill >/dev/null 2>&1 || true
    fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# launch_rabbitmq: a fresh private RabbitMQ with web-STOMP on a free loopback port, pinned on
# SERVER_CPU (its Erlang VM then runs one scheduler). Sets SERVER_PID (the start script) and
# RABBIT_PORT; the VM's pid (beam.smp) appears in $SCRATCH/rabbitmq/pid.
launch_rabbitmq() {
    local dir=$SCRATCH/rabbitmq dist_port
    rm -rf "$dir"
    mkdir -p "$dir/home"
    RABBIT_PORT=$(free_port)
    dist_port=$(free_port)
    [ -n "$EPMD_PORT" ] || EPMD_PORT=$(free_port)
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp = none
stomp.listeners.tcp = none
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $RABBIT_PORT
log.console = false
log.file.level = warning
CONF
    echo '[rabbitmq_web_stomp].' >"$dir/enabled_plugins"
    : >"$dir/rabbitmq-env.conf"
    (
        export HOME=$dir/home ERL_EPMD_PORT=$EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1
        export RABBITMQ_NODENAME=sockjs-bench-$$@localhost RABBITMQ_DIST_PORT=$dist_port
        export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
        export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_PID_FILE=$dir/pid
        export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log
        exec nice -n "$NICE" taskset -c "$SERVER_CPU" "$RABBIT_BIN/rabbitmq-server"
    ) >"$SCRATCH/server.log" 2>&1 &
    SERVER_PID=$!
}

# server_ready: whether the server just started takes connections; sets SERVER_ADDR and
# MEASURE_PID (the process whose RSS and CPU time count: beam.smp for RabbitMQ).
server_ready() {
    if [ "$SERVER" = rabbitmq ]; then
        [ -s "$SCRATCH/rabbitmq/pid" ] &&
            (exec 3<>"/dev/tcp/127.0.0.1/$RABBIT_PORT") 2>/dev/null || return 1
        MEASURE_PID=$(cat "$SCRATCH/rabbitmq/pid")
        SERVER_ADDR=127.0.0.1:$RABBIT_PORT
    else
        SERVER_ADDR=$(sed -n 's/^listening on //p' "$SCRATCH/server.log")
        [ -n "$SERVER_ADDR" ] || return 1
        MEASURE_PID=$SERVER_PID
    fi
}

# start_server NAME: start it pinned on SERVER_CPU at a free port (within two minutes: a
# RabbitMQ takes about ten seconds); sets SERVER_PID, MEASURE_PID and SERVER_ADDR (each Rust
# and Node server prints "listening on ADDR" once bound).
start_server() {
    local log=$SCRATCH/server.log
    : >"$log"
    SERVER=$1
    case $1 in
    sockjs-rs) nice -n "$NICE" taskset -c "$SERVER_CPU" "$BIN/sockjs-bench-server" --listen 127.0.0.1:0 >"$log" 2>&1 & ;;
    sockjs-node) nice -n "$NICE" taskset -c "$SERVER_CPU" node "$BENCH_DIR/node/server.js" --port 0 >"$log" 2>&1 & ;;
    bare) nice -n "$NICE" taskset -c "$SERVER_CPU" "$BIN/bare-echo" --listen 127.0.0.1:0 >"$log" 2>&1 & ;;
    rabbitmq) launch_rabbitmq ;;
    *) echo "unknown server $1" >&2; return 1 ;;
    esac
    [ "$1" = rabbitmq ] || SERVER_PID=$!
    for _ in $(seq 1200); do
        server_ready && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server $1 did not start:" >&2
    cat "$log" >&2
    return 1
}

# busy_ticks: CPU ticks (100 per core-second) the whole machine spent busy during one second.
busy_ticks() {
    local _c u n s idle iow irq sirq steal _rest t1 i1
    read -r _c u n s idle iow irq sirq steal _rest </proc/stat
    t1=$((u + n + s + irq + sirq + steal))
    i1=$((idle + iow))
    sleep 1
    read -r _c u n s idle iow irq sirq steal _rest </proc/stat
    echo $((u + n + s + irq + sirq + steal - t1))
}

# wait_quiet: with BENCH_QUIET_WAIT, wait (bounded) until other processes are nearly idle.
wait_quiet() {
    [ "$QUIET_WAIT" -gt 0 ] || return 0
    local deadline=$((SECONDS + QUIET_WAIT)) busy
    while busy=$(busy_ticks) && [ "$busy" -gt "$QUIET_MAX" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "   (machine still busy: $busy% of a core; running anyway)"
            return 0
        fi
    done
}

stop_server() {
    if [ "$SERVER" = rabbitmq ]; then
        # SIGTERM to the VM shuts RabbitMQ down cleanly; the start script then exits.
        kill "$MEASURE_PID" 2>/dev/null || true
        for _ in $(seq 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$MEASURE_PID" 2>/dev/null || true
    fi
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# load_args FAMILY SERVER: the sockjs-load arguments, one line per run, or nothing if the
# server has no counterpart of the workload (the bare server speaks no SockJS, RabbitMQ only
# STOMP).
load_args() {
    local family=$1 server=$2
    local raw=
    [ "$server" = bare ] && raw=1
    case $family in
    stomp-*)
        local stomp
        case $family in
        stomp-publish) stomp="--connections $ECHO_CONNECTIONS --in-flight $IN_FLIGHT --timeout 120" ;;
        stomp-fanout) stomp="--connections $BROADCAST_SESSIONS --timeout 180" ;;
        stomp-idle) stomp="--connections $IDLE_SESSIONS --concurrency $IDLE_CONCURRENCY --timeout 900" ;;
        *) echo "unknown workload $family" >&2; return 1 ;;
        esac
        case $server in
        sockjs-rs)
            echo "$family $stomp"
            echo "raw-$family $stomp"
            ;;
        rabbitmq) echo "raw-$family --ws-path /ws --subprotocol v12.stomp $stomp" ;;
        esac
        return 0
        ;;
    esac
    [ "$server" = rabbitmq ] && return 0
    case $family in
    ws-echo) echo "${raw:+raw-}ws-echo --connections $ECHO_CONNECTIONS --in-flight $IN_FLIGHT --timeout 60" ;;
    ws-rtt) echo "${raw:+raw-}ws-rtt --connections 1 --timeout 60" ;;
    xhr-streaming) [ -z "$raw" ] && echo "xhr-streaming --connections $XHR_SESSIONS --in-flight $XHR_IN_FLIGHT --timeout 60" ;;
    xhr-polling)
        if [ -n "$raw" ]; then
            echo "http-echo --connections $XHR_SESSIONS --timeout 60"
        else
            echo "xhr-polling --connections $XHR_SESSIONS --in-flight $XHR_IN_FLIGHT --timeout 60"
        fi
        ;;
    broadcast) echo "${raw:+raw-}broadcast --connections $BROADCAST_SESSIONS --timeout 120" ;;
    # The hub's room: sockjs-rs only (the others' broadcast rooms are the application's).
    room-broadcast) [ "$server" = sockjs-rs ] && echo "room-broadcast --connections $BROADCAST_SESSIONS --timeout 120" ;;
    # SockJs::broadcast to the endpoint's sessions: sockjs-rs only.
    endpoint-broadcast) [ "$server" = sockjs-rs ] && echo "endpoint-broadcast --connections $BROADCAST_SESSIONS --timeout 120" ;;
    idle) echo "${raw:+raw-}idle --connections $IDLE_SESSIONS --concurrency $IDLE_CONCURRENCY --timeout 300" ;;
    idle-xhr-streaming)
        if [ -n "$raw" ]; then
            echo "raw-idle-streaming --connections $IDLE_SESSIONS --concurrency $IDLE_CONCURRENCY --timeout 300"
        else
            echo "idle-xhr-streaming --connections $IDLE_SESSIONS --concurrency $IDLE_CONCURRENCY --timeout 300"
        fi
        ;;
    *) echo "unknown workload $family" >&2; return 1 ;;
    esac
    return 0
}

echo "== run: $RUNS x ($WORKLOADS) x ($SERVERS)"
for run in $(seq "$RUNS"); do
    for family in $WORKLOADS; do
        for server in $SERVERS; do
            mapfile -t runs < <(load_args "$family" "$server" || true)
            for args in "${runs[@]}"; do
                [ -n "$args" ] || continue
                wait_quiet
                start_server "$server"
                # shellcheck disable=SC2086 # $args is a list of words
                nice -n "$NICE" taskset -c "$CLIENT_CPU" "$BIN/sockjs-load" $args \
                    --target "$SERVER_ADDR" --label "$server" --server-pid "$MEASURE_PID" \
                    --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
                    --json-out "$RESULTS" >/dev/null ||
                    echo "   (run $run of ${args%% *} on $server counted errors: see results.jsonl)"
                stop_server
                sleep 0.5
            done
        done
    done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$OUT/meta.json" <<EOF
import json, os, platform, subprocess, sys
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd="$ROOT").stdout.strip()
    except OSError:
        return ""
cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
this_pass = {
    "started": "$STARTED",
    "loadavg_start": "$LOAD_START",
    "loadavg_end": "$LOAD_END",
    "workloads": "$WORKLOADS",
    "servers": "$SERVERS",
    "settings": {
        "runs": $RUNS, "duration_s": $DURATION, "warmup_s": $WARMUP,
        "echo_connections": $ECHO_CONNECTIONS, "in_flight": $IN_FLIGHT,
        "xhr_sessions": $XHR_SESSIONS, "xhr_in_flight": $XHR_IN_FLIGHT, "size": $SIZE,
        "broadcast_sessions": $BROADCAST_SESSIONS, "idle_sessions": $IDLE_SESSIONS,
        "server_cpu": $SERVER_CPU, "client_cpu": $CLIENT_CPU, "nice": $NICE,
        "quiet_wait_s": $QUIET_WAIT,
    },
}
passes = []
if "$APPEND" == "1" and os.path.exists(sys.argv[1]):
    with open(sys.argv[1]) as f:
        passes = json.load(f).get("passes", [])
json.dump({
    "commit": os.environ.get("BENCH_COMMIT") or out("git", "rev-parse", "--short", "HEAD"),
    # The report files this run rewrites do not count as changes to what was measured.
    "dirty": any("bench/report/" not in line for line in
                 out("git", "status", "--porcelain", "--untracked-files=no").splitlines()),
    "cpu": cpu,
    "cpus": int(out("nproc") or 0),
    "kernel": platform.release(),
    "rustc": out("rustc", "--version"),
    "node": out("node", "--version"),
    "rabbitmq": out("dpkg-query", "-W", "-f=\${Version}", "rabbitmq-server"),
    "erlang": out("dpkg-query", "-W", "-f=\${Version}", "erlang-base"),
    "passes": passes + [this_pass],
}, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$BENCH_DIR/report.py" --results "$RESULTS" --meta "$OUT/meta.json" \
    --markdown "$OUT/REPORT.md" --svg "$OUT/chart.svg"
echo "== done: $OUT/REPORT.md, $OUT/chart.svg"

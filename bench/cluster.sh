#!/usr/bin/env bash
# The cluster benchmarks (issue 13), in one command (from anywhere):
#
#     bench/cluster.sh
#
# Builds sockjs-cluster-bench in release mode and runs it pinned to BENCH_CLIENT_CPU, with
# redis-server and the nodes pinned to BENCH_SERVER_CPU (taskset), a fresh set of processes
# for every measurement, BENCH_RUNS runs of each:
#
#   broadcast  1000 websocket sessions in one hub room on 1 node (no Redis), on 1 node with
#              the Redis backend, and spread over 3 nodes sharing a Redis: one sends, time
#              until the last session received it (p50, p99)
#   user       send_to_user throughput: senders on one node, 100 users on the two others
#              (against everything on 1 node without Redis)
#   idle       10,000 idle websocket sessions: server RSS per session, plain, logged in and
#              in a room without Redis, and the same with the Redis backend (plus Redis's
#              used_memory per session)
#
# and prints every measurement, the medians, and whether the targets are met. Results:
# bench/report/cluster-results.jsonl (one JSON line per measurement).
#
# Settings (environment variables, defaults in brackets):
#   BENCH_RUNS [3]  BENCH_DURATION [5]  BENCH_BROADCAST_SESSIONS [1000]  BENCH_ROUNDS [200]
#   BENCH_USERS [100]  BENCH_SENDERS [10]  BENCH_WINDOW [1000]  BENCH_IDLE_SESSIONS [10000]
#   BENCH_CLUSTER_WORKLOADS [broadcast,user,idle]  BENCH_SERVER_CPU [0]  BENCH_CLIENT_CPU [1]
#   BENCH_OUT [bench/report/cluster-results.jsonl]
#   BENCH_QUIET_WAIT [0]  before each measurement, wait up to this many seconds for the rest
#                         of the machine to use under 15% of a core (each measurement prints
#                         how much of a core other processes used meanwhile)
#
# Needs cargo, redis-server (Debian's package) and taskset. Everything runs on 127.0.0.1.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
OUT=${BENCH_OUT:-$BENCH_DIR/report/cluster-results.jsonl}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-file limit: $(ulimit -n)"
command -v redis-server >/dev/null || { echo "redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

echo "== build"
(cd "$ROOT" && cargo build --release -p sockjs-bench --bin sockjs-cluster-bench)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
echo "== run ($(git -C "$ROOT" rev-parse --short HEAD), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
taskset -c "${BENCH_CLIENT_CPU:-1}" "$TARGET_DIR/release/sockjs-cluster-bench" run \
    --runs "${BENCH_RUNS:-3}" --duration "${BENCH_DURATION:-5}" \
    --sessions "${BENCH_BROADCAST_SESSIONS:-1000}" --rounds "${BENCH_ROUNDS:-200}" \
    --users "${BENCH_USERS:-100}" --senders "${BENCH_SENDERS:-10}" --window "${BENCH_WINDOW:-1000}" \
    --idle "${BENCH_IDLE_SESSIONS:-10000}" --workloads "${BENCH_CLUSTER_WORKLOADS:-broadcast,user,idle}" \
    --server-cpu "${BENCH_SERVER_CPU:-0}" --quiet-wait "${BENCH_QUIET_WAIT:-0}" --out "$OUT"
echo "== done: $OUT"

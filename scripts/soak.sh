#!/usr/bin/env bash
# Long soak of sockjs-hyper over loopback: protocol-tests/tests/soak.rs with SOAK_SECS set.
#
#   bash scripts/soak.sh              # 300 s of sessions, then the fault tests
#   SOAK_SECS=1800 bash scripts/soak.sh
#   SOAK_CONCURRENCY=200 SOAK_SECS=600 bash scripts/soak.sh
#
# The soak keeps opening sessions (a quarter each on websocket, xhr_streaming, xhr polling
# and eventsource; SOAK_CONCURRENCY at a time, default 100) for SOAK_SECS seconds, each
# exchanging sequence-numbered messages that are verified on the way back, then checks that
# no session, handler or message is left over. It prints its figures (sessions, duration,
# messages sent/verified/lost, close causes, VmRSS every 30 s and before/after). Built in
# release mode so the figures reflect an optimised server. Exits non-zero on any failure.
#
# Needs: cargo; an open-file limit of a few thousand (raised here when allowed).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

export SOAK_SECS="${SOAK_SECS:-300}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "==> soak for ${SOAK_SECS}s (concurrency ${SOAK_CONCURRENCY:-100}), open-file limit $(ulimit -n)"
start=$SECONDS
cargo test --release -p sockjs-protocol-tests --test soak -- --nocapture --test-threads=1
echo "==> soak finished in $((SECONDS - start))s"

#!/usr/bin/env bash
# The one command that runs every check and test of sockjs-rs, from a clean
# clone on a fresh Debian machine (as root; sudo is used otherwise):
#
#   bash scripts/test.sh
#
# Steps, in order, stopping at the first failure:
#   1. tools: cargo, rustfmt, clippy, node >= 20, npm (installed only if missing)
#   2. cargo fmt --all -- --check
#   3. cargo clippy --workspace --all-targets -- -D warnings, and sockjs-stomp's protocol
#      modules alone (--no-default-features: no broker, no I/O dependencies)
#   4. cargo build --workspace --all-targets
#   5. Rust tests: cargo nextest run --workspace (or cargo test --workspace
#      when cargo-nextest is not installed), then cargo test --workspace --doc
#   6. RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
#   7. fuzz smoke: scripts/fuzz-smoke.sh (cargo-fuzz, installed if missing)
#   8. end-to-end: npm ci and node --test in protocol-tests/e2e, against the
#      sockjs-conformance-server and the chat and tls examples built in step 4:
#      the real sockjs-client in Node, in headless Chromium (Debian's chromium,
#      driven by playwright-core; over HTTPS and HTTP/2 too, with a certificate
#      the test makes with openssl) and behind a real nginx started on loopback
#      by the tests (chromium, nginx and openssl are installed first when missing);
#      the STOMP client libraries (@stomp/stompjs 7, stompjs 2.3.3) against /stomp and the
#      STOMP examples (stomp_greeting, stomp_chat)
#      the cluster tests (test/cluster.test.js: three nodes, redis-server and
#      nginx with deploy/nginx/sockjs-cluster.conf) and scripts/cluster-demo.sh
#      (test/cluster-demo.test.js) among them
#
#
# The Rust tests of sockjs-redis, the conformance server's cluster mode and the chat demo's
# cluster mode start real redis-server processes on loopback ports (Debian's redis-server,
# installed before the Rust tests when missing).
#
# Reaches only crates.io, the npm registry and Debian's packages.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

START_SECONDS=$SECONDS
CURRENT_STEP="(setup)"

step() {
  CURRENT_STEP="$*"
  printf '\n==> [%s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - START_SECONDS))" "$*"
}

# die, as_root, ensure_apt_packages (shared with scripts/cluster-demo.sh)
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '\nFAILED (exit code %s) at step: %s\n' "$rc" "$CURRENT_STEP" >&2
  fi
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
step "check tools"
command -v cargo >/dev/null 2>&1 || die "cargo not found: this needs the machine's Rust toolchain"
cargo --version
if ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add rustfmt || die "rustfmt is missing and could not be installed"
fi
cargo fmt --version
if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy || die "clippy is missing and could not be installed"
fi
cargo clippy --version
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  ensure_apt_packages nodejs npm
fi
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || die "node $(node --version) is too old: the e2e tests need Node.js >= 20"
echo "node $(node --version), npm $(npm --version)"
if cargo nextest --version >/dev/null 2>&1; then
  HAVE_NEXTEST=1
  cargo nextest --version | head -n 1
else
  HAVE_NEXTEST=0
  echo "cargo-nextest not installed: the Rust tests run with cargo test"
fi

# ---------------------------------------------------------------------------
step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy -p sockjs-stomp --no-default-features (the codec and session without the broker)"
cargo clippy -p sockjs-stomp --no-default-features --all-targets -- -D warnings

step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "redis-server for the cluster tests: Debian's redis-server (installed if missing)"
ensure_apt_packages redis-server
command -v redis-server >/dev/null 2>&1 || die "redis-server is not on PATH after installing it"
redis-server --version

if [ "$HAVE_NEXTEST" -eq 1 ]; then
  step "cargo nextest run --workspace"
  cargo nextest run --workspace
else
  step "cargo test --workspace"
  cargo test --workspace
fi

step "cargo test --workspace --doc (doctests)"
cargo test --workspace --doc

step "RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps

step "fuzz smoke: every fuzz target for a few seconds (scripts/fuzz-smoke.sh)"
bash scripts/fuzz-smoke.sh

# ---------------------------------------------------------------------------
step "locate the conformance server binary"
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
SERVER_BIN="$TARGET_DIR/debug/sockjs-conformance-server"
[ -x "$SERVER_BIN" ] || die "the conformance server was not built: $SERVER_BIN is missing"
echo "$SERVER_BIN"

# The chat demo for the browser test. Step 4 built it already (--all-targets);
# this makes the dependency explicit and is a no-op then: `--workspace` keeps
# step 4's feature set (`-p sockjs-examples` alone would resolve features anew
# and relink the example).
step "cargo build --workspace --example chat (the chat demo of the browser test)"
cargo build --workspace --example chat
CHAT_BIN="$TARGET_DIR/debug/examples/chat"
[ -x "$CHAT_BIN" ] || die "the chat example was not built: $CHAT_BIN is missing"

# The HTTPS + HTTP/2 example for the TLS browser test (a no-op after step 4 too).
step "cargo build --workspace --example tls (the HTTPS server of the TLS browser test)"
cargo build --workspace --example tls
TLS_BIN="$TARGET_DIR/debug/examples/tls"
[ -x "$TLS_BIN" ] || die "the tls example was not built: $TLS_BIN is missing"

# The STOMP examples of the browser test (no-ops after step 4 too).
step "cargo build --workspace --example stomp_greeting --example stomp_chat (the STOMP examples' browser test)"
cargo build --workspace --example stomp_greeting --example stomp_chat
STOMP_GREETING_BIN="$TARGET_DIR/debug/examples/stomp_greeting"
STOMP_CHAT_BIN="$TARGET_DIR/debug/examples/stomp_chat"
[ -x "$STOMP_GREETING_BIN" ] || die "the stomp_greeting example was not built: $STOMP_GREETING_BIN is missing"
[ -x "$STOMP_CHAT_BIN" ] || die "the stomp_chat example was not built: $STOMP_CHAT_BIN is missing"

step "browser, proxy and certificate tool for the e2e tests: Debian's chromium, nginx, openssl (installed if missing)"
ensure_apt_packages chromium nginx openssl

step "npm ci (protocol-tests/e2e)"
(cd protocol-tests/e2e && npm ci --no-audit --no-fund)

step "e2e: node --test (protocol-tests/e2e) against $SERVER_BIN"
# The variables that point the suite elsewhere are cleared: this command tests
# the server it just built.
E2E_START=$SECONDS
(cd protocol-tests/e2e &&
  env -u SOCKJS_URL -u SOCKJS_HEARTBEAT_SECS -u SOCKJS_E2E_PROFILE -u SOCKJS_E2E_TRANSPORTS \
    -u SOCKJS_E2E_BROWSER_TRANSPORTS \
    SOCKJS_SERVER_BIN="$SERVER_BIN" SOCKJS_CHAT_BIN="$CHAT_BIN" SOCKJS_TLS_BIN="$TLS_BIN" \
    SOCKJS_STOMP_GREETING_BIN="$STOMP_GREETING_BIN" SOCKJS_STOMP_CHAT_BIN="$STOMP_CHAT_BIN" node --test)
echo "e2e step took $((SECONDS - E2E_START))s"

CURRENT_STEP="(done)"
printf '\n==> all steps passed in %ss\n' "$((SECONDS - START_SECONDS))"

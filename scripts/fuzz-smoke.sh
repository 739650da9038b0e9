#!/usr/bin/env bash
# Fuzz smoke test: build the fuzz targets of fuzz/ and run each one for a few seconds.
# Exits non-zero if any target crashes (panic, broken invariant, timeout, out of memory);
# libFuzzer then saves the input under fuzz/artifacts/<target>/ (replay it with
# `cargo fuzz run <target> <file>` or `cargo test --manifest-path fuzz/Cargo.toml`).
#
#   bash scripts/fuzz-smoke.sh                        # every target, 5 s each
#   FUZZ_SECS=60 bash scripts/fuzz-smoke.sh           # longer
#   FUZZ_SANITIZER=address bash scripts/fuzz-smoke.sh # with AddressSanitizer (slower build)
#   bash scripts/fuzz-smoke.sh session_ops route_parse  # only these targets
#
# Needs cargo-fuzz (installed from crates.io when missing) and a C++ compiler (libFuzzer is
# built from source by libfuzzer-sys). The toolchain is stable Rust: RUSTC_BOOTSTRAP=1 lets
# it accept the nightly-only flags cargo-fuzz passes (-Zsanitizer, sanitizer coverage).
# The sanitizer defaults to `none`: the code under test has no unsafe code, and the build is
# about a minute shorter; panics and broken assertions are caught either way.
# See fuzz/README.md for long runs.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

SECS="${FUZZ_SECS:-5}"
SANITIZER="${FUZZ_SANITIZER:-none}"
# A target directory per sanitizer, so switching does not rebuild everything.
TARGET_DIR="$REPO_ROOT/fuzz/target/smoke-$SANITIZER"
export RUSTC_BOOTSTRAP=1

start=$SECONDS
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "==> building ${#targets[@]} fuzz targets (sanitizer: $SANITIZER)"
cargo fuzz build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"
build_secs=$((SECONDS - start))

failed=()
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${SECS}s"
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  if [ -d "fuzz/seeds/$target" ]; then
    seeds=("fuzz/seeds/$target")
  fi
  # New inputs go to the first directory (fuzz/corpus, not committed); the seeds are read only.
  if ! cargo fuzz run --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" "$target" \
      "$corpus" "${seeds[@]}" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      2> >(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|ERROR|panicked|SUMMARY|Test unit written' >&2); then
    failed+=("$target")
  fi
done

total=$((SECONDS - start))
echo "==> fuzz smoke: build ${build_secs}s, total ${total}s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs saved under fuzz/artifacts/)" >&2
  exit 1
fi
echo "==> all ${#targets[@]} targets ran ${SECS}s each without a crash"

#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time from its committed corpus (fuzz/corpus/<target>);
# fails on the first crash, panic or sanitizer report. New inputs go to a scratch directory, so
# the committed corpus only changes when someone copies interesting ones in on purpose.
#
#   scripts/fuzz.sh [--seconds N] [TARGET...]     (default 30 s per target, every target)
#
# libFuzzer needs the sanitizer flags of a nightly compiler; RUSTC_BOOTSTRAP=1 lets the
# machine's stable toolchain accept them (no other toolchain can be fetched here).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET=30
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    -*) echo "usage: $0 [--seconds N] [TARGET...]" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
export RUSTC_BOOTSTRAP=1

[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(cargo fuzz list)
cargo fuzz build

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
for target in "${TARGETS[@]}"; do
  echo "== fuzz $target (${SECONDS_PER_TARGET}s)"
  mkdir -p "$SCRATCH/$target"
  if ! cargo fuzz run "$target" "$SCRATCH/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -seed=1 -print_final_stats=1 >"$SCRATCH/$target.log" 2>&1; then
    cat "$SCRATCH/$target.log"
    echo "fuzz target $target failed; the input is under fuzz/artifacts/$target/"
    exit 1
  fi
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$SCRATCH/$target.log" || true
done

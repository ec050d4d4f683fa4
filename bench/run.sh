#!/usr/bin/env bash
# trawl's benchmark suite: builds trawl and the suite, then measures.
#   bash bench/run.sh            # the full run recorded in docs/BENCHMARKS.md (~5 minutes)
#   bash bench/run.sh --quick    # small and short (under 2 minutes)
# Other flags go to trawl-bench (--help lists them). BENCH_PROFILE=dev measures
# a debug build instead (CI's smoke test, which has one built already).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${BENCH_PROFILE:-release}
# With CARGO_BUILD_TARGET set (CI builds for the target by name, statically),
# cargo's output is under target/<triple>/.
out=target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}
if [ "$profile" = release ]; then
  cargo build --release --locked -q -p trawl -p trawl-bench
  exec "${out}release/trawl-bench" "$@"
else
  cargo build --locked -q -p trawl -p trawl-bench
  exec "${out}debug/trawl-bench" "$@"
fi

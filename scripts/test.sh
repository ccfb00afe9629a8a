#!/usr/bin/env bash
# README command two: install dependencies, build, and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh
bash scripts/build.sh
build_dir="${TSCALE_BUILD_DIR:-build}"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 600

# The same suites again, with every part that does not link libtorch built under ASan and UBSan. The e2e
# tests there run the sanitised server, worker and client against the runner built above.
if [ "${TSCALE_SKIP_SANITIZERS:-0}" != 1 ]; then
  TSCALE_BUILD_DIR="$build_dir-asan" bash scripts/build.sh -DTSCALE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DTSCALE_RUNNER_BINARY="$(pwd)/$build_dir/runner/tscale-runner"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build_dir-asan" --output-on-failure -j "$(nproc)" --timeout 600
fi
# Every parser of outside input under libFuzzer (clang, ASan + UBSan), for a bounded time per target.
if [ "${TSCALE_SKIP_FUZZ:-0}" != 1 ]; then
  FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash scripts/fuzz.sh
fi
echo "test.sh: done in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# README command two: install dependencies, build, and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir "${TSCALE_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" --timeout 600
echo "test.sh: done in $(( $(date +%s) - start )) s"

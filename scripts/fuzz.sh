#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for FUZZ_SECONDS (default 20),
# starting from the seed corpus in tests/fuzz/corpus/<target>. Every input in tests/fuzz/regressions/<target>
# (crashes found earlier, kept once fixed) is replayed first. Writes the executions per target to
# build-fuzz/fuzz-report.txt; exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
build_dir="${TSCALE_FUZZ_BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ TSCALE_BUILD_DIR="$build_dir" bash scripts/build.sh -DTSCALE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
report="$build_dir/fuzz-report.txt"
: > "$report"
total=0
# The targets are the ones tests/fuzz/CMakeLists.txt defines (it writes their list into the build directory).
read -r -a targets <<< "$(tr ';' ' ' < "$build_dir/tests/fuzz/targets.txt")"
for target in "${targets[@]}"; do
  binary="$build_dir/tests/fuzz/fuzz_$target"
  if [ ! -d "tests/fuzz/corpus/$target" ]; then
    echo "fuzz: $target has no seed corpus (tests/fuzz/corpus/$target)"
    exit 1
  fi
  work="$build_dir/corpus/$target"
  mkdir -p "$work"
  regressions="tests/fuzz/regressions/$target"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$binary" -runs=0 "$regressions"/* > /dev/null 2>&1 || { echo "fuzz: $target regression input crashes"; exit 1; }
  fi
  log="$build_dir/fuzz_$target.log"
  if ! "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$build_dir/crash-$target-" "$work" "tests/fuzz/corpus/$target" > "$log" 2>&1; then
    echo "fuzz: $target found a crash; see $log and $build_dir/crash-$target-*"
    tail -30 "$log"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  total=$((total + runs))
  echo "$target: $runs executions in ${seconds} s" | tee -a "$report"
done
echo "total: $total executions" | tee -a "$report"

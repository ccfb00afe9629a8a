#!/usr/bin/env bash
# The crossover measurement of docs/performance.md: a coordinator and one local worker on loopback, a sweep of
# linear-time models and their transformer pairs (forward and decode, eager and memory_efficient attention for
# the transformers), then `tscale-client report`, whose crossover section computes the lengths from the rows.
#
#   bench/crossover_sweep.sh [MODELS] [LENGTHS] [OUT_DIR]
#     MODELS   default mamba-130m,gpt-neo-125m,linear-attention-gpt2,gpt2
#     LENGTHS  default 256..4096 (the preset goes to 16384; on a 2-core CPU that is hours)
#     OUT_DIR  where the database, logs, report.txt and report.html go (default a new /tmp directory)
#
# Measurement settings are kept small (1 warm-up, 2 timed runs, 16 new tokens) so the 4096-token transformer
# cells finish; TSCALE_CROSSOVER_FLAGS adds submit flags. Run it on a quiet machine: nothing else building.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${TSCALE_BUILD_DIR:-build}"
models="${1:-mamba-130m,gpt-neo-125m,linear-attention-gpt2,gpt2}"
lengths="${2:-256..4096}"
run_dir="${3:-$(mktemp -d /tmp/tscale-crossover.XXXXXX)}"
mkdir -p "$run_dir"
server_pid="" worker_pid=""
stop_all() {
  [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
}
trap stop_all EXIT
"$build_dir/server/tscale-server" --listen 127.0.0.1:0 --port-file "$run_dir/port" --db "$run_dir/tscale.db" \
  >"$run_dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$run_dir/port" ] && break; sleep 0.1; done
[ -s "$run_dir/port" ] || { echo "crossover: tscale-server did not start:"; cat "$run_dir/server.log"; exit 1; }
address="127.0.0.1:$(cat "$run_dir/port")"
"$build_dir/worker/tscale-worker" --server "$address" --runner "$build_dir/runner/tscale-runner" \
  --id crossover-worker >"$run_dir/worker.log" 2>&1 &
worker_pid=$!
client=("$build_dir/client/tscale-client" --server "$address")
# shellcheck disable=SC2086
"${client[@]}" submit --name crossover --models "$models" --lengths "$lengths" --workload forward,decode \
  --attention eager,memory_efficient --extend-context --new-tokens 16 --warmup 1 --min-iters 2 --min-time-s 0 \
  --threads 2 ${TSCALE_CROSSOVER_FLAGS:-} --wait
"${client[@]}" report --sweep 1 --html "$run_dir/report.html" | tee "$run_dir/report.txt"
echo "crossover: report in $run_dir/report.txt and $run_dir/report.html"

#!/usr/bin/env bash
# README command one: install, build, start a coordinator and one local worker on loopback with an SQLite
# file, submit the default sweep, wait for it, print the results table, and shut everything down.
#
# The default sweep: BERT-base (encoder, 512 positions) and GPT-2 small (decoder, 1024 positions) at
# 128, 512 and 1024 tokens. BERT-base at 1024 ends exceeds_context: the position-table wall the study
# mistook for an out-of-memory failure. Override with TSCALE_DEMO_MODELS / TSCALE_DEMO_LENGTHS.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-deps.sh
bash scripts/build.sh

build_dir="${TSCALE_BUILD_DIR:-build}"
models="${TSCALE_DEMO_MODELS:-bert-base-uncased,gpt2}"
lengths="${TSCALE_DEMO_LENGTHS:-128,512,1024}"
run_dir=$(mktemp -d /tmp/tscale-demo.XXXXXX)
server_pid="" worker_pid=""

stop_all() {
  # SIGTERM lets the worker finish or release its job and the server close the database cleanly.
  [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
}
trap stop_all EXIT

"$build_dir/server/tscale-server" --listen 127.0.0.1:0 --port-file "$run_dir/port" --db "$run_dir/tscale.db" \
  >"$run_dir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do [ -s "$run_dir/port" ] && break; sleep 0.1; done
[ -s "$run_dir/port" ] || { echo "demo: tscale-server did not start:"; cat "$run_dir/server.log"; exit 1; }
address="127.0.0.1:$(cat "$run_dir/port")"

"$build_dir/worker/tscale-worker" --server "$address" --runner "$build_dir/runner/tscale-runner" \
  --id demo-worker >"$run_dir/worker.log" 2>&1 &
worker_pid=$!

echo "demo: coordinator on $address, database $run_dir/tscale.db, logs in $run_dir"
"$build_dir/client/tscale-client" --server "$address" submit --name demo --models "$models" --lengths "$lengths" \
  --wait --results
echo
"$build_dir/client/tscale-client" --server "$address" report --sweep 1 --html "$run_dir/report.html"
echo "demo: HTML report (SVG charts, opens offline in any browser): $run_dir/report.html"
echo "demo: done in $(( $(date +%s) - start )) s"

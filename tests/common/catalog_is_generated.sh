#!/usr/bin/env bash
# catalog_is_generated.sh CLIENT SOURCE_DIR: regenerate the catalog into a temporary directory and compare it with
# the committed models/*.json, file by file (both sources: the facts file and models/source/linear-time.json).
# Fails naming each file that differs, is missing or is extra.
set -euo pipefail
client=$1 source_dir=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$source_dir"
python3 scripts/gen_catalog.py --client "$client" --extra models/source/linear-time.json \
  models/source/model-architectures.csv "$out" 2>/dev/null
status=0
for committed in models/*.json; do
  name=$(basename "$committed")
  if [ ! -f "$out/$name" ]; then echo "models/$name: not written by gen_catalog.py"; status=1; continue; fi
  diff -u "$committed" "$out/$name" || { echo "models/$name: differs from what gen_catalog.py writes"; status=1; }
done
for generated in "$out"/*.json; do
  [ -f "models/$(basename "$generated")" ] || { echo "models/$(basename "$generated"): missing"; status=1; }
done
[ "$status" = 0 ] && echo "catalog: $(ls "$out" | wc -l) files, as generated"
exit "$status"

#!/usr/bin/env bash
# Fails when a worker's bundle (wasm + JS glue, gzipped) is over 1 MB: the size guard of
# docs/costs.md (start-up CPU is what size would cost; `make size` prints it).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=$((1024 * 1024))
fail=0
for dir in . r2-fetch; do
  wasm="$dir/build/index_bg.wasm"; js="$dir/build/index.js"
  gz=$(( $(gzip -9 -c "$wasm" | wc -c) + $(gzip -9 -c "$js" | wc -c) ))
  if [ "$gz" -gt "$LIMIT" ]; then
    echo "size: $dir bundle is $gz bytes gzipped, over the 1 MB guard" >&2
    fail=1
  else
    echo "size: $dir bundle $gz bytes gzipped (guard: $LIMIT)"
  fi
done
exit "$fail"

#!/usr/bin/env bash
# Gzipped size of each worker bundle (the wasm after wasm-opt, plus the JS glue).
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in . r2-fetch; do
  name=$(awk -F'"' '/^name =/ {print $2; exit}' "$dir/wrangler.toml")
  wasm="$dir/build/index_bg.wasm"; js="$dir/build/index.js"
  raw=$(( $(stat -c %s "$wasm") + $(stat -c %s "$js") ))
  gz=$(( $(gzip -9 -c "$wasm" | wc -c) + $(gzip -9 -c "$js" | wc -c) ))
  printf '%-18s %8d bytes raw  %8d bytes gzipped (%d KB)\n' "$name" "$raw" "$gz" $(( gz / 1024 ))
done

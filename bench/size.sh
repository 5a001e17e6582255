#!/usr/bin/env bash
# Gzipped size of each worker bundle (the wasm after wasm-opt, plus the JS glue), and of the
# console's first load (every file a signed-in browser fetches for its first page).
set -euo pipefail
cd "$(dirname "$0")/.."
for dir in . r2-fetch; do
  name=$(awk -F'"' '/^name =/ {print $2; exit}' "$dir/wrangler.toml")
  wasm="$dir/build/index_bg.wasm"; js="$dir/build/index.js"
  raw=$(( $(stat -c %s "$wasm") + $(stat -c %s "$js") ))
  gz=$(( $(gzip -9 -c "$wasm" | wc -c) + $(gzip -9 -c "$js" | wc -c) ))
  printf '%-18s %8d bytes raw  %8d bytes gzipped (%d KB)\n' "$name" "$raw" "$gz" $(( gz / 1024 ))
done

# The console's first load: the shell, the stylesheet, the icon and every module (the page
# modules load one at a time; all of them are counted, the worst case).
console=$(ls console/index.html console/login.html console/assets/*)
raw=0; gz=0
for f in $console; do
  raw=$(( raw + $(stat -c %s "$f") )); gz=$(( gz + $(gzip -9 -c "$f" | wc -c) ))
done
printf '%-18s %8d bytes raw  %8d bytes gzipped (%d KB), %d files; goal <= 100 KB\n' console "$raw" "$gz" $(( gz / 1024 )) $(echo $console | wc -w)

# Start-up CPU of the main worker, as wrangler measures it locally (goal: under 20 ms).
. scripts/env.sh
timeout 120 npx --no-install wrangler check startup --outfile "${TMPDIR:-/tmp}/facteur-startup.cpuprofile" 2>&1 \
  | grep -iE 'startup|active|bundle|size' | grep -v '^\s*$' || echo "wrangler check startup printed nothing"

#!/usr/bin/env bash
# Builds one worker crate with worker-build, offline: `scripts/build.sh .` or `scripts/build.sh r2-fetch`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/env.sh"
cd "$ROOT/${1:-.}"
worker-build --release
# worker-build keeps the wasm names section (for readable stack traces): about 75 KB gzipped
# of the main worker. Facteur answers every error itself, so the names are dropped.
# A second -Oz pass over worker-build's output also finds a little more (about 3 KB gzipped).
"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm -Oz --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling

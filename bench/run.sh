#!/usr/bin/env bash
# All the figures of docs/figures.md, measured in one run on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -qq wrk >/dev/null
fi
bash scripts/build.sh bench/trivial-worker >/dev/null 2>&1
bash scripts/build.sh bench/floor-worker >/dev/null 2>&1
bash scripts/build.sh bench/core-worker >/dev/null 2>&1
echo "== bundle sizes"; bash bench/size.sh
echo "== ingest"; node bench/ingest.mjs 15
echo "== push → webhook latency"; node bench/latency.mjs
echo "== Gmail push → webhook latency"; node bench/gmail.mjs
echo "== end to end"; node bench/e2e.mjs 2000; node bench/e2e.mjs 2000 --redis
echo "== a guessing flood: the operator's latency"; node bench/guessing.mjs
echo "== per-e-mail CPU in workerd: rules (worst accepted documents), detection, links"; node bench/core.mjs 3
echo "== pure pipeline (native)"; cargo bench -p facteur-core --bench pipeline 2>/dev/null | grep -v "^$" | tail -n 12
echo "== routing rules, worst accepted documents (native)"; cargo bench -p facteur-core --bench rules 2>/dev/null | grep -v "^$" | tail -n 5
echo "== what a day of mail costs (billed operations, Free plan ceiling, Paid price)"; node bench/cost.mjs 500
echo "== receivers down for minutes (about 13 minutes)"; node bench/outage.mjs

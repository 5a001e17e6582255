#!/usr/bin/env bash
# Builds one worker crate with worker-build, offline: `scripts/build.sh .` or `scripts/build.sh r2-fetch`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/env.sh"
cd "$ROOT/${1:-.}"
worker-build --release
